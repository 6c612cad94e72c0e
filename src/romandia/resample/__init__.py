"""WCS resampling of a template (image, variance, mask) onto the science pixel grid, and
PSF rotation between pixel frames.

Pixel, flux and PSF-stamp conventions: the docstring of :mod:`romandia.resample.pixelmap`.
"""

from .interpolation import _CHUNK as _CHUNK
from .interpolation import KERNELS
from .interpolation import _accumulate as _accumulate
from .interpolation import _check_kernel as _check_kernel
from .interpolation import _weights_1d as _weights_1d
from .pixelmap import _check_overlap as _check_overlap
from .pixelmap import _inside as _inside
from .pixelmap import _nodes as _nodes
from .pixelmap import _project as _project
from .pixelmap import pixel_area_ratio, pixel_map
from .resampling import _blank as _blank
from .resampling import _maps as _maps
from .resampling import _prepare as _prepare
from .resampling import (
    resample,
    resample_adjoint,
    resample_image_set,
    resample_mask,
    resample_variance,
)
from .rotation import local_jacobian, rotate_psf

__all__ = [
    "pixel_map",
    "pixel_area_ratio",
    "resample",
    "resample_variance",
    "resample_adjoint",
    "resample_mask",
    "resample_image_set",
    "local_jacobian",
    "rotate_psf",
    "KERNELS",
]
