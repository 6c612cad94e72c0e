"""Rule prepare: one input image through fetch, sky_subtract and psf (romandia.steps.prepare)."""

from romandia import io, products, runner
from romandia.steps import prepare


def main(log):
    sm = snakemake  # noqa: F821
    p = sm.params
    out = prepare.prepare_image(p.image["path"], image=sm.wildcards.image, band=p.image["band"],
                                objects=p.image["objects"], cutout_size=p.cutout_size, sky_cfg=p.sky,
                                variance=p.variance, psf_cfg=p.psf, log=log)
    io.write_fits(sm.output.sky, out.sky_hdus)
    products.write_batch(sm.output.psf, out.psfs)


runner.run(snakemake, main)  # noqa: F821
