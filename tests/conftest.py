"""Fixtures shared by the workflow test modules."""

import pytest


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
