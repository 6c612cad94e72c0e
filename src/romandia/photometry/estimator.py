"""The forced PSF flux as a linear estimator, and the chi^2 error scaling.

* :func:`estimator_weights` gives the weights ``a`` of ``flux = Σ a_i image_i`` for the
  amplitude fit of :func:`romandia.photometry.forced_psf_photometry` (fixed position, no
  local background), which :mod:`romandia.errorprop` carries back to the input images.
* :func:`chi2_error_scale` is the factor ``sqrt(max(1, χ²_ν))`` applied to a fit's error.

Conventions
-----------
Arrays are ``[y, x]``, positions 0-based in the frame of ``variance`` (counts^2); PSF stamps
as in :mod:`romandia.photometry.fitbox` (unit total flux, never renormalised).  Bad
arguments and a fit box not inside the image raise ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np

from .fitbox import _check_fit_shape, _check_psf, _fit_box, _psf_on_box, _to_numpy

__all__ = ["estimator_weights", "chi2_error_scale"]


def estimator_weights(
    psf: np.ndarray,
    variance: np.ndarray,
    x: float,
    y: float,
    fit_shape: int = 5,
    psf_at_position: bool = False,
    weights: str = "background",
) -> np.ndarray:
    """Weights ``a`` of the forced PSF flux as a linear estimator, ``flux = Σ a_i image_i``.

    The amplitude fit of :func:`forced_psf_photometry` (fixed position, no local background)
    is linear: ``a = p w / Σ p² w`` on the fit box (``p`` the PSF model on its pixels,
    ``w = 1`` for ``weights='background'``, ``1/variance`` for ``'variance'``), 0 elsewhere.
    :func:`romandia.errorprop.propagated_flux_variance` carries ``a`` back to the input
    images.

    Parameters
    ----------
    psf, variance, x, y, fit_shape, psf_at_position, weights
        As in :func:`forced_psf_photometry` (``variance`` gives the image shape).

    Returns
    -------
    numpy.ndarray, shape of ``variance``
        ``a`` [1]; ``Σ a_i p_i = 1``.

    Raises
    ------
    ValueError
        The fit box is not inside the image, or the PSF is zero on it.
    """
    _check_psf(psf)
    fit_shape = _check_fit_shape(fit_shape)
    if weights not in ("variance", "background"):
        raise ValueError(f"weights must be 'variance' or 'background', got {weights!r}")
    variance = _to_numpy(variance)
    box, reason = _fit_box(variance.shape, float(x), float(y), fit_shape)
    if box is None:
        raise ValueError(reason)
    p = _psf_on_box(_to_numpy(psf), float(x), float(y), box, psf_at_position)
    w = 1.0 / variance[box] if weights == "variance" else np.ones_like(p)
    norm = float(np.sum(p * p * w))
    if not norm > 0:
        raise ValueError("PSF model is zero over the fit box")
    a = np.zeros_like(variance)
    a[box] = p * w / norm
    return a


def chi2_error_scale(chi2_red: float) -> float:
    """Factor ``sqrt(max(1, χ²_ν))`` by which a fit's flux error is inflated.

    Where the fit's residuals exceed the noise model (``χ²_ν > 1``: host residuals from
    resampling an undersampled template, PSF mismatch) the error grows by ``sqrt(χ²_ν)``,
    the practice of ZTF's forced-photometry service (Masci et al. 2019, PASP 131, 018003;
    Masci et al. 2023, arXiv:2305.16279, §8-9).  Never below 1, so a fit that is consistent
    with the noise keeps its propagated error.  NaN ``chi2_red`` gives 1.
    """
    c = float(chi2_red)
    return math.sqrt(c) if math.isfinite(c) and c > 1.0 else 1.0
