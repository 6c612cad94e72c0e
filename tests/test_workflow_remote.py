"""The workflow on remote inputs: the `test` preset served over HTTP and by an S3 API server
(moto) on 127.0.0.1, against the same data read from disk."""

import shutil

import pandas as pd
import yaml
from _servers import FileServer, S3Server
from test_workflow_e2e import lightcurves, make_config, snakemake


def remote_config(sims, work, sims_dir, **remote):
    """The local config with sims_dir replaced by a URL (the lists stay local files)."""
    cfg = yaml.safe_load(make_config(sims, work).read_text())
    cfg["sims_dir"] = sims_dir
    cfg["remote"] = remote
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_http_run_equals_the_local_run_and_a_rerun_downloads_nothing(local, tmp_path):
    with FileServer(local["sims"]) as srv:
        cfg = remote_config(local["sims"], tmp_path, srv.url, backoff=0.1)
        res = snakemake(tmp_path, "--cores", "2", "--configfile", str(cfg))
        assert res.returncode == 0, res.stderr[-4000:]
        n_images = sum(1 for p in (tmp_path / "results" / "dia_out_dir" / "prepare").glob("*.fits"))
        got = [p for p, _ in srv.requests]
        assert sum(p.startswith("/images/") for p in got) == n_images, "each image downloaded once"
        assert any(p.startswith("/truth/") for p in got), "science images bring their truth catalogue"
        files = lightcurves(tmp_path)
        assert [f.name for f in files] == [f.name for f in lightcurves(local["work"])]
        for a, b in zip(files, lightcurves(local["work"]), strict=True):
            assert a.read_bytes() == b.read_bytes(), a.name
        # the cache is complete; rerunning every prepare job reads it and asks the server for
        # nothing, and makes the same products
        cache = tmp_path / "results" / "dia_out_dir" / "cache"
        assert len(list(cache.rglob("*.fits.gz"))) == n_images and not list(cache.rglob("*.part"))
        sky = sorted((tmp_path / "results" / "dia_out_dir" / "prepare").glob("*.fits"))
        old = [p.read_bytes() for p in sky]
        before = len(srv.requests)
        res = snakemake(tmp_path, "--cores", "2", "--configfile", str(cfg), "--forcerun", "prepare",
                        "--until", "prepare")
        assert res.returncode == 0, res.stderr[-4000:]
        assert res.stderr.count("rule prepare:") == n_images
        assert len(srv.requests) == before
        assert [p.read_bytes() for p in sky] == old


def test_s3_run_with_a_missing_image_fails_only_its_rows(local, tmp_path):
    sims = tmp_path / "sims"
    shutil.copytree(local["sims"], sims)
    obj = yaml.safe_load((sims / "objects.yaml").read_text())[0]
    lst = sims / obj["science"]
    lines = lst.read_text().splitlines()
    fields = lines[1].split()
    missing = fields[0].replace(f"_{fields[1]}_", "_999999_").replace(f"/{fields[1]}/", "/999999/")
    lines.append(" ".join([missing, "999999", fields[2], str(float(fields[3]) + 3), fields[4]]))
    lst.write_text("\n".join(lines) + "\n")
    with S3Server("ou2024") as s3:
        s3.put_tree(local["sims"], "RomanTDS")
        cfg = remote_config(sims, tmp_path, "s3://ou2024/RomanTDS", s3_endpoint_url=s3.endpoint, keep=False,
                            backoff=0.1)
        res = snakemake(tmp_path, "--cores", "2", "--configfile", str(cfg))
    assert res.returncode == 0, res.stderr[-4000:]
    cache = tmp_path / "results" / "dia_out_dir" / "cache"
    assert not list(cache.rglob("*.fits.gz")), "remote.keep: false drops each image once read"
    assert list(cache.rglob("*.txt")), "truth catalogues are kept for photometry"
    (csv,) = lightcurves(tmp_path)
    df = pd.read_csv(csv, keep_default_na=False)
    bad = df[df["observation_id"].astype(str) == "999999"]
    assert len(bad) == 1 and str(bad["success"].iloc[0]) == "False"
    reason = bad["failure_reason"].iloc[0]
    assert reason.startswith("fetch: s3://ou2024/RomanTDS/images/simple_model/") and "not found (HTTP 404)" in reason
    assert f"(listed in {lst}:{len(lines)})" in reason, reason
    # every other row is the local run's, to the byte
    ref = lightcurves(local["work"])[0].read_text().splitlines()
    assert [ln for ln in csv.read_text().splitlines() if ",999999," not in ln] == ref
