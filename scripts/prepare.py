"""Rule prepare: one input image through fetch, sky_subtract and psf (romandia.steps.prepare)."""

# ruff: noqa: E402 - the imports below are the job's own, after handing it to the worker
from romandia.worker import delegate

delegate(snakemake)  # noqa: F821 - a running worker runs this job in a forked process instead

from romandia import products, runner
from romandia.steps import prepare


def main(log):
    sm = snakemake  # noqa: F821
    p, img = sm.params, sm.params.image
    out = prepare.prepare_image(img["path"], image=sm.wildcards.image, band=img["band"], objects=img["objects"],
                                cutout_size=p.cutout_size, sky_cfg=p.sky, variance=p.variance, psf_cfg=p.psf,
                                fetch=p.fetch, source=img["source"], extra=img["extra"],
                                dq_ignore=p.dq["ignore"], asdf=p.asdf, chroma=bool(img.get("chroma")), log=log)
    products.write_prepared(sm.output[0], out.sky_hdus, out.psfs)


runner.run(snakemake, main)  # noqa: F821
