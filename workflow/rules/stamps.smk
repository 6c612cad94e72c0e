rule stamps:
    """Cutouts at the object of the science, aligned template, difference and variance."""
    input:
        sci=f"{DIA}/sky/{{sci}}.fits",
        aligned=f"{DIA}/align/{{sci}}--{{tmpl}}.fits",
        diff=f"{DIA}/subtract/{{sci}}--{{tmpl}}.fits",
    output:
        f"{DIA}/stamps/{{oid}}/{{sci}}--{{tmpl}}.fits",
    params:
        radec=object_radec,
        size=config["photometry"]["stamp_size"],
    log:
        "logs/stamps/{oid}/{sci}--{tmpl}.log",
    script:
        "../../scripts/stamps.py"
