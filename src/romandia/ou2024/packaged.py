"""Data files shipped in ``romandia/data`` (e.g. the real OU2024 observing sequence)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from romandia.errors import InputError


def packaged_data(relpath: str) -> Path:
    """Filesystem path of a data file shipped in ``romandia/data`` (via ``importlib.resources``).

    Parameters
    ----------
    relpath : str
        Path relative to ``romandia/data``, e.g. ``"ou2024/Roman_TDS_obseq_11_6_23.fits"``.

    Raises
    ------
    InputError
        If the file is not part of the package.
    """
    res = resources.files("romandia").joinpath("data", *relpath.split("/"))
    if not res.is_file():
        raise InputError(f"packaged data file 'romandia/data/{relpath}' does not exist")
    # romandia is installed as a regular directory (no zip import), so this is a real path.
    return Path(os.fspath(res))


def resolve_data_path(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Path:
    """Resolve ``"package:REL"`` to a packaged data file, other strings to a filesystem path.

    Relative filesystem paths are taken relative to ``base`` (e.g. the preset's directory) if
    given.
    """
    s = os.fspath(path)
    if s.startswith("package:"):
        return packaged_data(s[len("package:"):])
    p = Path(s).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return p


def default_obseq_path() -> Path:
    """The packaged copy of the real OU2024 observing sequence ``Roman_TDS_obseq_11_6_23.fits``."""
    return packaged_data("ou2024/Roman_TDS_obseq_11_6_23.fits")
