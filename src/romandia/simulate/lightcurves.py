"""SN truth lightcurves through the Roman bandpasses.

Two models:

* ``snana_hdf5``: a given truth lightcurve (``/{id}/mjd`` and ``/{id}/mag_X`` of a SNANA HDF5
  file, e.g. OU2024's ``snana_10430.hdf5`` for SN 20172782).
* ``hsiao``: sncosmo's ``hsiao-subsampled`` SN Ia SED (shipped with sncosmo, works offline;
  rest-frame phases -20 ... +85 d) redshifted to ``z``, with ``t0 = peak_mjd`` and the amplitude
  scaled so that the brightest magnitude in ``peak_band`` on the grid is ``peak_mag``.  The Roman
  bands are registered in sncosmo from galsim's throughputs (``romandia_r062`` ...; AB,
  photon-counting, the same convention as galsim's AB zeropoints).

A lightcurve is a grid ``(mjd float64, {band: mag float32})``; the simulator injects
``counts = 10**(-0.4 (truth_mag(grid, mjd) - zeropoint))`` from *exactly* the arrays it writes to
the SNANA HDF5 (float32 magnitudes, as OU2024), so the truth files reproduce the injected flux.
Outside the grid the SN has no flux (:func:`romandia.ou2024.truth_mag` returns +inf).
"""

from __future__ import annotations

import functools

import numpy as np

from romandia.constants import BANDS

#: sncosmo names of the registered Roman bands.
SNCOSMO_NAME = {b: f"romandia_{b.lower()}" for b in BANDS}

#: Magnitude written where a model gives no flux (instead of nan/inf, which would break interp).
FAINT_MAG = 99.0


@functools.lru_cache(maxsize=1)
def register_roman_bands() -> dict:
    """Register the 7 Roman bands in sncosmo from galsim.roman throughputs (idempotent)."""
    import sncosmo

    from romandia.simulate.psf import bandpasses

    bps = bandpasses()
    for band in BANDS:
        bp = bps[band]
        w = np.linspace(bp.blue_limit, bp.red_limit, 400)  # nm
        sncosmo.register(sncosmo.Bandpass(w * 10.0, bp(w), name=SNCOSMO_NAME[band]), force=True)
    return dict(SNCOSMO_NAME)


def hsiao_lightcurve(z: float, peak_mjd: float, peak_mag: float, peak_band: str,
                     step_days: float = 1.0, bands=BANDS) -> tuple[np.ndarray, dict]:
    """Hsiao SN Ia lightcurve on a regular grid covering the model's full time range.

    Parameters
    ----------
    z : float
        Redshift (> 0).
    peak_mjd : float
        sncosmo ``t0`` (rest-frame B maximum) [MJD].
    peak_mag : float
        Brightest AB magnitude in ``peak_band`` on the grid.
    peak_band : str
        Roman band of ``peak_mag``.
    step_days : float
        Grid step [d] (observer frame).
    bands : sequence of str
        Bands to compute (default all 7).

    Returns
    -------
    tuple
        ``(mjd, mags)``: mjd float64 from ``t0 - 20 (1+z)`` to ``t0 + 85 (1+z)``;
        ``{band: float32 AB mag}``; non-finite model magnitudes become :data:`FAINT_MAG`.
    """
    import sncosmo

    register_roman_bands()
    model = sncosmo.Model(source="hsiao-subsampled")
    model.set(z=float(z), t0=float(peak_mjd), amplitude=1.0)
    t_lo, t_hi = model.mintime(), model.maxtime()
    n = int(np.floor((t_hi - t_lo) / step_days)) + 1
    mjd = t_lo + step_days * np.arange(n, dtype="float64")
    raw = {}
    with np.errstate(all="ignore"):
        for b in set(bands) | {peak_band}:
            m = np.asarray(model.bandmag(SNCOSMO_NAME[b], "ab", mjd), dtype="float64")
            raw[b] = np.where(np.isfinite(m), m, np.inf)
    shift = float(peak_mag) - float(np.min(raw[peak_band]))
    mags = {}
    for b in bands:
        m = raw[b] + shift
        mags[b] = np.where(np.isfinite(m), np.minimum(m, FAINT_MAG), FAINT_MAG).astype("float32")
    return mjd, mags


def peak_of(mjd: np.ndarray, mags: dict, band: str) -> tuple[float, float]:
    """``(mjd, mag)`` of the brightest grid point in ``band``."""
    i = int(np.argmin(mags[band]))
    return float(mjd[i]), float(mags[band][i])
