rule fetch:
    """Validate an input image and stage it (decompressed, cut out around the objects)."""
    input:
        image_file,
    output:
        f"{DIA}/staged/{{image}}.fits",
    log:
        "logs/fetch/{image}.log",
    benchmark:
        "benchmarks/fetch/{image}.tsv"
    conda:
        "../../envs/romandia.yaml"
    params:
        image=image_params,
        cutout_size=config["cutout_size"],
    script:
        "../../scripts/fetch.py"
