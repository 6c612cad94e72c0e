"""Roman Level-2 ASDF images (``roman_datamodels`` ``ImageModel``) as input images.

An image list may name ``.asdf`` files: romancal's calibrated rate images (``*_cal.asdf``)
or the simulator's (``romandia simulate --format asdf``).  :func:`load_l2_image` turns one
into the same :class:`romandia.io.Image` an OU2024 FITS file gives, so every later step
sees one meaning of flux and zeropoint:

* **Pixels** become counts per exposure [e-]: ``data [MJy/sr] / C × g × t`` when
  ``meta.cal_step.flux == "COMPLETE"`` (romancal's flux step ran), else
  ``data [DN/s] × g × t``; ``err`` the same (it is a 1σ map in L2, unlike OU2024's ERR).
  ``C`` = ``meta.photometry.conversion_megajanskys`` [MJy/sr per DN/s], ``t`` =
  ``meta.exposure.exposure_time`` [s], ``g`` the gain [e-/DN].
* **Zeropoint**: one count is ``C Ω 10⁶ / (g t)`` Jy (``Ω`` =
  ``meta.photometry.pixel_area`` [sr]), so ``Z = 2.5 log10(3631 g t / (C Ω 10⁶))`` AB and
  ``ZPTMAG = Z − galsim's bandpass zeropoint`` (:func:`romandia.constants.zeropoint`).
* **WCS**: the gwcs (``meta.wcs``) is fitted with TAN-SIP by gwcs's own ``to_fits_sip``
  (the resampler, galsim and sep read FITS WCS); the largest distance between the fit and
  the gwcs over a 64 × 64 grid is measured, written as ``WCSFITER`` [px] and must stay
  below ``asdf.max_wcs_error_px`` (default 0.01 px: a 0.06 px error moved R062 fluxes by
  1-3 %, docs/validation.md fix 1; the flux error grows as its square).
* **Gain** (offline: no CRDS): L2 files do not carry it; the gain reference file would.
  romandia uses one number, config ``asdf.gain`` (default 2.0 e-/DN, romanisim's value
  without reference files).  Fluxes and zeropoints do not depend on it (it cancels); only
  the Poisson term of the variance model does.
* Band from ``meta.instrument.optical_element`` (F158 -> H158), SCA from
  ``meta.instrument.detector`` (WFI07 -> 7), MJD from ``meta.exposure.start_time`` (the
  exposure start, as OU2024's ``MJD-OBS``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from .constants import GALSIM_ZEROPOINT, OPTICAL_ELEMENT
from .errors import DataError

#: romanisim's gain when no reference file is used (``romanisim.parameters``) [e-/DN]
DEFAULT_GAIN = 2.0
#: default bound on the TAN-SIP fit's distance from the gwcs [px]
DEFAULT_MAX_WCS_ERROR_PX = 0.01
#: 2.5 log10(3631 Jy): the AB magnitude of 1 Jy is -2.5 log10(1 / 3631)
_AB_1JY = 2.5 * math.log10(3631.0)
_BAND_OF_ELEMENT = {v: k for k, v in OPTICAL_ELEMENT.items()}
_FIX = "a Roman L2 calibrated image (romancal's *_cal.asdf) is needed"


def is_asdf(path) -> bool:
    """True for a path or URL ending in ``.asdf``."""
    return str(path).lower().endswith(".asdf")


@dataclass
class SipFit:
    """A TAN-SIP FITS header fitted to a gwcs.

    Attributes
    ----------
    header : astropy.io.fits.Header
        ``CTYPE``, ``CRPIX``, ``CD``, ``CRVAL`` and the SIP coefficients (1-based FITS pixels).
    max_error_px : float
        Largest distance between the header's and the gwcs's sky positions over a 64 × 64
        grid covering the image [px, in units of the local pixel scale].
    """

    header: fits.Header
    max_error_px: float


def fit_tan_sip(gw, shape, *, max_error_px: float = DEFAULT_MAX_WCS_ERROR_PX) -> SipFit:
    """Fit TAN-SIP to a gwcs over an image of ``shape`` and measure the fit's error.

    Parameters
    ----------
    gw : gwcs.WCS
        Forward transform: 0-based pixel ``(x, y)`` -> RA, Dec [deg].
    shape : (ny, nx)
        The image's shape [px].
    max_error_px : float
        Target of gwcs's fit (it raises the SIP degree up to 9 until it gets there).
    """
    from astropy.wcs import WCS

    ny, nx = (int(s) for s in shape)
    box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # conditioning warnings of the polynomial fits
        hdr = gw.to_fits_sip(bounding_box=box, max_pix_error=max_error_px / 2,
                             max_inv_pix_error=max_error_px / 2)
    gx, gy = np.meshgrid(np.linspace(0, nx - 1, 64), np.linspace(0, ny - 1, 64))
    ra0, dec0 = gw(gx.ravel(), gy.ravel(), with_bounding_box=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aw = WCS(hdr)
    ra1, dec1 = aw.all_pix2world(gx.ravel(), gy.ravel(), 0)
    dist = np.hypot((ra1 - ra0) * np.cos(np.radians(dec0)), dec1 - dec0)
    scale = math.sqrt(abs(np.linalg.det(aw.pixel_scale_matrix)))  # deg/px
    return SipFit(header=hdr, max_error_px=float(np.nanmax(dist) / scale))


def _get(meta, dotted: str, path):
    node = meta
    for part in dotted.split("."):
        try:
            node = node[part]
        except (KeyError, AttributeError, TypeError):
            node = None
        if node is None:
            raise DataError("fetch", f"{path}: meta.{dotted} is missing; {_FIX}") from None
    return node


def _open_model(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(5)
    if magic != b"#ASDF":
        raise DataError("fetch", f"{path}: not an ASDF file (it starts with {magic!r}); "
                        "list .asdf files in Roman L2 format, or FITS images as .fits/.fits.gz")
    import roman_datamodels.datamodels as rdd

    try:
        model = rdd.open(str(path))
    except Exception as exc:  # noqa: BLE001 - asdf/roman_datamodels raise many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError("fetch", f"{path}: unreadable as a Roman datamodel ({type(exc).__name__}: "
                        f"{first[:200]}); {_FIX}") from None
    if not isinstance(model, rdd.ImageModel):
        name = type(model).__name__
        model.close()
        raise DataError("fetch", f"{path}: a {name}, not an ImageModel (Level 2 calibrated WFI "
                        f"image); {_FIX}")
    return model


def load_l2_image(path, expected_band: str | None = None, *, gain: float = DEFAULT_GAIN,
                  max_wcs_error_px: float = DEFAULT_MAX_WCS_ERROR_PX):
    """Read and validate a Roman L2 ASDF image, in counts per exposure.

    Parameters
    ----------
    path : path
        The ``.asdf`` file.
    expected_band : str, optional
        The band the image list gives it.
    gain : float
        [e-/DN] (module docstring).
    max_wcs_error_px : float
        Largest accepted distance of the TAN-SIP fit from the gwcs [px].

    Returns
    -------
    romandia.io.Image
        ``data``/``err`` [counts per exposure] float32, ``dq`` uint32, and a FITS header with
        the fitted TAN-SIP WCS, ``FILTER``, ``SCA_NUM``, ``MJD-OBS``, ``EXPTIME``, ``ZPTMAG``,
        ``ROMX0``/``ROMY0`` and :mod:`romandia.products`' ``ROMFMT``, ``ROMBUNIT``,
        ``ROMGAIN``, ``WCSFITER``.

    Raises
    ------
    DataError
        Stage ``fetch``, naming the file and what is wrong (not ASDF, not an ImageModel, no
        WCS, a missing or invalid ``meta`` key, a TAN-SIP fit worse than the bound, ...).
    """
    from . import io, products

    path = Path(path)
    if not path.is_file():
        raise DataError("fetch", f"{path}: image file not found; check sims_dir and the CSV path")
    model = _open_model(path)
    try:
        meta = model.meta
        gw = meta.get("wcs") if hasattr(meta, "get") else getattr(meta, "wcs", None)
        if gw is None:
            raise DataError("fetch", f"{path}: meta.wcs is missing (romancal's assign_wcs step has not "
                            f"run); {_FIX}")
        element = str(_get(meta, "instrument.optical_element", path)).strip().upper()
        band = _BAND_OF_ELEMENT.get(element)
        if band is None:
            raise DataError("fetch", f"{path}: meta.instrument.optical_element '{element}' is not an "
                            f"imaging band romandia knows ({', '.join(sorted(_BAND_OF_ELEMENT))})")
        if expected_band is not None and band != expected_band:
            raise DataError("fetch", f"{path}: the image's band is {band} ({element}) but the image list "
                            f"says {expected_band}; fix the CSV")
        detector = str(_get(meta, "instrument.detector", path)).strip().upper()
        if not (detector.startswith("WFI") and detector[3:].isdigit() and 1 <= int(detector[3:]) <= 18):
            raise DataError("fetch", f"{path}: meta.instrument.detector '{detector}' is not WFI01-WFI18")
        sca = int(detector[3:])
        mjd = float(_get(meta, "exposure.start_time", path).mjd)
        exptime = float(_get(meta, "exposure.exposure_time", path))
        conv = float(_get(meta, "photometry.conversion_megajanskys", path))
        area = float(_get(meta, "photometry.pixel_area", path))
        for key, value in (("exposure.exposure_time", exptime),
                           ("photometry.conversion_megajanskys", conv), ("photometry.pixel_area", area)):
            if not (math.isfinite(value) and value > 0):
                raise DataError("fetch", f"{path}: meta.{key} = {value} (needs a positive number; romancal's "
                                "photom step fills meta.photometry)")
        flux_step = str(_get(meta, "cal_step.flux", path)).strip().upper()
        in_mjysr = flux_step == "COMPLETE"
        data = np.asarray(model.data, dtype=np.float64)
        if data.ndim != 2:
            raise DataError("fetch", f"{path}: data is {data.ndim}-D, not an image")
        err = np.asarray(model.err, dtype=np.float64) if model.get("err") is not None else None
        dq = np.asarray(model.dq, dtype=np.uint32) if model.get("dq") is not None else None
        origin = meta.get("romandia", {}).get("sca_origin", [0, 0]) if hasattr(meta, "get") else [0, 0]
    finally:
        model.close()
    to_counts = gain * exptime / (conv if in_mjysr else 1.0)
    data = (data * to_counts).astype(np.float32)
    err = None if err is None else (err * to_counts).astype(np.float32)

    fit = fit_tan_sip(gw, data.shape, max_error_px=max_wcs_error_px)
    if not fit.max_error_px <= max_wcs_error_px:
        raise DataError("fetch", f"{path}: TAN-SIP fits meta.wcs only to {fit.max_error_px:.3g} px "
                        f"(bound asdf.max_wcs_error_px = {max_wcs_error_px} px); raise the bound if that is "
                        "acceptable for this image")
    hdr = fits.Header()
    for card in fit.header.cards:
        if card.keyword not in ("NAXIS", "NAXIS1", "NAXIS2", "WCSAXES", "") and not card.keyword.startswith("NAXIS"):
            hdr.append(card)
    zp = _AB_1JY - 2.5 * math.log10(conv * area * 1e6 / (gain * exptime))
    hdr["FILTER"] = (band, "Roman bandpass")
    hdr["SCA_NUM"] = (sca, "SCA (meta.instrument.detector)")
    hdr["MJD-OBS"] = (mjd, "MJD at the start of the exposure")
    hdr["EXPTIME"] = (exptime, "[s] meta.exposure.exposure_time")
    hdr["ZPTMAG"] = (zp - GALSIM_ZEROPOINT[band], "AB zp of 1 count - galsim bandpass zp")
    hdr[products.KEY_X0] = (int(origin[0]), "0-based SCA x of pixel [0, 0]")
    hdr[products.KEY_Y0] = (int(origin[1]), "0-based SCA y of pixel [0, 0]")
    hdr[products.KEY_FORMAT] = ("ASDF", "input image format")
    hdr[products.KEY_BUNIT] = ("MJy/sr" if in_mjysr else "DN/s", "unit in the file (now counts)")
    hdr[products.KEY_GAIN] = (float(gain), "[e-/DN] assumed (config asdf.gain)")
    hdr[products.KEY_WCSFIT] = (fit.max_error_px, "[px] TAN-SIP fit vs the file's gwcs")
    finite = np.isfinite(data)
    if not finite.any() or not np.any(data[finite]):
        raise DataError("fetch", f"{path}: data is all NaN or zero")
    return io.Image(data=data, err=err, dq=dq, header=hdr)


def footprint(path):
    """``(to_pixel, nx, ny)`` of an L2 ASDF image, arrays not read (for the plan's checks).

    ``to_pixel(ra, dec)`` gives the 0-based pixel through the gwcs's inverse.
    """
    import roman_datamodels.datamodels as rdd

    model = rdd.open(str(path))
    try:
        gw = model.meta.wcs
        ny, nx = model.data.shape
    finally:
        model.close()

    def to_pixel(ra, dec):
        x, y = gw.invert(ra, dec, with_bounding_box=False)
        return float(x), float(y)

    return to_pixel, int(nx), int(ny)
