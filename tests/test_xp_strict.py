"""The namespace-generic path on a strict stand-in for CuPy (tests/_strict_xp.py): resampling,
PSF rotation and the whole per-pair flow run on device arrays without one implicit conversion
to NumPy, and give the NumPy path's numbers.  What CuPy itself does is checked on a GPU by
bench/gpu_check.sh (not here)."""

import numpy as np
import pytest
from _strict_xp import TRANSFERS, StrictArray, strict, to_device
from test_subtract import N, make_pair

from romandia import xp as xpmod
from romandia.resample import local_jacobian, pixel_map, resample_image_set, rotate_psf
from romandia.subtract import difference_pair


def test_the_stand_in_is_strict():
    a = to_device(np.arange(4.0))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Unsupported type"):
        _ = a + np.ones(4)
    assert isinstance(np.sqrt(a), StrictArray) and isinstance(a * 2.0 + 1, StrictArray)
    assert xpmod.get_namespace(a) is strict and xpmod.to_numpy(a).tolist() == [0, 1, 2, 3]
    assert xpmod.fft_namespace(strict) is strict.scipy_fft


@pytest.fixture(scope="module")
def aligned_pair():
    d = make_pair(seed=11)
    xs, ys = pixel_map(d["ws"], (N, N), d["wt"], shape_source=(d["m"], d["m"]))
    xc = yc = (N - 1) / 2
    ra, dec = d["ws"].all_pix2world(xc, yc, 0)
    xt, yt = d["wt"].all_world2pix(ra, dec, 0)
    jt, js = local_jacobian(d["wt"], float(xt), float(yt)), local_jacobian(d["ws"], xc, yc)
    return d, xs, ys, jt, js


def _on(xp, arrays):
    return [to_device(a) if xp is strict else a for a in arrays]


@pytest.mark.parametrize("kernel", ["lanczos3", "bilinear"])
def test_resampling_and_psf_rotation_stay_on_the_device(aligned_pair, kernel):
    d, xs, ys, jt, js = aligned_pair
    ref = resample_image_set(d["tmpl"], xs, ys, var=d["var_t"], mask=d["det_t"], kernel=kernel)
    img, var, mask, xs_d, ys_d = _on(strict, [d["tmpl"], d["var_t"], d["det_t"], xs, ys])
    got = resample_image_set(img, xs_d, ys_d, var=var, mask=mask, kernel=kernel)
    for k in ("image", "var", "mask", "blank"):
        assert isinstance(got[k], StrictArray), k
        np.testing.assert_allclose(got[k].get(), ref[k], rtol=1e-12, atol=1e-12, err_msg=k)
    psf = rotate_psf(to_device(d["psf_t"]), jt, js)
    assert isinstance(psf, StrictArray)
    np.testing.assert_allclose(psf.get(), rotate_psf(d["psf_t"], jt, js), rtol=1e-12, atol=1e-14)


def test_difference_pair_stays_on_the_device_and_equals_numpy(aligned_pair):
    d, xs, ys, jt, js = aligned_pair
    r = resample_image_set(d["tmpl"], xs, ys, var=d["var_t"], mask=d["det_t"])
    psf_t = rotate_psf(d["psf_t"], jt, js)
    host = [d["sci"], d["var_s"], d["det_s"], d["psf_s"], r["image"], r["var"], r["mask"], r["blank"], psf_t]
    ref = difference_pair(*host[:4], d["sky_s"], *host[4:8], host[8], d["sky_t"])
    dev = _on(strict, host)
    before = len(TRANSFERS["sizes"])
    got = difference_pair(*dev[:4], d["sky_s"], *dev[4:8], dev[8], d["sky_t"])
    sizes = TRANSFERS["sizes"][before:]
    for k in ("diff", "var", "zptimg", "blank", "diff_raw"):
        assert isinstance(getattr(got, k), StrictArray), k
        a, b = getattr(got, k).get(), getattr(ref, k)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.nanmax(np.abs(b)), equal_nan=True, err_msg=k)
    assert got.flux_scale == pytest.approx(ref.flux_scale, rel=1e-12)
    # the SFFT solve is the one stage that takes frames to the host on this path (sfft's NumPy
    # solve: the two masked images; on CuPy sfft's pure-CuPy solve takes none); the solution is
    # applied on the device; the other copies are kernels and PSF stamps (radii, the noise
    # kernels for the error propagation, the decorrelation grid)
    frames = [n for n in sizes if n >= N * N]
    assert len(frames) == 2, sizes
    assert max((n for n in sizes if n < N * N), default=0) < N * N // 2, sizes


def _sky_product(data, var, det, wcs, skyrms, zptmag=30.0):
    hdr = wcs.to_header(relax=True)
    hdr["SKYRMS"], hdr["ZPTMAG"], hdr["ROMSRC"] = skyrms, zptmag, "test"
    return {"SKYSUB": (data, hdr), "VAR": (var, hdr), "DETMASK": (det.astype(np.uint8), hdr)}


def _sfft_defaults():
    import yaml
    from test_workflow_e2e import REPO

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return {k: v["default"] for k, v in schema["properties"]["sfft"]["properties"].items()}


def test_the_subtract_step_moves_the_science_once_and_returns_host_arrays(aligned_pair):
    """steps.subtract.difference_template with the science on the device (the job's one move):
    align + subtract on the namespace, the member back on the host, equal to the NumPy run."""
    from romandia.steps import subtract as step

    d = aligned_pair[0]
    sci = _sky_product(d["sci"], d["var_s"], d["det_s"], d["ws"], d["sky_s"])
    tmpl = _sky_product(d["tmpl"], d["var_t"], d["det_t"], d["wt"], d["sky_t"])
    ra, dec = (float(v) for v in d["ws"].all_pix2world((N - 1) / 2, (N - 1) / 2, 0))
    tr_ra, tr_dec = (float(v) for v in d["ws"].all_pix2world(*d["transient"][:2], 0))
    kw = dict(kernel="lanczos3", exclude_radec=[(tr_ra, tr_dec)], sfft=_sfft_defaults(), sci_key="s",
              tmpl_key="t")
    ref = step.difference_template(sci, tmpl, lambda: d["psf_t"], d["psf_s"], (ra, dec), **kw)
    sci_dev = step.to_namespace(sci, strict)
    got = step.difference_template(sci_dev, tmpl, lambda: d["psf_t"], d["psf_s"], (ra, dec), xp=strict, **kw)
    assert set(got) == set(ref)
    for k, (a, h) in got.items():
        assert isinstance(a, np.ndarray), k  # written by the job as it is
        np.testing.assert_allclose(a, ref[k][0], rtol=1e-9, atol=1e-9 * np.nanmax(np.abs(ref[k][0])),
                                   equal_nan=True, err_msg=k)
        assert h == ref[k][1] or (h is None and ref[k][1] is None)
