rule stamps:
    """Cutouts at the object of the science, aligned template, difference and variance."""
    input:
        sci=f"{DIA}/sky/{{sci}}.fits",
        aligned=f"{DIA}/align/{{sci}}--{{tmpl}}.fits",
        diff=f"{DIA}/subtract/{{sci}}--{{tmpl}}.fits",
    output:
        f"{DIA}/stamps/{{oid}}/{{sci}}--{{tmpl}}.fits",
    log:
        "logs/stamps/{oid}/{sci}--{tmpl}.log",
    benchmark:
        "benchmarks/stamps/{oid}/{sci}--{tmpl}.tsv"
    conda:
        "../../envs/romandia.yaml"
    params:
        radec=object_radec,
        size=config["photometry"]["stamp_size"],
    script:
        "../../scripts/stamps.py"
