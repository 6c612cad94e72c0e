"""Rule subtract: every template of a science image aligned and subtracted: resampling,
cross-convolution, SFFT, decorrelation, difference variance (romandia.steps.subtract)."""

# ruff: noqa: E402 - the imports below are the job's own, after handing it to the worker
from romandia.worker import delegate

delegate(snakemake)  # noqa: F821 - a running worker runs this job in a forked process instead

from romandia import io, products, runner
from romandia.steps import each_member, subtract
from romandia.xp import select_backend


def main(log):
    sm = snakemake  # noqa: F821
    p = sm.params
    err = io.first_failure([sm.input.sci])
    if err:
        raise err
    sci = io.read_hdus(sm.input.sci, ["SKYSUB", "VAR", "DETMASK", "DQ"])
    xp = select_backend(p.backend, log=log)
    sci_x = subtract.to_namespace({k: sci[k] for k in ("SKYSUB", "VAR", "DETMASK")}, xp)  # once per job
    # p.pairs[i] = [template key, anchor oid, ra, dec] for inputs tmpl_sky[i], tmpl_psf[i]
    pairs = {t: (oid, (ra, dec), sky, psf)
             for (t, oid, ra, dec), sky, psf in zip(p.pairs, sm.input.tmpl_sky, sm.input.tmpl_psf, strict=True)}
    with products.Batch(sm.input.sci_psf) as sci_psf:

        def one(t):
            anchor, radec, sky, psf = pairs[t]
            # the most specific cause first: a bad template image, the anchor object outside
            # the science image, then (in align) no overlap, then the object outside the template
            err = io.first_failure([sky])
            if err:
                raise err
            psf_s = sci_psf.member(anchor, ["PSF"])["PSF"][0]
            return subtract.difference_template(
                sci_x, io.read_hdus(sky, ["SKYSUB", "VAR", "DETMASK"]),
                lambda: products.read_members(psf, anchor, ["PSF"])["PSF"][0], psf_s, radec,
                kernel=p.kernel, exclude_radec=p.exclude, sfft=p.sfft, sci_key=sm.wildcards.sci, tmpl_key=t,
                threads=sm.threads, xp=xp, log=log)

        members = each_member(pairs, one, log, "template")
    shared = {"SCI": sci["SKYSUB"], "SCIVAR": sci["VAR"], "SCIDQ": sci["DQ"]}
    products.write_batch(sm.output[0], members, shared=shared)


runner.run(snakemake, main)  # noqa: F821
