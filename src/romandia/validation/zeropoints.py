"""phrosty's field-star zeropoint of each science image, against its header zeropoint.

Zeropoints are AB magnitudes of one count; differences are in mmag.  Truth-catalogue ``x``,
``y`` are 1-based pixels of the simulated image file; the measurement uses 0-based pixels of the
run's (possibly cut-out) sky-subtracted science image.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .truth import _science_key

__all__ = ["field_star_zeropoints"]


def field_star_zeropoints(df: pd.DataFrame, sims_dir, dia_dir, max_stars: int = 6,
                          max_images: int | None = None, mag_range=(19.0, 21.5)) -> dict:
    """phrosty's field-star zeropoint of each science image against its header zeropoint.

    On the sky-subtracted science image of the run (the ``prepared`` product, ``{dia_dir}/prepare/{image}.fits``), each truth
    star with ``mag_range[0] < m < mag_range[1]`` (AB), no pixel within 3 px above 80 % of
    saturation and at least 15 px from the edge is measured by forced PSF photometry at its
    true position (PSF drawn at its sub-pixel phase, equal weights, no local background: the
    image is sky-subtracted); ``zpt = median(m_truth + 2.5 log10 f)`` over the (at most
    ``max_stars`` brightest) stars.  The difference to the header zeropoint is in mmag.
    """
    from astropy.io import fits

    from romandia import io, ou2024, photometry, products
    from romandia import psf as rpsf
    from romandia.constants import SATURATION, zeropoint

    sims = Path(sims_dir)
    rows = []
    names = sorted(set(df["science_name"]))
    if max_images is not None and len(names) > int(max_images):
        idx = np.linspace(0, len(names) - 1, int(max_images)).round().astype(int)
        names = [names[i] for i in sorted(set(idx))]
    for name in names:
        band, pointing, sca = _science_key(name)
        key = f"{band}_{pointing}_{sca}"
        path = Path(products.path(dia_dir, "prepared", key))
        if not path.is_file():
            continue
        h = io.read_hdus(path, ["SKYSUB", "VAR"])
        img, hdr = h["SKYSUB"]
        img = np.asarray(img, dtype=float)
        var = np.asarray(h["VAR"][0], dtype=float)
        fpath = sims / ou2024.IMAGE_SUBDIR / ou2024.image_relpath(band, pointing, sca)
        raw, fhdr = fits.getdata(fpath, "SCI", header=True)
        # truth x, y are 1-based in the file's frame; the staged image may be a cutout of it
        dx = int(hdr.get("ROMX0", 0)) - int(fhdr.get("ROMX0", 0))
        dy = int(hdr.get("ROMY0", 0)) - int(fhdr.get("ROMY0", 0))
        raw = raw[dy: dy + img.shape[0], dx: dx + img.shape[1]]
        cat = ou2024.read_truth_catalog(sims / ou2024.TRUTH_SUBDIR / ou2024.truth_relpath(band, pointing, sca))
        zph = zeropoint(band, float(hdr["ZPTMAG"]))
        stars = cat[cat["obj_type"] == "star"].copy()
        stars["ab"] = stars["mag"] + float(hdr["ZPTMAG"])
        stars = stars[(stars["ab"] > mag_range[0]) & (stars["ab"] < mag_range[1])]
        stars = stars.sort_values("ab")
        ny, nx = img.shape
        deltas = []
        for _, st in stars.iterrows():
            x = float(st["x"]) - 1.0 - dx
            y = float(st["y"]) - 1.0 - dy
            if not (15 <= x < nx - 15 and 15 <= y < ny - 15):
                continue
            ix, iy = int(round(x)), int(round(y))
            if np.nanmax(raw[max(iy - 3, 0): iy + 4, max(ix - 3, 0): ix + 4]) > 0.8 * SATURATION:
                continue
            p = rpsf.psf_stamp("galsim", {"size": 25}, hdr, x, y, at_position=True)
            r = photometry.forced_psf_photometry(img, var, p, x, y, psf_at_position=True,
                                                 weights="background")
            if r["success"] and r["flux"] > 0:
                deltas.append(float(st["ab"]) + 2.5 * math.log10(r["flux"]))
            if len(deltas) >= max_stars:
                break
        if deltas:
            zfs = float(np.median(deltas))
            rows.append({"image": key, "band": band, "n_stars": len(deltas), "zpt_fs": zfs,
                         "zpt_header": zph, "delta_mmag": 1000.0 * (zfs - zph)})
    d = np.array([r["delta_mmag"] for r in rows])
    return {"images": rows, "n_images": len(rows),
            "median_mmag": float(np.median(d)) if d.size else math.nan,
            "median_abs_mmag": float(np.median(np.abs(d))) if d.size else math.nan,
            "by_band": {b: float(np.median([r["delta_mmag"] for r in rows if r["band"] == b]))
                        for b in sorted({r["band"] for r in rows})}}
