"""Glue for the thin rule scripts in ``scripts/``: logging into the rule's log file,
thread settings, and turning :class:`~romandia.errors.DataError` into failure markers.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections.abc import Callable

from .errors import DataError
from .io import write_failure


def setup(snakemake) -> logging.Logger:
    """Send logging and stderr to the rule's log file; set thread counts.

    Thread counts (numba, BLAS, FFT) follow the rule's ``threads``; numba's cache goes to
    ``$NUMBA_CACHE_DIR`` (set by the workflow) so compiled kernels are reused across jobs.
    """
    threads = str(max(1, int(getattr(snakemake, "threads", 1) or 1)))
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = threads
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handlers: list[logging.Handler] = []
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        stream = open(log_path, "w")  # noqa: SIM115 - lives for the whole job
        sys.stderr = stream
        handlers.append(logging.StreamHandler(stream))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", handlers=handlers, force=True
    )
    logging.captureWarnings(True)
    return logging.getLogger(f"romandia.{snakemake.rule}")


def run(snakemake, body: Callable[[logging.Logger], None], failure_outputs: list[str] | None = None) -> None:
    """Run a rule body; on a DataError write failure markers to ``failure_outputs``.

    Parameters
    ----------
    snakemake : snakemake.script.Snakemake
        The object Snakemake injects into scripts.
    body : callable
        ``body(log)`` does the work and writes all outputs (atomically).
    failure_outputs : list of str, optional
        Outputs that receive a failure marker when ``body`` raises DataError; default: all
        outputs.  Other exceptions propagate (infrastructure faults fail the job).
    """
    log = setup(snakemake)
    _remove_stale_temporaries(snakemake.output, log)
    _maybe_inject_failure(snakemake, log)
    t0 = time.perf_counter()
    try:
        body(log)
    except DataError as err:
        log.warning("data problem, recorded as failure: %s", err)
        for out in failure_outputs if failure_outputs is not None else list(snakemake.output):
            write_failure(out, err.stage, err.reason)
    log.info("done in %.2f s, peak RSS %.0f MB", time.perf_counter() - t0, peak_rss_mb())


def peak_rss_mb() -> float:
    """Peak resident memory of this process [MB], exact (Snakemake's ``benchmark:`` samples
    RSS once a second and misses short peaks).

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this program's own
    address space; ``getrusage``'s ``ru_maxrss`` would also count the Snakemake process
    this job was forked from, since it survives ``exec``.  Elsewhere: ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return (kib / 1024 if sys.platform == "darwin" else kib) / 1024


def _remove_stale_temporaries(outputs, log) -> None:
    """Delete temporary files a killed earlier attempt of this job left next to its outputs.

    :func:`romandia.io.atomic_output` names them ``.{output name}.<random>.tmp``; an output
    belongs to exactly one job, so these can only come from an earlier attempt of this one.
    """
    for out in outputs:
        parent = os.path.dirname(out) or "."
        name = os.path.basename(out)
        if not os.path.isdir(parent):
            continue
        for entry in os.listdir(parent):
            if entry.startswith(f".{name}.") and entry.endswith(".tmp"):
                log.info("removing %s left by an interrupted attempt", entry)
                os.unlink(os.path.join(parent, entry))


def _maybe_inject_failure(snakemake, log) -> None:
    """Test hook: ``ROMANDIA_FAIL_ONCE=<rule>:<marker-dir>`` makes the first attempt of
    every job of ``<rule>`` fail (an infrastructure-like fault), to exercise retries."""
    spec = os.environ.get("ROMANDIA_FAIL_ONCE", "")
    if not spec or ":" not in spec:
        return
    rule, marker_dir = spec.split(":", 1)
    if rule != snakemake.rule:
        return
    os.makedirs(marker_dir, exist_ok=True)
    tag = "_".join(f"{k}={v}" for k, v in sorted(dict(snakemake.wildcards).items())) or "job"
    marker = os.path.join(marker_dir, f"{rule}.{tag}.failed-once")
    if not os.path.exists(marker):
        open(marker, "w").close()
        log.error("ROMANDIA_FAIL_ONCE: failing the first attempt of %s %s", rule, tag)
        raise RuntimeError(f"injected failure for {rule} {tag} (ROMANDIA_FAIL_ONCE)")
