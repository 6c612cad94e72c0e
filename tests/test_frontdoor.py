"""`romandia run`: phrosty's own example command (its Perlmutter guide's flags and config file)
on the simulator's data gives phrosty's output paths and columns; bad or conflicting flags get
a clear error naming them; provenance ids are stable across reruns and follow the parameters."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from romandia import frontdoor, provenance
from romandia.errors import InputError
from romandia.lightcurve import COLUMNS as LIGHTCURVE_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def romandia_run(*args, cwd):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(REPO / ".numba_cache"))
    return subprocess.run([sys.executable, "-m", "romandia.cli", "run", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=900)


def phrosty_config(path: Path, sims: Path, out: Path) -> Path:
    """phrosty's examples/perlmutter/phrosty_config.yaml with its paths pointed at ``sims``/``out``."""
    cfg = {
        "replaceable_preloads": ["/snpit_env/configs/nov2025_container_config.yaml"],
        "system": {"paths": {"scratch_dir": str(out / "scratch"), "temp_dir": str(out / "scratch"),
                             "dia_out_dir": str(out / "dia_out_dir"), "ltcv_dir": str(out / "lc_out_dir"),
                             "snappl": {"A25ePSF_path": "/a25epsf"}},
                   "ou24": {"images": str(sims / "images" / "simple_model"), "sn_truth_dir": str(sims / "snana")}},
        "photometry": {"snappl": {"temp_dir": "/scratch"},
                       "phrosty": {"image_type": "ou2024fits", "force_sky_subtract": False, "keep_intermediate": True,
                                   "remove_temp_dir": False, "mem_trace": False, "kerpolyorder": 2,
                                   "sfft": {"radius_cut_detmask": 2}, "psf": {"type": "A25ePSF", "params": {}}}},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def example_args(sims: Path, obj: dict, cfg: Path):
    """phrosty's canonical command (docs/usage.rst), with the simulator's object and lists."""
    return ["-c", str(cfg), "--oid", str(obj["oid"]), "-oc", "ou2024", "-b", obj["band"], "-r", repr(obj["ra"]),
            "-d", repr(obj["dec"]), "-ic", "ou2024", "-t", str(sims / obj["templates"]), "-s",
            str(sims / obj["science"]), "-p", "2", "-w", "3", "-v"]


def test_phrostys_example_command_gives_phrostys_paths_and_columns(local, tmp_path):
    sims = local["sims"]
    obj = yaml.safe_load((sims / "objects.yaml").read_text())[0]
    cfg = phrosty_config(tmp_path / "phrosty_config.yaml", sims, tmp_path)
    res = romandia_run(*example_args(sims, obj, cfg), "--out", str(tmp_path / "work"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "A25ePSF: romandia has no A25ePSF" in res.stderr and "ignored (no meaning in romandia)" in res.stderr
    # phrosty's path: {ltcv_dir}/data/{oid}/{oid}_{band}_all.csv, with phrosty's columns first
    lc = tmp_path / "lc_out_dir" / "data" / str(obj["oid"]) / f"{obj['oid']}_{obj['band']}_all.csv"
    df = pd.read_csv(lc)
    assert list(df.columns[: len(LIGHTCURVE_COLUMNS)]) == list(LIGHTCURVE_COLUMNS)
    assert len(df) == len((sims / obj["science"]).read_text().splitlines()) - 1 and df["success"].all()
    ref = pd.read_csv(sorted((local["work"] / "results" / "lc_out_dir" / "data").glob("*/*_all.csv"))[0])
    assert ((df["flux"] - ref["flux"]).abs() / ref["flux_err"]).max() < 1e-6
    used = yaml.safe_load((tmp_path / "work" / frontdoor.CONFIG_NAME).read_text())
    assert used["sims_dir"] == str(sims) and used["psf"]["type"] == "galsim"
    assert used["sfft"]["kernel_poly_order"] == 2 and used["sky"]["radius_cut"] == 2
    # provenance beside the lightcurve; a rerun of the lightcurve keeps its id
    prov_path = lc.with_name(f"{obj['oid']}_{obj['band']}_provenance.json")
    first = json.loads(prov_path.read_text())
    assert first["process"] == "romandia" and len(first["upstream_ids"]) == len(df) + 2  # images + object
    assert all(len(u["params"].get("sha256", "")) == 64 for u in first["upstreams"] if u["process"] == "image_file")
    res = romandia_run(*example_args(sims, obj, cfg), "--out", str(tmp_path / "work"), "--",
                       "--forcerun", "lightcurve", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]
    again = json.loads(prov_path.read_text())
    assert again["id"] == first["id"] and again["upstreams"] == first["upstreams"]
    # a changed parameter changes the id (dry run: the record is recomputed from the same inputs)
    params = dict(first["params"], sfft=dict(first["params"]["sfft"], kernel_poly_order=1))
    assert provenance.provenance_id("romandia", 0, 1, params, first["upstream_ids"]) != first["id"]
    assert provenance.provenance_id("romandia", 0, 1, first["params"], first["upstream_ids"]) == first["id"]


def test_many_objects_from_a_csv_and_a_dry_run(local, tmp_path):
    sims = local["sims"]
    objs = yaml.safe_load((sims / "objects.yaml").read_text())
    lines = ["oid ra dec band templates science"]
    lines += [f"{o['oid']} {o['ra']!r} {o['dec']!r} {o['band']} {sims / o['templates']} {sims / o['science']}"
              for o in objs]
    (tmp_path / "objects.csv").write_text("\n".join(lines) + "\n")
    res = romandia_run("--objects", "objects.csv", "--sims-dir", str(sims), "-n", "--out", "w", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "lightcurve" in res.stdout + res.stderr and not (tmp_path / "w" / "results").exists()
    used = yaml.safe_load((tmp_path / "w" / frontdoor.CONFIG_NAME).read_text())
    assert [o["oid"] for o in used["objects"]] == [o["oid"] for o in objs]


@pytest.mark.parametrize("argv, fragment", [
    (["--oid", "1", "--dbsave"], "--dbsave is not supported by romandia"),
    (["--oid", "1", "-lpi", "abc"], "-lpi/--ltcv-provenance-id is not supported"),
    (["--oid", "1", "--frobnicate"], "unknown flag(s) --frobnicate"),
    (["--oid", "1", "-r", "7.5"], "missing -d/--dec, -b/--band, -t/--template-images"),
    (["--oid", "1", "--objects", "o.csv"], "--objects conflicts with --oid"),
    (["--oid", "x"], "argument --oid: invalid int value: 'x'"),
    (["--oid", "1", "-r", "1", "-d", "1", "-b", "R062", "-t", "t.csv", "-s", "s.csv", "-oc", "snpitdb"],
     "-oc/--object-collection snpitdb"),
    (["--oid", "1", "-r", "1", "-d", "1", "-b", "R062", "-t", "t.csv", "-s", "s.csv", "--sims-dir", ".", "--",
      "--cores", "4"], "--cores after -- conflict"),
    (["--objects", "missing.csv", "--sims-dir", "."], "--objects missing.csv: cannot read it"),
])
def test_bad_flags_are_named(argv, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SNPIT_CONFIG", raising=False)
    with pytest.raises(InputError) as exc:
        args, rest = frontdoor.parse(argv)
        frontdoor.build_config(args, rest)
    assert fragment in str(exc.value), str(exc.value)


def test_objects_csv_errors_name_the_line(tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("oid ra dec band templates science\n1 7.5 -44.8 R062 t.csv\n")
    with pytest.raises(InputError, match=r"o.csv:2: 5 fields"):
        frontdoor._objects_csv(str(p))
    p.write_text("id ra dec\n")
    with pytest.raises(InputError, match=r"o.csv:1: the header must be"):
        frontdoor._objects_csv(str(p))


def test_provenance_id_follows_snappls_recipe():
    # snappl: UUID(md5(base64(json.dumps(spec, sort_keys=True)))) over these eight fields
    import base64
    import hashlib
    import uuid

    spec = {"process": "p", "major": 1, "minor": 2, "environment": None, "env_major": None, "env_minor": None,
            "params": {"b": 1, "a": [1, 2]}, "upstream_ids": ["0a", "1b"]}
    want = str(uuid.UUID(hashlib.md5(base64.standard_b64encode(json.dumps(spec, sort_keys=True).encode()))
                         .hexdigest()))
    assert provenance.provenance_id("p", 1, 2, {"a": [1, 2], "b": 1}, ["1b", "0a"]) == want
    rec = dict(oid=1, band="R062", ra=7.5, dec=-44.8, version="0.1.0",
               images=[{"key": "R062_1_2", "role": "science", "path": "x", "sha256": "ab" * 32}],
               config={"sims_dir": "/a", "threads": 4, "sfft": {"kernel_poly_order": 2}})
    a = provenance.lightcurve_record(**rec)
    b = provenance.lightcurve_record(**dict(rec, config={"sims_dir": "/elsewhere", "threads": 1,
                                                         "sfft": {"kernel_poly_order": 2}}))
    assert a["id"] == b["id"], "where the data are and how many threads do not change the science"
    c = provenance.lightcurve_record(**dict(rec, images=[dict(rec["images"][0], sha256="cd" * 32)]))
    assert c["id"] != a["id"], "another input file changes the id"
    d = provenance.lightcurve_record(**dict(rec, config={"sfft": {"kernel_poly_order": 1}}))
    assert d["id"] != a["id"]
