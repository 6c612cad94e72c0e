"""The legacy phrosty / paper field-star zeropoint.

:func:`field_star_zeropoint` (``phrosty.md`` §2.2) is ``median(m_truth - m_inst)`` over stars
with ``19 < m_truth < 21.5``, each star measured with
:func:`romandia.photometry.forced_psf_photometry` at its true position.

Conventions
-----------
Images are ``[y, x]`` in counts (variance in counts^2); star positions are 0-based ``(x, y)``
with (0, 0) the centre of the first pixel (OU truth files are 1-based: subtract 1);
magnitudes are AB, ``m_inst = -2.5 log10(flux)`` with ``flux`` in counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .forced import forced_psf_photometry

__all__ = ["field_star_zeropoint"]


def _robust_scatter(a: np.ndarray) -> float:
    """1.4826 * median absolute deviation (Gaussian sigma equivalent)."""
    if a.size == 0:
        return math.nan
    return float(1.482602218505602 * np.median(np.abs(a - np.median(a))))


def field_star_zeropoint(
    image,
    variance,
    psf_getter: Callable[[float, float], np.ndarray],
    stars_xy: Sequence[tuple[float, float]] | np.ndarray,
    truth_mags: Sequence[float] | np.ndarray,
    mag_range: tuple[float, float] = (19.0, 21.5),
    *,
    fit_shape: int = 5,
    local_bkg: tuple[float, float] | None = (15.0, 25.0),
    aperture_radius: float = 4.0,
) -> dict:
    """Field-star zeropoint ``median(m_truth - m_inst)`` (legacy phrosty, Aldoroty et al. 2025).

    Each star is measured with :func:`forced_psf_photometry` at its true position; stars with
    ``mag_range[0] < m_truth < mag_range[1]``, a successful fit and a positive flux enter the
    median.  ``m_inst = -2.5 log10(flux)`` with ``flux`` in counts, so ``m_AB = m_inst + zpt``.

    Parameters
    ----------
    image, variance : 2-D ndarray
        Image [counts] and variance [counts^2] (phrosty: the decorrelated, cross-convolved
        science image and its PSF).
    psf_getter : callable
        ``psf_getter(x, y) -> stamp``: the PSF stamp at 0-based (x, y) (conventions as in
        :func:`forced_psf_photometry`).
    stars_xy : (N, 2) array_like
        0-based (x, y) star positions in ``image`` (OU truth files are 1-based: subtract 1).
    truth_mags : (N,) array_like
        True calibrated AB magnitudes (OU truth ``mag`` + ``ZPTMAG``).
    mag_range : (float, float)
        Open magnitude interval of stars used (phrosty: 19 < m < 21.5).
    fit_shape, local_bkg, aperture_radius
        Passed to :func:`forced_psf_photometry` (defaults: phrosty's 5, (15, 25) and ``ap_r=4``).

    Returns
    -------
    dict
        ``zpt`` [mag]: median of ``m_truth - m_psf``; ``scatter`` [mag]: its robust (1.4826 MAD)
        per-star scatter; ``zpt_err`` [mag]: ``1.2533 * scatter / sqrt(n)``; ``n``: stars used;
        ``ap_zpt``, ``ap_scatter``: the same for aperture sums (not aperture-corrected, so
        ``ap_zpt`` is smaller than ``zpt`` by the aperture correction); ``delta`` (N,): per-star
        ``m_truth - m_psf`` (NaN for failed stars); ``used`` (N,) bool.
    """
    xy = np.asarray(stars_xy, dtype=float).reshape(-1, 2)
    mags = np.asarray(truth_mags, dtype=float).ravel()
    if len(mags) != len(xy):
        raise ValueError(f"stars_xy has {len(xy)} rows but truth_mags has {len(mags)}")
    lo, hi = mag_range
    delta = np.full(len(xy), np.nan)
    ap_delta = np.full(len(xy), np.nan)
    in_range = (mags > lo) & (mags < hi)
    for i in np.flatnonzero(in_range):
        sx, sy = xy[i]
        res = forced_psf_photometry(
            image,
            variance,
            psf_getter(sx, sy),
            sx,
            sy,
            fit_shape=fit_shape,
            local_bkg=local_bkg,
            aperture_radius=aperture_radius,
        )
        if res["success"] and res["flux"] > 0:
            delta[i] = mags[i] + 2.5 * math.log10(res["flux"])
            if res["aperture_sum"] > 0:
                ap_delta[i] = mags[i] + 2.5 * math.log10(res["aperture_sum"])
    used = np.isfinite(delta)
    good = delta[used]
    ap_good = ap_delta[np.isfinite(ap_delta)]
    n = int(good.size)
    scatter = _robust_scatter(good)
    return {
        "zpt": float(np.median(good)) if n else math.nan,
        "scatter": scatter,
        "zpt_err": 1.2533141373155 * scatter / math.sqrt(n) if n else math.nan,
        "n": n,
        "ap_zpt": float(np.median(ap_good)) if ap_good.size else math.nan,
        "ap_scatter": _robust_scatter(ap_good),
        "delta": delta,
        "used": used,
    }
