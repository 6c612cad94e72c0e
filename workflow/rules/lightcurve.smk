rule lightcurve:
    """Merge an object's rows into phrosty's lightcurve (CSV + parquet), plot it and its
    epochs' stamps, and write its provenance record (snappl's id recipe)."""
    input:
        phot=object_photometry,
        colour_phot=object_colour_photometry,
        stamps=object_stamps,
    output:
        csv=report(
            f"{LC}/data/{{oid}}/{{oid}}_{{band}}_all.csv",
            caption="../report/lightcurve_table.rst",
            category="Lightcurves",
            subcategory="{oid} {band}",
            labels={"object": "{oid}", "band": "{band}", "content": "table"},
        ),
        parquet=f"{LC}/data/{{oid}}/{{oid}}_{{band}}_all.parquet",
        png=report(
            f"{LC}/data/{{oid}}/{{oid}}_{{band}}.png",
            caption="../report/lightcurve_plot.rst",
            category="Lightcurves",
            subcategory="{oid} {band}",
            labels={"object": "{oid}", "band": "{band}", "content": "plot"},
        ),
        stamps=report(
            f"{LC}/data/{{oid}}/{{oid}}_{{band}}_stamps.png",
            caption="../report/stamps.rst",
            category="Lightcurves",
            subcategory="{oid} {band}",
            labels={"object": "{oid}", "band": "{band}", "content": "stamps"},
        ),
        provenance=f"{LC}/data/{{oid}}/{{oid}}_{{band}}_provenance.json",
    log:
        "logs/lightcurve/{oid}_{band}.log",
    conda:
        "../../envs/romandia.yaml"
    params:
        truth_dir=truth_dir(),
        calibration=config["calibration"],
        chromatic=config["chromatic"],
        z=object_redshift,
        provenance=provenance_params,
    script:
        "../../scripts/lightcurve.py"


rule summary:
    """The run's failed pairs and its settings and versions, for the report."""
    input:
        lightcurve_tables,
    output:
        failed=report(
            f"{LC}/failed_pairs.csv",
            caption="../report/failed_pairs.rst",
            category="Run",
            labels={"content": "failed pairs"},
        ),
        settings=report(
            f"{LC}/run_settings.csv",
            caption="../report/run_settings.rst",
            category="Run",
            labels={"content": "settings and versions"},
        ),
    log:
        "logs/summary.log",
    conda:
        "../../envs/romandia.yaml"
    params:
        config=dict(config),
    script:
        "../../scripts/summary.py"
