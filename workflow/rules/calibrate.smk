rule calibrate:
    """Flux calibration of a science image on field stars, for each of its templates."""
    input:
        unpack(calibrate_inputs),
    output:
        f"{DIA}/calib/{{sci}}.json",
    log:
        "logs/calibrate/{sci}.log",
    benchmark:
        "benchmarks/calibrate/{sci}.tsv"
    conda:
        "../../envs/romandia.yaml"
    params:
        templates=science_templates,
        catalog=star_catalog,
        exclude=objects_radec_on_image,
        cfg=config["calibration"],
        phot=config["photometry"],
        psf=config["psf"],
    script:
        "../../scripts/calibrate.py"
