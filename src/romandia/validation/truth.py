"""Loading a run's lightcurves and attaching the simulator's truth to each row.

* :func:`load_rows` reads every ``{oid}_{band}_all.parquet`` of a run;
* :func:`attach_truth` adds the true flux at each epoch (``flux_true`` [counts]), the truth
  zeropoint (``zpt_true`` [AB mag of one count]), and the host galaxy's surface brightness at
  the SN (``host_sb``, AB mag/arcsec², from the simulator's own host model), and derives
  ``snr = f_true / sigma``, ``ratio = f / f_true`` (rows with ``f_true > 0``) and
  ``pull = (f - f_true) / sigma``;
* :func:`host_surface_brightness` evaluates that host model at each SN.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["load_rows", "attach_truth", "host_surface_brightness"]


def load_rows(lc_dir: str | os.PathLike) -> pd.DataFrame:
    """All rows of every ``{lc_dir}/data/{oid}/{oid}_{band}_all.parquet``, concatenated."""
    from romandia.lightcurve import read_lightcurve

    files = sorted(Path(lc_dir).glob("data/*/*_all.parquet"))
    if not files:
        raise FileNotFoundError(f"no lightcurves under {lc_dir}/data")
    frames = []
    for f in files:
        df = read_lightcurve(f)
        oid, band = f.name[: -len("_all.parquet")].split("_")
        df["oid"] = int(oid)
        df["band"] = band
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _science_key(name: str) -> tuple[str, int, int]:
    from romandia.ou2024 import parse_image_name

    return parse_image_name(name)


def host_surface_brightness(sims_dir: str | os.PathLike) -> dict:
    """Host surface brightness at each SN [AB mag/arcsec²] per band, from the simulator's model.

    Rebuilds the simulated transients from ``manifest.json`` (same config and seed, so the
    same hosts) and evaluates the host profile (de Vaucouleurs bulge + exponential disk,
    sheared, exactly as :mod:`romandia.simulate.render` draws it, before the PSF) at the SN.

    Returns
    -------
    dict
        ``{(oid, band): (sb, host_mag)}``; ``sb = inf`` for an SN without host.  Empty if the
        directory has no simulator manifest.
    """
    from romandia.constants import BANDS

    man = Path(sims_dir) / "manifest.json"
    if not man.is_file():
        return {}
    m = json.loads(man.read_text())
    from romandia.simulate.core import build_transients
    from romandia.simulate.render import _galaxy_profile
    from romandia.simulate.scene import band_mag, host_catalog

    cfg = dict(m["config"])
    # per-object SEDs (image.psf.sed: per_object): the hosts' band magnitudes integrate their
    # own SEDs, in the simulator's seds.parquet (the linear colour is not used then)
    sed_mags = {}
    seds_path = Path(sims_dir) / "seds.parquet"
    if seds_path.is_file():
        t = pd.read_parquet(seds_path)
        for _, r in t.iterrows():
            sed_mags[int(r["object_id"])] = {c[4:]: float(r[c]) for c in t.columns if c.startswith("mag_")}
    out = {}
    for t in build_transients(cfg, int(m["seed"])):
        for band in BANDS:
            if not t.host:
                out[(t.id, band)] = (math.inf, math.nan)
                continue
            h = t.host
            prof = _galaxy_profile(host_catalog([h]), 0, 1.0)
            cosd = math.cos(math.radians(h["dec"]))
            east = (t.ra - h["ra"]) * cosd * 3600.0
            north = (t.dec - h["dec"]) * 3600.0
            s = float(prof.xValue(-east, north))  # galsim sky frame: +x = west
            own = sed_mags.get(int(h["host_id"]), {})
            mag = own[band] if band in own else float(band_mag(h["mag"], h["color"], band))
            out[(t.id, band)] = (mag - 2.5 * math.log10(s) if s > 0 else math.inf, mag)
    return out


def _zptmag(sims: Path, key) -> float:
    """``ZPTMAG`` of a simulated image: its FITS header, or its L2 ASDF file's calibration
    (``romandia simulate --format asdf`` writes no FITS)."""
    from astropy.io import fits

    from romandia import io, ou2024

    path = sims / ou2024.IMAGE_SUBDIR / ou2024.image_relpath(*key)
    if path.is_file():
        return float(fits.getheader(path, "SCI")["ZPTMAG"])
    return float(io.load_image(sims / ou2024.IMAGE_SUBDIR / ou2024.image_relpath(*key, fmt="asdf")).header["ZPTMAG"])


def attach_truth(df: pd.DataFrame, sims_dir: str | os.PathLike) -> pd.DataFrame:
    """Add the truth of each row: ``flux_true`` [counts], ``zpt_true``, ``host_sb``, ``host_mag``,
    ``snr`` (= flux_true / flux_err), ``ratio`` (f / f_true), ``pull``.

    ``flux_true`` is the transient's expected counts in the science image (its truth catalogue
    row), ``zpt_true`` the truth zeropoint ``mag + 2.5 log10(flux) + ZPTMAG`` of that catalogue.
    """
    from romandia import ou2024

    sims = Path(sims_dir)
    df = df.copy()
    cache: dict = {}
    ft, zt = [], []
    for name, oid in zip(df["science_name"], df["oid"], strict=True):
        key = _science_key(name)
        if key not in cache:
            cat = ou2024.read_truth_catalog(sims / ou2024.TRUTH_SUBDIR / ou2024.truth_relpath(*key))
            ok = (cat["flux"] > 0) & np.isfinite(cat["mag"])
            gzp = np.median(cat["mag"][ok] + 2.5 * np.log10(cat["flux"][ok]))
            cache[key] = (cat, float(gzp + _zptmag(sims, key)))
        cat, zp = cache[key]
        row = cat[cat["object_id"] == int(oid)]
        ft.append(float(row["flux"].iloc[0]) if len(row) else math.nan)
        zt.append(zp)
    df["flux_true"] = ft
    df["zpt_true"] = zt
    hosts = host_surface_brightness(sims)
    df["host_sb"] = [hosts.get((int(o), b), (math.nan, math.nan))[0]
                     for o, b in zip(df["oid"], df["band"], strict=True)]
    df["host_mag"] = [hosts.get((int(o), b), (math.nan, math.nan))[1]
                      for o, b in zip(df["oid"], df["band"], strict=True)]
    with np.errstate(divide="ignore", invalid="ignore"):
        df["snr"] = df["flux_true"] / df["flux_err"]
        df["ratio"] = np.where(df["flux_true"] > 0, df["flux"] / df["flux_true"], np.nan)
        df["pull"] = (df["flux"] - df["flux_true"]) / df["flux_err"]
    return df
