rule photometry:
    """Forced PSF photometry at the object on the decorrelated difference."""
    input:
        stamps=f"{DIA}/stamps/{{oid}}/{{sci}}--{{tmpl}}.fits",
        diff=f"{DIA}/subtract/{{sci}}--{{tmpl}}.fits",
        aligned=f"{DIA}/align/{{sci}}--{{tmpl}}.fits",
        sci_psf=f"{DIA}/psf/{{sci}}/{{oid}}.fits",
        calib=calibration_input,
    output:
        f"{DIA}/phot/{{oid}}/{{sci}}--{{tmpl}}.json",
    log:
        "logs/photometry/{oid}/{sci}--{tmpl}.log",
    benchmark:
        "benchmarks/photometry/{oid}/{sci}--{tmpl}.tsv"
    conda:
        "../../envs/romandia.yaml"
    params:
        radec=object_radec,
        meta=pair_meta,
        phot=config["photometry"],
        calibration=config["calibration"],
        resample_kernel=config["resample_kernel"],
    script:
        "../../scripts/photometry.py"
