"""File I/O at the edges of the pipeline: reading and validating OU2024 images, staging
cutouts, atomic writes, and failure markers.

Failure markers
---------------
When a stage meets a :class:`~romandia.errors.DataError`, it still writes its declared
output so that Snakemake's DAG stays complete, but the file is a *failure marker*: a FITS
file whose primary header has ``ROMSTAT = 'FAILED'``, ``ROMSTAGE`` and ``ROMREASN``.
Downstream stages check their inputs with :func:`read_failure` and pass the failure on,
so that the pair ends as a lightcurve row with ``success=False``.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from .constants import BANDS, zeropoint
from .errors import DataError

REQUIRED_KEYS = ("FILTER", "SCA_NUM", "MJD-OBS", "EXPTIME", "ZPTMAG")
_UMASK = os.umask(0)
os.umask(_UMASK)
SUPPORTED_CTYPES = {("RA---TAN-SIP", "DEC--TAN-SIP"), ("RA---TAN", "DEC--TAN")}


# --------------------------------------------------------------------------- atomic output
@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched, so a
    killed or failed job never leaves a partial output behind.  Temporary names are
    unique per process (``tempfile.mkstemp``), so concurrent jobs never share them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give outputs the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_fits(path, hdus: list) -> None:
    """Write an HDU list atomically (uncompressed FITS)."""
    hdul = fits.HDUList(hdus)
    with atomic_output(path) as tmp:
        hdul.writeto(tmp, overwrite=True, output_verify="silentfix")


def write_failure(path, stage: str, reason: str) -> None:
    """Write a failure marker FITS file at ``path`` (see module docstring)."""
    hdr = fits.Header()
    hdr["ROMSTAT"] = "FAILED"
    hdr["ROMSTAGE"] = stage
    hdr["ROMREASN"] = reason
    write_fits(path, [fits.PrimaryHDU(header=hdr)])


def read_failure(path) -> DataError | None:
    """Return the :class:`DataError` recorded in a failure marker, or None for a good file."""
    with fits.open(path) as hdul:
        hdr = hdul[0].header
        if hdr.get("ROMSTAT") == "FAILED":
            return DataError(hdr.get("ROMSTAGE", "unknown"), hdr.get("ROMREASN", ""))
    return None


def first_failure(paths) -> DataError | None:
    """The first failure marker among ``paths`` (None if all are good files)."""
    for p in paths:
        err = read_failure(p)
        if err is not None:
            return err
    return None


# --------------------------------------------------------------------------- OU2024 images
@dataclass
class Image:
    """An image in memory.

    Attributes
    ----------
    data : ndarray
        Counts per exposure, ``[y, x]``.
    err : ndarray or None
        OU2024's ERR HDU (a noisy sky image in OU2024, not a 1-sigma map).
    dq : ndarray or None
        Data-quality flags.
    header : astropy.io.fits.Header
        Header of the SCI HDU (WCS and OU keywords).
    """

    data: np.ndarray
    err: np.ndarray | None
    dq: np.ndarray | None
    header: fits.Header

    @property
    def wcs(self) -> WCS:
        return header_wcs(self.header)

    @property
    def band(self) -> str:
        return str(self.header["FILTER"]).strip()

    @property
    def zeropoint(self) -> float:
        """AB magnitude of one count (galsim bandpass zp + ZPTMAG)."""
        return zeropoint(self.band, float(self.header["ZPTMAG"]))

    @property
    def origin(self) -> tuple[int, int]:
        """0-based SCA pixel (x, y) of this array's [0, 0] pixel (non-zero for cutouts)."""
        return int(self.header.get("ROMX0", 0)), int(self.header.get("ROMY0", 0))


def header_wcs(header: fits.Header) -> WCS:
    """astropy WCS of a 2-D image header, with FITS-fix warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header, naxis=2)


def sky_to_pixel(wcs: WCS, ra, dec):
    """0-based pixel ``(x, y)`` of RA/Dec [deg], taken in the WCS's own celestial frame.

    The one sky->pixel conversion of the pipeline.  No frame transformation: OU2024's headers
    (galsim's) say ``EQUINOX = 2000`` without ``RADESYS``, which astropy reads as FK5, and a
    ``SkyCoord`` (ICRS) would be rotated by ~7 mas = 0.06 px -- 1-3 % of an undersampled
    R062 PSF-fit flux (docs/validation.md, fix 1).  The simulator, OU2024 and phrosty use
    the numbers directly in the header's frame, as this does.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the image.
    ra, dec : float or array_like
        Sky position(s) [deg].

    Returns
    -------
    (x, y)
        Python floats for scalar input, float arrays otherwise.
    """
    x, y = wcs.world_to_pixel_values(ra, dec)
    if np.ndim(x) == 0:
        return float(x), float(y)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def _open_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError("fetch", f"{path}: corrupt or truncated gzip file ({exc}); re-download it") from None
    return raw


def read_sci_header(path) -> fits.Header:
    """The header of an OU2024 image's SCI HDU (or of its first 2-D HDU), read cheaply.

    Only the headers are decompressed (a few kB whatever the image size), so the workflow
    can check object positions against every input image when it builds its plan.  No
    validation beyond that (:func:`load_ou_image` does it when the image is fetched).

    Raises
    ------
    OSError, ValueError, EOFError
        Missing, unreadable or truncated file, or no image HDU among the first four.
    """
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        for _ in range(4):
            hdr = fits.Header.fromfile(f, padding=True)
            naxis = int(hdr.get("NAXIS", 0))
            if str(hdr.get("EXTNAME", "")).strip() == "SCI" or (naxis == 2 and "CTYPE1" in hdr):
                return hdr
            nbytes = abs(int(hdr.get("BITPIX", 8))) // 8 if naxis else 0
            for i in range(naxis):
                nbytes *= int(hdr[f"NAXIS{i + 1}"])
            nbytes = (nbytes + int(hdr.get("PCOUNT", 0)) + 2879) // 2880 * 2880
            f.seek(nbytes, 1)
    raise ValueError(f"{path}: no SCI image HDU")


def load_ou_image(path, expected_band: str | None = None) -> Image:
    """Read and validate an OU2024 ``simple_model`` image (``.fits`` or ``.fits.gz``).

    Checks: readable (not truncated), HDUs ``SCI``/``ERR``/``DQ`` (or SCI at HDU 1),
    a 2-D float SCI array, the header keys ``FILTER SCA_NUM MJD-OBS EXPTIME ZPTMAG``,
    a celestial TAN or TAN-SIP WCS, the band, and usable data (not all NaN or zero).

    Raises
    ------
    DataError
        With stage ``"fetch"`` and a message naming the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("fetch", f"{path}: image file not found; check sims_dir and the CSV path")
    import io as _io

    try:
        hdul = fits.open(_io.BytesIO(_open_bytes(path)), memmap=False)
        hdul.verify("silentfix")
        names = [h.name for h in hdul]
        if "SCI" in names:
            sci = hdul["SCI"]
        elif len(hdul) > 1 and hdul[1].data is not None:
            sci = hdul[1]
        else:
            raise DataError(
                "fetch", f"{path}: wrong HDU layout {names}; expected PRIMARY, SCI, ERR, DQ (OU2024)"
            )
        data = sci.data
        if data is None or data.ndim != 2:
            raise DataError("fetch", f"{path}: SCI HDU holds no 2-D image")
        data = np.asarray(data, dtype=np.float32)
        err = np.asarray(hdul["ERR"].data, dtype=np.float32) if "ERR" in names else None
        dq = np.asarray(hdul["DQ"].data, dtype=np.uint32) if "DQ" in names else None
        header = sci.header.copy()
    except DataError:
        raise
    except Exception as exc:  # astropy raises many types for corrupt files
        raise DataError("fetch", f"{path}: unreadable FITS ({type(exc).__name__}: {exc}); re-download it") from None
    missing = [k for k in REQUIRED_KEYS if k not in header]
    if missing:
        raise DataError("fetch", f"{path}: header lacks {', '.join(missing)}; not an OU2024 image?")
    band = str(header["FILTER"]).strip()
    if band not in BANDS:
        raise DataError("fetch", f"{path}: FILTER '{band}' is not a Roman band")
    if expected_band is not None and band != expected_band:
        raise DataError(
            "fetch", f"{path}: the image's FILTER is {band} but the image list says {expected_band}; fix the CSV"
        )
    ctype = (str(header.get("CTYPE1", "")), str(header.get("CTYPE2", "")))
    if not ctype[0]:
        raise DataError("fetch", f"{path}: no WCS in the SCI header (CTYPE1 missing)")
    if ctype not in SUPPORTED_CTYPES:
        raise DataError(
            "fetch", f"{path}: unsupported projection {ctype}; romandia needs RA---TAN(-SIP)/DEC--TAN(-SIP)"
        )
    try:
        w = header_wcs(header)
        if not w.has_celestial:
            raise ValueError("no celestial axes")
    except Exception as exc:
        raise DataError("fetch", f"{path}: invalid WCS ({exc})") from None
    finite = np.isfinite(data)
    if not finite.any():
        raise DataError("fetch", f"{path}: SCI is all NaN")
    if not np.any(data[finite]):
        raise DataError("fetch", f"{path}: SCI is all zero")
    return Image(data=data, err=err, dq=dq, header=header)


def load_image(path, expected_band: str | None = None, *, asdf=None) -> Image:
    """An input image in counts per exposure: OU2024 FITS (:func:`load_ou_image`) or, for a
    ``.asdf`` file, Roman L2 ASDF (:func:`romandia.l2asdf.load_l2_image`, with config
    ``asdf`` = ``{gain, max_wcs_error_px}``)."""
    from . import l2asdf

    if l2asdf.is_asdf(path):
        return l2asdf.load_l2_image(path, expected_band, **dict(asdf or {}))
    return load_ou_image(path, expected_band=expected_band)


def cutout_bounds(shape, centres_xy, size: int | None):
    """Pixel bounds of a cutout covering ``size`` px around every centre.

    Parameters
    ----------
    shape : tuple
        ``(ny, nx)`` of the full image.
    centres_xy : list of (x, y)
        0-based pixel positions of the objects in this image.
    size : int or None
        Side of the box around each object; None = full frame.

    Returns
    -------
    (x0, x1, y0, y1)
        0-based, end-exclusive, clipped to the image.
    """
    ny, nx = shape
    if size is None or not centres_xy:
        return 0, nx, 0, ny
    half = size // 2
    xs = [c[0] for c in centres_xy]
    ys = [c[1] for c in centres_xy]
    x0 = max(0, int(np.floor(min(xs))) - half)
    x1 = min(nx, int(np.floor(max(xs))) + size - half)
    y0 = max(0, int(np.floor(min(ys))) - half)
    y1 = min(ny, int(np.floor(max(ys))) + size - half)
    return x0, x1, y0, y1


def crop_image(img: Image, bounds) -> Image:
    """Crop an :class:`Image` keeping a correct WCS (CRPIX shifted) and the SCA origin.

    ``ROMX0``/``ROMY0`` record the 0-based SCA pixel of the cutout's first pixel, so that
    SCA positions (for field-dependent PSFs) can be recovered.
    """
    x0, x1, y0, y1 = bounds
    ny, nx = img.data.shape
    if (x0, x1, y0, y1) == (0, nx, 0, ny):
        return img
    if x1 <= x0 or y1 <= y0:
        raise DataError("fetch", "cutout does not overlap the image")
    hdr = img.header.copy()
    hdr["CRPIX1"] = hdr["CRPIX1"] - x0
    hdr["CRPIX2"] = hdr["CRPIX2"] - y0
    ox, oy = img.origin
    hdr["ROMX0"] = (ox + x0, "0-based SCA x of pixel [0, 0]")
    hdr["ROMY0"] = (oy + y0, "0-based SCA y of pixel [0, 0]")
    sl = (slice(y0, y1), slice(x0, x1))
    return Image(
        data=img.data[sl].copy(),
        err=None if img.err is None else img.err[sl].copy(),
        dq=None if img.dq is None else img.dq[sl].copy(),
        header=hdr,
    )


def read_hdus(path, names) -> dict:
    """Read named HDUs of a FITS file into ``{name: (data, header)}``."""
    out = {}
    with fits.open(path, memmap=False) as hdul:
        for n in names:
            out[n] = (None if hdul[n].data is None else np.asarray(hdul[n].data), hdul[n].header.copy())
    return out


def image_hdu(data, header=None, name=None, dtype=np.float32):
    """An ImageHDU with the WCS/header of ``header`` (structural keys dropped)."""
    hdr = fits.Header() if header is None else header.copy()
    for k in ("NAXIS", "NAXIS1", "NAXIS2", "BITPIX", "XTENSION", "PCOUNT", "GCOUNT", "EXTNAME"):
        hdr.remove(k, ignore_missing=True, remove_all=True)
    arr = np.asarray(data)
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return fits.ImageHDU(arr, header=hdr, name=name)
