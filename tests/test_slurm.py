"""romandia through `snakemake --profile profiles/slurm` on a real local SLURM.

Needs the harness:  tests/slurm/local_slurm.sh install && tests/slurm/local_slurm.sh start
(root, Debian 12); every test is skipped with the reason when SLURM does not answer.
Runs use profiles/slurm plus the overlay tests/slurm/profile (2-CPU node, short polling) with
ROMANDIA_SLURM_ACCOUNT=m0000. Each snakemake run is bounded (SIGINT on timeout, then kill).

Most of the wall time is the plugin's own pacing (5 s before every sbatch, status checks at
growing intervals), not CPU, so the three scenarios -- the test preset end to end (plus the
same run locally and inside one GPU allocation), a job failing once under --retries, and a
scancel mid-run followed by a rerun -- run concurrently in one module fixture; the tests then
check their records.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "slurm"))
import slurm_harness as h  # noqa: E402

from romandia.validation.run import workflow_config  # noqa: E402

pytestmark = pytest.mark.slurm

PROFILES = ["--profile", str(h.SLURM_PROFILE), "--profile", str(h.TEST_PROFILE)]
SIZE_KEYS = {"cpus_per_gpu", "cpus_per_task", "mem_mb", "runtime"}
GPU_RULES = ("subtract",)


def job_counts(output: str) -> dict[str, int]:
    """The dry run's "Job stats" table."""
    counts, in_table = {}, False
    for line in output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
        elif in_table and len(parts) == 2 and parts[1].isdigit():
            if parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    return counts


# --------------------------------------------------------------------------- scenarios
def mini(workdir: Path, env, *args: str, timeout=180, **kw) -> h.Run:
    return h.run_snakemake(
        ["--snakefile", str(h.MINI), "--directory", str(workdir), *PROFILES, *args],
        cwd=workdir, env=env, timeout=timeout, **kw,
    )


def flaky_scenario(work: Path, env) -> dict:
    """tests/slurm/mini `flaky` fails on its first attempt; --retries 1."""
    return {"work": work, "run": mini(work, env, "--verbose", "--retries", "1", "out/flaky.txt")}


def scancel_scenario(work: Path, env) -> dict:
    """tests/slurm/mini `slow_all`: once both CPU jobs are done and the GPU job runs, scancel
    it; snakemake must report it and stop. Then a dry run and a rerun (GPU job released)."""
    out = work / "out" / "slow"
    cancelled = {}

    def cancel_gpu_job(proc, log: Path):
        def gpu_job_running():
            if proc.poll() is not None:
                raise AssertionError("snakemake ended before the GPU job ran")
            calls = h.parse_sbatch_calls(log.read_text())
            if not calls:
                return None
            jobs = [j for j in h.squeue_jobs(calls[0].flags["--job-name"])
                    if j["Comment"] == "rule_slow_gpu"]
            cpu_done = all((out / f"cpu_{i}.txt").exists() for i in range(2))
            return jobs[0]["JobID"] if jobs and jobs[0]["State"] == "RUNNING" and cpu_done else None

        jid = h.wait_for(gpu_job_running, timeout=150, what="the GPU job to run")
        subprocess.run(["scancel", jid], check=True, timeout=15)
        cancelled["id"] = jid

    first = mini(work, env, "--verbose", "out/slow/merged.txt", on_start=cancel_gpu_job)
    state = {"cpu_mtimes": {p.name: p.stat().st_mtime_ns for p in out.glob("cpu_*.txt")},
             "gpu_done": (out / "gpu.txt").exists(), "merged": (out / "merged.txt").exists()}
    dry = mini(work, env, "out/slow/merged.txt", "-n", "--quiet", "rules", timeout=60)
    (work / "out" / "release").touch()
    second = mini(work, env, "--verbose", "out/slow/merged.txt")
    return {"work": work, "first": first, "cancelled": cancelled.get("id"), "after_first": state,
            "dry": dry, "second": second}


def demo_scenario(root: Path, env) -> dict:
    """The simulator's `test` preset through the real Snakefile three times, concurrently:
    locally (profiles/local), through SLURM (profiles/slurm + overlay, --verbose), and inside
    one GPU allocation (sbatch running Snakemake with profiles/local, as
    profiles/slurm/README.md "One allocation" says); then a dry run. backend=auto makes subtract
    ask for a GPU (the fake GRES) and compute on the CPU when CuPy is absent, as the local run
    does."""
    from romandia.simulate import simulate

    sims = root / "sims"
    simulate("test", sims)
    cfg = workflow_config(sims, root, {"backend": "auto"})
    objects = yaml.safe_load(cfg.read_text())["objects"]
    env = dict(env, NUMBA_CACHE_DIR=str(h.REPO / ".numba_cache"))
    common = ["--snakefile", str(h.REPO / "Snakefile"), "--configfile", str(cfg)]

    def run(name: str, *args: str) -> h.Run:
        work = root / name
        work.mkdir(exist_ok=True)
        return h.run_snakemake([*common, "--directory", str(work), *args], cwd=work, env=env,
                               timeout=420)

    def in_allocation() -> h.AllocationRun:
        work = root / "allocation"
        work.mkdir(exist_ok=True)
        return h.run_in_allocation([*common, "--directory", str(work), "--profile", str(h.LOCAL_PROFILE),
                                    "--cores", "2", "--config", "worker_gpu=True"], cwd=work, env=env,
                                   timeout=420)

    with ThreadPoolExecutor(3) as pool:
        local = pool.submit(run, "local", "--profile", str(h.LOCAL_PROFILE))
        slurm = pool.submit(run, "slurm", *PROFILES, "--verbose")
        allocation = pool.submit(in_allocation)
        runs = {"local": local.result(), "slurm": slurm.result(), "allocation": allocation.result()}
    again = run("slurm", *PROFILES, "-n")
    return {"root": root, "runs": runs, "again": again, "objects": objects}


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory) -> dict[str, Future]:
    reason = h.slurm_unavailable()
    if reason:
        pytest.skip(reason)
    env = h.slurm_env()
    root = tmp_path_factory.mktemp("slurm")
    todo = {"demo": demo_scenario, "flaky": flaky_scenario, "scancel": scancel_scenario}
    with ThreadPoolExecutor(len(todo)) as pool:
        futures = {}
        for name, fn in todo.items():
            (root / name).mkdir()
            futures[name] = pool.submit(fn, root / name, env)
    return futures  # all done here; .result() re-raises a scenario's own error in its tests


@pytest.fixture(scope="module")
def demo(scenarios):
    d = scenarios["demo"].result()
    for name, r in d["runs"].items():
        assert r.returncode == 0, f"{name} run failed:\n{r.tail(80)}"
    return d


# --------------------------------------------------------------------------- profiles
def test_overlay_only_resizes_the_perlmutter_profile():
    """The test overlay may shrink CPUs/memory/runtime/group sizes, never change where a rule
    runs (account, constraint, QOS, groups)."""
    prod = yaml.safe_load((h.SLURM_PROFILE / "profile.yaml").read_text())
    test = yaml.safe_load((h.TEST_PROFILE / "profile.yaml").read_text())
    assert prod["executor"] == "slurm" and "executor" not in test
    assert set(test["set-resources"]) == set(prod["set-resources"])
    for rule, res in prod["set-resources"].items():
        t = test["set-resources"][rule]
        assert set(t) == set(res), rule
        for key, value in res.items():
            if key not in SIZE_KEYS:
                assert t[key] == value, (rule, key)
    assert set(test["set-threads"]) == set(prod["set-threads"])
    assert set(test["group-components"]) == set(prod["group-components"])
    for key in ("groups", "resources", "set-resource-scopes", "default-resources"):
        assert key not in test, f"overlay must not replace {key}"
    gpu = {r for r, res in prod["set-resources"].items() if res.get("constraint") == "gpu"}
    assert gpu == set(GPU_RULES)
    assert all(prod["set-resources"][r]["cpus_per_gpu"] == 32 for r in gpu)
    assert {prod["groups"][r] for r in gpu} == {"gpu_science"}


# --------------------------------------------------------------------------- the real workflow
def lightcurve_files(work: Path) -> list[Path]:
    return sorted(p.relative_to(work) for p in (work / "results" / "lc_out_dir").rglob("*_all.*"))


def test_slurm_run_matches_local_run(demo):
    local, slurm_dir = demo["root"] / "local", demo["root"] / "slurm"
    files = lightcurve_files(slurm_dir)
    assert files and files == lightcurve_files(local)
    assert len([f for f in files if f.suffix == ".csv"]) == len(demo["objects"])
    for f in files:
        if f.suffix == ".csv":
            assert (slurm_dir / f).read_bytes() == (local / f).read_bytes(), f
        else:
            pd.testing.assert_frame_equal(pd.read_parquet(slurm_dir / f), pd.read_parquet(local / f))
    # lightcurve (merge + plot) and all are local rules: never submitted
    out = demo["runs"]["slurm"].output
    assert "localrule lightcurve:" in out and "localrule all:" in out
    # a second invocation has nothing to do
    assert "Nothing to be done" in demo["again"].output, demo["again"].tail()
    # the plugin's efficiency report (sacct) was written next to the SLURM logs
    assert list((slurm_dir / "logs" / "slurm").glob("efficiency_report_*.csv"))


def test_whole_workflow_in_one_gpu_allocation(demo):
    """profiles/slurm/README.md "One allocation": one sbatch job with a GPU runs Snakemake with
    the local executor; every rule runs inside it (no further sbatch), the import-sharing worker
    serves its jobs -- with worker_gpu on, the GPU rule's too (the fake GPU; computed on the
    CPU) -- and the lightcurves equal the local run's byte for byte."""
    run, alloc = demo["runs"]["allocation"], demo["root"] / "allocation"
    assert run.state == "COMPLETED", run.tail(80)
    files = lightcurve_files(alloc)
    assert files and files == lightcurve_files(demo["root"] / "local")
    for f in files:
        if f.suffix == ".csv":
            assert (alloc / f).read_bytes() == (demo["root"] / "local" / f).read_bytes(), f
    assert "sbatch call" not in run.output and "submitted with SLURM jobid" not in run.output
    row = h.sacct([run.job_id])[0]
    assert "gres/gpu=1" in row["AllocTRES"], row

    def served(work: Path) -> int:
        counts = re.findall(r"served (\d+) job\(s\)", (work / "logs" / "worker.log").read_text())
        assert counts, f"no worker in {work}"
        return int(counts[-1])

    # the local run (worker_gpu off) started its GPU jobs itself; the allocation forked them too
    n_gpu_jobs = len(list((alloc / "benchmarks" / "subtract").rglob("*.tsv")))
    assert n_gpu_jobs > 0 and served(alloc) - served(demo["root"] / "local") == n_gpu_jobs


def test_sbatch_lines_carry_perlmutter_settings(demo):
    calls = demo["runs"]["slurm"].sbatch_calls()
    gpu = [c for c in calls if c.is_gpu]
    cpu = [c for c in calls if not c.is_gpu]
    assert gpu and cpu, [c.line for c in calls]
    for c in gpu:
        assert c.flags["-C"] == "gpu" and c.flags["--qos"] == "shared", c.line
        assert c.flags["--gpus"] == "1" and c.flags["-A"] == f"{h.ACCOUNT}_g", c.line
        assert "--cpus-per-gpu" in c.flags and "-t" in c.flags and "--mem" in c.flags, c.line
        assert c.comment.startswith("rule_gpu_science_"), c.line
    for c in cpu:
        assert c.flags["-C"] == "cpu" and c.flags["--qos"] == "shared", c.line
        assert c.flags["-A"] == h.ACCOUNT and "--gpus" not in c.flags, c.line
        assert "--cpus-per-task" in c.flags and "-t" in c.flags and "--mem" in c.flags, c.line
    assert not [c for c in calls if "lightcurve" in c.comment or c.comment == "rule_all"]
    # what SLURM recorded for the same jobs
    rows = h.sacct(name=calls[0].flags["--job-name"])
    assert len(rows) == len(calls)
    for r in rows:
        assert r["State"] == "COMPLETED" and r["QOS"] == "shared", r
        if "gpu_science" in r["Comment"]:
            assert r["Account"] == f"{h.ACCOUNT}_g" and r["Constraints"] == "gpu", r
            assert "gres/gpu=1" in r["AllocTRES"], r
        else:
            assert r["Account"] == h.ACCOUNT and r["Constraints"] == "cpu", r
            assert "gres/gpu" not in r["AllocTRES"], r


def test_gpu_science_images_of_a_group_share_one_slurm_job(demo):
    run = demo["runs"]["slurm"]
    gpu_jobs = {}  # SLURM job id -> the rule:wildcards jobs it ran
    for jid, log in h.submitted_jobs(run.output):
        if "group_gpu_science" in str(log):
            gpu_jobs[jid] = h.target_jobs_in_slurm_log(log)
    sci_job: dict[tuple[str, str], set[str]] = {}
    for jid, targets in gpu_jobs.items():
        for t in targets:
            rule, _, wc = t.partition(":")
            assert rule in GPU_RULES, t
            sci_job.setdefault((rule, wc), set()).add(jid)
    science = {wc for _, wc in sci_job}
    assert len(science) >= 2, gpu_jobs
    # every subtract (align + subtract of one science image) ran once
    for wc in science:
        assert len(sci_job[("subtract", wc)]) == 1, wc
    size = yaml.safe_load((h.TEST_PROFILE / "profile.yaml").read_text())["group-components"]
    assert len(gpu_jobs) == math.ceil(len(science) / size["gpu_science"]) == 1, gpu_jobs
    # one GPU allocation for all of them
    assert all("gres/gpu=1" in r["AllocTRES"] for r in h.sacct(list(gpu_jobs)))


# --------------------------------------------------------------------------- failure, retry
def test_failed_job_is_reported_and_retried(scenarios):
    d = scenarios["flaky"].result()
    run = d["run"]
    assert run.returncode == 0, run.tail()
    assert (d["work"] / "out" / "flaky.txt").exists()
    # the failure is reported ...
    assert "Error in rule flaky" in run.output, run.tail()
    assert "SLURM-job" in run.output and "FAILED" in run.output
    # ... and the job is resubmitted as a new SLURM job (attempt 2) that completes
    submitted = h.submitted_jobs(run.output)
    ids = [jid for jid, _ in submitted]
    assert len(ids) == 2, run.tail()
    rows = {r["JobID"]: r for r in h.sacct(ids)}
    assert rows[ids[0]]["State"] == "FAILED" and rows[ids[1]]["State"] == "COMPLETED"
    assert all(r["Comment"] == "rule_flaky" for r in rows.values())
    # the failed job's SLURM log is kept and holds the rule's stderr
    assert "failing on purpose" in dict(submitted)[ids[0]].read_text()


# --------------------------------------------------------------------------- scancel, rerun
def test_scancel_mid_run_then_rerun_completes_only_missing(scenarios):
    d = scenarios["scancel"].result()
    first, jid = d["first"], d["cancelled"]
    # snakemake notices the cancelled job by itself, reports it and stops
    assert jid and not first.timed_out, first.tail()
    assert first.returncode != 0
    assert f"SLURM-job '{jid}' failed" in first.output and "CANCELLED" in first.output
    assert h.sacct([jid])[0]["State"].startswith("CANCELLED")
    assert len(d["after_first"]["cpu_mtimes"]) == 2
    assert not d["after_first"]["gpu_done"] and not d["after_first"]["merged"]
    # the rerun plans only what is missing ...
    assert d["dry"].returncode == 0, d["dry"].tail()
    assert job_counts(d["dry"].output) == {"slow_gpu": 1, "slow_all": 1}, d["dry"].tail()
    # ... and does only that
    second, out = d["second"], d["work"] / "out" / "slow"
    assert second.returncode == 0, second.tail()
    assert [c.comment for c in second.sbatch_calls()] == ["rule_slow_gpu"]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("cpu_*.txt")} == d["after_first"]["cpu_mtimes"]
    assert (out / "merged.txt").read_text().count("job=") == 3
