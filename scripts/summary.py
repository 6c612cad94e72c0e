"""Rule summary: the run's failed pairs and its settings and versions (romandia.report)."""

# ruff: noqa: E402 - the imports below are the job's own, after handing it to the worker
from romandia.worker import delegate

delegate(snakemake)  # noqa: F821 - a running worker runs this job in a forked process instead

from pathlib import Path

from romandia import provenance, report, runner


def main(log):
    sm = snakemake  # noqa: F821
    failed = report.failed_pairs(sm.input)
    failed.to_csv(sm.output.failed, index=False)
    code = provenance.git_commit(Path(sm.scriptdir).parent)
    report.run_settings(sm.params.config, version=_version(), code=code).to_csv(sm.output.settings, index=False)
    log.info("%d failed pair(s)", len(failed))


def _version():
    import romandia

    return romandia.__version__


runner.run(snakemake, main, failure_outputs=[])  # noqa: F821
