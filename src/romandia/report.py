"""What the Snakemake report (``snakemake --report``) shows besides the lightcurve plots and tables.

* :func:`stamp_grid`: per object and band, one row per epoch (science × template pair, by MJD)
  of the science, aligned template and difference stamps that photometry measured on, with
  the row's flux or failure reason;
* :func:`failed_pairs`: every failed row of the run with its stage and reason;
* :func:`run_settings`: romandia's version and commit, the versions of the packages that do
  the science, and every config key, flattened.

Stamps are displayed with one linear scale per row (the science stamp's 1st-99.5th
percentiles, applied to all three) so that a residual in the difference reads against the
science image's own brightness.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from importlib import metadata

import numpy as np
import pandas as pd

from . import io as rio
from . import products
from .config import flatten

#: the stamps shown per epoch: HDU in ``stamps/{science}`` -> column title
SHOWN = {"SCI": "science", "TEMPLATE": "aligned template", "DIFF": "difference"}
#: packages whose versions the settings table lists
PACKAGES = ("numpy", "scipy", "astropy", "photutils", "sep", "sfft", "galsim", "pandas", "snakemake",
            "roman_datamodels", "cupy-cuda12x", "cupy-cuda13x")


def stamp_grid(df: pd.DataFrame, stamp_paths: Mapping[str, str], path, *, title: str = "") -> None:
    """A PNG of every epoch's stamps for one object and band.

    Parameters
    ----------
    df : pandas.DataFrame
        The object's lightcurve (one row per science × template pair): ``band``,
        ``observation_id``, ``sca``, ``template_observation_id``, ``template_sca``, ``oid``,
        ``mjd``, ``flux``, ``flux_err``, ``success``, ``failure_reason``.
    stamp_paths : mapping
        Science image key -> its ``stamps`` product (members ``{oid}.{template key}``).
    path : path
        Output PNG (written atomically).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = df.assign(sci_key=[f"{b}_{o}_{s}" for b, o, s in zip(df["band"], df["observation_id"], df["sca"],
                                                                 strict=True)],
                     tmpl_key=[f"{b}_{o}_{s}" for b, o, s in zip(df["band"], df["template_observation_id"],
                                                                  df["template_sca"], strict=True)])
    rows = rows.sort_values(["mjd", "tmpl_key"]).reset_index(drop=True)
    n = max(len(rows), 1)
    fig = Figure(figsize=(6.6, 2.1 * n + 0.4), dpi=80)
    FigureCanvasAgg(fig)
    if title:
        fig.suptitle(title, fontsize=10)
    for i, r in rows.iterrows():
        label = f"MJD {r['mjd']:.2f}\n{r['sci_key']}\n− {r['tmpl_key']}"
        member = f"{int(r['oid'])}.{r['tmpl_key']}"
        stamps, why = None, str(r.get("failure_reason", "") or "")
        if why == "nan":
            why = ""
        src = stamp_paths.get(r["sci_key"])
        if src and os.path.exists(src):
            try:
                stamps = products.read_members(src, member, SHOWN)
            except Exception as exc:  # noqa: BLE001 - a failed member: show its reason
                why = why or str(exc)
        for j, (name, col) in enumerate(SHOWN.items()):
            ax = fig.add_subplot(n, len(SHOWN), i * len(SHOWN) + j + 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col, fontsize=9)
            if j == 0:
                ax.set_ylabel(label, fontsize=7)
            if stamps is None:
                ax.text(0.5, 0.5, "failed" if not why else why[:60], ha="center", va="center", fontsize=6,
                        wrap=True, transform=ax.transAxes)
                continue
            if j == 0:
                ref = stamps["SCI"][0]
                finite = ref[np.isfinite(ref)]
                lo, hi = np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0)
            ax.imshow(stamps[name][0], origin="lower", cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            if name == "DIFF" and bool(r["success"]):
                ax.set_xlabel(f"{r['flux']:.0f} ± {r['flux_err']:.0f}", fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (2.1 * n + 0.4)))  # room for the title
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    with rio.atomic_output(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def failed_pairs(lightcurve_csvs: Iterable) -> pd.DataFrame:
    """Every failed row of the run: ``oid``, ``band``, ``mjd``, ``science``, ``template``,
    ``stage``, ``reason`` (empty table with these columns when none failed)."""
    cols = ["oid", "band", "mjd", "science", "template", "stage", "reason"]
    out = []
    for path in lightcurve_csvs:
        df = pd.read_csv(path, keep_default_na=False)
        for _, r in df[df["success"].astype(str) != "True"].iterrows():
            stage, _, reason = str(r.get("failure_reason", "")).partition(": ")
            out.append([r["oid"], r["band"], r["mjd"], r["science_name"], r["template_name"], stage, reason])
    return pd.DataFrame(out, columns=cols)


def run_settings(config: Mapping, *, version: str, code: Mapping) -> pd.DataFrame:
    """``setting``, ``value`` rows: romandia's version and commit, package versions, config keys
    (objects summarised by count)."""
    rows = [("romandia", version), ("git commit", f"{code.get('commit')}{' (modified)' if code.get('dirty') else ''}")]
    for pkg in PACKAGES:
        try:
            rows.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            continue
    cfg = {k: v for k, v in config.items() if k != "objects"}
    rows.append(("objects", f"{len(config.get('objects', []))} object-band(s)"))
    # sorted: the order must not depend on where a key came from (config file, --config, default)
    rows += [(k, "" if v is None else str(v)) for k, v in sorted(flatten(cfg).items())]
    return pd.DataFrame(rows, columns=["setting", "value"])
