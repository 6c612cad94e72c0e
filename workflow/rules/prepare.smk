rule prepare:
    """One input image: fetch (validate, cut out around the objects), sky_subtract (sky,
    variance, detection mask) and psf (the PSF at every configured object on it), in one
    product (romandia.products: prepared)."""
    input:
        image_file,
    output:
        f"{DIA}/prepare/{{image}}.fits",
    log:
        "logs/prepare/{image}.log",
    benchmark:
        "benchmarks/prepare/{image}.tsv"
    conda:
        "../../envs/romandia.yaml"
    resources:
        download=DOWNLOAD,
    params:
        image=image_params,
        fetch=fetch_params,
        cutout_size=config["cutout_size"],
        sky=config["sky"],
        variance=config["variance"],
        dq=config["dq"],
        asdf=config["asdf"],
        psf=config["psf"],
    script:
        "../../scripts/prepare.py"
