rule sky_subtract:
    """Background, RMS, variance and the detection mask of extended sources."""
    input:
        f"{DIA}/staged/{{image}}.fits",
    output:
        f"{DIA}/sky/{{image}}.fits",
    log:
        "logs/sky_subtract/{image}.log",
    benchmark:
        "benchmarks/sky_subtract/{image}.tsv"
    conda:
        "../../envs/romandia.yaml"
    params:
        sky=config["sky"],
        variance=config["variance"],
    script:
        "../../scripts/sky_subtract.py"
