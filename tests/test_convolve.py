"""Tests of romandia.convolve and romandia.xp."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from romandia import xp as xpmod
from romandia.convolve import (
    embed_kernel,
    extract_kernel,
    fft_convolve,
    kernel_convolve,
    resize_kernel,
)


@pytest.fixture
def rng():
    return np.random.default_rng(42)


def test_fft_convolve_matches_scipy_same(rng):
    img = rng.normal(size=(37, 52))
    ker = rng.normal(size=(7, 11))
    ref = fftconvolve(img, ker, mode="same")
    out = fft_convolve(img, ker)
    assert out.shape == img.shape
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_fft_convolve_orientation_shift():
    """A kernel with its only non-zero pixel at (+1 y, +2 x) moves the image by (+1, +2)."""
    img = np.zeros((20, 20))
    img[5, 7] = 1.0
    ker = np.zeros((5, 5))
    ker[2 + 1, 2 + 2] = 1.0
    out = fft_convolve(img, ker)
    assert np.unravel_index(np.argmax(out), out.shape) == (6, 9)


def test_fft_convolve_normalize(rng):
    img = rng.normal(size=(16, 16))
    ker = rng.uniform(size=(5, 5))
    np.testing.assert_allclose(
        fft_convolve(img, ker, normalize=True), fft_convolve(img, ker / ker.sum()), atol=1e-12
    )


def test_fft_convolve_kernel_larger_than_image(rng):
    img = rng.normal(size=(6, 8))
    ker = rng.normal(size=(11, 13))
    np.testing.assert_allclose(fft_convolve(img, ker), fftconvolve(img, ker, mode="same"),
                               atol=1e-10)


def test_even_kernel_rejected():
    with pytest.raises(ValueError):
        fft_convolve(np.zeros((8, 8)), np.ones((4, 3)))


def test_embed_extract_roundtrip(rng):
    k = rng.normal(size=(7, 5))
    emb = embed_kernel(k, (16, 12))
    assert emb[0, 0] == k[3, 2]
    assert emb[-1, -1] == k[2, 1]
    np.testing.assert_array_equal(extract_kernel(emb, (7, 5)), k)


def test_circular_convolution_with_embedded_kernel(rng):
    img = rng.normal(size=(32, 32))
    k = rng.normal(size=(5, 5))
    circ = np.fft.irfft2(np.fft.rfft2(img) * np.fft.rfft2(embed_kernel(k, img.shape)), s=img.shape)
    lin = fft_convolve(img, k)
    np.testing.assert_allclose(circ[3:-3, 3:-3], lin[3:-3, 3:-3], atol=1e-10)


def test_kernel_convolve_full_and_crop(rng):
    k1 = rng.uniform(size=(5, 5))
    k2 = rng.uniform(size=(9, 7))
    full = kernel_convolve(k1, k2)
    np.testing.assert_allclose(full, fftconvolve(k1, k2, mode="full"), atol=1e-12)
    assert full.shape == (13, 11)
    np.testing.assert_allclose(full.sum(), k1.sum() * k2.sum())
    crop = kernel_convolve(k1, k2, out_size=5)
    np.testing.assert_array_equal(crop, full[4:9, 3:8])


def test_resize_kernel_pad_and_crop(rng):
    k = rng.normal(size=(5, 5))
    big = resize_kernel(k, 9)
    assert big.shape == (9, 9) and big[4, 4] == k[2, 2] and big.sum() == pytest.approx(k.sum())
    np.testing.assert_array_equal(resize_kernel(big, 5), k)


def test_xp_namespace_numpy():
    a = np.zeros(3)
    assert xpmod.get_namespace(a, None, 1.0) is np
    assert xpmod.to_numpy(a) is a
    assert isinstance(xpmod.asarray([1, 2], np), np.ndarray)
    assert not xpmod.is_cupy(np)


@pytest.mark.gpu
def test_fft_convolve_cupy_matches_numpy(rng):
    cp = pytest.importorskip("cupy")
    img = rng.normal(size=(40, 30))
    ker = rng.uniform(size=(7, 7))
    out = fft_convolve(cp.asarray(img), cp.asarray(ker))
    assert xpmod.get_namespace(out) is cp
    np.testing.assert_allclose(xpmod.to_numpy(out), fft_convolve(img, ker), atol=1e-10)


def test_backend_selection_on_a_machine_without_gpu():
    import numpy as np

    from romandia.xp import nvtx_range, select_backend

    assert select_backend("cpu") is np
    try:
        import cupy  # noqa: F401

        has_cupy = True
    except ImportError:
        has_cupy = False
    if not has_cupy:
        assert select_backend("auto") is np
        with pytest.raises(RuntimeError, match="backend 'gpu' needs CuPy"):
            select_backend("gpu")
    with pytest.raises(ValueError, match="unknown backend"):
        select_backend("tpu")
    with nvtx_range("stage"):
        pass
