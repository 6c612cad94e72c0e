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
                   tmpl_psf_at: Callable[[float, float], np.ndarray] | None = None,
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
    tmpl_psf_at : callable, optional
        ``tmpl_psf_at(x, y)`` -> the template's PSF drawn at the sub-pixel phase of the
        template-frame position (x, y) (config ``template_psf: resampled``).
        ``PSFT`` is then the PSF of the *resampled* template at the science pixel nearest the
        object: the template PSF drawn where the pixel map puts that pixel and resampled with
        the image's own interpolant (:func:`romandia.resample.rotate_psf` with ``offset``), so
        the cross-convolution gives the science image the blur the interpolation gave the
        template (otherwise left under the SN as a positive host residual on compact hosts:
        docs/validation_sed.md; experimental).  ``PSFT0`` is then the PSF without that blur,
        which the decorrelation is built with (:func:`romandia.subtract.difference_pair`
        ``tmpl_psf_noise``).  None: the centred ``tmpl_psf()`` rotated with a cubic B-spline
        (``template_psf: rotated``, the default).

    Returns
    -------
    dict
        The aligned member: ``TMPL``, ``TMPLVAR``, ``TMPLMASK``, ``BLANK`` on the science
        grid; ``PSFT`` (the template PSF in the science frame); ``TMPLVAR0`` (the template
        variance on its own grid, for the exact error propagation); with ``tmpl_psf_at`` also
        ``PSFT0``.

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
    ra, dec = radec
    xs0, ys0 = sky_to_pixel(w_sci, ra, dec)
    xt0, yt0 = sky_to_pixel(w_tmpl, ra, dec)
    jt, js = resample.local_jacobian(w_tmpl, xt0, yt0), resample.local_jacobian(w_sci, xs0, ys0)
    if tmpl_psf_at is None:
        psft = resample.rotate_psf(asarray(tmpl_psf(), xp), jt, js)
    else:
        # the template position of the science pixel nearest the object (the pixel map's
        # linear part about the object: the same phase the image's interpolation had there)
        p = np.array([np.floor(xs0 + 0.5), np.floor(ys0 + 0.5)])
        q = np.array([xt0, yt0]) + np.linalg.solve(jt, js) @ (p - np.array([xs0, ys0]))
        offset = q - np.floor(q + 0.5)
        psft = resample.rotate_psf(asarray(tmpl_psf_at(float(q[0]), float(q[1])), xp), jt, js, kernel=kernel,
                                   offset=(float(offset[0]), float(offset[1])))
        psft0 = resample.rotate_psf(asarray(tmpl_psf(), xp), jt, js)  # without that blur, for the decorrelation
    hdr = sci_hdr.copy()
    hdr[products.KEY_TSKYRMS] = (float(tmpl_hdr[products.KEY_SKYRMS]), "template sky RMS before resampling [counts]")
    hdr[products.KEY_TMPLNAME] = str(tmpl_hdr.get(products.KEY_SOURCE, ""))
    hdr[products.KEY_TZPTMAG] = (float(tmpl_hdr["ZPTMAG"]), "template ZPTMAG (calibrated flux ratio)")
    if log is not None:
        how = "rotated" if tmpl_psf_at is None else f"resampled ({kernel}) from its phase"
        log.info("template %s resampled onto %s (%.1f%% blank), PSF %s at (%.2f, %.2f)",
                 tmpl_key, sci_data.shape, 100 * float(xp.mean(rs["blank"])), how, xs0, ys0)
    return {
        "TMPL": (rs["image"], hdr),
        "TMPLVAR": (rs["var"], hdr),
        "TMPLMASK": (rs["mask"], hdr),
        "BLANK": (rs["blank"], hdr),
        "PSFT": (psft, None),
        "TMPLVAR0": (tmpl["VAR"][0], tmpl["VAR"][1]),
        **({} if tmpl_psf_at is None else {"PSFT0": (psft0, None)}),
    }
