"""PSF rotation between pixel frames through the local linear part of two WCSs.

:func:`local_jacobian` is ``∂(ξ, η)/∂(x, y)`` of a WCS at a pixel (tangent-plane arcsec per
pixel); :func:`rotate_psf` maps a PSF stamp from the source (template) pixel frame into the
target (science) frame with it (rotation, scale, shear, parity; flux-conserving).

Conventions
-----------
Stamps are ``[y, x]``, odd-sized and centred on the central pixel; pixel positions are
0-based with ``(0, 0)`` at the centre of the first pixel.  ``ξ = ΔRA·cos(Dec)`` (east) and
``η = ΔDec`` (north) are in **arcsec**.  The stamp is never renormalised.  Array work goes
through ``xp`` (NumPy or CuPy); the Jacobians are NumPy.
"""

from __future__ import annotations

import numpy as np

from romandia.xp import asarray, get_namespace, ndimage_namespace, to_numpy

from .interpolation import KERNELS, _accumulate

__all__ = ["local_jacobian", "rotate_psf"]


def local_jacobian(wcs, x: float, y: float, h: float = 0.5) -> np.ndarray:
    """Local Jacobian ``∂(ξ, η)/∂(x, y)`` of a WCS at a 0-based pixel position.

    ``ξ = ΔRA·cos(Dec)`` (east) and ``η = ΔDec`` (north) are local tangent-plane offsets
    in **arcsec**; derivatives are central differences with half-step ``h`` [px].

    Parameters
    ----------
    wcs : astropy.wcs.WCS
    x, y : float
        0-based pixel position (e.g. of the object).
    h : float
        Half step [px].

    Returns
    -------
    numpy.ndarray, shape (2, 2)
        ``[[∂ξ/∂x, ∂ξ/∂y], [∂η/∂x, ∂η/∂y]]`` [arcsec / px]; columns are the sky
        displacements of a unit step in ``x`` and in ``y``.
    """
    px = np.array([x, x + h, x - h, x, x], dtype=float)
    py = np.array([y, y, y, y + h, y - h], dtype=float)
    ra, dec = wcs.all_pix2world(px, py, 0)
    ra0, dec0 = ra[0], dec[0]
    dra = (ra - ra0 + 180.0) % 360.0 - 180.0
    xi = dra * np.cos(np.deg2rad(dec0)) * 3600.0
    eta = (dec - dec0) * 3600.0
    return np.array(
        [
            [(xi[1] - xi[2]) / (2 * h), (xi[3] - xi[4]) / (2 * h)],
            [(eta[1] - eta[2]) / (2 * h), (eta[3] - eta[4]) / (2 * h)],
        ]
    )


def rotate_psf(psf, jac_source, jac_target, kernel: str = "cubic", xp=None, offset=(0.0, 0.0)):
    """Map a PSF stamp from the source pixel frame into the target pixel frame.

    A target-frame offset ``u_t = (dx, dy)`` from the stamp centre corresponds to the sky
    offset ``J_t u_t`` and to the source-frame offset ``u_s = J_s⁻¹ J_t u_t``; the output
    is ``psf(c + u_s) · |det(J_s⁻¹ J_t)|`` (backward mapping, flux-conserving).  Only the
    local linear part of the WCSs is used (rotation, scale, shear, parity), which is
    exact enough over a PSF stamp.  The pixel response already contained in the stamp is
    rotated with it (as in phrosty); this is the usual approximation.

    Parameters
    ----------
    psf : array (n, n), odd ``n``
        PSF stamp ``[y, x]`` in the source pixel frame, centred on the central pixel.
    jac_source, jac_target : array (2, 2)
        :func:`local_jacobian` of the source (template) and target (science) WCSs at the
        object, in the same sky units.
    kernel : {'cubic', 'lanczos3', 'lanczos4', 'lanczos5', 'bilinear'}
        Interpolation: ``'cubic'`` is a cubic B-spline (``scipy.ndimage.map_coordinates``
        ``order=3``, or ``cupyx.scipy.ndimage``), the others as in :func:`resample` but
        without renormalisation (values outside the stamp are 0).
    offset : (float, float)
        Where the point source is in the source stamp, from its central pixel [source px]:
        a PSF drawn at a sub-pixel phase.  The output is centred on its central pixel
        (source-frame ``c + offset`` maps to it), so that resampling a PSF drawn at the
        phase the image's pixel map has at the object, with the image's own interpolant,
        gives the PSF of the *resampled* image there, its interpolation blur included.

    Returns
    -------
    array (n, n), float64
        PSF in the target frame, same size, centred.  Its sum equals the input's sum to
        ~1e-4 when the PSF is well contained in the stamp (never renormalised).
    """
    xp = xp or get_namespace(psf)
    p = xp.asarray(psf, dtype=xp.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] % 2 != 1:
        raise ValueError(f"psf must be square with odd size, got {p.shape}")
    js = np.asarray(to_numpy(jac_source), dtype=float)
    jt = np.asarray(to_numpy(jac_target), dtype=float)
    m = np.linalg.solve(js, jt)  # target offsets -> source offsets
    det = abs(float(np.linalg.det(m)))
    n = p.shape[0]
    c = (n - 1) / 2.0
    g = np.arange(n, dtype=float) - c
    dx, dy = np.meshgrid(g, g)
    xs = c + float(offset[0]) + m[0, 0] * dx + m[0, 1] * dy
    ys = c + float(offset[1]) + m[1, 0] * dx + m[1, 1] * dy
    if kernel == "cubic":
        coords = asarray(np.stack([ys, xs]), xp)
        out = ndimage_namespace(xp).map_coordinates(p, coords, order=3, mode="constant", cval=0.0,
                                                    prefilter=True)
    elif kernel in KERNELS and kernel != "nearest":
        pz = xp.where(xp.isfinite(p), p, 0.0)
        (out,), _ = _accumulate([pz], [1], None, asarray(xs, xp), asarray(ys, xp), kernel, xp)
    else:
        raise ValueError(f"unknown PSF interpolation kernel {kernel!r}")
    return out * det
