"""The chromatic correction (romandia.chromatic): the basis decomposition against galsim's own
chromatic drawing of sources of other SEDs, colours and slopes, and the lightcurve correction."""

import math

import galsim
import galsim.roman as groman
import numpy as np
import pandas as pd
import pytest
from _roman import CHARGE_DIFF_SIGMAS as SIG
from _roman import CHARGE_DIFF_WEIGHTS as W
from astropy.io import fits
from test_psf_model import _header  # the same rotated, distorted test pixel

from romandia import psf as P
from romandia.chromatic import basis, estimate, response, seds


def _blackbody(t):
    """A Planck f_lambda written here (not romandia's), as a galsim SED."""
    lam = np.linspace(300.0, 2700.0, 2401)
    f = lam**-5 / np.expm1(1.4387769e7 / (t * lam))
    return galsim.SED(galsim.LookupTable(lam, f / f.max(), interpolant="linear"), wave_type="nm", flux_type="flambda")


def _direct(band, sed, offset, size=41):
    """galsim's own chromatic drawing of a unit-flux point source of ``sed`` at SCA (1000.3, 2000)
    (optics n_waves 5, roman_imsim's charge diffusion, pixel), the header's local WCS."""
    hdr = _header(band)
    wcs = galsim.GSFitsWCS(header=dict(hdr)).shiftOrigin(galsim.PositionD(899, 1899))
    pos = galsim.PositionD(1000.0 + offset[0], 2000.0 + offset[1])
    local = wcs.local(galsim.PositionD(1000.0, 2000.0))
    bp = groman.getBandpasses(AB_zeropoint=True)[band]
    optics = groman.getPSF(7, band, SCA_pos=galsim.PositionD(1000.0, 2000.0), pupil_bin=8, wcs=wcs, n_waves=5)
    cd = galsim.Sum([galsim.Gaussian(sigma=s, flux=w) for w, s in zip(W, SIG, strict=True)])
    prof = galsim.Convolve(galsim.DeltaFunction() * sed.withFlux(1.0, bp), optics,
                           local.toWorld(galsim.Convolve(cd, galsim.Pixel(1.0))))
    del pos
    return prof.drawImage(bp, nx=size, ny=size, wcs=local, method="no_pixel", offset=offset).array


def _fit(img, model, half=2):
    c = img.shape[0] // 2
    sl = (slice(c - half, c + half + 1),) * 2
    p = model[sl]
    return float((p * img[sl]).sum() / (p * p).sum())


@pytest.fixture(scope="module")
def h158_basis():
    hdr = _header("H158")
    b = basis.make_basis({"size": 41}, hdr, 100.0, 100.0)
    return hdr, b


def test_basis_round_trip(h158_basis):
    hdr, b = h158_basis
    data, h = basis.basis_data(b)
    b2 = basis.read_basis(data, h)
    assert np.allclose(b2.waves, b.waves) and b2.x == 100.0
    galsim_nodes = groman.getPSF(7, "H158", SCA_pos=galsim.PositionD(1000, 2000), pupil_bin=8, n_waves=5,
                                 wcs=galsim.GSFitsWCS(header=dict(hdr))).original.waves
    assert np.allclose(b.waves, galsim_nodes)  # seds.band_waves are getPSF's nodes
    assert b2.images[2].maxk == pytest.approx(b.images[2].maxk)
    with pytest.raises(ValueError, match="planes"):
        basis.read_basis(data[:3], h)


def test_basis_sum_is_the_model(h158_basis):
    """Σ w_model,k P_k reproduces the provider's own (chromatic, flat-photon) ATPOS stamp."""
    hdr, b = h158_basis
    st = basis.basis_stamps(b, {"size": 41}, hdr, 100.3, 99.8)
    w = seds.band_weights(seds.model_sed("flat"), "H158", 5)
    model = P.psf_stamp("galsim", {"size": 41}, hdr, 100.3, 99.8, at_position=True)
    got = np.tensordot(w, st, axes=1)
    assert np.abs(got - model).max() < 2e-3 * model.max()
    assert _fit(got, model) == pytest.approx(1.0, abs=3e-4)


@pytest.mark.parametrize("temp", [3500.0, 10000.0])
def test_factor_matches_galsim_chromatic_drawing(h158_basis, temp):
    """The basis' factor for a blackbody equals the fit of the model to galsim's own drawing of
    that blackbody (an SED written here), to 2e-4, and it is not 1 (the effect exists)."""
    hdr, b = h158_basis
    off = (0.3, -0.2)
    st = basis.basis_stamps(b, {"size": 41}, hdr, 100.0 + off[0], 100.0 + off[1])
    model = P.psf_stamp("galsim", {"size": 41}, hdr, 100.0 + off[0], 100.0 + off[1], at_position=True)
    var = np.ones((41, 41))
    w_model = seds.band_weights(seds.model_sed("flat"), "H158", 5)
    r = response.responses(st, None, model, var, 20.0 + off[0], 20.0 + off[1], fit_shape=5, weights="background",
                           w_model=w_model)
    bb = _blackbody(temp)
    w_bb = seds.band_weights(lambda lam: bb(lam), "H158", 5)
    direct = _fit(_direct("H158", bb, off), model) / _fit(_direct("H158", galsim.SED("1", "nm", "fphotons"), off), model)
    assert response.factor(r, w_bb) == pytest.approx(direct, abs=2e-4)
    assert abs(direct - 1.0) > 2e-3


def test_response_through_a_kernel_is_smaller():
    """Cross-convolving model and source with a wider kernel shrinks the chromatic factor."""
    hdr = _header("H158")
    b = basis.make_basis({"size": 41}, hdr, 100.0, 100.0)
    st = basis.basis_stamps(b, {"size": 41}, hdr, 100.0, 100.0)
    w_model = seds.band_weights(seds.model_sed("flat"), "H158", 5)
    w_blue = seds.band_weights(seds.power_law(-4.0), "H158", 5)
    model = np.tensordot(w_model, st, axes=1)
    yy, xx = np.mgrid[-7:8, -7:8]
    k = np.exp(-(xx**2 + yy**2) / (2 * 2.0**2))
    k /= k.sum()
    from romandia.convolve import kernel_convolve

    direct = response.factor(response.responses(st, None, model, np.ones((41, 41)), 20, 20, fit_shape=5,
                                                weights="background", w_model=w_model), w_blue)
    conv = response.factor(response.responses(st, k, kernel_convolve(model, k), np.ones((55, 55)), 27, 27,
                                              fit_shape=5, weights="background", w_model=w_model), w_blue)
    assert direct > 1.002
    assert 1.0 < conv < direct


@pytest.mark.parametrize("beta", [-6.0, -2.0, 0.0, 3.0])
def test_slope_from_colour_inverts_the_colour(beta):
    col = seds.ab_colour(seds.power_law(beta), "J129", "H158")
    assert seds.slope_from_colour(col, "J129", "H158") == pytest.approx(beta, abs=2e-3)
    assert seds.ab_colour(seds.power_law(-2.0), "J129", "H158") == pytest.approx(0.0, abs=1e-6)  # flat f_nu


def test_slope_from_mags_uses_both_neighbours():
    sed = seds.power_law(-1.0)
    mags = {b: (seds.ab_colour(sed, b, "H158") + 20.0, 0.01) for b in ("J129", "H158", "F184", "R062")}
    beta, err, src = estimate.slope_from_mags("H158", mags)
    assert beta == pytest.approx(-1.0, abs=0.02)
    assert src == "J129-H158, H158-F184"
    assert 0 < err < 1
    assert math.isnan(estimate.slope_from_mags("H158", {"H158": (20.0, 0.01)})[0])


def _rows(beta_true, band_flux, resp, mjds, n_tmpl=2):
    rows = []
    for band, flux in band_flux.items():
        zpt = 26.0
        for mjd in mjds:
            for t in range(n_tmpl):
                f = flux(mjd)
                rows.append(dict(band=band, science_name=f"{band}_{mjd}", template_name=f"t{t}", mjd=mjd, zpt=zpt,
                                 flux=f, flux_err=max(abs(f), 100.0) * 0.01 + 5.0, success=True, mag=np.nan,
                                 mag_err=np.nan, chrom_resp=response.format_response(resp)))
    return pd.DataFrame(rows)


def test_correct_lightcurves_recovers_the_slope_and_divides():
    beta = -1.3
    sed = seds.power_law(beta)
    resp = np.array([1.02, 1.01, 1.0, 0.99, 0.98])
    resp = resp / seds.band_weights(seds.model_sed("flat"), "H158", 5).dot(resp)

    def flux_in(band):
        scale = 10 ** (-0.4 * seds.ab_colour(sed, band, "H158"))
        return lambda mjd: 0.0 if mjd < 100 else 5000.0 * scale

    df = _rows(beta, {b: flux_in(b) for b in ("J129", "H158", "F184")}, resp, [90.0, 101.0, 110.0, 130.0])
    out = estimate.correct_lightcurves(df, window_days=2.0, min_snr=5.0, max_gap_days=10.0)
    h = out[(out["band"] == "H158") & (out["mjd"] == 101.0)]
    assert (h["chrom_status"] == "applied").all()
    assert h["chrom_slope"].iloc[0] == pytest.approx(beta, abs=0.05)
    want = response.factor(resp, seds.band_weights(sed, "H158", 5))
    assert h["chrom_corr"].iloc[0] == pytest.approx(want, rel=1e-3)
    assert h["flux"].iloc[0] == pytest.approx(5000.0 / h["chrom_corr"].iloc[0], rel=1e-9)
    assert (h["flux_err"] > df.loc[h.index, "flux_err"] / h["chrom_corr"] - 1e-9).all()
    # the pre-explosion epoch (no colour) is 11 d from the nearest measured one: not applied
    pre = out[(out["band"] == "H158") & (out["mjd"] == 90.0)]
    assert pre["chrom_status"].str.startswith("not applied: no colour").all()
    assert (pre["flux"] == 0.0).all()
    # with a wider gap it takes the nearest epoch's slope
    out2 = estimate.correct_lightcurves(df, window_days=2.0, min_snr=5.0, max_gap_days=20.0)
    pre2 = out2[(out2["band"] == "H158") & (out2["mjd"] == 90.0)]
    assert (pre2["chrom_status"] == "applied").all() and pre2["chrom_sed"].str.contains("at MJD 101.00").all()


def test_rows_without_responses_are_left_alone():
    df = _rows(-2.0, {"H158": lambda m: 1000.0, "J129": lambda m: 1000.0}, np.ones(5), [100.0])
    df["chrom_resp"] = ""
    out = estimate.correct_lightcurves(df)
    assert (out["flux"] == 1000.0).all()
    assert out["chrom_status"].str.contains("no chromatic response").all()


def test_responses_by_the_adjoint_equal_the_direct_convolutions():
    """The one-convolution path (an array kernel) equals convolving each basis stamp and
    sampling the fit box (the callable path)."""
    from romandia.convolve import kernel_convolve

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[-20:21, -20:21]
    stamps = np.stack([np.exp(-((xx - 0.3) ** 2 + (yy + 0.2) ** 2) / (2 * s**2)) for s in (0.7, 0.8, 0.9, 1.0, 1.1)])
    stamps /= stamps.sum(axis=(1, 2), keepdims=True)
    k = rng.uniform(0, 1, (31, 31)) * np.exp(-(np.mgrid[-15:16, -15:16] ** 2).sum(0) / 30.0)
    k /= k.sum()
    w = np.full(5, 0.2)
    model = kernel_convolve(np.tensordot(w, stamps, axes=1), k)
    var = rng.uniform(1, 2, (61, 61))
    for weights in ("background", "variance"):
        fast = response.responses(stamps, k, model, var, 30.3, 29.8, fit_shape=5, weights=weights, w_model=w)
        slow = response.responses(stamps, lambda p: kernel_convolve(p, k), model, var, 30.3, 29.8, fit_shape=5,
                                  weights=weights, w_model=w)
        assert np.allclose(fast, slow, rtol=1e-9, atol=1e-12)
        assert np.ptp(fast) > 1e-3


def test_star_colours_are_ab_from_catalogue_mag_plus_the_images_zptmag(tmp_path):
    """A truth catalogue's mag is -2.5 log10(counts) + galsim zp: the colour needs each image's
    ZPTMAG (exposure times differ between bands), and a hot star then gets a blue slope."""
    from romandia.constants import GALSIM_ZEROPOINT
    from romandia.ou2024 import write_truth_catalog
    from romandia.steps import chromatic as steps_chromatic

    sed = seds.power_law(-3.3)  # a hot star's near-infrared slope
    ab = {b: 20.0 + seds.ab_colour(sed, b, "H158") for b in ("J129", "H158", "F184")}
    zpt = {"J129": 29.1, "H158": 29.9, "F184": 28.4}  # different exposure times
    pairs = []
    for b in ("J129", "F184"):
        counts = 10 ** (-0.4 * (ab[b] - GALSIM_ZEROPOINT[b] - zpt[b]))
        t = tmp_path / f"Roman_TDS_index_{b}_1_1.txt"
        write_truth_catalog(t, pd.DataFrame([dict(object_id=7, ra=1.0, dec=2.0, x=5.0, y=5.0, realized_flux=counts,
                                                  flux=counts, mag=-2.5 * math.log10(counts) + GALSIM_ZEROPOINT[b],
                                                  obj_type="star")]))
        img = tmp_path / f"{b}.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 2)), fits.Header({"ZPTMAG": zpt[b]}),
                                                       name="SCI")]).writeto(img)
        pairs.append((t, img))
    mags = steps_chromatic.catalogue_mags(pairs)
    assert mags[7]["J129"] == pytest.approx(ab["J129"], abs=1e-6)
    h_counts = 10 ** (-0.4 * (ab["H158"] - GALSIM_ZEROPOINT["H158"] - zpt["H158"]))
    cat = pd.DataFrame(dict(object_id=[7], mag=[-2.5 * math.log10(h_counts) + GALSIM_ZEROPOINT["H158"]],
                            obj_type=["star"]))
    w = steps_chromatic.star_sed_weights(cat, "H158", mags, 5, zpt["H158"])
    assert w[0][1] == pytest.approx(-3.3, abs=0.01)
    assert steps_chromatic.catalogue_mags([(pairs[0][0], tmp_path / "missing.fits")]) == {}
