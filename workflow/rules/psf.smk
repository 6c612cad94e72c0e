rule psf:
    """The PSF of an image at every configured object on it (one job per image)."""
    input:
        f"{DIA}/staged/{{image}}.fits",
    output:
        f"{DIA}/psf/{{image}}.fits",
    log:
        "logs/psf/{image}.log",
    benchmark:
        "benchmarks/psf/{image}.tsv"
    conda:
        "../../envs/romandia.yaml"
    params:
        objects=image_objects,
        psf=config["psf"],
    script:
        "../../scripts/psf.py"
