rule stamps:
    """Cutouts at the object: science, aligned template, difference, variances."""
    input:
        sci=f"{DIA}/sky/{{sci}}.fits",
        tmpl=f"{DIA}/sky/{{tmpl}}.fits",
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
