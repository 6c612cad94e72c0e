"""Postage stamps around an object, with a correct WCS."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from .errors import DataError
from .io import header_wcs, sky_to_pixel


def cutout(data: np.ndarray, header: fits.Header, ra: float, dec: float, size: int):
    """A ``size`` x ``size`` stamp around a sky position.

    Parameters
    ----------
    data : ndarray
        Image ``[y, x]``.
    header : astropy.io.fits.Header
        Its header with the WCS; other keywords are kept.
    ra, dec : float
        Object position [deg], in the header's own frame (:func:`romandia.io.sky_to_pixel`).
    size : int
        Stamp side [px].  The pixel containing the object becomes stamp pixel
        ``(size // 2, size // 2)``; the stamp WCS gives the exact sub-pixel position.

    Returns
    -------
    (ndarray, Header)
        The stamp (float32, NaN outside the image) and its header: WCS with CRPIX shifted
        and ``ROMX0``/``ROMY0`` (0-based SCA pixel of the stamp's first pixel) updated.

    Raises
    ------
    DataError
        If the object is outside the image.
    """
    ny, nx = data.shape
    x, y = sky_to_pixel(header_wcs(header), ra, dec)
    if not (-0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5):
        raise DataError("stamps", f"object at ({ra:.6f}, {dec:.6f}) is outside the image")
    x0 = int(np.floor(x + 0.5)) - size // 2
    y0 = int(np.floor(y + 0.5)) - size // 2
    out = np.full((size, size), np.nan, dtype=np.float32)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + size, nx), min(y0 + size, ny)
    out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = data[sy0:sy1, sx0:sx1]
    hdr = header.copy()
    hdr["CRPIX1"] = header["CRPIX1"] - x0
    hdr["CRPIX2"] = header["CRPIX2"] - y0
    hdr["ROMX0"] = int(header.get("ROMX0", 0)) + x0
    hdr["ROMY0"] = int(header.get("ROMY0", 0)) + y0
    return out, hdr
