rule psf:
    """A PSF stamp of an image at an object's position."""
    input:
        f"{DIA}/staged/{{image}}.fits",
    output:
        f"{DIA}/psf/{{image}}/{{oid}}.fits",
    params:
        radec=object_radec,
        psf=config["psf"],
    log:
        "logs/psf/{image}/{oid}.log",
    script:
        "../../scripts/psf.py"
