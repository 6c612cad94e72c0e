"""Workflow config checks whose errors name the offending key."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

import yaml

from .errors import InputError


def check_config(config: dict, schema_path: str | Path) -> None:
    """Validate ``config`` against the JSON schema; the first error names the key path.

    Snakemake's ``validate`` (which also fills in defaults) reports the message without the
    key for nested values; this runs first so the user sees e.g.
    ``config key 'psf.type': 'webbpsf' is not one of [...]``.

    Raises
    ------
    InputError
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err.absolute_path)
        path = path.replace(".[", "[")
        where = f"config key '{path}'" if path else "config"
        raise InputError(f"{where}: {err.message}; see config/README.md")


#: config keys naming directories the workflow writes
OUTPUT_DIR_KEYS = ("dia_out_dir", "lc_out_dir")


def check_output_dirs(config: dict, keys=OUTPUT_DIR_KEYS) -> None:
    """Check that each output directory exists and is writable, or can be created.

    Runs when the workflow is parsed, before any job: otherwise every job would fail on
    its own output with an OS error that does not name the config key.  Nothing is
    created here (a dry run must not touch the file system).  Relative paths are relative
    to the working directory (Snakemake's ``--directory``).

    Raises
    ------
    InputError
        Naming the key, the path, what stands in the way, and the fix.
    """
    import os

    for key in keys:
        value = config.get(key)
        if not value:
            continue
        path = Path(value).expanduser().absolute()
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        fix = f"set {key} to a directory you can write (see config/README.md)"
        if existing == path:
            problem = "is a file, not a directory" if not path.is_dir() else "is not writable"
        elif not existing.is_dir():
            problem = f"cannot be created: '{existing}' is a file, not a directory"
        else:
            problem = f"cannot be created: '{existing}' is not writable"
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise InputError(f"config key '{key}': output directory '{value}' {problem}; {fix}")


def deep_merge(base: Mapping, over: Mapping | None) -> dict:
    """``base`` updated by ``over`` recursively (mappings merged key by key, anything else
    replaced); neither input is modified."""
    out = copy.deepcopy(dict(base))
    for k, v in (over or {}).items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def flatten(node: Mapping, prefix: str = "") -> dict:
    """``{"a.b.c": value}`` of a nested mapping (an empty mapping is a value of its own)."""
    out = {}
    for k, v in node.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out
