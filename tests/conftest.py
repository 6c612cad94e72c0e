"""Fixtures shared by the workflow test modules."""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    """Without a SLURM test in the run, tell SLURM's clients there is no cluster.

    Every Snakemake start imports the slurm executor plugin, which asks ``scontrol show
    config`` for MinJobAge when it is imported; where SLURM is installed but its controller is
    not running (this project's test machines between ``make test-slurm`` runs) that call
    waits 9-10 s for its timeout, at every one of the suite's ~60 Snakemake starts.  With
    ``SLURM_CONF=/dev/null`` it fails at once, as on a machine without SLURM.  Runs that
    select a ``slurm`` test keep the environment as it is.
    """
    if not any(item.get_closest_marker("slurm") for item in items):
        os.environ["SLURM_CONF"] = os.devnull


@pytest.fixture(scope="session")
def local(tmp_path_factory):
    """The `test` preset simulated as FITS and as Roman L2 ASDF (``lists_asdf/``), and one
    workflow run on the FITS images: the reference the remote and ASDF runs are compared with."""
    from test_workflow_e2e import make_config, snakemake

    from romandia.simulate import simulate

    sims = tmp_path_factory.mktemp("sims")
    simulate("test", sims, config_overrides={"image": {"formats": ["fits", "asdf"]}})
    work = tmp_path_factory.mktemp("local")
    res = snakemake(work, "--cores", "2", "--configfile", str(make_config(sims, work)))
    assert res.returncode == 0, res.stderr[-4000:]
    return {"sims": sims, "work": work}
