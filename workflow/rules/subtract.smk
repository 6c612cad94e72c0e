rule subtract:
    """Every pair of a science image: cross-convolve, SFFT, decorrelate; differences,
    variances and PSFs."""
    input:
        sci=f"{DIA}/sky/{{sci}}.fits",
        sci_psf=f"{DIA}/psf/{{sci}}.fits",
        aligned=f"{DIA}/align/{{sci}}.fits",
    output:
        f"{DIA}/subtract/{{sci}}.fits",
    log:
        "logs/subtract/{sci}.log",
    benchmark:
        "benchmarks/subtract/{sci}.tsv"
    conda:
        "../../envs/romandia.yaml"
    threads: config["threads"]
    resources:
        gpu=GPU,
    params:
        sfft=config["sfft"],
        exclude=objects_radec_on_image,
        anchors=subtract_anchors,
        backend=config["backend"],
    script:
        "../../scripts/subtract.py"
