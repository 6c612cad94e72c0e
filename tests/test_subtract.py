"""Tests of romandia.subtract: cross-convolution, the sfft wrapper (orientation, tiling,
errors) and the whole per-pair flow on a synthetic Roman pair."""

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "2")
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..",
                                                      ".numba_cache"))


import galsim  # noqa: E402
import galsim.roman  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _roman import FIELD, roman_wcs  # noqa: E402
from scipy.ndimage import binary_erosion  # noqa: E402

from romandia.convolve import embed_kernel  # noqa: E402
from romandia.errors import DataError  # noqa: E402
from romandia.resample import (  # noqa: E402
    local_jacobian,
    pixel_map,
    resample_image_set,
    rotate_psf,
)
from romandia.subtract import (  # noqa: E402
    DEFAULT_PARAMS,
    PairDifference,
    cross_convolve,
    difference_pair,
    match_kernel_at,
    plan_tiles,
    sfft_solve_subtract,
)

N = 256  # every SFFT call here uses 256x256 tiles, w=9, DK=2, DB=0: one numba compile


# --------------------------------------------------------------------------- helpers


def draw(shape, xs, ys, fluxes, profile):
    img = galsim.ImageD(shape[1], shape[0], scale=1.0)
    for x, y, f in zip(xs, ys, fluxes, strict=True):
        st = profile.withFlux(float(f)).drawImage(
            nx=31, ny=31, scale=1.0, center=galsim.PositionD(x + 1.0, y + 1.0))
        b = st.bounds & img.bounds
        if b.isDefined():
            img[b] += st[b]
    return img.array


def stamp(profile, size=25):
    return profile.drawImage(nx=size, ny=size, scale=1.0).array.astype(float)


def moments(img, x, y, h=10):
    ix, iy = int(round(x)), int(round(y))
    st = img[iy - h : iy + h + 1, ix - h : ix + h + 1]
    yy, xx = np.mgrid[iy - h : iy + h + 1, ix - h : ix + h + 1].astype(float)
    f = st.sum()
    mx, my = (st * xx).sum() / f, (st * yy).sum() / f
    dx, dy = xx - mx, yy - my
    return np.array([(st * dx * dx).sum(), (st * dy * dy).sum(), (st * dx * dy).sum()]) / f


def make_pair(seed=5, scale=1.25, transient=3000.0, tmpl_offset=(0, 0), stars=None,
              sig_s=0.95, sig_t=0.75, sky_s=8.0, sky_t=5.0, noise=True):
    """Science 256² cutout of SCA 11 (PA 55°, dithered) and a 384² template cutout of
    SCA 3 (PA 20°); Roman-like Gaussian PSFs (elliptical, different in each image);
    science fluxes = ``scale`` × template; one transient at a pixel centre."""
    rng = np.random.default_rng(seed)
    m = 384
    wt_full = roman_wcs(FIELD, 20.0, 3)
    ws_full = roman_wcs(FIELD.deproject(30 * galsim.arcsec, -20 * galsim.arcsec), 55.0, 11)
    xs0, ys0 = ws_full.all_world2pix(FIELD.ra.deg, FIELD.dec.deg, 0)
    xt0, yt0 = wt_full.all_world2pix(FIELD.ra.deg, FIELD.dec.deg, 0)
    sy, sx = int(ys0) - N // 2, int(xs0) - N // 2
    ty, tx = int(yt0) - m // 2 + tmpl_offset[0], int(xt0) - m // 2 + tmpl_offset[1]
    ws, wt = ws_full[sy : sy + N, sx : sx + N], wt_full[ty : ty + m, tx : tx + m]
    if stars is None:
        n = 150
        px, py = rng.uniform(-10, N + 10, n), rng.uniform(-10, N + 10, n)
        flux = 10 ** rng.uniform(2.5, 4.7, n)
    else:
        px, py, flux = stars
    ra, dec = ws.all_pix2world(px, py, 0)
    txs, tys = wt.all_world2pix(ra, dec, 0)
    prof_s = galsim.Gaussian(sigma=sig_s).shear(e1=0.05, e2=-0.03)
    prof_t = galsim.Gaussian(sigma=sig_t).shear(e1=-0.04, e2=0.06)
    sci_m = draw((N, N), px, py, scale * np.asarray(flux), prof_s)
    tr = (N // 2 + 17.0, N // 2 - 23.0)
    if transient:
        sci_m += draw((N, N), [tr[0]], [tr[1]], [transient], prof_s)
    tmpl_m = draw((m, m), txs, tys, flux, prof_t)
    var_s, var_t = sky_s**2 + sci_m, sky_t**2 + tmpl_m
    f = 1.0 if noise else 0.0
    sci = sci_m + f * rng.normal(size=sci_m.shape) * np.sqrt(var_s)
    tmpl = tmpl_m + f * rng.normal(size=tmpl_m.shape) * np.sqrt(var_t)
    return {
        "ws": ws, "wt": wt, "m": m, "sci": sci, "var_s": var_s, "det_s": sci_m > 2 * sky_s,
        "psf_s": stamp(prof_s), "tmpl": tmpl, "var_t": var_t, "det_t": tmpl_m > 2 * sky_t,
        "psf_t": stamp(prof_t), "sky_s": sky_s, "sky_t": sky_t, "transient": (*tr, transient),
        "sci_m": sci_m, "px": px, "py": py,
    }


def align(d, kernel="lanczos3"):
    xs, ys = pixel_map(d["ws"], (N, N), d["wt"], shape_source=(d["m"], d["m"]))
    r = resample_image_set(d["tmpl"], xs, ys, var=d["var_t"], mask=d["det_t"], kernel=kernel)
    xc = yc = (N - 1) / 2
    ra, dec = d["ws"].all_pix2world(xc, yc, 0)
    xt, yt = d["wt"].all_world2pix(ra, dec, 0)
    psf_rot = rotate_psf(d["psf_t"], local_jacobian(d["wt"], float(xt), float(yt)),
                         local_jacobian(d["ws"], xc, yc))
    return r, psf_rot


def run_pair(d, params=None):
    r, psf_rot = align(d)
    return difference_pair(d["sci"], d["var_s"], d["det_s"], d["psf_s"], d["sky_s"], r["image"],
                           r["var"], r["mask"], r["blank"], psf_rot, d["sky_t"], params)


# --------------------------------------------------------------------------- cross-convolution


def test_cross_convolved_images_share_one_psf():
    """Isolated stars in Ct = S ⊗ P_T′ and Co = T′ ⊗ P_S (template resampled from another
    SCA/PA) have the same second moments to < 1 %, equal to those of P_S ⊗ P_T′."""
    g = np.arange(30, N - 29, 40.0)
    px, py = (a.ravel() + 0.37 for a in np.meshgrid(g, g))
    d = make_pair(stars=(px, py, np.full(px.size, 1e4)), transient=0, noise=False,
                  sig_s=1.1, sig_t=0.8)
    r, psf_rot = align(d)
    ct, co, psf_common = cross_convolve(d["sci"], r["image"], d["psf_s"], psf_rot)
    assert psf_common.shape == (49, 49)
    assert psf_common.sum() == pytest.approx(d["psf_s"].sum(), rel=1e-6)
    c = psf_common.shape[0] // 2
    m_psf = moments(psf_common, c, c)
    for x, y in zip(px, py, strict=True):
        m_ct, m_co = moments(ct, x, y), moments(co, x, y)
        scale = m_ct[0] + m_ct[1]
        assert np.max(np.abs(m_ct - m_co)) < 0.01 * scale
        assert np.max(np.abs(m_ct - m_psf)) < 0.01 * scale
    # without cross-convolution the PSFs differ by far more than 1 %
    m_s, m_t = moments(d["sci"], px[0], py[0]), moments(r["image"], px[0], py[0])
    assert np.max(np.abs(m_s - m_t)) > 0.2 * (m_s[0] + m_s[1])


# --------------------------------------------------------------------------- sfft wrapper


def test_plan_tiles_identical_shapes_and_partition():
    tiles = plan_tiles((1000, 700), max_pixels=300_000, margin=40)
    shapes = {(b[1] - b[0], b[3] - b[2]) for b, _ in tiles}
    assert len(shapes) == 1
    th, tw = shapes.pop()
    assert th * tw <= 300_000
    cover = np.zeros((1000, 700), int)
    for box, core in tiles:
        cover[core[0] : core[1], core[2] : core[3]] += 1
        assert box[0] <= core[0] and core[1] <= box[1] and box[2] <= core[2] and core[3] <= box[3]
        # margin on every side that is not a frame edge
        assert core[0] == 0 or core[0] - box[0] >= 40
        assert core[1] == 1000 or box[1] - core[1] >= 40
    assert (cover == 1).all()
    assert plan_tiles((256, 256), 10**6, 38) == [((0, 256, 0, 256), (0, 256, 0, 256))]


def _kernel_pair(shape, seed=0):
    """White-noise REF and SCI = REF ⊛ K_true + noise (K: flux 1.25, asymmetric), with a
    circular convolution like sfft's model (no edge mismatch)."""
    rng = np.random.default_rng(seed)
    ref = rng.normal(0, 10, shape)
    k_true = np.zeros((19, 19))
    k_true[9, 11] = 1.0  # +2 px in x
    k_true[10, 9] = 0.25  # +1 px in y
    sci = np.fft.irfft2(np.fft.rfft2(ref) * np.fft.rfft2(embed_kernel(k_true, shape)), s=shape)
    return ref, sci + rng.normal(0, 0.5, shape), k_true


def test_sfft_kernel_orientation_and_flux_scale():
    """The [y, x] match kernel is a convolution kernel: REF ⊗ K (fft_convolve) ≈ SCI."""
    ref, sci, k_true = _kernel_pair((N, N))
    diff, sol, k = sfft_solve_subtract(ref, sci, ref, sci, kernel_half_width=9,
                                       kernel_poly_order=2, bg_poly_order=0)
    assert k.shape == (19, 19)
    assert np.max(np.abs(k - k_true)) < 0.02
    assert k.sum() == pytest.approx(1.25, rel=2e-3)
    assert np.std(diff) < 0.6  # the added noise is 0.5
    # romandia's application of the solution reproduces sfft's own subtraction pass, and
    # its in-place FFTs (scipy, _in_place_fft2) solve the same system as sfft's pyfftw ones
    diff_sfft, sol_sfft, _ = sfft_solve_subtract(ref, sci, ref, sci, apply_with="sfft")
    np.testing.assert_allclose(sol["coeffs"][0], sol_sfft["coeffs"][0], rtol=1e-8, atol=1e-7)
    np.testing.assert_allclose(diff, diff_sfft, rtol=0, atol=1e-7)
    assert len(sol["coeffs"]) == 1
    import numba

    assert callable(numba.set_num_threads)  # sfft's clobbering is undone


def test_sfft_tiled_frame_is_stitched():
    """256×384 frame in two identical 256² tiles (margin 32): both tiles recover K."""
    ref, sci, k_true = _kernel_pair((N, 384), seed=1)
    diff, sol, k = sfft_solve_subtract(ref, sci, ref, sci, tile=(1, 2), margin=32)
    assert [b for b, _ in sol["tiles"]] == [(0, 256, 0, 256), (0, 256, 128, 384)]
    # tile edges inside the frame do not follow sfft's circular model: the wrapped REF at
    # a tile edge is unrelated to SCI there, which dilutes the kernel by ~1.5 % on white
    # noise (every pixel is signal); on sparse star fields the effect is far smaller
    assert np.max(np.abs(k - k_true)) < 0.03
    assert k.sum() == pytest.approx(1.25, rel=0.02)
    k_right = match_kernel_at(sol, 100.0, 330.0)
    assert np.max(np.abs(k_right - k_true)) < 0.03
    assert np.std(diff[20:-20, 20:-20]) < 1.0


def test_sfft_errors_are_data_errors():
    z = np.zeros((N, N))
    r = np.random.default_rng(0).normal(size=(N, N))
    with pytest.raises(DataError) as exc:
        sfft_solve_subtract(r, r, z, z)  # no fit pixels
    assert exc.value.stage == "subtract"
    with pytest.raises(DataError, match="singular"):
        sfft_solve_subtract(r, r, z, z, min_fit_pixels=0)
    with pytest.raises(ValueError):
        sfft_solve_subtract(r, r * np.nan, r, r)


# --------------------------------------------------------------------------- per-pair flow


@pytest.fixture(scope="module")
def pair_result():
    d = make_pair()
    return d, run_pair(d)


def test_difference_pair_recovers_flux_scale_and_transient(pair_result):
    d, out = pair_result
    assert isinstance(out, PairDifference)
    assert out.diff.shape == out.var.shape == out.zptimg.shape == (N, N)
    assert out.psf.shape == d["psf_s"].shape
    assert out.match_kernel.shape == (19, 19)
    assert out.flux_scale == pytest.approx(1.25, rel=0.01)
    assert out.psf.sum() == pytest.approx(d["psf_s"].sum(), abs=2e-3)
    # forced PSF photometry of the transient (at a pixel centre) on the difference
    x, y, f_true = d["transient"]
    h = out.psf.shape[0] // 2
    sl = (slice(int(y) - h, int(y) + h + 1), slice(int(x) - h, int(x) + h + 1))
    p, v = out.psf, out.var[sl]
    flux = np.sum(p * out.diff[sl] / v) / np.sum(p * p / v)
    err = 1.0 / np.sqrt(np.sum(p * p / v))
    assert abs(flux - f_true) < max(4 * err, 0.05 * f_true)
    # the same PSF fits the stars of the decorrelated cross-convolved science image
    assert out.zptimg[sl].sum() > 0.9 * f_true


def test_difference_pair_noise_is_predicted(pair_result):
    d, out = pair_result
    far = binary_erosion(d["sci_m"] < 0.05 * d["sky_s"], iterations=6) & ~out.blank
    far[:30], far[-30:], far[:, :30], far[:, -30:] = False, False, False, False
    z = (out.diff / np.sqrt(out.var))[far]
    assert z.size > 10000
    assert np.std(z) == pytest.approx(1.0, abs=0.05)
    assert abs(np.mean(z)) < 0.05


def test_difference_pair_blank_region_is_nan():
    """Template shifted so that it misses part of the science frame: those pixels (grown
    by the kernels) are NaN in diff and var, the rest is finite."""
    d = make_pair(tmpl_offset=(90, 110))
    out = run_pair(d, {"threads": 1})
    blank = out.blank
    assert 0.02 < blank.mean() < 0.5
    assert np.isnan(out.diff[blank]).all() and np.isnan(out.var[blank]).all()
    assert np.isfinite(out.diff[~blank]).all() and np.isfinite(out.var[~blank]).all()
    assert np.isfinite(out.zptimg).all()  # the science image itself is complete
    assert out.flux_scale == pytest.approx(1.25, rel=0.01)


def test_difference_pair_without_overlap_raises():
    d = make_pair(transient=0)
    far = roman_wcs(FIELD.deproject(0.0 * galsim.arcsec, 3600 * galsim.arcsec), 20.0, 3)
    with pytest.raises(DataError) as exc:
        pixel_map(d["ws"], (N, N), far, shape_source=(4088, 4088))
    assert exc.value.stage == "align"
    r, psf_rot = align(d)
    with pytest.raises(DataError) as exc:
        difference_pair(d["sci"], d["var_s"], d["det_s"], d["psf_s"], d["sky_s"], r["image"],
                        r["var"], r["mask"], np.ones((N, N), bool), psf_rot, d["sky_t"])
    assert exc.value.stage == "subtract"


def test_difference_pair_rejects_unknown_params():
    with pytest.raises(ValueError, match="unknown"):
        difference_pair(*([np.zeros((4, 4))] * 3), np.ones((3, 3)), 1.0,
                        *([np.zeros((4, 4))] * 4), np.ones((3, 3)), 1.0, {"kernel_hw": 3})
    assert DEFAULT_PARAMS["kernel_half_width"] == 9


def test_calibrated_flux_scale_removes_host_residual():
    """With the flux ratio known from the zeropoints (here 1.25), the kernel is rescaled to it
    and the residual of the bright sources is smaller than with a deliberately wrong ratio."""
    d = make_pair(seed=11, transient=0.0)
    r, psf_rot = align(d)
    args = (d["sci"], d["var_s"], d["det_s"], d["psf_s"], d["sky_s"], r["image"], r["var"],
            r["mask"], r["blank"], psf_rot, d["sky_t"])
    fitted = difference_pair(*args)
    fixed = difference_pair(*args, params={"flux_scale": 1.25})
    wrong = difference_pair(*args, params={"flux_scale": 1.25 * 1.03})
    assert fixed.flux_scale == pytest.approx(1.25, rel=1e-9)
    assert fixed.match_kernel.sum() == pytest.approx(1.25, rel=1e-9)
    assert fixed.fitted_flux_scale == pytest.approx(fitted.flux_scale, rel=1e-12)
    src = (d["sci_m"] > 20 * d["sky_s"]) & ~fixed.blank
    src[:30], src[-30:], src[:, :30], src[:, -30:] = False, False, False, False
    assert src.sum() > 200
    z_fixed = (fixed.diff / np.sqrt(fixed.var))[src]
    z_wrong = (wrong.diff / np.sqrt(wrong.var))[src]
    # excess variance on the sources: a 3 % ratio error leaves 3 % of each star
    assert np.mean(z_fixed**2) - 1 < 0.5 * (np.mean(z_wrong**2) - 1)
    assert np.sqrt(np.mean(z_fixed**2)) < 1.15
    with pytest.raises(ValueError, match="flux_scale"):
        difference_pair(*args, params={"flux_scale": -1.0})


def test_numpy_without_in1d_gets_isin_for_sfft(monkeypatch):
    """numpy >= 2.4 removed np.in1d, which sfft 1.7.3 calls; sfft_solve provides it (the GPU
    machine has numpy 2.5)."""
    from romandia import sfft_solve

    monkeypatch.delattr(np, "in1d", raising=False)
    sfft_solve._numpy_compat()
    a, b = np.array([[1, 2], [3, 2]]), [2, 3]
    np.testing.assert_array_equal(np.in1d(a, b), np.isin(a.ravel(), b))
    np.testing.assert_array_equal(np.in1d(a, b, invert=True), ~np.isin(a.ravel(), b))


def test_decorrelation_is_made_without_the_template_psfs_resampling_blur():
    """``template_psf: resampled``: the cross-convolution takes the template PSF with the
    resampling's blur; the decorrelation filter is made with the PSF without it
    (``tmpl_psf_noise``), since that blur is in the noise too and whitening it divides by it.
    The default (None) is the cross-convolution's PSF, unchanged; the blur-free filter boosts
    the high frequencies less, so its kernel is more compact."""
    d = make_pair(sig_t=0.55)  # an undersampled template, where the blur matters
    r, psf_rot = align(d)
    xc = yc = (N - 1) / 2
    ra, dec = d["ws"].all_pix2world(xc, yc, 0)
    xt, yt = d["wt"].all_world2pix(ra, dec, 0)
    jt, js = local_jacobian(d["wt"], float(xt), float(yt)), local_jacobian(d["ws"], xc, yc)
    blurred = rotate_psf(d["psf_t"], jt, js, kernel="lanczos3", offset=(0.5, 0.5))
    args = (d["sci"], d["var_s"], d["det_s"], d["psf_s"], d["sky_s"], r["image"], r["var"], r["mask"], r["blank"],
            blurred, d["sky_t"])
    a = difference_pair(*args)
    b = difference_pair(*args, tmpl_psf_noise=blurred)
    c = difference_pair(*args, tmpl_psf_noise=psf_rot)
    np.testing.assert_array_equal(a.diff, b.diff)

    def outer(k):
        k = np.asarray(k) / np.abs(k).sum()
        h = k.shape[0] // 2
        inner = np.abs(k[h - 2:h + 3, h - 2:h + 3]).sum()
        return 1.0 - inner

    assert outer(c.decorr_kernel) < outer(a.decorr_kernel), (outer(c.decorr_kernel), outer(a.decorr_kernel))
    assert np.isfinite(c.psf).all() and c.psf.sum() == pytest.approx(a.psf.sum(), rel=0.05)
    assert not np.allclose(c.diff[np.isfinite(c.diff)], a.diff[np.isfinite(a.diff)])
