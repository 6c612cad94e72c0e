"""Dry runs of the real Snakefile: jobs keyed by image (their number independent of templates
per science image and objects per image), config validation errors that name the key."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
H = "path observation_id sca mjd band\n"


def row(obs, sca, band="R062"):
    return f"{band}/{obs}/Roman_TDS_simple_model_{band}_{obs}_{sca}.fits.gz {obs} {sca} 62000.0 {band}\n"


def snakemake(workdir, *args, timeout=120):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def job_counts(out: str) -> dict:
    counts = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)$", out, flags=re.M):
        counts[m.group(1)] = int(m.group(2))
    return counts


@pytest.fixture
def two_objects(tmp_path):
    """Two objects sharing one template and one science image (3 + 2 science, 1 template)."""
    (tmp_path / "t.csv").write_text(H + row(6, 17))
    (tmp_path / "s1.csv").write_text(H + row(10, 1) + row(11, 2) + row(12, 3))
    (tmp_path / "s2.csv").write_text(H + row(12, 3) + row(13, 4))
    cfg = {
        "sims_dir": "sims",
        "objects": [
            {"oid": 1, "ra": 7.55, "dec": -44.8, "band": "R062", "templates": "t.csv", "science": "s1.csv"},
            {"oid": 2, "ra": 7.56, "dec": -44.8, "band": "R062", "templates": "t.csv", "science": "s2.csv"},
        ],
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def test_dry_run_counts_jobs_per_image(two_objects):
    res = snakemake(two_objects, "-n", "--quiet", "rules", "--configfile", str(two_objects / "config.yaml"))
    assert res.returncode == 0, res.stderr
    counts = job_counts(res.stdout + res.stderr)
    # per input image (1 template + 4 science images, science 12/3 shared by both objects)
    assert counts["prepare"] == 5
    # per science image, whatever the number of templates and objects on it
    assert counts["subtract"] == counts["photometry"] == 4
    assert counts["lightcurve"] == 2
    # one job per image, two per science image, one per lightcurve (and summary, all)
    assert counts == {"prepare": 5, "subtract": 4, "photometry": 4, "lightcurve": 2, "summary": 1, "all": 1,
                      "total": 17}
    assert not (two_objects / "results").exists(), "a dry run must not touch data"


def test_job_count_does_not_grow_with_templates_or_objects(two_objects):
    """Adding templates and objects on the same images adds no subtract/photometry job."""
    (two_objects / "t2.csv").write_text(H + row(6, 17) + row(7, 9) + row(8, 2))
    cfg = yaml.safe_load((two_objects / "config.yaml").read_text())
    for o in cfg["objects"]:
        o["templates"] = "t2.csv"
    cfg["objects"] += [dict(cfg["objects"][0], oid=3 + i, ra=7.55 + 0.001 * i) for i in range(5)]
    (two_objects / "more.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(two_objects, "-n", "--quiet", "rules", "--configfile", str(two_objects / "more.yaml"))
    assert res.returncode == 0, res.stderr
    counts = job_counts(res.stdout + res.stderr)
    assert counts["prepare"] == 7  # 3 templates + 4 science images
    assert counts["subtract"] == counts["photometry"] == 4
    assert counts["lightcurve"] == 7  # per object and band


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"threads": "many"}, r"config key 'threads': 'many' is not of type 'integer'"),
        ({"cutout_size": -5}, r"config key 'cutout_size': -5 is less than the minimum of 64"),
        ({"psf": {"type": "webbpsf"}}, r"config key 'psf.type': 'webbpsf' is not one of \['galsim', 'gaussian', 'file'\]"),
        ({"colour": "blue"}, r"Additional properties are not allowed \('colour' was unexpected\)"),
    ],
)
def test_bad_config_names_the_key(two_objects, patch, match):
    cfg = yaml.safe_load((two_objects / "config.yaml").read_text())
    cfg.update(patch)
    (two_objects / "bad.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(two_objects, "-n", "--configfile", str(two_objects / "bad.yaml"))
    assert res.returncode != 0
    assert re.search(match, res.stdout + res.stderr), res.stdout + res.stderr


def test_bad_csv_is_reported_with_file_and_line(two_objects):
    (two_objects / "s2.csv").write_text(H + "R062/13/x.fits.gz 13 4 soon R062\n")
    res = snakemake(two_objects, "-n", "--configfile", str(two_objects / "config.yaml"))
    assert res.returncode != 0
    assert "s2.csv:2: mjd 'soon' is not a number" in res.stdout + res.stderr
