rule lightcurve:
    """Merge an object's rows into phrosty's lightcurve (CSV + parquet), plot it, and write
    its provenance record (snappl's id recipe)."""
    input:
        phot=object_photometry,
        sky=object_sky,
    output:
        csv=f"{LC}/data/{{oid}}/{{oid}}_{{band}}_all.csv",
        parquet=f"{LC}/data/{{oid}}/{{oid}}_{{band}}_all.parquet",
        png=f"{LC}/data/{{oid}}/{{oid}}_{{band}}.png",
        provenance=f"{LC}/data/{{oid}}/{{oid}}_{{band}}_provenance.json",
    log:
        "logs/lightcurve/{oid}_{band}.log",
    conda:
        "../../envs/romandia.yaml"
    params:
        truth_dir=truth_dir(),
        calibration=config["calibration"],
        provenance=provenance_params,
    script:
        "../../scripts/lightcurve.py"
