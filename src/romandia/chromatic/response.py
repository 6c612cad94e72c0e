"""What the forced PSF fit returns for a source whose SED is not the PSF model's.

The fit (:func:`romandia.photometry.forced_psf_photometry`, fixed position, no local
background) is linear in the data: ``flux = Σ a_i d_i`` (:func:`romandia.photometry.
estimator_weights`).  A unit-flux source of SED weights ``w`` (:func:`.seds.band_weights`) has
the image ``Σ_k w_k (P_k ⊗ K)``, ``K`` the kernel that maps the science PSF to the measured
image's (normalised template PSF ⊗ decorrelation kernel, as for the model), so the fit returns
``Σ_k w_k r_k`` with the *responses* ``r_k = Σ_i a_i (P_k ⊗ K)_i``.  Normalised by the model's
own ``Σ_k w_model,k r_k`` (1 up to the ~1e-4 difference between galsim's chromatic drawing and
the basis sum), the response vector turns any SED into its chromatic factor:

``factor(w) = Σ_k w_k r'_k``, ``r' = r / (w_model · r)``;

the measured flux of that source is ``factor × true flux``, so the correction divides by it.
A local background fit (config ``photometry.local_bkg``) is not part of ``a``: its annulus sees
only the PSF's far wings, whose SED dependence is not modelled here.
"""

from __future__ import annotations

import numpy as np

from ..convolve import kernel_convolve
from ..photometry import estimator_weights
from ..photometry.fitbox import _fit_box, _psf_on_box

__all__ = ["responses", "factor", "format_response", "parse_response"]


def responses(stamps: np.ndarray, kernel, psf_eff: np.ndarray, variance: np.ndarray,
              x: float, y: float, *, fit_shape: int, weights: str, w_model: np.ndarray) -> np.ndarray:
    """Normalised responses ``r'_k`` of the fit to each per-wavelength PSF.

    Parameters
    ----------
    stamps : ndarray, shape (n, s, s)
        ``P_k`` drawn at the source's sub-pixel phase (:func:`.basis.basis_stamps`), unit
        total flux each, the same size and phase convention as the science PSF stamp the
        model ``psf_eff`` was made from.
    kernel : ndarray, callable or None
        ``K`` (sum 1), applied to each ``P_k`` as to the model (an array: convolved with
        :func:`romandia.convolve.kernel_convolve`; a callable: ``kernel(P_k)``, to repeat
        the model's own sequence of convolutions); None: the fit is on the science image.
    psf_eff : ndarray
        The model PSF the fit uses (``ATPOS ⊗ K``).
    variance : ndarray
        The measured image's variance [counts²] around the source (sets the fit box and,
        with ``weights='variance'``, the weights).
    x, y : float
        0-based position of the source in ``variance``'s frame.
    fit_shape, weights
        As :func:`romandia.photometry.forced_psf_photometry`.
    w_model : ndarray, shape (n,)
        The model SED's weights.

    Returns
    -------
    ndarray, shape (n,)
        ``r'`` with ``w_model · r' = 1``.

    Raises
    ------
    ValueError
        The fit box leaves the image, or the shapes disagree.
    """
    stamps = np.asarray(stamps, dtype=float)
    if stamps.ndim != 3 or stamps.shape[0] != len(w_model):
        raise ValueError(f"{len(w_model)} basis stamps expected, got shape {stamps.shape}")
    a = estimator_weights(psf_eff, variance, x, y, fit_shape=fit_shape, psf_at_position=True, weights=weights)
    box, reason = _fit_box(np.shape(variance), float(x), float(y), int(fit_shape))
    if box is None:
        raise ValueError(reason)
    if callable(kernel):  # the model's own sequence of convolutions, applied to each P_k
        r = np.array([float(np.sum(a[box] * _psf_on_box(kernel(p), float(x), float(y), box, True)))
                      for p in stamps])
    else:
        # Σ_i a_i (P_k ⊗ K)_i = Σ_j P_k,j G_j with G = A ⊗ flip(K) (A: the weights on the fit
        # box, centred): one convolution for all k instead of one per k, and the fit box's
        # samples of a stamp drawn at the source's phase are its own pixels (fitbox._model)
        g = a[box]
        if kernel is not None:
            k = np.asarray(kernel, dtype=float)
            g = kernel_convolve(g, k[::-1, ::-1])
        g = _centred(g, stamps.shape[1:])
        r = np.einsum("kij,ij->k", stamps, g)
    norm = float(np.dot(w_model, r))
    if not norm > 0:
        raise ValueError("the model's response is not positive")
    return r / norm


def _centred(a: np.ndarray, shape) -> np.ndarray:
    """``a`` (odd, centred) cropped or zero-padded about its centre to the odd ``shape``."""
    out = np.zeros(shape)
    ca, co = np.array(a.shape) // 2, np.array(shape) // 2
    h = np.minimum(ca, co)
    out[co[0] - h[0]: co[0] + h[0] + 1, co[1] - h[1]: co[1] + h[1] + 1] = \
        a[ca[0] - h[0]: ca[0] + h[0] + 1, ca[1] - h[1]: ca[1] + h[1] + 1]
    return out


def factor(r_norm, w) -> float:
    """Measured / true flux of a source of SED weights ``w`` (``Σ w_k r'_k``)."""
    return float(np.dot(np.asarray(w, dtype=float), np.asarray(r_norm, dtype=float)))


def format_response(r_norm) -> str:
    """The lightcurve column ``chrom_resp``: the normalised responses, space-separated."""
    return " ".join(f"{float(v):.7f}" for v in r_norm)


def parse_response(text) -> np.ndarray | None:
    """Inverse of :func:`format_response`; None for an empty or malformed value."""
    try:
        v = np.array([float(t) for t in str(text).split()], dtype=float)
    except ValueError:
        return None
    return v if v.size >= 2 and np.all(np.isfinite(v)) else None
