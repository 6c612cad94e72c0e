"""Closed-form weighted-least-squares PSF amplitude: a cross-check of the photutils fit.

:func:`linear_psf_flux` is an independent closed-form weighted-least-squares amplitude fit
(no photutils; the stamp is shifted with a cubic spline from :mod:`scipy.ndimage`, see
:func:`romandia.photometry.shift_psf`), used as a cross-check of
:func:`romandia.photometry.forced_psf_photometry`.

Conventions
-----------
* Images are ``[y, x]``; pixel coordinates are 0-based with (0, 0) the centre of the first
  pixel.  Fluxes are counts per exposure, ``variance`` in counts^2, a fitted background in
  counts/pix.
* PSF stamps are odd-sized squares centred on the central pixel, drawn for unit total flux
  and never renormalised.
* Same failure policy as :mod:`romandia.photometry.forced`: data problems give
  ``success=False`` and a ``message``; programming errors raise ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np

from .fitbox import _check_fit_shape, _check_psf, _fit_box, _nearest_pixel, _to_numpy, shift_psf

__all__ = ["linear_psf_flux"]


def linear_psf_flux(
    image,
    variance,
    psf,
    x: float,
    y: float,
    fit_shape: int = 5,
    fit_background: bool = False,
    *,
    psf_at_position: bool = False,
) -> dict:
    """Closed-form weighted-least-squares PSF amplitude at a fixed position (no photutils).

    Solves ``d_i = F p_i (+ b)`` over the ``fit_shape`` box with weights ``1/variance``:
    ``F = sum(p d / v) / sum(p^2 / v)`` and ``sigma_F^2 = 1 / sum(p^2 / v)`` (or the 2x2
    normal equations when ``fit_background``).  The stamp is moved to the object's sub-pixel
    position with :func:`shift_psf` (order-3 spline, independent of photutils' interpolator).

    Parameters
    ----------
    image, variance : 2-D ndarray
        Image [counts] and its variance [counts^2], ``[y, x]``.
    psf : 2-D ndarray
        PSF stamp (odd, square, centred, unit total flux, not renormalised).
    x, y : float
        0-based object position in ``image``.
    fit_shape : int
        Odd side [pix] of the fit box, centred on the pixel containing (x, y).
    fit_background : bool
        Also fit a constant background [counts/pix].
    psf_at_position : bool
        ``psf`` is already drawn at the object's sub-pixel phase: no shift.

    Returns
    -------
    dict
        ``flux``, ``flux_err`` [counts], ``background``, ``background_err`` [counts/pix]
        (0 and NaN without ``fit_background``), ``chi2_red``, ``npix``, ``success``,
        ``message`` (same failure policy as :func:`forced_psf_photometry`).
    """
    image = _to_numpy(image)
    variance = _to_numpy(variance)
    psf = _to_numpy(psf)
    if image.ndim != 2 or image.shape != variance.shape:
        raise ValueError("image and variance must be 2-D arrays of the same shape")
    _check_psf(psf)
    fit_shape = _check_fit_shape(fit_shape)
    nan = math.nan
    out = {
        "flux": nan,
        "flux_err": nan,
        "background": 0.0 if not fit_background else nan,
        "background_err": nan,
        "chi2_red": nan,
        "npix": 0,
        "success": False,
        "message": "",
    }
    x = float(x)
    y = float(y)
    if not (math.isfinite(x) and math.isfinite(y)):
        out["message"] = f"non-finite position (x={x}, y={y})"
        return out
    box, reason = _fit_box(image.shape, x, y, fit_shape)
    if box is None:
        out["message"] = reason
        return out
    d = image[box].ravel()
    v = variance[box].ravel()
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(v) & (v > 0))):
        out["message"] = "non-finite image or non-positive variance pixels in the fit box"
        return out
    if not np.all(np.isfinite(psf)):
        out["message"] = "PSF stamp contains non-finite values"
        return out

    ix, iy = _nearest_pixel(x), _nearest_pixel(y)
    stamp = psf if psf_at_position else shift_psf(psf, x - ix, y - iy)
    c = psf.shape[0] // 2
    half = fit_shape // 2
    # stamp pixel c + k corresponds to image pixel ix + k
    big = np.zeros((2 * half + 1, 2 * half + 1))
    lo, hi = max(c - half, 0), min(c + half + 1, psf.shape[0])
    big[lo - (c - half) : hi - (c - half), lo - (c - half) : hi - (c - half)] = stamp[lo:hi, lo:hi]
    p = big.ravel()
    w = 1.0 / v
    if fit_background:
        a = np.stack([p, np.ones_like(p)], axis=1)
        normal = a.T @ (a * w[:, None])
        rhs = a.T @ (d * w)
        try:
            cov = np.linalg.inv(normal)
        except np.linalg.LinAlgError:
            out["message"] = "singular normal equations"
            return out
        flux, back = cov @ rhs
        model = flux * p + back
        out["background"] = float(back)
        out["background_err"] = float(math.sqrt(cov[1, 1]))
        flux_var = cov[0, 0]
        npar = 2
    else:
        ppw = float(np.sum(p * p * w))
        if not ppw > 0:
            out["message"] = "PSF model is zero over the fit box"
            return out
        flux = float(np.sum(p * d * w) / ppw)
        flux_var = 1.0 / ppw
        model = flux * p
        npar = 1
    chi2 = float(np.sum((d - model) ** 2 * w))
    out.update(
        flux=float(flux),
        flux_err=float(math.sqrt(flux_var)),
        chi2_red=chi2 / (d.size - npar) if d.size > npar else nan,
        npix=int(d.size),
        success=True,
    )
    return out
