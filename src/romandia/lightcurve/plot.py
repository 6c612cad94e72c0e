"""The lightcurve plot: flux ± flux_err [counts per exposure] vs MJD [d], reproducible PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .fileio import _atomic_write_bytes
from .schema import apply_schema

__all__ = ["plot_lightcurve"]


def _truth_arrays(truth) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(truth, pd.DataFrame | Mapping):
        mjd, flux = truth["mjd"], truth["flux"]
    else:
        mjd, flux = truth
    mjd = np.asarray(mjd, dtype=float)
    flux = np.asarray(flux, dtype=float)
    order = np.argsort(mjd, kind="stable")
    return mjd[order], flux[order]


def plot_lightcurve(df: pd.DataFrame, path, truth=None, title: str | None = None) -> None:
    """Plot flux +- flux_err vs MJD to a PNG with reproducible bytes.

    Parameters
    ----------
    df : pandas.DataFrame
        Lightcurve table.  Successful rows are drawn with error bars; failed rows as ``x``
        markers along the bottom axis, counted in the legend.
    path : path
        Output PNG (written atomically).
    truth : (mjd, counts) tuple or DataFrame/mapping with ``mjd`` and ``flux``, optional
        True lightcurve [counts per exposure], drawn as a line.
    title : str, optional
        Defaults to ``"{oid} {band}"`` from the table when available.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    df = apply_schema(df)
    ok = df[df["success"]]
    bad = df[~df["success"]]
    fig = Figure(figsize=(7.0, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if truth is not None:
        tm, tf = _truth_arrays(truth)
        ax.plot(tm, tf, "-", color="0.5", lw=1.2, label="truth", zorder=1)
    if len(ok):
        ax.errorbar(
            ok["mjd"],
            ok["flux"],
            yerr=ok["flux_err"],
            fmt="o",
            ms=4,
            color="C0",
            ecolor="C0",
            elinewidth=1,
            capsize=0,
            label=f"measured ({len(ok)})",
            zorder=3,
        )
    if len(bad):
        ax.plot(
            bad["mjd"],
            np.full(len(bad), 0.02),
            "x",
            color="C3",
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            label=f"failed ({len(bad)})",
            zorder=4,
        )
    if not len(ok):
        ax.text(
            0.5, 0.5, "no successful measurements", transform=ax.transAxes, ha="center", va="center"
        )
    ax.axhline(0.0, color="0.8", lw=0.8, zorder=0)
    ax.set_xlabel("MJD [d]")
    ax.set_ylabel("flux [counts / exposure]")
    if title is None:
        parts = []
        if len(df) and (df["oid"] >= 0).any():
            parts.append(str(int(df["oid"][df["oid"] >= 0].iloc[0])))
        if len(df) and (df["band"] != "").any():
            parts.append(str(df["band"][df["band"] != ""].iloc[0]))
        title = " ".join(parts)
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    _atomic_write_bytes(path, buf.getvalue())
