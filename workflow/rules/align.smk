rule align:
    """Resample the template (image, variance, mask) onto the science grid; rotate its PSF."""
    input:
        unpack(anchor_psfs),
        sci=f"{DIA}/sky/{{sci}}.fits",
        tmpl=f"{DIA}/sky/{{tmpl}}.fits",
    output:
        f"{DIA}/align/{{sci}}--{{tmpl}}.fits",
    log:
        "logs/align/{sci}--{tmpl}.log",
    benchmark:
        "benchmarks/align/{sci}--{tmpl}.tsv"
    conda:
        "../../envs/romandia.yaml"
    resources:
        gpu=GPU,
    params:
        radec=anchor_radec,
        kernel=config["resample_kernel"],
        backend=config["backend"],
    script:
        "../../scripts/align.py"
