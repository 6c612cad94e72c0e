"""The OU2024 directory layout and file names of images and truth catalogues.

Directory layout (``DIR`` = a simulator output or an OU2024 ``RomanTDS`` root)::

    DIR/images/simple_model/{band}/{pointing}/Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz
    DIR/truth/{band}/{pointing}/Roman_TDS_index_{band}_{pointing}_{sca}.txt
    DIR/snana/snana_{healpix}.parquet + snana_{healpix}.hdf5        (SN truth, SNANA format)

``pointing`` (= phrosty's ``observation_id``) is an integer.  In OU2024 it is the 0-based row
index of ``Roman_TDS_obseq_11_6_23.fits``.  Relative paths are POSIX strings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from romandia.constants import BANDS, IMAGE_REGEX, IMAGE_TEMPLATE, TRUTH_TEMPLATE
from romandia.errors import InputError

#: Sub-directory (relative to an output/RomanTDS root) holding the simple_model images.
IMAGE_SUBDIR = "images/simple_model"
#: Sub-directory (relative to an output/RomanTDS root) holding the truth catalogues.
TRUTH_SUBDIR = "truth"
#: Sub-directory of a simulator output holding the SNANA truth files.
SNANA_SUBDIR = "snana"

_IMAGE_RE = re.compile(IMAGE_REGEX)


def image_filename(band: str, pointing: int, sca: int) -> str:
    """File name of an OU2024 simple_model image, e.g. ``Roman_TDS_simple_model_R062_35083_8.fits.gz``."""
    return Path(image_relpath(band, pointing, sca)).name


def image_relpath(band: str, pointing: int, sca: int, fmt: str = "fits") -> str:
    """Path of an image relative to ``images/simple_model``.

    Parameters
    ----------
    band : str
        Roman band, e.g. ``"R062"``.
    pointing : int
        OU2024 pointing (= obseq row index = phrosty ``observation_id``).
    sca : int
        SCA number, 1-18.
    fmt : {"fits", "asdf"}
        ``asdf``: the simulator's Roman L2 version of the image (``.asdf`` instead of
        ``.fits.gz``; :mod:`romandia.simulate.l2asdf`).

    Returns
    -------
    str
        ``"{band}/{pointing}/Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz"`` (POSIX).
    """
    rel = IMAGE_TEMPLATE.format(band=band, pointing=int(pointing), sca=int(sca))
    return rel[: -len(".fits.gz")] + ".asdf" if fmt == "asdf" else rel


def truth_relpath(band: str, pointing: int, sca: int) -> str:
    """Path of a truth catalogue relative to ``truth/``.

    Returns
    -------
    str
        ``"{band}/{pointing}/Roman_TDS_index_{band}_{pointing}_{sca}.txt"`` (POSIX).
    """
    return TRUTH_TEMPLATE.format(band=band, pointing=int(pointing), sca=int(sca))


def parse_image_name(filename: str | os.PathLike) -> tuple[str, int, int]:
    """Parse ``(band, pointing, sca)`` from an OU2024 image file name.

    Parameters
    ----------
    filename : str or path-like
        A file name or path; only the last component is parsed
        (``Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits[.gz]``).

    Returns
    -------
    tuple
        ``(band: str, pointing: int, sca: int)``.

    Raises
    ------
    InputError
        If the name does not match the OU2024 pattern, the band is not a Roman band, or the
        SCA is not in 1-18.
    """
    name = Path(os.fspath(filename)).name
    m = _IMAGE_RE.match(name)
    if m is None:
        raise InputError(
            f"{filename!s}: not an OU2024 image name; expected "
            "'Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits[.gz]'"
        )
    band, pointing, sca = m["band"], int(m["pointing"]), int(m["sca"])
    if band not in BANDS:
        raise InputError(f"{filename!s}: unknown band {band!r}; expected one of {', '.join(BANDS)}")
    if not 1 <= sca <= 18:
        raise InputError(f"{filename!s}: SCA {sca} is outside 1-18")
    return band, pointing, sca
