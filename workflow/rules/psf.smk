rule psf:
    """A PSF stamp of an image at an object's position."""
    input:
        f"{DIA}/staged/{{image}}.fits",
    output:
        f"{DIA}/psf/{{image}}/{{oid}}.fits",
    log:
        "logs/psf/{image}/{oid}.log",
    benchmark:
        "benchmarks/psf/{image}/{oid}.tsv"
    conda:
        "../../envs/romandia.yaml"
    params:
        radec=object_radec,
        psf=config["psf"],
    script:
        "../../scripts/psf.py"
