"""Exact flux-error propagation (romandia.errorprop, resample_adjoint, estimator_weights)."""

import math

import numpy as np
import pytest
from test_photometry import gauss_pix

from romandia.convolve import fft_convolve
from romandia.errorprop import propagated_flux_variance
from romandia.photometry import chi2_error_scale, estimator_weights, forced_psf_photometry
from romandia.resample import resample, resample_adjoint, resample_variance


def _rotated_map(shape, angle_deg, shift, scale=1.0, centre_src=(32.0, 32.0)):
    """Template coordinates of the pixels of a target grid rotated/scaled about its centre."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    u, v = xx - (nx - 1) / 2, yy - (ny - 1) / 2
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    xs = scale * (c * u - s * v) + centre_src[0] + shift[0]
    ys = scale * (s * u + c * v) + centre_src[1] + shift[1]
    return xs, ys


@pytest.mark.parametrize("kernel", ["lanczos3", "bilinear"])
def test_resample_adjoint_is_the_transpose(kernel):
    rng = np.random.default_rng(1)
    src = rng.normal(size=(64, 64))
    xs, ys = _rotated_map((40, 40), 27.0, (0.31, -0.42), scale=1.02)
    c = rng.normal(size=(40, 40))
    lhs = float(np.sum(c * resample(src, xs, ys, kernel=kernel)[0]))
    rhs = float(np.sum(resample_adjoint(c, xs, ys, src.shape, kernel=kernel) * src))
    assert rhs == pytest.approx(lhs, rel=1e-10, abs=1e-10)


def _kernel(sigma, n=15):
    k = gauss_pix((n, n), n // 2, n // 2, sigma)
    return k / k.sum()


def _delta():
    k = np.zeros((3, 3))
    k[1, 1] = 1.0
    return k


@pytest.mark.parametrize("smooth", [False, True], ids=["delta-kernels", "psf-kernels"])
def test_propagated_variance_matches_monte_carlo(smooth):
    """Var F from the propagation = the scatter of F over noise realisations of both inputs
    (through the real resampling and kernels).  With δ kernels the only covariance is the
    resampled template's, which the per-pixel variance image drops: it is ~15 % low."""
    rng = np.random.default_rng(7)
    shape = (48, 48)
    xs, ys = _rotated_map(shape, 33.0, (0.5, 0.5))  # half-pixel phase: most covariance
    k_sci, k_tmpl = (_kernel(0.9), _kernel(0.7)) if smooth else (_delta(), _delta())
    sig_s, sig_t = 2.0, 3.0
    a = estimator_weights(_kernel(1.0, 21), np.ones(shape), 24.0, 24.0, fit_shape=5)
    vt_src = np.full((64, 64), sig_t**2)
    prop = propagated_flux_variance(a, k_sci, k_tmpl, np.full(shape, sig_s**2), vt_src, xs, ys)
    fl = []
    for _ in range(1500):
        s = rng.normal(0, sig_s, shape)
        t = resample(rng.normal(0, sig_t, (64, 64)), xs, ys)[0]
        fl.append(np.sum(a * (fft_convolve(s, k_sci) - fft_convolve(t, k_tmpl))))
    mc = float(np.var(fl))
    assert prop["var"] == pytest.approx(mc, rel=0.12)  # MC error ~3.7 %
    if not smooth:
        vpix = sig_s**2 + resample_variance(vt_src, xs, ys)[0]
        per_pixel = float(np.sum(a * a * vpix))
        assert 0.75 * prop["var"] < per_pixel < 0.92 * prop["var"]


def test_estimator_weights_reproduce_the_fitted_flux():
    rng = np.random.default_rng(3)
    psf = gauss_pix((21, 21), 10.2, 9.7, 1.3)
    img = 500.0 * gauss_pix((40, 40), 20.2, 19.7, 1.3) + rng.normal(0, 1.0, (40, 40))
    var = np.ones((40, 40))
    r = forced_psf_photometry(img, var, psf, 20.2, 19.7, fit_shape=5, psf_at_position=True)
    a = estimator_weights(psf, var, 20.2, 19.7, fit_shape=5, psf_at_position=True)
    assert float(np.sum(a * img)) == pytest.approx(r["flux"], rel=1e-6)
    assert float(np.sqrt(np.sum(a * a * var))) == pytest.approx(r["flux_err"], rel=1e-6)
    with pytest.raises(ValueError, match="not fully inside"):
        estimator_weights(psf, var, 1.0, 20.0, fit_shape=5)


def test_chi2_error_scale():
    assert chi2_error_scale(4.0) == 2.0
    assert chi2_error_scale(0.5) == 1.0
    assert chi2_error_scale(float("nan")) == 1.0
