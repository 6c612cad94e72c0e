"""Step ``photometry``: stamps and forced PSF photometry of every (object, template) row of a
science image, with the field-star calibration applied (:mod:`romandia.photometry`).

The PSF of a point source in the decorrelated difference is ``decorrelation kernel (x)
science PSF at the object (x) template PSF used in the cross-convolution``; it is rebuilt
for each object, so objects sharing a pair (whose subtraction used the anchor object's PSFs)
are measured with their own PSF.  The science PSF is the one drawn at the object's sub-pixel
position (the other two are centred kernels), so the model needs no interpolation.

The flux error is propagated exactly to the science and original template pixels
(:mod:`romandia.errorprop`, with covariances) unless ``photometry.flux_err: pixel``, then
scaled by ``sqrt(max(1, chi2_red))`` unless ``photometry.chi2_scaling: false``.  The field-star
calibration of the science image with this template divides the flux and adds its error in
quadrature; ``flux_uncal`` and ``flux_err_uncal`` keep the values before it, ``calib_*`` say
what was applied or why not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np

from .. import calibration, checks, errorprop, lightcurve, photometry, products, resample, stamps
from ..chromatic import response as chromatic_response
from ..constants import zeropoint
from ..convolve import kernel_convolve
from ..dq import DEFAULT_IGNORE, mask_bits
from ..errors import DataError
from ..io import header_wcs, sky_to_pixel
from . import chromatic

#: stamp HDU -> HDU of the difference product it is cut from (shared or member)
STAMP_SOURCES = {"SCI": "SCI", "TEMPLATE": "TMPL", "DIFF": "DIFF", "VAR": "VAR", "SCIVAR": "SCIVAR",
                 "TMPLVAR0": "TMPLVAR0"}


def cut_stamps(images: Mapping, ra: float, dec: float, size: int) -> dict:
    """``{stamp HDU: (cutout, header)}`` around (ra, dec) of every :data:`STAMP_SOURCES`."""
    return {name: stamps.cutout(*images[src], ra, dec, size) for name, src in STAMP_SOURCES.items()}


def calibration_columns(cal: Mapping) -> dict:
    """The ``calib_*`` lightcurve columns of a calibration (dict form)."""
    return {"calib_ratio": cal.get("ratio", np.nan), "calib_ratio_err": cal.get("ratio_err", np.nan),
            "calib_nstars": int(cal.get("n_stars", 0)), "calib_status": cal["status"]}


def propagated_error(st: Mapping, member: Mapping, psf_eff, x: float, y: float, phot: Mapping, kernel: str,
                     log: logging.Logger | None = None) -> float:
    """Flux error with the covariances: the fit's weights carried back to the input pixels
    (science pixels and the template's own pixels) through the pair's noise kernels."""
    diff, hdr = st["DIFF"]
    tvar, thdr = st["TMPLVAR0"]
    a = photometry.estimator_weights(psf_eff, st["VAR"][0], x, y, fit_shape=phot["fit_shape"],
                                     psf_at_position=True, weights=phot.get("weights", "background"))
    xs, ys = resample.pixel_map(header_wcs(hdr), diff.shape, header_wcs(thdr), shape_source=tvar.shape)
    v = errorprop.propagated_flux_variance(a, member["KSCI"][0], member["KTMPL"][0], st["SCIVAR"][0], tvar,
                                           xs, ys, kernel=kernel)
    if log is not None:
        log.info("propagated flux variance: science %.4g + template %.4g counts^2", v["var_sci"], v["var_tmpl"])
    return float(np.sqrt(v["var"]))


def measure_object(st: Mapping, member: Mapping, psf_sci: np.ndarray, ra: float, dec: float, *,
                   phot: Mapping, resample_kernel: str, cal: Mapping, apply_calibration: bool,
                   sci_dq: tuple | None = None, dq_bits: int = 0, chroma: tuple | None = None,
                   log: logging.Logger | None = None) -> tuple[dict, dict]:
    """Forced PSF photometry of one object on one pair.

    Parameters
    ----------
    st : mapping
        The object's stamps (:func:`cut_stamps`).
    member : mapping
        The pair's difference member (``DECORR``, ``PSFT``, ``KSCI``, ``KTMPL``).
    psf_sci : ndarray
        The science PSF drawn at the object's sub-pixel position (``ATPOS``).
    ra, dec : float
        Object position [deg].
    phot : mapping
        Config ``photometry``.
    resample_kernel : str
        The interpolant the template was resampled with (for the error propagation).
    cal : mapping
        The pair's calibration (:meth:`romandia.calibration.Calibration.to_dict`).
    apply_calibration : bool
        Divide the flux by the calibration ratio (config ``calibration.apply``).
    sci_dq : (ndarray, Header), optional
        The science image's DQ and WCS header; masked pixels (``dq_bits``) in the fit box fail
        the row naming their flags (:func:`romandia.checks.check_dq_at_object`).
    chroma : (ndarray, ndarray), optional
        The chromatic PSF's basis stamps at the object (as ``psf_sci``) and the model SED's
        weights: the row gets ``chrom_resp``, the fit's normalised responses
        (:func:`romandia.chromatic.response.responses`), for the lightcurve's correction.

    Returns
    -------
    (result, meta) : (dict, dict)
        The photometry (``flux``, ``flux_err``, ``flux_err_pixel``, ``flux_uncal``, ...) and the
        row metadata it determines (``mjd``, ``zpt``, ``sky_rms``, ``pix_x``, ``pix_y``).

    Raises
    ------
    DataError
        ``photometry``: saturated object, failed fit, ...
    """
    diff, hdr = st["DIFF"]
    meta = {"mjd": float(hdr["MJD-OBS"]), "zpt": zeropoint(str(hdr["FILTER"]).strip(), float(hdr["ZPTMAG"])),
            "sky_rms": float(hdr.get(products.KEY_SKYRMS, np.nan))}
    x, y = sky_to_pixel(header_wcs(hdr), ra, dec)
    meta.update(pix_x=x + int(hdr.get(products.KEY_X0, 0)), pix_y=y + int(hdr.get(products.KEY_Y0, 0)))
    try:
        # a saturated (clipped) object has no usable flux: flag the row instead of fitting
        # (within the aperture and the fit box)
        radius = max(float(phot["aperture_radius"]), (int(phot["fit_shape"]) - 1) / 2 * 2**0.5)
        checks.check_not_saturated(st, ra, dec, radius)
        if sci_dq is not None:
            checks.check_dq_at_object(sci_dq[0], sci_dq[1], ra, dec, int(phot["fit_shape"]), dq_bits)
        psft = member["PSFT"][0]
        # the template PSF entered the cross-convolution as a kernel normalised to sum 1
        psf_eff = kernel_convolve(kernel_convolve(psf_sci, psft / psft.sum()), member["DECORR"][0])
        res = photometry.forced_psf_photometry(
            diff, st["VAR"][0], psf_eff, x, y,
            fit_shape=phot["fit_shape"],
            local_bkg=tuple(phot["local_bkg"]) if phot["local_bkg"] else None,
            aperture_radius=phot["aperture_radius"],
            psf_at_position=True,
            weights=phot.get("weights", "background"),
        )
        if not res["success"]:
            raise DataError("photometry", res.get("message") or "fit failed")
        if chroma is not None:
            # psft ⊗ DECORR: the kernel the model got (full convolutions compose exactly)
            to_difference = kernel_convolve(psft / psft.sum(), member["DECORR"][0])
            try:
                r = chromatic_response.responses(chroma[0], to_difference, psf_eff, st["VAR"][0], x, y,
                                                 fit_shape=phot["fit_shape"],
                                                 weights=phot.get("weights", "background"), w_model=chroma[1])
                meta["chrom_resp"] = chromatic_response.format_response(r)
            except ValueError as exc:  # the row keeps its flux; its chrom_status will say why
                if log is not None:
                    log.warning("chromatic responses not computed: %s", exc)
        res["flux_err_pixel"] = res["flux_err"]
        if phot["flux_err"] == "propagated":
            res["flux_err"] = propagated_error(st, member, psf_eff, x, y, phot, resample_kernel, log)
        if phot["chi2_scaling"]:
            res["flux_err"] *= photometry.chi2_error_scale(res["chi2_red"])
        res["flux_uncal"], res["flux_err_uncal"] = res["flux"], res["flux_err"]
        if apply_calibration:
            res["flux"], res["flux_err"] = calibration.apply(res["flux"], res["flux_err"], cal)
    except DataError as err:
        err.meta = meta  # what is known of the pair stays in the failed row
        raise
    return res, meta


def measure_science(diff: products.Batch, prepared: products.Batch, rows: list[Mapping], calibrations: Mapping, *,
                    phot: Mapping, resample_kernel: str, apply_calibration: bool,
                    dq_ignore: Iterable = DEFAULT_IGNORE, psf_cfg: Mapping | None = None,
                    bases: Mapping | None = None, log: logging.Logger | None = None) -> tuple[list[dict], dict]:
    """Every row of one science image: stamps, photometry, calibration.

    Parameters
    ----------
    diff : romandia.products.Batch
        The science image's difference product (members = template keys).
    prepared : romandia.products.Batch
        The science image's prepared product (its PSF members = object ids).
    rows : list of mapping
        One per (object, template): ``oid``, ``ra``, ``dec``, ``template`` (key) and ``meta``
        (the lightcurve columns known from the plan: names, ids, SCAs, band).
    calibrations : mapping
        ``template -> calibration dict`` (``status`` says why it is not measured).
    phot, resample_kernel, apply_calibration :
        As :func:`measure_object`.
    dq_ignore : iterable of str
        Config ``dq.ignore``: a science pixel with any other DQ flag inside an object's fit
        box fails that row, naming the flags (:func:`romandia.checks.check_dq_at_object`).
    psf_cfg, bases : mapping, optional
        Config ``psf`` and the objects' chromatic bases from the prepare product
        (:func:`romandia.steps.chromatic.read_bases`): their rows get ``chrom_resp``
        (:func:`measure_object`).

    Returns
    -------
    (rows, stamps) : (list of dict, dict)
        The lightcurve rows (failed ones with ``success=False`` and ``failure_reason``) and
        the stamp members ``{"{oid}.{template}": {HDU: (data, header)}}``.
    """
    shared = None
    bits = mask_bits(dq_ignore)
    bases = bases if psf_cfg is not None and bases else {}
    chroma: dict = {}  # oid -> (basis stamps, model weights)
    members: dict = {}  # template -> its difference member, read once for all objects
    out_rows, out_stamps = [], {}
    for spec in rows:
        t, oid = spec["template"], spec["oid"]
        meta = dict(spec["meta"], oid=int(oid), ra=float(spec["ra"]), dec=float(spec["dec"]))
        cal = dict(calibrations.get(t) or {"status": f"unmeasured: template {t} not calibrated"})
        if cal["status"] == "measured" and not apply_calibration:
            cal["status"] = "measured, not applied (calibration.apply: false)"
        meta.update(calibration_columns(cal))
        try:
            if t not in members:
                members[t] = diff.member(t, products.DIFFERENCE_HDUS + products.DIFFERENCE_CARRIED)
            member = members[t]
            psf_sci = prepared.member(oid, ["ATPOS"])["ATPOS"][0]
            if str(oid) in bases and str(oid) not in chroma:
                b = bases[str(oid)]
                chroma[str(oid)] = (chromatic.object_stamps(prepared, oid, b, psf_cfg),
                                    chromatic.model_weights(psf_cfg, meta["band"], len(b.waves)))
            if shared is None:
                shared = diff.shared(products.DIFFERENCE_SHARED)
            st = cut_stamps({**shared, **member}, meta["ra"], meta["dec"], int(phot["stamp_size"]))
            out_stamps[f"{oid}.{t}"] = st
            res, m = measure_object(st, member, psf_sci, meta["ra"], meta["dec"], phot=phot,
                                    resample_kernel=resample_kernel, cal=cal,
                                    apply_calibration=apply_calibration,
                                    sci_dq=(shared["SCIDQ"][0], shared["SCI"][1]), dq_bits=bits,
                                    chroma=chroma.get(str(oid)), log=log)
            meta.update(m, flux_uncal=res["flux_uncal"], flux_err_uncal=res["flux_err_uncal"])
            if log is not None:
                log.info("object %s, template %s: %s", oid, t, {k: res[k] for k in (
                    "flux", "flux_err", "flux_err_pixel", "chi2_red", "aperture_sum")})
            out_rows.append(lightcurve.make_row(res, meta))
        except DataError as err:
            meta.update(getattr(err, "meta", {}))
            if log is not None:
                log.warning("object %s, template %s: recorded failure: %s", oid, t, err)
            out_rows.append(lightcurve.failed_row(meta, err.stage, err.reason))
    return out_rows, out_stamps
