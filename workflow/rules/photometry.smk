rule photometry:
    """Field-star calibration, stamps and forced PSF photometry of every object and template
    on a science image."""
    input:
        diff=f"{DIA}/subtract/{{sci}}.fits",
        prepared=f"{DIA}/prepare/{{sci}}.fits",
    output:
        rows=f"{DIA}/phot/{{sci}}.json",
        stamps=f"{DIA}/stamps/{{sci}}.fits",
    log:
        "logs/photometry/{sci}.log",
    benchmark:
        "benchmarks/photometry/{sci}.tsv"
    conda:
        "../../envs/romandia.yaml"
    params:
        rows=photometry_rows,
        catalog=star_catalog,
        colour_catalogs=colour_catalogs,
        exclude=objects_radec_on_image,
        phot=config["photometry"],
        dq=config["dq"],
        calibration=config["calibration"],
        psf=config["psf"],
        resample_kernel=config["resample_kernel"],
    script:
        "../../scripts/photometry.py"
