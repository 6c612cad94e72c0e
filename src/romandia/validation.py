"""Photometric accuracy against truth: the analysis behind ``romandia validate`` / ``make validate``.

The simulator (:mod:`romandia.simulate`, preset ``validation``) writes every image's truth
catalogue, in which each transient has a row with its *expected* counts in that exposure
(``flux``, 0 before explosion).  This module compares the workflow's lightcurves with it:

* :func:`load_rows` reads every ``{oid}_{band}_all.parquet`` of a run;
* :func:`attach_truth` adds the true flux at each epoch (``flux_true``), the truth zeropoint,
  and the host galaxy's surface brightness at the SN (``host_sb``, mag/arcsec², from the
  simulator's own host model);
* :func:`summarize` computes the statistics of the issue (bias per S/N and host bins, pulls,
  zero-flux epochs, χ² of each lightcurve against its truth, zeropoint errors, failures);
* :func:`field_star_zeropoints` measures phrosty's field-star zeropoint (median over
  unsaturated 19 < m < 21.5 stars) on each science image and compares it with the header's;
* :func:`make_plots` draws the pull histogram, bias vs S/N, bias vs host brightness and one
  lightcurve per band;
* :func:`run_validation` simulates, runs the workflow (one or several configurations on the
  same data) and regenerates ``docs/validation.md`` between its ``<!-- BEGIN GENERATED -->``
  and ``<!-- END GENERATED -->`` markers (text outside them, e.g. the record of fixes, is kept).

Definitions
-----------
``ratio - 1 = f / f_true - 1`` (rows with ``f_true > 0``); ``bias`` = its median in a bin, with
the uncertainty ``1.2533 sigma_MAD / sqrt(n)``; ``pull = (f - f_true) / sigma``; robust sigma =
1.4826 × median absolute deviation; S/N = ``f_true / sigma``.  All statistics use successful rows;
failed rows are counted separately.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "TARGETS",
    "SNR_BINS",
    "SB_BINS",
    "PHROSTY_CONFIG",
    "load_rows",
    "attach_truth",
    "host_surface_brightness",
    "robust_sigma",
    "pull_stats",
    "binned_stats",
    "summarize",
    "check_targets",
    "field_star_zeropoints",
    "make_plots",
    "workflow_config",
    "run_workflow",
    "report_markdown",
    "write_report",
    "run_validation",
]

#: Targets of issue #4 (shown by the report; not timed tests).
TARGETS = {
    "bias_snr20": 0.003,  # |median(f/f_true - 1)| for S/N >= 20
    "pull_sigma": (0.95, 1.05),
    "pull_mean_k": 3.0,  # |mean pull| <= k / sqrt(N)
    "zpt_mmag": 5.0,
    "failed_rows": 0,
}
#: S/N bin edges (S/N = f_true / flux_err).
SNR_BINS = (0.0, 5.0, 10.0, 20.0, 50.0, 100.0, math.inf)
#: Host surface brightness at the SN [AB mag / arcsec²] bin edges (inf = no host light).
SB_BINS = (-math.inf, 21.0, 23.0, 25.0, 27.0, math.inf)
#: phrosty's choices where romandia's defaults differ (run side by side by ``--phrosty``).
PHROSTY_CONFIG = {
    "variance": "err",
    "resample_kernel": "bilinear",
    "photometry": {"weights": "variance", "flux_err": "pixel", "chi2_scaling": False},
    "sfft": {"flux_scale": "fit"},
    # phrosty's ou24PSF: chromatic galsim.roman PSF x flat SED, no charge diffusion; header
    # zeropoint, no field-star calibration of the PSF fit
    "psf": {"params": {"charge_diffusion": False}},
    "calibration": {"enabled": False},
}
_MAD = 1.482602218505602
_BEGIN, _END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"


# --------------------------------------------------------------------------------------------
# loading and truth
# --------------------------------------------------------------------------------------------
def load_rows(lc_dir: str | os.PathLike) -> pd.DataFrame:
    """All rows of every ``{lc_dir}/data/{oid}/{oid}_{band}_all.parquet``, concatenated."""
    from romandia.lightcurve import read_lightcurve

    files = sorted(Path(lc_dir).glob("data/*/*_all.parquet"))
    if not files:
        raise FileNotFoundError(f"no lightcurves under {lc_dir}/data")
    frames = []
    for f in files:
        df = read_lightcurve(f)
        oid, band = f.name[: -len("_all.parquet")].split("_")
        df["oid"] = int(oid)
        df["band"] = band
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _science_key(name: str) -> tuple[str, int, int]:
    from romandia.ou2024 import parse_image_name

    return parse_image_name(name)


def host_surface_brightness(sims_dir: str | os.PathLike) -> dict:
    """Host surface brightness at each SN [AB mag/arcsec²] per band, from the simulator's model.

    Rebuilds the simulated transients from ``manifest.json`` (same config and seed, so the
    same hosts) and evaluates the host profile (de Vaucouleurs bulge + exponential disk,
    sheared, exactly as :mod:`romandia.simulate.render` draws it, before the PSF) at the SN.

    Returns
    -------
    dict
        ``{(oid, band): (sb, host_mag)}``; ``sb = inf`` for an SN without host.  Empty if the
        directory has no simulator manifest.
    """
    from romandia.constants import BANDS

    man = Path(sims_dir) / "manifest.json"
    if not man.is_file():
        return {}
    m = json.loads(man.read_text())
    from romandia.simulate.core import build_transients
    from romandia.simulate.render import _galaxy_profile
    from romandia.simulate.scene import band_mag, host_catalog

    cfg = dict(m["config"])
    out = {}
    for t in build_transients(cfg, int(m["seed"])):
        for band in BANDS:
            if not t.host:
                out[(t.id, band)] = (math.inf, math.nan)
                continue
            h = t.host
            prof = _galaxy_profile(host_catalog([h]), 0, 1.0)
            cosd = math.cos(math.radians(h["dec"]))
            east = (t.ra - h["ra"]) * cosd * 3600.0
            north = (t.dec - h["dec"]) * 3600.0
            s = float(prof.xValue(-east, north))  # galsim sky frame: +x = west
            mag = float(band_mag(h["mag"], h["color"], band))
            out[(t.id, band)] = (mag - 2.5 * math.log10(s) if s > 0 else math.inf, mag)
    return out


def _zptmag(sims: Path, key) -> float:
    """``ZPTMAG`` of a simulated image: its FITS header, or its L2 ASDF file's calibration
    (``romandia simulate --format asdf`` writes no FITS)."""
    from astropy.io import fits

    from romandia import io, ou2024

    path = sims / ou2024.IMAGE_SUBDIR / ou2024.image_relpath(*key)
    if path.is_file():
        return float(fits.getheader(path, "SCI")["ZPTMAG"])
    return float(io.load_image(sims / ou2024.IMAGE_SUBDIR / ou2024.image_relpath(*key, fmt="asdf")).header["ZPTMAG"])


def attach_truth(df: pd.DataFrame, sims_dir: str | os.PathLike) -> pd.DataFrame:
    """Add the truth of each row: ``flux_true`` [counts], ``zpt_true``, ``host_sb``, ``host_mag``,
    ``snr`` (= flux_true / flux_err), ``ratio`` (f / f_true), ``pull``.

    ``flux_true`` is the transient's expected counts in the science image (its truth catalogue
    row), ``zpt_true`` the truth zeropoint ``mag + 2.5 log10(flux) + ZPTMAG`` of that catalogue.
    """
    from romandia import ou2024

    sims = Path(sims_dir)
    df = df.copy()
    cache: dict = {}
    ft, zt = [], []
    for name, oid in zip(df["science_name"], df["oid"], strict=True):
        key = _science_key(name)
        if key not in cache:
            cat = ou2024.read_truth_catalog(sims / ou2024.TRUTH_SUBDIR / ou2024.truth_relpath(*key))
            ok = (cat["flux"] > 0) & np.isfinite(cat["mag"])
            gzp = np.median(cat["mag"][ok] + 2.5 * np.log10(cat["flux"][ok]))
            cache[key] = (cat, float(gzp + _zptmag(sims, key)))
        cat, zp = cache[key]
        row = cat[cat["object_id"] == int(oid)]
        ft.append(float(row["flux"].iloc[0]) if len(row) else math.nan)
        zt.append(zp)
    df["flux_true"] = ft
    df["zpt_true"] = zt
    hosts = host_surface_brightness(sims)
    df["host_sb"] = [hosts.get((int(o), b), (math.nan, math.nan))[0]
                     for o, b in zip(df["oid"], df["band"], strict=True)]
    df["host_mag"] = [hosts.get((int(o), b), (math.nan, math.nan))[1]
                      for o, b in zip(df["oid"], df["band"], strict=True)]
    with np.errstate(divide="ignore", invalid="ignore"):
        df["snr"] = df["flux_true"] / df["flux_err"]
        df["ratio"] = np.where(df["flux_true"] > 0, df["flux"] / df["flux_true"], np.nan)
        df["pull"] = (df["flux"] - df["flux_true"]) / df["flux_err"]
    return df


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------
def robust_sigma(a) -> float:
    """1.4826 × median absolute deviation (the Gaussian σ equivalent); NaN when empty."""
    a = np.asarray(a, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return math.nan
    return float(_MAD * np.median(np.abs(a - np.median(a))))


def pull_stats(pulls) -> dict:
    """``n``, ``mean``, ``std``, ``robust`` (1.4826 MAD), ``mean_err`` (std/√n) of pulls."""
    p = np.asarray(pulls, dtype=float)
    p = p[np.isfinite(p)]
    n = int(p.size)
    if n == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "robust": math.nan,
                "mean_err": math.nan}
    std = float(np.std(p, ddof=1)) if n > 1 else math.nan
    return {"n": n, "mean": float(np.mean(p)), "std": std, "robust": robust_sigma(p),
            "mean_err": std / math.sqrt(n) if n > 1 else math.nan}


def _bias(ratio) -> dict:
    r = np.asarray(ratio, dtype=float)
    r = r[np.isfinite(r)] - 1.0
    n = int(r.size)
    if n == 0:
        return {"n": 0, "bias": math.nan, "bias_err": math.nan}
    return {"n": n, "bias": float(np.median(r)),
            "bias_err": 1.2533141373155 * robust_sigma(r) / math.sqrt(n)}


def binned_stats(df: pd.DataFrame, column: str, edges: Sequence[float]) -> list[dict]:
    """Bias (rows with f_true > 0) and pull statistics (all rows) in bins of ``column``."""
    out = []
    v = df[column].to_numpy(dtype=float)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (v >= lo) & (v < hi) if math.isfinite(hi) else (v >= lo)
        sub = df[sel]
        b = _bias(sub["ratio"])
        p = pull_stats(sub["pull"])
        out.append({"lo": lo, "hi": hi, "n": int(len(sub)), "n_bias": b["n"],
                    "bias": b["bias"], "bias_err": b["bias_err"], **{f"pull_{k}": p[k]
                                                                     for k in ("mean", "std", "robust")}})
    return out


def summarize(df: pd.DataFrame, chi2_scaled: bool = True) -> dict:
    """Every statistic of the report from rows with truth (:func:`attach_truth`).

    ``chi2_scaled``: whether the run scaled ``flux_err`` by the fit's χ²
    (``photometry.chi2_scaling``), for :func:`error_model_pulls`."""
    ok = df[df["success"].astype(bool) & np.isfinite(df["flux"]) & np.isfinite(df["flux_err"])]
    s: dict = {"n_rows": int(len(df)), "n_failed": int(len(df) - len(ok)),
               "failed_fraction": float((len(df) - len(ok)) / len(df)) if len(df) else math.nan,
               "failures": sorted(set(df.loc[~df["success"].astype(bool), "failure_reason"]))}
    s["pull"] = pull_stats(ok["pull"])
    s["pull_snr20"] = pull_stats(ok.loc[ok["snr"] >= 20, "pull"])
    s["bias_snr20"] = _bias(ok.loc[ok["snr"] >= 20, "ratio"])
    s["by_snr"] = binned_stats(ok, "snr", SNR_BINS)
    s["by_host"] = binned_stats(ok, "host_sb", SB_BINS)
    s["by_band"] = {b: {"pull": pull_stats(g["pull"]),
                        "bias_snr20": _bias(g.loc[g["snr"] >= 20, "ratio"])}
                    for b, g in ok.groupby("band")}
    zero = ok[ok["flux_true"] == 0]
    zs = pull_stats(zero["pull"])
    if len(zero):
        w = 1.0 / zero["flux_err"].to_numpy() ** 2
        mean = float(np.sum(w * zero["flux"].to_numpy()) / np.sum(w))
        zs.update(chi2_dof=float(np.mean(zero["pull"].to_numpy() ** 2)), wmean_flux=mean,
                  wmean_err=float(1.0 / math.sqrt(np.sum(w))))
    s["zero_flux"] = zs
    chi = []
    for (oid, band), g in ok.groupby(["oid", "band"]):
        chi.append({"oid": int(oid), "band": band, "n": int(len(g)),
                    "chi2_dof": float(np.mean(g["pull"].to_numpy() ** 2)),
                    "host_sb": float(g["host_sb"].iloc[0]),
                    "peak_snr": float(np.nanmax(g["snr"]))})
    s["lightcurves"] = chi
    s["error_models"] = error_model_pulls(ok, chi2_scaled)
    zerr = (ok["zpt"] - ok["zpt_true"]).to_numpy() * 1000.0
    s["zpt_err_mmag"] = {"max_abs": float(np.max(np.abs(zerr))) if zerr.size else math.nan,
                         "median": float(np.median(zerr)) if zerr.size else math.nan}
    return s


def error_model_pulls(ok: pd.DataFrame, chi2_scaled: bool = True) -> list[dict]:
    """Pull σ of the same fluxes with the error of each stage of the error model.

    ``pixel``: ``flux_err_pixel`` (the difference's per-pixel variance alone);
    ``before χ²``: ``flux_err`` without the run's χ² scaling (when ``chi2_scaled``; by default
    the error propagated with the covariances, :mod:`romandia.errorprop`); ``pixel × χ²``:
    ``flux_err_pixel`` times :func:`romandia.photometry.chi2_error_scale`; ``pipeline``:
    ``flux_err`` as written.  A stage whose errors equal an earlier one's (e.g. all four when
    the run used ``flux_err: pixel`` without χ² scaling) is left out.  Each entry: ``name``,
    ``pull`` (:func:`pull_stats`) and ``by_host`` (pull σ per :data:`SB_BINS` bin, as
    :func:`binned_stats`).  Empty without a ``flux_err_pixel`` column.
    """
    from romandia.photometry import chi2_error_scale

    if "flux_err_pixel" not in ok or "chi2_red" not in ok:
        return []
    scale = np.array([chi2_error_scale(c) for c in ok["chi2_red"]])
    resid = (ok["flux"] - ok["flux_true"]).to_numpy(dtype=float)
    pipe = ok["flux_err"].to_numpy(dtype=float)
    errs = {"pixel": ok["flux_err_pixel"].to_numpy(dtype=float)}
    errs["before χ²"] = pipe / scale if chi2_scaled else pipe
    errs["pixel × χ²"] = errs["pixel"] * scale
    errs["pipeline"] = pipe
    out, seen = [], []
    for name, e in errs.items():
        if any(np.array_equal(e, s, equal_nan=True) for s in seen):
            continue
        seen.append(e)
        pull = resid / e
        by = [b["pull_std"] for b in binned_stats(ok.assign(pull=pull), "host_sb", SB_BINS)]
        out.append({"name": name, "pull": pull_stats(pull), "by_host": by})
    return out


def check_targets(s: dict, fs: dict | None = None) -> list[tuple[str, str, bool]]:
    """``(target, value, met)`` for each target of the issue."""
    t = TARGETS
    out = []
    b = s["bias_snr20"]["bias"]
    out.append(("|bias| ≤ 0.3 % for S/N ≥ 20", f"{100 * b:+.3f} ± {100 * s['bias_snr20']['bias_err']:.3f} %",
                bool(abs(b) <= t["bias_snr20"])))
    sd = s["pull"]["std"]
    out.append(("pull σ in [0.95, 1.05]", f"{sd:.3f} (robust {s['pull']['robust']:.3f})",
                bool(t["pull_sigma"][0] <= sd <= t["pull_sigma"][1])))
    n = s["pull"]["n"]
    lim = t["pull_mean_k"] / math.sqrt(n) if n else math.nan
    out.append(("|pull mean| ≤ 3/√N", f"{s['pull']['mean']:+.3f} (limit {lim:.3f}, N = {n})",
                bool(abs(s["pull"]["mean"]) <= lim)))
    z = s["zpt_err_mmag"]["max_abs"]
    out.append(("zeropoint error ≤ 5 mmag (header vs truth)", f"max {z:.2f} mmag",
                bool(z <= t["zpt_mmag"])))
    if fs and fs.get("n_images"):
        v = fs["median_abs_mmag"]
        out.append(("field-star zeropoint − header ≤ 5 mmag (median |Δ| over images)",
                    f"{v:.1f} mmag ({fs['n_images']} images)", bool(v <= t["zpt_mmag"])))
    out.append(("no failed rows", f"{s['n_failed']} of {s['n_rows']}",
                bool(s["n_failed"] <= t["failed_rows"])))
    return out


# --------------------------------------------------------------------------------------------
# field-star zeropoint
# --------------------------------------------------------------------------------------------
def field_star_zeropoints(df: pd.DataFrame, sims_dir, dia_dir, max_stars: int = 6,
                          max_images: int | None = None, mag_range=(19.0, 21.5)) -> dict:
    """phrosty's field-star zeropoint of each science image against its header zeropoint.

    On the sky-subtracted science image of the run (``{dia_dir}/sky/{image}.fits``), each truth
    star with ``mag_range[0] < m < mag_range[1]`` (AB), no pixel within 3 px above 80 % of
    saturation and at least 15 px from the edge is measured by forced PSF photometry at its
    true position (PSF drawn at its sub-pixel phase, equal weights, no local background: the
    image is sky-subtracted); ``zpt = median(m_truth + 2.5 log10 f)`` over the (at most
    ``max_stars`` brightest) stars.  The difference to the header zeropoint is in mmag.
    """
    from astropy.io import fits

    from romandia import io, ou2024, photometry
    from romandia import psf as rpsf
    from romandia.constants import SATURATION, zeropoint

    sims = Path(sims_dir)
    rows = []
    names = sorted(set(df["science_name"]))
    if max_images is not None and len(names) > int(max_images):
        idx = np.linspace(0, len(names) - 1, int(max_images)).round().astype(int)
        names = [names[i] for i in sorted(set(idx))]
    for name in names:
        band, pointing, sca = _science_key(name)
        key = f"{band}_{pointing}_{sca}"
        path = Path(dia_dir) / "sky" / f"{key}.fits"
        if not path.is_file():
            continue
        h = io.read_hdus(path, ["SKYSUB", "VAR"])
        img, hdr = h["SKYSUB"]
        img = np.asarray(img, dtype=float)
        var = np.asarray(h["VAR"][0], dtype=float)
        fpath = sims / ou2024.IMAGE_SUBDIR / ou2024.image_relpath(band, pointing, sca)
        raw, fhdr = fits.getdata(fpath, "SCI", header=True)
        # truth x, y are 1-based in the file's frame; the staged image may be a cutout of it
        dx = int(hdr.get("ROMX0", 0)) - int(fhdr.get("ROMX0", 0))
        dy = int(hdr.get("ROMY0", 0)) - int(fhdr.get("ROMY0", 0))
        raw = raw[dy: dy + img.shape[0], dx: dx + img.shape[1]]
        cat = ou2024.read_truth_catalog(sims / ou2024.TRUTH_SUBDIR / ou2024.truth_relpath(band, pointing, sca))
        zph = zeropoint(band, float(hdr["ZPTMAG"]))
        stars = cat[cat["obj_type"] == "star"].copy()
        stars["ab"] = stars["mag"] + float(hdr["ZPTMAG"])
        stars = stars[(stars["ab"] > mag_range[0]) & (stars["ab"] < mag_range[1])]
        stars = stars.sort_values("ab")
        ny, nx = img.shape
        deltas = []
        for _, st in stars.iterrows():
            x = float(st["x"]) - 1.0 - dx
            y = float(st["y"]) - 1.0 - dy
            if not (15 <= x < nx - 15 and 15 <= y < ny - 15):
                continue
            ix, iy = int(round(x)), int(round(y))
            if np.nanmax(raw[max(iy - 3, 0): iy + 4, max(ix - 3, 0): ix + 4]) > 0.8 * SATURATION:
                continue
            p = rpsf.psf_stamp("galsim", {"size": 25}, hdr, x, y, at_position=True)
            r = photometry.forced_psf_photometry(img, var, p, x, y, psf_at_position=True,
                                                 weights="background")
            if r["success"] and r["flux"] > 0:
                deltas.append(float(st["ab"]) + 2.5 * math.log10(r["flux"]))
            if len(deltas) >= max_stars:
                break
        if deltas:
            zfs = float(np.median(deltas))
            rows.append({"image": key, "band": band, "n_stars": len(deltas), "zpt_fs": zfs,
                         "zpt_header": zph, "delta_mmag": 1000.0 * (zfs - zph)})
    d = np.array([r["delta_mmag"] for r in rows])
    return {"images": rows, "n_images": len(rows),
            "median_mmag": float(np.median(d)) if d.size else math.nan,
            "median_abs_mmag": float(np.median(np.abs(d))) if d.size else math.nan,
            "by_band": {b: float(np.median([r["delta_mmag"] for r in rows if r["band"] == b]))
                        for b in sorted({r["band"] for r in rows})}}


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# running the workflow
# --------------------------------------------------------------------------------------------
#: key of a validation configuration (not of the workflow config): the image format it reads,
#: ``fits`` (default) or ``asdf`` (the simulator's ``lists_asdf/``)
INPUT_FORMAT = "_input_format"


def workflow_config(sims_dir, workdir, overrides: Mapping | None = None, threads: int = 1) -> Path:
    """Write ``{workdir}/config.yaml`` for the simulator output ``sims_dir`` (every object of
    its ``objects.yaml``), with ``overrides`` deep-merged; return its path.

    ``overrides[INPUT_FORMAT] = "asdf"`` points the objects at the ASDF lists of the same images.

    ``threads`` (per ``subtract`` job) stays 1: the cores are filled by jobs side by side.
    """
    import yaml

    sims = Path(sims_dir).resolve()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    from romandia.config import deep_merge
    from romandia.constants import LIST_DIRS

    overrides = dict(overrides or {})
    fmt = overrides.pop(INPUT_FORMAT, "fits")
    objects = yaml.safe_load((sims / "objects.yaml").read_text())
    for o in objects:
        for role in ("templates", "science"):
            rel = o[role]
            if fmt != "fits":  # the simulator's lists of the same images in another format
                rel = rel.replace(LIST_DIRS["fits"] + "/", LIST_DIRS[fmt] + "/", 1)
                if not (sims / rel).is_file():
                    raise FileNotFoundError(
                        f"{sims / rel}: no {fmt} image list; simulate with image.formats: [fits, {fmt}] "
                        f"(romandia simulate --format both) into a fresh directory")
            o[role] = str(sims / rel)
    cfg = deep_merge({"sims_dir": str(sims), "objects": objects, "threads": int(threads)}, overrides)
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_workflow(sims_dir, workdir, overrides: Mapping | None = None, cores: int = 2,
                 snakefile: str | os.PathLike | None = None, log=None) -> float:
    """Run the workflow on a simulator output in ``workdir``; return the wall time [s].

    Raises ``RuntimeError`` (with the end of Snakemake's output) if Snakemake fails.
    """
    repo = Path(__file__).resolve().parents[2]
    snakefile = Path(snakefile) if snakefile else repo / "Snakefile"
    cfg = workflow_config(sims_dir, workdir, overrides)
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(repo / ".numba_cache"))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "-d", str(workdir),
           "--cores", str(cores), "--configfile", str(cfg), "--rerun-incomplete", "--quiet",
           "--scheduler", "greedy"]  # the ILP scheduler costs ~0.15 s per job selection
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if log:
        log(f"workflow in {workdir}: {dt:.0f} s (exit {res.returncode})")
    if res.returncode != 0:
        raise RuntimeError(f"snakemake failed in {workdir}:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
    return dt


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def _f(v, fmt="{:.3f}"):
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def _edges(lo, hi, unit=""):
    if not math.isfinite(lo):
        return f"< {hi:g}{unit}"
    if not math.isfinite(hi):
        return f"≥ {lo:g}{unit}"
    return f"{lo:g}–{hi:g}{unit}"


def report_markdown(results: Mapping[str, dict], meta: Mapping, plots: Mapping[str, Path],
                    doc_dir: Path) -> str:
    """The generated part of docs/validation.md (between the markers)."""
    names = list(results)
    L = [_BEGIN, "",
         "## Latest run (generated by `romandia validate`; do not edit by hand)", "",
         f"* command: `{meta['command']}`",
         f"* machine: {meta['machine']}",
         f"* data: preset `{meta['preset']}` seed {meta['seed']}: {meta['n_sne']} SNe, bands "
         f"{', '.join(meta['bands'])}, {meta['n_images']} images ({meta['sim_seconds']:.0f} s to simulate)",
         f"* romandia {meta['version']}; workflow wall time: "
         + ", ".join(f"{n} {results[n]['seconds']:.0f} s" for n in names),
         "* configurations: " + "; ".join(f"**{n}** = `{json.dumps(results[n]['overrides'])}`" for n in names),
         "", "### Targets", "",
         "| target | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    checks = {n: check_targets(results[n]["summary"], results[n].get("field_stars")) for n in names}
    for i, (label, _, _) in enumerate(checks[names[0]]):
        cells = []
        for n in names:
            c = checks[n][i] if i < len(checks[n]) else ("", "–", False)
            cells.append(f"{c[1]} {'✅' if c[2] else '❌'}")
        L.append(f"| {label} | " + " | ".join(cells) + " |")
    L += ["", "### Bias and pulls per S/N bin", "",
          "bias = median(f/f_true − 1) [%] ± its error; pulls: mean / std / robust σ (rows with "
          "f_true = 0 enter the pulls of the lowest bin).", ""]
    hdr = "| S/N | " + " | ".join(f"{n}: N | {n}: bias [%] | {n}: pull mean / σ / robust" for n in names) + " |"
    L += [hdr, "|---|" + "---|---|---|" * len(names)]
    for i, b in enumerate(results[names[0]]["summary"]["by_snr"]):
        cells = []
        for n in names:
            bb = results[n]["summary"]["by_snr"][i]
            cells += [str(bb["n"]), f"{_f(100 * bb['bias'], '{:+.2f}')} ± {_f(100 * bb['bias_err'], '{:.2f}')}",
                      f"{_f(bb['pull_mean'], '{:+.2f}')} / {_f(bb['pull_std'], '{:.2f}')} / {_f(bb['pull_robust'], '{:.2f}')}"]
        L.append(f"| {_edges(b['lo'], b['hi'])} | " + " | ".join(cells) + " |")
    L += ["", "### Bias and pulls per host surface brightness at the SN [AB mag/arcsec²]", "",
          hdr.replace("S/N", "host SB"), "|---|" + "---|---|---|" * len(names)]
    for i, b in enumerate(results[names[0]]["summary"]["by_host"]):
        cells = []
        for n in names:
            bb = results[n]["summary"]["by_host"][i]
            cells += [str(bb["n"]), f"{_f(100 * bb['bias'], '{:+.2f}')} ± {_f(100 * bb['bias_err'], '{:.2f}')}",
                      f"{_f(bb['pull_mean'], '{:+.2f}')} / {_f(bb['pull_std'], '{:.2f}')} / {_f(bb['pull_robust'], '{:.2f}')}"]
        L.append(f"| {_edges(b['lo'], b['hi'])} | " + " | ".join(cells) + " |")
    L += ["", "### Overall", "", "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label, fn):
        L.append(f"| {label} | " + " | ".join(fn(results[n]) for n in names) + " |")

    row("rows (failed)", lambda r: f"{r['summary']['n_rows']} ({r['summary']['n_failed']})")
    row("pull mean ± err / σ / robust σ (all)", lambda r: f"{r['summary']['pull']['mean']:+.3f} ± {r['summary']['pull']['mean_err']:.3f} / {r['summary']['pull']['std']:.3f} / {r['summary']['pull']['robust']:.3f}")
    row("pull mean / σ / robust σ (S/N ≥ 20)", lambda r: f"{r['summary']['pull_snr20']['mean']:+.3f} / {r['summary']['pull_snr20']['std']:.3f} / {r['summary']['pull_snr20']['robust']:.3f}")
    for band in sorted(results[names[0]]["summary"]["by_band"]):
        row(f"{band}: bias S/N ≥ 20 [%]; pull mean / σ", lambda r, b=band: (
            f"{100 * r['summary']['by_band'][b]['bias_snr20']['bias']:+.2f}; "
            f"{r['summary']['by_band'][b]['pull']['mean']:+.2f} / {r['summary']['by_band'][b]['pull']['std']:.2f}")
            if b in r["summary"]["by_band"] else "–")
    row("zero-flux epochs: N, pull mean / σ, χ²/dof", lambda r: f"{r['summary']['zero_flux']['n']}, {r['summary']['zero_flux']['mean']:+.2f} / {r['summary']['zero_flux']['std']:.2f}, {_f(r['summary']['zero_flux'].get('chi2_dof'), '{:.2f}')}")
    row("zero-flux epochs: weighted mean flux [counts]", lambda r: f"{_f(r['summary']['zero_flux'].get('wmean_flux'), '{:+.1f}')} ± {_f(r['summary']['zero_flux'].get('wmean_err'), '{:.1f}')}")
    row("lightcurve χ²/dof: median (max)", lambda r: f"{np.median([c['chi2_dof'] for c in r['summary']['lightcurves']]):.2f} ({max(c['chi2_dof'] for c in r['summary']['lightcurves']):.2f})")
    row("header zeropoint − truth [mmag]: max |Δ|", lambda r: f"{r['summary']['zpt_err_mmag']['max_abs']:.3f}")
    row("field-star zeropoint − header [mmag]: median (per band)", lambda r: (
        f"{r['field_stars']['median_mmag']:+.1f} (" + ", ".join(f"{b} {v:+.1f}" for b, v in r["field_stars"]["by_band"].items()) + f"; {r['field_stars']['n_images']} images)")
        if r.get("field_stars") and r["field_stars"].get("n_images") else "not measured")
    if all(results[n]["summary"].get("error_models") for n in names):
        L += ["", "### Pull σ with each stage of the error model", "",
              "The same fluxes divided by: `pixel` = the error from the difference's per-pixel "
              "variance (`flux_err_pixel`); `before χ²` = `flux_err` without the χ² scaling "
              "(romandia: propagated with the covariances); `pixel × χ²` = `pixel` times "
              "sqrt(max(1, χ²_ν)) of the fit; `pipeline` = `flux_err` as written. Per host surface "
              "brightness at the SN [AB mag/arcsec²]: pull σ.", "",
              "| run | error | pull σ (robust) | "
              + " | ".join(_edges(lo, hi) for lo, hi in zip(SB_BINS[:-1], SB_BINS[1:], strict=True)) + " |",
              "|---|---|---|" + "---|" * (len(SB_BINS) - 1)]
        for n in names:
            for e in results[n]["summary"]["error_models"]:
                L.append(f"| {n} | {e['name']} | {e['pull']['std']:.3f} ({e['pull']['robust']:.3f}) | "
                         + " | ".join(_f(v, "{:.2f}") for v in e["by_host"]) + " |")
    L += ["", "### χ²/dof of each lightcurve against its truth curve", "",
          "| SN | band | host SB | peak S/N | " + " | ".join(f"{n}: N, χ²/dof" for n in names) + " |",
          "|---|---|---|---|" + "---|" * len(names)]
    lcs = {n: {(c["oid"], c["band"]): c for c in results[n]["summary"]["lightcurves"]} for n in names}
    for key, c in sorted(lcs[names[0]].items()):
        cells = [f"{lcs[n][key]['n']}, {lcs[n][key]['chi2_dof']:.2f}" if key in lcs[n] else "–" for n in names]
        L.append(f"| {key[0]} | {key[1]} | {_f(c['host_sb'], '{:.1f}')} | {c['peak_snr']:.0f} | " + " | ".join(cells) + " |")
    fails = {n: results[n]["summary"]["failures"] for n in names if results[n]["summary"]["failures"]}
    if fails:
        L += ["", "### Failure reasons", ""]
        for n, fl in fails.items():
            L += [f"* {n}: " + "; ".join(f"`{f}`" for f in fl[:10])]
    if meta.get("mismatch"):
        from romandia import mismatch

        secs = meta.get("case_seconds", {})
        L += [""] + mismatch.report_lines(meta["mismatch"])
        if secs:
            L += ["", "Workflow wall time of the mismatch runs: " + ", ".join(f"{n} {v:.0f} s" for n, v in secs.items())]
    L += ["", "### Plots", ""]
    for key, p in plots.items():
        rel = os.path.relpath(p, doc_dir)
        L.append(f"![{key}]({rel})")
    L += ["", _END]
    return "\n".join(L)


def write_report(path, generated: str) -> None:
    """Replace the generated block of ``path`` (or create the file with it)."""
    p = Path(path)
    if p.is_file() and _BEGIN in (text := p.read_text()) and _END in text:
        pre, rest = text.split(_BEGIN, 1)
        post = rest.split(_END, 1)[1]
        p.write_text(pre + generated + post)
    else:
        head = "# Photometric accuracy against truth\n\n"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(head + generated + "\n")


def _machine() -> str:
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                    if ln.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor()
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}")


def analyze(sims_dir, workdir, field_stars: bool = True, max_zp_images: int | None = None) -> tuple[pd.DataFrame, dict, dict | None]:
    """Rows with truth, their summary and (optionally) field-star zeropoints of one run."""
    import yaml

    df = attach_truth(load_rows(Path(workdir) / "results" / "lc_out_dir"), sims_dir)
    cfg_file = Path(workdir) / "config.yaml"
    cfg = yaml.safe_load(cfg_file.read_text()) if cfg_file.is_file() else {}
    s = summarize(df, chi2_scaled=bool(((cfg or {}).get("photometry") or {}).get("chi2_scaling", True)))
    fs = None
    if field_stars:
        fs = field_star_zeropoints(df, sims_dir, Path(workdir) / "results" / "dia_out_dir",
                                   max_images=max_zp_images)
    return df, s, fs


def run_validation(out_dir, preset: str = "validation", config_overrides: Mapping | None = None,
                   configs: Mapping[str, Mapping] | None = None, cores: int = 2,
                   report: str | os.PathLike | None = None, plot_dir: str | os.PathLike | None = None,
                   field_stars: bool = True, max_zp_images: int | None = None, seed: int | None = None,
                   command: str = "", log=print, cases: Sequence[str] = (), reuse: bool = False) -> dict:
    """Simulate, run the workflow for each configuration, analyse, and write the report.

    Parameters
    ----------
    out_dir : path
        Working directory: ``sims/`` (simulated data, reused if it holds a manifest) and one
        workflow directory per configuration.
    preset, config_overrides, seed
        Simulator preset and overrides (e.g. ``{"sne": {"n_sne": 3}}``).
    configs : mapping, optional
        ``{name: workflow config overrides}``; default ``{"romandia": {}}``.  A configuration
        with ``{INPUT_FORMAT: "asdf"}`` reads the same scenes as Roman L2 ASDF (the data are
        then simulated in both formats).
    report, plot_dir : path, optional
        Markdown file whose generated block is replaced, and the folder of its plots.
    field_stars, max_zp_images
        Measure field-star zeropoints (on at most ``max_zp_images`` images per run).
    cases : sequence of str
        PSF-model mismatch cases (:data:`romandia.mismatch.CASES`) run on the same data with
        romandia's defaults plus the case's overrides; tabulated with the first configuration
        as the matched case.
    reuse : bool
        Analyse a configuration's workflow directory as it is, without calling Snakemake, when
        it already holds lightcurves (a run finished with other code; its time is then NaN).

    Returns
    -------
    dict
        ``{name: {"df", "summary", "field_stars", "seconds", "overrides"}}`` plus ``"meta"``
        (with ``"mismatch"``: ``{name: {"what", "summary"}}`` when ``cases`` are given).
    """
    from romandia import mismatch
    from romandia.simulate import simulate

    unknown = [c for c in cases if c not in mismatch.CASES]
    if unknown:
        raise ValueError(f"unknown mismatch case(s) {unknown}; choose from {list(mismatch.CASES)}")

    out = Path(out_dir)
    sims = out / "sims"
    t0 = time.perf_counter()
    if (sims / "manifest.json").is_file():
        log(f"reusing simulated data in {sims}")
        man = json.loads((sims / "manifest.json").read_text())
        sim_seconds = 0.0
    else:
        over = dict(config_overrides or {})
        if any(c.get(INPUT_FORMAT) == "asdf" for c in (configs or {}).values()):
            over["image"] = {**over.get("image", {}), "formats": ["fits", "asdf"]}
        simulate(preset, sims, seed=seed, config_overrides=over)
        man = json.loads((sims / "manifest.json").read_text())
        sim_seconds = time.perf_counter() - t0
        log(f"simulated {preset} into {sims} in {sim_seconds:.0f} s")
    configs = dict(configs or {"romandia": {}})
    results: dict = {}

    def run(name, over):
        work = out / name
        if reuse and list((work / "results" / "lc_out_dir").glob("data/*/*_all.csv")):
            log(f"{name}: reusing the lightcurves in {work} (no Snakemake run)")
            return work, float("nan")
        return work, run_workflow(sims, work, over, cores=cores, log=log)

    for name, over in configs.items():
        work, dt = run(name, over)
        df, s, fs = analyze(sims, work, field_stars=field_stars, max_zp_images=max_zp_images)
        results[name] = {"df": df, "summary": s, "field_stars": fs, "seconds": dt, "overrides": dict(over)}
        log(f"{name}: pull mean {s['pull']['mean']:+.3f} std {s['pull']['std']:.3f}, bias(S/N>=20) "
            f"{100 * s['bias_snr20']['bias']:+.3f} %, failed {s['n_failed']}/{s['n_rows']}")
    first = next(iter(configs))
    mm = {f"{first} (matched)": {"what": "none (the OU2024 model)",
                                 "summary": mismatch.case_summary(results[first]["df"])}} if cases else {}
    for name in cases:
        what, over = mismatch.CASES[name]
        work, dt = run(name, over)
        df, s, _ = analyze(sims, work, field_stars=False)
        results[name] = {"df": df, "summary": s, "field_stars": None, "seconds": dt, "overrides": dict(over)}
        mm[name] = {"what": what, "summary": mismatch.case_summary(df, matched=results[first]["df"])}
        cs = mm[name]["summary"]
        log(f"{name}: bias(S/N>=20) {100 * cs['bias_uncal']:+.2f} % -> {100 * cs['bias']:+.2f} %, "
            f"pull std {cs['pull_std']:.3f}")
    cfg = man["config"]
    import yaml

    objects = yaml.safe_load((sims / "objects.yaml").read_text())
    meta = {"command": command or "romandia validate", "machine": _machine(), "preset": man["preset"],
            "seed": man["seed"], "n_sne": len({o["oid"] for o in objects}),
            "bands": sorted({o["band"] for o in objects}),
            "n_images": sum(1 for f in man["files"] if str(f.get("path", "")).startswith("images/")),
            "sim_seconds": sim_seconds, "version": man.get("romandia_version", ""), "config": cfg,
            "mismatch": mm, "case_seconds": {n: results[n]["seconds"] for n in cases}}
    results["meta"] = meta
    if report:
        doc = Path(report)
        pdir = Path(plot_dir) if plot_dir else doc.parent / doc.stem
        plots = make_plots({n: results[n]["df"] for n in configs}, pdir, sims_dir=sims)
        write_report(doc, report_markdown({n: results[n] for n in configs}, meta, plots, doc.parent))
        log(f"report written to {doc}")
    summary_json = {n: {"summary": results[n]["summary"], "field_stars": results[n]["field_stars"],
                        "seconds": results[n]["seconds"]} for n in configs}
    summary_json["mismatch"] = {n: c["summary"] for n, c in mm.items()}
    (out / "summary.json").write_text(json.dumps(summary_json, indent=1, default=float))
    return results
