"""Rule subtract: cross-convolution, SFFT, decorrelation, difference variance (romandia.subtract)."""

import numpy as np

from romandia import io, runner, subtract


def main(log):
    sm = snakemake  # noqa: F821
    err = io.first_failure([sm.input.sci, sm.input.aligned, sm.input.sci_psf])
    if err:
        raise err
    sci = io.read_hdus(sm.input.sci, ["SKYSUB", "VAR", "DETMASK"])
    al = io.read_hdus(sm.input.aligned, ["TMPL", "TMPLVAR", "TMPLMASK", "BLANK", "PSFT"])
    hdr = sci["SKYSUB"][1]
    cfg = dict(sm.params.sfft)
    radius = cfg.pop("exclude_radius")
    if cfg.pop("flux_scale") == "zeropoint":
        # counts of one source in the science over the template: 10^(0.4 (zp_S - zp_T)); the
        # bandpass part of the zeropoints is common to both
        cfg["flux_scale"] = 10.0 ** (0.4 * (float(hdr["ZPTMAG"]) - float(al["TMPL"][1]["TZPTMAG"])))
    w = io.header_wcs(hdr)
    # RA/Dec are taken in the header's own frame (OU2024: EQUINOX 2000 = FK5 for astropy):
    # a SkyCoord (ICRS) would be rotated by ~7 mas = 0.06 px (docs/validation.md, fix 1)
    xy = [tuple(float(v) for v in w.world_to_pixel_values(ra, dec)) for ra, dec in sm.params.exclude]
    sci_mask = subtract.exclude_from_fit(sci["DETMASK"][0], xy, radius)
    exclude = ~subtract.exclude_from_fit(np.ones(sci_mask.shape, bool), xy, radius)
    log.info("%d object(s) excluded from the kernel fit (r = %.1f px)", len(xy), radius)
    out = subtract.difference_pair(
        sci=sci["SKYSUB"][0],
        sci_var=sci["VAR"][0],
        sci_detmask=sci_mask,
        sci_psf=io.fits.getdata(sm.input.sci_psf),
        sci_skyrms=float(hdr["SKYRMS"]),
        tmpl_rs=al["TMPL"][0],
        tmpl_var_rs=al["TMPLVAR"][0],
        tmpl_detmask_rs=al["TMPLMASK"][0],
        tmpl_blank=al["BLANK"][0].astype(bool),
        tmpl_psf_rot=al["PSFT"][0],
        tmpl_skyrms=float(al["TMPL"][1]["TSKYRMS"]),
        params=dict(cfg, threads=sm.threads),
        fit_exclude=exclude,
    )
    hdr = hdr.copy()
    hdr["FLUXSCL"] = (float(out["flux_scale"]), "kernel sum (template -> science flux ratio)")
    hdr["FLUXSCLF"] = (float(out["fitted_flux_scale"]), "kernel sum as fitted by SFFT")
    for k, v in (("KERHW", out["kernel_half_width"]), ("KERORDER", out["kernel_poly_order"]),
                 ("NFITPIX", out["n_fit_pixels"]), ("FITCOMP", bool(out["fit_compact_sources"])),
                 ("BGORDER", cfg["bg_poly_order"]), ("CPHOTR", cfg["const_phot_ratio"])):
        hdr[k] = v
    log.info("flux scale %.5f, kernel order %d on %d fit pixels%s", out["flux_scale"],
             out["kernel_poly_order"], out["n_fit_pixels"],
             " (compact sources added)" if out["fit_compact_sources"] else "")
    io.write_fits(
        sm.output[0],
        [
            io.fits.PrimaryHDU(header=io.image_hdu(np.zeros((1, 1)), hdr).header),
            io.image_hdu(out["diff"], hdr, "DIFF"),
            io.image_hdu(out["var"], hdr, "VAR"),
            io.image_hdu(out["psf"], None, "PSF", dtype=np.float64),
            io.image_hdu(out["zptimg"], hdr, "ZPTIMG"),
            io.image_hdu(out["decorr_kernel"], None, "DECORR", dtype=np.float64),
            io.image_hdu(out["match_kernel"], None, "MATCH", dtype=np.float64),
            # science / resampled-template pixels -> difference (romandia.errorprop)
            io.image_hdu(out["noise_kernels"][0], None, "KSCI", dtype=np.float64),
            io.image_hdu(out["noise_kernels"][1], None, "KTMPL", dtype=np.float64),
        ],
    )


runner.run(snakemake, main)  # noqa: F821
