"""A fork server for the rule scripts: import once per workflow, fork once per job.

A rule script's own work on one image is a few seconds; starting Python and importing numpy,
astropy, scipy, pandas, galsim, photutils and sfft costs 1-3 s more in every job
(docs/benchmarks.md).  With local execution the workflow starts one worker (``onstart`` in
``workflow/rules/common.smk``), which imports all of that once and then waits on a Unix
socket.  Each rule script begins with :func:`delegate`: when a worker is running it hands the
job over and waits; the worker forks a fresh process for the job, which takes over the
script's stdin/stdout/stderr, working directory, environment and arguments and runs the very
same script file (Snakemake's preamble included) from the top.  So every job still runs in its
own process, with its own memory, exit status and failure isolation; only the imports are
shared (copy-on-write).  Without a worker (cluster jobs, ``--config worker=false``, a job with
more than one thread, a GPU job unless ``worker_gpu`` is on, any connection problem) the script
simply goes on in its own process.

Why a hand-written fork server and not ``multiprocessing``'s ``forkserver``: that one serves a
Python parent that is itself the client; here the clients are separate programs that Snakemake
starts, so the job's file descriptors have to travel over the socket (``socket.send_fds``).

If the client is killed (Snakemake cancelling the job, a SIGKILL), the job's process notices
the closed socket and kills itself; the worker exits when the Snakemake process that started
it is gone, or on SIGTERM (``onsuccess`` / ``onerror``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pickle
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback

#: Environment variables naming the worker's socket and process id (set by the workflow).
ENV_SOCKET = "ROMANDIA_WORKER"
ENV_PID = "ROMANDIA_WORKER_PID"
#: "1" (config ``worker_gpu``): jobs that hold a GPU are handed to the worker too.  CUDA
#: cannot be used in a child forked after its parent initialised CUDA; the worker itself never
#: calls CUDA (sfft's package imports CuPy when installed, its solver uses it only inside its
#: functions), so each forked GPU job initialises CUDA itself, as a fresh process would.  A
#: worker in which CUDA is initialised anyway (:func:`cuda_initialised`) refuses GPU jobs,
#: which then run in their own process.  Not yet run on a GPU (tests/test_gpu.py checks it).
ENV_GPU = "ROMANDIA_WORKER_GPU"
#: Path prefix of the device files a process holds open once CUDA is initialised in it (the
#: NVIDIA driver's /dev/nvidiactl, /dev/nvidia0, /dev/nvidia-uvm ...); tests point it elsewhere.
CUDA_DEVICE_FILES = os.environ.get("ROMANDIA_WORKER_CUDA_DEVICES", "/dev/nvidia")
#: Seconds a job waits for a starting worker to finish its imports before running on its own.
WAIT_S = 60.0
#: What the worker imports before it serves: what ``prepare``, the workflow's first jobs, needs
#: with the default sky (``sky.method: sep``).  photutils waits for the idle time: its
#: segmentation package (the ``photutils`` sky variant only) pulls in scipy.signal and
#: scipy.stats, and photutils' import scans every installed distribution's metadata; with them
#: here the first jobs waited 2.5 s for the worker instead of 1.1 s (``python -X importtime``).
PRELOAD_FIRST = (
    "numpy", "scipy.ndimage", "astropy.io.fits", "astropy.wcs", "yaml", "sep", "galsim", "galsim.roman",
    "snakemake.script", "snakemake.iocontainers", "snakemake.logging", "romandia.runner",
    "romandia.products", "romandia.steps.prepare",
)
#: ... and while it waits for jobs, one at a time (a job forked before one is loaded does it
#: itself): galsim's Roman bandpasses (``module:function`` entries are called; thinning them
#: costs every `prepare` and `photometry` job that draws a galsim PSF 0.3-0.4 s,
#: bench/worker_warmup.py; a forked job inherits the cached result), the other rules' imports and the lazy ones inside romandia
#: (sfft in the subtraction, photutils.psf, pandas, matplotlib).
PRELOAD_LATER = (
    "romandia.simulate.psf:bandpasses", "scipy.fft", "scipy.interpolate", "scipy.signal", "scipy.optimize", "numba", "pyfftw",
    "sfft.sfftcore.SFFTSubtract", "sfft.sfftcore.SFFTConfigure", "sfft.utils.SFFTSolutionReader",
    "romandia.steps.subtract", "pandas", "photutils.psf", "photutils.segmentation", "photutils.background",
    "astropy.time", "astropy.table",
    "romandia.steps.photometry", "pyarrow.parquet", "matplotlib.figure",
    "matplotlib.backends.backend_agg", "romandia.steps.lightcurve",
)
#: Thread-count variables fixed to 1 before the imports: the forked jobs inherit the loaded
#: libraries' thread pools, so only single-threaded jobs are delegated.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

_HEADER = struct.Struct("!Q")
_STATUS = struct.Struct("!i")
#: The status a worker's child sends instead of running a GPU job it cannot fork safely.
_REFUSED = -(2**31)
#: True inside a job forked by the worker, so that the script's own delegate() call goes on.
_in_worker = False

log = logging.getLogger("romandia.worker")


# ------------------------------------------------------------------------------------ client
def delegate(snakemake) -> None:
    """Run this rule script in the workflow's worker and exit with its status, if one runs.

    Returns (and the script goes on in its own process) when no worker is configured
    (``$ROMANDIA_WORKER`` unset), inside the worker's job process itself, for jobs with more
    than one thread, for jobs that hold a GPU unless ``$ROMANDIA_WORKER_GPU`` is "1"
    (:data:`ENV_GPU`; a worker in which CUDA is initialised refuses them), or when the worker cannot
    be reached within :data:`WAIT_S` seconds.
    """
    path = os.environ.get(ENV_SOCKET, "")
    if _in_worker or not path or int(getattr(snakemake, "threads", 1) or 1) != 1:
        return
    gpu = int(getattr(getattr(snakemake, "resources", None), "gpu", 0) or 0) > 0
    if gpu and os.environ.get(ENV_GPU) != "1":
        return
    conn = _connect(path, WAIT_S, int(os.environ.get(ENV_PID, "0") or 0))
    if conn is None:
        return
    request = {"argv": list(sys.argv), "cwd": os.getcwd(), "env": dict(os.environ), "gpu": gpu}
    payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        socket.send_fds(conn, [_HEADER.pack(len(payload))], [0, 1, 2])
        conn.sendall(payload)
    except OSError:  # the worker went away between connect and send: run here
        conn.close()
        return
    status = _recv_exactly(conn, _STATUS.size)
    if status is None:
        sys.stderr.write(f"romandia worker ({path}): the job's process ended without an exit status "
                         "(killed or crashed); see the rule's log\n")
        sys.exit(1)
    status = _STATUS.unpack(status)[0]
    if status == _REFUSED:  # a GPU job the worker cannot fork safely: run here
        conn.close()
        return
    sys.exit(status)


def _connect(path: str, wait_s: float, pid: int = 0) -> socket.socket | None:
    """A connection to the worker, waiting up to ``wait_s`` for it to come up; else None."""
    deadline = time.monotonic() + wait_s
    while not pid or _alive(pid):
        if os.path.exists(path):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(path)
                return conn
            except OSError:
                conn.close()
        elif not os.path.isdir(os.path.dirname(path)):  # no worker (never started, or stopped)
            return None
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)
    return None


def _recv_exactly(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# ------------------------------------------------------------------------------------ server
def serve(path: str, *, parent_pid: int | None = None) -> None:
    """Import :data:`PRELOAD_FIRST`, then serve jobs on the Unix socket ``path`` (importing
    :data:`PRELOAD_LATER` while idle) until SIGTERM or until the process ``parent_pid`` (the
    Snakemake that started the worker) is gone."""
    t0 = time.perf_counter()
    for name in PRELOAD_FIRST:
        _preload(name)
    log.info("imports done in %.2f s (serving from now on)", time.perf_counter() - t0)
    if cuda_initialised():
        log.warning("CUDA is initialised in the worker: GPU jobs will run in their own process")
    later, t_later = list(PRELOAD_LATER), 0.0
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}.tmp"
    server.bind(tmp)
    server.listen(64)
    os.rename(tmp, path)  # clients connect only once the socket listens
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    n = 0
    try:
        while not stop:
            _reap()
            if parent_pid is not None and os.getppid() != parent_pid:
                log.info("Snakemake (pid %d) is gone: stopping", parent_pid)
                break
            server.settimeout(0.01 if later else 1.0)
            try:
                conn, _ = server.accept()
            except (TimeoutError, InterruptedError):
                if later:  # idle: the next import (never while a fork could be under way)
                    t1 = time.perf_counter()
                    _preload(later.pop(0))
                    t_later += time.perf_counter() - t1
                    if not later:
                        log.info("further imports done in %.2f s (while idle)", t_later)
                continue
            n += 1
            try:
                pid = os.fork()
            except OSError as err:  # out of processes or memory: the client reports the failure
                log.error("cannot fork a job: %s", err)
                pid = -1
            if pid == 0:
                server.close()
                _run_job(conn)  # never returns
            conn.close()
    finally:
        server.close()
        log.info("served %d job(s)", n)
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def cuda_initialised() -> bool:
    """Whether CUDA is initialised in this process: it holds a CUDA device file open
    (:data:`CUDA_DEVICE_FILES`, read from ``/proc/self/fd`` without touching CUDA)."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(CUDA_DEVICE_FILES):
                return True
        except OSError:
            continue
    return False


def _preload(name: str) -> None:
    """Import module ``name``; ``module:function`` also calls the function (a cache to warm)."""
    module, _, func = name.partition(":")
    try:
        mod = importlib.import_module(module)
        if func:
            getattr(mod, func)()
    except Exception as err:  # an optional package: the job imports (or lacks) it itself
        log.info("not preloaded: %s (%s)", name, err)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _run_job(conn: socket.socket) -> None:
    """In the forked process: become the client's job and run its script; never returns."""
    global _in_worker
    code = 1
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        header, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
        if len(header) < _HEADER.size or len(fds) != 3:
            os._exit(2)
        request = pickle.loads(_recv_exactly(conn, _HEADER.unpack(header)[0]) or b"")
        if request.get("gpu") and cuda_initialised():
            for fd in fds:
                os.close(fd)
            conn.sendall(_STATUS.pack(_REFUSED))
            os._exit(0)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(ENV_SOCKET, None)  # what this job starts runs on its own
        sys.argv = request["argv"]
        threading.Thread(target=_die_with_client, args=(conn,), daemon=True).start()
        _in_worker = True
        code = _run_script(request["argv"][0])
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stderr__):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            conn.sendall(_STATUS.pack(code))
        except OSError:
            pass
        os._exit(code)


def _run_script(script: str) -> int:
    """Run a script file as ``__main__``; its exit status as ``python script`` would give."""
    import runpy

    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return int(done.code or 0)
        print(done.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _die_with_client(conn: socket.socket) -> None:
    """Kill this job when its client goes away (Snakemake cancelled or killed the job)."""
    try:
        conn.recv(1)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


# ------------------------------------------------------------------------------- lifecycle
def start(log_path: str, *, env: dict | None = None) -> tuple[object, str]:
    """Start a worker for this process; returns ``(Popen, socket path)``.

    The socket lies in a fresh private directory under the system's temporary directory
    (Unix socket paths are limited to ~100 characters, a workdir's path may be longer).
    """
    import subprocess

    sockdir = tempfile.mkdtemp(prefix="romandia-worker-")
    path = os.path.join(sockdir, "socket")
    env = dict(os.environ if env is None else env)
    env.update({var: "1" for var in THREAD_VARS})
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "romandia.worker", "--socket", path, "--parent", str(os.getpid())],
            env=env, stdout=fh, stderr=fh, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    return proc, path


def stop(proc, path: str) -> None:
    """Stop a worker started by :func:`start` and remove its socket directory."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m romandia.worker", description=__doc__.split("\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--parent", type=int, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve(args.socket, parent_pid=args.parent)


if __name__ == "__main__":
    # run as romandia.worker, not __main__: the jobs' delegate() must see this module's state
    from romandia.worker import main as _main

    _main()
