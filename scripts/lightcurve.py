"""Rule lightcurve: merge an object's rows (phrosty's schema), write CSV + parquet, plot.

Rows whose science image had too few field stars for its own calibration get the pooled
calibration of the lightcurve's other images (romandia.calibration.pool_unmeasured).
"""

import json

import numpy as np

from romandia import calibration, lightcurve, ou2024, runner


def main(log):
    sm = snakemake  # noqa: F821
    rows = [json.loads(open(p).read()) for p in sm.input]
    df = lightcurve.merge_rows(rows)
    if sm.params.calibration["enabled"] and sm.params.calibration["apply"]:
        df = calibration.pool_unmeasured(df)
    lightcurve.write_lightcurve(df, sm.output.csv, sm.output.parquet)
    oid, band = int(sm.wildcards.oid), sm.wildcards.band
    truth = None
    try:
        _, mjd, mags = ou2024.find_sn_truth(sm.params.truth_dir, oid)
        zpt = float(np.nanmedian(df["zpt"])) if df["zpt"].notna().any() else np.nan
        grid = np.linspace(mjd[0], mjd[-1], 400)
        truth = (grid, ou2024.mag_to_counts(ou2024.truth_mag(mjd, mags[band], grid), zpt))
        log.info("truth lightcurve found for %s", oid)
    except Exception as exc:  # truth is optional: real surveys have none
        log.info("no truth lightcurve for %s (%s)", oid, exc)
    lightcurve.plot_lightcurve(df, sm.output.png, truth=truth, title=f"{oid} {band}")
    n_ok = int(df["success"].sum())
    log.info("%d rows, %d successful", len(df), n_ok)


runner.run(snakemake, main, failure_outputs=[])  # noqa: F821
