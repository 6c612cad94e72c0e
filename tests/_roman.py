"""Shared test helper: real Roman TAN-SIP WCSs from galsim.roman."""

import datetime
import warnings

import galsim
import galsim.roman
from astropy.wcs import WCS

galsim.roman.roman_wcs.max_sun_angle = 50  # as roman_imsim / OU2024 do
DATE = datetime.datetime(2027, 1, 1)
FIELD = galsim.CelestialCoord(9.5 * galsim.degrees, -44.0 * galsim.degrees)


def roman_wcs(target, pa_deg, sca):
    """Full-SCA astropy TAN-SIP WCS of a Roman pointing that puts ``target`` near the
    centre of ``sca`` (the pointing is iterated from the target)."""
    pointing = target
    for _ in range(4):
        gw = galsim.roman.getWCS(pointing, PA=pa_deg * galsim.degrees, date=DATE, SCAs=[sca],
                                 PA_is_FPA=True)[sca]
        centre = gw.toWorld(galsim.PositionD(2044.5, 2044.5))
        pointing = pointing.deproject(*centre.project(target))
    gw = galsim.roman.getWCS(pointing, PA=pa_deg * galsim.degrees, date=DATE, SCAs=[sca],
                             PA_is_FPA=True)[sca]
    header = galsim.FitsHeader()
    gw.writeToFitsHeader(header, galsim.BoundsI(1, 4088, 1, 4088))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = WCS(header.header)
    w.pixel_shape = (4088, 4088)
    return w
