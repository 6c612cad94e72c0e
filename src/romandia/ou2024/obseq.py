"""Observing-sequence (obseq) tables: OU2024's ``Roman_TDS_obseq_11_6_23.fits`` or a simulator's.

Positions and position angles are in degrees, ``exptime`` in seconds, ``date`` in MJD; in OU2024
the pointing is the 0-based row index of the table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from romandia.errors import InputError

from .packaged import default_obseq_path

OBSEQ_COLUMNS = ("ra", "dec", "filter", "exptime", "date", "pa")


def read_obseq(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read an observing-sequence table (OU2024 ``Roman_TDS_obseq_11_6_23.fits`` or a simulator's).

    Parameters
    ----------
    path : str or path-like, optional
        FITS file with a binary table in HDU 1 with the columns ``ra, dec`` [deg, FPA centre],
        ``filter`` (band), ``exptime`` [s], ``date`` [MJD], ``pa`` [deg, PA of the focal plane:
        use ``PA_is_FPA=True``].  Default: the packaged real OU2024 table.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``pointing`` (int): the explicit ``pointing`` column if the table has one
        (simulator output with synthetic pointings), otherwise the 0-based row index (OU2024).
        ``filter`` is a stripped str.

    Raises
    ------
    InputError
        If the file cannot be read or lacks a column.
    """
    from astropy.io import fits

    path = default_obseq_path() if path is None else Path(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            data = hdul[1].data
            names = [n.lower() for n in data.columns.names]
            cols = {n: np.asarray(data[n]) for n in data.columns.names}
    except (OSError, IndexError) as exc:
        raise InputError(f"{path}: cannot read obseq table ({exc})") from exc
    cols = {k.lower(): v for k, v in cols.items()}
    missing = [c for c in OBSEQ_COLUMNS if c not in names]
    if missing:
        raise InputError(f"{path}: obseq table lacks columns {missing}")
    df = pd.DataFrame(
        {
            "ra": cols["ra"].astype("float64"),
            "dec": cols["dec"].astype("float64"),
            "filter": [str(s).strip() for s in cols["filter"]],
            "exptime": cols["exptime"].astype("float64"),
            "date": cols["date"].astype("float64"),
            "pa": cols["pa"].astype("float64"),
        }
    )
    if "pointing" in cols:
        df.index = pd.Index(cols["pointing"].astype("int64"), name="pointing")
    else:
        df.index = pd.RangeIndex(len(df), name="pointing")
    return df


def write_obseq(path: str | os.PathLike, df: pd.DataFrame) -> None:
    """Write an obseq table: OU2024's columns plus an explicit int64 ``pointing`` column.

    Parameters
    ----------
    path : str or path-like
        Output FITS file (uncompressed; deterministic: no date keywords).
    df : pandas.DataFrame
        Indexed by pointing id, columns :data:`OBSEQ_COLUMNS`.
    """
    from astropy.io import fits

    df = df.sort_index()
    cols = [
        fits.Column(name="ra", format="D", array=df["ra"].to_numpy("float64")),
        fits.Column(name="dec", format="D", array=df["dec"].to_numpy("float64")),
        fits.Column(name="filter", format="4A", array=np.array(df["filter"], dtype="S4")),
        fits.Column(name="exptime", format="D", array=df["exptime"].to_numpy("float64")),
        fits.Column(name="date", format="D", array=df["date"].to_numpy("float64")),
        fits.Column(name="pa", format="D", array=df["pa"].to_numpy("float64")),
        fits.Column(name="pointing", format="K", array=df.index.to_numpy("int64")),
    ]
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    hdul.writeto(path, overwrite=True)
