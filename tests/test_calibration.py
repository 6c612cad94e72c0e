"""Field-star flux calibration (romandia.calibration): a deliberately wrong PSF model is
measured on stars and corrected on a point source, on a synthetic image whose true PSF the
model does not share (Gaussian sigma 1.30 px drawn, 1.10 px assumed)."""

import math

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from romandia import calibration as C
from romandia import photometry
from romandia.psf import gaussian_stamp

TRUE_SIGMA, MODEL_SIGMA, SKY_SIGMA = 1.30, 1.10, 4.0
CFG = {"reference": "aperture", "aperture_radius": 6.0, "annulus": [12.0, 17.0], "isolation": 2.0,
       "min_stars": 3, "max_stars": 30, "min_snr": 50.0}
PHOT = {"fit_shape": 5, "local_bkg": None, "weights": "background"}


def _header(n):
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"], h["CRPIX1"], h["CRPIX2"] = 7.6, -44.4, n / 2, n / 2
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -0.11 / 3600, 0.0, 0.0, 0.11 / 3600
    return h


def _add(img, x, y, flux, sigma):
    ix, iy = int(round(x)), int(round(y))
    st = gaussian_stamp(sigma, 41, dx=x - ix, dy=y - iy) * flux
    img[iy - 20: iy + 21, ix - 20: ix + 21] += st


def _scene(seed=1, n=400):
    rng = np.random.default_rng(seed)
    img = np.zeros((n, n))
    xs, ys = np.meshgrid(np.arange(40, n - 40, 64.0), np.arange(40, n - 40, 64.0))
    xs = xs.ravel() + rng.uniform(-0.5, 0.5, xs.size)
    ys = ys.ravel() + rng.uniform(-0.5, 0.5, ys.size)
    flux = rng.uniform(2e4, 1e5, xs.size)
    for x, y, f in zip(xs, ys, flux, strict=True):
        _add(img, x, y, f, TRUE_SIGMA)
    hdr = _header(n)
    ra, dec = WCS(hdr).pixel_to_world_values(xs, ys)
    cat = pd.DataFrame({"ra": ra, "dec": dec, "flux": flux, "obj_type": "star"})
    return img, hdr, cat, rng


def _expected_ratio(dx=0.0, dy=0.0):
    """Noiseless fit of the model to the true PSF in the 5x5 box, equal weights (closed form)."""
    d = gaussian_stamp(TRUE_SIGMA, 41, dx=dx, dy=dy)[18:23, 18:23]
    m = gaussian_stamp(MODEL_SIGMA, 41, dx=dx, dy=dy)[18:23, 18:23]
    return float((d * m).sum() / (m * m).sum())


def test_wrong_psf_model_is_measured_on_stars_and_corrected_on_a_point_source():
    img, hdr, cat, rng = _scene()
    sn_x, sn_y, sn_flux = 200.3, 232.6, 30000.0
    _add(img, sn_x, sn_y, sn_flux, TRUE_SIGMA)
    img += rng.normal(0.0, SKY_SIGMA, img.shape)
    var = np.full(img.shape, SKY_SIGMA**2)
    getter = lambda x, y: gaussian_stamp(MODEL_SIGMA, 41, dx=x - round(x), dy=y - round(y))  # noqa: E731
    sn_radec = WCS(hdr).pixel_to_world_values(sn_x, sn_y)
    pairs = {"T": {"zptimg": img, "var": var, "kernel": np.ones((1, 1))}}
    cal = C.calibrate_image(img, hdr, cat, pairs, getter, cfg=CFG, phot=PHOT, exclude_radec=[sn_radec])["T"]
    assert cal.measured and cal.n_stars >= 20
    expected = _expected_ratio()
    assert expected < 0.9  # the model error is large: a too-narrow PSF fits 16 % low
    assert cal.ratio == pytest.approx(expected, abs=max(3 * cal.ratio_err, 2e-3))
    assert cal.ratio_err < 0.003
    # the point source: fitted with the wrong model, then calibrated
    res = photometry.forced_psf_photometry(img, var, getter(sn_x, sn_y), sn_x, sn_y, fit_shape=5,
                                           psf_at_position=True, weights="background")
    assert res["flux"] / sn_flux - 1 < -0.1
    flux, err = C.apply(res["flux"], res["flux_err"], cal)
    assert abs(flux / sn_flux - 1) < 0.01
    assert abs(flux - sn_flux) < 3 * err
    assert err > res["flux_err"] / cal.ratio  # the ratio's error is added


def test_right_model_gives_unit_ratio_and_catalog_reference_agrees():
    img, hdr, cat, rng = _scene(seed=2)
    img += rng.normal(0.0, SKY_SIGMA, img.shape)
    var = np.full(img.shape, SKY_SIGMA**2)
    getter = lambda x, y: gaussian_stamp(TRUE_SIGMA, 41, dx=x - round(x), dy=y - round(y))  # noqa: E731
    pairs = {"T": {"zptimg": img, "var": var, "kernel": np.ones((1, 1))}}
    ap = C.calibrate_image(img, hdr, cat, pairs, getter, cfg=CFG, phot=PHOT)["T"]
    ct = C.calibrate_image(img, hdr, cat, pairs, getter, cfg=dict(CFG, reference="catalog"), phot=PHOT)["T"]
    assert ap.ratio == pytest.approx(1.0, abs=max(3 * ap.ratio_err, 1e-3))
    assert ct.ratio == pytest.approx(1.0, abs=max(3 * ct.ratio_err, 1e-3))


def test_too_few_stars_is_unmeasured_and_leaves_the_flux_alone():
    stars = [C.StarMeasurement(1, 1, 100.0, 1.0, 100.0, 1.0, 1.0, True)] * 2
    cal = C.combine(stars, min_stars=3)
    assert not cal.measured and "2 usable field star(s), need 3" in cal.status
    assert math.isnan(cal.ratio)
    assert C.apply(5.0, 1.0, cal) == (5.0, 1.0)
    assert C.apply(5.0, 1.0, None) == (5.0, 1.0)


def test_outlier_star_is_clipped_and_error_is_inflated_by_scatter():
    rng = np.random.default_rng(4)
    stars = [C.StarMeasurement(0, 0, 1000.0 * (1.02 + rng.normal(0, 0.002)), 1.0, 1000.0, 1.0, 1.0, True)
             for _ in range(10)]
    stars.append(C.StarMeasurement(0, 0, 1300.0, 1.0, 1000.0, 1.0, 1.0, True))  # a blend
    cal = C.combine(stars)
    assert cal.n_clipped == 1 and cal.ratio == pytest.approx(1.02, abs=0.002)
    # the formal errors (0.14 %) are smaller than the scatter (0.2 %): the Birge ratio inflates
    assert cal.ratio_err > math.sqrt(1 / sum(1 / s.ratio_err**2 for s in stars[:10]))
    d = cal.to_dict()
    assert d["status"] == "measured" and len(d["stars"]) == 11 and "ratio" in d["stars"][0]


def test_select_stars_isolation_edges_and_exclusions():
    cat = pd.DataFrame({"flux": [1e5, 1e5, 5e4, 2e3, 1e5, 1e5],
                        "obj_type": ["star", "star", "galaxy", "star", "star", "star"]})
    x = np.array([50.0, 100.0, 108.0, 56.0, 5.0, 150.0])
    y = np.array([50.0, 100.0, 100.0, 50.0, 50.0, 150.0])
    idx = C.select_stars(cat, x, y, (200, 200), margin=19, isolation_px=18.0, exclude_xy=[(152.0, 150.0)])
    # 0: its neighbour 3 is 2 % of it (> 1 %): blended; 1: galaxy 2 within 8 px; 3: near star 0,
    # which is brighter; 4: at the edge; 5: at the excluded SN
    assert list(idx) == []
    idx = C.select_stars(cat, x, y, (200, 200), margin=19, isolation_px=5.0)
    assert sorted(idx) == [0, 1, 3, 5]


def test_unmeasured_rows_get_the_lightcurves_pooled_calibration():
    df = pd.DataFrame({
        "science_name": ["a", "b", "c", "d"], "template_name": ["t"] * 4,
        "success": [True, True, True, False],
        "flux": [90.0, 180.0, 100.0, np.nan], "flux_err": [1.0, 1.0, 1.0, np.nan],
        "flux_uncal": [90.0, 180.0, 100.0, np.nan], "flux_err_uncal": [1.0, 1.0, 1.0, np.nan],
        "mag": np.nan, "mag_err": np.nan,
        "calib_ratio": [0.9, 0.9, np.nan, np.nan], "calib_ratio_err": [0.01, 0.01, np.nan, np.nan],
        "calib_nstars": [3, 4, 1, 0],
        "calib_status": ["measured", "measured", "unmeasured: 1 usable field star(s), need 2",
                         "unmeasured: no star catalogue at x"]})
    out = C.pool_unmeasured(df)
    assert out.loc[2, "flux"] == pytest.approx(100.0 / 0.9)
    assert out.loc[2, "calib_status"] == "pooled from 2 images (1 usable field star(s), need 2)"
    assert out.loc[2, "flux_err"] > 1.0 / 0.9 and out.loc[2, "calib_nstars"] == 7
    assert out.loc[2, "mag"] == pytest.approx(-2.5 * math.log10(100.0 / 0.9))
    # measured rows and failed rows are left alone
    assert out.loc[0, "flux"] == 90.0 and math.isnan(out.loc[3, "flux"])
    assert out.loc[3, "calib_status"].startswith("unmeasured")


def _moffat(alpha, beta, size, dx=0.0, dy=0.0):
    """Moffat profile sampled at pixel centres, unit total flux (analytic), centre at the
    stamp's centre + (dx, dy): broad wings, unlike a Gaussian."""
    h = size // 2
    yy, xx = np.mgrid[-h:h + 1, -h:h + 1]
    r2 = (xx - dx) ** 2 + (yy - dy) ** 2
    return (beta - 1) / (math.pi * alpha**2) * (1 + r2 / alpha**2) ** (-beta)


def test_catalog_reference_removes_a_width_error_the_aperture_reference_keeps():
    """A model 5 % too wide with Moffat wings: the catalogue reference gives the fit's own
    ratio; the aperture reference is off by the model's encircled-energy error (the term that
    bench/aperture_reference.py measures for OU2024's PSF)."""
    alpha, beta, wide, sky = 1.5, 2.0, 1.05, 0.5
    rng = np.random.default_rng(7)
    n = 400
    img = np.zeros((n, n))
    xs, ys = np.meshgrid(np.arange(40, n - 40, 64.0), np.arange(40, n - 40, 64.0))
    xs = xs.ravel() + rng.uniform(-0.5, 0.5, xs.size)
    ys = ys.ravel() + rng.uniform(-0.5, 0.5, ys.size)
    flux = rng.uniform(2e4, 1e5, xs.size)
    expected = []
    for x, y, f in zip(xs, ys, flux, strict=True):
        ix, iy = int(round(x)), int(round(y))
        img[iy - 20: iy + 21, ix - 20: ix + 21] += f * _moffat(alpha, beta, 41, x - ix, y - iy)
        d = _moffat(alpha, beta, 41, x - ix, y - iy)[18:23, 18:23]
        m = _moffat(alpha * wide, beta, 41, x - ix, y - iy)[18:23, 18:23]
        expected.append((d * m).sum() / (m * m).sum())
    img += rng.normal(0.0, sky, img.shape)
    hdr = _header(n)
    ra, dec = WCS(hdr).pixel_to_world_values(xs, ys)
    cat = pd.DataFrame({"ra": ra, "dec": dec, "flux": flux, "obj_type": "star"})
    getter = lambda x, y: _moffat(alpha * wide, beta, 41, x - round(x), y - round(y))  # noqa: E731
    pairs = {"T": {"zptimg": img, "var": np.full(img.shape, sky**2), "kernel": np.ones((1, 1))}}
    ct = C.calibrate_image(img, hdr, cat, pairs, getter, cfg=dict(CFG, reference="catalog"), phot=PHOT)["T"]
    ap = C.calibrate_image(img, hdr, cat, pairs, getter, cfg=CFG, phot=PHOT)["T"]
    assert ct.measured and ap.measured and ct.n_stars >= 20
    assert np.mean(expected) > 1.02  # a too-wide model fits high
    assert ct.ratio == pytest.approx(np.mean(expected), abs=1e-3)
    # the aperture reference divides by the model's encircled energy, not the data's
    ee = {s: C.aperture_total_flux(_moffat(alpha * s, beta, 41), np.ones((41, 41)), _moffat(alpha * s, beta, 41),
                                   20.0, 20.0, radius=6.0, annulus=(12.0, 17.0))[2] for s in (1.0, wide)}
    ee_error = ee[wide] / ee[1.0] - 1
    assert ee_error < -0.005
    assert ap.ratio / ct.ratio - 1 == pytest.approx(ee_error, abs=1.5e-3)


def test_catalog_reference_rejects_stars_by_their_fit_snr():
    img = np.zeros((101, 101))
    img[40:61, 40:61] += 300.0 * gaussian_stamp(TRUE_SIGMA, 21)
    var = np.full(img.shape, 16.0)
    psf = gaussian_stamp(TRUE_SIGMA, 41)
    kw = dict(fit_shape=5, local_bkg=None, weights="background", radius=6.0, annulus=(12.0, 17.0))
    m = C.measure_star(img, var, psf, 50.0, 50.0, ref_flux=300.0, min_snr=50.0, **kw)
    assert not m.ok and m.reason.startswith("PSF fit S/N")
    assert C.measure_star(img, var, psf, 50.0, 50.0, ref_flux=300.0, min_snr=5.0, **kw).ok
