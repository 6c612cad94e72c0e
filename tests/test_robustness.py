"""Robustness on real runs of the `test` preset: a bad image costs only its rows; SIGKILL at
five points of a run and `--rerun-incomplete` give byte-identical lightcurves; two runs are
byte-identical (determinism)."""

import gzip
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from romandia.validation.run import workflow_config

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, NUMBA_CACHE_DIR=str(REPO / ".numba_cache"))


def smk_cmd(workdir, cfg, *args):
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-d", str(workdir),
            "--cores", "2", "--configfile", str(cfg), *args]


def run_smk(workdir, cfg, *args, timeout=600):
    return subprocess.run(smk_cmd(workdir, cfg, *args), capture_output=True, text=True, timeout=timeout, env=ENV)


def write_config(sims: Path, workdir: Path) -> Path:
    """``workdir/config.yaml`` for every object of the simulated set (romandia's defaults)."""
    return workflow_config(sims, workdir)


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
    """Determinism, and the worker changes nothing: the reference ran its single-threaded jobs
    in the worker's forked processes (romandia.worker), this run starts every job itself."""
    cfg = write_config(sims, tmp_path)
    res = run_smk(tmp_path, cfg, "--config", "worker=False")
    assert res.returncode == 0, res.stderr[-4000:]
    assert "imports done" in (reference / "logs" / "worker.log").read_text()
    assert not (tmp_path / "logs" / "worker.log").exists()
    files = lc_files(reference)
    assert files and files == lc_files(tmp_path)
    for f in files:
        ref, new = (reference / f).read_bytes(), (tmp_path / f).read_bytes()
        if f.name == "run_settings.csv":  # records the setting itself
            assert ref.replace(b"worker,True", b"worker,False") == new, f
        else:
            assert ref == new, f


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


# --------------------------------------------------------------------------- bad inputs
# One run of the `test` preset (1 object, 3 science images) with three bad inputs at once:
# science image 0 shifted so that the object falls off it (its frame still overlaps the
# template), the object saturated in science image 1, and a second template from a pointing
# that overlaps no science image.  Science image 2 with the good template must come out as in
# the clean run.
OID = 90000001
RADEC = "(7.600000, -44.500000)"


def _rewrite(path, edit):
    """Apply ``edit(hdul)`` to a .fits.gz image in place."""
    from astropy.io import fits

    with fits.open(io.BytesIO(gzip.decompress(path.read_bytes()))) as hdul:
        edit(hdul)
        buf = io.BytesIO()
        hdul.writeto(buf)
    path.write_bytes(gzip.compress(buf.getvalue(), compresslevel=1, mtime=0))


def _shift_header(key, delta):
    def edit(hdul):
        for h in hdul:
            if key in h.header:
                h.header[key] += delta
    return edit


def _saturate_object(hdul):
    from astropy.wcs import WCS

    from romandia.constants import SATURATION

    w = WCS(hdul["SCI"].header)
    x, y = (int(round(float(v))) for v in w.world_to_pixel_values(7.6, -44.5))
    hdul["SCI"].data[y - 2: y + 3, x - 2: x + 3] = SATURATION  # OU2024 clips at this level


def _rows(work):
    lc = next((work / "results" / "lc_out_dir").rglob("*_all.csv"))
    df = pd.read_csv(lc, keep_default_na=False)
    return {(r["science_name"], r["template_name"]): r for _, r in df.iterrows()}


@pytest.fixture(scope="module")
def bad_run(sims, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    bad = root / "sims"
    shutil.copytree(sims, bad)
    sci = science_images(bad)
    obj = yaml.safe_load((bad / "objects.yaml").read_text())[0]
    tlist = bad / obj["templates"]
    t0_rel = tlist.read_text().splitlines()[1].split()[0]
    t0 = bad / "images" / "simple_model" / t0_rel
    _rewrite(sci[0], _shift_header("CRPIX1", 200.0))  # object at x ~ 328 of 256
    _rewrite(sci[1], _saturate_object)
    t1 = t0.parents[1] / "100004" / t0.name.replace("_100000_", "_100004_")
    t1.parent.mkdir()
    t1.write_bytes(t0.read_bytes())
    _rewrite(t1, _shift_header("CRVAL2", 0.2))  # 12 arcmin away: another pointing
    with tlist.open("a") as f:
        f.write(f"{t1.relative_to(bad / 'images' / 'simple_model')} 100004 7 62301.0 H158\n")
    work = root / "work"
    cfg = write_config(bad, work)
    res = run_smk(work, cfg)
    return {"res": res, "out": res.stdout + res.stderr, "work": work, "sims": bad, "cfg": cfg,
            "sci": [p.name for p in sci], "t0": t0.name, "t1": t1.name}


def _good_row_intact(bad_run, reference):
    """The one clean pair (science 2, good template) succeeds with the clean run's flux."""
    assert bad_run["res"].returncode == 0, bad_run["out"][-4000:]
    rows = _rows(bad_run["work"])
    assert len(rows) == 6  # 3 science x 2 templates: every pair keeps its row
    good = rows[(bad_run["sci"][2], bad_run["t0"])]
    assert str(good["success"]) == "True" and good["failure_reason"] == ""
    ref = _rows(reference)[(bad_run["sci"][2], bad_run["t0"])]
    assert float(good["flux"]) == float(ref["flux"])
    assert "romandia: 5 pair(s) failed" in bad_run["out"]
    return rows


def test_object_outside_one_science_image_costs_only_its_rows(bad_run, reference):
    rows = _good_row_intact(bad_run, reference)
    sci0 = bad_run["sci"][0]
    for tmpl in (bad_run["t0"], bad_run["t1"]):
        r = rows[(sci0, tmpl)]
        assert str(r["success"]) == "False"
        assert r["failure_reason"].startswith(
            f"psf: object {OID} at {RADEC} is outside image H158_100001_2 (pixel 3"
        ), r["failure_reason"]
        assert r["failure_reason"].endswith("of 256x256)")


def test_template_without_overlap_costs_only_its_pairs(bad_run, reference):
    rows = _good_row_intact(bad_run, reference)
    for sci in bad_run["sci"][1:]:
        r = rows[(sci, bad_run["t1"])]
        assert str(r["success"]) == "False"
        key = sci.removeprefix("Roman_TDS_simple_model_").removesuffix(".fits.gz")
        assert r["failure_reason"] == (
            f"align: template and science images do not overlap (template H158_100004_7, science {key}); "
            "the template list should hold images that cover the object"
        )
        assert r["failure_reason"] in bad_run["out"]  # the end-of-run summary lists it


def test_saturated_object_is_flagged_not_measured(bad_run, reference):
    rows = _good_row_intact(bad_run, reference)
    r = rows[(bad_run["sci"][1], bad_run["t0"])]
    assert str(r["success"]) == "False" and r["flux"] in ("", "nan", "NaN")
    assert re.fullmatch(
        r"photometry: object saturated in the science image: \d+ pixel\(s\) >= 90000 counts within 3\.0 px",
        r["failure_reason"],
    ), r["failure_reason"]
    assert float(r["mjd"]) > 0  # the row keeps what is known of the pair


def _no_job_ran(work):
    assert not (work / "results").exists() and not (work / "logs").exists()


def test_object_outside_all_images_stops_before_any_job(sims, tmp_path):
    cfg = write_config(sims, tmp_path)
    c = yaml.safe_load(cfg.read_text())
    c["objects"][0]["ra"] = 7.7  # 0.07 deg = 4 arcmin east: on none of the 256 px cutouts
    cfg.write_text(yaml.safe_dump(c, sort_keys=False))
    res = run_smk(tmp_path, cfg)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    o = c["objects"][0]
    assert (
        f"config key objects[0] (oid {OID}, band H158): object {OID} at RA 7.700000, Dec -44.500000 is "
        f"outside every image in its template list '{o['templates']}' and science list '{o['science']}' "
        "(4 checked; H158_100000_7 puts it at pixel ("
    ) in out, out[-3000:]
    assert "so every pair would fail; check its ra/dec (degrees) or list images that contain it" in out
    _no_job_ran(tmp_path)


def test_object_outside_its_science_images_names_that_list(bad_run):
    """Inside the template but outside every science image (only the shifted one listed)."""
    from romandia.errors import InputError
    from romandia.plan import build_plan, check_objects_on_images

    c = yaml.safe_load(bad_run["cfg"].read_text())
    lines = Path(c["objects"][0]["science"]).read_text().splitlines()
    only = bad_run["work"] / "science_shifted.csv"
    only.write_text("\n".join(lines[:2]) + "\n")
    c["objects"][0]["science"] = str(only)
    with pytest.raises(InputError) as exc:
        check_objects_on_images(build_plan(c))
    msg = str(exc.value)
    assert f"is outside every image in its science list '{only}' (1 checked; H158_100001_2 puts it at" in msg
    assert "template list" not in msg


def test_unwritable_output_dir_stops_before_any_job(sims, tmp_path):
    blocker = tmp_path / "somefile.txt"
    blocker.write_text("a file where a directory is needed\n")  # root cannot mkdir under it either
    cfg = write_config(sims, tmp_path / "work")
    c = yaml.safe_load(cfg.read_text())
    c["lc_out_dir"] = str(blocker / "lc")
    cfg.write_text(yaml.safe_dump(c, sort_keys=False))
    res = run_smk(tmp_path / "work", cfg)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert (
        f"config key 'lc_out_dir': output directory '{blocker}/lc' cannot be created: '{blocker}' is a file, "
        "not a directory; set lc_out_dir to a directory you can write (see config/README.md)"
    ) in out, out[-3000:]
    _no_job_ran(tmp_path / "work")


@pytest.mark.parametrize("key", ["dia_out_dir", "lc_out_dir"])
def test_output_dir_checks(tmp_path, key):
    """The check the workflow runs at parse time (above), for both keys and each case."""
    from romandia.config import check_output_dirs
    from romandia.errors import InputError

    afile = tmp_path / "afile"
    afile.write_text("")
    f = re.escape(str(afile))
    check_output_dirs({key: str(tmp_path / "new" / "deeper")})  # creatable: fine, and not created
    assert not (tmp_path / "new").exists()
    with pytest.raises(InputError, match=rf"^config key '{key}': output directory '{f}/x' cannot be created: "
                       rf"'{f}' is a file, not a directory; set {key} to a directory you can write"):
        check_output_dirs({key: str(afile / "x")})
    with pytest.raises(InputError, match=rf"^config key '{key}': output directory '{f}' is a file"):
        check_output_dirs({key: str(afile)})
