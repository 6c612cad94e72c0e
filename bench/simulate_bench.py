"""Benchmark of the simulator: time and peak memory per epoch at 512^2, 1024^2 and 4088^2.

Runs the ``benchmark`` preset (H158, 1 template + 2 science epochs, ~15 stars and ~40 galaxies
per arcmin^2) once per image size, each in a fresh subprocess so that its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) belongs to that size alone, and prints a markdown
table.  Not a test; run it by hand::

    .venv/bin/python bench/simulate_bench.py [--sizes 512 1024 4088] [--out /tmp/romandia_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from romandia.simulate import simulate
t_import = time.perf_counter() - t0
size, out = int(sys.argv[1]), sys.argv[2]
s = simulate("benchmark", out, config_overrides={"image": {"size": size}})
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ims = s["images"]
print(json.dumps({
    "size": size, "n_images": len(ims), "import_s": t_import, "total_s": s["timing"]["total"],
    "plan_s": s["timing"]["plan"],
    "epoch_s": [i["seconds"] for i in ims], "draw_s": [i["draw_seconds"] for i in ims],
    "noise_s": [i["noise_seconds"] for i in ims], "objects": [i["n_objects"] for i in ims],
    "cpu_s": [i["cpu_seconds"] for i in ims],
    "peak_rss_mb": rss_kb / 1024.0,
    "bytes": [os.path.getsize(os.path.join(out, "images", "simple_model", i["path"]))
              for i in ims],
}))
"""


def run_size(size: int, out_root: str) -> dict:
    out = os.path.join(out_root, f"s{size}")
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", "import os\n" + CHILD, str(size), out],
                         check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    d = json.loads(res.stdout.strip().splitlines()[-1])
    d["wall_s"] = wall
    shutil.rmtree(out, ignore_errors=True)
    return d


def _mean(v):
    return sum(v) / len(v)


def table(rows: list[dict]) -> str:
    lines = [
        "| image | epochs | objects / epoch | wall / epoch [s] (min-max) | CPU / epoch [s] | "
        "draw [s] | sky + noise [s] | write etc. [s] | file [MB] | process wall [s] | "
        "peak RSS [MB] |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in rows:
        ep, dr, no = d["epoch_s"], d["draw_s"], d["noise_s"]
        rest = [e - a - b for e, a, b in zip(ep, dr, no, strict=True)]
        lines.append(
            f"| {d['size']}² | {d['n_images']} | {_mean(d['objects']):.0f} | "
            f"{_mean(ep):.2f} ({min(ep):.2f}-{max(ep):.2f}) | {_mean(d['cpu_s']):.2f} | "
            f"{_mean(dr):.2f} | {_mean(no):.2f} | "
            f"{_mean(rest):.2f} | {_mean(d['bytes']) / 1e6:.1f} | {d['wall_s']:.1f} | "
            f"{d['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 4088])
    ap.add_argument("--out", default=None, help="scratch directory (default: a temp dir)")
    args = ap.parse_args(argv)
    root = args.out or tempfile.mkdtemp(prefix="romandia_bench_")
    rows = []
    for size in args.sizes:
        print(f"running {size}^2 ...", file=sys.stderr, flush=True)
        rows.append(run_size(size, root))
    if args.out is None:
        shutil.rmtree(root, ignore_errors=True)
    import galsim

    print(f"Simulator benchmark (`benchmark` preset: H158, 1 template + 2 science; "
          f"galsim {galsim.__version__}; Python {platform.python_version()}; "
          f"{os.cpu_count()} cores; single process)\n")
    print(table(rows))
    print("\n'draw' = PSF grid + SN PSF + all objects; 'sky + noise' = sky map + noise chain; "
          "'write etc.' = FITS + gzip level 1 + truth catalogue (draw, sky + noise and write are "
          "wall-clock means). CPU / epoch is the process CPU time of one epoch, robust against "
          "other load on the machine. The process wall time includes imports (~2 s), planning "
          "(hsiao lightcurve, pointings) and the lists/SNANA/manifest.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
