"""Sky background, sky RMS and the SFFT detection mask.

This reproduces phrosty's SExtractor set-up (``SEx_SkySubtract``: back size 64, filter 3,
threshold 1.5 sigma, min area 5, keep sources with flux radius > 2 px, dilate by 2) with
``sep`` (the SExtractor library) instead of the SExtractor binary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep
from scipy import ndimage

from .errors import DataError


@dataclass
class SkyResult:
    """Result of :func:`subtract_sky`.

    Attributes
    ----------
    skysub : ndarray
        Sky-subtracted image [counts], ``[y, x]``; NaN where the input was NaN.
    sky : ndarray
        Background map [counts].
    rms : ndarray
        Background RMS map [counts].
    detmask : ndarray of bool
        Pixels of extended sources (flux radius > ``radius_cut``), dilated: SFFT fits only
        these pixels.
    segmap : ndarray of int
        sep segmentation map of all detections (0 = sky).
    sky_rms : float
        Median of ``rms`` [counts], phrosty's scalar ``skyrms``.
    n_sources : int
        Number of detections.
    n_masked_sources : int
        Number of detections kept in ``detmask``.
    """

    skysub: np.ndarray
    sky: np.ndarray
    rms: np.ndarray
    detmask: np.ndarray
    segmap: np.ndarray
    sky_rms: float
    n_sources: int
    n_masked_sources: int


def subtract_sky(
    image: np.ndarray,
    back_size: int = 64,
    filter_size: int = 3,
    detect_thresh: float = 1.5,
    min_area: int = 5,
    radius_cut: float = 2.0,
    dilate: int = 2,
    deblend_cont: float = 0.005,
) -> SkyResult:
    """Estimate the sky, subtract it, and build the detection mask of extended sources.

    Parameters
    ----------
    image : ndarray
        Counts per exposure, ``[y, x]``; NaN marks bad pixels.
    back_size : int
        Background mesh size [px] (SExtractor ``BACK_SIZE``).
    filter_size : int
        Background median-filter size [meshes] (``BACK_FILTERSIZE``).
    detect_thresh : float
        Detection threshold in units of the background RMS (``DETECT_THRESH``).
    min_area : int
        Minimum connected pixels of a detection (``DETECT_MINAREA``).
    radius_cut : float
        Keep detections whose half-light radius (``FLUX_RADIUS``) exceeds this [px].
    dilate : int
        Binary dilations (4-connected) of the kept segments, into sky pixels only.
    deblend_cont : float
        ``DEBLEND_MINCONT``.

    Returns
    -------
    SkyResult

    Notes
    -----
    Two passes: a first background gives the detection threshold; detected pixels are
    then masked and the background re-estimated, as phrosty's SExtractor + sep pair does.
    """
    data = np.ascontiguousarray(image, dtype=np.float64)
    bad = ~np.isfinite(data)
    if bad.all():
        raise DataError("sky_subtract", "image is all NaN")
    work = np.where(bad, 0.0, data)
    ny, nx = data.shape
    bw = min(back_size, nx)
    bh = min(back_size, ny)
    try:
        bkg0 = sep.Background(work, mask=bad, bw=bw, bh=bh, fw=filter_size, fh=filter_size)
        sub0 = work - bkg0.back()
        sep.set_extract_pixstack(max(300000, 2 * data.size))
        sep.set_sub_object_limit(4096)
        objs, seg = sep.extract(
            sub0,
            detect_thresh,
            err=bkg0.rms(),
            mask=bad,
            minarea=min_area,
            deblend_cont=deblend_cont,
            segmentation_map=True,
        )
        objmask = (seg > 0) | bad
        bkg = sep.Background(work, mask=objmask, bw=bw, bh=bh, fw=filter_size, fh=filter_size)
    except Exception as exc:  # sep raises plain Exceptions for degenerate data
        raise DataError("sky_subtract", f"sep failed: {exc}") from None
    sky = bkg.back()
    rms = bkg.rms()
    skysub = work - sky
    keep = np.zeros(0, dtype=int)
    if len(objs):
        rmax = np.clip(6.0 * objs["a"], 3.0, 50.0)
        r, flag = sep.flux_radius(skysub, objs["x"], objs["y"], rmax, 0.5, subpix=5)
        keep = np.nonzero(np.isfinite(r) & (r > radius_cut))[0] + 1  # segment ids are 1-based
    detmask = np.isin(seg, keep) if keep.size else np.zeros(seg.shape, bool)
    if dilate > 0 and detmask.any():
        grown = ndimage.binary_dilation(detmask, structure=ndimage.generate_binary_structure(2, 1), iterations=dilate)
        detmask = detmask | (grown & (seg == 0))
    skysub[bad] = np.nan
    finite_rms = rms[~bad]
    sky_rms = float(np.median(finite_rms)) if finite_rms.size else float("nan")
    if not np.isfinite(sky_rms) or sky_rms <= 0:
        raise DataError("sky_subtract", f"sky RMS is {sky_rms}; blank or constant image")
    return SkyResult(
        skysub=skysub.astype(np.float32),
        sky=sky.astype(np.float32),
        rms=rms.astype(np.float32),
        detmask=detmask,
        segmap=seg.astype(np.int32),
        sky_rms=sky_rms,
        n_sources=int(len(objs)),
        n_masked_sources=int(keep.size),
    )
