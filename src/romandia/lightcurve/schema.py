"""The lightcurve table's schema: columns, dtypes, units, missing values, row order.

One row per (science image, template image) pair, with phrosty's 20 columns in the exact order
of ``snappl`` ``Lightcurve`` (reference ``phrosty.md`` §4.7), followed by romandia's extra
columns (:data:`EXTRA_COLUMNS`), then any other column a caller adds, sorted by name.

Units (:data:`UNITS`): ``flux``, ``flux_err``, ``aperture_sum``, ``sky_rms`` are counts per
exposure (OU2024; phrosty labels them count/s); ``mag = -2.5 log10(flux)`` is *instrumental*,
so the AB magnitude is ``mag + zpt``; ``pix_x``/``pix_y`` are 0-based science-image pixels;
``NEA`` is in pix^2.

Missing values: float columns NaN, string columns ``''`` (``science_id``/``template_id``:
``'None'``, as phrosty), integer columns ``-1``, ``success`` False.

Rows are sorted (:data:`SORT_KEYS`; phrosty: completion order), so that a table built with
:func:`merge_rows` does not depend on the order its rows were produced in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "EXTRA_COLUMNS",
    "DTYPES",
    "UNITS",
    "SORT_KEYS",
    "SCHEMA_VERSION",
    "apply_schema",
    "sort_lightcurve",
    "merge_rows",
]

#: phrosty's 20 lightcurve columns, in order (``snappl:lightcurve.py:290-320``).
COLUMNS: tuple[str, ...] = (
    "mjd",
    "flux",
    "flux_err",
    "zpt",
    "NEA",
    "sky_rms",
    "observation_id",
    "sca",
    "pix_x",
    "pix_y",
    "science_name",
    "template_name",
    "science_id",
    "template_id",
    "template_observation_id",
    "template_sca",
    "aperture_sum",
    "mag",
    "mag_err",
    "success",
)

#: romandia's extra columns, always present, in this order after :data:`COLUMNS`.  Any other
#: column a caller adds comes after these, sorted by name.
EXTRA_COLUMNS: tuple[str, ...] = (
    "failure_reason",
    "oid",
    "band",
    "ra",
    "dec",
    "flux_true",
    "aperture_sum_err",
    "local_bkg",
    "chi2_red",
    "flux_err_pixel",
    "flux_uncal",
    "flux_err_uncal",
    "calib_ratio",
    "calib_ratio_err",
    "calib_nstars",
    "calib_status",
    "chrom_corr",
    "chrom_corr_err",
    "chrom_slope",
    "chrom_slope_err",
    "chrom_sed",
    "chrom_status",
    "chrom_resp",
)

#: Column dtype: ``"float64"``, ``"int64"``, ``"bool"`` or ``"str"`` (pandas object of str,
#: parquet ``string``).
DTYPES: dict[str, str] = {
    "mjd": "float64",
    "flux": "float64",
    "flux_err": "float64",
    "zpt": "float64",
    "NEA": "float64",
    "sky_rms": "float64",
    "observation_id": "str",
    "sca": "int64",
    "pix_x": "float64",
    "pix_y": "float64",
    "science_name": "str",
    "template_name": "str",
    "science_id": "str",
    "template_id": "str",
    "template_observation_id": "str",
    "template_sca": "int64",
    "aperture_sum": "float64",
    "mag": "float64",
    "mag_err": "float64",
    "success": "bool",
    "failure_reason": "str",
    "oid": "int64",
    "band": "str",
    "ra": "float64",
    "dec": "float64",
    "flux_true": "float64",
    "aperture_sum_err": "float64",
    "local_bkg": "float64",
    "chi2_red": "float64",
    "flux_err_pixel": "float64",
    "flux_uncal": "float64",
    "flux_err_uncal": "float64",
    "calib_ratio": "float64",
    "calib_ratio_err": "float64",
    "calib_nstars": "int64",
    "calib_status": "str",
    "chrom_corr": "float64",
    "chrom_corr_err": "float64",
    "chrom_slope": "float64",
    "chrom_slope_err": "float64",
    "chrom_sed": "str",
    "chrom_status": "str",
    "chrom_resp": "str",
}

#: Units written to the parquet metadata ('' = dimensionless / not applicable).
UNITS: dict[str, str] = {
    "mjd": "d",
    "flux": "count",
    "flux_err": "count",
    "zpt": "mag",
    "NEA": "pix2",
    "sky_rms": "count",
    "pix_x": "pix",
    "pix_y": "pix",
    "aperture_sum": "count",
    "mag": "mag",
    "mag_err": "mag",
    "ra": "deg",
    "dec": "deg",
    "flux_true": "count",
    "aperture_sum_err": "count",
    "flux_err_pixel": "count",
    "flux_uncal": "count",
    "flux_err_uncal": "count",
    "local_bkg": "count/pix",
}

#: Row order of :func:`merge_rows` (ties broken by ``science_name``, ``template_name``).
#: ``observation_id``-like strings sort numerically when they are all digits.
SORT_KEYS: tuple[str, ...] = (
    "mjd",
    "observation_id",
    "sca",
    "template_observation_id",
    "template_sca",
)
_DEFAULTS = {"float64": math.nan, "int64": -1, "bool": False, "str": ""}
_STR_DEFAULTS = {"science_id": "None", "template_id": "None"}

#: Format tag stored in the parquet metadata.
SCHEMA_VERSION = "romandia-lightcurve-1"


def _default(col: str):
    if col in _STR_DEFAULTS:
        return _STR_DEFAULTS[col]
    return _DEFAULTS[DTYPES[col]]


def _to_str(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return ""
        if float(v).is_integer():
            return str(int(v))
    if isinstance(v, bytes):
        return v.decode()
    return str(v)


def _to_bool(v) -> bool:
    if isinstance(v, str):
        if v in ("True", "true", "1"):
            return True
        if v in ("False", "false", "0", ""):
            return False
        raise ValueError(f"cannot interpret {v!r} as bool")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return False
    return bool(v)


def _to_int(v) -> int:
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)) or v == "":
        return -1
    if isinstance(v, float | np.floating) and not float(v).is_integer():
        raise ValueError(f"cannot store non-integer {v!r} in an integer column")
    return int(v)


def _to_float(v) -> float:
    if v is None or (isinstance(v, str) and v == ""):
        return math.nan
    return float(v)


def _column_order(columns: Iterable[str]) -> list[str]:
    known = list(COLUMNS) + list(EXTRA_COLUMNS)
    others = sorted(c for c in columns if c not in DTYPES)
    return known + others


def apply_schema(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with all schema columns, their dtypes, and the canonical column order.

    Missing schema columns are added with their defaults (NaN, '', -1, False).  Columns not in
    the schema are kept after :data:`EXTRA_COLUMNS`, sorted by name, unchanged.  The row order
    and index are not changed (see :func:`sort_lightcurve`).

    Raises
    ------
    ValueError
        A value cannot be converted to its column's dtype.
    """
    out = {}
    n = len(df)
    for col in _column_order(df.columns):
        dtype = DTYPES.get(col)
        if col not in df.columns:
            values = [_default(col)] * n
        else:
            values = list(df[col])
        if dtype is None:
            out[col] = df[col].to_numpy()
        elif dtype == "float64":
            out[col] = np.array([_to_float(v) for v in values], dtype=np.float64)
        elif dtype == "int64":
            out[col] = np.array([_to_int(v) for v in values], dtype=np.int64)
        elif dtype == "bool":
            out[col] = np.array([_to_bool(v) for v in values], dtype=bool)
        else:
            out[col] = np.array([_to_str(v) for v in values], dtype=object)
    return pd.DataFrame(out, index=df.index if n else None)


def _rank_ids(values) -> np.ndarray:
    """Integer ranks of id strings: all-digit strings numerically first, then the rest as str."""

    def key(s: str):
        return (0, int(s), "") if s.isdigit() else (1, 0, s)

    uniq = sorted({str(v) for v in values}, key=key)
    rank = {v: i for i, v in enumerate(uniq)}
    return np.array([rank[str(v)] for v in values], dtype=np.int64)


def _rank_str(values) -> np.ndarray:
    uniq = sorted({str(v) for v in values})
    rank = {v: i for i, v in enumerate(uniq)}
    return np.array([rank[str(v)] for v in values], dtype=np.int64)


def sort_lightcurve(df: pd.DataFrame) -> pd.DataFrame:
    """Sort rows by :data:`SORT_KEYS`, then ``science_name``, ``template_name`` (stable).

    NaN ``mjd`` sorts last.  Rows equal in all keys keep their input order.  The index is reset.
    """
    if len(df) == 0:
        return df.reset_index(drop=True)
    keys = [
        df["mjd"].to_numpy(dtype=np.float64),
        _rank_ids(df["observation_id"]),
        df["sca"].to_numpy(dtype=np.int64),
        _rank_ids(df["template_observation_id"]),
        df["template_sca"].to_numpy(dtype=np.int64),
        _rank_str(df["science_name"]),
        _rank_str(df["template_name"]),
    ]
    order = np.lexsort(keys[::-1])  # lexsort: last key is primary; stable
    return df.iloc[order].reset_index(drop=True)


def merge_rows(rows: Iterable[Mapping]) -> pd.DataFrame:
    """Lightcurve table from rows (:func:`make_row` / :func:`failed_row` dicts).

    Parameters
    ----------
    rows : iterable of mappings
        Rows in any order (e.g. job completion order).

    Returns
    -------
    pandas.DataFrame
        Schema-enforced (:func:`apply_schema`), sorted (:func:`sort_lightcurve`), index
        ``0..n-1``.  The result does not depend on the input order unless two rows are equal in
        every sort key.
    """
    rows = [dict(r) for r in rows]
    df = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=list(COLUMNS))
    return sort_lightcurve(apply_schema(df))
