"""Rule align: resample the template onto the science grid; rotate its PSF to the science frame."""

import numpy as np

from romandia import checks, io, resample, runner


def main(log):
    sm = snakemake  # noqa: F821
    # The most specific cause first: a bad image, the object outside the science image,
    # then a template that does not overlap the science frame, then the object outside
    # the template (true as well when they do not overlap, but less telling).
    err = io.first_failure([sm.input.sci, sm.input.tmpl, sm.input.sci_psf])
    if err:
        raise err
    sci = io.read_hdus(sm.input.sci, ["SKYSUB"])
    tmpl = io.read_hdus(sm.input.tmpl, ["SKYSUB", "VAR", "DETMASK"])
    sci_hdr = sci["SKYSUB"][1]
    tmpl_hdr = tmpl["SKYSUB"][1]
    w_sci, w_tmpl = io.header_wcs(sci_hdr), io.header_wcs(tmpl_hdr)
    shape = sci["SKYSUB"][0].shape
    xs, ys = checks.template_pixel_map(
        w_sci, shape, w_tmpl, tmpl["SKYSUB"][0].shape, sm.wildcards.sci, sm.wildcards.tmpl
    )
    err = io.first_failure([sm.input.tmpl_psf])
    if err:
        raise err
    rs = resample.resample_image_set(
        tmpl["SKYSUB"][0], xs, ys, var=tmpl["VAR"][0], mask=tmpl["DETMASK"][0], kernel=sm.params.kernel
    )
    img, var, mask, blank = rs["image"], rs["var"], rs["mask"], rs["blank"]
    ra, dec = sm.params.radec
    # RA/Dec in the headers' own frame, no ICRS->FK5 rotation (docs/validation.md, fix 1)
    xs0, ys0 = (float(v) for v in w_sci.world_to_pixel_values(ra, dec))
    xt0, yt0 = (float(v) for v in w_tmpl.world_to_pixel_values(ra, dec))
    psf_t = io.fits.getdata(sm.input.tmpl_psf)
    psft = resample.rotate_psf(
        psf_t, resample.local_jacobian(w_tmpl, xt0, yt0), resample.local_jacobian(w_sci, xs0, ys0)
    )
    hdr = sci_hdr.copy()
    hdr["TSKYRMS"] = (float(tmpl_hdr["SKYRMS"]), "template sky RMS before resampling [counts]")
    hdr["TMPLNAME"] = str(tmpl_hdr.get("ROMSRC", ""))
    hdr["TZPTMAG"] = (float(tmpl_hdr["ZPTMAG"]), "template ZPTMAG (calibrated flux ratio)")
    log.info("template resampled onto %s (%.1f%% blank), PSF rotated at (%.2f, %.2f)",
             shape, 100 * np.mean(blank), xs0, ys0)
    io.write_fits(
        sm.output[0],
        [
            io.fits.PrimaryHDU(header=io.image_hdu(np.zeros((1, 1)), hdr).header),
            io.image_hdu(img, hdr, "TMPL"),
            io.image_hdu(var, hdr, "TMPLVAR"),
            io.image_hdu(mask, hdr, "TMPLMASK"),
            io.image_hdu(blank.astype(np.uint8), hdr, "BLANK", dtype=np.uint8),
            io.image_hdu(psft, None, "PSFT", dtype=np.float64),
        ],
    )


runner.run(snakemake, main)  # noqa: F821
