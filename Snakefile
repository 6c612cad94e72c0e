"""romandia: OU2024 Roman images -> difference images -> forced photometry -> lightcurves."""


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/subtract.smk"
include: "workflow/rules/photometry.smk"
include: "workflow/rules/lightcurve.smk"


localrules:
    all,
    lightcurve,
    summary,


rule all:
    default_target: True
    input:
        final_outputs(),


onstart:
    start_worker()


onsuccess:
    stop_worker()
    print_failure_summary(final_outputs())


onerror:
    stop_worker()
