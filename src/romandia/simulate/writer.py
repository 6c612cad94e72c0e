"""Writers for the OU2024-layout outputs (images, lists, objects.yaml, manifest).

Every file is written atomically (temporary name in the same directory, then ``os.replace``) and
deterministically: no timestamps in data files, gzip header ``mtime=0`` and no file name, so the
same seed gives byte-identical outputs.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from astropy.io import fits

from romandia.constants import IMAGELIST_HEADER
from romandia.provenance import sha256_file  # noqa: F401 - re-exported for the simulator's manifest

#: Structural keywords never copied from galsim's WCS header.
_STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "BZERO", "BSCALE",
               "XTENSION", "PCOUNT", "GCOUNT", "EXTNAME"}


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path``; move it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # not mkstemp: its 0600 mode would survive the rename; this name is unique per process
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def image_header(wcs, bounds, band: str, mjd: float, date_obs: str, exptime: float,
                 zpt_mag: float, sky_mean: float, err_mode: str, noiseless: bool) -> fits.Header:
    """The header written on every HDU of an image.

    galsim's TAN-SIP WCS header for ``bounds`` (``CRPIX`` shifted for cutouts, ``GS_XMIN``,
    ``GS_YMIN`` = 1-based SCA pixel of the first pixel; ``RA_TARG``, ``DEC_TARG``, ``PA_OBSY``,
    ``PA_FPA``, ``SCA_NUM``, ``ORIENTAT``, ...) plus ``ROMX0``/``ROMY0`` (0-based SCA pixel of
    array pixel ``[0, 0]``: the workflow's cutout convention, = GS_XMIN-1, GS_YMIN-1),
    ``FILTER``, ``MJD-OBS``, ``DATE-OBS``, ``EXPTIME`` [s],
    ``ZPTMAG`` [2.5 log10(exptime x 37570 cm^2)], ``SKY_MEAN`` [ADU], and romandia's ``ERRMODE``
    (what HDU 2 holds) and ``SIMNOISE`` (False for noiseless renders).
    """
    import galsim

    gh = galsim.FitsHeader()
    wcs.writeToFitsHeader(gh, bounds)
    hdr = fits.Header()
    for card in gh.header.cards:
        if card.keyword in _STRUCTURAL or card.keyword == "":
            continue
        hdr.append(card)
    hdr["ROMX0"] = (bounds.xmin - 1, "0-based SCA x of pixel [0, 0]")
    hdr["ROMY0"] = (bounds.ymin - 1, "0-based SCA y of pixel [0, 0]")
    hdr["FILTER"] = (band, "Roman bandpass")
    hdr["MJD-OBS"] = (float(mjd), "MJD at the start of the exposure")
    hdr["DATE-OBS"] = (date_obs, "UTC at the start of the exposure")
    hdr["EXPTIME"] = (float(exptime), "[s] exposure time")
    hdr["ZPTMAG"] = (float(zpt_mag), "2.5 log10(EXPTIME * collecting area [cm2])")
    hdr["SKY_MEAN"] = (float(sky_mean), "[ADU] mean expected sky + dark")
    hdr["ERRMODE"] = (err_mode, "ERR HDU: ou2024 sky realization or sigma")
    hdr["SIMNOISE"] = (not noiseless, "F: noiseless render (expected values)")
    return hdr


def image_hdulist(header: fits.Header, sci: np.ndarray, err: np.ndarray) -> fits.HDUList:
    """PRIMARY (header only) + SCI (>f8) + ERR (>f4) + DQ (uint32 zeros), same header on each."""
    prim = fits.PrimaryHDU(header=header.copy())
    h_sci = fits.ImageHDU(data=np.asarray(sci, dtype=">f8"), header=header.copy(), name="SCI")
    h_err = fits.ImageHDU(data=np.asarray(err, dtype=">f4"), header=header.copy(), name="ERR")
    h_dq = fits.ImageHDU(data=np.zeros(sci.shape, dtype=np.uint32), header=header.copy(),
                         name="DQ")
    return fits.HDUList([prim, h_sci, h_err, h_dq])


def write_fits_gz(path, hdul: fits.HDUList, level: int = 1) -> int:
    """Write ``hdul`` as a deterministic gzip file (mtime 0, no name); returns the size [bytes]."""
    raw = io.BytesIO()
    hdul.writeto(raw)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=int(level),
                       mtime=0) as gz:
        gz.write(raw.getbuffer())
    data = out.getvalue()
    write_bytes_atomic(path, data)
    return len(data)


def format_mjd(mjd: float) -> str:
    """MJD as in phrosty's lists (shortest float repr, e.g. ``62455.174``)."""
    return repr(float(mjd))


def write_image_list(path, rows: list[tuple[str, int, int, float, str]]) -> None:
    """phrosty image list: first line ``path observation_id sca mjd band``, space separated.

    ``rows``: ``(path relative to images/simple_model, pointing, sca, mjd, band)``.
    """
    lines = [IMAGELIST_HEADER]
    for p, pointing, sca, mjd, band in rows:
        lines.append(f"{p} {int(pointing)} {int(sca)} {format_mjd(mjd)} {band}")
    write_text_atomic(path, "\n".join(lines) + "\n")


def write_json(path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True, allow_nan=True) + "\n")
