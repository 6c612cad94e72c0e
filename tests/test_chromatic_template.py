"""The chromatic correction's SN Ia template estimate (romandia.chromatic.template) and the
check of both SED estimates against a spectrum neither of them is (OU2024's SNANA SN 20172782,
romandia.validation.sed_estimate)."""

import math

import numpy as np
import pandas as pd
import pytest
from test_psf_model import _header

from romandia.chromatic import basis, estimate, response, seds, template
from romandia.ou2024 import packaged_data
from romandia.validation import sed_estimate

BANDS4 = ("Y106", "J129", "H158", "F184")


@pytest.fixture(scope="module")
def plain_responses():
    """Each band's responses of a plain PSF fit (no kernel) at a test pixel, from the galsim
    chromatic basis: what the correction multiplies SED weights with."""
    out = {}
    for band in BANDS4:
        hdr = _header(band)
        b = basis.make_basis({"size": 41}, hdr, 100.0, 100.0)
        stamps = basis.basis_stamps(b, {"size": 41}, hdr, 100.0, 100.0)
        w_model = seds.band_weights(seds.model_sed("flat"), band, len(b.waves))
        model = np.tensordot(w_model, stamps, axes=1)
        out[band] = response.responses(stamps, None, model, np.ones((41, 41)), 20.0, 20.0, fit_shape=5,
                                       weights="background", w_model=w_model)
    return out


def _hsiao_rows(z, ebv, resp, rng):
    from romandia.simulate.lightcurves import SNCOSMO_NAME, hsiao_model, register_roman_bands

    register_roman_bands()
    m = hsiao_model(z, 62500.0, 1.0, ebv)
    rows = []
    for i, t in enumerate(np.arange(62480.0, 62580.0, 5.0)):
        for j, b in enumerate(BANDS4):
            mjd = t + 0.01 * j
            rows.append(dict(oid=1, band=b, science_name=f"{b}_{i}", template_name="t", mjd=mjd, zpt=32.0,
                             flux_true=float(m.bandflux(SNCOSMO_NAME[b], mjd, zp=32.0, zpsys="ab")), success=True,
                             mag=np.nan, mag_err=np.nan, chrom_resp=response.format_response(resp[b])))
    df = pd.DataFrame(rows)
    df["flux_true"] *= 10 ** (-0.4 * (23.0 - 32.0)) / df["flux_true"].max()  # peak at 23 mag
    df["flux_err"] = np.sqrt(df["flux_true"].clip(lower=0) + 80.0**2)
    df["flux"] = df["flux_true"] + rng.normal(size=len(df)) * df["flux_err"]
    return df, m


def test_the_fit_recovers_a_hsiao_sn_and_its_factors(plain_responses):
    """The fit's machinery on its own family (this proves nothing about real SNe: see the SNANA
    test below): t0, E(B-V) and each epoch's factor come back."""
    df, m = _hsiao_rows(0.5, 0.15, plain_responses, np.random.default_rng(3))
    fit = template.fit_template(df, z=0.5, min_snr=5.0)
    assert fit.t0 == pytest.approx(62500.0, abs=1.0)
    assert fit.ebv == pytest.approx(0.15, abs=0.05)
    assert fit.s == pytest.approx(1.0, abs=0.05)
    assert "hsiao-subsampled fit z=0.5000" in fit.describe()
    for mjd, band in ((62490.0, "H158"), (62530.0, "J129"), (62560.0, "F184")):
        r = plain_responses[band]
        true = response.factor(r, seds.band_weights(lambda lam, t=mjd: m.flux(t, lam * 10.0) * lam, band, len(r)))
        c, ce = template.template_factor(fit, mjd, band, r)
        assert c == pytest.approx(true, abs=3e-4)
        assert 0 < ce < 2e-3


def test_without_a_redshift_the_template_is_not_used(plain_responses):
    df, _ = _hsiao_rows(0.5, 0.15, plain_responses, np.random.default_rng(4))
    strict = estimate.correct_lightcurves(df, sed="template", z=None)
    assert strict["chrom_status"].str.startswith("not applied: no host redshift").all()
    assert (strict["flux"] == df["flux"]).all()
    auto = estimate.correct_lightcurves(df, sed="auto", z=None)
    applied = auto[auto["chrom_status"] == "applied"]
    assert len(applied) > 20 and applied["chrom_sed"].str.contains(r"power law .*\(no template: no host").all()
    with pytest.raises(ValueError, match="chromatic sed 'hsiao'"):
        estimate.correct_lightcurves(df, sed="hsiao", z=0.5)


def test_too_few_detections_for_a_template_fall_back_to_the_power_law(plain_responses):
    df, _ = _hsiao_rows(0.5, 0.15, plain_responses, np.random.default_rng(5))
    one = df[df["mjd"] < 62481].copy()  # one visit in four bands: t0 and stretch unconstrained
    out = estimate.correct_lightcurves(one, sed="auto", z=0.5, min_snr=5.0)
    applied = out[out["chrom_status"] == "applied"]
    assert len(applied) == 4 and applied["chrom_sed"].str.contains("on 1 day.*needs 5 in at least 2 bands on 2 days").all()
    two = df[df["mjd"] < 62486].copy()
    assert estimate.correct_lightcurves(two, sed="auto", z=0.5)["chrom_sed"].str.startswith("hsiao").all()


@pytest.mark.parametrize("z", [0.36, 0.7])
def test_both_estimates_against_the_snana_spectrum(plain_responses, z):
    """OU2024's SNANA spectral sequence of SN 20172782 (neither a power law nor Hsiao), moved to
    redshift z, observed every 5 d in four bands at 5σ depth 25.5: the template estimate removes
    most of the chromatic error, and more of it than the power law (measured 2026-12-08, these
    responses: mean |error| template 0.07-0.4 %, power law 0.1-1.6 %, effect 0.1-3 % per band and
    phase bin; docs/validation_sed.md)."""
    seq = sed_estimate.read_snana_sequence(packaged_data("ou2024/snana_truth/snana_10430.hdf5"), 20172782,
                                           z=0.3601, peak_mjd=62476.508).at_redshift(z)
    lc = sed_estimate.survey_lightcurve(seq, plain_responses, rng=np.random.default_rng(7))
    err = sed_estimate.estimate_errors(lc, z=z)
    det = err[err["snr"] >= 5]
    assert len(det) > 40
    assert det["src_auto"].str.startswith("hsiao-subsampled fit").all()
    effect, pl, tp = (det[c].abs().mean() for c in ("effect", "err_power_law", "err_template"))
    assert effect > 3e-3  # the error the correction removes is there
    assert tp < 0.5 * effect and tp < pl, (effect, pl, tp)
    assert det["err_template"].abs().max() < 0.6 * det["effect"].abs().max()
    table = sed_estimate.summarise(err)
    assert set(table["band"]) == set(BANDS4) and math.isclose(table["n"].sum(), len(det))


def test_the_templates_own_error_enters_the_rows_it_corrects(plain_responses):
    df, _ = _hsiao_rows(0.5, 0.15, plain_responses, np.random.default_rng(6))
    a = estimate.correct_lightcurves(df, sed="template", z=0.5)
    b = estimate.correct_lightcurves(df, sed="template", z=0.5, template_sigma=0.002)
    ok = b["chrom_status"] == "applied"
    assert ok.sum() > 40 and (a.loc[ok, "chrom_corr_err"] < 2e-3).all()
    assert np.allclose(b.loc[ok, "chrom_corr_err"], np.hypot(a.loc[ok, "chrom_corr_err"], 0.002))
    assert np.allclose(b.loc[ok, "flux"], a.loc[ok, "flux"])
    assert (b.loc[ok, "flux_err"] >= a.loc[ok, "flux_err"]).all()
