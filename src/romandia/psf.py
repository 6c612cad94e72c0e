"""PSF providers: a PSF stamp at a position of an image.

Every provider returns an odd-sized square stamp ``[y, x]`` centred on its central pixel,
in the pixel frame of the image (pixel response included), drawn for unit *total* flux
(the stamp sum is the enclosed fraction; it is not renormalised).

Providers (config ``psf.type``):

``galsim``
    OU2024's effective PSF (:mod:`romandia.simulate.psf`): ``galsim.roman`` Cycle-9 optics for
    the image's band, SCA and SCA position in the image's local WCS (so it rotates with the roll
    angle), chromatic over ``n_waves`` = 5 wavelengths for a point source of SED ``sed``
    (default flat in photons per nm, as phrosty's ``ou24PSF``), convolved with roman_imsim's charge
    diffusion (``charge_diffusion: true``) and the pixel.  Params (config ``psf.params``):
    ``n_waves`` (null: monochromatic), ``sed``, ``charge_diffusion``, ``pupil_bin`` (8),
    ``oversample`` (4: stamps from a cached oversampled image of the PSF at that position;
    null: direct drawing, ~1 s a stamp), ``width_scale`` and ``mirror`` (deliberate model
    errors for validation only).
``gaussian``
    A circular Gaussian of ``sigma`` [px] (or ``fwhm``), integrated over pixels.
``file``
    PSF stamps read from FITS files: ``params.path`` is a pattern with ``{band}`` and
    ``{sca}``; each image HDU is a stamp, optionally with ``PSFX``/``PSFY`` (0-based SCA
    pixel of the stamp's centre; the nearest is used — an ePSF grid) and ``OVERSAMP``
    (odd oversampling factor; the stamp is binned to native pixels).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy.special import erf

from .errors import DataError

PSF_TYPES = ("galsim", "gaussian", "file")


def gaussian_stamp(sigma: float, size: int | None = None, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """Pixel-integrated circular Gaussian of unit total flux.

    Parameters
    ----------
    sigma : float
        Gaussian sigma [px].
    size : int, optional
        Odd stamp side; default ``2 * ceil(5 sigma) + 1`` (at least 11).
    dx, dy : float
        Sub-pixel offset of the centre from the central pixel [px].

    Returns
    -------
    ndarray
        ``[y, x]`` stamp.
    """
    if size is None:
        size = max(11, 2 * int(np.ceil(5 * sigma)) + 1)
    if size % 2 == 0:
        raise ValueError("PSF stamp size must be odd")
    h = size // 2
    edges = np.arange(-h - 0.5, h + 1.0, 1.0)
    s2 = np.sqrt(2.0) * sigma
    px = np.diff(0.5 * erf((edges - dx) / s2))
    py = np.diff(0.5 * erf((edges - dy) / s2))
    return np.outer(py, px)


def _bin_oversampled(stamp: np.ndarray, factor: int) -> np.ndarray:
    """Integrate an odd-oversampled, centred stamp to native pixels (centred output)."""
    n = stamp.shape[0]
    m = n // factor
    if m % 2 == 0:
        m -= 1
    start = (n - m * factor) // 2
    core = stamp[start : start + m * factor, start : start + m * factor]
    return core.reshape(m, factor, m, factor).sum(axis=(1, 3))


@dataclass
class ModelImage:
    """The oversampled image the ``galsim`` provider draws its stamps from at one position.

    Building it is most of a chromatic PSF's cost (~1.4 s: the optics at 5 wavelengths, the
    effective profile, an FFT draw); drawing a stamp from it takes milliseconds.  The ``prepare``
    product keeps the one made at each object, and the photometry job's field-star
    calibration draws the stars of that object's region from it instead of making another.

    Attributes
    ----------
    array : ndarray
        ``[y, x]`` image, ``oversample`` times the native sampling (pixel scale
        0.11 / ``oversample`` arcsec, the sky frame of galsim), flux = the fraction of the PSF
        inside its box.
    x, y : float
        0-based position in the image where the model was evaluated [px].
    oversample : int
        Oversampling factor.
    maxk, stepk : float
        galsim's Fourier extent and step of the interpolated profile [1/arcsec].
    model : str
        What made it (:func:`model_key`); stamps for other provider parameters never use it.
    """

    array: np.ndarray
    x: float
    y: float
    oversample: int
    maxk: float
    stepk: float
    model: str

    @functools.cached_property
    def interpolated(self):
        """The galsim InterpolatedImage (built once, exactly the original profile)."""
        from .simulate.psf import interpolated_from_array

        return interpolated_from_array(self.array, oversample=self.oversample, maxk=self.maxk, stepk=self.stepk)


def _galsim_model(params: dict) -> tuple:
    """``(PSFModel, oversample, key)`` of galsim provider ``params`` (key: :func:`model_key`)."""
    from .simulate.psf import DEFAULT_BOX_ARCSEC, DEFAULT_OVERSAMPLE, PSFModel

    model, oversample = PSFModel.from_params(params), params.get("oversample", DEFAULT_OVERSAMPLE)
    key = None if oversample is None else f"{model!r} oversample={int(oversample)} box={DEFAULT_BOX_ARCSEC}"
    return model, oversample, key


def model_key(kind: str, params: dict) -> str | None:
    """What identifies a :class:`ModelImage` of provider ``kind`` with ``params`` (the PSF
    model, oversampling and box); None for providers without one (``gaussian``, ``file``,
    ``galsim`` with ``oversample: null``)."""
    return _galsim_model(params)[2] if kind == "galsim" else None


def model_image(kind: str, params: dict, header: fits.Header, x: float, y: float) -> ModelImage | None:
    """The :class:`ModelImage` the provider draws stamps from at the 0-based position (x, y)
    of an image (arguments as :func:`psf_stamp`); None where :func:`model_key` is None."""
    if kind != "galsim":
        return None
    model, oversample, key = _galsim_model(params)
    if key is None:
        return None
    from .simulate.psf import interpolated_psf_at

    try:
        ii = interpolated_psf_at(str(header["FILTER"]).strip(), int(header["SCA_NUM"]), x, y, header,
                                 oversample=int(oversample), model=model)
    except Exception as exc:
        raise DataError("psf", f"{kind} PSF failed at ({x:.1f}, {y:.1f}): {exc}") from None
    return ModelImage(array=np.array(ii.image.array, dtype=np.float32), x=float(x), y=float(y),
                      oversample=int(oversample), maxk=float(ii.maxk), stepk=float(ii.stepk), model=key)


def file_stamp(pattern: str, band: str, sca: int, x_sca: float, y_sca: float) -> np.ndarray:
    """PSF stamp from a FITS file or ePSF grid (see module docstring)."""
    path = Path(pattern.format(band=band, sca=sca))
    if not path.is_file():
        raise DataError("psf", f"PSF file '{path}' not found (psf.params.path = '{pattern}')")
    best = None
    with fits.open(path) as hdul:
        for hdu in hdul:
            if hdu.data is None or np.ndim(hdu.data) != 2:
                continue
            h = hdu.header
            d2 = 0.0
            if "PSFX" in h and "PSFY" in h:
                d2 = (float(h["PSFX"]) - x_sca) ** 2 + (float(h["PSFY"]) - y_sca) ** 2
            if best is None or d2 < best[0]:
                best = (d2, np.asarray(hdu.data, dtype=np.float64), int(h.get("OVERSAMP", 1)))
    if best is None:
        raise DataError("psf", f"PSF file '{path}' holds no 2-D stamp")
    _, stamp, over = best
    if stamp.shape[0] != stamp.shape[1] or stamp.shape[0] % 2 == 0:
        raise DataError("psf", f"PSF stamp in '{path}' must be square and odd-sized, got {stamp.shape}")
    if over > 1:
        stamp = _bin_oversampled(stamp, over)
    return stamp


def psf_stamp(
    kind: str,
    params: dict,
    header: fits.Header,
    x: float,
    y: float,
    at_position: bool = False,
    model_xy: tuple[float, float] | None = None,
    model_image: ModelImage | None = None,
) -> np.ndarray:
    """PSF stamp at 0-based position (x, y) of an image.

    Parameters
    ----------
    kind : {"galsim", "gaussian", "file"}
        Provider (config ``psf.type``).
    params : dict
        Provider parameters (config ``psf.params``): ``size`` (odd stamp side, px) for all;
        ``sigma``/``fwhm`` [px] for gaussian; ``path`` for file; the model keys of
        :class:`romandia.simulate.psf.PSFModel` and ``oversample`` for galsim.
    header : astropy.io.fits.Header
        The image header (band, SCA, WCS, cutout origin ``ROMX0``/``ROMY0``).
    x, y : float
        0-based pixel position in the image (cutout) frame.
    at_position : bool
        False: the PSF centred on the stamp's central pixel (a convolution kernel).
        True: the PSF centred at the object's sub-pixel offset ``(x - round(x), y - round(y))``
        from the central pixel, drawn there (not interpolated: shifting an undersampled
        Roman PSF by interpolation biases PSF fluxes by up to ~1 %).
    model_xy : (float, float), optional
        Where the PSF *model* is evaluated (galsim: aberrations and local WCS; file: the
        nearest grid stamp), when it should differ from (x, y) — e.g. one PSF per region of
        an image for many field stars.  The sub-pixel phase still comes from (x, y).
    model_image : ModelImage, optional
        ``galsim``: draw from this model image (made by :func:`model_image` with the same
        ``params``); the model is then the one at its position, ``model_xy`` is ignored.

    Returns
    -------
    ndarray
        Odd stamp ``[y, x]`` of unit total flux.
    """
    band = str(header["FILTER"]).strip()
    sca = int(header["SCA_NUM"])
    if model_image is not None:
        if model_image.model != model_key(kind, params):
            raise ValueError(f"a PSF model image of '{model_image.model}' cannot draw a {kind} PSF "
                             f"with {params}")
        model_xy = (model_image.x, model_image.y)
    mx, my = (x, y) if model_xy is None else (float(model_xy[0]), float(model_xy[1]))
    x_sca = mx + int(header.get("ROMX0", 0))
    y_sca = my + int(header.get("ROMY0", 0))
    size = params.get("size")
    dx = float(x - np.floor(x + 0.5)) if at_position else 0.0
    dy = float(y - np.floor(y + 0.5)) if at_position else 0.0
    try:
        if kind == "gaussian":
            sigma = params.get("sigma")
            if sigma is None:
                sigma = float(params.get("fwhm", 2.0)) / 2.3548200450309493
            stamp = gaussian_stamp(float(sigma), size, dx=dx, dy=dy)
        elif kind == "file":
            stamp = file_stamp(params["path"], band, sca, x_sca, y_sca)
            if at_position:  # only an image is available: interpolate (documented bias)
                from scipy.ndimage import shift

                stamp = shift(stamp, (dy, dx), order=3, mode="constant")
        elif kind == "galsim":
            from .simulate.psf import DEFAULT_OVERSAMPLE, PSFModel, roman_psf_stamp

            stamp = roman_psf_stamp(band, sca, mx, my, header, size=size or 41, offset=(dx, dy),
                                    oversample=params.get("oversample", DEFAULT_OVERSAMPLE),
                                    model=PSFModel.from_params(params),
                                    interpolated=None if model_image is None else model_image.interpolated)
        else:
            raise ValueError(f"unknown PSF type '{kind}'; use one of {PSF_TYPES}")
    except DataError:
        raise
    except (ValueError, KeyError):
        raise
    except Exception as exc:
        raise DataError("psf", f"{kind} PSF failed at ({x:.1f}, {y:.1f}): {exc}") from None
    stamp = np.asarray(stamp, dtype=np.float64)
    if not np.all(np.isfinite(stamp)) or stamp.sum() <= 0:
        raise DataError("psf", f"{kind} PSF at ({x:.1f}, {y:.1f}) is not finite or not positive")
    return stamp
