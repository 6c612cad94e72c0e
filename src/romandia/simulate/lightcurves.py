"""SN truth lightcurves through the Roman bandpasses.

Two models:

* ``snana_hdf5``: a given truth lightcurve (``/{id}/mjd`` and ``/{id}/mag_X`` of a SNANA HDF5
  file, e.g. OU2024's ``snana_10430.hdf5`` for SN 20172782).
* ``hsiao``: sncosmo's ``hsiao-subsampled`` SN Ia SED (shipped with sncosmo, works offline;
  rest-frame phases -20 ... +85 d) redshifted to ``z``, with ``t0 = peak_mjd`` and the amplitude
  scaled so that the brightest magnitude in ``peak_band`` on the grid is ``peak_mag``; optionally
  reddened by host dust (sncosmo's ``CCM89Dust`` in the SN's rest frame, ``R_V = 3.1``, colour
  excess ``host_ebv`` [mag]; it needs the ``extinction`` package, a dependency of sncosmo, and
  works offline; ``host_ebv = 0`` builds the model without the effect).  The Roman
  bands are registered in sncosmo from galsim's throughputs (``romandia_r062`` ...; AB,
  photon-counting, the same convention as galsim's AB zeropoints).  :func:`hsiao_model` is the
  same model with the amplitude the lightcurve ended with: its spectrum at an epoch is the SED
  the simulator's ``per_object`` mode draws the SN with (:mod:`romandia.simulate.seds`).

A lightcurve is a grid ``(mjd float64, {band: mag float32})``; the simulator injects
``counts = 10**(-0.4 (truth_mag(grid, mjd) - zeropoint))`` from *exactly* the arrays it writes to
the SNANA HDF5 (float32 magnitudes, as OU2024), so the truth files reproduce the injected flux.
Outside the grid the SN has no flux (:func:`romandia.ou2024.truth_mag` returns +inf).
"""

from __future__ import annotations

import numpy as np

from romandia.chromatic.seds import SNCOSMO_NAME, register_roman_bands  # noqa: F401 - used and re-exported
from romandia.constants import BANDS

#: Magnitude written where a model gives no flux (instead of nan/inf, which would break interp).
FAINT_MAG = 99.0


def hsiao_model(z: float, t0: float, amplitude: float = 1.0, host_ebv: float = 0.0):
    """sncosmo ``hsiao-subsampled`` model at redshift ``z`` with ``t0`` [MJD], ``amplitude``
    and rest-frame host dust ``host_ebv`` [mag] (``CCM89Dust``, R_V 3.1; none when 0).

    ``model.flux(mjd, wave)`` is then the observer-frame f_lambda [erg s^-1 cm^-2 A^-1] at
    ``wave`` [A] (0 outside the model's phase range).
    """
    import sncosmo

    if host_ebv and host_ebv > 0:
        model = sncosmo.Model(source="hsiao-subsampled", effects=[sncosmo.CCM89Dust()],
                              effect_names=["host"], effect_frames=["rest"])
        model.set(hostebv=float(host_ebv), hostr_v=3.1)
    else:
        model = sncosmo.Model(source="hsiao-subsampled")
    model.set(z=float(z), t0=float(t0), amplitude=float(amplitude))
    return model


def hsiao_lightcurve(z: float, peak_mjd: float, peak_mag: float, peak_band: str,
                     step_days: float = 1.0, bands=BANDS, host_ebv: float = 0.0,
                     return_amplitude: bool = False) -> tuple:
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
    host_ebv : float
        Rest-frame host E(B-V) [mag] (:func:`hsiao_model`; 0: no dust).
    return_amplitude : bool
        Also return the sncosmo amplitude of the scaled model.

    Returns
    -------
    tuple
        ``(mjd, mags)``: mjd float64 from ``t0 - 20 (1+z)`` to ``t0 + 85 (1+z)``;
        ``{band: float32 AB mag}``; non-finite model magnitudes become :data:`FAINT_MAG`.
        With ``return_amplitude``: ``(mjd, mags, amplitude)``, ``hsiao_model(z, peak_mjd,
        amplitude, host_ebv)`` being the model whose band magnitudes these are.
    """
    register_roman_bands()
    model = hsiao_model(z, peak_mjd, 1.0, host_ebv)
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
    if return_amplitude:
        return mjd, mags, 10.0 ** (-0.4 * shift)
    return mjd, mags


def peak_of(mjd: np.ndarray, mags: dict, band: str) -> tuple[float, float]:
    """``(mjd, mag)`` of the brightest grid point in ``band``."""
    i = int(np.argmin(mags[band]))
    return float(mjd[i]), float(mags[band][i])
