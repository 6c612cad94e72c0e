"""How well the chromatic correction's SED estimates find a SN's chromatic factor, on spectra
they are not: OU2024's own SNANA spectral sequence (``romandia validate-sed``).

The correction divides each row by ``Σ_k w_k r'_k`` (:mod:`romandia.chromatic.response`): the
row's responses ``r'`` come from the images, the SED weights ``w`` from an estimate of the SN's
spectrum at that epoch.  This check isolates the estimate: for a SN whose spectrum is known at
every epoch, it builds the multi-band lightcurve a survey would measure (fluxes through
galsim.roman's bandpasses with background-limited noise at a given depth, every band on each
visit), runs the pipeline's own :func:`romandia.chromatic.estimate.correct_lightcurves` on it
with each ``sed`` choice, and compares the factor each row got with the factor of the true
spectrum through the same responses.

The spectrum is the SNANA truth of OU2024's SN 20172782 (``lambda`` / ``flambda`` per MJD,
observer frame at its z_CMB 0.3601; ``../shared/data/ou2024/snana_truth``), moved to other
redshifts by stretching wavelengths and times about its peak by ``(1 + z) / (1 + z0)``.  It is
one SN Ia (one stretch and colour): neither the power law nor the Hsiao template of the
pipeline is it, which is the point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SnanaSequence", "read_snana_sequence", "survey_lightcurve", "estimate_errors", "summarise"]

#: Speed of light [Å/s] and the AB zero point [erg s^-1 cm^-2 Hz^-1].
_C_A = 2.99792458e18
_AB = 3631e-23
#: Rest-frame phase bins [d] (as the image validation's).
PHASE_BINS = (-math.inf, 0.0, 20.0, math.inf)


@dataclass(frozen=True)
class SnanaSequence:
    """A SN's spectrum per epoch, observer frame.

    Attributes
    ----------
    mjd : ndarray (n,)
    lam : ndarray (m,)
        Wavelengths [nm].
    flam : ndarray (n, m)
        f_λ [erg s^-1 cm^-2 Å^-1].
    z : float
    peak_mjd : float
    """

    mjd: np.ndarray
    lam: np.ndarray
    flam: np.ndarray
    z: float
    peak_mjd: float

    def at_redshift(self, z: float) -> SnanaSequence:
        """The same SN at redshift ``z``: wavelengths and times about the peak stretched by
        ``(1 + z) / (1 + z0)``, fluxes scaled by the luminosity-distance ratio (a flat ΛCDM
        with H0 70, Ωm 0.3, astropy's)."""
        from astropy.cosmology import FlatLambdaCDM

        k = (1.0 + z) / (1.0 + self.z)
        cosmo = FlatLambdaCDM(H0=70, Om0=0.3)
        dl = float(cosmo.luminosity_distance(self.z).value / cosmo.luminosity_distance(z).value)
        return SnanaSequence(mjd=self.peak_mjd + (self.mjd - self.peak_mjd) * k, lam=self.lam * k,
                             flam=self.flam * dl**2 / k, z=float(z), peak_mjd=self.peak_mjd)

    def photons(self, mjd: float):
        """Photon spectrum at ``mjd`` (callable of λ [nm]; linear in MJD between rows), or None
        outside the sequence."""
        if not (self.mjd[0] <= mjd <= self.mjd[-1]):
            return None
        j = int(np.clip(np.searchsorted(self.mjd, mjd), 1, len(self.mjd) - 1))
        w = (mjd - self.mjd[j - 1]) / (self.mjd[j] - self.mjd[j - 1])
        row = (1 - w) * self.flam[j - 1] + w * self.flam[j]
        lam = self.lam
        return lambda x: np.interp(np.asarray(x, dtype=float), lam, row * lam, left=0.0, right=0.0)

    def ab_mag(self, mjd: float, band: str) -> float:
        """AB magnitude through galsim.roman's ``band`` (photon counting)."""
        from romandia.chromatic.seds import _ab_flux

        sed = self.photons(mjd)
        if sed is None:
            return math.inf
        # _ab_flux = ∫ N B dλ / ∫ B / λ dλ; the AB spectrum's N = f_λ λ is
        # (3631 Jy · c / λ_Å²) · λ_nm = (_AB · _C_A / 100) / λ_nm
        f = _ab_flux(sed, band) / (_AB * _C_A / 100.0)
        return -2.5 * math.log10(f) if f > 0 else math.inf


def read_snana_sequence(path, sn_id: int, *, z: float, peak_mjd: float) -> SnanaSequence:
    """A SN's ``lambda`` [Å] / ``flambda`` / ``mjd`` from a SNANA truth HDF5 file (OU2024's
    layout: one group per SN id).  ``z`` and ``peak_mjd`` are its catalogue values."""
    import h5py

    with h5py.File(path, "r") as f:
        if str(sn_id) not in f:
            raise KeyError(f"{path}: no SN {sn_id} (groups: {', '.join(list(f)[:5])} ...)")
        g = f[str(sn_id)]
        return SnanaSequence(mjd=np.asarray(g["mjd"], float), lam=np.asarray(g["lambda"], float) / 10.0,
                             flam=np.asarray(g["flambda"], float), z=float(z), peak_mjd=float(peak_mjd))


def survey_lightcurve(seq: SnanaSequence, responses: dict, *, cadence_days: float = 5.0,
                      phases: tuple = (-15.0, 60.0), depth_mag: float = 25.5, zpt: float = 30.0,
                      rng: np.random.Generator) -> pd.DataFrame:
    """The lightcurve rows a survey measures of ``seq``: every band of ``responses`` on each visit
    (``cadence_days`` apart, observer frame, over rest-frame ``phases``), background-limited
    noise with 5σ at ``depth_mag``, one template per science image; each row carries its
    band's responses (``chrom_resp``) and its true factor (``factor_true``)."""
    from romandia.chromatic.response import factor, format_response
    from romandia.chromatic.seds import band_weights

    k = 1.0 + seq.z
    mjds = seq.peak_mjd + np.arange(phases[0] * k, phases[1] * k + 1e-9, cadence_days)
    sigma = 10 ** (-0.4 * (depth_mag - zpt)) / 5.0
    rows = []
    for i, mjd in enumerate(mjds):
        for j, (band, r) in enumerate(responses.items()):
            t = float(mjd) + 0.01 * j
            sed = seq.photons(t)
            if sed is None:
                continue
            m = seq.ab_mag(t, band)
            f = 10 ** (-0.4 * (m - zpt)) if math.isfinite(m) else 0.0
            try:
                ftrue = factor(r, band_weights(sed, band, len(r)))
            except ValueError:
                continue
            meas = f * ftrue + rng.normal(0.0, sigma)
            rows.append(dict(oid=1, band=band, science_name=f"{band}_{i}", template_name="t", mjd=t, zpt=zpt,
                             flux=meas, flux_err=sigma, mag=np.nan, mag_err=np.nan, success=True,
                             chrom_resp=format_response(r), flux_true=f, factor_true=ftrue,
                             phase=(t - seq.peak_mjd) / k))
    return pd.DataFrame(rows)


def estimate_errors(lc: pd.DataFrame, *, z: float | None, seds=("power_law", "template", "auto"),
                    min_snr: float = 5.0) -> pd.DataFrame:
    """Each row's factor error (estimated − true) for each ``sed`` choice; NaN where a choice
    left the row uncorrected."""
    from romandia.chromatic.estimate import correct_lightcurves

    out = lc[["band", "mjd", "phase", "flux_true", "flux_err", "factor_true"]].copy()
    out["snr"] = out["flux_true"] / out["flux_err"]
    for s in seds:
        c = correct_lightcurves(lc, sed=s, z=z, min_snr=min_snr)
        out[f"err_{s}"] = c["chrom_corr"].to_numpy(float) - lc["factor_true"].to_numpy(float)
        out[f"src_{s}"] = c["chrom_sed"].to_numpy()
    out["effect"] = out["factor_true"] - 1.0
    return out


def summarise(errs: pd.DataFrame, *, min_snr: float = 5.0, seds=("power_law", "template", "auto")) -> pd.DataFrame:
    """Mean and maximum |error| [%] per band and phase bin, rows at S/N ≥ ``min_snr``, beside the
    uncorrected effect; ``n`` rows, ``corrected`` the fraction each choice corrected."""
    e = errs[errs["snr"] >= min_snr].copy()
    e["phase_bin"] = pd.cut(e["phase"], PHASE_BINS, labels=["< 0 d", "0 – 20 d", "≥ 20 d"], right=False)
    rows = []
    for (band, pb), g in e.groupby(["band", "phase_bin"], observed=True):
        r = dict(band=band, phase=str(pb), n=len(g), effect_mean=100 * g["effect"].abs().mean(),
                 effect_max=100 * g["effect"].abs().max())
        for s in seds:
            v = g[f"err_{s}"].abs()
            r[f"{s}_mean"] = 100 * v.mean()
            r[f"{s}_max"] = 100 * v.max()
            r[f"{s}_n"] = int(v.notna().sum())
        rows.append(r)
    return pd.DataFrame(rows)
