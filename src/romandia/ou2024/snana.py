"""SNANA truth files of the SNe (``snana_{healpix}.parquet`` + ``snana_{healpix}.hdf5``).

SNANA truth magnitudes are AB magnitudes; ``counts = 10**(-0.4 (mag - zeropoint))`` with
``zeropoint = galsim_zp + ZPTMAG`` (:func:`romandia.constants.zeropoint`).  MJDs are days; the
HEALPix index of a file name is nside 32, RING (:func:`romandia.ou2024.healpix.healpix_ring`).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from romandia.constants import BANDS, SNANA_LETTER
from romandia.errors import InputError

#: Columns every ``snana_{healpix}.parquet`` written by romandia has (OU2024 has more).
SNANA_REQUIRED_COLUMNS = (
    "id", "ra", "dec", "start_mjd", "peak_mjd", "end_mjd", "host_id", "z_CMB", "model_name",
)

_SNANA_RE = re.compile(r"^snana_(?P<hp>\d+)\.parquet$")


def write_snana(
    directory: str | os.PathLike,
    healpix: int,
    params_df: pd.DataFrame,
    lightcurves: Mapping[int, Mapping[str, np.ndarray]],
) -> tuple[Path, Path]:
    """Write ``snana_{healpix}.parquet`` and ``snana_{healpix}.hdf5`` like OU2024.

    Parameters
    ----------
    directory : str or path-like
        Output directory (created).
    healpix : int
        HEALPix (nside 32, RING) index used in the file names.
    params_df : pandas.DataFrame
        One row per SN with at least :data:`SNANA_REQUIRED_COLUMNS` (``id`` int, ``ra``/``dec``
        [deg], ``start_mjd``/``peak_mjd``/``end_mjd`` [MJD], ``host_id``, ``z_CMB``,
        ``model_name``); written as is (rows sorted by id).
    lightcurves : mapping
        ``{id: {"mjd": float64 array, "mag_R": float32 array, ...}}``; every array is written as
        the dataset ``/{id}/{name}``.  Magnitudes are AB (``mag_{R,Z,Y,J,H,F,K}``, one letter per
        Roman band as in the real files).

    Returns
    -------
    tuple of Path
        ``(parquet_path, hdf5_path)``.
    """
    import h5py

    missing = [c for c in SNANA_REQUIRED_COLUMNS if c not in params_df.columns]
    if missing:
        raise InputError(f"SNANA params for healpix {healpix}: missing columns {missing}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pq = directory / f"snana_{int(healpix)}.parquet"
    h5 = directory / f"snana_{int(healpix)}.hdf5"
    params_df.sort_values("id").reset_index(drop=True).to_parquet(pq, index=False)
    with h5py.File(h5, "w", libver="earliest", track_order=False) as f:
        for oid in sorted(lightcurves):
            g = f.create_group(str(int(oid)))
            for name in sorted(lightcurves[oid]):
                g.create_dataset(name, data=np.asarray(lightcurves[oid][name]), track_times=False)
    return pq, h5


def read_snana_lightcurve(hdf5_path: str | os.PathLike, oid: int) -> tuple[np.ndarray, dict]:
    """Read one SN's truth lightcurve from a SNANA HDF5 file (``/{oid}/mjd``, ``/{oid}/mag_X``).

    Parameters
    ----------
    hdf5_path : str or path-like
        ``snana_{healpix}.hdf5``; opened read-only with HDF5 file locking off.
    oid : int
        SN id (the group name).

    Returns
    -------
    tuple
        ``(mjd, mags)``: ``mjd`` float64 [MJD]; ``mags`` ``{band: float32 AB mag array}`` for the
        Roman bands present (``mag_R`` -> ``"R062"``, ...).

    Raises
    ------
    InputError
        If the file or the group is missing.
    """
    import h5py

    try:
        f = h5py.File(hdf5_path, "r", locking=False)
    except OSError as exc:
        raise InputError(f"{hdf5_path}: cannot open SNANA HDF5 ({exc})") from exc
    with f:
        key = str(int(oid))
        if key not in f:
            raise InputError(f"{hdf5_path}: no SN {oid} (no group '/{key}')")
        g = f[key]
        mjd = np.asarray(g["mjd"][()], dtype="float64")
        mags = {}
        for band in BANDS:
            name = f"mag_{SNANA_LETTER[band]}"
            if name in g:
                mags[band] = np.asarray(g[name][()])
    return mjd, mags


def find_sn_truth(directory: str | os.PathLike, oid: int) -> tuple[pd.Series, np.ndarray, dict]:
    """Find an SN's SNANA truth (parameters and lightcurve) in a directory of OU2024 SNANA files.

    Globs ``snana_*.parquet`` (names containing ``flux`` are skipped), finds the row with
    ``id == oid``, then opens the matching ``snana_{healpix}.hdf5`` (``h5py``, ``locking=False``).

    Parameters
    ----------
    directory : str or path-like
        e.g. ``DIR/snana`` of a simulator output or OU2024's ``roman_rubin_cats_v1.1.2_faint``.
    oid : int
        SN id.

    Returns
    -------
    tuple
        ``(params, mjd, mags)``: the parquet row (pandas Series, plus ``healpix``), mjd float64
        array [MJD], ``{band: AB mag array}`` (see :func:`read_snana_lightcurve`).

    Raises
    ------
    InputError
        If no parquet file contains the id, or the HDF5 file / group is missing.
    """
    directory = Path(directory)
    files = sorted(glob.glob(os.fspath(directory / "snana_*.parquet")))
    for fn in files:
        name = Path(fn).name
        m = _SNANA_RE.match(name)
        if "flux" in name or m is None:
            continue
        ids = pd.read_parquet(fn, columns=["id"])["id"]
        hit = np.flatnonzero(ids.to_numpy() == int(oid))
        if hit.size == 0:
            continue
        params = pd.read_parquet(fn).iloc[int(hit[0])].copy()
        hp = int(m["hp"])
        params["healpix"] = hp
        mjd, mags = read_snana_lightcurve(directory / f"snana_{hp}.hdf5", oid)
        return params, mjd, mags
    raise InputError(f"{directory}: SN {oid} is in none of the {len(files)} snana_*.parquet files")


def truth_mag(mjd_grid, mag_grid, mjd):
    """Truth magnitude at ``mjd``, linearly interpolated on the SNANA grid.

    Parameters
    ----------
    mjd_grid : array_like
        Increasing MJDs of the truth lightcurve (``/{id}/mjd``).
    mag_grid : array_like
        AB magnitudes on that grid (``/{id}/mag_X``).
    mjd : float or array_like
        Epoch(s) [MJD].

    Returns
    -------
    float or numpy.ndarray
        AB magnitude; **+inf outside** ``[mjd_grid[0], mjd_grid[-1]]`` (the SN has no flux
        before its start / after its end), so ``10**(-0.4 (mag - zp))`` is exactly 0 there.
    """
    grid = np.asarray(mjd_grid, dtype="float64")
    mags = np.asarray(mag_grid, dtype="float64")
    out = np.interp(np.asarray(mjd, dtype="float64"), grid, mags, left=np.inf, right=np.inf)
    return float(out) if np.ndim(out) == 0 else out


def mag_to_counts(mag, zeropoint: float):
    """Counts (e-) of an AB magnitude through an image zeropoint; ``mag = inf`` gives 0."""
    m = np.asarray(mag, dtype="float64")
    with np.errstate(over="ignore"):
        out = np.where(np.isfinite(m), 10.0 ** (-0.4 * (m - zeropoint)), 0.0)
    return float(out) if out.ndim == 0 else out
