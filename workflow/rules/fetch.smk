rule fetch:
    """Validate an input image and stage it (decompressed, cut out around the objects)."""
    input:
        image_file,
    output:
        f"{DIA}/staged/{{image}}.fits",
    params:
        image=image_params,
        cutout_size=config["cutout_size"],
    log:
        "logs/fetch/{image}.log",
    script:
        "../../scripts/fetch.py"
