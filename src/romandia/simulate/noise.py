"""Sky background and the OU2024 "simple_model" detector/noise chain.

Sky (as roman_imsim's OU2024 configuration, ``tds.yaml``: ``force_cvz: True``, stray light and
thermal background on)::

    level  = getSkyLevel(bandpass, world_pos=translate_cvz(SCA centre), date, exptime)  # e-/arcsec^2
    sky    = level * (1 + stray_light_fraction) * pixel_area(x, y) + thermal[band] * exptime  # e-/pix

``translate_cvz`` moves the position from the ELAIS-S1 field (ra 9.5, dec -44) to the continuous
viewing zone (ra 61.24 / cos(-48.42 deg), dec -48.42), which gives OU2024's low sky
(~107 e- in Y106 / 302 s).  The pixel area comes from the WCS on a coarse grid, spline-interpolated.

Noise chain (``add_effects_simple`` + ``finalize_sky_im`` of roman_imsim), with sources drawn
noiselessly by FFT and then Poisson-sampled (OU photon-shoots them, which is the same
distribution)::

    sky_n = Poisson(sky);  src_n = Poisson(sources)
    img   = round(src_n + sky_n) + dark,      dark = Poisson(dark_current * exptime)
    img   = min(img, 100000) + read,          read = N(0, 8.5 e-)
    SCI   = round(img / gain)
    ERR   = round(min(round(sky_n) + dark, 100000) + read) / gain)   (err_mode 'ou2024')
    SKY_MEAN = mean(round((round(sky) + round(dark_current * exptime)) / gain))

In OU2024 the ERR HDU is therefore a noisy *sky realization* (same dark and read-noise
realization as SCI, no sources), not a 1-sigma map.  ``err_mode='sigma'`` writes a true per-pixel
1-sigma instead: ``sqrt(sources + sky + dark + read_noise**2) / gain``.
"""

from __future__ import annotations

import math

import galsim
import galsim.roman as groman
import numpy as np

from romandia.constants import DARK_CURRENT, GAIN, READ_NOISE, SATURATION, STRAY_LIGHT_FRACTION


def translate_cvz(ra: float, dec: float) -> tuple[float, float]:
    """OU2024's ``force_cvz`` translation of a position [deg] from the TDS field to the CVZ."""
    ra_cvz = ra - 9.5 + 61.24 / math.cos(math.radians(-48.42))
    dec_cvz = dec - (-44.0) + (-48.42)
    return ra_cvz, dec_cvz


def sky_level_per_arcsec2(bandpass, ra: float, dec: float, date, exptime: float,
                          force_cvz: bool = True, stray_light: bool = True) -> float:
    """Zodiacal (+ stray light) sky in the exposure [e-/arcsec^2] at (ra, dec) [deg]."""
    if force_cvz:
        ra, dec = translate_cvz(ra, dec)
    pos = galsim.CelestialCoord(ra * galsim.degrees, dec * galsim.degrees)
    level = groman.getSkyLevel(bandpass, world_pos=pos, date=date, exptime=exptime)
    if stray_light:
        level *= 1.0 + STRAY_LIGHT_FRACTION
    return float(level)


def pixel_area_map(wcs, bounds: galsim.BoundsI, ngrid: int = 9) -> np.ndarray:
    """Pixel area [arcsec^2] over ``bounds`` (1-based SCA pixels), ``[y, x]`` array.

    Evaluated with ``wcs.pixelArea`` on an ``ngrid`` x ``ngrid`` grid and interpolated with a
    bicubic spline (the area varies smoothly by ~1 % over an SCA; interpolation error < 1e-6).
    """
    from scipy.interpolate import RectBivariateSpline

    xs = np.linspace(bounds.xmin, bounds.xmax, ngrid)
    ys = np.linspace(bounds.ymin, bounds.ymax, ngrid)
    area = np.array([[wcs.pixelArea(galsim.PositionD(x, y)) for x in xs] for y in ys])
    k = min(3, ngrid - 1)
    spl = RectBivariateSpline(ys, xs, area, kx=k, ky=k)
    yy = np.arange(bounds.ymin, bounds.ymax + 1, dtype="float64")
    xx = np.arange(bounds.xmin, bounds.xmax + 1, dtype="float64")
    return spl(yy, xx)


def sky_image(band: str, bandpass, wcs, bounds: galsim.BoundsI, date, exptime: float,
              force_cvz: bool = True, stray_light: bool = True, thermal: bool = True,
              sky_center=None) -> np.ndarray:
    """Expected sky [e-/pixel] over ``bounds``, ``[y, x]`` float64 array.

    ``sky_center`` (ra, dec) [deg] is where the zodiacal level is evaluated; default: the SCA
    centre (pixel 2044, 2044), as roman_imsim does, so cutouts get the sky of their full SCA.
    """
    if sky_center is None:
        c = wcs.toWorld(galsim.PositionD(2044, 2044))
        sky_center = (c.ra.deg, c.dec.deg)
    level = sky_level_per_arcsec2(bandpass, sky_center[0], sky_center[1], date, exptime,
                                  force_cvz, stray_light)
    sky = level * pixel_area_map(wcs, bounds)
    if thermal:
        sky += groman.thermal_backgrounds[band] * exptime
    return sky


def sky_mean(sky: np.ndarray, exptime: float) -> float:
    """Header ``SKY_MEAN`` [ADU]: mean of round((round(sky) + round(dark)) / gain), as OU2024."""
    dark = round(DARK_CURRENT * exptime)
    return float(np.mean(np.round((np.round(sky) + dark) / GAIN)))


def apply_noise(sources: np.ndarray, sky: np.ndarray, exptime: float, rng: galsim.BaseDeviate,
                err_mode: str = "ou2024") -> tuple[np.ndarray, np.ndarray]:
    """Apply the OU2024 simple_model noise chain.

    Parameters
    ----------
    sources : numpy.ndarray
        Noiseless source counts [e-], ``[y, x]``; negative FFT ringing is clipped to 0.
    sky : numpy.ndarray
        Expected sky [e-/pixel], same shape.
    exptime : float
        Exposure time [s] (dark current = 0.015 e-/s/pixel x exptime).
    rng : galsim.BaseDeviate
        The image's deviate; draws are made in a fixed order (sky, sources, dark, read).
    err_mode : {'ou2024', 'sigma'}
        What the ERR array holds (see module docstring).

    Returns
    -------
    tuple of numpy.ndarray
        ``(sci, err)`` float64 [ADU = e-, gain 1].
    """
    sky_n = galsim.Image(np.ascontiguousarray(sky, dtype="float64"), copy=True)
    sky_n.addNoise(galsim.PoissonNoise(rng))
    src = np.clip(sources, 0.0, None)
    src_n = galsim.Image(np.ascontiguousarray(src, dtype="float64"), copy=True)
    src_n.addNoise(galsim.PoissonNoise(rng))
    shape = sky.shape
    dark_mean = DARK_CURRENT * exptime
    dark = galsim.ImageD(shape[1], shape[0], init_value=0.0)
    dark.addNoise(galsim.DeviateNoise(galsim.PoissonDeviate(rng, mean=dark_mean)))
    read = galsim.ImageD(shape[1], shape[0], init_value=0.0)
    read.addNoise(galsim.GaussianNoise(rng, sigma=READ_NOISE))

    img = np.round(src_n.array + sky_n.array) + dark.array
    np.minimum(img, SATURATION, out=img)
    img += read.array
    sci = np.round(img / GAIN)
    if err_mode == "ou2024":
        e = np.round(sky_n.array) + dark.array
        np.minimum(e, SATURATION, out=e)
        e += read.array
        err = np.round(e / GAIN)
    elif err_mode == "sigma":
        err = np.sqrt(src + sky + dark_mean + READ_NOISE**2) / GAIN
    else:
        raise ValueError(f"err_mode must be 'ou2024' or 'sigma', got {err_mode!r}")
    return sci, err


def noiseless(sources: np.ndarray, sky: np.ndarray, exptime: float,
              err_mode: str = "ou2024") -> tuple[np.ndarray, np.ndarray]:
    """Noiseless version of :func:`apply_noise`: expected values, no quantization, no clipping.

    ``sci = (sources + sky + dark) / gain``; ``err`` is the expected background
    ``(sky + dark) / gain`` (``'ou2024'``, so ``sci - err`` is exactly the sources) or the
    1-sigma map (``'sigma'``).
    """
    dark_mean = DARK_CURRENT * exptime
    sci = (sources + sky + dark_mean) / GAIN
    if err_mode == "ou2024":
        err = (sky + dark_mean) / GAIN
    elif err_mode == "sigma":
        err = np.sqrt(np.clip(sources, 0.0, None) + sky + dark_mean + READ_NOISE**2) / GAIN
    else:
        raise ValueError(f"err_mode must be 'ou2024' or 'sigma', got {err_mode!r}")
    return sci, err
