"""Sky background, sky RMS and the SFFT detection mask.

This reproduces phrosty's SExtractor set-up (``SEx_SkySubtract``: back size 64, filter 3,
threshold 1.5 sigma, min area 5, keep sources with flux radius > 2 px, dilate by 2) with
``sep`` (the SExtractor library) instead of the SExtractor binary.

``method="photutils"`` takes the sky from photutils instead, with the recipe of phrosty's
PR #199 (:func:`photutils_background`); the detections stay sep's, so the two methods differ
in the background subtracted (and, through it, in which detections pass the flux-radius cut
of the SFFT detection mask).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import sep
from scipy import ndimage

from .constants import SATURATION_LEVEL
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
    method: str = "sep",
    photutils: dict | None = None,
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
    method : {"sep", "photutils"}
        Where the sky comes from: sep's second pass (SExtractor's), or
        :func:`photutils_background` with the keywords ``photutils``.
    photutils : dict, optional
        Keywords of :func:`photutils_background` (config ``sky.photutils``).

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
    if method == "photutils":
        sky, rms = photutils_background(data, bad, **(photutils or {}))
    elif method == "sep":
        sky, rms = bkg.back(), bkg.rms()
    else:
        raise ValueError(f"sky method must be 'sep' or 'photutils', got {method!r}")
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


def photutils_background(data: np.ndarray, bad: np.ndarray, *, box: int = 64, filter_size: int = 3,
                         nsigma: float = 20.0, npixels: int = 10, footprint_radius: int = 10,
                         nonlinear_level: float | None = SATURATION_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Sky and sky RMS with photutils, phrosty PR #199's recipe.

    Sources detected at ``nsigma`` above a sigma-clipped threshold (``npixels`` connected
    pixels) and pixels above ``nonlinear_level`` are masked, grown by a circular footprint of
    ``footprint_radius`` px; then ``Background2D`` (median in ``box``² meshes, sigma-clipped,
    median-filtered over ``filter_size`` meshes).

    Parameters
    ----------
    data : ndarray
        Counts per exposure, ``[y, x]``.
    bad : ndarray of bool
        Pixels to leave out (NaN, DQ-masked).
    box, filter_size, nsigma, npixels, footprint_radius
        As above [px, meshes, sigma, px, px].
    nonlinear_level : float or None
        Counts above which pixels are masked (None: none); default the level the
        subtraction treats as saturated (:data:`romandia.constants.SATURATION_LEVEL`).

    Returns
    -------
    (sky, rms) : (ndarray, ndarray)
        Background and background RMS maps [counts].

    Raises
    ------
    DataError
        ``sky_subtract``: photutils could not estimate the background (too few good meshes).
    """
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MedianBackground
    from photutils.segmentation import detect_sources, detect_threshold
    from photutils.utils import NoDetectionsWarning, circular_footprint

    work = np.where(bad, 0.0, data)
    clip = SigmaClip(sigma=3.0)
    try:
        mask = bad.copy()
        threshold = detect_threshold(work, n_sigma=nsigma, mask=bad, sigma_clip=clip)
        with warnings.catch_warnings():  # no source above 20 sigma is fine: nothing to mask
            warnings.simplefilter("ignore", NoDetectionsWarning)
            segm = detect_sources(work, threshold, n_pixels=npixels, mask=bad)
        if segm is not None:
            mask |= segm.make_source_mask(footprint=circular_footprint(radius=footprint_radius))
        if nonlinear_level is not None:
            hot = work > nonlinear_level
            if hot.any():
                mask |= ndimage.binary_dilation(hot, structure=circular_footprint(footprint_radius)) | hot
        b = min(box, *data.shape)
        bkg = Background2D(work, (b, b), filter_size=(filter_size, filter_size), mask=mask, sigma_clip=clip,
                           bkg_estimator=MedianBackground())
    except ValueError as exc:  # photutils: too many masked meshes, ...
        raise DataError("sky_subtract", f"photutils background failed: {exc}") from None
    return np.asarray(bkg.background, dtype=np.float64), np.asarray(bkg.background_rms, dtype=np.float64)
