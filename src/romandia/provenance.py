"""Provenance records beside each lightcurve, with ids computed by snappl's recipe.

The SN PIT database keys every product by a provenance (snappl's ``Provenance``): an id that
is the UUID of ``md5(base64(json.dumps(spec, sort_keys=True)))`` with ``spec`` = ``process``,
``major``, ``minor``, ``environment``, ``env_major``, ``env_minor``, ``params`` and the sorted
``upstream_ids``; ``params`` leave out the config's ``system`` part.  romandia computes the
same id without snappl (which needs the database client at import) so a lightcurve can be
loaded later without rework:

* **process** ``romandia``, major/minor from romandia's version;
* **params**: the workflow config with defaults filled in, minus :data:`SYSTEM_KEYS` (where
  the data and the results are, how many threads, the download cache: the same science gives
  the same id on a laptop and on Perlmutter);
* **upstreams**: one per input image, ``process = "image_file"`` with ``params = {"sha256":
  ...}`` of the file as read (content-addressed: a re-rendered or re-downloaded image with
  other bytes changes the id), and one for the object, ``process = "diaobject"`` with its
  ``oid``, ``ra``, ``dec``.

The JSON also records what is not part of the id: romandia's git commit, the image paths and
roles.  Tested: a rerun keeps the id, a changed parameter or input image changes it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

#: config keys that say where and how, not what: left out of ``params`` (snappl's ``system``)
SYSTEM_KEYS = ("sims_dir", "objects", "dia_out_dir", "lc_out_dir", "truth_dir", "threads", "remote", "backend",
               "worker")
PROCESS = "romandia"


def provenance_id(process: str, major: int, minor: int, params: Mapping, upstream_ids: Iterable[str] = (),
                  environment=None, env_major=None, env_minor=None) -> str:
    """snappl's provenance id (a UUID string) of these properties.

    ``upstream_ids`` are sorted first (snappl sorts its upstreams by id).
    """
    spec = {"process": process, "major": major, "minor": minor, "environment": environment,
            "env_major": env_major, "env_minor": env_minor, "params": params,
            "upstream_ids": sorted(str(u) for u in upstream_ids)}
    raw = json.dumps(spec, sort_keys=True).encode("utf-8")
    return str(uuid.UUID(hashlib.md5(base64.standard_b64encode(raw)).hexdigest()))


def science_params(config: Mapping) -> dict:
    """The config without :data:`SYSTEM_KEYS` (JSON-safe: tuples become lists)."""
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in SYSTEM_KEYS}))


def version_numbers(version: str) -> tuple[int, int]:
    """``(major, minor)`` of a version string such as ``0.1.0``."""
    parts = (version.split("+")[0].split(".") + ["0", "0"])[:2]
    return tuple(int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts)


def git_commit(repo: str | Path) -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the code in ``repo``."""
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip() or None
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha, "dirty": dirty if sha else None}


def lightcurve_record(*, oid: int, band: str, ra: float, dec: float, config: Mapping, images: Iterable[Mapping],
                      version: str, code: Mapping | None = None) -> dict:
    """The provenance record of one lightcurve.

    Parameters
    ----------
    oid, band, ra, dec
        The object [deg].
    config : mapping
        The workflow config (defaults filled in).
    images : iterable of mapping
        Each input image: ``key``, ``role`` (``template``/``science``), ``path`` and ``sha256``
        (None when the image could not be read: its id then rests on the path alone).
    version : str
        romandia's version.
    code : mapping, optional
        :func:`git_commit` of the code that ran.

    Returns
    -------
    dict
        ``id``, snappl's spec fields, ``upstreams`` (each with its own ``id``), ``code``.
    """
    major, minor = version_numbers(version)
    upstreams = []
    for im in sorted(images, key=lambda m: (m["role"], m["key"])):
        params = {"sha256": im["sha256"]} if im.get("sha256") else {"path": str(im["path"])}
        upstreams.append({"id": provenance_id("image_file", 0, 0, params), "process": "image_file",
                          "params": params, "key": im["key"], "role": im["role"], "path": str(im["path"])})
    obj = {"oid": int(oid), "ra": float(ra), "dec": float(dec)}
    upstreams.append({"id": provenance_id("diaobject", 0, 0, obj), "process": "diaobject", "params": obj})
    params = science_params(config)
    ids = [u["id"] for u in upstreams]
    return {"id": provenance_id(PROCESS, major, minor, params, ids), "process": PROCESS, "major": major,
            "minor": minor, "environment": None, "env_major": None, "env_minor": None, "params": params,
            "upstream_ids": sorted(ids), "upstreams": upstreams, "oid": int(oid), "band": band,
            "romandia_version": version, "code": dict(code or {})}


def sha256_file(path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
