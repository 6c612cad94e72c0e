"""Rule psf: the PSF of an image at every configured object on it (romandia.steps.psf)."""

from romandia import io, products, runner
from romandia.steps import psf


def main(log):
    sm = snakemake  # noqa: F821
    err = io.first_failure(sm.input)
    if err:
        raise err
    img = io.read_image(sm.input[0])
    members = psf.image_psfs(img, sm.params.objects, image=sm.wildcards.image, cfg=sm.params.psf, log=log)
    products.write_batch(sm.output[0], members)


runner.run(snakemake, main)  # noqa: F821
