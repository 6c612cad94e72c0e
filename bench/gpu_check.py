"""The GPU check of issue #16: CPU/GPU parity and the per-pair benchmark, one command.

Run by ``bench/gpu_check.sh OUT`` on a machine with an NVIDIA GPU (it installs what that
machine lacks first); writes ``OUT/gpu_check.json`` and prints a log.  Pairs come from
:func:`romandia.synthetic.sky_pair` (made on the machine: a 4088² pair does not fit the
transfer as files) and go through the ``subtract`` rule's own step,
:func:`romandia.steps.subtract.difference_template` (align → subtract → decorrelate →
variance), with ``xp = numpy`` and ``xp = cupy``.

Measured per size (1024², 2048², 4088²): GPU cold (the first pair of the process: CUDA
initialisation and kernel compilation included) and warm wall time, by stage (the stages'
own timers, the device synchronised at the end of each pair), peak GPU memory (CuPy's memory
pool, sampled every millisecond); the CPU time of the same pair on the same machine where the
budget allows; parity (decorrelated difference and variance, GPU vs CPU, in units of the
difference's noise σ; PSF fluxes at the transient and at 50 stars by the pipeline's forced PSF
photometry, in units of their errors); and pairs per minute for one science image with 10
templates at 4088².

Usage::

    python bench/gpu_check.py OUT [--sizes 1024 2048 4088] [--cpu-budget 240]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from romandia import photometry, synthetic  # noqa: E402
from romandia.steps import subtract as step  # noqa: E402

SFFT = {"kernel_half_width": 9, "kernel_poly_order": 2, "bg_poly_order": 0, "const_phot_ratio": True,
        "flux_scale": "zeropoint", "exclude_radius": 15.0, "detmask_threshold": 0.1, "min_fit_pixels": 100,
        "min_fit_pixels_per_parameter": 10.0, "min_kernel_half_width": 3, "fit_compact_sources": "auto",
        "compact_detect_sigma": 3.0, "max_pixels_per_call": 600_000}


class PoolPeak:
    """Peak bytes held by CuPy's default memory pool, sampled every millisecond."""

    def __init__(self, cp):
        self.pool = cp.get_default_memory_pool()
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.pool.total_bytes())
            time.sleep(0.001)

    def __enter__(self):
        self.pool.free_all_blocks()
        self.peak = self.pool.total_bytes()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.pool.total_bytes())


def run_pair(pair, xp, threads, sfft, sync=lambda: None):
    t0 = time.perf_counter()
    sci = step.to_namespace(pair.sci, xp) if xp is not np else pair.sci
    member = step.difference_template(sci, pair.tmpl, lambda: pair.psf_tmpl, pair.psf_sci, pair.radec,
                                      kernel="lanczos3", exclude_radec=[pair.radec], sfft=sfft, sci_key="s",
                                      tmpl_key="t", threads=threads, xp=xp)
    sync()
    return member, time.perf_counter() - t0


def fluxes(member, positions):
    diff, var, psf = member["DIFF"][0], member["VAR"][0], member["PSF"][0]
    out = []
    for x, y in positions:
        r = photometry.forced_psf_photometry(diff, var, psf, x, y, weights="background")
        out.append((r.get("flux", np.nan), r.get("flux_err", np.nan)))
    return np.array(out)


def parity(cpu, gpu, positions):
    d_c, d_g = cpu["DIFF"][0], gpu["DIFF"][0]
    sigma = float(np.sqrt(np.nanmedian(cpu["VAR"][0])))
    both = np.isfinite(d_c) & np.isfinite(d_g)
    f_c, f_g = fluxes(cpu, positions), fluxes(gpu, positions)
    ok = np.isfinite(f_c[:, 0]) & np.isfinite(f_g[:, 0]) & (f_c[:, 1] > 0)
    return {
        "nan_masks_equal": bool(np.array_equal(np.isnan(d_c), np.isnan(d_g))),
        "diff_max_abs_over_sigma": float(np.max(np.abs(d_c[both] - d_g[both])) / sigma),
        "var_max_rel": float(np.nanmax(np.abs(cpu["VAR"][0] - gpu["VAR"][0]) / cpu["VAR"][0])),
        "flux_max_abs_over_err": float(np.max(np.abs(f_c[ok, 0] - f_g[ok, 0]) / f_c[ok, 1])) if ok.any() else None,
        "n_fluxes": int(ok.sum()),
        "flux_scale_cpu": float(cpu["DIFF"][1]["FLUXSCL"]), "flux_scale_gpu": float(gpu["DIFF"][1]["FLUXSCL"]),
    }


def environment(cp):
    env = {"python": platform.python_version(), "numpy": np.__version__, "host": platform.node(),
           "cpus": os.cpu_count()}
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20).stdout.strip()
        env["nvidia_smi"] = q
    except (OSError, subprocess.SubprocessError) as exc:
        env["nvidia_smi"] = f"unavailable ({exc})"
    if cp is not None:
        env["cupy"] = cp.__version__
        env["device"] = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
        env["cuda_runtime"] = cp.cuda.runtime.runtimeGetVersion()
    return env


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4088])
    ap.add_argument("--cpu-budget", type=float, default=240.0, help="skip the CPU run of a size predicted above this [s]")
    ap.add_argument("--templates", type=int, default=10)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    try:
        import cupy as cp
    except ImportError:
        cp = None
    res = {"env": environment(cp), "sizes": {}, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    print(json.dumps(res["env"]), flush=True)
    threads = os.cpu_count() or 1
    sync = (lambda: cp.cuda.Device().synchronize()) if cp is not None else (lambda: None)
    cpu_rate = None  # seconds per pixel of the last CPU pair, to predict the next
    for size in args.sizes:
        t = time.perf_counter()
        pair = synthetic.sky_pair(size, seed=size)
        row = {"make_pair_s": time.perf_counter() - t}
        c = size / 2 - 0.5
        rng = np.random.default_rng(1)
        positions = [(c, c)] + [tuple(v) for v in rng.uniform(50, size - 50, (50, 2))]
        cpu = None
        if cpu_rate is None or cpu_rate * size * size <= args.cpu_budget:
            cpu, dt = run_pair(pair, np, threads, SFFT)
            row["cpu_s"] = dt
            cpu_rate = dt / (size * size)
        else:
            row["cpu_s"] = None
            row["cpu_predicted_s"] = cpu_rate * size * size
        if cp is not None:
            with PoolPeak(cp) as peak:
                gpu, cold = run_pair(pair, cp, threads, SFFT, sync)
            row["gpu_cold_s"], row["gpu_cold_peak_bytes"] = cold, peak.peak
            with PoolPeak(cp) as peak:
                gpu, warm = run_pair(pair, cp, threads, SFFT, sync)
            row["gpu_warm_s"], row["gpu_warm_peak_bytes"] = warm, peak.peak
            if cpu is not None:
                row["parity"] = parity(cpu, gpu, positions)
        res["sizes"][str(size)] = row
        print(size, json.dumps(row), flush=True)
        with open(os.path.join(args.out, "gpu_check.json"), "w") as fh:
            json.dump(res, fh, indent=1)
    if cp is not None and args.templates:
        size = max(args.sizes)
        pairs = [synthetic.sky_pair(size, seed=100 + k) for k in range(args.templates)]
        t = time.perf_counter()
        sci = step.to_namespace(pairs[0].sci, cp)  # one science image, moved once, 10 templates
        for pair in pairs:
            step.difference_template(sci, pair.tmpl, lambda p=pair: p.psf_tmpl, pairs[0].psf_sci, pairs[0].radec,
                                     kernel="lanczos3", exclude_radec=[pairs[0].radec], sfft=SFFT, sci_key="s",
                                     tmpl_key="t", threads=threads, xp=cp)
        sync()
        dt = time.perf_counter() - t
        res["pairs_per_minute"] = {"size": size, "templates": args.templates, "seconds": dt,
                                   "pairs_per_minute": 60.0 * args.templates / dt}
        print(json.dumps(res["pairs_per_minute"]), flush=True)
    res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(os.path.join(args.out, "gpu_check.json"), "w") as fh:
        json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
