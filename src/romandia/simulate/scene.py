"""The static scene: stars, bulge+disk galaxies and SN host galaxies, defined on the sky.

Every exposure of a run draws the same catalogue (positions in ra/dec), so templates and science
epochs at different roll angles, SCAs and dithers see the same objects.  The catalogue is made of
circular *fields*, one per group of transients; each field's content depends only on the seed
and the field index, never on which exposures exist.

Magnitudes are AB in a reference band; an object's magnitude in band ``b`` is
``mag + color * (lambda_index(b) - 3) / 3`` (a linear colour across R062 ... K213).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from romandia.constants import BANDS

#: Object-id bases (ids stay unique across fields; OU2024 star ids are ~4e10, galaxies ~1e13).
STAR_ID_BASE = 40_000_000_000
GALAXY_ID_BASE = 10_000_000_000_000
HOST_ID_BASE = 20_000_000_000_000


def stable_seed(*parts) -> int:
    """A 31-bit seed from a stable hash (sha256) of ``parts`` (independent of PYTHONHASHSEED)."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little") % (2**31 - 1) + 1


def band_mag(mag, color, band: str):
    """Magnitude in ``band`` of objects with reference ``mag`` and linear ``color``."""
    return np.asarray(mag) + np.asarray(color) * (BANDS.index(band) - 3) / 3.0


@dataclass
class Catalog:
    """Flat object catalogue (numpy arrays of equal length).

    Attributes
    ----------
    object_id : int64
    kind : str array, ``'star'`` or ``'galaxy'``
    ra, dec : float64 [deg]
    mag, color : float64 [AB mag, mag across the bands]
    bulge_frac, hlr_disk, hlr_bulge, e1, e2 : float64 (galaxies; hlr in arcsec)
    """

    object_id: np.ndarray
    kind: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    mag: np.ndarray
    color: np.ndarray
    bulge_frac: np.ndarray
    hlr_disk: np.ndarray
    hlr_bulge: np.ndarray
    e1: np.ndarray
    e2: np.ndarray

    def __len__(self) -> int:
        return len(self.object_id)

    @staticmethod
    def concat(cats: list[Catalog]) -> Catalog:
        names = Catalog.__dataclass_fields__.keys()
        if not cats:
            return Catalog(**{n: np.zeros(0) for n in names})
        return Catalog(**{n: np.concatenate([getattr(c, n) for c in cats]) for n in names})


@dataclass
class Field:
    """A circular patch of sky [deg, arcsec] that gets stars and galaxies."""

    index: int
    ra: float
    dec: float
    radius_arcsec: float
    members: list = field(default_factory=list)


def _offsets_in_circle(rng, n: int, radius_arcsec: float) -> tuple[np.ndarray, np.ndarray]:
    r = radius_arcsec * np.sqrt(rng.uniform(size=n))
    t = rng.uniform(0.0, 2 * math.pi, size=n)
    return r * np.cos(t), r * np.sin(t)


def offset_radec(ra: float, dec: float, dx_arcsec, dy_arcsec):
    """Position offset by (dx east, dy north) [arcsec] on the tangent plane (gnomonic)."""
    ra0, dec0 = math.radians(ra), math.radians(dec)
    xi = np.radians(np.asarray(dx_arcsec, dtype="float64") / 3600.0)
    eta = np.radians(np.asarray(dy_arcsec, dtype="float64") / 3600.0)
    den = math.cos(dec0) - eta * math.sin(dec0)
    ra_out = ra0 + np.arctan2(xi, den)
    dec_out = np.arctan2(math.sin(dec0) + eta * math.cos(dec0), np.hypot(xi, den))
    return np.degrees(ra_out) % 360.0, np.degrees(dec_out)


def separation_arcsec(ra1, dec1, ra2, dec2):
    """Great-circle separation [arcsec] (haversine)."""
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    a = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))) * 3600.0


def make_field_catalog(fld: Field, cfg: dict, seed: int) -> Catalog:
    """Stars and galaxies of one field, deterministic in (seed, field index).

    Parameters
    ----------
    fld : Field
    cfg : dict
        The preset's ``scene`` section: ``star_density``/``galaxy_density`` [per arcmin^2],
        ``star_mag``, ``zp_star_mag``, ``zp_star_fraction``, ``galaxy_mag``, ``galaxy_hlr``
        [arcsec], ``bulge_fraction``, ``ellipticity``, ``color``.
    seed : int
        Run seed.
    """
    rng = np.random.default_rng(stable_seed(seed, "scene", fld.index))
    area = math.pi * (fld.radius_arcsec / 60.0) ** 2  # arcmin^2
    ns = int(round(cfg["star_density"] * area))
    ng = int(round(cfg["galaxy_density"] * area))
    # stars: a fraction in the zeropoint-check range, the rest over the full range
    nzp = int(round(cfg["zp_star_fraction"] * ns))
    smag = np.concatenate([rng.uniform(*cfg["zp_star_mag"], size=nzp),
                           rng.uniform(*cfg["star_mag"], size=ns - nzp)])
    sdx, sdy = _offsets_in_circle(rng, ns, fld.radius_arcsec)
    sra, sdec = offset_radec(fld.ra, fld.dec, sdx, sdy)
    scol = rng.uniform(-cfg["color"], cfg["color"], size=ns)
    # galaxies
    gmag = rng.uniform(*cfg["galaxy_mag"], size=ng)
    gdx, gdy = _offsets_in_circle(rng, ng, fld.radius_arcsec)
    gra, gdec = offset_radec(fld.ra, fld.dec, gdx, gdy)
    gcol = rng.uniform(-cfg["color"], cfg["color"], size=ng)
    lo, hi = cfg["galaxy_hlr"]
    # brighter galaxies are bigger: log-uniform size, shifted by magnitude
    t = (gmag - cfg["galaxy_mag"][0]) / max(cfg["galaxy_mag"][1] - cfg["galaxy_mag"][0], 1e-9)
    hlr = np.exp(np.log(hi) + (np.log(lo) - np.log(hi)) * np.clip(t + rng.normal(0, 0.15, ng), 0, 1))
    bf = rng.uniform(*cfg["bulge_fraction"], size=ng)
    emax = cfg["ellipticity"]
    e = emax * np.sqrt(rng.uniform(size=ng))
    th = rng.uniform(0, math.pi, size=ng)
    z = np.zeros(ns)
    return Catalog(
        object_id=np.concatenate([
            STAR_ID_BASE + fld.index * 1_000_000 + np.arange(ns),
            GALAXY_ID_BASE + fld.index * 10_000_000 + np.arange(ng),
        ]).astype("int64"),
        kind=np.array(["star"] * ns + ["galaxy"] * ng, dtype=object),
        ra=np.concatenate([sra, gra]),
        dec=np.concatenate([sdec, gdec]),
        mag=np.concatenate([smag, gmag]),
        color=np.concatenate([scol, gcol]),
        bulge_frac=np.concatenate([z, bf]),
        hlr_disk=np.concatenate([z, hlr]),
        hlr_bulge=np.concatenate([z, 0.5 * hlr]),
        e1=np.concatenate([z, e * np.cos(2 * th)]),
        e2=np.concatenate([z, e * np.sin(2 * th)]),
    )


def host_catalog(hosts: list[dict]) -> Catalog:
    """Catalogue of SN host galaxies.

    Parameters
    ----------
    hosts : list of dict
        ``{"host_id", "ra", "dec", "mag", "color", "hlr", "bulge_fraction", "e1", "e2"}``.
    """
    n = len(hosts)
    if n == 0:
        return Catalog.concat([])
    col = {k: np.array([h[k] for h in hosts], dtype="float64")
           for k in ("ra", "dec", "mag", "color", "hlr", "bulge_fraction", "e1", "e2")}
    return Catalog(
        object_id=np.array([h["host_id"] for h in hosts], dtype="int64"),
        kind=np.array(["galaxy"] * n, dtype=object),
        ra=col["ra"], dec=col["dec"], mag=col["mag"], color=col["color"],
        bulge_frac=col["bulge_fraction"], hlr_disk=col["hlr"], hlr_bulge=0.5 * col["hlr"],
        e1=col["e1"], e2=col["e2"],
    )
