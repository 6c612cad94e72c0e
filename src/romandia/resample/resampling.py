"""WCS resampling of a template (image, variance, mask) onto the science pixel grid.

:func:`resample_image_set` resamples an image and, in the same pass, its variance and mask;
:func:`resample`, :func:`resample_variance` and :func:`resample_mask` do one each, and
:func:`resample_adjoint` is the transpose of :func:`resample` (for error propagation,
:mod:`romandia.errorprop`).

Conventions
-----------
* Images are ``[y, x]``; pixel coordinates are **0-based** with ``(0, 0)`` at the centre
  of the first pixel.  ``xs, ys`` is a pixel map (:func:`romandia.resample.pixel_map`):
  the source coordinates of every target pixel centre (backward mapping, no holes).
* Fluxes are counts per pixel.  With ``conserve_flux=True`` resampled values are
  multiplied by the local pixel-area ratio ``|det J|`` where ``J = ∂(xs, ys)/∂(x, y)``
  (source pixels per target pixel, i.e. target pixel area / source pixel area), so a
  star keeps its total counts when the two frames have different pixel areas
  (distortion, plate-scale differences).  Variances [counts²] are multiplied by
  ``|det J|²``.  Masks are never rescaled.
* Kernels: see :mod:`romandia.resample.interpolation`.  All array work goes through ``xp``
  (NumPy or CuPy), except :func:`resample_adjoint` (NumPy, stamp-sized).
"""

from __future__ import annotations

import numpy as np

from romandia.errors import DataError
from romandia.xp import get_namespace

from .interpolation import KERNELS, _accumulate, _check_kernel, _weights_1d
from .pixelmap import _inside, pixel_area_ratio

__all__ = [
    "resample",
    "resample_variance",
    "resample_adjoint",
    "resample_mask",
    "resample_image_set",
]


def _prepare(arr, xp):
    """NaN-free float64 copy and validity (None when every pixel is finite)."""
    arr = xp.asarray(arr, dtype=xp.float64)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {arr.shape}")
    finite = xp.isfinite(arr)
    if bool(xp.all(finite)):
        return arr, None
    return xp.where(finite, arr, 0.0), finite.astype(xp.float64)


def _maps(xs, ys, xp):
    xs = xp.asarray(xs, dtype=xp.float64)
    ys = xp.asarray(ys, dtype=xp.float64)
    if xs.shape != ys.shape:
        raise ValueError(f"xs {xs.shape} and ys {ys.shape} differ")
    return xs, ys


def _blank(xs, ys, wsum, shape_source, min_coverage, xp):
    with np.errstate(invalid="ignore"):
        inside = _inside(xs, ys, shape_source, xp) & xp.isfinite(xs) & xp.isfinite(ys)
    return ~inside | (wsum < min_coverage)


def resample_image_set(
    image,
    xs,
    ys,
    var=None,
    mask=None,
    kernel: str = "lanczos3",
    mask_kernel: str = "bilinear",
    fill: float = 0.0,
    conserve_flux: bool = True,
    min_coverage: float = 0.5,
    area_ratio=None,
    xp=None,
):
    """Resample an image and (optionally) its variance and mask in one pass.

    Same maths as :func:`resample`, :func:`resample_variance` and :func:`resample_mask`,
    sharing the interpolation weights between image and variance.

    Parameters
    ----------
    image : array (ny_s, nx_s)
        Source image ``[y, x]``, counts per source pixel; NaN = missing.
    xs, ys : array (ny, nx)
        Pixel map (:func:`pixel_map`).
    var : array (ny_s, nx_s), optional
        Per-pixel variance of ``image`` [counts²].
    mask : array (ny_s, nx_s), optional
        Detection mask (bool or 0/1).
    kernel, mask_kernel : str
        Interpolation kernels (see :mod:`romandia.resample.interpolation`) for
        image/variance and for the mask.
    fill : float
        Value of blank pixels in the image and variance outputs.
    conserve_flux : bool
        Multiply by the pixel-area ratio (image) and its square (variance).
    min_coverage : float
        A target pixel is blank when the summed weight of its valid (in-frame, finite)
        taps is below this; otherwise the weights are renormalised over the valid taps.
    area_ratio : array (ny, nx), optional
        Precomputed :func:`pixel_area_ratio` (computed when needed and not given).

    Returns
    -------
    dict
        ``image``, ``var`` (None if not given), ``mask`` (float coverage in [0, 1], None
        if not given), ``blank`` (bool: centre outside the source frame, unprojectable,
        or coverage below ``min_coverage``), all ``(ny, nx)`` ``[y, x]``.

    Raises
    ------
    DataError
        ``stage='align'`` when every target pixel is blank (no overlap).
    """
    xp = xp or get_namespace(image, xs, ys, var, mask)
    _check_kernel(kernel)
    _check_kernel(mask_kernel)
    xs, ys = _maps(xs, ys, xp)
    img, valid = _prepare(image, xp)
    sources, powers = [img], [1]
    if var is not None:
        v, vvalid = _prepare(var, xp)
        if v.shape != img.shape:
            raise ValueError(f"var {v.shape} and image {img.shape} differ")
        if vvalid is not None:
            valid = vvalid if valid is None else valid * vvalid
        sources.append(v)
        powers.append(2)
    (out, *rest), wsum = _accumulate(sources, powers, valid, xs, ys, kernel, xp)
    blank = _blank(xs, ys, wsum, img.shape, min_coverage, xp)
    if bool(xp.all(blank)):
        raise DataError("align", "no template pixel overlaps the science frame")
    wsafe = xp.where(blank, 1.0, wsum)
    out = out / wsafe
    var_out = rest[0] / (wsafe * wsafe) if var is not None else None
    if conserve_flux:
        ratio = pixel_area_ratio(xs, ys, xp) if area_ratio is None else xp.asarray(area_ratio)
        out = out * ratio
        if var_out is not None:
            var_out = var_out * ratio * ratio
    out = xp.where(blank, fill, out)
    if var_out is not None:
        var_out = xp.where(blank, fill, var_out)
    mask_out = None
    if mask is not None:
        mask_out = resample_mask(mask, xs, ys, kernel=mask_kernel, xp=xp)
    return {"image": out, "var": var_out, "mask": mask_out, "blank": blank}


def resample(
    image,
    xs,
    ys,
    kernel: str = "lanczos3",
    fill: float = 0.0,
    conserve_flux: bool = True,
    min_coverage: float = 0.5,
    xp=None,
):
    """Resample an image onto a target grid through a pixel map.

    ``out[y, x] = Σ_i w_i · image[i] / Σ_i w_i`` over the valid taps ``i`` around
    ``(xs[y, x], ys[y, x])`` (valid = inside the source frame and finite), times the
    pixel-area ratio when ``conserve_flux``.

    Parameters
    ----------
    image : array (ny_s, nx_s)
        Source image ``[y, x]`` in counts per source pixel; NaN marks missing pixels.
    xs, ys : array (ny, nx)
        0-based source coordinates of each target pixel centre (:func:`pixel_map`).
    kernel : {'lanczos3', 'lanczos4', 'lanczos5', 'bilinear', 'nearest'}
        Interpolation kernel.
    fill : float
        Output value of blank pixels.
    conserve_flux : bool
        Multiply by ``|det ∂(xs, ys)/∂(x, y)|`` so that total counts are conserved.
    min_coverage : float
        Blank threshold on the summed weight of the valid taps (see
        :func:`resample_image_set`).
    xp : module, optional
        Array namespace.

    Returns
    -------
    out : array (ny, nx), float64
    blank : array (ny, nx), bool
        True where the target pixel centre falls outside the source frame (or cannot be
        projected), or too few valid taps cover it; ``out`` is ``fill`` there.

    Raises
    ------
    DataError
        ``stage='align'`` when all target pixels are blank.
    """
    r = resample_image_set(
        image, xs, ys, kernel=kernel, fill=fill, conserve_flux=conserve_flux,
        min_coverage=min_coverage, xp=xp,
    )
    return r["image"], r["blank"]


def resample_variance(
    var,
    xs,
    ys,
    kernel: str = "lanczos3",
    fill: float = 0.0,
    conserve_flux: bool = True,
    min_coverage: float = 0.5,
    xp=None,
):
    """Propagate a per-pixel variance map through :func:`resample`.

    Exact propagation for independent source pixels with the *same* (renormalised)
    weights as the image: ``V_out = Σ_i w_i² V_i / (Σ_i w_i)²`` (times the squared
    pixel-area ratio when ``conserve_flux``).  This is the per-pixel variance of the
    resampled image; it ignores the covariance that interpolation introduces between
    neighbouring output pixels (for Lanczos-3 the per-pixel variance of resampled white
    noise drops to ~0.6–1 × the input, depending on the sub-pixel phase).

    Parameters
    ----------
    var : array (ny_s, nx_s)
        Source variance ``[y, x]`` [counts²]; NaN marks missing pixels.
    xs, ys, kernel, fill, conserve_flux, min_coverage, xp
        As in :func:`resample`.

    Returns
    -------
    out : array (ny, nx), float64
    blank : array (ny, nx), bool
    """
    xp = xp or get_namespace(var, xs, ys)
    _check_kernel(kernel)
    xs, ys = _maps(xs, ys, xp)
    v, valid = _prepare(var, xp)
    (s2,), wsum = _accumulate([v], [2], valid, xs, ys, kernel, xp)
    blank = _blank(xs, ys, wsum, v.shape, min_coverage, xp)
    if bool(xp.all(blank)):
        raise DataError("align", "no template pixel overlaps the science frame")
    wsafe = xp.where(blank, 1.0, wsum)
    out = s2 / (wsafe * wsafe)
    if conserve_flux:
        ratio = pixel_area_ratio(xs, ys, xp)
        out = out * ratio * ratio
    return xp.where(blank, fill, out), blank


def resample_adjoint(values, xs, ys, shape_source, kernel: str = "lanczos3",
                     conserve_flux: bool = True):
    """Transpose of :func:`resample`: spread target-grid weights back onto the source pixels.

    :func:`resample` is linear, ``T′_o = r_o Σ_j w_oj T_j`` (``w`` the separable kernel
    weights of target pixel ``o``, normalised per axis; ``r_o`` the pixel-area ratio when
    ``conserve_flux``).  This returns ``d_j = Σ_o values_o r_o w_oj``, so that for any
    source image ``Σ_o values_o T′_o = Σ_j d_j T_j``.  Used to carry a linear measurement
    on the resampled template (e.g. a PSF flux) back to the independent source pixels, where
    its variance is ``Σ_j d_j² V_j`` *with* the covariance that interpolation introduces
    (:mod:`romandia.errorprop`).

    Why hand-written: no library offers the transpose of a WCS Lanczos resampling; it uses
    the same weights as :func:`resample` (:func:`_weights_1d`) so the two cannot diverge.

    Parameters
    ----------
    values : array (ny, nx)
        Weights on the target grid ``[y, x]``; zeros are skipped.
    xs, ys : array (ny, nx)
        Pixel map (:func:`pixel_map`): 0-based source coordinates of each target pixel.
    shape_source : tuple of int
        ``(ny_s, nx_s)`` of the source image.
    kernel : str
        Interpolation kernel, as in :func:`resample`.
    conserve_flux : bool
        Include the pixel-area ratio, as in :func:`resample`.

    Returns
    -------
    numpy.ndarray (ny_s, nx_s), float64

    Notes
    -----
    Exact where all taps of a target pixel fall on valid source pixels (the weights then
    sum to 1 and :func:`resample` does not renormalise); taps outside the source frame are
    dropped, as :func:`resample` treats them as zero.  NumPy only (a stamp-sized operation).
    """
    _check_kernel(kernel)
    values = np.asarray(values, dtype=np.float64)
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    if conserve_flux:
        values = values * pixel_area_ratio(xs, ys, np)
    a = max(1, KERNELS[kernel])
    nys, nxs = (int(n) for n in shape_source)
    keep = (values != 0) & np.isfinite(xs) & np.isfinite(ys)
    keep &= (xs > -(a + 1)) & (xs < nxs + a) & (ys > -(a + 1)) & (ys < nys + a)
    v, x, y = values[keep], xs[keep], ys[keep]
    fx, wx = _weights_1d(x, kernel, np)
    fy, wy = _weights_1d(y, kernel, np)
    pad = 2 * a + 2
    out = np.zeros((nys + 2 * pad, nxs + 2 * pad))
    ix0 = fx.astype(np.int64) + pad
    iy0 = fy.astype(np.int64) + pad
    for j, wyj in enumerate(wy):
        for i, wxi in enumerate(wx):
            np.add.at(out, (iy0 + j, ix0 + i), wyj * wxi * v)
    return out[pad : pad + nys, pad : pad + nxs]


def resample_mask(mask, xs, ys, kernel: str = "bilinear", xp=None):
    """Resample a (detection) mask as a fractional coverage.

    Parameters
    ----------
    mask : array (ny_s, nx_s)
        Boolean or 0/1 mask ``[y, x]``; NaN counts as 0.
    xs, ys : array (ny, nx)
        Pixel map.
    kernel : {'bilinear', 'lanczos3', 'lanczos4', 'lanczos5', 'nearest'}
        ``'nearest'`` returns the mask value of the nearest source pixel; the others the
        interpolation-weighted mean ``Σ w_i m_i`` (taps outside the source frame count as
        0, no renormalisation), clipped to [0, 1].

    Returns
    -------
    array (ny, nx), float64
        Fractional coverage in [0, 1] (0 outside the source frame).  No pixel-area
        scaling.  phrosty thresholds the resampled detection mask at 0.1.
    """
    xp = xp or get_namespace(mask, xs, ys)
    _check_kernel(kernel)
    xs, ys = _maps(xs, ys, xp)
    m = xp.asarray(mask, dtype=xp.float64)
    m = xp.where(xp.isfinite(m), m, 0.0)
    (s,), _ = _accumulate([m], [1], None, xs, ys, kernel, xp)
    # zero outside the frame: taps there read the zero padding already
    return xp.clip(s, 0.0, 1.0)
