"""Forced PSF photometry, aperture sums, NEA and the field-star zeropoint.

This is phrosty's forced photometry (``make_phot_info_dict`` / ``phot_at_coords``,
reference ``phrosty.md`` §4.6) as pure functions:

* :func:`forced_psf_photometry` fits the amplitude of a PSF stamp at a *fixed* position with
  photutils ``PSFPhotometry`` + ``ImagePSF`` (``x_0``/``y_0`` fixed), weighting every pixel of the
  ``fit_shape`` box by ``1/sqrt(variance)``; it also returns a ``r = 3`` px exact circular
  aperture sum, the noise-equivalent area and the fit's reduced chi^2.
* :func:`linear_psf_flux` is an independent closed-form weighted-least-squares amplitude fit
  (no photutils; the stamp is shifted with a cubic spline from :mod:`scipy.ndimage`), used as a
  cross-check.
* :func:`field_star_zeropoint` is the legacy phrosty / paper field-star zeropoint
  (``phrosty.md`` §2.2): ``median(m_truth - m_inst)`` over stars with ``19 < m_truth < 21.5``.
* :func:`estimator_weights` writes the forced flux as a linear estimator
  ``flux = Σ a_i image_i`` (for :mod:`romandia.errorprop`) and :func:`chi2_error_scale`
  inflates a fit's error by ``sqrt(max(1, χ²_ν))``.

Submodules: ``fitbox`` (the fit box and the PSF sampled on it; :func:`noise_equivalent_area`,
:func:`shift_psf`), ``forced`` (:func:`forced_psf_photometry`), ``estimator``
(:func:`estimator_weights`, :func:`chi2_error_scale`), ``linear`` (:func:`linear_psf_flux`),
``zeropoint`` (:func:`field_star_zeropoint`).  Everything listed in ``__all__`` (and the
private helpers) is importable from ``romandia.photometry``.

Pixel, flux and PSF-stamp conventions: the docstring of :mod:`romandia.photometry.forced`.
"""

from .estimator import chi2_error_scale, estimator_weights
from .fitbox import _check_fit_shape as _check_fit_shape
from .fitbox import _check_psf as _check_psf
from .fitbox import _fit_box as _fit_box
from .fitbox import _model as _model
from .fitbox import _nearest_pixel as _nearest_pixel
from .fitbox import _psf_on_box as _psf_on_box
from .fitbox import _to_numpy as _to_numpy
from .fitbox import noise_equivalent_area, shift_psf
from .forced import _FATAL_PSF_FLAGS as _FATAL_PSF_FLAGS
from .forced import _empty_result as _empty_result
from .forced import forced_psf_photometry
from .linear import linear_psf_flux
from .zeropoint import _robust_scatter as _robust_scatter
from .zeropoint import field_star_zeropoint

__all__ = [
    "forced_psf_photometry",
    "linear_psf_flux",
    "field_star_zeropoint",
    "noise_equivalent_area",
    "shift_psf",
    "estimator_weights",
    "chi2_error_scale",
]
