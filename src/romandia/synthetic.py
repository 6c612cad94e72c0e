"""Synthetic science/template pairs for benchmarks and device checks (NumPy and astropy only).

:func:`sky_pair` makes what the ``subtract`` rule reads for one pair: the science and the
template sky products (``SKYSUB``, ``VAR``, ``DETMASK`` with TAN headers carrying ``SKYRMS``
and ``ZPTMAG``), their PSFs at the object, and the object's position.  The template is rotated
by ``rotation`` degrees and shifted with respect to the science frame and has a narrower PSF;
stars are 1.25 times brighter in the science image (an exposure-time ratio, reflected in the
``ZPTMAG`` values), and a transient sits at the centre of the science image.  Unlike the
simulator (galsim, Roman optics) this needs nothing a GPU machine lacks, so the same pairs are
made there and here (``bench/gpu_check.py``, ``tests/test_gpu.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

#: Roman's pixel scale [deg]
PIXEL_SCALE = 0.11 / 3600


@dataclass
class SkyPair:
    """One pair, as the ``subtract`` rule sees it (:func:`romandia.steps.subtract.difference_template`).

    Attributes
    ----------
    sci, tmpl : dict
        ``{"SKYSUB" | "VAR" | "DETMASK": (array [y, x], header)}``.
    psf_sci, psf_tmpl : ndarray
        Centred PSF stamps (unit sum) in each image's own frame.
    radec : (float, float)
        The transient [deg], at the science image's centre.
    transient_flux : float
        Its flux in the science image [counts].
    """

    sci: dict
    tmpl: dict
    psf_sci: np.ndarray
    psf_tmpl: np.ndarray
    radec: tuple[float, float]
    transient_flux: float


def gaussian_psf(sigma: float, e1: float = 0.0, size: int = 25) -> np.ndarray:
    """Elliptical Gaussian stamp ``[y, x]`` (odd ``size``), unit sum."""
    c = size // 2
    y, x = np.mgrid[-c : c + 1, -c : c + 1].astype(float)
    sx, sy = sigma * math.sqrt(1 + e1), sigma * math.sqrt(1 - e1)
    p = np.exp(-0.5 * ((x / sx) ** 2 + (y / sy) ** 2))
    return p / p.sum()


def _header(shape, ra, dec, pa_deg, skyrms, zptmag):
    ny, nx = shape
    c, s = math.cos(math.radians(pa_deg)), math.sin(math.radians(pa_deg))
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRPIX1"], h["CRPIX2"] = (nx + 1) / 2, (ny + 1) / 2
    h["CRVAL1"], h["CRVAL2"] = ra, dec
    h["CD1_1"], h["CD1_2"] = -PIXEL_SCALE * c, PIXEL_SCALE * s
    h["CD2_1"], h["CD2_2"] = PIXEL_SCALE * s, PIXEL_SCALE * c
    h["SKYRMS"], h["ZPTMAG"], h["ROMSRC"] = float(skyrms), float(zptmag), "synthetic"
    return h


def _draw(shape, xs, ys, fluxes, psf):
    img = np.zeros(shape)
    h = psf.shape[0] // 2
    for x, y, f in zip(xs, ys, fluxes, strict=True):
        ix, iy = int(round(x)), int(round(y))
        y0, y1, x0, x1 = iy - h, iy + h + 1, ix - h, ix + h + 1
        if y1 <= 0 or x1 <= 0 or y0 >= shape[0] or x0 >= shape[1]:
            continue
        sy0, sx0 = max(0, -y0), max(0, -x0)
        sy1, sx1 = psf.shape[0] - max(0, y1 - shape[0]), psf.shape[1] - max(0, x1 - shape[1])
        img[max(y0, 0) : min(y1, shape[0]), max(x0, 0) : min(x1, shape[1])] += f * psf[sy0:sy1, sx0:sx1]
    return img


def sky_pair(size: int, *, seed: int = 0, rotation: float = 35.0, stars_per_mpx: float = 2000.0,
             transient_flux: float = 20000.0, sky: float = 30.0) -> SkyPair:
    """A ``size``² science image and a template covering it, with stars, noise and a transient.

    Parameters
    ----------
    size : int
        Side of both images [px].
    seed : int
        Random seed (positions, fluxes, noise).
    rotation : float
        Template position angle relative to the science image [deg].
    stars_per_mpx : float
        Star density [per 10⁶ px].
    transient_flux : float
        The transient's flux in the science image [counts].
    sky : float
        Sky RMS of both images [counts / px] (the images are sky-subtracted).
    """
    rng = np.random.default_rng(seed)
    ra0, dec0 = 7.55, -44.8
    shape = (size, size)
    psf_s, psf_t = gaussian_psf(1.3, 0.05), gaussian_psf(1.0, -0.04)
    hs = _header(shape, ra0, dec0, 0.0, sky, 30.0 + 2.5 * math.log10(1.25))
    # the template: rotated, its centre 40 px away, still covering the science frame
    ht = _header(shape, ra0 + 40 * PIXEL_SCALE / math.cos(math.radians(dec0)), dec0, rotation, sky, 30.0)
    from astropy.wcs import WCS

    ws, wt = WCS(hs), WCS(ht)
    n = int(stars_per_mpx * size * size / 1e6)
    xs, ys = rng.uniform(-20, size + 20, n), rng.uniform(-20, size + 20, n)
    flux = 10 ** rng.uniform(2.5, 5.0, n)
    ra, dec = ws.wcs_pix2world(xs, ys, 0)
    xt, yt = wt.wcs_world2pix(ra, dec, 0)
    sci = _draw(shape, xs, ys, 1.25 * flux, psf_s)
    c = (size - 1) / 2
    sci += _draw(shape, [c], [c], [transient_flux], psf_s)
    tmpl = _draw(shape, xt, yt, flux, psf_t)
    var_s, var_t = sky**2 + np.maximum(sci, 0), sky**2 + np.maximum(tmpl, 0)
    det_s, det_t = (sci > 3 * sky).astype(np.uint8), (tmpl > 3 * sky).astype(np.uint8)
    sci = sci + rng.normal(size=shape) * np.sqrt(var_s)
    tmpl = tmpl + rng.normal(size=shape) * np.sqrt(var_t)
    rac, decc = (float(v) for v in ws.wcs_pix2world(c, c, 0))
    return SkyPair(sci={"SKYSUB": (sci, hs), "VAR": (var_s, hs), "DETMASK": (det_s, hs)},
                   tmpl={"SKYSUB": (tmpl, ht), "VAR": (var_t, ht), "DETMASK": (det_t, ht)},
                   psf_sci=psf_s, psf_tmpl=psf_t, radec=(rac, decc), transient_flux=transient_flux)
