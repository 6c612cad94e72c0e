"""The OpenUniverse 2024 (OU2024) Roman TDS layout: paths, file names, truth catalogues, obseq.

Used by both the simulator (:mod:`romandia.simulate`, which writes this layout) and the
workflow (which reads it).  Nothing here imports galsim.

Directory layout (``DIR`` = a simulator output or an OU2024 ``RomanTDS`` root)::

    DIR/images/simple_model/{band}/{pointing}/Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz
    DIR/truth/{band}/{pointing}/Roman_TDS_index_{band}_{pointing}_{sca}.txt
    DIR/snana/snana_{healpix}.parquet + snana_{healpix}.hdf5        (SN truth, SNANA format)

Conventions
-----------
* ``pointing`` (= phrosty's ``observation_id``) is an integer.  In OU2024 it is the 0-based row
  index of ``Roman_TDS_obseq_11_6_23.fits``.
* Truth-catalogue ``x``, ``y`` are **1-based** pixel coordinates (galsim / FITS convention) in the
  frame of the image file they describe; subtract 1 for the 0-based ``[y, x]`` array convention.
* Truth ``flux`` is the *expected* number of counts (e-, gain 1) of the object in the exposure and
  ``realized_flux`` the counts actually drawn; ``mag = -2.5 log10(flux) + galsim_zp(band)``, so the
  calibrated AB magnitude is ``mag + ZPTMAG`` (checked on the real
  ``Roman_TDS_index_Y106_35198_2.txt``: SN 20172782 has flux 1069.1, mag 7.451, and
  7.451 + 17.638 = 25.089 = the SNANA truth ``mag_Y`` at that MJD).
* SNANA truth magnitudes are AB magnitudes; ``counts = 10**(-0.4 (mag - zeropoint))`` with
  ``zeropoint = galsim_zp + ZPTMAG`` (:func:`romandia.constants.zeropoint`).
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from romandia.constants import BANDS, IMAGE_REGEX, IMAGE_TEMPLATE, SNANA_LETTER, TRUTH_TEMPLATE
from romandia.errors import InputError

#: Sub-directory (relative to an output/RomanTDS root) holding the simple_model images.
IMAGE_SUBDIR = "images/simple_model"
#: Sub-directory (relative to an output/RomanTDS root) holding the truth catalogues.
TRUTH_SUBDIR = "truth"
#: Sub-directory of a simulator output holding the SNANA truth files.
SNANA_SUBDIR = "snana"

#: Columns of an OU2024 truth catalogue, in file order.
TRUTH_COLUMNS = ("object_id", "ra", "dec", "x", "y", "realized_flux", "flux", "mag", "obj_type")
#: The exact first line of an OU2024 truth catalogue (155 characters, without the newline).
TRUTH_HEADER = (
    "#    object_id            ra              dec               x                y"
    "          realized_flux         flux             mag            obj_type     "
)
#: Allowed truth ``obj_type`` values.
OBJ_TYPES = ("star", "galaxy", "transient")

#: Columns every ``snana_{healpix}.parquet`` written by romandia has (OU2024 has more).
SNANA_REQUIRED_COLUMNS = (
    "id", "ra", "dec", "start_mjd", "peak_mjd", "end_mjd", "host_id", "z_CMB", "model_name",
)

_IMAGE_RE = re.compile(IMAGE_REGEX)
_SNANA_RE = re.compile(r"^snana_(?P<hp>\d+)\.parquet$")


# ----------------------------------------------------------------------------- paths
def image_filename(band: str, pointing: int, sca: int) -> str:
    """File name of an OU2024 simple_model image, e.g. ``Roman_TDS_simple_model_R062_35083_8.fits.gz``."""
    return Path(image_relpath(band, pointing, sca)).name


def image_relpath(band: str, pointing: int, sca: int, fmt: str = "fits") -> str:
    """Path of an image relative to ``images/simple_model``.

    Parameters
    ----------
    band : str
        Roman band, e.g. ``"R062"``.
    pointing : int
        OU2024 pointing (= obseq row index = phrosty ``observation_id``).
    sca : int
        SCA number, 1-18.
    fmt : {"fits", "asdf"}
        ``asdf``: the simulator's Roman L2 version of the image (``.asdf`` instead of
        ``.fits.gz``; :mod:`romandia.simulate.l2asdf`).

    Returns
    -------
    str
        ``"{band}/{pointing}/Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz"`` (POSIX).
    """
    rel = IMAGE_TEMPLATE.format(band=band, pointing=int(pointing), sca=int(sca))
    return rel[: -len(".fits.gz")] + ".asdf" if fmt == "asdf" else rel


def truth_relpath(band: str, pointing: int, sca: int) -> str:
    """Path of a truth catalogue relative to ``truth/``.

    Returns
    -------
    str
        ``"{band}/{pointing}/Roman_TDS_index_{band}_{pointing}_{sca}.txt"`` (POSIX).
    """
    return TRUTH_TEMPLATE.format(band=band, pointing=int(pointing), sca=int(sca))


def parse_image_name(filename: str | os.PathLike) -> tuple[str, int, int]:
    """Parse ``(band, pointing, sca)`` from an OU2024 image file name.

    Parameters
    ----------
    filename : str or path-like
        A file name or path; only the last component is parsed
        (``Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits[.gz]``).

    Returns
    -------
    tuple
        ``(band: str, pointing: int, sca: int)``.

    Raises
    ------
    InputError
        If the name does not match the OU2024 pattern, the band is not a Roman band, or the
        SCA is not in 1-18.
    """
    name = Path(os.fspath(filename)).name
    m = _IMAGE_RE.match(name)
    if m is None:
        raise InputError(
            f"{filename!s}: not an OU2024 image name; expected "
            "'Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits[.gz]'"
        )
    band, pointing, sca = m["band"], int(m["pointing"]), int(m["sca"])
    if band not in BANDS:
        raise InputError(f"{filename!s}: unknown band {band!r}; expected one of {', '.join(BANDS)}")
    if not 1 <= sca <= 18:
        raise InputError(f"{filename!s}: SCA {sca} is outside 1-18")
    return band, pointing, sca


# ----------------------------------------------------------------------------- packaged data
def packaged_data(relpath: str) -> Path:
    """Filesystem path of a data file shipped in ``romandia/data`` (via ``importlib.resources``).

    Parameters
    ----------
    relpath : str
        Path relative to ``romandia/data``, e.g. ``"ou2024/Roman_TDS_obseq_11_6_23.fits"``.

    Raises
    ------
    InputError
        If the file is not part of the package.
    """
    res = resources.files("romandia").joinpath("data", *relpath.split("/"))
    if not res.is_file():
        raise InputError(f"packaged data file 'romandia/data/{relpath}' does not exist")
    # romandia is installed as a regular directory (no zip import), so this is a real path.
    return Path(os.fspath(res))


def resolve_data_path(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Path:
    """Resolve ``"package:REL"`` to a packaged data file, other strings to a filesystem path.

    Relative filesystem paths are taken relative to ``base`` (e.g. the preset's directory) if
    given.
    """
    s = os.fspath(path)
    if s.startswith("package:"):
        return packaged_data(s[len("package:"):])
    p = Path(s).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return p


def default_obseq_path() -> Path:
    """The packaged copy of the real OU2024 observing sequence ``Roman_TDS_obseq_11_6_23.fits``."""
    return packaged_data("ou2024/Roman_TDS_obseq_11_6_23.fits")


# ----------------------------------------------------------------------------- truth catalogue
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


# ----------------------------------------------------------------------------- obseq
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


# ----------------------------------------------------------------------------- healpix
def healpix_ring(ra: float, dec: float, nside: int = 32) -> int:
    """HEALPix RING pixel index of (ra, dec) (Górski et al. 2005), as in OU2024's file names.

    Parameters
    ----------
    ra, dec : float
        Position [deg].
    nside : int
        HEALPix resolution (OU2024 uses 32).

    Returns
    -------
    int
        e.g. 10430 for SN 20172782 (ra 7.551, dec -44.807).
    """
    z = math.sin(math.radians(dec))
    za = abs(z)
    tt = (math.radians(ra) % (2 * math.pi)) / (0.5 * math.pi)  # in [0, 4)
    if za <= 2.0 / 3.0:
        t1 = nside * (0.5 + tt)
        t2 = nside * z * 0.75
        jp = int(t1 - t2)
        jm = int(t1 + t2)
        ir = nside + 1 + jp - jm
        kshift = 1 - (ir & 1)
        ip = (jp + jm - nside + kshift + 1) // 2
        ip %= 4 * nside
        return 2 * nside * (nside - 1) + (ir - 1) * 4 * nside + ip
    tp = tt - int(tt)
    tmp = nside * math.sqrt(3.0 * (1.0 - za))
    jp = int(tp * tmp)
    jm = int((1.0 - tp) * tmp)
    ir = jp + jm + 1
    ip = int(tt * ir) % (4 * ir)
    if z > 0:
        return 2 * ir * (ir - 1) + ip
    return 12 * nside * nside - 2 * ir * (ir + 1) + ip


# ----------------------------------------------------------------------------- SNANA truth
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
