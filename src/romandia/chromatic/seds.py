"""SEDs as photon spectra, their weights on a chromatic PSF's wavelength grid, and colours.

The chromatic effective PSF (:mod:`romandia.simulate.psf`, galsim.roman ``getPSF`` with
``n_waves``) is stored by galsim as images at ``n_waves`` wavelengths spanning the band, linearly
interpolated in between.  Drawn through the bandpass ``B`` for a source of photon spectrum
``N(λ)`` (photons per nm), it is the weighted sum ``Σ_k w_k P_k`` of the per-wavelength PSFs
``P_k`` (optics at ``λ_k`` ⊗ charge diffusion ⊗ pixel) with

``w_k ∝ ∫ N(λ) B(λ) h_k(λ) dλ``, ``Σ_k w_k = 1``,

``h_k`` the linear-interpolation hat of node ``k``.  :func:`band_weights` computes ``w``; the
check against galsim's own chromatic drawing is in ``tests/test_chromatic.py`` (PSF-fit ratios
agree to 1e-5).

SED families (all as photon spectra, arbitrary normalisation):

* :func:`power_law`: ``f_λ ∝ λ^β`` (photons ``∝ λ^(β+1)``); ``β = -2`` is flat in ``f_ν``.
  The pipeline's estimate of a source's SED from its colours (:mod:`.estimate`).
* :func:`model_sed`: the PSF model's SED by name (``flat``, ``flat_fnu``, ...,
  ``blackbody:T``; :func:`romandia.simulate.psf.sed`).

The same bandpasses are registered in sncosmo (:func:`register_roman_bands`) for the template
fit and the simulator's lightcurves.

Colours are AB magnitude differences through galsim.roman's bandpasses, photon counting, the
convention of galsim's AB zeropoints and so of the images' zeropoints
(:data:`romandia.constants.GALSIM_ZEROPOINT`).  Wavelengths are in nm.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from ..constants import BANDS

__all__ = ["band_waves", "band_weights", "power_law", "model_sed", "ab_colour", "slope_from_colour",
           "BETA_RANGE", "SNCOSMO_NAME", "register_roman_bands"]

#: sncosmo names of the Roman bands :func:`register_roman_bands` registers.
SNCOSMO_NAME = {b: f"romandia_{b.lower()}" for b in BANDS}

#: Power-law slopes the estimate may return (f_λ ∝ λ^β): from steeper than a Rayleigh-Jeans tail
#: (β = -4) with margin, to the reddest SN Ia epochs at z ~ 1 in the bluest bands.
BETA_RANGE = (-8.0, 6.0)
#: Samples per band of the integrals (trapezoid; 1e-6 relative against 4x more).
_N_SAMPLES = 2001


@functools.lru_cache(maxsize=32)
def _band_table(band: str) -> tuple[np.ndarray, np.ndarray]:
    """(λ [nm], throughput) sampled across the galsim.roman bandpass."""
    from romandia.simulate.psf import bandpasses

    bp = bandpasses()[band]
    lam = np.linspace(bp.blue_limit, bp.red_limit, _N_SAMPLES)
    return lam, np.asarray(bp(lam), dtype=float)


def band_waves(band: str, n_waves: int) -> np.ndarray:
    """The wavelengths [nm] at which galsim.roman ``getPSF(n_waves=n)`` stores the PSF: ``n``
    points from the bandpass's blue to red limit (``galsim/roman/roman_psfs.py``)."""
    lam, _ = _band_table(band)
    return np.linspace(lam[0], lam[-1], int(n_waves))


def band_weights(sed: Callable, band: str, n_waves: int) -> np.ndarray:
    """Weights ``w_k`` (sum 1) of the per-wavelength PSFs for a source of photon spectrum ``sed``.

    Parameters
    ----------
    sed : callable
        ``sed(λ)`` photons per nm (any normalisation), λ in nm (array in, array out).
    band : str
        Roman band.
    n_waves : int
        The chromatic PSF's wavelength nodes (:func:`band_waves`).

    Returns
    -------
    ndarray, shape (n_waves,)
        ``w_k = ∫ N B h_k dλ / ∫ N B dλ``.

    Raises
    ------
    ValueError
        The SED is not finite or not positive through the band.
    """
    lam, thr = _band_table(band)
    nodes = band_waves(band, n_waves)
    f = np.asarray(sed(lam), dtype=float) * thr
    if not (np.all(np.isfinite(f)) and np.trapezoid(f, lam) > 0):
        raise ValueError(f"the SED is not finite and positive through {band}")
    hats = np.stack([np.interp(lam, nodes, row) for row in np.eye(len(nodes))])
    w = np.trapezoid(f[None, :] * hats, lam, axis=1)
    return w / w.sum()


def power_law(beta: float) -> Callable:
    """Photon spectrum of ``f_λ ∝ λ^β``: ``N(λ) ∝ λ^(β+1)`` (normalised at 1 µm)."""
    b = float(beta)
    return lambda lam: (np.asarray(lam, dtype=float) / 1000.0) ** (b + 1.0)


@functools.lru_cache(maxsize=16)
def model_sed(name: str) -> Callable:
    """The photon spectrum of a PSF model's SED (:func:`romandia.simulate.psf.sed` names)."""
    from romandia.simulate.psf import sed

    s = sed(name)
    return lambda lam: np.asarray(s(np.asarray(lam, dtype=float)), dtype=float)


def _ab_flux(sed: Callable, band: str) -> float:
    """Photon-counting AB flux ratio of ``sed`` in ``band``: ``∫ N B dλ / ∫ N_AB B dλ`` with
    ``N_AB ∝ 1/λ`` (flat f_ν)."""
    lam, thr = _band_table(band)
    return float(np.trapezoid(sed(lam) * thr, lam) / np.trapezoid(thr / lam, lam))


def ab_colour(sed: Callable, band_a: str, band_b: str) -> float:
    """``m_a - m_b`` [AB mag] of a source of photon spectrum ``sed``."""
    return -2.5 * math.log10(_ab_flux(sed, band_a) / _ab_flux(sed, band_b))


@functools.lru_cache(maxsize=64)
def _colour_grid(band_a: str, band_b: str) -> tuple[np.ndarray, np.ndarray]:
    beta = np.linspace(BETA_RANGE[0], BETA_RANGE[1], 561)
    col = np.array([ab_colour(power_law(b), band_a, band_b) for b in beta])
    return beta, col


def slope_from_colour(colour: float, band_a: str, band_b: str) -> float:
    """The power-law slope ``β`` (``f_λ ∝ λ^β``) whose ``m_a - m_b`` is ``colour``.

    The colour is monotonic in ``β`` for two different bands; the inverse is interpolated on a
    grid over :data:`BETA_RANGE` (step 0.025, then linear; < 1e-4 mag in colour).  Outside the
    range: NaN.
    """
    if band_a == band_b:
        raise ValueError("a colour needs two different bands")
    beta, col = _colour_grid(band_a, band_b)
    if col[0] > col[-1]:
        beta, col = beta[::-1], col[::-1]
    c = float(colour)
    if not (math.isfinite(c) and col[0] <= c <= col[-1]):
        return math.nan
    return float(np.interp(c, col, beta))


@functools.lru_cache(maxsize=1)
def register_roman_bands() -> dict:
    """Register the 7 Roman bands in sncosmo from galsim.roman throughputs (idempotent): the
    template fit (:mod:`.template`) and the simulator's lightcurves use the same ones."""
    import sncosmo

    from romandia.simulate.psf import bandpasses

    bps = bandpasses()
    for band, name in SNCOSMO_NAME.items():
        bp = bps[band]
        w = np.linspace(bp.blue_limit, bp.red_limit, 400)  # nm
        sncosmo.register(sncosmo.Bandpass(w * 10.0, bp(w), name=name), force=True)
    return dict(SNCOSMO_NAME)
