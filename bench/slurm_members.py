"""What one `subtract` job costs beyond its work on SLURM, for romandia's own rule: the demo in a
GPU group job and inside one GPU allocation (the local SLURM of tests/slurm/local_slurm.sh;
start it first).

`make bench-slurm` (bench/slurm_overhead.py) times trivial shell jobs; a real member also starts
Python and imports the rule's libraries. This runs the demo (data/demo, simulated there first
when missing; 8 science images, one template each) four ways:

  group               profiles/slurm + tests/slurm/profile, backend auto (subtract asks for the
                      harness's fake GPU and computes on the CPU), all 8 `subtract` jobs in one
                      GPU group job; per member = the group job's elapsed time / 8 (sacct:
                      srun step, in-job Snakemake, the script; the group's one orchestrating
                      Snakemake spread over its members)
  allocation          the whole demo in one `sbatch --gpus=1` job running Snakemake with
                      profiles/local, backend auto (the GPU rule starts its own Python)
  allocation, worker_gpu  the same with config worker_gpu on: the worker forks the GPU rule's
                      jobs too (here computed on the CPU: CUDA's own start-up is not in it)
  allocation, cpu     the same with backend cpu (no GPU asked: the worker runs `subtract` too)

and prints, per mode, the mean wall time of a `subtract` job, its work (`done in X s` in the
rule's log; in a process of its own that includes the lazy import of sfft, ≈ 0.9 s, which the
worker has already done) and the difference: the overhead per science image, and per pair at the demo's one
template (divide by T for science images with T templates). In the allocations the job's wall
time is Snakemake's `benchmark:` of it; the executor's dispatch between jobs is not in it
(≈ 0.05 s per job: make bench-slurm's allocation row).

    python bench/slurm_members.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "slurm"))
import slurm_harness as h  # noqa: E402

PROFILES = ["--profile", str(h.SLURM_PROFILE), "--profile", str(h.TEST_PROFILE)]


def demo_config(root: Path, backend: str) -> Path:
    from romandia.validation.run import workflow_config

    sims = h.REPO / "data" / "demo"
    if not (sims / "manifest.json").is_file():
        from romandia.simulate import simulate

        simulate("demo", sims)
    return workflow_config(sims, root / f"config_{backend}", {"backend": backend})


def work_seconds(work: Path, rule: str = "subtract") -> list[float]:
    out = []
    for log in sorted((work / "logs" / rule).rglob("*.log")):
        m = re.findall(r"done in ([0-9.]+) s", log.read_text())
        if m:
            out.append(float(m[-1]))
    return out


def benchmark_seconds(work: Path, rule: str = "subtract") -> list[float]:
    return [float(t.read_text().splitlines()[1].split("\t")[0])
            for t in sorted((work / "benchmarks" / rule).rglob("*.tsv"))]


def group_mode(root: Path, env) -> dict:
    work = root / "group"
    work.mkdir()
    cfg = demo_config(root, "auto")
    run = h.run_snakemake(["--snakefile", str(h.REPO / "Snakefile"), "--configfile", str(cfg),
                           "--directory", str(work), *PROFILES, "--verbose",
                           "--group-components", "prep=9", "gpu_science=8", "phot=8"],
                          cwd=work, env=env, timeout=900)
    if run.returncode != 0:
        sys.exit(f"group run failed:\n{run.tail(80)}")
    gpu = [r for r in h.sacct([j for j, _ in h.submitted_jobs(run.output)]) if "gres/gpu" in r["AllocTRES"]]
    if len(gpu) != 1:
        sys.exit(f"expected one GPU group job, got {gpu}")
    elapsed = h.sacct_elapsed(gpu[0]["JobID"])
    work_s = work_seconds(work)
    return {"jobs": len(work_s), "wall": elapsed / len(work_s), "work": statistics.mean(work_s)}


def allocation_mode(root: Path, env, backend: str, worker_gpu: bool = False) -> dict:
    work = root / f"allocation_{backend}{'_worker_gpu' if worker_gpu else ''}"
    work.mkdir()
    cfg = demo_config(root, backend)
    run = h.run_in_allocation(["--snakefile", str(h.REPO / "Snakefile"), "--configfile", str(cfg),
                               "--directory", str(work), "--profile", str(h.LOCAL_PROFILE), "--cores", "2",
                               "--config", f"worker_gpu={worker_gpu}"],
                              cwd=work, env=env, timeout=900)
    if run.returncode != 0:
        sys.exit(f"allocation run ({backend}) failed:\n{run.tail(80)}")
    wall, work_s = benchmark_seconds(work), work_seconds(work)
    return {"jobs": len(work_s), "wall": statistics.mean(wall), "work": statistics.mean(work_s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder)")
    a = ap.parse_args()
    reason = h.slurm_unavailable()
    if reason:
        sys.exit(f"local SLURM not available: {reason}")
    env = dict(h.slurm_env(), NUMBA_CACHE_DIR=str(h.REPO / ".numba_cache"))
    with tempfile.TemporaryDirectory(prefix="slurm-members-") as tmp:
        root = a.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        rows = [("GPU group job (profiles/slurm)", group_mode(root, env)),
                ("one GPU allocation, backend auto", allocation_mode(root, env, "auto")),
                ("one GPU allocation, backend auto, worker_gpu on", allocation_mode(root, env, "auto", True)),
                ("one GPU allocation, backend cpu", allocation_mode(root, env, "cpu"))]
    print("\n`subtract` of the demo (8 science images x 1 template), local SLURM; seconds per job\n")
    print("| mode | jobs | wall per job | work per job | overhead per job = per pair at 1 template |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['jobs']} | {r['wall']:.2f} | {r['work']:.2f} | {r['wall'] - r['work']:.2f} |")


if __name__ == "__main__":
    main()
