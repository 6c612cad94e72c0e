"""Downloads of remote inputs (romandia.remote) from real servers on 127.0.0.1."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _servers import FileServer, S3Server, free_port

from romandia import remote
from romandia.errors import DataError

BLOB = os.urandom(3 * (1 << 20) + 12345)  # 3 MB: several chunks


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    (root / "images" / "H158").mkdir(parents=True)
    (root / "images" / "H158" / "a.fits.gz").write_bytes(BLOB)
    with FileServer(root) as srv:
        yield srv, tmp_path / "cache"


def test_download_then_cache_hit(served):
    srv, cache = served
    url = f"{srv.url}/images/H158/a.fits.gz"
    got = remote.fetch(url, cache)
    assert not got.cached and got.attempts == 1 and got.nbytes == len(BLOB)
    assert got.path == remote.cache_path(cache, url) and got.path.read_bytes() == BLOB
    again = remote.fetch(url, cache)
    assert again.cached and again.attempts == 0 and again.path == got.path
    assert len(srv.requests) == 1, "a cached file is not downloaded again"
    assert not list(cache.rglob("*.part"))


def test_missing_object_is_the_images_data_problem(served):
    srv, cache = served
    url = f"{srv.url}/images/H158/nope.fits.gz"
    with pytest.raises(DataError, match=r"nope\.fits\.gz: not found \(HTTP 404\) \(listed in sci\.csv:7\)") as exc:
        remote.fetch(url, cache, source="sci.csv:7", retries=3, backoff=0)
    assert exc.value.stage == "fetch"
    assert len(srv.requests) == 1, "a 404 is not retried"


def test_dropped_connection_is_resumed_with_a_range_request(served):
    srv, cache = served
    srv.faults["drop"] = True
    got = remote.fetch(f"{srv.url}/images/H158/a.fits.gz", cache, backoff=0)
    assert got.path.read_bytes() == BLOB and got.attempts == 2
    # the second request asks for the rest after what the first delivered (whole chunks)
    assert srv.requests[0][1] is None
    start = int(srv.requests[1][1].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= len(BLOB) // 2


def test_a_server_that_keeps_failing_is_an_infrastructure_fault_and_the_part_is_resumed_later(served):
    srv, cache = served
    url = f"{srv.url}/images/H158/a.fits.gz"
    srv.faults["truncate"] = True
    with pytest.raises(remote.RemoteUnavailable, match=r"not delivered after 3 attempts \(last: .*\)"):
        remote.fetch(url, cache, retries=2, backoff=0)
    part = remote.cache_path(cache, url).with_name("a.fits.gz.part")
    assert part.is_file() and 0 < part.stat().st_size < len(BLOB)
    assert not remote.cache_path(cache, url).exists(), "never a partial file under the final name"
    srv.faults.clear()
    got = remote.fetch(url, cache, backoff=0)
    assert got.path.read_bytes() == BLOB and srv.requests[-1][1] is not None


def test_server_errors_are_retried_then_fail_the_job(served):
    srv, cache = served
    srv.faults["status"] = 503
    with pytest.raises(remote.RemoteUnavailable, match="HTTP 503"):
        remote.fetch(f"{srv.url}/images/H158/a.fits.gz", cache, retries=2, backoff=0)
    assert len(srv.requests) == 3


def test_unreachable_server(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/x.fits.gz"
    with pytest.raises(remote.RemoteUnavailable, match=r"127\.0\.0\.1.*ConnectionError"):
        remote.fetch(url, tmp_path, retries=1, backoff=0, timeout=2)


def test_kill_during_download_then_rerun_gives_the_same_bytes(served):
    srv, cache = served
    url = f"{srv.url}/images/H158/a.fits.gz"
    srv.faults["slow"] = 0.05
    code = f"from romandia import remote; remote.fetch({url!r}, {str(cache)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    part = remote.cache_path(cache, url).with_name("a.fits.gz.part")
    deadline = time.time() + 30
    while (not part.exists() or part.stat().st_size < (1 << 20)) and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert part.exists() and not remote.cache_path(cache, url).exists()
    have = part.stat().st_size
    srv.faults.clear()
    got = remote.fetch(url, cache)
    assert got.path.read_bytes() == BLOB and got.attempts == 1
    assert srv.requests[-1][1] == f"bytes={have}-", "the rerun resumes the killed download"


def test_url_translation_and_cache_layout(tmp_path):
    assert remote.is_remote("s3://b/k") and remote.is_remote("https://h/k") and not remote.is_remote("/data/x")
    assert remote.http_url("s3://nasa-irsa-simulations/openuniverse2024/x.fits.gz") == (
        "https://nasa-irsa-simulations.s3.amazonaws.com/openuniverse2024/x.fits.gz")
    assert remote.http_url("s3://b/k/x", s3_endpoint_url="http://127.0.0.1:9/") == "http://127.0.0.1:9/b/k/x"
    assert remote.cache_path(tmp_path, "s3://b/k/x") == tmp_path / "b" / "k" / "x"
    assert remote.cache_path(tmp_path, "http://127.0.0.1:9/k/x") == tmp_path / "127.0.0.1_9" / "k" / "x"
    assert remote.join("s3://b/root/", "images", "a/b.fits") == "s3://b/root/images/a/b.fits"
    with pytest.raises(ValueError, match="bucket and a key"):
        remote.http_url("s3://bucket-only")


def test_anonymous_s3_read_from_an_s3_api_server(tmp_path):
    root = tmp_path / "tree"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.fits.gz").write_bytes(BLOB)
    with S3Server("ou2024") as s3:
        s3.put_tree(root, "RomanTDS")
        got = remote.fetch("s3://ou2024/RomanTDS/images/a.fits.gz", tmp_path / "cache", s3_endpoint_url=s3.endpoint)
        assert got.path.read_bytes() == BLOB
        assert got.path == tmp_path / "cache" / "ou2024" / "RomanTDS" / "images" / "a.fits.gz"
        with pytest.raises(DataError, match=r"s3://ou2024/RomanTDS/images/b\.fits\.gz: not found \(HTTP 404\)"):
            remote.fetch("s3://ou2024/RomanTDS/images/b.fits.gz", tmp_path / "cache",
                         s3_endpoint_url=s3.endpoint, backoff=0)
    assert Path(got.path).stat().st_size == len(BLOB)
