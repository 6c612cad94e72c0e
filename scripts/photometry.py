"""Rule photometry: field-star calibration, stamps and forced PSF photometry of every
(object, template) row of a science image (romandia.steps.calibrate, romandia.steps.photometry)."""

# ruff: noqa: E402 - the imports below are the job's own, after handing it to the worker
from romandia.worker import delegate

delegate(snakemake)  # noqa: F821 - a running worker runs this job in a forked process instead

import json

from romandia import io, products, runner
from romandia.steps import calibrate, chromatic, photometry


def main(log):
    sm = snakemake  # noqa: F821
    p = sm.params
    with products.Batch(sm.input.diff) as diff, products.Batch(sm.input.prepared) as prepared:
        bases = chromatic.read_bases(prepared)  # the objects' chromatic bases, read once
        cals = calibrate.calibrate_batch(diff, sorted({r["template"] for r in p.rows}), p.catalog,
                                         exclude_radec=p.exclude, cfg=p.calibration, phot=p.phot,
                                         psf_cfg=p.psf, prepared=prepared, colour_catalogs=p.colour_catalogs,
                                         bases=bases, log=log)
        rows, stamps = photometry.measure_science(diff, prepared, p.rows, cals, phot=p.phot,
                                                  resample_kernel=p.resample_kernel,
                                                  apply_calibration=bool(p.calibration["apply"]),
                                                  dq_ignore=p.dq["ignore"], psf_cfg=p.psf, bases=bases, log=log)
        checksums = diff.checksums()  # the input images' SHA-256, for the lightcurves' provenance
    products.write_batch(sm.output.stamps, stamps)
    with io.atomic_output(sm.output.rows) as tmp:
        tmp.write_text(json.dumps({"rows": rows, "calibration": cals, "checksums": checksums}, indent=1, sort_keys=True,
                                  allow_nan=True, default=float) + "\n")


runner.run(snakemake, main, failure_outputs=[])  # noqa: F821
