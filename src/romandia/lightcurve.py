"""phrosty's lightcurve table: schema, rows, merging, deterministic writing and plotting.

One row per (science image, template image) pair, with phrosty's 20 columns in the exact order
of ``snappl`` ``Lightcurve`` (reference ``phrosty.md`` §4.7), followed by romandia's extra
columns.  Differences from phrosty, all deliberate:

* ``NEA`` is computed (phrosty: NaN); ``pix_x``/``pix_y`` and ``sky_rms`` are filled when the
  caller provides them (phrosty HEAD: NaN).
* Rows are sorted (phrosty: completion order) and both files are byte-for-byte reproducible.
* Failed pairs keep a row with ``success=False`` and ``failure_reason = "{stage}: {reason}"``.

Units: ``flux``, ``flux_err``, ``aperture_sum``, ``sky_rms`` are counts per exposure (OU2024;
phrosty labels them count/s); ``mag = -2.5 log10(flux)`` is *instrumental*, so the AB magnitude
is ``mag + zpt``; ``pix_x``/``pix_y`` are 0-based science-image pixels; ``NEA`` is in pix^2.

Missing values: float columns NaN, string columns ``''`` (``science_id``/``template_id``:
``'None'``, as phrosty), integer columns ``-1``, ``success`` False.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "EXTRA_COLUMNS",
    "DTYPES",
    "UNITS",
    "SORT_KEYS",
    "MAG_ERR_FACTOR",
    "REQUIRED_META",
    "make_row",
    "failed_row",
    "merge_rows",
    "apply_schema",
    "sort_lightcurve",
    "write_lightcurve",
    "to_csv_bytes",
    "to_parquet_bytes",
    "read_lightcurve",
    "plot_lightcurve",
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

#: 2.5 / ln(10): magnitude error per unit relative flux error.
MAG_ERR_FACTOR = 2.5 / math.log(10.0)

_DEFAULTS = {"float64": math.nan, "int64": -1, "bool": False, "str": ""}
_STR_DEFAULTS = {"science_id": "None", "template_id": "None"}

#: meta keys :func:`make_row` requires.
REQUIRED_META: tuple[str, ...] = (
    "mjd",
    "zpt",
    "observation_id",
    "sca",
    "template_observation_id",
    "template_sca",
)

#: Format tag stored in the parquet metadata.
SCHEMA_VERSION = "romandia-lightcurve-1"


# --------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------
def _default(col: str):
    if col in _STR_DEFAULTS:
        return _STR_DEFAULTS[col]
    return _DEFAULTS[DTYPES[col]]


def _instrumental_mag(flux: float, flux_err: float) -> tuple[float, float]:
    """``(-2.5 log10 flux, 1.0857 flux_err / |flux|)``; mag NaN for flux <= 0 or NaN."""
    mag = -2.5 * math.log10(flux) if (math.isfinite(flux) and flux > 0) else math.nan
    if math.isfinite(flux) and flux != 0:
        mag_err = MAG_ERR_FACTOR * flux_err / abs(flux)
    else:
        mag_err = math.nan
    return mag, mag_err


def _base_row(meta: Mapping) -> dict:
    row = {c: _default(c) for c in COLUMNS + EXTRA_COLUMNS}
    for key, value in meta.items():
        if key in ("mag", "mag_err", "success", "failure_reason"):
            raise ValueError(f"meta must not set the derived column {key!r}")
        row[key] = value
    return row


def make_row(phot: Mapping, meta: Mapping) -> dict:
    """One lightcurve row from a photometry result and the pair's metadata.

    Parameters
    ----------
    phot : mapping
        Result of :func:`romandia.photometry.forced_psf_photometry`: ``flux``, ``flux_err``,
        ``aperture_sum``, ``nea``, ``success``, ``message`` (and optionally
        ``aperture_sum_err``, ``local_bkg``, ``chi2_red``, ``flux_err_pixel``: the error from
        the per-pixel variance alone, before the propagation of :mod:`romandia.errorprop` and
        the χ² scaling; default ``flux_err``).
    meta : mapping
        Image/pair metadata.  Required: ``mjd`` (science MJD-OBS [d]), ``zpt`` [mag, AB of one
        count], ``observation_id``, ``sca``, ``template_observation_id``, ``template_sca``.
        Optional: ``sky_rms``, ``pix_x``, ``pix_y`` (0-based on the *science* image; NaN if
        absent), ``science_name``, ``template_name``, ``science_id``, ``template_id``, ``oid``,
        ``band``, ``ra``, ``dec``, ``flux_true`` [counts].  Any other key becomes an extra
        column.

    Returns
    -------
    dict
        Column -> value.  ``mag = -2.5 log10(flux)`` (instrumental; NaN for flux <= 0),
        ``mag_err = 1.0857 flux_err / |flux|``, ``NEA = phot['nea']``; a failed photometry
        gives ``success=False``, NaN fluxes and ``failure_reason = "photometry: <message>"``.

    Raises
    ------
    KeyError
        A required meta key is missing.
    """
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise KeyError(f"make_row: meta lacks required key(s) {missing}")
    row = _base_row(meta)
    success = bool(phot["success"])
    if success:
        flux = float(phot["flux"])
        flux_err = float(phot["flux_err"])
        row["flux"] = flux
        row["flux_err"] = flux_err
        row["NEA"] = float(phot.get("nea", math.nan))
        row["aperture_sum"] = float(phot.get("aperture_sum", math.nan))
        row["aperture_sum_err"] = float(phot.get("aperture_sum_err", math.nan))
        row["local_bkg"] = float(phot.get("local_bkg", math.nan))
        row["chi2_red"] = float(phot.get("chi2_red", math.nan))
        row["flux_err_pixel"] = float(phot.get("flux_err_pixel", flux_err))
        row["mag"], row["mag_err"] = _instrumental_mag(flux, flux_err)
        row["success"] = True
        row["failure_reason"] = ""
    else:
        row["success"] = False
        row["failure_reason"] = f"photometry: {phot.get('message') or 'failed'}"
        row["mag"] = row["mag_err"] = math.nan
    return row


def failed_row(meta: Mapping, stage: str, reason: str) -> dict:
    """A row for a pair that failed before or during photometry.

    Parameters
    ----------
    meta : mapping
        Whatever metadata is known (same keys as :func:`make_row`; none required).
    stage : str
        Workflow stage that failed (``"align"``, ``"subtract"``, ...); see
        :class:`romandia.errors.DataError`.
    reason : str
        Human-readable cause.

    Returns
    -------
    dict
        ``success=False``, NaN measurements, ``failure_reason = f"{stage}: {reason}"``.
    """
    row = _base_row(meta)
    for col in (
        "flux",
        "flux_err",
        "NEA",
        "aperture_sum",
        "mag",
        "mag_err",
        "aperture_sum_err",
        "local_bkg",
        "chi2_red",
        "flux_err_pixel",
    ):
        row[col] = math.nan
    row["success"] = False
    row["failure_reason"] = f"{stage}: {reason}"
    return row


# --------------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# writing / reading
# --------------------------------------------------------------------------------------------
def _atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`romandia.io.atomic_output`)."""
    from .io import atomic_output

    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def _format_float(v: float) -> str:
    """Shortest round-trip decimal (``repr``); ``nan``, ``inf``, ``-inf`` for non-finite."""
    return repr(float(v))


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """Deterministic, lossless CSV encoding of a lightcurve table (UTF-8, ``\\n`` line ends).

    Floats are written with ``repr`` (shortest string that round-trips float64 exactly), NaN
    as ``nan``; booleans as ``True``/``False``; strings quoted only when needed.
    """
    df = apply_schema(df)
    text = {}
    for col in df.columns:
        dtype = DTYPES.get(col)
        values = df[col].to_numpy()
        if dtype == "float64" or (dtype is None and values.dtype.kind == "f"):
            text[col] = [_format_float(v) for v in values]
        elif dtype == "bool" or (dtype is None and values.dtype.kind == "b"):
            text[col] = ["True" if v else "False" for v in values]
        else:
            text[col] = [str(v) for v in values]
    out = pd.DataFrame(text, columns=list(df.columns))
    return out.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _arrow_table(df: pd.DataFrame, metadata: Mapping | None):
    import pyarrow as pa

    df = apply_schema(df)
    arrays, fields = [], []
    for col in df.columns:
        dtype = DTYPES.get(col)
        values = df[col].to_numpy()
        if dtype == "float64":
            typ = pa.float64()
        elif dtype == "int64":
            typ = pa.int64()
        elif dtype == "bool":
            typ = pa.bool_()
        elif dtype == "str":
            typ = pa.string()
        else:
            typ = None
        arr = pa.array(values, type=typ, from_pandas=False)
        arrays.append(arr)
        unit = UNITS.get(col, "")
        fields.append(pa.field(col, arr.type, metadata={b"unit": unit.encode()} if unit else None))
    meta = {"schema": SCHEMA_VERSION, "columns": list(COLUMNS)}
    if metadata:
        meta["meta"] = dict(metadata)
    encoded = json.dumps(meta, sort_keys=True, separators=(",", ":"), default=str)
    schema = pa.schema(fields, metadata={b"romandia": encoded.encode()})
    return pa.Table.from_arrays(arrays, schema=schema)


def to_parquet_bytes(df: pd.DataFrame, metadata: Mapping | None = None) -> bytes:
    """Deterministic parquet encoding (pyarrow, no pandas index/metadata, zstd).

    Column units go into the field metadata, ``metadata`` (JSON-serialisable; e.g. ``oid``,
    ``band``, ``ra``, ``dec``) into the schema metadata key ``romandia``.  The bytes depend only
    on the table, ``metadata`` and the pyarrow version (its ``created_by`` string).
    """
    import pyarrow.parquet as pq

    table = _arrow_table(df, metadata)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", use_dictionary=False, write_statistics=True)
    return buf.getvalue()


def write_lightcurve(
    df: pd.DataFrame,
    csv_path: str | os.PathLike | None,
    parquet_path: str | os.PathLike | None,
    *,
    metadata: Mapping | None = None,
) -> None:
    """Write a lightcurve table as CSV and parquet, atomically and byte-reproducibly.

    Each file is written to a temporary file in its destination directory and moved into place
    with ``os.replace``, so readers never see a partial file.  Writing the same table twice
    gives byte-identical files.  The table is schema-enforced but *not* re-sorted (use
    :func:`merge_rows` to build it).

    Parameters
    ----------
    df : pandas.DataFrame
        Lightcurve table.
    csv_path, parquet_path : path or None
        Destinations; ``None`` skips that format.
    metadata : mapping, optional
        JSON-serialisable table metadata stored in the parquet schema (``romandia`` key).
    """
    if csv_path is not None:
        _atomic_write_bytes(csv_path, to_csv_bytes(df))
    if parquet_path is not None:
        _atomic_write_bytes(parquet_path, to_parquet_bytes(df, metadata))


def read_lightcurve(path: str | os.PathLike) -> pd.DataFrame:
    """Read a lightcurve written by :func:`write_lightcurve` (``.csv`` or parquet), schema applied."""
    path = os.fspath(path)
    if path.endswith(".csv"):
        # everything as text, no NA guessing: '' stays '' in string columns, 'nan' -> NaN
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    else:
        import pyarrow.parquet as pq

        df = pq.read_table(path).to_pandas()
    return apply_schema(df)


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------
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
