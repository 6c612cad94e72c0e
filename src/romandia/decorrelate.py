"""Decorrelation of the cross-convolved difference image and its variance.

Noise model
-----------
With the cross-convolution scheme (:mod:`romandia.subtract`) the difference is

    DIFF = S ⊗ P_T′ − K ⊗ (T′ ⊗ P_S)

where ``S`` is the science image (white noise σ_S per pixel), ``T′`` the resampled
template (noise σ_T), ``P_S`` the science PSF, ``P_T′`` the template PSF in the science
frame (both normalised to sum 1 as convolution kernels) and ``K`` the SFFT matching
kernel (sum = flux scale).  The noise power spectrum of DIFF is

    D(k) = σ_S² |P̂_T′(k)|² + σ_T² |P̂_S(k)|² |K̂(k)|²

(the science noise is smoothed by the *template* PSF and the template noise by the
*science* PSF and ``K``).  The decorrelation filter ``φ(k) = sqrt(D(0) / D(k))`` makes
the noise white with per-pixel variance ``D(0) = σ_S² + σ_T² (ΣK)²`` and keeps fluxes
(``φ(0) = 1``); the PSF of the decorrelated difference is ``(P_S ⊗ P_T′) ⊗ k_φ`` with
``k_φ`` the real-space kernel of ``φ``.

Approximations (documented, not corrected): σ_S and σ_T are scalars (sky RMS), so source
Poisson noise and spatial variance changes are not whitened (the variance *image* from
:func:`difference_variance` does carry them); ``K`` is taken at one position (the frame
centre); the covariance that resampling introduces in ``T′`` is ignored.

Conventions: arrays ``[y, x]``; odd kernels centred; Fourier filters in ``rfft2`` layout
``(ny, nx // 2 + 1)`` for a real grid of shape ``(ny, nx)``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from romandia.convolve import (
    check_odd_kernel,
    embed_kernel,
    extract_kernel,
    fft_convolve,
    kernel_convolve,
)
from romandia.xp import fft_namespace, get_namespace

__all__ = [
    "decorrelation_filter",
    "decorrelation_grid",
    "decorrelation_kernel",
    "apply_filter",
    "decorrelate_kernel",
    "difference_variance",
    "effective_kernels",
]


def _normalised(k, xp):
    k = xp.asarray(k, dtype=xp.float64)
    check_odd_kernel(k)
    s = float(k.sum())
    if not np.isfinite(s) or s == 0:
        raise ValueError("kernel sum is zero or not finite")
    return k / s


def decorrelation_grid(*kernels, minimum: int = 64) -> tuple[int, int]:
    """A square FFT grid big enough to compute a stamp-size decorrelation filter.

    Parameters
    ----------
    *kernels : arrays
        The PSFs and matching kernel that enter the filter.
    minimum : int
        Smallest side [px].

    Returns
    -------
    (n, n)
        ``n = next_fast_len(max(minimum, 2 · Σ kernel sizes))``, so the real-space
        decorrelation kernel (whose support is a few PSF widths) does not wrap.
    """
    total = sum(max(k.shape) for k in kernels if k is not None)
    n = scipy.fft.next_fast_len(max(int(minimum), 2 * total), real=True)
    return (n, n)


def decorrelation_filter(
    shape,
    psf_sci,
    psf_tmpl_rot,
    sigma_sci: float,
    sigma_tmpl: float,
    match_kernel=None,
    floor: float = 1e-10,
    xp=None,
):
    """Fourier decorrelation filter ``φ(k) = sqrt(D(0) / D(k))``.

    ``D(k) = σ_S² |P̂_T′|² + σ_T² |P̂_S|² |K̂|²`` is the noise power of
    ``DIFF = S ⊗ P_T′ − K ⊗ (T′ ⊗ P_S)`` (see the module docstring).

    Parameters
    ----------
    shape : tuple of int
        Real-space grid ``(ny, nx)`` of the filter (the image, padded image, or a small
        grid from :func:`decorrelation_grid` for stamps).
    psf_sci : array, odd
        Science PSF ``P_S`` in the science frame (normalised to sum 1 here).
    psf_tmpl_rot : array, odd
        Template PSF in the science frame ``P_T′`` (normalised to sum 1 here).
    sigma_sci, sigma_tmpl : float
        Background noise RMS of the science image and of the template [counts / px].
    match_kernel : array, odd, optional
        SFFT matching kernel ``K`` ``[y, x]`` (not normalised: its sum is the flux scale,
        which sets the weight of the template noise).  None = δ (phrosty's default,
        ``Consider_Matching_Kernel=False``).
    floor : float
        ``D`` is floored at ``floor · D(0)`` to bound the gain where both PSFs have no
        power (there the difference holds only round-off).
    xp : module, optional

    Returns
    -------
    array, shape ``(ny, nx // 2 + 1)``, float64
        ``φ`` in ``rfft2`` layout, ``φ[0, 0] = 1``, real and positive.
    """
    xp = xp or get_namespace(psf_sci, psf_tmpl_rot, match_kernel)
    fft = fft_namespace(xp)
    shape = (int(shape[0]), int(shape[1]))
    ps = _normalised(psf_sci, xp)
    pt = _normalised(psf_tmpl_rot, xp)
    fps = fft.rfft2(embed_kernel(ps, shape, xp=xp))
    fpt = fft.rfft2(embed_kernel(pt, shape, xp=xp))
    tmpl_term = xp.abs(fps) ** 2
    if match_kernel is not None:
        k = xp.asarray(match_kernel, dtype=xp.float64)
        check_odd_kernel(k, "match_kernel")
        tmpl_term = tmpl_term * xp.abs(fft.rfft2(embed_kernel(k, shape, xp=xp))) ** 2
    d = float(sigma_sci) ** 2 * xp.abs(fpt) ** 2 + float(sigma_tmpl) ** 2 * tmpl_term
    d0 = float(d[0, 0])
    if not np.isfinite(d0) or d0 <= 0:
        raise ValueError("decorrelation filter: zero or non-finite noise power at k=0")
    return xp.sqrt(d0 / xp.maximum(d, floor * d0))


def decorrelation_kernel(phi, shape, power_fraction: float = 0.999, max_size: int | None = None,
                         sum_tolerance: float = 1e-3, xp=None):
    """Real-space decorrelation kernel ``k_φ`` of a filter, cropped.

    Parameters
    ----------
    phi : array ``(ny, nx // 2 + 1)``
        Filter from :func:`decorrelation_filter` on grid ``shape``.
    shape : tuple of int
        The filter's real-space grid ``(ny, nx)``.
    power_fraction : float
        The kernel is cropped to the smallest odd square (centred) that holds more than
        this fraction of ``Σ k_φ²`` *and* whose sum is within ``sum_tolerance`` of 1.
    max_size : int, optional
        Upper bound on the odd side of the crop.
    sum_tolerance : float
        Tolerance on the crop's sum (the full kernel sums to ``φ(0) = 1``).

    Returns
    -------
    array (m, m), odd ``m``, float64
        Centred kernel, not renormalised.  Use it to decorrelate other stamps or as a
        compact description of the filter; :func:`decorrelate_kernel` and
        :func:`difference_variance` use the exact filter instead of this crop.
    """
    xp = xp or get_namespace(phi)
    fft = fft_namespace(xp)
    ny, nx = int(shape[0]), int(shape[1])
    k = fft.irfft2(phi, s=(ny, nx))
    k = xp.roll(k, (ny // 2, nx // 2), axis=(0, 1))  # centre at (ny//2, nx//2)
    cy, cx = ny // 2, nx // 2
    hmax = min(cy, cx, ny - 1 - cy, nx - 1 - cx)
    if max_size is not None:
        hmax = min(hmax, (int(max_size) - 1) // 2)
    yy = xp.abs(xp.arange(ny) - cy)[:, None]
    xx = xp.abs(xp.arange(nx) - cx)[None, :]
    cheb = xp.maximum(yy, xx).ravel()
    nbin = int(cheb.max()) + 1
    power = np.cumsum(_host(xp.bincount(cheb, weights=(k * k).ravel(), minlength=nbin)))
    flux = np.cumsum(_host(xp.bincount(cheb, weights=k.ravel(), minlength=nbin)))
    ok = (power >= power_fraction * power[-1]) & (np.abs(flux - flux[-1]) <= sum_tolerance)
    idx = np.nonzero(ok[: hmax + 1])[0]
    h = int(idx[0]) if idx.size else hmax
    h = max(h, 1)
    return xp.ascontiguousarray(k[cy - h : cy + h + 1, cx - h : cx + h + 1])


def _host(a):
    return np.asarray(a.get() if hasattr(a, "get") else a)


def _filtered_kernel(kernel, phi, shape, out_size, xp):
    """``kernel ⊗ k_φ`` computed exactly in Fourier space on ``shape``, cropped to ``out_size``."""
    fft = fft_namespace(xp)
    emb = embed_kernel(xp.asarray(kernel, dtype=xp.float64), shape, xp=xp)
    out = fft.irfft2(fft.rfft2(emb) * phi, s=shape)
    return extract_kernel(out, out_size, xp=xp)


def apply_filter(image, phi, fft_shape=None, xp=None, workers: int | None = None):
    """Apply a Fourier filter to an image: ``irfft2(rfft2(image) · φ)``.

    Parameters
    ----------
    image : array (ny, nx)
        Finite image ``[y, x]``.
    phi : array
        Filter in ``rfft2`` layout for the grid ``fft_shape``.
    fft_shape : tuple of int, optional
        Grid of ``phi``.  Default ``image.shape``: circular filtering (edges wrap, as in
        phrosty).  A larger grid zero-pads the image at the far edges; if the padding is
        at least the half-width of the real-space kernel nothing wraps (linear filter).

    Returns
    -------
    array (ny, nx), float64
    """
    xp = xp or get_namespace(image, phi)
    fft = fft_namespace(xp)
    image = xp.asarray(image, dtype=xp.float64)
    ny, nx = image.shape
    shape = image.shape if fft_shape is None else (int(fft_shape[0]), int(fft_shape[1]))
    if shape[0] < ny or shape[1] < nx:
        raise ValueError(f"fft_shape {shape} smaller than the image {image.shape}")
    if phi.shape != (shape[0], shape[1] // 2 + 1):
        raise ValueError(f"phi {phi.shape} does not match grid {shape}")
    kw = {} if workers is None or fft is not scipy.fft else {"workers": workers}
    f = fft.rfft2(image, s=shape, **kw)
    out = fft.irfft2(f * phi, s=shape, **kw)
    return xp.ascontiguousarray(out[:ny, :nx])


def decorrelate_kernel(kernel, phi_small, phi_shape, power_fraction: float = 0.999,
                       out_size=None, xp=None):
    """Decorrelate a stamp (PSF, kernel) with a filter computed on a small grid.

    The stamp is embedded in the grid ``phi_shape``, multiplied by ``φ`` in Fourier space
    and cut back (exact up to circular wrap, negligible when the grid is at least twice
    the stamp plus kernel sizes, as :func:`decorrelation_grid` makes it).

    Parameters
    ----------
    kernel : array, odd
        Stamp ``[y, x]``, centred (e.g. the common PSF ``P_S ⊗ P_T′``).
    phi_small : array
        :func:`decorrelation_filter` on the grid ``phi_shape``.
    phi_shape : tuple of int
        Real-space grid of ``phi_small``.
    power_fraction : float
        Crop of the returned real-space kernel (:func:`decorrelation_kernel`).
    out_size : int or tuple, optional
        Odd output size; default the input size.

    Returns
    -------
    kernel_dec : array
        ``kernel ⊗ k_φ`` cropped to ``out_size`` about its centre (not renormalised: its
        sum is the input's sum minus what falls outside the crop).
    k_phi : array
        The real-space decorrelation kernel (odd, sum ≈ 1), to apply to other stamps.
    """
    xp = xp or get_namespace(kernel, phi_small)
    kernel = xp.asarray(kernel, dtype=xp.float64)
    check_odd_kernel(kernel)
    out_size = kernel.shape if out_size is None else out_size
    k_phi = decorrelation_kernel(phi_small, phi_shape, power_fraction=power_fraction, xp=xp)
    return _filtered_kernel(kernel, phi_small, phi_shape, out_size, xp), k_phi


def effective_kernels(psf_sci, psf_tmpl_rot, phi, phi_shape, match_kernel=None, xp=None):
    """Kernels that carry the science and template noise into the decorrelated difference.

    Parameters
    ----------
    psf_sci, psf_tmpl_rot : array, odd
        ``P_S`` and ``P_T′`` (normalised to sum 1 here: they act as convolution kernels).
    phi, phi_shape
        Decorrelation filter on a small grid (:func:`decorrelation_grid`).
    match_kernel : array, odd, optional
        ``K`` (not normalised); None = δ.

    Returns
    -------
    k_sci : array, odd
        ``P_T′ ⊗ k_φ`` (science noise → difference), size ``phi_shape − 1`` (odd).
    k_tmpl : array, odd
        ``K ⊗ P_S ⊗ k_φ`` (template noise → difference).
    """
    xp = xp or get_namespace(psf_sci, psf_tmpl_rot, phi, match_kernel)
    ps = _normalised(psf_sci, xp)
    pt = _normalised(psf_tmpl_rot, xp)
    size = tuple(n - 1 if n % 2 == 0 else n for n in phi_shape)
    k_sci = _filtered_kernel(pt, phi, phi_shape, size, xp)
    if match_kernel is not None:
        ps = kernel_convolve(ps, xp.asarray(match_kernel, dtype=xp.float64), xp=xp)
    k_tmpl = _filtered_kernel(ps, phi, phi_shape, size, xp)
    return k_sci, k_tmpl


def difference_variance(var_sci, var_tmpl_resampled, psf_sci, psf_tmpl_rot, phi, phi_shape,
                        match_kernel=None, xp=None, workers: int | None = None):
    """Per-pixel variance of the decorrelated difference.

    ``V = V_S ⊛ (P_T′ ⊗ k_φ)² + V_T ⊛ (K ⊗ P_S ⊗ k_φ)²`` (convolution with the squared
    effective kernels; exact for independent pixels with variances ``V_S``, ``V_T``).
    For constant variances it equals ``D(0) = σ_S² + σ_T² (ΣK)²``.

    Parameters
    ----------
    var_sci : array (ny, nx)
        Science variance ``[y, x]`` [counts²]; non-finite values are treated as 0.
    var_tmpl_resampled : array (ny, nx)
        Template variance on the science grid (:func:`romandia.resample.resample_variance`).
    psf_sci, psf_tmpl_rot : array, odd
        ``P_S`` and ``P_T′`` (normalised to sum 1 here).
    phi, phi_shape
        Decorrelation filter on a small grid (:func:`decorrelation_filter` on
        :func:`decorrelation_grid`), built with the same ``match_kernel``.
    match_kernel : array, odd, optional
        ``K`` (sum = flux scale); None = δ (phrosty ignores ``K`` here).

    Returns
    -------
    array (ny, nx), float64
        Variance [counts²] of the decorrelated difference (zero-padded at the edges).
    """
    xp = xp or get_namespace(var_sci, var_tmpl_resampled)
    k_sci, k_tmpl = effective_kernels(psf_sci, psf_tmpl_rot, phi, phi_shape, match_kernel, xp=xp)
    vs = xp.asarray(var_sci, dtype=xp.float64)
    vt = xp.asarray(var_tmpl_resampled, dtype=xp.float64)
    vs = xp.where(xp.isfinite(vs), vs, 0.0)
    vt = xp.where(xp.isfinite(vt), vt, 0.0)
    out = fft_convolve(vs, k_sci * k_sci, xp=xp, workers=workers)
    out += fft_convolve(vt, k_tmpl * k_tmpl, xp=xp, workers=workers)
    return out
