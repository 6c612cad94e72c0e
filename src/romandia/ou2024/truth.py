"""OU2024 per-image truth catalogues (``Roman_TDS_index_{band}_{pointing}_{sca}.txt``).

Conventions
-----------
* Truth-catalogue ``x``, ``y`` are **1-based** pixel coordinates (galsim / FITS convention) in the
  frame of the image file they describe; subtract 1 for the 0-based ``[y, x]`` array convention.
* Truth ``flux`` is the *expected* number of counts (e-, gain 1) of the object in the exposure and
  ``realized_flux`` the counts actually drawn; ``mag = -2.5 log10(flux) + galsim_zp(band)``, so the
  calibrated AB magnitude is ``mag + ZPTMAG`` (checked on the real
  ``Roman_TDS_index_Y106_35198_2.txt``: SN 20172782 has flux 1069.1, mag 7.451, and
  7.451 + 17.638 = 25.089 = the SNANA truth ``mag_Y`` at that MJD).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from romandia.errors import InputError

#: Columns of an OU2024 truth catalogue, in file order.
TRUTH_COLUMNS = ("object_id", "ra", "dec", "x", "y", "realized_flux", "flux", "mag", "obj_type")
#: The exact first line of an OU2024 truth catalogue (155 characters, without the newline).
TRUTH_HEADER = (
    "#    object_id            ra              dec               x                y"
    "          realized_flux         flux             mag            obj_type     "
)
#: Allowed truth ``obj_type`` values.
OBJ_TYPES = ("star", "galaxy", "transient")


def read_truth_catalog(path: str | os.PathLike) -> pd.DataFrame:
    """Read an OU2024 per-image truth catalogue (``Roman_TDS_index_*.txt``).

    Parameters
    ----------
    path : str or path-like
        The catalogue.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TRUTH_COLUMNS`: ``object_id`` (int64), ``ra``, ``dec`` [deg], ``x``, ``y``
        [**1-based** pixels of the image the catalogue belongs to], ``realized_flux``, ``flux``
        [counts, e-], ``mag`` [``-2.5 log10(flux) + galsim zp``; AB = mag + ZPTMAG; ``inf`` where
        flux is 0], ``obj_type`` (str: star | galaxy | transient).

    Raises
    ------
    InputError
        If the file is missing or its header / column count is not the OU2024 one.
    """
    path = Path(path)
    try:
        with open(path) as fh:
            first = fh.readline()
    except OSError as exc:
        raise InputError(f"{path}: cannot read truth catalogue ({exc.strerror})") from exc
    if first.split() != ["#", *TRUTH_COLUMNS]:
        raise InputError(
            f"{path}:1: not an OU2024 truth catalogue; expected the header "
            f"'# {' '.join(TRUTH_COLUMNS)}'"
        )
    df = pd.read_csv(
        path,
        comment="#",
        sep=r"\s+",
        names=list(TRUTH_COLUMNS),
        dtype={"object_id": "int64", "obj_type": str},
        engine="c",
    )
    for c in TRUTH_COLUMNS[1:-1]:
        df[c] = df[c].astype("float64")
    return df


def _fmt_e(v: float) -> str:
    """``%17.8e`` with non-finite values written as ``inf`` / ``nan`` (right-aligned)."""
    if math.isfinite(v):
        return f"{v:17.8e}"
    return f"{('inf' if v > 0 else '-inf') if math.isinf(v) else 'nan':>17}"


def write_truth_catalog(path: str | os.PathLike, df: pd.DataFrame) -> None:
    """Write a truth catalogue in OU2024's exact text format.

    The first line is :data:`TRUTH_HEADER`; every row is ``object_id`` right-aligned in 16
    characters, the seven numbers as ``%17.8e`` and ``obj_type`` right-aligned in 17 characters
    (152 characters per row), as in the real OU2024 files.  ``mag`` of a zero-flux transient is
    written as ``inf``.

    Parameters
    ----------
    path : str or path-like
        Output file (parent directories are created).
    df : pandas.DataFrame
        Must have the columns :data:`TRUTH_COLUMNS` (see :func:`read_truth_catalog` for units).

    Raises
    ------
    InputError
        If a column is missing or an ``obj_type`` is not star | galaxy | transient.
    """
    missing = [c for c in TRUTH_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"truth catalogue for {path}: missing columns {missing}")
    bad = set(df["obj_type"]) - set(OBJ_TYPES)
    if bad:
        raise InputError(f"truth catalogue for {path}: unknown obj_type {sorted(bad)}")
    lines = [TRUTH_HEADER]
    cols = [df[c].to_numpy() for c in TRUTH_COLUMNS]
    for row in zip(*cols, strict=True):
        oid, *nums, otype = row
        lines.append(f"{int(oid):16d}" + "".join(_fmt_e(float(v)) for v in nums) + f"{otype:>17}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
