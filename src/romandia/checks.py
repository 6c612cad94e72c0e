"""Data checks of the rule scripts whose failures become lightcurve rows (DataError).

Kept here, not in the scripts, so that ``bench/robustness_table.py`` shows the messages the
workflow gives: object outside an image (``psf``), template without overlap (``align``),
saturated object (``photometry``).
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from .constants import SATURATION_LEVEL
from .errors import DataError
from .io import header_wcs, sky_to_pixel


def object_pixel(wcs, shape, ra: float, dec: float, oid, image: str, stage: str = "psf") -> tuple[float, float]:
    """0-based pixel of an object in an image; DataError when it is outside.

    RA/Dec are taken in the header's own frame (``world_to_pixel_values``, no ICRS->FK5
    rotation; docs/validation.md, fix 1).

    Raises
    ------
    DataError
        ``object {oid} at (ra, dec) is outside image {image} (pixel x, y of NXxNY)``.
    """
    x, y = sky_to_pixel(wcs, ra, dec)
    ny, nx = shape
    if not (-0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5):
        raise DataError(
            stage, f"object {oid} at ({ra:.6f}, {dec:.6f}) is outside image {image} (pixel {x:.1f}, {y:.1f} of {nx}x{ny})"
        )
    return x, y


def template_pixel_map(w_sci, shape_sci, w_tmpl, shape_tmpl, sci: str, tmpl: str):
    """:func:`romandia.resample.pixel_map` of a template onto a science grid, with the images
    named when they do not overlap.

    Raises
    ------
    DataError
        ``align``: ``template and science images do not overlap (template ..., science ...)``.
    """
    from .resample import pixel_map

    try:
        return pixel_map(w_sci, shape_sci, w_tmpl, shape_source=shape_tmpl)
    except DataError as exc:
        raise DataError(
            "align",
            f"{exc.reason} (template {tmpl}, science {sci}); the template list should hold images that cover the object",
        ) from None


def saturated_pixels(stamp: np.ndarray, header: fits.Header, ra: float, dec: float, radius: float,
                     level: float = SATURATION_LEVEL) -> int:
    """Number of pixels at or above ``level`` within ``radius`` px of a sky position.

    Parameters
    ----------
    stamp : ndarray
        Stamp ``[y, x]`` (NaN pixels are ignored).
    header : astropy.io.fits.Header
        Its header with the WCS.
    ra, dec : float
        Object position [deg], in the header's own frame (as the photometry uses it).
    radius : float
        Radius [px] around the object's position (pixel centres within it count).
    level : float
        Saturation level [counts].
    """
    x, y = sky_to_pixel(header_wcs(header), ra, dec)
    yy, xx = np.indices(np.shape(stamp))
    near = (xx - x) ** 2 + (yy - y) ** 2 <= radius**2
    with np.errstate(invalid="ignore"):
        return int(np.count_nonzero(near & (np.asarray(stamp) >= level)))


def check_not_saturated(stamps: dict, ra: float, dec: float, radius: float, level: float = SATURATION_LEVEL) -> None:
    """Flag an object whose science or template stamp is saturated near it.

    A clipped (saturated) object has no usable flux: its row is failed rather than
    measured.

    Parameters
    ----------
    stamps : dict
        ``{"SCI": (data, header), "TEMPLATE": (data, header)}`` (either may be missing):
        the sky-subtracted science and the aligned template stamps (romandia.steps.photometry.cut_stamps).
    ra, dec, radius, level
        As in :func:`saturated_pixels`.

    Raises
    ------
    DataError
        ``photometry``: ``object saturated in the science image: N pixel(s) >= LEVEL counts
        within R px``.
    """
    for name, which in (("SCI", "science"), ("TEMPLATE", "template")):
        if name not in stamps:
            continue
        data, hdr = stamps[name]
        n = saturated_pixels(data, hdr, ra, dec, radius, level)
        if n:
            raise DataError(
                "photometry",
                f"object saturated in the {which} image: {n} pixel(s) >= {level:.0f} counts within {radius:.1f} px",
            )


def check_dq_at_object(dq: np.ndarray | None, header, ra: float, dec: float, fit_shape: int, bits: int) -> None:
    """Fail a row whose PSF-fit box holds science pixels masked by their DQ flags.

    Masked pixels are NaN in the difference, so the fit would stop on them anyway; this
    check comes first so that the row says which flags (:mod:`romandia.dq`).

    Parameters
    ----------
    dq : ndarray or None
        The science image's DQ (``[y, x]``, the staged frame); None: nothing to check.
    header : astropy.io.fits.Header
        Its WCS.
    ra, dec : float
        Object position [deg].
    fit_shape : int
        Side of the PSF-fit box [px] (config ``photometry.fit_shape``), centred on the pixel
        holding the object.
    bits : int
        The masking bits (:func:`romandia.dq.mask_bits`).

    Raises
    ------
    DataError
        ``photometry``: ``N science pixel(s) flagged in DQ within the FxF fit box: HOT (1), ...``.
    """
    from . import dq as dqflags

    if dq is None:
        return
    x, y = sky_to_pixel(header_wcs(header), ra, dec)
    h = int(fit_shape) // 2
    xc, yc = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    box = np.asarray(dq)[max(0, yc - h):yc + h + 1, max(0, xc - h):xc + h + 1]
    bad = dqflags.masked(box, bits)
    if bad.any():
        raise DataError(
            "photometry",
            f"{int(bad.sum())} science pixel(s) flagged in DQ within the {fit_shape}x{fit_shape} fit box: "
            f"{dqflags.describe(box[bad], bits)} (config dq.ignore lists the flags that do not mask)",
        )
