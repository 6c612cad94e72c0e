"""Flux uncertainty of a linear measurement on the difference, propagated to the input pixels.

A forced PSF flux with fixed position is linear in the decorrelated difference,
``F = Σ_i a_i DIFF_i`` (``a`` from :func:`romandia.photometry.estimator_weights`), and the
difference is linear in the science pixels ``S`` and the *original* template pixels ``T``
(:mod:`romandia.decorrelate`):

    DIFF = S ⊗ k_S − R(T) ⊗ k_T,    k_S = P_T′ ⊗ k_φ,    k_T = K ⊗ P_S ⊗ k_φ,

with ``R`` the WCS resampling of the template (:func:`romandia.resample.resample`).  So

    F = Σ_p c_p S_p − Σ_j d_j T_j,    c = a ⋆ k_S,    d = Rᵀ(a ⋆ k_T)

(``⋆`` correlation, ``Rᵀ`` :func:`romandia.resample.resample_adjoint`), and with independent
input pixels of variance ``V_S``, ``V_T``

    Var F = Σ_p c_p² V_S,p + Σ_j d_j² V_T,j.

This is exact for the linear estimator, including the covariance between neighbouring
difference pixels that the per-pixel variance image ignores (interpolation, the PSF and
matching kernels and an imperfect decorrelation all correlate them).  The per-pixel estimate
``Σ a_i² VAR_i`` misses it: on the validation data it was 4.7 % low on average, up to 18 %
(``docs/validation.md``, fix 7).

Approximations: ``K`` is the matching kernel at the frame centre (as in
:func:`romandia.decorrelate.difference_variance`); the sums run over the stamps passed in
(the weights ``c``, ``d`` fall off within a few PSF widths of the object).

Conventions: arrays ``[y, x]``, 0-based pixel centres; variances in counts².
"""

from __future__ import annotations

import numpy as np

from romandia.convolve import check_odd_kernel, fft_convolve
from romandia.resample import resample_adjoint

__all__ = ["propagated_flux_variance"]


def _correlate(a: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``(a ⋆ k)_p = Σ_i a_i k[i − p]``: the weight that ``F = Σ a_i (X ⊗ k)_i`` puts on ``X_p``."""
    check_odd_kernel(kernel)
    return fft_convolve(a, np.ascontiguousarray(kernel[::-1, ::-1]))


def propagated_flux_variance(
    weights,
    k_sci,
    k_tmpl,
    var_sci,
    var_tmpl,
    xs,
    ys,
    kernel: str = "lanczos3",
    conserve_flux: bool = True,
) -> dict:
    """Variance of ``F = Σ a_i DIFF_i`` from the science and original template pixel variances.

    Parameters
    ----------
    weights : array (ny, nx)
        ``a``: the measurement's weights on the difference stamp ``[y, x]`` (zero outside the
        fit box).
    k_sci, k_tmpl : array, odd
        Kernels that carry the science and the resampled-template pixels into the
        difference (:func:`romandia.decorrelate.effective_kernels`).
    var_sci : array (ny, nx)
        Science variance [counts²] on the same grid as ``weights``; non-finite = 0.
    var_tmpl : array (ny_t, nx_t)
        Template variance [counts²] on the template's *own* grid (before resampling);
        non-finite = 0.
    xs, ys : array (ny, nx)
        Template-frame coordinates of each pixel of the ``weights`` grid
        (:func:`romandia.resample.pixel_map`), 0-based.
    kernel, conserve_flux
        The interpolation of the align step (:func:`romandia.resample.resample`).

    Returns
    -------
    dict
        ``var_sci``, ``var_tmpl`` [counts²]: the two terms of ``Var F``; ``var`` their sum.
    """
    a = np.asarray(weights, dtype=np.float64)
    vs = np.asarray(var_sci, dtype=np.float64)
    vt = np.asarray(var_tmpl, dtype=np.float64)
    if a.shape != vs.shape or a.shape != np.shape(xs) or a.shape != np.shape(ys):
        raise ValueError(
            f"weights {a.shape}, var_sci {vs.shape} and the pixel map {np.shape(xs)} must match"
        )
    c = _correlate(a, np.asarray(k_sci, dtype=np.float64))
    d = resample_adjoint(_correlate(a, np.asarray(k_tmpl, dtype=np.float64)), xs, ys, vt.shape,
                         kernel=kernel, conserve_flux=conserve_flux)
    v_s = float(np.sum(np.where(np.isfinite(vs), vs, 0.0) * c * c))
    v_t = float(np.sum(np.where(np.isfinite(vt), vt, 0.0) * d * d))
    return {"var_sci": v_s, "var_tmpl": v_t, "var": v_s + v_t}
