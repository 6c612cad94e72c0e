"""Rule subtract: every pair of a science image: cross-convolution, SFFT, decorrelation,
difference variance (romandia.steps.subtract)."""

from romandia import io, products, runner
from romandia.steps import each_member, subtract


def main(log):
    sm = snakemake  # noqa: F821
    err = io.first_failure([sm.input.sci, sm.input.aligned])
    if err:
        raise err
    sci = io.read_hdus(sm.input.sci, ["SKYSUB", "VAR", "DETMASK"])
    anchors = dict(sm.params.anchors)  # template key -> anchor oid
    with products.Batch(sm.input.aligned) as aligned, products.Batch(sm.input.sci_psf) as psf:

        def one(t):
            al = aligned.member(t, products.ALIGNED_HDUS)
            sci_psf = psf.member(anchors[t], ["PSF"])["PSF"][0]
            return subtract.subtract_template(sci, al, sci_psf, exclude_radec=sm.params.exclude,
                                              sfft=sm.params.sfft, threads=sm.threads, log=log)

        members = each_member(anchors, one, log, "template")
    shared = {"SCI": sci["SKYSUB"], "SCIVAR": sci["VAR"]}
    products.write_batch(sm.output[0], members, shared=shared)


runner.run(snakemake, main)  # noqa: F821
