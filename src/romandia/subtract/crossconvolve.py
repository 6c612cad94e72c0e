"""Cross-convolution of a science image and a resampled template, and kernel radii.

* :func:`cross_convolve`: ``Ct = S ⊗ P_T′``, ``Co = T′ ⊗ P_S`` (both now have the PSF
  ``P_S ⊗ P_T′``), step 1 of :func:`romandia.subtract.difference_pair`.
* :func:`effective_radius`: radius of the disc holding a fraction of a kernel's weight, used
  to grow bad-pixel masks by the kernels that spread them.

Conventions
-----------
* All arrays are ``[y, x]``, 0-based pixel coordinates; images in counts, sky-subtracted and
  finite.
* PSFs are odd-sized centred stamps in the science pixel frame; when used as convolution
  kernels they are normalised to sum 1.  ``P_S`` keeps its own sum in the common PSF
  (stamp sum = enclosed fraction, see ``docs/architecture.md``).
* Array work goes through ``xp`` (NumPy or CuPy).
"""

from __future__ import annotations

import numpy as np

from romandia.convolve import check_odd_kernel, fft_convolve, kernel_convolve
from romandia.xp import get_namespace, to_numpy

__all__ = ["cross_convolve", "effective_radius"]


def effective_radius(kernel, fraction: float = 0.995, weight: str = "abs") -> float:
    """Radius [px] of the centred disc holding ``fraction`` of a kernel's weight.

    Parameters
    ----------
    kernel : array, odd
        Centred stamp.
    fraction : float
        Fraction of the total weight inside the radius.
    weight : {'abs', 'power'}
        ``Σ|k|`` (PSFs: flux in the wings) or ``Σk²`` (kernels whose wings are noise,
        like a fitted matching kernel, or a whitening kernel dominated by its core).

    Returns
    -------
    float
        Radius from the central pixel (0 for a δ).
    """
    k = to_numpy(kernel).astype(float)
    check_odd_kernel(k)
    k = k * k if weight == "power" else np.abs(k)
    cy, cx = k.shape[0] // 2, k.shape[1] // 2
    yy, xx = np.indices(k.shape)
    r = np.hypot(yy - cy, xx - cx).ravel()
    order = np.argsort(r, kind="stable")
    cum = np.cumsum(k.ravel()[order])
    if cum[-1] <= 0:
        return 0.0
    i = int(np.searchsorted(cum, fraction * cum[-1], side="left"))
    return float(r[order][min(i, r.size - 1)])


def cross_convolve(sci, tmpl_rs, psf_sci, psf_tmpl_rot, psf_size=None, xp=None,
                   workers: int | None = None):
    """Convolve each image with the other image's PSF.

    Parameters
    ----------
    sci : array (ny, nx)
        Sky-subtracted science image ``S`` ``[y, x]`` (finite).
    tmpl_rs : array (ny, nx)
        Sky-subtracted template resampled to the science grid ``T′`` (finite).
    psf_sci : array, odd
        Science PSF ``P_S`` (science frame).
    psf_tmpl_rot : array, odd
        Template PSF in the science frame ``P_T′`` (:func:`romandia.resample.rotate_psf`).
    psf_size : int, optional
        Odd size of the returned common PSF; default the full size
        ``len(P_S) + len(P_T′) − 1``.

    Returns
    -------
    ct : array (ny, nx)
        ``S ⊗ P_T′/ΣP_T′`` (zero-padded linear convolution).
    co : array (ny, nx)
        ``T′ ⊗ P_S/ΣP_S``.
    psf_common : array, odd
        ``P_S ⊗ P_T′/ΣP_T′``: the PSF of ``ct`` (and of ``co`` up to the flux scale);
        its sum is ``ΣP_S`` before cropping.
    """
    xp = xp or get_namespace(sci, tmpl_rs, psf_sci, psf_tmpl_rot)
    ps = xp.asarray(psf_sci, dtype=xp.float64)
    pt = xp.asarray(psf_tmpl_rot, dtype=xp.float64)
    check_odd_kernel(ps, "psf_sci")
    check_odd_kernel(pt, "psf_tmpl_rot")
    ct = fft_convolve(sci, pt, normalize=True, xp=xp, workers=workers)
    co = fft_convolve(tmpl_rs, ps, normalize=True, xp=xp, workers=workers)
    psf_common = kernel_convolve(ps, pt / pt.sum(), out_size=psf_size, xp=xp)
    return ct, co, psf_common
