"""Writing and reading lightcurve tables: deterministic CSV and parquet, atomic writes.

Both files are byte-for-byte reproducible (phrosty's are not): floats in the CSV are written with
``repr`` (lossless), the parquet file has no pandas metadata and carries each column's unit
(:data:`~romandia.lightcurve.schema.UNITS`) and the table's metadata.  Each file is written to a
temporary file and moved into place, so readers never see a partial file.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping

import pandas as pd

from .schema import COLUMNS, DTYPES, SCHEMA_VERSION, UNITS, apply_schema

__all__ = ["write_lightcurve", "to_csv_bytes", "to_parquet_bytes", "read_lightcurve"]


def _atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`romandia.io.atomic_output`)."""
    from ..io import atomic_output

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
