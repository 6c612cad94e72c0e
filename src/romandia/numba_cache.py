"""One process at a time through numba's on-disk cache of sfft's kernels.

sfft compiles its numba kernels (``cache=True``, one closure per tile shape and kernel
setting) when a configuration is made.  numba's cache is not safe for processes that add
entries at the same time: ``numba.core.caching.IndexDataCacheFile.save`` loads the index,
takes the first unused data-file number, writes the index and then the data file, so two
processes compiling *different* closures can both take number ``n``; the index then names one
closure's key and the file holds the other's machine code, and a later job that loads that
key runs kernels built for another shape (sfft's constants are baked into them).  A wrong
normal-equation matrix is one way a "singular SFFT system" could appear only when several
subtract jobs start together (docs/validation_sed.md, "A nondeterminism").  Holding an
exclusive ``flock`` on a file in ``$NUMBA_CACHE_DIR`` while a configuration is made (load or
compile + save) serialises those read-modify-writes; the solves themselves run unlocked.

Where ``flock`` is not available (some network filesystems) the lock is skipped with a log
line: the race is then as numba has it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

__all__ = ["cache_lock", "LOCK_NAME"]

LOCK_NAME = ".romandia-numba-cache.lock"
_log = logging.getLogger(__name__)


def _lock_path() -> Path:
    return Path(os.environ.get("NUMBA_CACHE_DIR") or tempfile.gettempdir()) / LOCK_NAME


@contextlib.contextmanager
def cache_lock():
    """Hold the exclusive lock of the numba cache directory for the ``with`` block."""
    import fcntl  # noqa: PLC0415 - POSIX only, like SLURM and sfft's numba backend

    path = _lock_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a")  # noqa: SIM115 - held for the block
    except OSError as exc:
        _log.info("numba cache lock %s unavailable (%s); going on without it", path, exc)
        yield
        return
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX)
        except OSError as exc:
            _log.info("flock on %s failed (%s); going on without the lock", path, exc)
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
