"""The lock that serialises sfft's numba cache between processes (romandia.numba_cache): real
flock, real processes."""

import subprocess
import sys
import time

HOLD = 2.0


def _holder(tmp_path, seconds=HOLD):
    """A process that takes the lock, says so on stdout, and holds it ``seconds``."""
    code = ("import sys, time\nfrom romandia.numba_cache import cache_lock\nwith cache_lock():\n"
            f"    print('held', flush=True)\n    time.sleep({seconds})\n")
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_process_waits_for_the_lock(tmp_path, monkeypatch):
    from romandia.numba_cache import LOCK_NAME, cache_lock

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    p = _holder(tmp_path)
    t0 = time.perf_counter()
    with cache_lock():
        waited = time.perf_counter() - t0
    p.wait(timeout=30)
    assert waited > 0.5 * HOLD, waited
    assert (tmp_path / LOCK_NAME).is_file()
    t0 = time.perf_counter()
    with cache_lock():  # free now: no wait
        pass
    assert time.perf_counter() - t0 < 0.5
