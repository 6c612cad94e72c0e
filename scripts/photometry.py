"""Rule photometry: forced PSF photometry at the object on the decorrelated difference.

The PSF of a point source in the decorrelated difference is
``decorrelation kernel (x) science PSF at the object (x) template PSF used in the
cross-convolution``; it is rebuilt here for each object, so objects sharing a pair (whose
subtraction used the anchor object's PSFs) are measured with their own PSF.  The science
PSF is the one drawn at the object's sub-pixel position (the other two are centred kernels),
so the model needs no interpolation.

The flux error is propagated exactly to the science and original template pixels
(romandia.errorprop, with covariances) unless ``photometry.flux_err: pixel``, then scaled by
``sqrt(max(1, chi2_red))`` unless ``photometry.chi2_scaling: false``.

Then the field-star calibration of the science image with this template (rule calibrate,
romandia.calibration) divides the flux and adds its error in quadrature; ``flux_uncal`` and
``flux_err_uncal`` keep the values before it, ``calib_*`` say what was applied or why not.
"""

import json

import numpy as np

from romandia import calibration, checks, errorprop, io, lightcurve, photometry, resample, runner
from romandia.constants import zeropoint
from romandia.convolve import kernel_convolve
from romandia.errors import DataError


def measure(log):
    sm = snakemake  # noqa: F821
    meta = dict(sm.params.meta)
    ra, dec = sm.params.radec
    meta.update(oid=int(sm.wildcards.oid), ra=ra, dec=dec)
    cal = read_calibration(sm)
    meta.update(calib_ratio=cal.get("ratio", np.nan), calib_ratio_err=cal.get("ratio_err", np.nan),
                calib_nstars=int(cal.get("n_stars", 0)), calib_status=cal["status"])
    try:
        err = io.first_failure([sm.input.stamps, sm.input.diff, sm.input.aligned, sm.input.sci_psf])
        if err:
            raise err
        st = io.read_hdus(sm.input.stamps, ["SCI", "TEMPLATE", "DIFF", "VAR", "SCIVAR", "TMPLVAR0"])
        sub = io.read_hdus(sm.input.diff, ["DECORR", "KSCI", "KTMPL"])
        psft = io.read_hdus(sm.input.aligned, ["PSFT"])["PSFT"][0]
        psf_sci = io.fits.getdata(sm.input.sci_psf, extname="ATPOS")
        diff, hdr = st["DIFF"]
        var = st["VAR"][0]
        meta.update(
            mjd=float(hdr["MJD-OBS"]),
            zpt=zeropoint(str(hdr["FILTER"]).strip(), float(hdr["ZPTMAG"])),
            sky_rms=float(hdr.get("SKYRMS", np.nan)),
        )
        # RA/Dec in the header's own frame, no ICRS->FK5 rotation (docs/validation.md, fix 1)
        x, y = (float(v) for v in io.header_wcs(hdr).world_to_pixel_values(ra, dec))
        meta.update(pix_x=x + int(hdr.get("ROMX0", 0)), pix_y=y + int(hdr.get("ROMY0", 0)))
        p = sm.params.phot
        # a saturated (clipped) object has no usable flux: flag the row instead of fitting
        # (within the aperture and the fit box)
        radius = max(float(p["aperture_radius"]), (int(p["fit_shape"]) - 1) / 2 * 2**0.5)
        checks.check_not_saturated(st, ra, dec, radius)
        # the template PSF entered the cross-convolution as a kernel normalised to sum 1
        psf_eff = kernel_convolve(kernel_convolve(psf_sci, psft / psft.sum()), sub["DECORR"][0])
        res = photometry.forced_psf_photometry(
            diff, var, psf_eff, x, y,
            fit_shape=p["fit_shape"],
            local_bkg=tuple(p["local_bkg"]) if p["local_bkg"] else None,
            aperture_radius=p["aperture_radius"],
            psf_at_position=True,
            weights=p.get("weights", "background"),
        )
        if not res["success"]:
            raise DataError("photometry", res.get("message") or "fit failed")
        res["flux_err_pixel"] = res["flux_err"]
        if p["flux_err"] == "propagated":
            res["flux_err"] = propagated_error(st, sub, psf_eff, x, y, p, sm.params.resample_kernel, log)
        if p["chi2_scaling"]:
            res["flux_err"] *= photometry.chi2_error_scale(res["chi2_red"])
        res["flux_uncal"], res["flux_err_uncal"] = res["flux"], res["flux_err"]
        if sm.params.calibration["apply"]:
            res["flux"], res["flux_err"] = calibration.apply(res["flux"], res["flux_err"], cal)
        meta.update(flux_uncal=res["flux_uncal"], flux_err_uncal=res["flux_err_uncal"])
        log.info("photometry: %s", {k: res[k] for k in
                                    ("flux", "flux_err", "flux_err_pixel", "chi2_red", "aperture_sum")})
        row = lightcurve.make_row(res, meta)
    except DataError as err:
        log.warning("recorded failure: %s", err)
        row = lightcurve.failed_row(meta, err.stage, err.reason)
    with io.atomic_output(sm.output[0]) as tmp:
        tmp.write_text(json.dumps(row, indent=1, sort_keys=True, allow_nan=True) + "\n")


def read_calibration(sm) -> dict:
    """This pair's calibration (rule calibrate), or why there is none."""
    if not sm.input.calib:
        return {"status": "off (calibration.enabled: false)"}
    cals = json.loads(open(sm.input.calib[0]).read())
    cal = cals.get(sm.wildcards.tmpl) or {"status": f"unmeasured: template {sm.wildcards.tmpl} not calibrated"}
    if cal["status"] == "measured" and not sm.params.calibration["apply"]:
        cal = dict(cal, status="measured, not applied (calibration.apply: false)")
    return cal


def propagated_error(st, sub, psf_eff, x, y, p, kernel, log):
    """Flux error with the covariances: the fit's weights carried back to the input pixels."""
    diff, hdr = st["DIFF"]
    tvar, thdr = st["TMPLVAR0"]
    a = photometry.estimator_weights(psf_eff, st["VAR"][0], x, y, fit_shape=p["fit_shape"],
                                     psf_at_position=True, weights=p.get("weights", "background"))
    xs, ys = resample.pixel_map(io.header_wcs(hdr), diff.shape, io.header_wcs(thdr),
                                shape_source=tvar.shape)
    v = errorprop.propagated_flux_variance(a, sub["KSCI"][0], sub["KTMPL"][0], st["SCIVAR"][0], tvar,
                                           xs, ys, kernel=kernel)
    log.info("propagated flux variance: science %.4g + template %.4g counts^2", v["var_sci"], v["var_tmpl"])
    return float(np.sqrt(v["var"]))


runner.run(snakemake, measure, failure_outputs=[])  # noqa: F821
