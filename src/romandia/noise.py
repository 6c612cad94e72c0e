"""Per-pixel variance models.

OU2024's ERR HDU is a noisy sky realisation, not a 1-sigma map, so by default romandia
builds each pixel's variance from the data: the measured sky RMS (sky Poisson + dark +
read noise, as the background estimator sees it) plus the Poisson variance of the sources.
``mode="err"`` reproduces phrosty (ERR**2).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .constants import GAIN


def variance_map(
    skysub: np.ndarray,
    sky_rms_map: np.ndarray,
    err: np.ndarray | None = None,
    mode: str = "model",
    gain: float = GAIN,
    smooth: float = 0.0,
) -> np.ndarray:
    """Variance of each pixel [counts^2].

    Parameters
    ----------
    skysub : ndarray
        Sky-subtracted image [counts], ``[y, x]``.
    sky_rms_map : ndarray
        Background RMS map [counts] (from :func:`romandia.sky.subtract_sky`).
    err : ndarray, optional
        The image's ERR HDU (used only when ``mode="err"``).
    mode : {"model", "err"}
        ``"model"``: ``rms^2 + S / gain`` with S the pixel's own sky-subtracted signal: an
        unbiased estimate of each pixel's variance (``E[S]`` is the source's expected
        counts; ``S`` is not clipped at 0, which would bias the variance of sky pixels up by
        ``0.4 rms / gain``), floored at ``rms^2 / 4`` against artefacts.  It is meant for
        error propagation; photometry does not weight by it (``photometry.weights:
        background``), because weights that follow a pixel's own noise bias PSF fluxes.
        ``"err"``: ``err**2`` (phrosty's convention; wrong for OU2024 where ERR is a sky
        image).
    gain : float
        e- per count.
    smooth : float
        Gaussian sigma [px] of a smoothing of S (then clipped at 0); 0 (default) disables
        it.  Smoothing by 1 px (romandia <= 0.1) spread the source term of the undersampled
        R062 PSF (its central pixel holds ~45 % of the flux) over the neighbours and
        underestimated the central pixel's variance three- to four-fold: bright-SN flux
        errors came out ~2x too small (docs/validation.md, fix 5).

    Returns
    -------
    ndarray (float32)
        NaN where ``skysub`` is NaN.
    """
    if mode == "err":
        if err is None:
            raise ValueError("variance mode 'err' needs the ERR HDU")
        var = np.asarray(err, dtype=np.float64) ** 2
    elif mode == "model":
        sig = np.nan_to_num(np.asarray(skysub, dtype=np.float64), nan=0.0)
        rms2 = np.asarray(sky_rms_map, dtype=np.float64) ** 2
        if smooth > 0:
            sig = np.clip(ndimage.gaussian_filter(sig, smooth, mode="nearest"), 0.0, None)
        var = np.maximum(rms2 + sig / gain, 0.25 * rms2)
    else:
        raise ValueError(f"unknown variance mode '{mode}' (use 'model' or 'err')")
    var = var.astype(np.float32)
    var[~np.isfinite(skysub)] = np.nan
    return var
