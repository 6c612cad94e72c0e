"""The example configurations users copy (`.test/<case>/config.yaml`): each passes
`snakemake --lint` and runs end to end on the `test` preset (marker `examples`: `make
test-examples`, run by CI after `make test`)."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow_e2e import REPO, snakemake

from romandia.validation import PHROSTY_CONFIG

CASES = sorted(p.name for p in (REPO / ".test").iterdir() if (p / "config.yaml").is_file())


def test_the_phrosty_example_holds_romandia_validations_phrosty_choices():
    cfg = yaml.safe_load((REPO / ".test" / "phrosty" / "config.yaml").read_text())
    assert {k: cfg[k] for k in PHROSTY_CONFIG} == PHROSTY_CONFIG


@pytest.fixture(scope="module")
def examples_root(tmp_path_factory):
    """A copy of the repository's example configs next to freshly simulated .test/data."""
    from romandia.simulate import simulate

    root = tmp_path_factory.mktemp("examples")
    shutil.copytree(REPO / ".test", root / ".test", ignore=shutil.ignore_patterns("data"))
    simulate("test", root / ".test" / "data", config_overrides={"image": {"formats": ["fits", "asdf"]}})
    return root


@pytest.mark.examples
@pytest.mark.parametrize("case", CASES)
def test_example_lints_and_runs(examples_root, case):
    cfg = examples_root / ".test" / case / "config.yaml"
    res = snakemake(examples_root, "--lint", "--configfile", str(cfg))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    res = snakemake(examples_root, "--cores", "2", "--configfile", str(cfg))
    assert res.returncode == 0, res.stderr[-4000:]
    lc_dir = examples_root / yaml.safe_load(cfg.read_text())["lc_out_dir"]
    (csv,) = sorted(Path(lc_dir).glob("data/*/*_all.csv"))
    df = pd.read_csv(csv)
    assert len(df) == 3 and df["success"].all(), df[["mjd", "flux", "success", "failure_reason"]]
