"""The fit box and the PSF stamp sampled on it: helpers shared by the photometry estimators.

* :func:`noise_equivalent_area` is ``1 / sum(p_i^2)`` of the PSF sampled at the object.
* :func:`shift_psf` moves a stamp by a sub-pixel offset with an order-3 spline
  (:mod:`scipy.ndimage`), for :func:`romandia.photometry.linear_psf_flux`.
* The private helpers place the ``fit_shape`` box on the image (``_fit_box``,
  ``_nearest_pixel``), build the photutils ``ImagePSF`` model (``_model``) and sample it on
  the box (``_psf_on_box``); :mod:`~romandia.photometry.forced`,
  :mod:`~romandia.photometry.estimator` and :mod:`~romandia.photometry.linear` use them so
  that all three put the same PSF on the same pixels.

Conventions (``docs/architecture.md``)
--------------------------------------
* Images are ``[y, x]``; pixel coordinates are 0-based with (0, 0) the centre of the first
  pixel.  Pixel ``i`` spans ``(i - 0.5, i + 0.5]`` (half-integers go down, as in photutils).
* PSF stamps are odd-sized squares (at least 5x5) centred on the central pixel, drawn for
  unit *total* flux: the stamp sum is the enclosed fraction (<= 1) and is **never
  renormalised** here.
* By default a stamp is the PSF of a source at the centre of the central pixel and is moved to
  the object's sub-pixel position by cubic-spline interpolation (what phrosty does).  With
  ``psf_at_position=True`` the stamp is taken to be drawn *at the object's sub-pixel phase*
  (its centre offset from the central pixel by ``(x - round(x), y - round(y))``) and is used
  without interpolation, which is exact also for undersampled PSFs.
* Wrong shapes, even-sized or too small stamps and bad ``fit_shape`` raise ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["noise_equivalent_area", "shift_psf"]


def _to_numpy(a) -> np.ndarray:
    """Return ``a`` as a float64 numpy array (CuPy arrays are copied to the host)."""
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        a = a.get()
    return np.asarray(a, dtype=np.float64)


def _check_psf(psf: np.ndarray) -> None:
    if psf.ndim != 2 or psf.shape[0] != psf.shape[1] or psf.shape[0] % 2 != 1:
        raise ValueError(f"PSF stamp must be an odd-sized square 2-D array, got shape {psf.shape}")
    if psf.shape[0] < 5:
        raise ValueError(f"PSF stamp must be at least 5x5 pixels, got {psf.shape}")


def _check_fit_shape(fit_shape: int) -> int:
    if int(fit_shape) != fit_shape or fit_shape < 3 or fit_shape % 2 != 1:
        raise ValueError(f"fit_shape must be an odd integer >= 3, got {fit_shape!r}")
    return int(fit_shape)


def _nearest_pixel(v: float) -> int:
    """Index of the pixel containing 0-based coordinate ``v``.

    Pixel ``i`` spans ``(i - 0.5, i + 0.5]``: half-integers go down, as in photutils'
    ``PSFPhotometry`` fit-box placement (``astropy.nddata.overlap_slices`` with ``np.ceil``).
    """
    return int(math.ceil(v - 0.5))


def _fit_box(shape: tuple[int, int], x: float, y: float, fit_shape: int):
    """Slices of the ``fit_shape`` box centred on the pixel containing (x, y), or a reason."""
    half = fit_shape // 2
    ix, iy = _nearest_pixel(x), _nearest_pixel(y)
    ny, nx = shape
    if not (-0.5 < x <= nx - 0.5 and -0.5 < y <= ny - 0.5):
        return None, f"position (x={x:.3f}, y={y:.3f}) is outside the {nx}x{ny} image"
    if ix - half < 0 or iy - half < 0 or ix + half >= nx or iy + half >= ny:
        return None, (
            f"{fit_shape}x{fit_shape} fit box around (x={x:.3f}, y={y:.3f}) is not fully inside "
            f"the {nx}x{ny} image"
        )
    return (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1)), None


def _model(psf: np.ndarray, x: float, y: float, psf_at_position: bool):
    """photutils ``ImagePSF`` (flux=1) placed at (x, y), positions fixed, stamp not renormalised."""
    from photutils.psf import ImagePSF

    c = (psf.shape[0] - 1) / 2.0
    if psf_at_position:
        # the stamp centre sits at (c + dx, c + dy): put that point at (x, y) so that the model
        # evaluated at integer pixels returns the stamp values themselves (spline nodes).
        origin = (c + (x - _nearest_pixel(x)), c + (y - _nearest_pixel(y)))
    else:
        origin = (c, c)
    model = ImagePSF(psf, flux=1.0, x_0=x, y_0=y, origin=origin, fill_value=0.0)
    model.x_0.fixed = True
    model.y_0.fixed = True
    return model


def _psf_on_box(psf: np.ndarray, x: float, y: float, box, psf_at_position: bool) -> np.ndarray:
    """Unit-total-flux PSF sampled on the image pixels of ``box`` (photutils interpolation)."""
    yy, xx = np.mgrid[box[0], box[1]]
    return _model(psf, x, y, psf_at_position)(xx.astype(float), yy.astype(float))


def noise_equivalent_area(
    psf: np.ndarray, x: float = 0.0, y: float = 0.0, *, psf_at_position: bool = False
) -> float:
    """Noise-equivalent area ``1 / sum(p_i^2)`` of a unit-total-flux PSF sampled at (x, y).

    Parameters
    ----------
    psf : 2-D ndarray
        PSF stamp (odd, square, centred, unit total flux, not renormalised).
    x, y : float
        0-based position of the object; only the sub-pixel phase matters.
    psf_at_position : bool
        See :func:`forced_psf_photometry`.

    Returns
    -------
    float
        NEA [pix^2].  For a well-sampled Gaussian of width sigma, NEA ~ 4 pi sigma^2.
    """
    psf = _to_numpy(psf)
    _check_psf(psf)
    n = psf.shape[0]
    half = n // 2 + 1  # one extra pixel: the shifted PSF may spill over
    ix, iy = _nearest_pixel(x), _nearest_pixel(y)
    box = (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1))
    p = _psf_on_box(psf, float(x), float(y), box, psf_at_position)
    s2 = float(np.sum(p * p))
    return 1.0 / s2 if s2 > 0 else math.nan


def shift_psf(psf: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Shift a PSF stamp by (dx, dy) pixels with an order-3 spline (``scipy.ndimage.shift``).

    Parameters
    ----------
    psf : 2-D ndarray
        PSF stamp ``[y, x]``.
    dx, dy : float
        Shift [pix] along x and y; the PSF centre moves from the central pixel to
        ``(c + dx, c + dy)``.

    Returns
    -------
    ndarray
        Shifted stamp, same shape; values beyond the stamp are taken as 0.  Not renormalised.
    """
    from scipy import ndimage

    psf = _to_numpy(psf)
    if dx == 0 and dy == 0:
        return psf.copy()
    return ndimage.shift(psf, (dy, dx), order=3, mode="grid-constant", cval=0.0, prefilter=True)
