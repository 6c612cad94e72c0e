"""Step ``align``: each template resampled onto its science image's grid, its PSF rotated."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np

from .. import checks, products, resample
from ..io import header_wcs, sky_to_pixel
from ..xp import asarray, nvtx_range


def align_template(sci: Mapping, tmpl: Mapping, tmpl_psf: Callable[[], np.ndarray], radec: tuple[float, float], *,
                   kernel: str, sci_key: str, tmpl_key: str, xp=None,
                   log: logging.Logger | None = None) -> dict:
    """Resample a template (image, variance, detection mask) onto the science grid.

    Parameters
    ----------
    sci : mapping
        The science image's sky product, ``{"SKYSUB": (data, header)}`` at least.
    tmpl : mapping
        The template's sky product: ``SKYSUB``, ``VAR``, ``DETMASK``.
    tmpl_psf : callable
        ``tmpl_psf()`` -> the template's PSF (``PSF`` of the psf product) at ``radec``,
        centred; called after the overlap check, so that a template that does not overlap
        the science image is reported as such (and not as the object outside it).
    radec : (float, float)
        Where the PSF is rotated from the template frame to the science frame [deg] (the
        pair's anchor object).
    kernel : str
        Interpolant (config ``resample_kernel``).
    sci_key, tmpl_key : str
        Image keys, for messages.
    xp : module, optional
        Array namespace (:func:`romandia.xp.select_backend`); the template's arrays and the
        pixel map are moved to it once and the aligned arrays stay there.  Default NumPy.

    Returns
    -------
    dict
        The aligned member: ``TMPL``, ``TMPLVAR``, ``TMPLMASK``, ``BLANK`` on the science
        grid; ``PSFT`` (the template PSF in the science frame); ``TMPLVAR0`` (the template
        variance on its own grid, for the exact error propagation).

    Raises
    ------
    DataError
        ``align``: the images do not overlap; or the DataError ``tmpl_psf`` raises.
    """
    sci_data, sci_hdr = sci["SKYSUB"]
    tmpl_data, tmpl_hdr = tmpl["SKYSUB"]
    w_sci, w_tmpl = header_wcs(sci_hdr), header_wcs(tmpl_hdr)
    xs, ys = checks.template_pixel_map(w_sci, sci_data.shape, w_tmpl, tmpl_data.shape, sci_key, tmpl_key)
    xp = xp or np
    with nvtx_range("resample"):
        rs = resample.resample_image_set(asarray(tmpl_data, xp), asarray(xs, xp), asarray(ys, xp),
                                         var=asarray(tmpl["VAR"][0], xp), mask=asarray(tmpl["DETMASK"][0], xp),
                                         kernel=kernel)
    psf_t = asarray(tmpl_psf(), xp)
    ra, dec = radec
    xs0, ys0 = sky_to_pixel(w_sci, ra, dec)
    xt0, yt0 = sky_to_pixel(w_tmpl, ra, dec)
    psft = resample.rotate_psf(psf_t, resample.local_jacobian(w_tmpl, xt0, yt0),
                               resample.local_jacobian(w_sci, xs0, ys0))
    hdr = sci_hdr.copy()
    hdr[products.KEY_TSKYRMS] = (float(tmpl_hdr[products.KEY_SKYRMS]), "template sky RMS before resampling [counts]")
    hdr[products.KEY_TMPLNAME] = str(tmpl_hdr.get(products.KEY_SOURCE, ""))
    hdr[products.KEY_TZPTMAG] = (float(tmpl_hdr["ZPTMAG"]), "template ZPTMAG (calibrated flux ratio)")
    if log is not None:
        log.info("template %s resampled onto %s (%.1f%% blank), PSF rotated at (%.2f, %.2f)",
                 tmpl_key, sci_data.shape, 100 * float(xp.mean(rs["blank"])), xs0, ys0)
    return {
        "TMPL": (rs["image"], hdr),
        "TMPLVAR": (rs["var"], hdr),
        "TMPLMASK": (rs["mask"], hdr),
        "BLANK": (rs["blank"], hdr),
        "PSFT": (psft, None),
        "TMPLVAR0": (tmpl["VAR"][0], tmpl["VAR"][1]),
    }
