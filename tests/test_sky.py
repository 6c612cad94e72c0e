"""Sky subtraction, sky RMS, the detection mask of extended sources, and the variance model."""

import numpy as np
import pytest

from romandia.errors import DataError
from romandia.noise import variance_map
from romandia.psf import gaussian_stamp
from romandia.sky import subtract_sky


def add(img, x, y, flux, sigma):
    s = gaussian_stamp(sigma, 41, dx=x - round(x), dy=y - round(y))
    ix, iy = int(round(x)), int(round(y))
    img[iy - 20 : iy + 21, ix - 20 : ix + 21] += flux * s


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(42)
    img = rng.normal(100.0, 10.0, (512, 512))
    stars = [(60 + 90 * i, 80 + 70 * j) for i in range(5) for j in range(2)]
    gals = [(100 + 80 * i, 350 + 60 * j) for i in range(4) for j in range(2)]
    for x, y in stars:
        add(img, x + 0.3, y - 0.2, 5000.0, 0.8)
    for x, y in gals:
        add(img, x, y, 20000.0, 4.0)
    return img, stars, gals


def test_sky_level_rms_and_mask(scene):
    img, stars, gals = scene
    res = subtract_sky(img)
    assert res.sky_rms == pytest.approx(10.0, rel=0.02)
    bg = res.skysub[~res.segmap.astype(bool)]
    assert abs(np.mean(bg)) < 5 * 10 / 512
    assert np.std(bg) == pytest.approx(10.0, rel=0.05)
    assert all(res.detmask[y, x] for x, y in gals), "extended sources must be in the mask"
    assert not any(res.detmask[y, x] for x, y in stars), "point sources (flux radius < 2 px) are dropped"
    # dilation grows the kept segments only into sky pixels
    assert res.detmask.sum() > (res.segmap > 0)[res.detmask].sum()


def test_variance_model_matches_noise(scene):
    img, _, _ = scene
    res = subtract_sky(img)
    var = variance_map(res.skysub, res.rms)
    sky = res.segmap == 0
    assert np.median(var[sky]) == pytest.approx(100.0, rel=0.05)
    err = np.full(img.shape, 7.0)
    assert np.allclose(variance_map(res.skysub, res.rms, err=err, mode="err"), 49.0)


def test_nan_pixels_stay_nan_and_blank_image_fails(scene):
    img = scene[0].copy()
    img[:10, :10] = np.nan
    res = subtract_sky(img)
    assert np.isnan(res.skysub[:10, :10]).all() and np.isfinite(res.skysub[20:, 20:]).all()
    with pytest.raises(DataError, match="all NaN"):
        subtract_sky(np.full((64, 64), np.nan))
    with pytest.raises(DataError, match="sky RMS"):
        subtract_sky(np.zeros((128, 128)))


def test_photutils_sky_recovers_a_gradient_like_sep(scene):
    img, stars, gals = scene
    yy, xx = np.mgrid[:512, :512]
    grad = img + 0.05 * xx  # a 25-count gradient across the image
    truth = 100.0 + 0.05 * xx
    res_sep = subtract_sky(grad)
    res_pu = subtract_sky(grad, method="photutils")
    for res in (res_sep, res_pu):
        sky_pix = ~res.segmap.astype(bool)
        assert np.median(np.abs(res.sky - truth)[sky_pix]) < 1.0
        assert res.sky_rms == pytest.approx(10.0, rel=0.05)
    # the same detections either way; the sky differs
    assert np.array_equal(res_sep.segmap, res_pu.segmap)
    assert not np.array_equal(res_sep.sky, res_pu.sky)
    with pytest.raises(ValueError, match="sky method must be 'sep' or 'photutils'"):
        subtract_sky(grad, method="sextractor")


def test_photutils_sky_masks_nonlinear_pixels(scene):
    img, _, _ = scene
    hot = img.copy()
    hot[250:253, 250:253] = 2.0e5  # a clipped star core
    res = subtract_sky(hot, method="photutils", photutils={"nonlinear_level": 9.0e4, "footprint_radius": 10})
    # the bright pixels and their surroundings do not drag the local sky up
    assert abs(float(res.sky[251, 251]) - 100.0) < 3.0
