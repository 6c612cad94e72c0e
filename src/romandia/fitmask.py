"""Which pixels the SFFT kernel is fitted on, and how much kernel they can constrain.

The fit-mask policy of :func:`romandia.subtract.difference_pair`: transients kept out of the
fit (:func:`exclude_from_fit`), compact sources added when extended ones are too few
(:func:`compact_source_mask`, docs/validation.md fix 4), and the polynomial order the fit
pixels support (:func:`supported_poly_order`, fix 2).
"""

from __future__ import annotations

import math

import numpy as np

from romandia.convolve import fft_convolve
from romandia.xp import asarray, get_namespace

__all__ = ["compact_source_mask", "dilate", "exclude_from_fit", "kernel_parameter_count", "supported_poly_order"]


def dilate(mask, radius: float, xp):
    """Grow a boolean mask by a disc of ``radius`` px (FFT convolution)."""
    if radius < 0.5 or not bool(xp.any(mask)):
        return mask
    h = int(math.ceil(radius))
    yy, xx = np.mgrid[-h : h + 1, -h : h + 1]
    disc = asarray((yy * yy + xx * xx <= radius * radius + 1e-9).astype(float), xp)
    return fft_convolve(mask.astype(xp.float64), disc, xp=xp) > 0.5



def exclude_from_fit(mask, positions, radius: float):
    """Remove discs around the transients from a fit mask.

    The SFFT kernel must be fitted on static sources only: a supernova inside the fit
    mask (it sits on its host, which is in the detection mask) pulls the kernel toward
    reproducing it from the template, biasing its flux low.  On full SCAs thousands of
    galaxies dilute this; on cutouts the host can dominate the fit.

    Parameters
    ----------
    mask : array (ny, nx)
        Detection mask ``[y, x]`` (bool or 0/1).
    positions : iterable of (x, y)
        0-based pixel positions of the objects.
    radius : float
        Disc radius [px]; 0 leaves the mask unchanged.

    Returns
    -------
    array
        A copy of ``mask`` with the discs set to 0.
    """
    xp = get_namespace(mask)
    out = mask.copy() if hasattr(mask, "copy") else np.array(mask, copy=True)
    if radius <= 0:
        return out
    ny, nx = out.shape
    yy, xx = xp.ogrid[:ny, :nx]
    for x, y in positions:
        out[(xx - x) ** 2 + (yy - y) ** 2 <= radius * radius] = 0
    return out



def kernel_parameter_count(kernel_half_width: int, kernel_poly_order: int,
                           bg_poly_order: int = 0) -> int:
    """Number of free coefficients of an SFFT solution (δ-basis kernel + background)."""
    n_k = (2 * int(kernel_half_width) + 1) ** 2
    n_poly = (int(kernel_poly_order) + 1) * (int(kernel_poly_order) + 2) // 2
    n_bg = (int(bg_poly_order) + 1) * (int(bg_poly_order) + 2) // 2
    return n_k * n_poly + n_bg


def supported_poly_order(n_fit: int, kernel_half_width: int, max_order: int, bg_poly_order: int,
                         pixels_per_parameter: float) -> int:
    """Highest kernel polynomial order <= ``max_order`` that ``n_fit`` fit pixels constrain
    with at least ``pixels_per_parameter`` pixels per coefficient (0 if none does)."""
    for order in range(int(max_order), 0, -1):
        need = pixels_per_parameter * kernel_parameter_count(kernel_half_width, order,
                                                             bg_poly_order)
        if n_fit >= need:
            return order
    return 0


def compact_source_mask(ct, co, psf_s, psf_t, sig_s, sig_t, nsigma, xp):
    """Pixels significantly positive in both cross-convolved images (any source size).

    The per-pixel noise of ``ct = S ⊗ P_T′/ΣP_T′`` is ``σ_S √Σ(P_T′/ΣP_T′)²`` (white input
    noise), and likewise for ``co``; a pixel is kept if both exceed ``nsigma`` times their
    noise, then the mask is grown by 2 px (as phrosty's detection mask).
    """
    pt = xp.asarray(psf_t, dtype=xp.float64)
    ps = xp.asarray(psf_s, dtype=xp.float64)
    n_ct = float(sig_s) * math.sqrt(float(xp.sum((pt / pt.sum()) ** 2)))
    n_co = float(sig_t) * math.sqrt(float(xp.sum((ps / ps.sum()) ** 2)))
    m = (ct > nsigma * n_ct) & (co > nsigma * n_co)
    return dilate(m, 2.0, xp)
