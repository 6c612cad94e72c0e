"""Parse and DAG cost of the workflow for large plans: `snakemake -n` on synthetic image lists.

Writes N objects, each with T templates and S science images drawn from shared pools of
images (as supernovae in one survey field share its pointings), as phrosty's CSV lists only:
no image exists, so only the parse, the plan and the DAG are timed (the `prepare` inputs of
missing images are empty by design).  Prints wall time and peak memory of `snakemake -n`,
and the job counts per rule.

usage (from the repo root):
    python bench/dag_scale.py --objects 100 1000 [--templates 3] [--science 20]
        [--template-pool 300] [--science-pool 2000] [--bands H158 ...]

issue #14's 60-image plan (6 SNe x 2 bands, 2 templates x 8 science epochs each, 192 pairs):
    python bench/dag_scale.py --objects 12 --bands H158 J129 --templates 2 --science 8 \
        --template-pool 2 --science-pool 28
"""

import argparse
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
H = "path observation_id sca mjd band\n"


def row(obs: int, sca: int, mjd: float, band="H158") -> str:
    return f"{band}/{obs}/Roman_TDS_simple_model_{band}_{obs}_{sca}.fits.gz {obs} {sca} {mjd:.3f} {band}\n"


def write_plan(root: Path, n: int, n_t: int, n_s: int, pool_t: int, pool_s: int, seed=1,
               bands=("H158",)) -> Path:
    """Object ``k`` is observed in ``bands[k % len(bands)]``; each band has its own pools."""
    rng = random.Random(seed)
    templates = {b: [(1000 + i, 1 + i % 18, 62000.0 + i * 0.01, b) for i in range(pool_t)] for b in bands}
    science = {b: [(100000 + i, 1 + i % 18, 62500.0 + i * 0.01, b) for i in range(pool_s)] for b in bands}
    objects = []
    for k in range(n):
        b = bands[k % len(bands)]
        t = root / f"t{k}.csv"
        s = root / f"s{k}.csv"
        t.write_text(H + "".join(row(*x) for x in rng.sample(templates[b], n_t)))
        s.write_text(H + "".join(row(*x) for x in rng.sample(science[b], n_s)))
        objects.append({"oid": 50000000 + k // len(bands), "ra": 7.5 + 1e-4 * k, "dec": -44.5, "band": b,
                        "templates": str(t), "science": str(s)})
    cfg = root / "config.yaml"
    cfg.write_text(yaml.safe_dump({"sims_dir": str(root / "sims"), "objects": objects}, sort_keys=False))
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--templates", type=int, default=3)
    ap.add_argument("--science", type=int, default=20)
    ap.add_argument("--template-pool", type=int, default=300)
    ap.add_argument("--science-pool", type=int, default=2000)
    ap.add_argument("--bands", nargs="+", default=["H158"],
                    help="object k in band k %% len(bands), each band with its own pools (one SN in "
                         "several bands is one object per band)")
    a = ap.parse_args()
    # Snakemake's fixed start-up, the same for any plan: on a machine where SLURM is installed
    # but not running, the slurm executor plugin's import runs `scontrol show config`, which
    # waits ~9 s for a controller (returns at once without SLURM or with it running).
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True, check=True)
    startup = time.perf_counter() - t0
    print(f"Snakemake start-up (`snakemake --version`): {startup:.1f} s\n")
    print("| objects | pairs | images | jobs | `snakemake -n` wall [s] | wall - start-up [s] | peak memory [MB] |")
    print("|---|---|---|---|---|---|---|")
    for n in a.objects:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            cfg = write_plan(root, n, a.templates, a.science, a.template_pool, a.science_pool,
                             bands=tuple(a.bands))
            cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-d", str(root),
                   "--configfile", str(cfg), "-n", "--quiet", "rules"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if res.returncode != 0:
                sys.exit(res.stderr[-3000:])
            out = res.stdout + res.stderr
            counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", out, re.M)}
            objs = yaml.safe_load(cfg.read_text())["objects"]
            pairs = set()
            images = set()
            for o in objs:
                t = [ln.split()[0] for ln in Path(o["templates"]).read_text().splitlines()[1:]]
                s = [ln.split()[0] for ln in Path(o["science"]).read_text().splitlines()[1:]]
                pairs |= {(x, y) for x in s for y in t}
                images |= set(t) | set(s)
            mem = f"{peak / 1024:.0f}" if peak > before else "≤ previous"
            print(f"| {n} | {len(pairs)} | {len(images)} | {counts.get('total')} | {dt:.1f} | {dt - startup:.1f} | "
                  f"{mem} |", flush=True)
            print("  jobs per rule:", {k: v for k, v in counts.items() if k != "total"}, file=sys.stderr)


if __name__ == "__main__":
    main()
