"""Download throughput of romandia.remote against a local HTTP server and moto's S3 server.

Serves one file of --mb MB (random bytes: gzip-like, incompressible) from 127.0.0.1, then
times: the first download (MB/s), the cache hit of a second call, a download whose connection
drops half-way (resumed with a Range request), and the same file through the S3 API server.

usage: python bench/fetch_bench.py [--mb 270]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _servers import FileServer, S3Server  # noqa: E402

from romandia import remote  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=270, help="file size [MB] (an OU2024 SCA is ~270 MB uncompressed)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "www").mkdir()
        blob = tmp / "www" / "sca.fits.gz"
        with open(blob, "wb") as fh:
            for _ in range(a.mb):
                fh.write(os.urandom(1_000_000))
        size = blob.stat().st_size / 1e6
        rows = []
        with FileServer(tmp / "www") as srv:
            url = f"{srv.url}/sca.fits.gz"
            t0 = time.perf_counter()
            remote.fetch(url, tmp / "c1")
            dt = time.perf_counter() - t0
            rows.append(("HTTP, first download", dt, size / dt))
            t0 = time.perf_counter()
            hit = remote.fetch(url, tmp / "c1")
            rows.append(("HTTP, cache hit", time.perf_counter() - t0, float("nan")))
            assert hit.cached
            srv.faults["drop"] = True
            srv.httpd.served.clear()  # the next response of the file is the first: it drops
            t0 = time.perf_counter()
            got = remote.fetch(url, tmp / "c2", backoff=0)
            dt = time.perf_counter() - t0
            rows.append((f"HTTP, dropped half-way and resumed ({got.attempts} requests)", dt, size / dt))
        with S3Server("bench") as s3:
            s3.put_tree(tmp / "www", "x")
            t0 = time.perf_counter()
            remote.fetch("s3://bench/x/sca.fits.gz", tmp / "c3", s3_endpoint_url=s3.endpoint)
            dt = time.perf_counter() - t0
            rows.append(("S3 API (moto), first download", dt, size / dt))
    print(f"| {size:.0f}-MB file from 127.0.0.1 | wall [s] | MB/s |\n|---|---|---|")
    for name, dt, rate in rows:
        print(f"| {name} | {dt:.2f} | {rate:.0f} |" if rate == rate else f"| {name} | {dt:.4f} | – |")


if __name__ == "__main__":
    main()
