"""Submission and polling overhead per job of the Snakemake SLURM executor on the local SLURM
of tests/slurm/local_slurm.sh (start it first).

Runs N trivial jobs (tests/slurm/mini, rule `quick`) four ways and prints a table:
  raw sbatch      sbatch --wrap true, N times; sacct until all are COMPLETED
  local           snakemake --cores 2 (no SLURM): the floor
  slurm           profiles/slurm + tests/slurm/profile: one SLURM job per Snakemake job
  slurm group     the same N jobs in one group: one SLURM job, N srun steps
  allocation      the same N jobs run by one Snakemake with the local executor inside one
                  GPU allocation (sbatch --gpus=1; profiles/slurm/README.md, "One allocation")
and, from sacct and the snakemake log, where the time goes (submission spacing, queue wait,
in-job time, detection lag after the job ended).

    .venv/bin/python bench/slurm_overhead.py [--n 8] [--init 2] [--pair-seconds 8] [--templates 3]

--pair-seconds S also prints how many pairs (S seconds of align + subtract science per pair)
one GPU allocation holds within a 2-hour walltime, with the measured per-member overhead: a
GPU group member is one `subtract` job, which runs every template of its science image in one
process, so the overhead per pair is the per-member overhead over --templates.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "slurm"))
import slurm_harness as h  # noqa: E402

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def sacct_times(ids: list[str]) -> dict[str, dict[str, float]]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "--parsable2", "-j", ",".join(ids), "-o", "JobID,Submit,Start,End,State"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    rows = {}
    for line in out.splitlines():
        jid, sub, start, end, state = line.split("|")
        ts = {k: datetime.fromisoformat(v).timestamp() for k, v in
              (("submit", sub), ("start", start), ("end", end)) if v not in ("Unknown", "None")}
        rows[jid] = {**ts, "state": state}
    return rows


def raw_sbatch(n: int) -> dict[str, float]:
    t0 = time.monotonic()
    ids, call_s = [], []
    for _ in range(n):
        c0 = time.monotonic()
        out = subprocess.run(
            ["sbatch", "--parsable", "-A", h.ACCOUNT, "-C", "cpu", "--qos=shared", "-t", "2",
             "--mem", "100", "-c", "1", "-o", "/dev/null", "--wrap", "true"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout
        call_s.append(time.monotonic() - c0)
        ids.append(out.strip().split(";")[0])

    def done():
        rows = sacct_times(ids)
        return rows if len(rows) == n and all(r["state"] == "COMPLETED" for r in rows.values()) else None

    rows = h.wait_for(done, timeout=300, interval=0.2, what="raw sbatch jobs")
    wall = time.monotonic() - t0
    return {
        "wall": wall,
        "sbatch_call": statistics.mean(call_s),
        "queue": statistics.mean(r["start"] - r["submit"] for r in rows.values()),
        "in_job": statistics.mean(r["end"] - r["start"] for r in rows.values()),
    }


def snakemake_run(workdir: Path, n: int, extra: list[str], env) -> h.Run:
    args = ["quick_all", "--snakefile", str(h.MINI), "--directory", str(workdir), "--verbose",
            *extra, "--config", f"njobs={n}"]
    run = h.run_snakemake(args, cwd=workdir, env=env, timeout=900)
    if run.returncode != 0:
        sys.exit(f"snakemake failed in {workdir}:\n{run.tail()}")
    return run


def allocation_run(workdir: Path, n: int, env) -> dict[str, float]:
    """The N jobs inside one GPU allocation: one Snakemake with the local executor
    (profiles/local) started by sbatch, as profiles/slurm/README.md ("One allocation") says."""
    run = h.run_in_allocation(["quick_all", "--snakefile", str(h.MINI), "--directory", str(workdir),
                               "--profile", str(h.LOCAL_PROFILE), "--cores", "2", "--config", f"njobs={n}"],
                              cwd=workdir, env=env)
    if run.returncode != 0:
        sys.exit(f"allocation job {run.job_id} ended {run.state}:\n{run.tail()}")
    row = sacct_times([run.job_id])[run.job_id]
    return {"wall": run.seconds, "queue": row["start"] - row["submit"], "in_job": row["end"] - row["start"],
            "snakemake_elapsed": h.snakemake_elapsed(run.output)}


def detection_times(output: str) -> dict[str, float]:
    """snakemake job id -> time its completion was noticed (the [date] line before Finished)."""
    stamp, seen = None, {}
    for line in output.splitlines():
        m = STAMP.match(line.strip())
        if m:
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
            continue
        m = re.match(r"Finished jobid: (\d+)", line.strip())
        if m and stamp is not None:
            seen[m.group(1)] = stamp
    return seen


def slurm_breakdown(run: h.Run) -> dict[str, float]:
    sub = re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+)", run.output)
    rows = sacct_times([sid for _, sid in sub])
    found = detection_times(run.output)
    submits = sorted(r["submit"] for r in rows.values())
    lags = [found[j] - rows[s]["end"] for j, s in sub if j in found and "end" in rows[s]]
    if not lags and found:  # a group job: its members are reported, not the group itself
        lags = [max(found.values()) - max(r["end"] for r in rows.values())]
    return {
        "slurm_jobs": len(rows),
        "submit_spacing": (submits[-1] - submits[0]) / max(1, len(submits) - 1),
        "queue": statistics.mean(r["start"] - r["submit"] for r in rows.values()),
        "in_job": statistics.mean(r["end"] - r["start"] for r in rows.values()),
        "detect_lag": statistics.mean(lags) if lags else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8, help="trivial jobs per run (default 8)")
    ap.add_argument("--init", type=int, default=None,
                    help="--slurm-init-seconds-before-status-checks (default: the test overlay's)")
    ap.add_argument("--pair-seconds", type=float, default=None,
                    help="measured align+subtract seconds per pair, for the pairs-per-allocation estimate")
    ap.add_argument("--templates", type=int, default=1,
                    help="templates per science image: pairs per `subtract` job (default 1, the worst case)")
    ap.add_argument("--walltime-min", type=float, default=120)
    a = ap.parse_args()
    reason = h.slurm_unavailable()
    if reason:
        sys.exit(f"local SLURM not available: {reason}")
    env = h.slurm_env()
    profiles = ["--profile", str(h.SLURM_PROFILE), "--profile", str(h.TEST_PROFILE)]
    if a.init:
        profiles += ["--slurm-init-seconds-before-status-checks", str(a.init)]
    n = a.n
    rows = []
    with tempfile.TemporaryDirectory(prefix="slurm-bench-") as tmp:
        tmp = Path(tmp)
        raw = raw_sbatch(n)
        rows.append(("raw sbatch --wrap true", n, raw["wall"], raw["queue"], raw["in_job"], float("nan")))

        (tmp / "local").mkdir()
        local = snakemake_run(tmp / "local", n, ["--cores", "2"], env)
        rows.append(("snakemake local (--cores 2)", n, local.seconds, 0.0, float("nan"), float("nan")))

        (tmp / "slurm").mkdir()
        sl = snakemake_run(tmp / "slurm", n, profiles, env)
        b = slurm_breakdown(sl)
        rows.append(("snakemake slurm, 1 job each", b["slurm_jobs"], sl.seconds, b["queue"], b["in_job"],
                     b["detect_lag"]))

        (tmp / "group").mkdir()
        gr = snakemake_run(tmp / "group", n, [*profiles, "--groups", "quick=bench",
                                               "--group-components", f"bench={n}"], env)
        g = slurm_breakdown(gr)
        rows.append((f"snakemake slurm, 1 group of {n}", g["slurm_jobs"], gr.seconds, g["queue"],
                     g["in_job"], g["detect_lag"]))

        (tmp / "allocation").mkdir()
        al = allocation_run(tmp / "allocation", n, env)
        rows.append(("allocation, local executor", 1, al["wall"], al["queue"], al["in_job"], float("nan")))

    print(f"\n{n} trivial jobs; local SLURM ({h.REPO.name} harness), status init "
          f"{a.init or 'overlay'} s; times in seconds\n")
    print(f"{'mode':34} {'SLURM jobs':>10} {'wall':>7} {'/job':>6} {'queue':>6} {'in-job':>7} {'detect':>7}")
    for name, jobs, wall, queue, injob, lag in rows:
        print(f"{name:34} {jobs:>10} {wall:7.1f} {wall / n:6.2f} {queue:6.2f} {injob:7.2f} {lag:7.2f}")
    per_job = (sl.seconds - local.seconds) / n
    per_member = g["in_job"] / n
    print(f"\nsubmission spacing between sbatch calls: {b['submit_spacing']:.2f} s "
          "(the plugin sleeps 5 s before every sbatch, 2 submission threads)")
    print(f"overhead per job, SLURM vs local: {per_job:.2f} s "
          f"(sbatch alone: {raw['sbatch_call']:.3f} s per call, queue {raw['queue']:.2f} s)")
    print(f"in-allocation cost per group member (srun step + in-job snakemake): {per_member:.2f} s")
    overhead = per_member / a.templates  # one `subtract` member per science image
    print(f"per-pair overhead in a GPU group job, {a.templates} template(s) per science image: {overhead:.2f} s")
    al_member = al["in_job"] / n
    print(f"in-allocation cost per job with the local executor (one Snakemake for all; its start-up "
          f"included): {al_member:.2f} s; Snakemake's elapsed {al['snakemake_elapsed']:.1f} s for {n} jobs")
    print(f"per-pair overhead in one GPU allocation, {a.templates} template(s) per science image: "
          f"{al_member / a.templates:.2f} s (plus a script job's own start-up: docs/benchmarks.md)")
    if a.pair_seconds is not None:
        per_pair = a.pair_seconds + overhead
        budget = a.walltime_min * 60 * 0.9  # keep 10% margin
        print(f"pairs per GPU allocation in {a.walltime_min:.0f} min (90% used): "
              f"{int(budget // per_pair)} at {per_pair:.1f} s per pair "
              f"({a.pair_seconds:.1f} s science + {overhead:.2f} s overhead)")


if __name__ == "__main__":
    main()
