"""phrosty's image lists: space-separated CSV files ``path observation_id sca mjd band``.

Every error names the file and the 1-based line number, and says what to do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from .constants import BANDS, IMAGELIST_HEADER
from .errors import InputError

_HEADER_RE = re.compile(r"^\s*path\s+observation_id\s+sca\s+mjd\s+band\s*$")
_SAFE_PATH_RE = re.compile(r"^[A-Za-z0-9._/+-]+$")


@dataclass(frozen=True)
class ImageEntry:
    """One row of an image list.

    Attributes
    ----------
    path : str
        Path relative to ``{sims_dir}/images/simple_model``.
    observation_id : int
        OU2024 pointing (row of the observing sequence).
    sca : int
        Sensor chip assembly, 1-18.
    mjd : float
        MJD from the list (informational; the image header's ``MJD-OBS`` is authoritative).
    band : str
        Roman band, e.g. ``"R062"``.
    source : str
        ``"file:line"`` the entry came from, for error messages.
    """

    path: str
    observation_id: int
    sca: int
    mjd: float
    band: str
    source: str = ""

    @property
    def key(self) -> str:
        """Identifier used in file names and wildcards: ``{band}_{observation_id}_{sca}``."""
        return f"{self.band}_{self.observation_id}_{self.sca}"


def read_image_list(path: str | Path, band: str | None = None) -> list[ImageEntry]:
    """Read and validate a phrosty image list.

    Parameters
    ----------
    path : str or Path
        The CSV file. First line exactly ``path observation_id sca mjd band``.
    band : str, optional
        Keep only rows of this band (phrosty's behaviour with ``-b``). Rows of other
        bands are dropped silently, as phrosty does.

    Returns
    -------
    list of ImageEntry
        In file order, duplicates rejected.

    Raises
    ------
    InputError
        Missing file, wrong header, wrong column count, non-numeric or out-of-range
        values, unsafe paths, duplicate rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image list '{path}': file not found; check the 'templates'/'science' key")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"image list '{path}': not a text file ({exc})") from None
    if not lines or not _HEADER_RE.match(lines[0]):
        got = lines[0] if lines else "<empty file>"
        raise InputError(
            f"{path}:1: header must be exactly '{IMAGELIST_HEADER}' (space-separated), got '{got}'"
        )
    entries: list[ImageEntry] = []
    seen: dict[tuple, str] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{lineno}"
        fields = line.split()
        if len(fields) != 5:
            raise InputError(
                f"{where}: expected 5 space-separated columns ({IMAGELIST_HEADER}), "
                f"got {len(fields)}: '{line.strip()}'"
            )
        p, obs, sca, mjd, b = fields
        if not _SAFE_PATH_RE.match(p) or p.startswith("/") or ".." in p.split("/"):
            raise InputError(
                f"{where}: path '{p}' must be relative to images/simple_model, without '..' "
                "or unusual characters"
            )
        try:
            obs_i = int(obs)
        except ValueError:
            raise InputError(f"{where}: observation_id '{obs}' is not an integer") from None
        try:
            sca_i = int(sca)
        except ValueError:
            raise InputError(f"{where}: sca '{sca}' is not an integer") from None
        if not 1 <= sca_i <= 18:
            raise InputError(f"{where}: sca {sca_i} is outside 1-18")
        try:
            mjd_f = float(mjd)
        except ValueError:
            raise InputError(f"{where}: mjd '{mjd}' is not a number") from None
        if not math.isfinite(mjd_f):
            raise InputError(f"{where}: mjd '{mjd}' is not finite")
        if b not in BANDS:
            raise InputError(f"{where}: band '{b}' is not one of {', '.join(BANDS)}")
        if obs_i < 0:
            raise InputError(f"{where}: observation_id {obs_i} is negative")
        entry = ImageEntry(p, obs_i, sca_i, mjd_f, b, where)
        ident = (b, obs_i, sca_i)
        if ident in seen:
            raise InputError(
                f"{where}: duplicate image {entry.key} (first at {seen[ident]}); remove one of the rows"
            )
        seen[ident] = where
        if band is None or b == band:
            entries.append(entry)
    return entries


def write_image_list(path: str | Path, entries) -> None:
    """Write an image list in phrosty's format.

    Parameters
    ----------
    path : str or Path
        Output CSV.
    entries : iterable of ImageEntry or tuples ``(path, observation_id, sca, mjd, band)``.
    """
    rows = [IMAGELIST_HEADER]
    for e in entries:
        if isinstance(e, ImageEntry):
            e = (e.path, e.observation_id, e.sca, e.mjd, e.band)
        p, obs, sca, mjd, b = e
        rows.append(f"{p} {int(obs)} {int(sca)} {float(mjd)!r} {b}")
    Path(path).write_text("\n".join(rows) + "\n")
