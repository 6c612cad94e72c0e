"""The validation report's plots: pull histograms, bias vs S/N and host brightness, lightcurves.

Fluxes are counts per exposure; host surface brightness is AB mag/arcsec² (``inf``, no host
light, is drawn at 30).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .stats import SB_BINS, SNR_BINS, binned_stats, pull_stats

__all__ = ["make_plots"]


def make_plots(runs: Mapping[str, pd.DataFrame], out_dir, sims_dir=None, main: str | None = None) -> dict:
    """Pull histograms (every run, with a unit Gaussian), bias vs S/N, bias vs host surface
    brightness (every run), and one lightcurve per band of the ``main`` run with its truth.

    Returns ``{plot name: path}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    main = main or next(iter(runs))
    paths = {}
    colors = ["C0", "C3", "C2", "C1"]

    def good(df):
        return df[df["success"].astype(bool) & np.isfinite(df["pull"])]

    # pull histogram
    fig, ax = plt.subplots(figsize=(6, 4))
    xx = np.linspace(-6, 6, 400)
    bins = np.linspace(-6, 6, 49)
    for (name, df), c in zip(runs.items(), colors, strict=False):
        p = good(df)["pull"].clip(-6, 6)
        st = pull_stats(good(df)["pull"])
        ax.hist(p, bins=bins, density=True, histtype="step", color=c, lw=1.5,
                label=f"{name}: mean {st['mean']:+.2f}, σ {st['std']:.2f} (N={st['n']})")
    ax.plot(xx, np.exp(-0.5 * xx * xx) / math.sqrt(2 * math.pi), "k--", lw=1, label="unit Gaussian")
    ax.set_xlabel("pull = (f − f_true) / σ  (clipped at ±6)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths["pulls"] = out / "pulls.png"
    fig.savefig(paths["pulls"], dpi=110)
    plt.close(fig)

    # bias vs S/N and vs host brightness
    for key, col, edges, xlabel, logx in (
        ("bias_snr", "snr", SNR_BINS, "S/N = f_true / σ", True),
        ("bias_host", "host_sb", SB_BINS, "host surface brightness at the SN [AB mag/arcsec²]", False),
    ):
        fig, ax = plt.subplots(figsize=(6, 4))
        for (name, df), c in zip(runs.items(), colors, strict=False):
            g = good(df)
            g = g[np.isfinite(g["ratio"])]
            xv = g[col].to_numpy(dtype=float)
            if col == "host_sb":
                xv = np.where(np.isfinite(xv), xv, 30.0)
            ax.scatter(xv, 100 * (g["ratio"] - 1), s=5, alpha=0.35, color=c)
            st = binned_stats(g.assign(**{col: xv}), col, edges if col == "snr" else
                              (-math.inf, 21, 23, 25, 27, math.inf))
            xm = []
            for b in st:
                lo, hi = b["lo"], b["hi"]
                if col == "snr":
                    xm.append(math.sqrt(max(lo, 2.0) * (hi if math.isfinite(hi) else 2 * lo)))
                else:
                    xm.append((lo + 1 if not math.isfinite(hi) else hi - 1) if not math.isfinite(lo)
                              else (lo + hi) / 2 if math.isfinite(hi) else 28.0)
            ax.errorbar(xm, [100 * b["bias"] for b in st], yerr=[100 * b["bias_err"] for b in st],
                        fmt="o-", color=c, label=f"{name}: binned median")
        ax.axhline(0, color="k", lw=0.8)
        for v in (-0.3, 0.3):
            ax.axhline(v, color="k", lw=0.5, ls=":")
        if logx:
            ax.set_xscale("log")
        ax.set_ylim(-15, 15)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("f / f_true − 1 [%]")
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths[key] = out / f"{key}.png"
        fig.savefig(paths[key], dpi=110)
        plt.close(fig)

    # one lightcurve per band (the main run), the SN with the most S/N >= 20 epochs
    df = good(runs[main])
    for band, g in sorted(df.groupby("band")):
        counts = g[g["snr"] >= 20].groupby("oid").size()
        oid = int(counts.idxmax()) if len(counts) else int(g["oid"].iloc[0])
        lc = g[g["oid"] == oid].sort_values("mjd")
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.errorbar(lc["mjd"], lc["flux"], yerr=lc["flux_err"], fmt="o", ms=4, label="romandia")
        ax.plot(lc["mjd"], lc["flux_true"], "k+", ms=9, label="truth at the epoch")
        if sims_dir is not None:
            try:
                from romandia import ou2024

                _, mjd, mags = ou2024.find_sn_truth(Path(sims_dir) / "snana", oid)
                grid = np.linspace(mjd[0], mjd[-1], 400)
                zp = float(np.median(lc["zpt"]))
                ax.plot(grid, ou2024.mag_to_counts(ou2024.truth_mag(mjd, mags[band], grid), zp),
                        "k-", lw=0.8, label="truth lightcurve")
            except Exception:  # noqa: BLE001 - the overlay is optional
                pass
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("MJD")
        ax.set_ylabel("flux [counts]")
        ax.set_title(f"SN {oid} {band}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths[f"lc_{band}"] = out / f"lightcurve_{band}.png"
        fig.savefig(paths[f"lc_{band}"], dpi=110)
        plt.close(fig)
    return paths
