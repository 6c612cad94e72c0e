"""Rule lightcurve: an object's rows from its science images' photometry (phrosty's schema),
CSV + parquet, a plot, its epochs' stamps and its provenance record.

Rows whose science image had too few field stars for its own calibration get the pooled
calibration of the lightcurve's other images (romandia.calibration.pool_unmeasured).
"""

# ruff: noqa: E402 - the imports below are the job's own, after handing it to the worker
from romandia.worker import delegate

delegate(snakemake)  # noqa: F821 - a running worker runs this job in a forked process instead

from pathlib import Path

from romandia import lightcurve, report, runner
from romandia.steps import lightcurve as steps


def main(log):
    sm = snakemake  # noqa: F821
    oid, band = int(sm.wildcards.oid), sm.wildcards.band
    df = steps.object_lightcurve(sm.input.phot, oid, band, colour_paths=sm.input.colour_phot,
                                 pool_calibration=bool(sm.params.calibration["enabled"]
                                                       and sm.params.calibration["apply"]),
                                 chromatic=sm.params.chromatic, z=sm.params.z)
    lightcurve.write_lightcurve(df, sm.output.csv, sm.output.parquet)
    truth = steps.truth_curve(sm.params.truth_dir, oid, band, df, log=log)
    lightcurve.plot_lightcurve(df, sm.output.png, truth=truth, title=f"{oid} {band}")
    report.stamp_grid(df, {Path(p).stem: p for p in sm.input.stamps}, sm.output.stamps, title=f"{oid} {band}")
    prov = sm.params.provenance
    record = steps.provenance_record(oid, band, ra=prov["ra"], dec=prov["dec"], images=prov["images"],
                                     checksums=steps.input_checksums(sm.input.phot), config=prov["config"],
                                     repo=Path(sm.scriptdir).parent)
    steps.write_json(sm.output.provenance, record)
    log.info("%d rows, %d successful; provenance %s", len(df), int(df["success"].sum()), record["id"])


runner.run(snakemake, main, failure_outputs=[])  # noqa: F821
