"""WCS resampling of a template (image, variance, mask) onto the science pixel grid, and
PSF rotation between pixel frames.

Conventions
-----------
* Images are ``[y, x]``; pixel coordinates are **0-based** with ``(0, 0)`` at the centre
  of the first pixel (astropy ``origin=0``).  A pixel ``(x, y)`` covers
  ``[x - 0.5, x + 0.5) × [y - 0.5, y + 0.5)``.
* A *pixel map* ``(xs, ys)`` gives, for every target pixel ``[y, x]``, the 0-based
  coordinates of its centre in the source frame.  Resampling pulls source values at
  those coordinates (backward mapping), so it never leaves holes.
* Fluxes are counts per pixel.  With ``conserve_flux=True`` resampled values are
  multiplied by the local pixel-area ratio ``|det J|`` where ``J = ∂(xs, ys)/∂(x, y)``
  (source pixels per target pixel, i.e. target pixel area / source pixel area), so a
  star keeps its total counts when the two frames have different pixel areas
  (distortion, plate-scale differences).  Variances are multiplied by ``|det J|²``.
  Masks are never rescaled.

Interpolation kernels
---------------------
``'lanczos3'``, ``'lanczos4'``, ``'lanczos5'`` (separable Lanczos-a, 2a×2a taps),
``'bilinear'`` (2×2 taps) and ``'nearest'`` (1 tap); see
:mod:`romandia.resample.interpolation`.

All array work goes through ``xp`` (NumPy or CuPy); the WCS evaluation (astropy) and the
spline interpolation of the pixel map (scipy) run on the host.

Submodules
----------
``pixelmap``
    :func:`pixel_map`, :func:`pixel_area_ratio`.
``interpolation``
    :data:`KERNELS`, the 1-D kernel weights and the tap-by-tap accumulation.
``resampling``
    :func:`resample_image_set`, :func:`resample`, :func:`resample_variance`,
    :func:`resample_adjoint`, :func:`resample_mask`.
``rotation``
    :func:`local_jacobian`, :func:`rotate_psf`.

Everything listed in ``__all__`` (and the private helpers) is importable from
``romandia.resample``.
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
