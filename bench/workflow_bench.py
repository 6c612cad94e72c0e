"""Per-rule wall time and peak memory of a finished workflow run, from Snakemake's
`benchmark:` files.

Usage::

    python bench/workflow_bench.py WORKDIR            # after `snakemake -d WORKDIR ...`
    python bench/workflow_bench.py --run demo         # simulate + run the demo in a temp dir, then report
    python bench/workflow_bench.py --run demo --sim-config bench/pair1024.yaml \
        --workflow-config bench/lowmem.yaml               # one 1024² pair, workflow settings overlaid

Prints a markdown table: rule, jobs, mean and max wall time [s], max peak RSS [MB].
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


PEAK = re.compile(r"done in [0-9.]+ s, peak RSS ([0-9.]+) MB")


def log_peaks(workdir: Path) -> dict:
    """Exact per-job peak RSS [MB] by rule, from the `done in …, peak RSS … MB` log lines."""
    peaks = defaultdict(list)
    for log in sorted((workdir / "logs").rglob("*.log")):
        m = PEAK.search(log.read_text(errors="replace"))
        if m:
            peaks[log.relative_to(workdir / "logs").parts[0]].append(float(m.group(1)))
    return peaks


def collect(workdir: Path) -> dict:
    rows = defaultdict(list)
    for tsv in sorted((workdir / "benchmarks").rglob("*.tsv")):
        rule = tsv.relative_to(workdir / "benchmarks").parts[0]
        with open(tsv) as fh:
            for rec in csv.DictReader(fh, delimiter="\t"):
                rss = rec.get("max_rss", "NA")
                rows[rule].append((float(rec["s"]), float(rss) if rss not in ("NA", "-") else float("nan")))
    return rows


def table(rows: dict, peaks: dict | None = None) -> str:
    """Markdown table; ``peaks`` (from :func:`log_peaks`) adds the exact per-job peak RSS."""
    peaks = peaks or {}
    order = ["prepare", "subtract", "photometry", "lightcurve"]
    out = ["| rule | jobs | mean wall [s] | max wall [s] | max sampled RSS [MB] | max peak RSS [MB] |",
           "|---|---|---|---|---|---|"]
    for rule in sorted(rows, key=lambda r: order.index(r) if r in order else 99):
        v = rows[rule]
        walls = [w for w, _ in v]
        rss = max(r for _, r in v)
        peak = f"{max(peaks[rule]):.0f}" if peaks.get(rule) else "–"
        out.append(f"| {rule} | {len(v)} | {sum(walls) / len(walls):.2f} | {max(walls):.2f} | {rss:.0f} | {peak} |")
    return "\n".join(out)


def run_preset(preset: str, cores: int, sim_config: Path | None = None,
               workflow_config: Path | None = None, extra: list[str] | None = None) -> Path:
    work = Path(tempfile.mkdtemp(prefix=f"romandia-bench-{preset}-"))
    sims = work / "sims"
    t0 = time.perf_counter()
    sim = [sys.executable, "-m", "romandia.cli", "simulate", "--preset", preset, "--out", str(sims), "--quiet"]
    if sim_config:
        sim += ["--config", str(Path(sim_config).resolve())]
    subprocess.run(sim, check=True)
    t_sim = time.perf_counter() - t0
    import yaml

    from romandia.validation.run import workflow_config as write_workflow_config

    overrides = yaml.safe_load(Path(workflow_config).read_text()) if workflow_config else None
    cfg = write_workflow_config(sims, work, overrides, threads=cores)
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-d", str(work),
                    "--cores", str(cores), "--configfile", str(cfg), "-q", *(extra or [])], check=True, env=env)
    t_wf = time.perf_counter() - t0
    print(f"simulation {t_sim:.1f} s, workflow {t_wf:.1f} s (wall, {cores} cores) in {work}")
    return work


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", nargs="?", type=Path)
    ap.add_argument("--run", metavar="PRESET", help="simulate PRESET and run the workflow first")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--sim-config", type=Path, help="YAML overrides for `romandia simulate --config`")
    ap.add_argument("--workflow-config", type=Path, help="YAML merged into the workflow config")
    ap.add_argument("--snakemake-args", default="", help="extra snakemake arguments, e.g. '--scheduler greedy'")
    a = ap.parse_args(argv)
    work = (run_preset(a.run, a.cores, a.sim_config, a.workflow_config, a.snakemake_args.split())
            if a.run else a.workdir)
    if work is None:
        ap.error("give WORKDIR or --run PRESET")
    print(table(collect(work), log_peaks(work)))


if __name__ == "__main__":
    main()
