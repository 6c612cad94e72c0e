rule subtract:
    """Cross-convolve, SFFT, decorrelate; the difference, its variance and PSF."""
    input:
        unpack(anchor_psfs),
        sci=f"{DIA}/sky/{{sci}}.fits",
        aligned=f"{DIA}/align/{{sci}}--{{tmpl}}.fits",
    output:
        f"{DIA}/subtract/{{sci}}--{{tmpl}}.fits",
    log:
        "logs/subtract/{sci}--{tmpl}.log",
    benchmark:
        "benchmarks/subtract/{sci}--{tmpl}.tsv"
    conda:
        "../../envs/romandia.yaml"
    threads: config["threads"]
    resources:
        gpu=GPU,
    params:
        sfft=config["sfft"],
        exclude=objects_radec_on_image,
        backend=config["backend"],
    script:
        "../../scripts/subtract.py"
