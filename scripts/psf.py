"""Rule psf: a PSF stamp of an image at an object (see romandia.psf)."""

import numpy as np

from romandia import checks, io, psf, runner


def main(log):
    err = io.first_failure(snakemake.input)  # noqa: F821
    if err:
        raise err
    img = io.read_image(snakemake.input[0])  # noqa: F821
    ra, dec = snakemake.params.radec  # noqa: F821
    # RA/Dec in the header's own frame: OU2024 headers say EQUINOX 2000 (FK5 for astropy) and a
    # SkyCoord (ICRS) would be rotated by ~7 mas = 0.06 px, putting the PSF off the SN
    # (1-3 % flux errors; docs/validation.md, fix 1)
    x, y = checks.object_pixel(
        img.wcs, img.data.shape, ra, dec, snakemake.wildcards.oid, snakemake.wildcards.image  # noqa: F821
    )
    cfg = snakemake.params.psf  # noqa: F821
    params = dict(cfg.get("params") or {})
    params.setdefault("size", cfg.get("size", 41))
    stamp = psf.psf_stamp(cfg["type"], params, img.header, x, y)
    at_pos = psf.psf_stamp(cfg["type"], params, img.header, x, y, at_position=True)
    hdr = io.fits.Header()
    hdr["PSFTYPE"] = cfg["type"]
    hdr["PSFX"] = (x, "0-based x of the object in the image")
    hdr["PSFY"] = (y, "0-based y of the object in the image")
    hdr["PSFSUM"] = (float(stamp.sum()), "enclosed fraction of unit total flux")
    log.info("%s PSF %s at (%.2f, %.2f), sum %.4f", cfg["type"], stamp.shape, x, y, stamp.sum())
    io.write_fits(
        snakemake.output[0],  # noqa: F821
        [
            io.fits.PrimaryHDU(stamp.astype(np.float64), header=hdr),
            io.fits.ImageHDU(at_pos.astype(np.float64), header=hdr, name="ATPOS"),
        ],
    )


runner.run(snakemake, main)  # noqa: F821
