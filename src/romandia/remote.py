"""Input files at ``https://`` or anonymous ``s3://`` URLs, downloaded once into a local cache.

OU2024 is public: ``s3://nasa-irsa-simulations/openuniverse2024/roman/full/RomanTDS`` can be
read without credentials, and the same objects are served over HTTPS at
``https://nasa-irsa-simulations.s3.amazonaws.com/...``.  An anonymous S3 read *is* an unsigned
HTTP GET on the object's URL, so both schemes go through one HTTP client (requests): an
``s3://bucket/key`` URL becomes ``https://bucket.s3.amazonaws.com/key``, or
``{endpoint}/bucket/key`` with ``s3_endpoint_url`` (another region, a mirror, a test
server).  s3fs would add aiobotocore and botocore for the same GET, and Snakemake's S3
storage plugin refuses to run without credentials.

The download loop is written here rather than left to urllib3's ``Retry`` because a retry
must *resume* a partial body (``Range``), not restart a 270-MB file, and because the errors
fall in two classes the workflow treats differently:

* the object is not there (HTTP 403/404/410): a :class:`~romandia.errors.DataError` of that
  image, naming the URL and the image list line; its rows fail, the run goes on;
* the server cannot be reached or keeps failing (connection errors, timeouts, 429/5xx, a body
  shorter than announced) after ``retries`` attempts with exponential back-off:
  :class:`RemoteUnavailable`, an infrastructure fault that fails the job (Snakemake retries it).

The cache holds ``{cache_dir}/{host or bucket}/{key}``.  A file appears under its final name
only when complete (``.part`` then rename), so a cached file is a complete one and a rerun
downloads nothing; a ``.part`` left by a killed job is resumed.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import DataError

SCHEMES = ("https://", "http://", "s3://")
#: where an s3://bucket/key URL is fetched from without an endpoint: the bucket's HTTPS host
S3_HOST = "https://{bucket}.s3.amazonaws.com/{key}"
CHUNK = 1 << 20
#: HTTP statuses that mean "this object is not there (for us)": the image's problem
MISSING = {403: "access denied (not public, or no such object)", 404: "not found", 410: "gone"}


class RemoteUnavailable(RuntimeError):
    """The server could not deliver a file after every retry (an infrastructure fault)."""


@dataclass
class Download:
    """A file in the local cache.

    Attributes
    ----------
    path : pathlib.Path
        The complete local copy.
    url : str
        What it was fetched from (the HTTP URL, after the s3:// translation).
    nbytes : int
        Its size [bytes].
    seconds : float
        Time spent downloading in this call (0 for a cache hit).
    cached : bool
        True when the file was already in the cache (nothing was downloaded).
    attempts : int
        HTTP requests made (0 for a cache hit).
    """

    path: Path
    url: str
    nbytes: int
    seconds: float
    cached: bool
    attempts: int


def is_remote(location) -> bool:
    """True for an ``https://``, ``http://`` or ``s3://`` location."""
    return str(location).startswith(SCHEMES)


def join(base: str, *parts: str) -> str:
    """``base/part/...`` for a URL (``pathlib`` would fold its ``//``)."""
    out = str(base).rstrip("/")
    for p in parts:
        out += "/" + str(p).strip("/")
    return out


def http_url(url: str, *, s3_endpoint_url: str | None = None) -> str:
    """The HTTP(S) URL an anonymous GET of ``url`` goes to (``s3://`` translated)."""
    if not url.startswith("s3://"):
        return url
    bucket, _, key = url[len("s3://"):].partition("/")
    if not bucket or not key:
        raise ValueError(f"{url}: an s3:// URL needs a bucket and a key (s3://bucket/key)")
    if s3_endpoint_url:
        return join(s3_endpoint_url, bucket, key)
    return S3_HOST.format(bucket=bucket, key=key)


def cache_path(cache_dir, url: str) -> Path:
    """Where ``url`` is kept under ``cache_dir``: ``{host or bucket}/{key}``."""
    if url.startswith("s3://"):
        host, _, key = url[len("s3://"):].partition("/")
    else:
        parts = urlsplit(url)
        host, key = parts.netloc.replace(":", "_"), parts.path.lstrip("/")
    return Path(cache_dir) / host / key


def fetch(url: str, cache_dir, *, s3_endpoint_url: str | None = None, retries: int = 4, backoff: float = 1.0,
          timeout: float = 60.0, source: str = "", log: logging.Logger | None = None, session=None) -> Download:
    """Download ``url`` into ``cache_dir`` unless it is there already.

    Parameters
    ----------
    url : str
        ``https://``, ``http://`` or ``s3://`` (read anonymously).
    cache_dir : path
        The cache's root.
    s3_endpoint_url : str, optional
        S3 endpoint for ``s3://`` URLs (path-style ``{endpoint}/{bucket}/{key}``).
    retries : int
        Attempts after the first for connection errors, timeouts, HTTP 429/5xx and bodies
        shorter than their ``Content-Length``; each resumes what is already on disk.
    backoff : float
        First wait between attempts [s]; doubles after each.
    timeout : float
        Connect and read timeout of one request [s].
    source : str
        Where the URL came from (``list.csv:12``), for messages.
    session : requests.Session, optional
        For connection reuse across calls.

    Returns
    -------
    Download

    Raises
    ------
    DataError
        ``fetch``: HTTP 403/404/410 (the message names the URL and ``source``).
    RemoteUnavailable
        The server did not deliver the file after ``retries`` more attempts.
    """
    import requests

    final = cache_path(cache_dir, url)
    if final.is_file():
        return Download(final, url, final.stat().st_size, 0.0, True, 0)
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    get = http_url(url, s3_endpoint_url=s3_endpoint_url)
    where = f" (listed in {source})" if source else ""
    sess = session or requests.Session()
    t0 = time.perf_counter()
    wait, attempts, last = backoff, 0, ""
    while attempts <= retries:
        if attempts:
            if log is not None:
                log.warning("%s: %s; retry %d of %d in %.1f s", get, last, attempts, retries, wait)
            time.sleep(wait)
            wait *= 2
        attempts += 1
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with sess.get(get, headers=headers, stream=True, timeout=timeout) as r:
                if r.status_code in MISSING:
                    raise DataError("fetch", f"{url}: {MISSING[r.status_code]} (HTTP {r.status_code}){where}; "
                                             "check the image list's path and sims_dir")
                if r.status_code == 416:  # our partial file is not a prefix of theirs: start again
                    part.unlink(missing_ok=True)
                    last = "HTTP 416 on resume"
                    continue
                if r.status_code == 429 or r.status_code >= 500:
                    last = f"HTTP {r.status_code}"
                    continue
                if r.status_code not in (200, 206):
                    raise RemoteUnavailable(f"{get}: unexpected HTTP {r.status_code}{where}")
                resumed = r.status_code == 206
                expected = r.headers.get("Content-Length")
                expected = int(expected) + (have if resumed else 0) if expected is not None else None
                with open(part, "ab" if resumed else "wb") as fh:
                    for chunk in r.iter_content(CHUNK):
                        fh.write(chunk)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            last = f"{type(exc).__name__}: {exc}"
            continue
        got = part.stat().st_size
        if expected is not None and got != expected:
            last = f"body ended at {got} of {expected} bytes"
            continue
        os.replace(part, final)
        dt = time.perf_counter() - t0
        if log is not None:
            log.info("downloaded %s (%.1f MB in %.1f s, %d request(s))", get, got / 1e6, dt, attempts)
        return Download(final, url, got, dt, False, attempts)
    raise RemoteUnavailable(f"{get}: not delivered after {attempts} attempts (last: {last}){where}; "
                            "the partial download is kept and resumed by the next try")
