"""Tests of romandia.decorrelate: the filter, its application to images and stamps, and the
variance of the decorrelated difference (pure-noise whiteness test)."""

import galsim
import numpy as np
import pytest

from romandia.convolve import embed_kernel, fft_convolve
from romandia.decorrelate import (
    apply_filter,
    decorrelate_kernel,
    decorrelation_filter,
    decorrelation_grid,
    decorrelation_kernel,
    difference_variance,
)

N = 256
BORDER = 40


def psf(sigma, e1=0.0, e2=0.0, size=25):
    return galsim.Gaussian(sigma=sigma).shear(e1=e1, e2=e2).drawImage(
        nx=size, ny=size, scale=1.0).array.astype(float)


@pytest.fixture(scope="module")
def setup():
    """Roman-like (near-critically sampled) PSFs and a matching kernel like the ones SFFT
    fits after cross-convolution (19x19, flux scale 1.25, nearly a δ with a slight
    broadening/offset and small noise in its wings)."""
    rng = np.random.default_rng(11)
    p_s = psf(0.95, 0.06, -0.04)  # science PSF (science frame)
    p_t = psf(0.75, -0.05, 0.07)  # template PSF rotated into the science frame
    k = np.zeros((19, 19))
    k[9, 9] = 0.94
    k[9, 10], k[9, 8], k[10, 9], k[8, 9] = 0.025, 0.01, 0.015, 0.01
    k *= 1.25
    k += rng.normal(0, 0.002, k.shape)
    return {"p_s": p_s, "p_t": p_t, "k": k}


def _noise_difference(rng, p_s, p_t, k, var_s, sigma_t):
    s = rng.normal(size=var_s.shape) * np.sqrt(var_s)
    t = rng.normal(size=var_s.shape) * sigma_t
    ct = fft_convolve(s, p_t, normalize=True)
    co = fft_convolve(t, p_s, normalize=True)
    return ct - fft_convolve(co, k)


def _lag_corr(img, dy, dx):
    a = img[: img.shape[0] - dy, : img.shape[1] - dx] if dy >= 0 else None
    b = img[dy:, dx:]
    a = a - a.mean()
    b = b - b.mean()
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def _decorrelate(diff, p_s, p_t, sig_s, sig_t, k):
    grid = decorrelation_grid(p_s, p_t, k)
    phi_small = decorrelation_filter(grid, p_s, p_t, sig_s, sig_t, match_kernel=k)
    fshape = (N + grid[0] // 2,) * 2
    phi = decorrelation_filter(fshape, p_s, p_t, sig_s, sig_t, match_kernel=k)
    return apply_filter(diff, phi, fshape), phi_small, grid


def test_filter_basic_properties(setup):
    p_s, p_t, k = setup["p_s"], setup["p_t"], setup["k"]
    phi = decorrelation_filter((64, 64), p_s, p_t, 8.0, 5.0, match_kernel=k)
    assert phi.shape == (64, 33)
    assert phi[0, 0] == pytest.approx(1.0)
    assert np.all(phi > 0) and np.all(np.isfinite(phi))
    # no template noise: phi = |P_T'(0)| / |P_T'(k)|, i.e. phi * |P_T'| is constant
    phi0 = decorrelation_filter((64, 64), p_s, p_t, 8.0, 0.0)
    fpt = np.abs(np.fft.rfft2(embed_kernel(p_t / p_t.sum(), (64, 64))))
    np.testing.assert_allclose(phi0 * fpt, 1.0, rtol=1e-10)


def test_pure_noise_difference_is_white_with_unit_pull(setup):
    """256² pure-noise pair, different PSFs and noise levels (science variance varying
    across the frame), matching kernel with flux scale 1.25: after decorrelation the
    noise is white (|autocorrelation| < 0.02 at lags ≠ 0) and DIFF/√VAR has σ = 1 ± 5 %."""
    p_s, p_t, k = setup["p_s"], setup["p_t"], setup["k"]
    rng = np.random.default_rng(3)
    xx = np.arange(N)[None, :] * np.ones((N, 1))
    var_s = 49.0 + 30.0 * xx / N  # science: sky + a gradient [counts²]
    sig_t = 5.0  # template (deeper)
    sig_s = float(np.sqrt(np.median(var_s)))
    diff = _noise_difference(rng, p_s, p_t, k, var_s, sig_t)
    # without decorrelation the noise is strongly correlated
    core = (slice(BORDER, N - BORDER),) * 2
    assert _lag_corr(diff[core], 0, 1) > 0.3
    dec, phi_small, grid = _decorrelate(diff, p_s, p_t, sig_s, sig_t, k)
    var = difference_variance(var_s, np.full((N, N), sig_t**2), p_s, p_t, phi_small, grid,
                              match_kernel=k)
    d = dec[core]
    for dy, dx in [(0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (2, 2), (0, 3)]:
        assert abs(_lag_corr(d, dy, dx)) < 0.02, (dy, dx)
    z = (dec / np.sqrt(var))[core]
    assert np.std(z) == pytest.approx(1.0, abs=0.05)
    # the variance image follows the science-variance gradient
    assert var[N // 2, N - BORDER] > var[N // 2, BORDER]


def test_ignoring_the_matching_kernel_mispredicts_the_noise(setup):
    """With a flux scale of 1.25 and a template as noisy as the science image, phrosty's
    default (K = δ in the filter and the variance) leaves the noise correlated and
    under-predicts it; including K whitens it and predicts it."""
    p_s, p_t, k = setup["p_s"], setup["p_t"], setup["k"]
    rng = np.random.default_rng(4)
    var_s = np.full((N, N), 64.0)
    sig_t = 8.0
    diff = _noise_difference(rng, p_s, p_t, k, var_s, sig_t)
    core = (slice(BORDER, N - BORDER),) * 2
    res = {}
    for label, kk in (("with_k", k), ("phrosty", None)):
        dec, phi_small, grid = _decorrelate(diff, p_s, p_t, 8.0, sig_t, kk)
        var = difference_variance(var_s, np.full((N, N), sig_t**2), p_s, p_t, phi_small, grid,
                                  match_kernel=kk)
        res[label] = (np.std((dec / np.sqrt(var))[core]), _lag_corr(dec[core], 0, 1))
    assert res["with_k"][0] == pytest.approx(1.0, abs=0.015)
    assert abs(res["with_k"][1]) < 0.02
    assert res["phrosty"][0] > 1.025
    assert res["phrosty"][1] > 0.03


def test_difference_variance_of_constant_maps_is_d0(setup):
    p_s, p_t, k = setup["p_s"], setup["p_t"], setup["k"]
    grid = decorrelation_grid(p_s, p_t, k)
    phi = decorrelation_filter(grid, p_s, p_t, 8.0, 5.0, match_kernel=k)
    var = difference_variance(np.full((96, 96), 64.0), np.full((96, 96), 25.0), p_s, p_t,
                              phi, grid, match_kernel=k)
    d0 = 64.0 + 25.0 * k.sum() ** 2
    np.testing.assert_allclose(var[40:56, 40:56], d0, rtol=1e-6)


def test_decorrelate_kernel_keeps_flux_and_matches_image_filtering(setup):
    p_s, p_t, k = setup["p_s"], setup["p_t"], setup["k"]
    grid = decorrelation_grid(p_s, p_t, k)
    phi = decorrelation_filter(grid, p_s, p_t, 8.0, 5.0, match_kernel=k)
    common = fft_convolve(np.pad(p_s, 12), p_t, normalize=True)  # 49x49 common PSF
    dec, k_phi = decorrelate_kernel(common, phi, grid)
    assert dec.shape == common.shape
    assert dec.sum() == pytest.approx(common.sum(), abs=1e-3)
    assert k_phi.shape[0] % 2 == 1 and k_phi.sum() == pytest.approx(1.0, abs=1e-3)
    # a point source in an image filtered with the full-frame filter has the same profile
    img = np.zeros((128, 128))
    img[64 - 24 : 64 + 25, 64 - 24 : 64 + 25] = common
    fshape = (128 + grid[0] // 2,) * 2
    phi_frame = decorrelation_filter(fshape, p_s, p_t, 8.0, 5.0, match_kernel=k)
    out = apply_filter(img, phi_frame, fshape)
    np.testing.assert_allclose(out[64 - 24 : 64 + 25, 64 - 24 : 64 + 25], dec, atol=1e-6)
    # the cropped real-space kernel reproduces it to ~1e-3 of the peak
    approx = fft_convolve(img, k_phi)[64 - 24 : 64 + 25, 64 - 24 : 64 + 25]
    assert np.max(np.abs(approx - dec)) < 2e-3 * dec.max()


def test_decorrelation_kernel_crop(setup):
    p_s, p_t, k = setup["p_s"], setup["p_t"], setup["k"]
    grid = decorrelation_grid(p_s, p_t, k)
    phi = decorrelation_filter(grid, p_s, p_t, 8.0, 5.0, match_kernel=k)
    full = np.roll(np.fft.irfft2(phi, s=grid), (grid[0] // 2, grid[1] // 2), axis=(0, 1))
    kk = decorrelation_kernel(phi, grid, power_fraction=0.999)
    assert np.sum(kk**2) >= 0.999 * np.sum(full**2)
    small = decorrelation_kernel(phi, grid, max_size=5)
    assert small.shape == (5, 5)


def test_apply_filter_circular_default():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(32, 32))
    phi = np.ones((32, 17))
    np.testing.assert_allclose(apply_filter(img, phi), img, atol=1e-12)
    with pytest.raises(ValueError):
        apply_filter(img, np.ones((30, 16)))
