"""Workflow config checks whose errors name the offending key."""

from __future__ import annotations

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
