rule align:
    """Every template of a science image resampled onto its grid, template PSFs rotated."""
    input:
        unpack(align_inputs),
    output:
        f"{DIA}/align/{{sci}}.fits",
    log:
        "logs/align/{sci}.log",
    benchmark:
        "benchmarks/align/{sci}.tsv"
    conda:
        "../../envs/romandia.yaml"
    resources:
        gpu=GPU,
    params:
        pairs=align_pairs,
        kernel=config["resample_kernel"],
        backend=config["backend"],
    script:
        "../../scripts/align.py"
