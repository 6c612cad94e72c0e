"""A source's SED from its own fluxes, and the lightcurve's chromatic correction.

Two estimates of a supernova's SED at each epoch (config ``chromatic.sed``): the SN Ia template
fitted to its lightcurve in all bands at the host's redshift (:mod:`.template`; the default
``auto`` uses it wherever it fits and covers the epoch), and the power law from its colours
with the neighbouring bands described here (everywhere else, and for the field stars).

The SED across a band is modelled as a power law ``f_λ ∝ λ^β`` (:func:`.seds.power_law`).  Its
slope comes from the source's AB colours with the nearest observed bluer and redder bands
(:func:`slope_from_mags`): each colour gives a slope (:func:`.seds.slope_from_colour`); both
sides available, their inverse-variance mean.  A power law is not a SN Ia spectrum (nor a
star's): its error is what the validation measures against the simulator's Hsiao / SNANA /
blackbody SEDs.

For a supernova the fluxes are its own lightcurve's, per science image (the templates' rows
of one science image averaged with their errors), in every band observed within
``window_days`` of the epoch (:func:`correct_lightcurves`).  An epoch whose colours are not
measured (S/N below ``min_snr`` in a band: before explosion, late) takes the slope of the
nearest epoch in time that has one, within ``max_gap_days``; otherwise its rows keep their
flux and ``chrom_status`` says why.  The correction divides ``flux`` by
``chrom_corr = Σ_k w_k(β) r'_k`` (the row's responses, :mod:`.response`) and adds
``flux · σ(chrom_corr) / chrom_corr²`` to ``flux_err`` in quadrature, ``σ(chrom_corr)`` from
the slope's error.  The colours are measured again on the corrected fluxes (two passes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..constants import BANDS
from .response import factor, parse_response
from .seds import band_weights, power_law, slope_from_colour
from .template import factor_from_weights, fit_template, template_weights

__all__ = ["slope_from_mags", "correct_lightcurves", "CHROM_COLUMNS", "SED_CHOICES"]

#: The SN's SED estimates (:func:`correct_lightcurves` ``sed``; config ``chromatic.sed``).
SED_CHOICES = ("power_law", "template", "auto")

#: Columns the correction adds (all rows; NaN / '' where it does not apply).
CHROM_COLUMNS = ("chrom_corr", "chrom_corr_err", "chrom_slope", "chrom_slope_err", "chrom_sed", "chrom_status")


def _side(band: str, mags: Mapping, step: int):
    i = BANDS.index(band) + step
    while 0 <= i < len(BANDS):
        if BANDS[i] in mags:
            return BANDS[i]
        i += step
    return None


def slope_from_mags(band: str, mags: Mapping) -> tuple[float, float, str]:
    """Power-law slope ``β`` at ``band`` from AB magnitudes in other bands.

    Parameters
    ----------
    band : str
        The band whose SED is wanted; ``mags`` must hold it.
    mags : mapping
        ``{band: (AB mag, error)}``.

    Returns
    -------
    (beta, beta_err, source) : (float, float, str)
        ``source`` names the colours used (``"J129-H158, H158-F184"``); NaNs and ``""`` when
        no other band is given or no slope fits the colours.
    """
    if band not in mags:
        raise ValueError(f"mags lack the band {band}")
    m0, e0 = mags[band]
    est = []
    for step in (-1, 1):
        other = _side(band, mags, step)
        if other is None:
            continue
        m1, e1 = mags[other]
        blue, red = (other, band) if step < 0 else (band, other)
        colour = (m1 - m0) if step < 0 else (m0 - m1)
        err = math.hypot(e0, e1)
        b = slope_from_colour(colour, blue, red)
        if not math.isfinite(b):
            continue
        h = max(err, 1e-3)  # the slope's error from the colour's: a central difference
        db = (slope_from_colour(colour + h, blue, red) - slope_from_colour(colour - h, blue, red)) / (2 * h)
        be = abs(db) * err if math.isfinite(db) else math.nan
        est.append((b, be, f"{blue}-{red}"))
    if not est:
        return math.nan, math.nan, ""
    b = np.array([e[0] for e in est])
    be = np.array([max(e[1], 1e-6) for e in est])
    w = 1.0 / be**2
    return float(np.sum(w * b) / np.sum(w)), float(1.0 / math.sqrt(np.sum(w))), ", ".join(e[2] for e in est)


def _epochs(df: pd.DataFrame) -> pd.DataFrame:
    """One flux per (band, science image): the templates' rows averaged with their errors."""
    ok = df["success"].astype(bool) & np.isfinite(df["flux"]) & (df["flux_err"] > 0)
    d = df[ok]
    rows = []
    for (band, sci), g in d.groupby(["band", "science_name"], sort=True):
        w = 1.0 / g["flux_err"].to_numpy(float) ** 2
        f = float(np.sum(w * g["flux"].to_numpy(float)) / np.sum(w))
        rows.append(dict(band=band, science_name=sci, mjd=float(g["mjd"].iloc[0]), zpt=float(g["zpt"].iloc[0]),
                         flux=f, flux_err=float(1.0 / math.sqrt(np.sum(w)))))
    return pd.DataFrame(rows, columns=["band", "science_name", "mjd", "zpt", "flux", "flux_err"])


def _slopes(ep: pd.DataFrame, *, window_days: float, min_snr: float, max_gap_days: float) -> dict:
    """``{(band, science_name): (beta, beta_err, source)}`` for every epoch of ``ep``."""
    good = ep[(ep["flux"] > 0) & (ep["flux"] >= min_snr * ep["flux_err"])]
    mag = good["zpt"] - 2.5 * np.log10(good["flux"])
    magerr = 1.0857362047581294 * good["flux_err"] / good["flux"]
    good = good.assign(mag=mag, magerr=magerr)
    out = {}
    for _, e in good.iterrows():
        near = good[(good["band"] != e["band"]) & ((good["mjd"] - e["mjd"]).abs() <= window_days)]
        mags = {e["band"]: (float(e["mag"]), float(e["magerr"]))}
        for b, g in near.groupby("band"):
            n = g.loc[(g["mjd"] - e["mjd"]).abs().idxmin()]
            mags[b] = (float(n["mag"]), float(n["magerr"]))
        beta, err, src = slope_from_mags(e["band"], mags)
        if math.isfinite(beta):
            out[(e["band"], e["science_name"])] = (beta, err, f"power law from {src}")
    # epochs without their own colours: the nearest measured epoch of the band
    mjd_of = {(b, n): float(m) for b, n, m in zip(ep["band"], ep["science_name"], ep["mjd"], strict=True)}
    measured = list(out)
    for _, e in ep.iterrows():
        key = (e["band"], e["science_name"])
        if key in out:
            continue
        cands = [(abs(mjd_of[k] - e["mjd"]), k, mjd_of[k]) for k in measured if k[0] == e["band"]]
        if cands:
            gap, k, m = min(cands)
            if gap <= max_gap_days:
                beta, err, src = out[k]
                out[key] = (beta, err, f"{src} at MJD {m:.2f}")
    return out


def correct_lightcurves(df: pd.DataFrame, *, window_days: float = 3.0, min_snr: float = 5.0,
                        max_gap_days: float = 10.0, passes: int = 2, sed: str = "power_law",
                        z: float | None = None, template_sigma: float = 0.0) -> pd.DataFrame:
    """The chromatic correction of one object's rows in all its bands.

    Parameters
    ----------
    df : pandas.DataFrame
        The object's lightcurve rows in every band (:func:`romandia.lightcurve.merge_rows`),
        calibrated, with ``chrom_resp`` (:func:`.response.format_response`).
    window_days : float
        Fluxes in other bands within this many days [observer frame] give the epoch's colours.
    min_snr : float
        An epoch's flux enters a colour only at this S/N or above.
    max_gap_days : float
        An epoch without colours takes the slope of the nearest epoch with one within this
        many days; beyond, it is not corrected.
    passes : int
        Colours measured again on the corrected fluxes this many times in all.
    sed : {"power_law", "template", "auto"}
        The SN's SED at each epoch: the power law from its colours; the SN Ia template fitted
        to its lightcurve in all bands at the host's redshift ``z`` (:mod:`.template`); or the
        template where it fits and covers the epoch, else the power law (``chrom_sed`` says
        which, and why not the template).
    z : float or None
        The host's redshift (the template needs it).
    template_sigma : float
        The template's own mismatch to a real SN, added in quadrature to ``chrom_corr_err`` of
        the rows it corrects (fraction of the factor; the fit's covariance holds only its
        parameters' errors).

    Returns
    -------
    pandas.DataFrame
        A copy with ``flux``, ``flux_err``, ``mag``, ``mag_err`` corrected where
        ``chrom_status == "applied"`` and the columns :data:`CHROM_COLUMNS`.
    """
    base = df.copy()
    for c in CHROM_COLUMNS:
        base[c] = "" if c in ("chrom_sed", "chrom_status") else math.nan
    if "chrom_resp" not in base.columns:
        base["chrom_resp"] = ""
    if sed not in SED_CHOICES:
        raise ValueError(f"chromatic sed {sed!r}: choose one of {', '.join(SED_CHOICES)}")
    out = base
    fit, why = None, ""
    for _ in range(max(int(passes), 1)):
        ep = _epochs(out)
        slopes = _slopes(ep, window_days=window_days, min_snr=min_snr, max_gap_days=max_gap_days)
        if sed != "power_law" and fit is None and not why:  # fitted once: the correction moves the
            # colours by < 0.01 mag, which moves the fitted SED's factors by < 1e-4
            try:
                fit = fit_template(ep, z=z, min_snr=min_snr)
            except ValueError as exc:
                why = str(exc)
        tw: dict = {}
        out = base.copy()
        for idx, row in base.iterrows():
            if not bool(row["success"]):
                continue
            r = parse_response(row.get("chrom_resp"))
            if r is None:
                out.at[idx, "chrom_status"] = ("not applied: no chromatic response (the PSF is not galsim's "
                                               "chromatic model, or the science image has no CHROMA basis)")
                continue
            rwhy = why
            if fit is not None:
                wkey = (row["band"], float(row["mjd"]), r.size)  # the rows of one science image share it
                if wkey not in tw:
                    try:
                        tw[wkey] = template_weights(fit, float(row["mjd"]), row["band"], r.size)
                    except ValueError as exc:
                        tw[wkey] = str(exc)
                if isinstance(tw[wkey], str):
                    rwhy = tw[wkey]
                else:
                    c, ce = factor_from_weights(fit, tw[wkey], r)
                    ce = math.hypot(ce if math.isfinite(ce) else 0.0, template_sigma)
                    _apply(out, idx, row, c, ce, math.nan, math.nan, fit.describe())
                    continue
            if sed == "template":
                out.at[idx, "chrom_status"] = f"not applied: {rwhy}"
                continue
            note = f" (no template: {rwhy})" if sed == "auto" and rwhy else ""
            key = (row["band"], row["science_name"])
            if key not in slopes:
                out.at[idx, "chrom_status"] = (f"not applied: no colour within {window_days:g} d at S/N >= "
                                               f"{min_snr:g}, none within {max_gap_days:g} d of this epoch{note}")
                continue
            beta, berr, src = slopes[key]
            c = factor(r, band_weights(power_law(beta), row["band"], r.size))
            if math.isfinite(berr) and berr > 0:
                hi = factor(r, band_weights(power_law(beta + berr), row["band"], r.size))
                lo = factor(r, band_weights(power_law(beta - berr), row["band"], r.size))
                ce = abs(hi - lo) / 2
            else:
                ce = 0.0
            _apply(out, idx, row, c, ce, beta, berr, src + note)
    return out


def _apply(out: pd.DataFrame, idx, row, c: float, ce: float, beta: float, berr: float, src: str) -> None:
    """Divide row ``idx`` by the factor ``c`` (error ``ce``) and record how it was made."""
    from ..lightcurve import _instrumental_mag

    f, e = float(row["flux"]), float(row["flux_err"])
    ce = ce if math.isfinite(ce) else 0.0
    f2, e2 = f / c, math.hypot(e / c, f * ce / c**2)
    out.at[idx, "flux"], out.at[idx, "flux_err"] = f2, e2
    out.at[idx, "mag"], out.at[idx, "mag_err"] = _instrumental_mag(f2, e2)
    out.at[idx, "chrom_corr"], out.at[idx, "chrom_corr_err"] = c, ce
    out.at[idx, "chrom_slope"], out.at[idx, "chrom_slope_err"] = beta, berr
    out.at[idx, "chrom_sed"], out.at[idx, "chrom_status"] = src, "applied"
