"""Validation of what differs between supernova and stars: bias by band, SN phase, colour,
redshift and host brightness, and the pre-explosion epochs (``romandia validate --chromatic``).

Definitions (rows with truth, :func:`romandia.validation.truth.attach_truth`):

* ``phase`` = (MJD − peak MJD) / (1 + z) [rest-frame days], from the simulator's SNANA truth;
  bins :data:`PHASE_BINS` (before peak, 0–20 d, after 20 d);
* ``colour_true`` = the SN's true AB colour at that epoch between the row's band and its bluer
  neighbour among the truth's bands (the redder one for the bluest band), from the truth
  lightcurve; terciles per band;
* ``host_mag`` and ``z`` terciles per band;
* pre-explosion epochs: ``flux_true == 0``; their pull mean must be within 3/√N of 0 and their
  pull σ in [0.9, 1.1].

Each bin's bias (median of f/f_true − 1, S/N ≥ 20, bootstrap error over lightcurves, as
:func:`romandia.validation.stats.binned_stats`) is compared with its band's: the target is
|bin − band| ≤ 0.3 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .stats import _bias, _lc, pull_stats

__all__ = ["PHASE_BINS", "attach_sn_truth", "true_factors", "chromatic_summary", "chromatic_markdown"]

#: Rest-frame phase bin edges [d].
PHASE_BINS = (-math.inf, 0.0, 20.0, math.inf)
#: Target: |bias| and each bin's distance from its band's bias [fraction].
TOL = 0.003


def attach_sn_truth(df: pd.DataFrame, sims_dir) -> pd.DataFrame:
    """Add ``phase``, ``z`` and ``colour_true`` (module docstring) from the SNANA truth."""
    from romandia.constants import BANDS
    from romandia.ou2024 import find_sn_truth, truth_mag

    sims = Path(sims_dir) / "snana"
    df = df.copy()
    cache: dict = {}
    phase, z, col = [], [], []
    for oid, band, mjd in zip(df["oid"], df["band"], df["mjd"], strict=True):
        if oid not in cache:
            try:
                cache[oid] = find_sn_truth(sims, int(oid))
            except Exception:  # noqa: BLE001 - a row without truth stays NaN
                cache[oid] = None
        t = cache[oid]
        if t is None:
            phase.append(math.nan), z.append(math.nan), col.append(math.nan)
            continue
        par, grid, mags = t
        zz = float(par["z_CMB"])
        phase.append((float(mjd) - float(par["peak_mjd"])) / (1.0 + zz))
        z.append(zz)
        have = [b for b in BANDS if b in mags]
        i = have.index(band) if band in have else -1
        other = have[i - 1] if i > 0 else (have[i + 1] if 0 <= i < len(have) - 1 else None)
        if other is None:
            col.append(math.nan)
            continue
        m0 = float(truth_mag(grid, mags[band], float(mjd)))
        m1 = float(truth_mag(grid, mags[other], float(mjd)))
        blue_minus_red = (m1 - m0) if BANDS.index(other) < BANDS.index(band) else (m0 - m1)
        col.append(blue_minus_red if math.isfinite(blue_minus_red) else math.nan)
    df["phase"], df["z"], df["colour_true"] = phase, z, col
    return df


def true_factors(df: pd.DataFrame, sims_dir) -> np.ndarray:
    """Each row's true chromatic factor: its responses (``chrom_resp``) applied to the simulator's
    own spectrum of the SN at that epoch (:func:`romandia.simulate.seds.transient_sed`); NaN for a
    row without responses.  Needs the simulator's output (its manifest) in ``sims_dir``."""
    import json

    from romandia.chromatic import response, seds
    from romandia.simulate.core import build_transients
    from romandia.simulate.seds import transient_sed

    man = json.loads((Path(sims_dir) / "manifest.json").read_text())
    sn = {t.id: t for t in build_transients(man["config"], int(man["seed"]))}
    weights: dict = {}
    out = np.full(len(df), math.nan)
    for i, (oid, mjd, band, resp) in enumerate(zip(df["oid"], df["mjd"], df["band"], df["chrom_resp"], strict=True)):
        r = response.parse_response(resp)
        if r is None:
            continue
        k = (int(oid), float(mjd), band, r.size)
        if k not in weights:
            sed, _ = transient_sed(sn[k[0]], k[1], band)
            weights[k] = seds.band_weights(lambda lam, s=sed: np.asarray(s(lam)), band, r.size)
        out[i] = response.factor(r, weights[k])
    return out


def _bins(g: pd.DataFrame, column: str, edges) -> list[dict]:
    out = []
    v = g[column].to_numpy(dtype=float)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sub = g[(v >= lo) & (v < hi)] if math.isfinite(hi) else g[v >= lo]
        b = _bias(sub["ratio"], _lc(sub))
        out.append({"lo": float(lo), "hi": float(hi), "n": int(b["n"]), "bias": b["bias"], "bias_err": b["bias_err"]})
    return out


def _terciles(v: np.ndarray) -> tuple:
    v = v[np.isfinite(v)]
    if v.size < 3:
        return (-math.inf, math.inf)
    q = np.quantile(v, [1 / 3, 2 / 3])
    return (-math.inf, float(q[0]), float(q[1]), math.inf)


def chromatic_summary(df: pd.DataFrame) -> dict:
    """Per band: bias at S/N ≥ 20 overall and per phase, colour, redshift and host bin, each
    bin's offset from the band's; the pre-explosion epochs' pulls; the correction applied."""
    ok = df[df["success"].astype(bool) & np.isfinite(df["flux"]) & np.isfinite(df["flux_err"])]
    s: dict = {"bands": {}, "n_failed": int(len(df) - len(ok)), "n_rows": int(len(df))}
    for band, g in ok.groupby("band"):
        hi = g[(g["snr"] >= 20) & (g["flux_true"] > 0)]
        b = _bias(hi["ratio"], _lc(hi))
        entry = {"bias": b, "pull": pull_stats(g["pull"])}
        for name, col, edges in (("phase", "phase", PHASE_BINS),
                                 ("colour", "colour_true", _terciles(hi["colour_true"].to_numpy(float))),
                                 ("z", "z", _terciles(hi["z"].to_numpy(float))),
                                 ("host", "host_mag", _terciles(hi["host_mag"].to_numpy(float)))):
            bins = _bins(hi, col, edges)
            for x in bins:
                x["offset"] = x["bias"] - b["bias"] if x["n"] else math.nan
            entry[name] = bins
        pre = g[g["flux_true"] == 0]
        entry["pre"] = dict(pull_stats(pre["pull"]),
                            median_flux=float(np.median(pre["flux"])) if len(pre) else math.nan)
        if "chrom_status" in g:
            applied = g["chrom_status"].astype(str) == "applied"
            corr = g.loc[applied, "chrom_corr"].to_numpy(float)
            entry["correction"] = {"n_applied": int(applied.sum()), "n": int(len(g)),
                                   "median": float(np.median(corr)) if corr.size else math.nan,
                                   "min": float(corr.min()) if corr.size else math.nan,
                                   "max": float(corr.max()) if corr.size else math.nan}
        s["bands"][band] = entry
    return s


def _pct(v, e=None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{100 * v:+.2f} ± {100 * e:.2f} %" if e is not None and math.isfinite(e) else f"{100 * v:+.2f} %"


def _edges(lo, hi, fmt="{:.2f}") -> str:
    a = "" if not math.isfinite(lo) else fmt.format(lo)
    b = "" if not math.isfinite(hi) else fmt.format(hi)
    if not a and not b:
        return "all"
    return f"< {b}" if not a else (f"≥ {a}" if not b else f"{a} – {b}")


def chromatic_markdown(summaries: Mapping[str, dict]) -> str:
    """Tables of :func:`chromatic_summary` for each configuration (first = the default)."""
    lines = []
    for name, s in summaries.items():
        lines += [f"### {name}", "",
                  "| band | bias S/N ≥ 20 | pull mean / σ | pre-explosion pull mean / σ (limit 3/√N) | "
                  "pre-explosion median flux | correction applied (median, range) | target met |",
                  "|---|---|---|---|---|---|---|"]
        for band, e in s["bands"].items():
            pre = e["pre"]
            lim = 3 / math.sqrt(pre["n"]) if pre["n"] else math.nan
            c = e.get("correction") or {}
            offsets = [x["offset"] for k in ("phase", "colour", "z", "host") for x in e[k] if x["n"]]
            met = (abs(e["bias"]["bias"]) <= TOL and all(abs(o) <= TOL for o in offsets)
                   and (not pre["n"] or (abs(pre["mean"]) <= lim and 0.9 <= pre["std"] <= 1.1)))
            lines.append(
                f"| {band} | {_pct(e['bias']['bias'], e['bias']['bias_err'])} (n {e['bias']['n']}) | "
                f"{e['pull']['mean']:+.3f} / {e['pull']['std']:.3f} | "
                f"{pre['mean']:+.3f} / {pre['std']:.3f} ({lim:.3f}, N {pre['n']}) | {pre['median_flux']:+.1f} | "
                f"{c.get('n_applied', 0)}/{c.get('n', 0)} ({c.get('median', math.nan):.4f}, "
                f"{c.get('min', math.nan):.4f}–{c.get('max', math.nan):.4f}) | {'yes' if met else 'no'} |")
        lines += ["", "Bias at S/N ≥ 20 per bin, and its offset from the band's (target |offset| ≤ 0.3 %):", "",
                  "| band | split | bin | n | bias | offset |", "|---|---|---|---|---|---|"]
        for band, e in s["bands"].items():
            for split, fmt in (("phase", "{:.0f} d"), ("colour", "{:.2f}"), ("z", "{:.2f}"), ("host", "{:.1f}")):
                for x in e[split]:
                    lines.append(f"| {band} | {split} | {_edges(x['lo'], x['hi'], fmt)} | {x['n']} | "
                                 f"{_pct(x['bias'], x['bias_err'])} | {_pct(x['offset'])} |")
        lines.append("")
    return "\n".join(lines)
