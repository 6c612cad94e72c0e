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


#: roman_imsim's ChargeDiff (photonOps.py), typed in from its source for independent checks.
CHARGE_DIFF_WEIGHTS = (0.17519, 0.53146, 0.29335)
CHARGE_DIFF_SIGMAS = tuple(f * 0.3279 for f in (0.4522, 0.8050, 1.4329))


def ou2024_point_source(band, sca, pos, wcs, flux, nx, ny, center):
    """A point source rendered as OU2024 did, written independently of romandia: chromatic
    optics (n_waves 5) x snappl's flat SED (photons/nm), charge diffusion, pixel, bandpass."""
    bp = galsim.roman.getBandpasses(AB_zeropoint=True)[band]
    local = wcs.local(pos)
    optics = galsim.roman.getPSF(sca, band, SCA_pos=pos, pupil_bin=8, wcs=wcs, n_waves=5)
    sed = galsim.SED(galsim.LookupTable([1000, 26000], [1, 1], interpolant="linear"),
                     wave_type="Angstrom", flux_type="fphotons").withFlux(flux, bp)
    cd = galsim.Add([galsim.Gaussian(sigma=s, flux=w)
                     for w, s in zip(CHARGE_DIFF_WEIGHTS, CHARGE_DIFF_SIGMAS, strict=True)])
    prof = galsim.Convolve(galsim.DeltaFunction() * sed, optics, local.toWorld(cd),
                           local.toWorld(galsim.Pixel(1.0)))
    return prof.drawImage(bp, nx=nx, ny=ny, center=center, wcs=local, method="no_pixel",
                          dtype=float)
