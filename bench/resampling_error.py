"""How much host light does resampling an undersampled Roman template leave at a supernova?

Draws a bright host (exponential disk + de Vaucouleurs bulge, 1e5 counts) through the Roman
PSF (galsim.roman, SCA 5, effective wavelength of the band) on a template grid (frame A), and
the *exact* continuous A-pixel image at the pixel centres of a science grid B rotated by θ and
shifted by a sub-pixel (dx, dy) (galsim, ``method='no_pixel'`` with A's pixel convolved in).
Resamples A onto B with each of romandia's interpolation kernels (plus Lanczos-4/5/6 for
comparison) and reports the PSF-weighted residual flux at a supernova position 0.3″ from the
host centre, i.e. the flux a forced PSF fit would measure in the difference image of a pair
with no supernova and no noise, from resampling alone.

The exact image is known here, unlike in a real pair; the residual is aliasing: the sampled
template does not determine the image between its pixel centres.  No interpolation kernel
removes it (see docs/validation.md, "What remains").

Usage::

    python bench/resampling_error.py [--bands R062 H158] [--trials 24] [--seed 3]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

KERNELS = ("lanczos3", "lanczos4", "lanczos5", "lanczos6", "bilinear")


def host_profile(flux: float = 1e5):
    import galsim

    disk = galsim.Sersic(n=1, half_light_radius=0.5).shear(e1=0.2, e2=0.1).withFlux(0.7)
    bulge = galsim.DeVaucouleurs(half_light_radius=0.15).withFlux(0.3)
    return galsim.Add([disk, bulge]).withFlux(flux)


def residual_fluxes(band: str, trials: int, seed: int, n: int = 64, sn_offset: float = 0.3):
    """PSF-weighted residual flux [counts] per kernel and trial; also the host's peak pixel."""
    import galsim
    import galsim.roman

    import romandia.resample as rs

    kernels = dict(rs.KERNELS)
    kernels.update({"lanczos6": 6})  # comparison only
    bp = galsim.roman.getBandpasses()[band]
    psf = galsim.roman.getPSF(5, band, pupil_bin=8, wavelength=bp.effective_wavelength)
    scale = galsim.roman.pixel_scale
    host = host_profile()
    pad = 24
    img_a = galsim.Convolve(host, psf).drawImage(nx=n + pad, ny=n + pad, scale=scale).array
    ca = (n + pad - 1) / 2
    rng = np.random.default_rng(seed)
    out = {k: [] for k in KERNELS}
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    saved = dict(rs.KERNELS)
    rs.KERNELS.update(kernels)
    try:
        for _ in range(trials):
            th = rng.uniform(0.0, 90.0)
            dx, dy = rng.uniform(-0.5, 0.5, 2)
            c, s = math.cos(math.radians(th)), math.sin(math.radians(th))
            # B pixel centre -> sky offset [arcsec] from the host centre (A's axes)
            u = (xx - (n - 1) / 2 + dx) * scale
            v = (yy - (n - 1) / 2 + dy) * scale
            xs = (c * u - s * v) / scale + ca
            ys = (s * u + c * v) / scale + ca
            wcs_b = galsim.JacobianWCS(scale * c, -scale * s, scale * s, scale * c)
            exact = galsim.Convolve(host, psf, galsim.Pixel(scale)).drawImage(
                image=galsim.ImageD(n, n), wcs=wcs_b, method="no_pixel", offset=(-dx, -dy)
            ).array
            psf_b = galsim.Convolve(psf, galsim.Pixel(scale)).drawImage(
                image=galsim.ImageD(n, n), wcs=wcs_b, method="no_pixel",
                offset=(sn_offset / scale - dx, -dy),
            ).array
            for k in KERNELS:
                res = rs.resample(img_a, xs, ys, kernel=k, conserve_flux=False)[0] - exact
                out[k].append(float((psf_b * res).sum() / (psf_b**2).sum()))
    finally:
        rs.KERNELS.clear()
        rs.KERNELS.update(saved)
    return out, float(img_a.max())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bands", nargs="+", default=["R062", "H158"])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args(argv)
    print(f"host 1e5 counts; residual PSF flux at 0.3\" from its centre, {a.trials} random "
          "(rotation, sub-pixel shift) geometries")
    print("| band | kernel | rms [counts] | max abs [counts] | rms / host flux |")
    print("|---|---|---|---|---|")
    for band in a.bands:
        res, _ = residual_fluxes(band, a.trials, a.seed)
        for k, v in res.items():
            v = np.asarray(v)
            rms = float(np.sqrt(np.mean(v**2)))
            print(f"| {band} | {k} | {rms:.1f} | {np.max(np.abs(v)):.1f} | {rms / 1e5:.2e} |")


if __name__ == "__main__":
    main()
