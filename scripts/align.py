"""Rule align: every template of a science image resampled onto its grid (romandia.steps.align)."""

from romandia import io, products, runner
from romandia.steps import align, each_member


def main(log):
    sm = snakemake  # noqa: F821
    err = io.first_failure([sm.input.sci])
    if err:
        raise err
    sci = io.read_hdus(sm.input.sci, ["SKYSUB"])
    # params.pairs[i] = [template key, anchor oid, ra, dec] for input tmpl_sky[i], tmpl_psf[i]
    pairs = {p[0]: (p[1], (p[2], p[3]), sky, psf)
             for p, sky, psf in zip(sm.params.pairs, sm.input.tmpl_sky, sm.input.tmpl_psf, strict=True)}
    with products.Batch(sm.input.sci_psf) as sci_psf:

        def one(t):
            anchor, radec, sky, psf = pairs[t]
            # the most specific cause first: a bad template image, the anchor object outside
            # the science image, then no overlap, then the object outside the template
            err = io.first_failure([sky])
            if err:
                raise err
            sci_psf.member(anchor, [])
            tmpl = io.read_hdus(sky, ["SKYSUB", "VAR", "DETMASK"])
            return align.align_template(
                sci, tmpl, lambda: products.read_members(psf, anchor, ["PSF"])["PSF"][0], radec,
                kernel=sm.params.kernel, sci_key=sm.wildcards.sci, tmpl_key=t, log=log,
            )

        members = each_member(pairs, one, log, "template")
    products.write_batch(sm.output[0], members)


runner.run(snakemake, main)  # noqa: F821
