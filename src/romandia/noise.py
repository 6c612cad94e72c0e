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
    smooth: float = 1.0,
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
        ``"model"``: ``rms^2 + max(S, 0) / gain`` where S is the source signal smoothed by a
        Gaussian of ``smooth`` px, so the weights do not follow the pixel's own noise
        (weighting by a noisy variance biases PSF fluxes low).  ``"err"``: ``err**2``
        (phrosty's convention; wrong for OU2024 where ERR is a sky image).
    gain : float
        e- per count.
    smooth : float
        Gaussian sigma [px] of the source-signal smoothing; 0 disables it.

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
        if smooth > 0:
            sig = ndimage.gaussian_filter(sig, smooth, mode="nearest")
        var = np.asarray(sky_rms_map, dtype=np.float64) ** 2 + np.clip(sig, 0.0, None) / gain
    else:
        raise ValueError(f"unknown variance mode '{mode}' (use 'model' or 'err')")
    var = var.astype(np.float32)
    var[~np.isfinite(skysub)] = np.nan
    return var
