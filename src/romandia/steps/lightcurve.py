"""Step ``lightcurve``: one object's rows from the photometry of its science images."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import calibration, io, lightcurve, ou2024, provenance


def object_rows(phot_paths: Iterable, oid: int, band: str | None) -> list[dict]:
    """The rows of object ``oid`` in ``band`` (None: every band) in photometry products (JSON,
    one per science image; each holds the rows of every object and template on that image)."""
    rows = []
    for p in phot_paths:
        with open(p) as fh:
            doc = json.load(fh)
        rows += [r for r in doc["rows"] if int(r["oid"]) == int(oid) and (band is None or r["band"] == band)]
    return rows


def input_checksums(phot_paths: Iterable) -> dict:
    """``{image key: SHA-256}`` of the input images, as the photometry products carry them
    (from the staged images' ``ROMSHA`` through the difference product's ``INPUTS`` table).
    An image that could not be read has none."""
    out = {}
    for p in phot_paths:
        with open(p) as fh:
            out.update(json.load(fh).get("checksums") or {})
    return out


def object_lightcurve(phot_paths: Iterable, oid: int, band: str, *, pool_calibration: bool,
                      colour_paths: Iterable = (), chromatic: Mapping | None = None,
                      z: float | None = None) -> pd.DataFrame:
    """Merged, sorted lightcurve of ``oid`` in ``band`` (:func:`romandia.lightcurve.merge_rows`).

    With ``pool_calibration`` the rows without their own field-star calibration get the pooled
    one of their band (:func:`romandia.calibration.pool_unmeasured`).  With ``chromatic``
    (config ``chromatic``) ``enabled``, the rows are
    corrected for the object's own SED (:func:`romandia.chromatic.estimate.
    correct_lightcurves`), its colours from its rows in the other bands' photometry
    (``colour_paths``, the object's science images in its other bands); ``z`` is the host's
    redshift (the SN Ia template estimate, ``chromatic.sed``).
    """
    from ..chromatic.estimate import CHROM_COLUMNS, correct_lightcurves

    frames = []
    rows = object_rows(list(phot_paths) + list(colour_paths), oid, None)
    for b in sorted({r["band"] for r in rows} | {band}):
        df = lightcurve.merge_rows([r for r in rows if r["band"] == b])
        frames.append(calibration.pool_unmeasured(df) if pool_calibration and len(df) else df)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    c = dict(chromatic or {})
    if c.get("enabled"):
        df = correct_lightcurves(df, window_days=float(c["window_days"]), min_snr=float(c["min_snr"]),
                                 max_gap_days=float(c["max_gap_days"]), sed=str(c["sed"]), z=z,
                                 template_sigma=float(c["template_sigma"]))
    else:
        df = df.copy()
        for col in CHROM_COLUMNS:
            df[col] = "" if col in ("chrom_sed", "chrom_status") else np.nan
        df.loc[df["success"].astype(bool), "chrom_status"] = "not applied (chromatic.enabled: false)"
    out = df[df["band"] == band]
    return lightcurve.sort_lightcurve(lightcurve.apply_schema(out))


def truth_curve(truth_dir, oid: int, band: str, df: pd.DataFrame, log: logging.Logger | None = None):
    """The SNANA truth lightcurve in counts at the lightcurve's median zeropoint, or None
    (real surveys have no truth)."""
    try:
        _, mjd, mags = ou2024.find_sn_truth(truth_dir, oid)
    except Exception as exc:  # noqa: BLE001 - truth is optional
        if log is not None:
            log.info("no truth lightcurve for %s (%s)", oid, exc)
        return None
    zpt = float(np.nanmedian(df["zpt"])) if df["zpt"].notna().any() else np.nan
    grid = np.linspace(mjd[0], mjd[-1], 400)
    if log is not None:
        log.info("truth lightcurve found for %s", oid)
    return grid, ou2024.mag_to_counts(ou2024.truth_mag(mjd, mags[band], grid), zpt)


def provenance_record(oid: int, band: str, *, ra: float, dec: float, images: Iterable, checksums: Mapping,
                      config, repo) -> dict:
    """The lightcurve's provenance (:func:`romandia.provenance.lightcurve_record`), with each
    input file's SHA-256 from ``checksums`` (:func:`input_checksums`; None for an image that
    could not be read)."""
    import romandia

    imgs = [dict(im, sha256=checksums.get(im["key"])) for im in images]
    return provenance.lightcurve_record(oid=oid, band=band, ra=ra, dec=dec, config=config, images=imgs,
                                        version=romandia.__version__, code=provenance.git_commit(repo))


def write_json(path, obj) -> None:
    """``obj`` as indented JSON, written atomically."""
    with io.atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=1) + "\n")
