rule subtract:
    """Every template of a science image: align (resample onto the science grid, rotate the
    template PSF), then subtract (cross-convolve, SFFT, decorrelate; differences, variances
    and PSFs). The GPU rule."""
    input:
        unpack(subtract_inputs),
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
        pairs=subtract_pairs,
        kernel=config["resample_kernel"],
        template_psf=config["template_psf"],
        psf=config["psf"],
        sfft=config["sfft"],
        exclude=objects_radec_on_image,
        backend=config["backend"],
    script:
        "../../scripts/subtract.py"
