"""Parameters of the per-pair difference imaging (:func:`romandia.subtract.difference_pair`).

:data:`DEFAULT_PARAMS` lists every key of ``difference_pair``'s ``params`` dict with its
default (SFFT settings from phrosty / ``SpaceSFFT_Flow``, fit mask, data sufficiency of the
kernel fit, tiling, decorrelation, outputs); ``_params`` merges user values into it and
rejects unknown keys (``ValueError``).  Lengths are in pixels, ``saturation`` in
sky-subtracted counts.
"""

from __future__ import annotations

from romandia.constants import SATURATION_LEVEL
from romandia.sfft_solve import MAX_PIXELS_PER_CALL

__all__ = ["DEFAULT_PARAMS"]

#: Parameters of :func:`difference_pair` (keys of its ``params`` dict) and defaults.
DEFAULT_PARAMS = {
    # SFFT (phrosty / SpaceSFFT_Flow defaults)
    "kernel_half_width": 9,  # GKerHW: kernel is (2w+1)^2 = 19x19
    "kernel_poly_order": 2,  # KerPolyOrder
    "bg_poly_order": 0,  # BGPolyOrder
    "const_phot_ratio": True,  # ConstPhotRatio
    # Template -> science flux ratio.  None: fitted by SFFT (phrosty).  A number: the ratio
    # known from the images' calibrated zeropoints, 10**(0.4 (zp_S - zp_T)); the fitted
    # kernel is rescaled to this sum and the background refitted with it.  On cutouts the
    # fitted ratio scatters by 1-5 % around the calibrated one (noise in a fit over a few
    # thousand pixels), which leaves (ratio error) x host flux under every SN: 1-4 sigma on
    # bright hosts (docs/validation.md, fix 6).
    "flux_scale": None,
    # fit mask: sci_detmask > 0.5 & tmpl_detmask_rs > detmask_threshold & clean
    "detmask_threshold": 0.1,
    "min_fit_pixels": 100,  # fewer fit pixels (per tile) -> DataError
    # Data sufficiency of the kernel fit (docs/validation.md, fix 2).  The delta-basis kernel
    # has (2w+1)^2 * (DK+1)(DK+2)/2 free coefficients (2166 for w=9, DK=2); fitted on fewer
    # pixels than that (a cutout holds a few hundred to a few thousand) it is noise (sum|K|
    # up to 3000 measured) and the difference is garbage.  The polynomial order is lowered
    # until there are >= this many fit pixels per coefficient (full SCAs keep DK=2).
    "min_fit_pixels_per_parameter": 10.0,
    # ... and if even DK=0 is under-determined, the kernel half-width is lowered (not below
    # this): after cross-convolution both images share one PSF, so the kernel only absorbs
    # small PSF-model and resampling differences, which live within a few pixels.
    "min_kernel_half_width": 3,
    # When the extended-source mask is too small even for DK=0, add compact sources
    # (stars) detected in both cross-convolved images ('auto'); True: always; False: never.
    "fit_compact_sources": "auto",
    "compact_detect_sigma": 3.0,  # detection threshold [sigma] of that compact-source mask
    # pixels at or above this (sky-subtracted counts) are saturated: kept out of the fit
    "saturation": SATURATION_LEVEL,
    # memory / tiling of the SFFT call
    # a 1024² pair in 2 tiles: 954 MB peak subtract job at kernel order 2 (docs/benchmarks.md)
    "max_pixels_per_call": MAX_PIXELS_PER_CALL,
    "tile": None,  # (n_tiles_y, n_tiles_x) to force a tiling; None = automatic
    "tile_margin": None,  # px; None = max(32, 2 * (2w + 1))
    "threads": 1,  # pyFFTW / scipy.fft threads
    # decorrelation
    "use_match_kernel": True,  # include K in the filter and variance (phrosty: False)
    "decorr_power_fraction": 0.999,  # crop of the real-space decorrelation kernel
    "decorr_floor": 1e-10,  # floor of the noise power, relative to k=0
    # outputs
    "psf_size": None,  # odd size of the output PSF; None = science PSF stamp size
    "blank_radius_fraction": 0.995,  # kernel radii used to grow the blank mask
}


def _params(params):
    p = dict(DEFAULT_PARAMS)
    if params:
        unknown = set(params) - set(DEFAULT_PARAMS)
        if unknown:
            raise ValueError(
                f"unknown difference_pair params {sorted(unknown)}; known: {sorted(DEFAULT_PARAMS)}"
            )
        p.update(params)
    return p
