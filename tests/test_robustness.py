"""Robustness on real runs of the `test` preset: a bad image costs only its rows; SIGKILL at
five points of a run and `--rerun-incomplete` give byte-identical lightcurves; two runs are
byte-identical (determinism)."""

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, NUMBA_CACHE_DIR=str(REPO / ".numba_cache"))


def smk_cmd(workdir, cfg, *args):
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-d", str(workdir),
            "--cores", "2", "--configfile", str(cfg), *args]


def run_smk(workdir, cfg, *args, timeout=600):
    return subprocess.run(smk_cmd(workdir, cfg, *args), capture_output=True, text=True, timeout=timeout, env=ENV)


def write_config(sims: Path, workdir: Path) -> Path:
    objects = yaml.safe_load((sims / "objects.yaml").read_text())
    for o in objects:
        o["templates"] = str(sims / o["templates"])
        o["science"] = str(sims / o["science"])
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump({"sims_dir": str(sims), "objects": objects, "threads": 2}, sort_keys=False))
    return path


def lc_files(workdir):
    return sorted(p.relative_to(workdir) for p in (workdir / "results" / "lc_out_dir").rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    from romandia.simulate import simulate

    out = tmp_path_factory.mktemp("sims")
    simulate("test", out)
    return out


@pytest.fixture(scope="module")
def reference(sims, tmp_path_factory):
    work = tmp_path_factory.mktemp("ref")
    cfg = write_config(sims, work)
    res = run_smk(work, cfg)
    assert res.returncode == 0, res.stderr[-4000:]
    return work


def science_images(sims):
    obj = yaml.safe_load((sims / "objects.yaml").read_text())[0]
    rows = (sims / obj["science"]).read_text().splitlines()[1:]
    return [sims / "images" / "simple_model" / r.split()[0] for r in rows]


def test_two_runs_are_byte_identical(sims, reference, tmp_path):
    cfg = write_config(sims, tmp_path)
    res = run_smk(tmp_path, cfg)
    assert res.returncode == 0, res.stderr[-4000:]
    files = lc_files(reference)
    assert files and files == lc_files(tmp_path)
    for f in files:
        assert (reference / f).read_bytes() == (tmp_path / f).read_bytes(), f


def test_bad_images_cost_only_their_rows(sims, reference, tmp_path):
    bad = tmp_path / "sims"
    shutil.copytree(sims, bad)
    sci = science_images(bad)
    # one truncated download, one missing file; the third science image is fine
    sci[0].write_bytes(sci[0].read_bytes()[: 5000])
    sci[1].unlink()
    cfg = write_config(bad, tmp_path / "work")
    res = run_smk(tmp_path / "work", cfg)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "2 pair(s) failed" in out
    lc = next((tmp_path / "work" / "results" / "lc_out_dir").rglob("*_all.csv"))
    df = pd.read_csv(lc, keep_default_na=False).set_index("science_name")
    assert len(df) == 3
    assert df.loc[sci[0].name, "success"] is False or str(df.loc[sci[0].name, "success"]) == "False"
    assert "fetch:" in df.loc[sci[0].name, "failure_reason"]
    assert "corrupt or truncated" in df.loc[sci[0].name, "failure_reason"]
    assert "image file not found" in df.loc[sci[1].name, "failure_reason"]
    good = df.loc[sci[2].name]
    assert str(good["success"]) == "True" and good["failure_reason"] == ""
    # the good pair's numbers are those of the clean run
    ref = pd.read_csv(next((reference / "results" / "lc_out_dir").rglob("*_all.csv")), keep_default_na=False)
    ref = ref.set_index("science_name").loc[sci[2].name]
    assert float(good["flux"]) == float(ref["flux"])


def _outputs(workdir):
    return sum(1 for p in (workdir / "results").rglob("*") if p.is_file()) if (workdir / "results").exists() else 0


def test_sigkill_at_five_points_then_rerun_is_identical(sims, reference, tmp_path):
    cfg = write_config(sims, tmp_path)
    total = _outputs(reference)
    kill_at = [1, 4, 8, 14, total - 4]  # numbers of finished outputs at which the run is killed
    kills = 0
    for target in kill_at:
        run_smk(tmp_path, cfg, "--unlock")
        proc = subprocess.Popen(
            smk_cmd(tmp_path, cfg, "--rerun-incomplete", "--cores", "1"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, start_new_session=True,
        )
        deadline = time.time() + 300
        while proc.poll() is None and _outputs(tmp_path) < target and time.time() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its running job
            kills += 1
        proc.wait()
    assert kills >= 5
    run_smk(tmp_path, cfg, "--unlock")
    res = run_smk(tmp_path, cfg, "--rerun-incomplete")
    assert res.returncode == 0, res.stderr[-4000:]
    for f in lc_files(reference):
        assert (reference / f).read_bytes() == (tmp_path / f).read_bytes(), f
    leftovers = [p for p in (tmp_path / "results").rglob("*.tmp")]
    assert leftovers == [], "temporary files of killed jobs must not be left behind as outputs"


def test_gzip_header_of_truncated_file_is_detected(sims, tmp_path):
    """Sanity check of the fixture above: a truncated .fits.gz really is truncated."""
    src = science_images(sims)[0]
    data = src.read_bytes()[:5000]
    with pytest.raises((EOFError, OSError)):
        gzip.decompress(data)
