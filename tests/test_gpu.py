"""The subtract step on the GPU (marker `gpu`: skipped without CuPy and a device; run by
bench/gpu_check.sh on a GPU machine), and the synthetic pair those checks use, here on CPU.

Imports nothing a GPU machine lacks (no galsim): the pair is romandia.synthetic's."""

import numpy as np
import pytest

from romandia import synthetic
from romandia.steps import subtract as step

SFFT = {"kernel_half_width": 9, "kernel_poly_order": 2, "bg_poly_order": 0, "const_phot_ratio": True,
        "flux_scale": "zeropoint", "exclude_radius": 15.0, "detmask_threshold": 0.1, "min_fit_pixels": 100,
        "min_fit_pixels_per_parameter": 10.0, "min_kernel_half_width": 3, "fit_compact_sources": "auto",
        "compact_detect_sigma": 3.0, "max_pixels_per_call": 600_000}


def _difference(pair, xp=np):
    sci = step.to_namespace(pair.sci, xp) if xp is not np else pair.sci
    return step.difference_template(sci, pair.tmpl, lambda: pair.psf_tmpl, pair.psf_sci, pair.radec,
                                    kernel="lanczos3", exclude_radec=[pair.radec], sfft=SFFT, sci_key="s",
                                    tmpl_key="t", xp=xp)


def _psf_flux(member, pair):
    diff = member["DIFF"][0]
    psf = member["PSF"][0]
    c = diff.shape[0] // 2
    h = psf.shape[0] // 2
    box = diff[c - h : c + h + 1, c - h : c + h + 1]
    return float((box * psf).sum() / (psf * psf).sum())


def test_the_synthetic_pair_subtracts_cleanly_on_cpu():
    pair = synthetic.sky_pair(256, seed=3)
    m = _difference(pair)
    assert m["DIFF"][0].shape == (256, 256)
    assert float(m["DIFF"][1]["FLUXSCL"]) == pytest.approx(1.25, rel=1e-9)  # from the ZPTMAGs
    # the transient is recovered (PSF-weighted sum at the centre)
    assert _psf_flux(m, pair) == pytest.approx(pair.transient_flux, rel=0.05)
    # and the difference is noise: robust σ near sqrt(σ_S² + (1.25 σ_T)²) = 48 counts (stars add
    # their Poisson noise)
    d = m["DIFF"][0][np.isfinite(m["DIFF"][0])]
    assert 1.4826 * np.median(np.abs(d - np.median(d))) < 1.3 * 48.0


@pytest.mark.gpu
@pytest.mark.parametrize("size", [256, 1024])
def test_cupy_difference_equals_numpy(size):
    cp = pytest.importorskip("cupy")
    if cp.cuda.runtime.getDeviceCount() < 1:
        pytest.skip("no CUDA device")
    pair = synthetic.sky_pair(size, seed=5)
    ref, got = _difference(pair), _difference(pair, cp)
    sigma = float(np.nanstd(ref["DIFF"][0]))
    for k in ("DIFF", "VAR", "ZPTIMG"):
        a, b = got[k][0], ref[k][0]
        assert isinstance(a, np.ndarray)
        assert np.array_equal(np.isnan(a), np.isnan(b)), k
        scale = sigma if k != "VAR" else float(np.nanmedian(b))
        assert np.nanmax(np.abs(a - b)) <= 1e-3 * scale, (k, np.nanmax(np.abs(a - b)) / scale)
    assert got["DIFF"][1]["FLUXSCL"] == pytest.approx(ref["DIFF"][1]["FLUXSCL"], rel=1e-9)


GPU_JOB = '''
import os, sys, time
from types import SimpleNamespace
t0 = time.perf_counter()
from romandia.worker import delegate
delegate(SimpleNamespace(threads=1, resources=SimpleNamespace(gpu=1)))
import numpy as np
import cupy as cp
sys.path.insert(0, os.environ["TEST_DIR"])
from test_gpu import _difference
from romandia import synthetic
pair = synthetic.sky_pair(256, seed=5)
ref, got = _difference(pair), _difference(pair, cp)
err = float(np.nanmax(np.abs(got["DIFF"][0] - ref["DIFF"][0])) / np.nanstd(ref["DIFF"][0]))
print(f"pid={os.getpid()} err={err:.2e} seconds={time.perf_counter() - t0:.2f}", flush=True)
sys.exit(0 if err <= 1e-3 else 1)
'''


@pytest.mark.gpu
def test_worker_forks_gpu_jobs_that_initialise_cuda_themselves(tmp_path):
    """Config worker_gpu: the worker (which never initialises CUDA) forks GPU jobs; each forked
    job initialises CUDA itself and gives the same difference as NumPy, three in a row."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from romandia import worker

    cp = pytest.importorskip("cupy")
    if cp.cuda.runtime.getDeviceCount() < 1:
        pytest.skip("no CUDA device")
    here = Path(__file__).resolve().parent
    env = dict(os.environ, TEST_DIR=str(here),
               PYTHONPATH=os.pathsep.join([str(here.parent / "src"), os.environ.get("PYTHONPATH", "")]))
    proc, path = worker.start(str(tmp_path / "worker.log"), env=env)
    env.update({worker.ENV_SOCKET: path, worker.ENV_PID: str(proc.pid), worker.ENV_GPU: "1"})
    (tmp_path / "job.py").write_text(GPU_JOB)
    try:
        for _ in range(3):
            client = subprocess.Popen([sys.executable, str(tmp_path / "job.py")], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = client.communicate(timeout=300)
            assert client.returncode == 0, out + err
            fields = dict(w.split("=", 1) for w in out.split())
            assert int(fields["pid"]) not in (proc.pid, client.pid)  # forked by the worker
            print(out.strip())
    finally:
        worker.stop(proc, path)
    assert "CUDA is initialised in the worker" not in (tmp_path / "worker.log").read_text()
