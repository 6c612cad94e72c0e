"""Exposures: pointings (real OU2024 obseq rows or synthetic), WCS and cutout bounds.

WCS: ``galsim.roman.getWCS(fpa_centre, PA=pa, date, SCAs=sca, PA_is_FPA=True)`` after setting
``galsim.roman.roman_wcs.max_sun_angle = 50`` (as roman_imsim's OU2024 ``tds.yaml``; the obseq
dates/PAs are not physically consistent and ~43 % of rows are refused otherwise).  This
reproduces the x, y of OU2024's truth catalogues to < 0.002 px.

Synthetic pointings get ids from :data:`SYNTHETIC_POINTING_BASE` up (the real obseq has 57,365
rows, so they never collide) and the written obseq table carries an explicit ``pointing`` column
(row index != pointing id).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import galsim
import galsim.roman as groman
import numpy as np

from romandia.constants import EXPTIME, SCA_NPIX

#: First id given to synthetic pointings.
SYNTHETIC_POINTING_BASE = 100000
#: roman_imsim's OU2024 setting.
MAX_SUN_ANGLE = 50.0


def configure_galsim_roman() -> None:
    """Apply OU2024's ``max_sun_angle = 50`` to galsim.roman (global, idempotent)."""
    groman.roman_wcs.max_sun_angle = MAX_SUN_ANGLE


def mjd_to_datetime(mjd: float):
    """MJD -> naive UTC ``datetime`` (as galsim.roman and OU2024's ``DATE-OBS`` use)."""
    from astropy.time import Time

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ERFA "dubious year" for dates after the leap-second table
        return Time(float(mjd), format="mjd", scale="utc").datetime


@dataclass
class Exposure:
    """One image to simulate.

    Attributes
    ----------
    band : str
    pointing : int
        OU2024 pointing / observation_id.
    sca : int
    ra, dec, pa : float
        FPA centre [deg] and PA of the focal plane [deg] (``PA_is_FPA=True``).
    mjd, exptime : float
        Start MJD and exposure time [s].
    role : str
        ``'template'`` or ``'science'``.
    synthetic : bool
        False for real obseq rows.
    bounds : galsim.BoundsI or None
        1-based full-SCA bounds of the written image (set by the driver).
    center_shift : tuple of int
        Pixel shift of the cutout centre from the centroid of the transients it is centred on.
    center_on : list of int or None
        Transient ids the cutout is centred on (None: all transients on the SCA).
    """

    band: str
    pointing: int
    sca: int
    ra: float
    dec: float
    pa: float
    mjd: float
    exptime: float
    role: str
    synthetic: bool
    bounds: galsim.BoundsI | None = None
    center_shift: tuple = (0, 0)
    center_on: list | None = None
    _wcs: galsim.GSFitsWCS | None = None

    @property
    def date(self):
        return mjd_to_datetime(self.mjd)

    @property
    def wcs(self) -> galsim.GSFitsWCS:
        """Full-SCA galsim WCS (1-based SCA pixels)."""
        if self._wcs is None:
            configure_galsim_roman()
            pos = galsim.CelestialCoord(self.ra * galsim.degrees, self.dec * galsim.degrees)
            self._wcs = groman.getWCS(pos, PA=self.pa * galsim.degrees, date=self.date,
                                      SCAs=self.sca, PA_is_FPA=True)[self.sca]
        return self._wcs

    def radec_to_sca(self, ra, dec) -> tuple[np.ndarray, np.ndarray]:
        """1-based full-SCA pixel positions of sky positions [deg]."""
        x, y = self.wcs.radecToxy(np.atleast_1d(np.asarray(ra, dtype="float64")),
                                  np.atleast_1d(np.asarray(dec, dtype="float64")),
                                  units="degrees")
        return np.asarray(x), np.asarray(y)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.band, self.pointing, self.sca)


def obseq_exposure(obseq, pointing: int, sca: int, role: str) -> Exposure:
    """Exposure from a real obseq row (band, FPA centre, PA, MJD and exptime from the row)."""
    row = obseq.loc[int(pointing)]
    return Exposure(band=str(row["filter"]), pointing=int(pointing), sca=int(sca),
                    ra=float(row["ra"]), dec=float(row["dec"]), pa=float(row["pa"]),
                    mjd=float(row["date"]), exptime=float(row["exptime"]), role=role,
                    synthetic=False)


def synthetic_exposure(band: str, pointing: int, sca: int, pa: float, mjd: float,
                       target_radec: tuple[float, float], target_pixel: tuple[float, float],
                       role: str) -> Exposure:
    """Exposure whose pointing puts ``target_radec`` near the 1-based SCA pixel ``target_pixel``.

    Uses ``galsim.roman.convertCenter`` (target at the SCA centre), then shifts the requested
    position so the target lands at ``target_pixel`` (to within a few pixels; the actual pixel
    follows from the WCS).
    """
    configure_galsim_roman()
    date = mjd_to_datetime(mjd)
    tgt = galsim.CelestialCoord(target_radec[0] * galsim.degrees, target_radec[1] * galsim.degrees)
    fpa = groman.convertCenter(tgt, int(sca), PA=pa * galsim.degrees, date=date, PA_is_FPA=True)
    w = groman.getWCS(fpa, PA=pa * galsim.degrees, date=date, SCAs=int(sca), PA_is_FPA=True)[sca]
    c = SCA_NPIX / 2.0
    # the sky point that must sit at the SCA centre so that the target lands on target_pixel
    mirror = w.toWorld(galsim.PositionD(2 * c - target_pixel[0] + 1, 2 * c - target_pixel[1] + 1))
    fpa = groman.convertCenter(mirror, int(sca), PA=pa * galsim.degrees, date=date,
                               PA_is_FPA=True)
    return Exposure(band=band, pointing=int(pointing), sca=int(sca), ra=fpa.ra.deg,
                    dec=fpa.dec.deg, pa=float(pa) % 360.0, mjd=float(mjd),
                    exptime=EXPTIME[band], role=role, synthetic=True)


def cutout_bounds(xc: float, yc: float, size: int) -> galsim.BoundsI:
    """``size`` x ``size`` bounds (1-based SCA pixels) centred near (xc, yc), kept on the SCA."""
    if size >= SCA_NPIX:
        return galsim.BoundsI(1, SCA_NPIX, 1, SCA_NPIX)
    x0 = int(math.floor(xc + 0.5)) - size // 2
    y0 = int(math.floor(yc + 0.5)) - size // 2
    x0 = min(max(x0, 1), SCA_NPIX - size + 1)
    y0 = min(max(y0, 1), SCA_NPIX - size + 1)
    return galsim.BoundsI(x0, x0 + size - 1, y0, y0 + size - 1)


def on_sca(x, y, margin: float = 0.0):
    """Whether 1-based SCA positions are on the detector, at least ``margin`` px from its edges."""
    x, y = np.asarray(x), np.asarray(y)
    return (x >= 0.5 + margin) & (x <= SCA_NPIX + 0.5 - margin) & \
        (y >= 0.5 + margin) & (y <= SCA_NPIX + 0.5 - margin)


def in_bounds(x, y, bounds: galsim.BoundsI, margin: float = 0.0):
    """Whether 1-based SCA positions lie inside ``bounds``, at least ``margin`` px from the edges."""
    x, y = np.asarray(x), np.asarray(y)
    return (x >= bounds.xmin - 0.5 + margin) & (x <= bounds.xmax + 0.5 - margin) & \
        (y >= bounds.ymin - 0.5 + margin) & (y <= bounds.ymax + 0.5 - margin)
