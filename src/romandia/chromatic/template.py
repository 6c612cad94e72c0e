"""A SN Ia spectral template fitted to the object's multi-band lightcurve: its SED at each epoch.

A power law from two colours (:mod:`.estimate`) is close to a SN Ia's spectrum before peak and
misses the features that cross a band after it (the Ca II / Fe II blends, the near-infrared
secondary maximum).  The template estimate fits a SN Ia spectral sequence to all the object's
epochs in all its bands at once and takes its spectrum at each epoch:

* the spectral sequence is sncosmo's ``hsiao-subsampled`` (Hsiao et al. 2007), the only SN Ia
  template sncosmo's wheel ships (SALT2/3 and the others are downloaded on first use, which a
  compute node cannot do), rest-frame phases −20 … +85 d, 100–2500 nm;
* at the host's catalogue redshift ``z`` (the object's ``z`` in the config; no redshift, no
  template);
* free: ``t0`` [MJD, the B-band peak], the amplitude, a time stretch ``s`` of the template's
  phases (SN Ia lightcurves differ mostly in width) and the host's colour excess ``E(B−V)``
  (sncosmo's ``CCM89Dust`` in the rest frame, R_V = 3.1; allowed below 0 to absorb an
  intrinsically bluer SN).

The fit is sncosmo's ``fit_lc`` (iminuit) on fluxes with AB zeropoints, the bands registered
from galsim.roman's throughputs (photon counting, the images' zeropoint convention).  The
correction's error propagates the fit's covariance of ``t0``, ``s`` and ``E(B−V)`` (the
amplitude does not change the SED's shape) linearly through the factor; the template's own
mismatch to a real SN is not in it: the validation measures it against SEDs the template is
not (docs/validation_sed.md).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["TEMPLATE_SOURCE", "TemplateFit", "fit_template", "template_sed", "template_weights",
           "factor_from_weights", "template_factor"]

#: sncosmo source of the spectral sequence (shipped in sncosmo's wheel).
TEMPLATE_SOURCE = "hsiao-subsampled"
#: Parameters whose covariance enters the correction's error, and the steps of its derivative.
_SHAPE = {"t0": 0.5, "s": 0.02, "hostebv": 0.02}
#: Fit bounds: stretch, colour excess [mag], and t0 within this many days of the epochs.
_BOUNDS = {"s": (0.6, 1.5), "hostebv": (-0.3, 1.5)}
_T0_MARGIN = 30.0


@dataclass(frozen=True)
class TemplateFit:
    """The template fitted to one object's lightcurve.

    Attributes
    ----------
    z : float
        The redshift it was fitted at (the host's, fixed).
    t0, amplitude, s, ebv : float
        Peak MJD, amplitude, time stretch, host colour excess [mag].
    cov : ndarray, shape (3, 3)
        Covariance of ``(t0, s, ebv)`` (χ²-scaled when χ²/dof > 1).
    chi2 : float
    ndof : int
    bands : tuple of str
        The bands the fit used.
    """

    z: float
    t0: float
    amplitude: float
    s: float
    ebv: float
    cov: np.ndarray
    chi2: float
    ndof: int
    bands: tuple

    def describe(self) -> str:
        """The ``chrom_sed`` text of a row corrected with this fit."""
        return (f"{TEMPLATE_SOURCE} fit z={self.z:.4f} t0={self.t0:.2f} s={self.s:.3f} "
                f"E(B-V)={self.ebv:+.3f} chi2/dof={self.chi2:.1f}/{self.ndof} ({'+'.join(self.bands)})")

    def values(self) -> dict:
        return {"z": self.z, "t0": self.t0, "amplitude": self.amplitude, "s": self.s, "hostebv": self.ebv}


@functools.lru_cache(maxsize=1)
def _source_class():
    """sncosmo's Source class stretched in time (built on first use: sncosmo is imported lazily)."""
    import sncosmo

    class StretchedSource(sncosmo.Source):
        """A spectral time series with its phases stretched by ``s``: ``F(p, λ) = F0(p / s, λ)``."""

        _param_names = ["amplitude", "s"]
        param_names_latex = ["A", "s"]

        def __init__(self, base):
            self.name, self.version = f"{base.name}-stretched", base.version
            self._base = base
            self._parameters = np.array([1.0, 1.0])

        def minphase(self):
            return self._base.minphase() * self._parameters[1]

        def maxphase(self):
            return self._base.maxphase() * self._parameters[1]

        def minwave(self):
            return self._base.minwave()

        def maxwave(self):
            return self._base.maxwave()

        def _flux(self, phase, wave):
            self._base._parameters[0] = self._parameters[0]
            return self._base._flux(np.asarray(phase) / self._parameters[1], wave)

    return StretchedSource


def _model(z: float):
    import sncosmo

    from .seds import register_roman_bands

    register_roman_bands()
    model = sncosmo.Model(source=_source_class()(sncosmo.get_source(TEMPLATE_SOURCE)),
                          effects=[sncosmo.CCM89Dust()], effect_names=["host"], effect_frames=["rest"])
    model.set(z=float(z), hostr_v=3.1, hostebv=0.0, s=1.0)
    return model


def fit_template(epochs: pd.DataFrame, *, z: float, min_snr: float, min_points: int = 5) -> TemplateFit:
    """Fit the template to one object's epoch fluxes.

    Parameters
    ----------
    epochs : pandas.DataFrame
        One row per band and science image: ``band``, ``mjd``, ``flux``, ``flux_err``
        [counts], ``zpt`` (AB, ``mag = zpt − 2.5 log10 flux``).
    z : float
        The host's redshift.
    min_snr : float
        The fit needs ``min_points`` epochs at this S/N or above, in at least two bands and on
        two days (all epochs, negative and faint ones included, enter the fit itself).
    min_points : int
        More than the four free parameters.

    Returns
    -------
    TemplateFit

    Raises
    ------
    ValueError
        Too few detections, no redshift, or the fit did not converge (the message says which;
        the caller writes it to ``chrom_status``).
    """
    import sncosmo
    from astropy.table import Table

    from .seds import SNCOSMO_NAME

    if z is None or not (math.isfinite(float(z)) and float(z) >= 0):
        raise ValueError("no host redshift (the object's z in the config)")
    ep = epochs[np.isfinite(epochs["flux"]) & (epochs["flux_err"] > 0) & np.isfinite(epochs["zpt"])]
    det = ep[ep["flux"] >= min_snr * ep["flux_err"]]
    visits = np.unique(np.floor(det["mjd"].to_numpy(float))).size
    if len(det) < min_points or det["band"].nunique() < 2 or visits < 2:
        raise ValueError(f"{len(det)} epochs at S/N >= {min_snr:g} in {det['band'].nunique()} band(s) on "
                         f"{visits} day(s); the template fit needs {min_points} in at least 2 bands on 2 days")
    data = Table({"time": ep["mjd"].to_numpy(float), "band": [SNCOSMO_NAME[b] for b in ep["band"]],
                  "flux": ep["flux"].to_numpy(float), "fluxerr": ep["flux_err"].to_numpy(float),
                  "zp": ep["zpt"].to_numpy(float), "zpsys": ["ab"] * len(ep)})
    model = _model(z)
    bounds = dict(_BOUNDS, t0=(float(det["mjd"].min()) - _T0_MARGIN, float(det["mjd"].max()) + _T0_MARGIN))
    # start t0 at the epoch of the highest-S/N detection (within a few days of peak)
    model.set(t0=float(det.loc[(det["flux"] / det["flux_err"]).idxmax(), "mjd"]))
    try:
        res, fitted = sncosmo.fit_lc(data, model, ["t0", "amplitude", "s", "hostebv"], bounds=bounds,
                                     guess_amplitude=True, guess_t0=False, modelcov=False)
    except (RuntimeError, ValueError, sncosmo.fitting.DataQualityError) as exc:
        raise ValueError(f"the template fit failed: {exc}") from exc
    if not res.success:
        raise ValueError(f"the template fit did not converge: {res.message}")
    names = list(res.vparam_names)
    idx = [names.index(p) for p in _SHAPE]
    cov = np.asarray(res.covariance, dtype=float)[np.ix_(idx, idx)] if res.covariance is not None \
        else np.full((3, 3), np.nan)
    ndof = int(res.ndof)
    if ndof > 0 and res.chisq / ndof > 1:
        cov = cov * (res.chisq / ndof)
    p = dict(zip(fitted.param_names, fitted.parameters, strict=True))
    return TemplateFit(z=float(z), t0=float(p["t0"]), amplitude=float(p["amplitude"]), s=float(p["s"]),
                       ebv=float(p["hostebv"]), cov=cov, chi2=float(res.chisq), ndof=ndof,
                       bands=tuple(sorted(set(det["band"]), key=str)))


def template_sed(fit: TemplateFit, mjd: float, *, model=None, **shift):
    """The fitted template's photon spectrum at ``mjd`` (observer frame, λ in nm, arbitrary
    normalisation), or None outside the template's phase range.  ``shift`` offsets ``t0``,
    ``s`` or ``hostebv`` (for the error's derivative); ``model`` reuses an sncosmo model of
    the fit's redshift."""
    model = model if model is not None else _model(fit.z)
    vals = fit.values()
    for k, v in shift.items():
        vals[k] += v
    model.set(**vals)
    if not (model.mintime() <= float(mjd) <= model.maxtime()):
        return None
    lam = _band_lam()
    flux = model.flux(float(mjd), lam * 10.0)  # evaluated now: the model is reused for other shifts

    def photons(x):
        x = np.asarray(x, dtype=float)
        return np.interp(x, lam, flux * lam)  # f_λ [per Å] × λ: photons per nm (× const)

    return photons


@functools.lru_cache(maxsize=1)
def _band_lam() -> np.ndarray:
    """A 0.5 nm grid over every Roman band: the template is sampled there once per shift and
    interpolated linearly onto band_weights' grid (the Hsiao spectrum is tabulated every 5 nm)."""
    from romandia.constants import BANDS

    from .seds import band_waves

    lo = min(band_waves(b, 2)[0] for b in BANDS)
    hi = max(band_waves(b, 2)[1] for b in BANDS)
    return np.arange(np.floor(lo) - 1, np.ceil(hi) + 1.5, 0.5)


def template_weights(fit: TemplateFit, mjd: float, band: str, n_waves: int) -> tuple[np.ndarray, np.ndarray]:
    """SED weights (:func:`.seds.band_weights`) of the fitted template at ``mjd`` in ``band``,
    and their derivatives with respect to ``(t0, s, E(B−V))``, shape ``(3, n_waves)``.

    Raises
    ------
    ValueError
        The epoch is outside the template's phase range, or its SED is not positive in ``band``.
    """
    from .seds import band_weights

    model = _model(fit.z)

    def w(**shift):
        sed = template_sed(fit, mjd, model=model, **shift)
        if sed is None:
            raise ValueError(f"MJD {mjd:.2f} is outside the template's phase range")
        return band_weights(sed, band, n_waves)

    w0 = w()
    dw = np.array([(w(**{k: h}) - w(**{k: -h})) / (2 * h) for k, h in _SHAPE.items()])
    return w0, dw


def factor_from_weights(fit: TemplateFit, weights: tuple, r_norm: np.ndarray) -> tuple[float, float]:
    """``(factor, error)`` of a row of responses ``r_norm`` from :func:`template_weights`'s
    output: the error propagates the fit's covariance (NaN without one)."""
    w0, dw = weights
    r = np.asarray(r_norm, dtype=float)
    c = float(w0 @ r)
    if not np.all(np.isfinite(fit.cov)):
        return c, math.nan
    g = dw @ r
    return c, float(math.sqrt(max(g @ fit.cov @ g, 0.0)))


def template_factor(fit: TemplateFit, mjd: float, band: str, r_norm: np.ndarray) -> tuple[float, float]:
    """The chromatic factor of a row (:func:`.response.factor`) for the fitted template's SED at
    ``mjd``, and its error from the fit's covariance (:func:`template_weights`)."""
    return factor_from_weights(fit, template_weights(fit, mjd, band, len(r_norm)), r_norm)
