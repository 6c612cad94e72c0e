"""Rule subtract: every template of a science image aligned and subtracted: resampling,
cross-convolution, SFFT, decorrelation, difference variance (romandia.steps.subtract)."""

# ruff: noqa: E402 - the imports below are the job's own, after handing it to the worker
from romandia.worker import delegate

delegate(snakemake)  # noqa: F821 - a running worker runs this job in a forked process instead

from romandia import products, runner
from romandia.steps import each_member, subtract
from romandia.xp import select_backend


def main(log):
    sm = snakemake  # noqa: F821
    p = sm.params
    xp = select_backend(p.backend, log=log)
    # p.pairs[i] = [template key, anchor oid, ra, dec] for input tmpl[i] (a prepared product)
    pairs = {t: (oid, (ra, dec), prepared) for (t, oid, ra, dec), prepared in zip(p.pairs, sm.input.tmpl, strict=True)}
    with products.Batch(sm.input.sci) as sci_prepared:
        sci = sci_prepared.shared(["SKYSUB", "VAR", "DETMASK", "DQ"])  # raises a failed image's error
        sci_x = subtract.to_namespace({k: sci[k] for k in ("SKYSUB", "VAR", "DETMASK")}, xp)  # once per job
        # the input images' checksums, for the lightcurves' provenance
        checksums = {sm.wildcards.sci: sci["SKYSUB"][1].get(products.KEY_SHA256)}

        def one(t):
            anchor, radec, prepared = pairs[t]
            # the most specific cause first: a bad template image, the anchor object outside
            # the science image, then (in align) no overlap, then the object outside the template
            with products.Batch(prepared) as tmpl:
                tmpl_sky = tmpl.shared(["SKYSUB", "VAR", "DETMASK"])  # raises a failed image's error
                checksums[t] = tmpl_sky["SKYSUB"][1].get(products.KEY_SHA256)
                psf_s = sci_prepared.member(anchor, ["PSF"])["PSF"][0]
                psf_at = subtract.template_psf_at(tmpl, anchor, p.psf) if p.template_psf == "resampled" else None
                return subtract.difference_template(
                    sci_x, tmpl_sky, lambda: tmpl.member(anchor, ["PSF"])["PSF"][0], psf_s, radec,
                    kernel=p.kernel, exclude_radec=p.exclude, sfft=p.sfft, sci_key=sm.wildcards.sci, tmpl_key=t,
                    threads=sm.threads, xp=xp, tmpl_psf_at=psf_at, log=log)

        members = each_member(pairs, one, log, "template")
    shared = {"SCI": sci["SKYSUB"], "SCIVAR": sci["VAR"], "SCIDQ": sci["DQ"]}
    products.write_batch(sm.output[0], members, shared=shared, extra_hdus=[products.checksum_hdu(checksums)])


runner.run(snakemake, main)  # noqa: F821
