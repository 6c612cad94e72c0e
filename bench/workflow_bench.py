"""Per-rule wall time and peak memory of a finished workflow run, from Snakemake's
`benchmark:` files.

Usage::

    python bench/workflow_bench.py WORKDIR            # after `snakemake -d WORKDIR ...`
    python bench/workflow_bench.py --run demo         # simulate + run the demo in a temp dir, then report

Prints a markdown table: rule, jobs, mean and max wall time [s], max peak RSS [MB].
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def collect(workdir: Path) -> dict:
    rows = defaultdict(list)
    for tsv in sorted((workdir / "benchmarks").rglob("*.tsv")):
        rule = tsv.relative_to(workdir / "benchmarks").parts[0]
        with open(tsv) as fh:
            for rec in csv.DictReader(fh, delimiter="\t"):
                rss = rec.get("max_rss", "NA")
                rows[rule].append((float(rec["s"]), float(rss) if rss not in ("NA", "-") else float("nan")))
    return rows


def table(rows: dict) -> str:
    order = ["fetch", "sky_subtract", "psf", "align", "subtract", "stamps", "photometry", "lightcurve"]
    out = ["| rule | jobs | mean wall [s] | max wall [s] | max peak RSS [MB] |", "|---|---|---|---|---|"]
    for rule in sorted(rows, key=lambda r: order.index(r) if r in order else 99):
        v = rows[rule]
        walls = [w for w, _ in v]
        rss = max(r for _, r in v)
        out.append(f"| {rule} | {len(v)} | {sum(walls) / len(walls):.2f} | {max(walls):.2f} | {rss:.0f} |")
    return "\n".join(out)


def run_preset(preset: str, cores: int) -> Path:
    work = Path(tempfile.mkdtemp(prefix=f"romandia-bench-{preset}-"))
    sims = work / "sims"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "romandia.cli", "simulate", "--preset", preset, "--out", str(sims)], check=True)
    t_sim = time.perf_counter() - t0
    import yaml

    objects = yaml.safe_load((sims / "objects.yaml").read_text())
    for o in objects:
        o["templates"] = str(sims / o["templates"])
        o["science"] = str(sims / o["science"])
    cfg = work / "config.yaml"
    cfg.write_text(yaml.safe_dump({"sims_dir": str(sims), "objects": objects, "threads": cores}))
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-d", str(work),
                    "--cores", str(cores), "--configfile", str(cfg), "-q"], check=True, env=env)
    t_wf = time.perf_counter() - t0
    print(f"simulation {t_sim:.1f} s, workflow {t_wf:.1f} s (wall, {cores} cores) in {work}")
    return work


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", nargs="?", type=Path)
    ap.add_argument("--run", metavar="PRESET", help="simulate PRESET and run the workflow first")
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args(argv)
    work = run_preset(a.run, a.cores) if a.run else a.workdir
    if work is None:
        ap.error("give WORKDIR or --run PRESET")
    print(table(collect(work)))


if __name__ == "__main__":
    main()
