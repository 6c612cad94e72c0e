rule lightcurve:
    """Merge an object's rows into phrosty's lightcurve (CSV + parquet) and plot it."""
    input:
        object_photometry,
    output:
        csv=f"{LC}/data/{{oid}}/{{oid}}_{{band}}_all.csv",
        parquet=f"{LC}/data/{{oid}}/{{oid}}_{{band}}_all.parquet",
        png=f"{LC}/data/{{oid}}/{{oid}}_{{band}}.png",
    log:
        "logs/lightcurve/{oid}_{band}.log",
    conda:
        "../../envs/romandia.yaml"
    params:
        truth_dir=truth_dir(),
        calibration=config["calibration"],
    script:
        "../../scripts/lightcurve.py"
