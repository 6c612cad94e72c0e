"""Rule sky_subtract: sky, RMS, variance and detection mask (see romandia.sky, romandia.noise)."""

import numpy as np

from romandia import io, noise, runner, sky


def main(log):
    err = io.first_failure(snakemake.input)  # noqa: F821
    if err:
        raise err
    img = io.read_image(snakemake.input[0])  # noqa: F821
    cfg = snakemake.params.sky  # noqa: F821
    res = sky.subtract_sky(img.data, **cfg)
    var = noise.variance_map(res.skysub, res.rms, err=img.err, mode=snakemake.params.variance)  # noqa: F821
    hdr = img.header.copy()
    hdr["SKYRMS"] = (res.sky_rms, "median background RMS [counts]")
    hdr["SKYMED"] = (float(np.median(res.sky)), "median background [counts]")
    hdr["NSOURCES"] = res.n_sources
    hdr["NDETMASK"] = (res.n_masked_sources, "sources kept in DETMASK (flux radius cut)")
    hdr["VARMODE"] = snakemake.params.variance  # noqa: F821
    log.info("sky rms %.3f, %d sources, %d in the detection mask (%.1f%% of pixels)",
             res.sky_rms, res.n_sources, res.n_masked_sources, 100 * res.detmask.mean())
    io.write_fits(
        snakemake.output[0],  # noqa: F821
        [
            io.fits.PrimaryHDU(header=io.image_hdu(np.zeros((1, 1)), hdr).header),
            io.image_hdu(res.skysub, hdr, "SKYSUB"),
            io.image_hdu(var, hdr, "VAR"),
            io.image_hdu(res.detmask.astype(np.uint8), hdr, "DETMASK", dtype=np.uint8),
            io.image_hdu(res.sky, hdr, "SKY"),
        ],
    )


runner.run(snakemake, main)  # noqa: F821
