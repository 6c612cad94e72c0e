"""Tests of romandia.resample: pixel maps on real Roman SIP WCSs, Lanczos/bilinear
resampling (alignment, flux, variance, masks, blanks) and PSF rotation."""


import galsim
import galsim.roman
import numpy as np
import pytest
from _roman import FIELD, roman_wcs  # noqa: E402
from astropy.wcs import WCS

from romandia.errors import DataError
from romandia.resample import (
    local_jacobian,
    pixel_area_ratio,
    pixel_map,
    resample,
    resample_image_set,
    resample_mask,
    resample_variance,
    rotate_psf,
)

# --------------------------------------------------------------------------- helpers


def cutout(wcs, x, y, size):
    """Cutout WCS of ``size`` px centred near 0-based (x, y) (CRPIX shifted by astropy)."""
    y0, x0 = int(y) - size // 2, int(x) - size // 2
    w = wcs[y0 : y0 + size, x0 : x0 + size]
    w.pixel_shape = (size, size)
    return w


@pytest.fixture(scope="module")
def roman_pair():
    """Science: SCA 11, PA 55°, dithered by (30", -20"); template: SCA 3, PA 20°."""
    wt = roman_wcs(FIELD, 20.0, 3)
    ws = roman_wcs(FIELD.deproject(30 * galsim.arcsec, -20 * galsim.arcsec), 55.0, 11)
    xs0, ys0 = ws.all_world2pix(FIELD.ra.deg, FIELD.dec.deg, 0)
    xt0, yt0 = wt.all_world2pix(FIELD.ra.deg, FIELD.dec.deg, 0)
    return {
        "ws_full": ws,
        "wt_full": wt,
        "ws": cutout(ws, xs0, ys0, 256),
        "wt": cutout(wt, xt0, yt0, 400),
    }


def tan_wcs(crval, scale_arcsec, rot_deg, crpix, size):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = crpix
    s = scale_arcsec / 3600.0
    c, sn = np.cos(np.deg2rad(rot_deg)), np.sin(np.deg2rad(rot_deg))
    w.wcs.cd = np.array([[-s * c, s * sn], [s * sn, s * c]])
    w.pixel_shape = (size, size)
    return w


def draw_stars(shape, xs, ys, flux, profile):
    """Pixel-integrated galsim profiles at 0-based (xs, ys)."""
    img = galsim.ImageD(shape[1], shape[0], scale=1.0)
    for x, y, f in zip(xs, ys, np.broadcast_to(flux, np.shape(xs)), strict=True):
        st = profile.withFlux(float(f)).drawImage(
            nx=31, ny=31, scale=1.0, center=galsim.PositionD(x + 1.0, y + 1.0)
        )
        b = st.bounds & img.bounds
        if b.isDefined():
            img[b] += st[b]
    return img.array


def centroids(img, xs, ys, h=9):
    out = []
    for x, y in zip(xs, ys, strict=True):
        ix, iy = int(round(x)), int(round(y))
        st = img[iy - h : iy + h + 1, ix - h : ix + h + 1]
        yy, xx = np.mgrid[iy - h : iy + h + 1, ix - h : ix + h + 1]
        out.append((np.sum(st * xx) / st.sum(), np.sum(st * yy) / st.sum(), st.sum()))
    return np.array(out)


def moments(stamp):
    n = stamp.shape[0]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    f = stamp.sum()
    mx, my = (stamp * xx).sum() / f, (stamp * yy).sum() / f
    dx, dy = xx - mx, yy - my
    return np.array([[(stamp * dx * dx).sum(), (stamp * dx * dy).sum()],
                     [(stamp * dx * dy).sum(), (stamp * dy * dy).sum()]]) / f


# --------------------------------------------------------------------------- pixel map


def test_pixel_map_spline_matches_exact_full_sca(roman_pair):
    """Coarse-grid + bicubic spline map over a whole 4088² SCA vs the exact WCS chain."""
    ws, wt = roman_pair["ws_full"], roman_pair["wt_full"]
    xs, ys = pixel_map(ws, (4088, 4088), wt, step=16, shape_source=(4088, 4088))
    rng = np.random.default_rng(0)
    iy, ix = rng.integers(0, 4088, (2, 20000))
    ra, dec = ws.all_pix2world(ix.astype(float), iy.astype(float), 0)
    xe, ye = wt.all_world2pix(ra, dec, 0, tolerance=1e-9, maxiter=50)
    assert np.max(np.abs(xs[iy, ix] - xe)) < 1e-3
    assert np.max(np.abs(ys[iy, ix] - ye)) < 1e-3


def test_pixel_map_cutout_matches_exact(roman_pair):
    ws, wt = roman_pair["ws"], roman_pair["wt"]
    xs, ys = pixel_map(ws, (256, 256), wt)
    xe, ye = pixel_map(ws, (256, 256), wt, step=1)
    assert np.max(np.abs(xs - xe)) < 1e-3 and np.max(np.abs(ys - ye)) < 1e-3
    # cutout CRPIX shift: the cutout map is the full map shifted by the cutout origins
    ra, dec = ws.all_pix2world([10.0], [20.0], 0)
    x_full, y_full = roman_pair["ws_full"].all_world2pix(ra, dec, 0)
    x_cut, y_cut = ws.all_world2pix(ra, dec, 0)
    assert x_full[0] - x_cut[0] == pytest.approx(round(x_full[0] - x_cut[0]), abs=1e-6)
    assert y_full[0] - y_cut[0] == pytest.approx(round(y_full[0] - y_cut[0]), abs=1e-6)


def test_no_overlap_raises_data_error(roman_pair):
    far = roman_wcs(FIELD.deproject(0.0 * galsim.arcsec, 3600 * galsim.arcsec), 20.0, 3)
    with pytest.raises(DataError) as exc:
        pixel_map(roman_pair["ws"], (256, 256), far)
    assert exc.value.stage == "align"
    xs = np.full((8, 8), 500.0)
    with pytest.raises(DataError):
        resample(np.ones((16, 16)), xs, xs)


# --------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("kernel,tol", [("lanczos3", 0.01), ("lanczos4", 0.01), ("bilinear", 0.01)])
def test_alignment_of_sources_on_roman_sip_wcs(roman_pair, kernel, tol):
    """Stars drawn at known sky positions in the template frame (other SCA, PA 35° apart,
    dithered) land at the science-WCS positions after resampling, within 0.01 px."""
    ws, wt = roman_pair["ws"], roman_pair["wt"]
    rng = np.random.default_rng(1)
    g = np.arange(24, 256 - 23, 30.0)
    px, py = (a.ravel() + rng.uniform(-0.5, 0.5, a.size) for a in np.meshgrid(g, g))
    ra, dec = ws.all_pix2world(px, py, 0)
    tx, ty = wt.all_world2pix(ra, dec, 0)
    timg = draw_stars((400, 400), tx, ty, 1000.0, galsim.Gaussian(sigma=1.2))
    xs, ys = pixel_map(ws, (256, 256), wt)
    out, blank = resample(timg, xs, ys, kernel=kernel)
    assert not blank.any()
    c = centroids(out, px, py)
    assert np.max(np.abs(c[:, 0] - px)) < tol
    assert np.max(np.abs(c[:, 1] - py)) < tol
    assert np.allclose(c[:, 2], 1000.0, rtol=2e-3)


def test_conserve_flux_across_plate_scales():
    src = tan_wcs([30.0, 10.0], 0.10, 0.0, [64.5, 64.5], 128)
    tgt = tan_wcs([30.0, 10.0], 0.13, 25.0, [48.5, 48.5], 96)
    ra, dec = tgt.all_pix2world([47.3], [48.6], 0)
    sx, sy = src.all_world2pix(ra, dec, 0)
    img = draw_stars((128, 128), sx, sy, 5000.0, galsim.Gaussian(sigma=2.0))
    xs, ys = pixel_map(tgt, (96, 96), src)
    ratio = pixel_area_ratio(xs, ys)
    assert np.allclose(ratio, (0.13 / 0.10) ** 2, rtol=1e-4)
    out, _ = resample(img, xs, ys)
    assert out.sum() == pytest.approx(5000.0, rel=1e-3)
    out_nc, _ = resample(img, xs, ys, conserve_flux=False)
    assert out_nc.sum() == pytest.approx(5000.0 / 1.69, rel=1e-3)


# --------------------------------------------------------------------------- variance, masks, blanks


def _rotation_map(shape, angle_deg, shift):
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx].astype(float)
    c, s = np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    xs = cx + c * (xx - cx) - s * (yy - cy) + shift[0]
    ys = cy + s * (xx - cx) + c * (yy - cy) + shift[1]
    return xs, ys


@pytest.mark.parametrize("kernel", ["lanczos3", "lanczos5", "bilinear"])
def test_resample_variance_is_exact_for_white_noise(kernel):
    """E[out²] = predicted variance: mean(out² / V_pred) = 1 over a rotated, shifted map."""
    rng = np.random.default_rng(7)
    var = np.full((300, 300), 4.0)
    noise = rng.normal(size=var.shape) * 2.0
    xs, ys = _rotation_map((240, 240), 17.0, (30.3, 29.6))
    out, blank = resample(noise, xs, ys, kernel=kernel)
    vpred, vblank = resample_variance(var, xs, ys, kernel=kernel)
    assert not blank.any() and not vblank.any()
    # Σw² of normalised weights: ≤ 1 for Lanczos-3 and bilinear; Lanczos-5's larger negative
    # lobes take it slightly above 1 at some sub-pixel phases
    assert 0.2 < vpred.min() / 4.0 and vpred.max() / 4.0 <= (1.05 if kernel == "lanczos5" else 1.0 + 1e-9)
    ratio = np.mean(out**2 / vpred)
    assert ratio == pytest.approx(1.0, abs=0.02)
    # a pure sub-pixel shift: every pixel has the same weights -> same variance
    xs2, ys2 = _rotation_map((240, 240), 0.0, (30.5, 30.5))
    out2, _ = resample(noise, xs2, ys2, kernel=kernel)
    v2, _ = resample_variance(var, xs2, ys2, kernel=kernel)
    assert np.ptp(v2) < 1e-9
    assert np.var(out2) == pytest.approx(v2[0, 0], rel=0.03)


def test_resample_image_set_matches_single_calls():
    rng = np.random.default_rng(3)
    img = rng.normal(size=(64, 64))
    var = rng.uniform(1, 2, size=(64, 64))
    mask = rng.uniform(size=(64, 64)) > 0.7
    xs, ys = _rotation_map((48, 48), 10.0, (3.2, -2.7))
    r = resample_image_set(img, xs, ys, var=var, mask=mask)
    np.testing.assert_allclose(r["image"], resample(img, xs, ys)[0], atol=1e-12)
    np.testing.assert_allclose(r["var"], resample_variance(var, xs, ys)[0], atol=1e-12)
    np.testing.assert_allclose(r["mask"], resample_mask(mask, xs, ys), atol=1e-12)


def test_resample_mask_fractional_and_nearest():
    mask = np.zeros((20, 20), dtype=bool)
    mask[:, 10:] = True
    yy, xx = np.mgrid[:20, :20].astype(float)
    cov = resample_mask(mask, xx + 0.5, yy)
    assert cov[5, 9] == pytest.approx(0.5) and cov[5, 12] == 1.0 and cov[5, 5] == 0.0
    near = resample_mask(mask, xx + 0.6, yy, kernel="nearest")
    assert near[5, 9] == 1.0 and near[5, 8] == 0.0
    # outside the source frame: 0
    assert resample_mask(mask, xx + 30.0, yy).max() == 0.0


def test_blank_fill_and_nan_handling():
    rng = np.random.default_rng(5)
    img = rng.normal(10.0, 1.0, size=(50, 50))
    img[25, 25] = np.nan
    yy, xx = np.mgrid[:50, :50].astype(float)
    xs = xx + 20.3  # right 20 columns fall outside the source
    out, blank = resample(img, xs, yy, fill=-99.0)
    assert blank[:, 30:].all()
    # inside, only the pixel whose nearest source pixel is the NaN (weight 0.86) is blank
    assert np.argwhere(blank[:, :30]).tolist() == [[25, 5]]
    assert np.all(out[blank] == -99.0)
    assert np.all(np.isfinite(out))
    # its neighbours skip the NaN tap (weights renormalised over the valid taps)
    assert abs(out[25, 4] - 10.0) < 5.0 and abs(out[25, 6] - 10.0) < 5.0
    # a large NaN hole blanks the pixels it covers
    img2 = np.full((50, 50), 3.0)
    img2[10:30, 10:30] = np.nan
    out2, blank2 = resample(img2, xx, yy)
    assert blank2[15:25, 15:25].all() and not blank2[:5].any()
    np.testing.assert_allclose(out2[~blank2], 3.0, rtol=1e-12)


# --------------------------------------------------------------------------- PSF rotation


def test_local_jacobian_tan_is_cd_matrix():
    w = tan_wcs([150.0, 2.0], 0.11, 30.0, [100.5, 100.5], 200)
    jac = local_jacobian(w, 99.5, 99.5)
    np.testing.assert_allclose(jac, w.wcs.cd * 3600.0, rtol=1e-6)


def test_rotate_psf_moments_and_flux(roman_pair):
    """Second moments transform as Q_t = M⁻¹ Q_s M⁻ᵀ with M = J_s⁻¹ J_t; flux kept."""
    ws, wt = roman_pair["ws"], roman_pair["wt"]
    xc, yc = 127.5, 127.5
    ra, dec = ws.all_pix2world(xc, yc, 0)
    xt, yt = wt.all_world2pix(ra, dec, 0)
    js = local_jacobian(wt, float(xt), float(yt))
    jt = local_jacobian(ws, xc, yc)
    prof = galsim.Gaussian(sigma=1.3).shear(e1=0.25, e2=-0.1)
    psf = prof.drawImage(nx=41, ny=41, scale=1.0, method="no_pixel").array
    for kernel in ("cubic", "lanczos3"):
        out = rotate_psf(psf, js, jt, kernel=kernel)
        assert out.shape == psf.shape
        assert out.sum() == pytest.approx(psf.sum(), abs=1e-3)
        m = np.linalg.solve(js, jt)
        minv = np.linalg.inv(m)
        q_expected = minv @ moments(psf) @ minv.T
        np.testing.assert_allclose(moments(out), q_expected, rtol=0.01, atol=0.005)
        # centred: first moments ~ 0
        n = psf.shape[0]
        yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
        assert abs((out * xx).sum() / out.sum()) < 1e-3
    # identity Jacobians leave the stamp unchanged
    np.testing.assert_allclose(rotate_psf(psf, js, js), psf, atol=1e-12)


def test_rotate_psf_rejects_even_stamp():
    with pytest.raises(ValueError):
        rotate_psf(np.ones((4, 4)), np.eye(2), np.eye(2))


@pytest.mark.gpu
def test_resample_cupy_matches_numpy():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(2)
    img = rng.normal(size=(40, 40))
    xs, ys = _rotation_map((32, 32), 12.0, (1.3, 0.4))
    out_np, b_np = resample(img, xs, ys)
    out_cp, b_cp = resample(cp.asarray(img), cp.asarray(xs), cp.asarray(ys))
    np.testing.assert_allclose(cp.asnumpy(out_cp), out_np, atol=1e-10)
    assert (cp.asnumpy(b_cp) == b_np).all()


@pytest.mark.parametrize("a", [3, 4, 5])
def test_lanczos_weights_match_the_definition(a):
    from romandia.resample import _weights_1d

    coord = np.array([-1.7, -0.5, 0.0, 0.25, 3.999, 10.5, 7.0])
    first, ws = _weights_1d(coord, f"lanczos{a}", np)
    ws = np.array(ws)
    t = coord[None, :] - (first[None, :] + np.arange(2 * a)[:, None])
    direct = np.sinc(t) * np.sinc(t / a) * (np.abs(t) < a)
    np.testing.assert_allclose(ws, direct / direct.sum(axis=0), atol=1e-12)
    np.testing.assert_allclose(first, np.floor(coord) - (a - 1))
