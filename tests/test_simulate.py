"""Tests of the OU2024-layout simulator (romandia.simulate) and the ``romandia simulate`` CLI.

Five small runs of the ``test`` preset (256x256 cutouts, 4 images) are shared by the tests
through module-scoped fixtures: default, same seed again, another seed (1 image), noiseless, and
noiseless with the SN alone.
"""

import copy
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.wcs import WCS

from romandia import ou2024
from romandia.constants import EXPTIME, GALSIM_ZEROPOINT, IMAGELIST_HEADER, zeropoint, zptmag
from romandia.errors import InputError
from romandia.simulate import config as sim_config
from romandia.simulate import simulate
from romandia.simulate.core import build_transients

HEADER_KEYS = ("FILTER", "SCA_NUM", "MJD-OBS", "DATE-OBS", "EXPTIME", "ZPTMAG", "SKY_MEAN",
               "RA_TARG", "DEC_TARG", "PA_FPA", "CTYPE1", "CTYPE2", "CRPIX1", "A_ORDER",
               "GS_XMIN", "GS_YMIN", "ROMX0", "ROMY0")


def _test_preset() -> dict:
    return sim_config.load_yaml_mapping(
        Path(sim_config.resolve_preset("test")[1]), "preset")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("sim")
    out = {}
    out["a"] = (base / "a", simulate("test", base / "a"))
    out["b"] = (base / "b", simulate("test", base / "b"))
    one = _test_preset()["exposures"][:1]
    out["c"] = (base / "c", simulate("test", base / "c", seed=8,
                                     config_overrides={"exposures": one}))
    out["n"] = (base / "n", simulate("test", base / "n",
                                     config_overrides={"image": {"noiseless": True}}))
    trans = copy.deepcopy(_test_preset()["transients"])
    for t in trans:
        t["host"] = None
    out["s"] = (base / "s", simulate("test", base / "s", config_overrides={
        "image": {"noiseless": True}, "transients": trans,
        "scene": {"star_density": 0, "galaxy_density": 0}}))
    return out


def _images(d: Path):
    return sorted((d / ou2024.IMAGE_SUBDIR).rglob("*.fits.gz"))


def _truth_for(d: Path, img: Path):
    band, pointing, sca = ou2024.parse_image_name(img)
    return ou2024.read_truth_catalog(d / "truth" / ou2024.truth_relpath(band, pointing, sca))


# ----------------------------------------------------------------------------- layout
def test_layout_manifest_and_summary(runs):
    d, s = runs["a"]
    imgs = _images(d)
    assert len(imgs) == s["n_images"] == 4
    for img in imgs:
        band, pointing, sca = ou2024.parse_image_name(img)
        assert img.relative_to(d / ou2024.IMAGE_SUBDIR).as_posix() == \
            ou2024.image_relpath(band, pointing, sca)
        assert (d / "truth" / ou2024.truth_relpath(band, pointing, sca)).is_file()
        assert pointing >= 100000          # synthetic pointings never collide with the obseq
    man = yaml.safe_load((d / "manifest.json").read_text())
    assert man["preset"] == "test" and man["seed"] == 7 and man["romandia_version"]
    listed = {f["path"]: f["size"] for f in man["files"]}
    for p in d.rglob("*"):
        if p.is_file() and p.name != "manifest.json":
            assert listed[p.relative_to(d).as_posix()] == p.stat().st_size
    ob = ou2024.read_obseq(d / "Roman_TDS_obseq.fits")
    assert sorted(ob.index) == sorted(i["pointing"] for i in s["images"])


def test_hdus_dtypes_and_headers(runs):
    d, s = runs["a"]
    for info, img in zip(sorted(s["images"], key=lambda i: i["path"]),
                         sorted(_images(d), key=lambda p: p.relative_to(
                             d / ou2024.IMAGE_SUBDIR).as_posix()), strict=True):
        band, pointing, sca = ou2024.parse_image_name(img)
        with fits.open(img) as hdul:
            assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ"]
            assert hdul[0].data is None
            assert hdul["SCI"].data.dtype == np.dtype(">f8")
            assert hdul["ERR"].data.dtype == np.dtype(">f4")
            assert hdul["DQ"].data.dtype == np.uint32 and not hdul["DQ"].data.any()
            assert hdul["SCI"].data.shape == (256, 256)
            for h in hdul:
                hdr = h.header
                for k in HEADER_KEYS:
                    assert k in hdr, (img.name, h.name, k)
                assert hdr["FILTER"] == band and hdr["SCA_NUM"] == sca
                assert hdr["EXPTIME"] == EXPTIME[band]
                assert hdr["ZPTMAG"] == pytest.approx(2.5 * math.log10(EXPTIME[band] * 37570.0))
                assert hdr["MJD-OBS"] == pytest.approx(info["mjd"])
                assert hdr["DATE-OBS"].startswith("20") and "T" in hdr["DATE-OBS"]
                assert (hdr["CTYPE1"], hdr["CTYPE2"]) == ("RA---TAN-SIP", "DEC--TAN-SIP")
                assert (hdr["ROMX0"], hdr["ROMY0"]) == (info["bounds"][0] - 1, info["bounds"][2] - 1)
                assert (hdr["GS_XMIN"], hdr["GS_YMIN"]) == (info["bounds"][0], info["bounds"][2])
                assert hdr["PA_FPA"] == pytest.approx(info["pa"])
                assert hdr["RA_TARG"] == pytest.approx(info["ra"])
            sci = hdul["SCI"].data
            # counts with the sky NOT subtracted: SKY_MEAN ~ the median of SCI
            assert np.median(sci) == pytest.approx(hdul[1].header["SKY_MEAN"], rel=0.1)
            assert np.all(sci == np.round(sci)) and sci.max() <= 1e5 + 60
            # OU-style ERR: a noisy sky realization (same noise as SCI, no sources)
            err = hdul["ERR"].data
            assert np.median(err) == pytest.approx(hdul[1].header["SKY_MEAN"], rel=0.05)
            assert np.median(sci - err) == pytest.approx(0.0, abs=2.0)
    assert zeropoint("H158", zptmag(EXPTIME["H158"])) == pytest.approx(
        GALSIM_ZEROPOINT["H158"] + 17.6381, abs=1e-4)


def test_wcs_maps_truth_radec_to_truth_xy(runs):
    for key in ("a", "n"):
        d, _ = runs[key]
        for img in _images(d):
            t = _truth_for(d, img)
            assert len(t) > 5
            w = WCS(fits.getheader(img, 1))
            x, y = w.all_world2pix(t["ra"].to_numpy(), t["dec"].to_numpy(), 0)
            np.testing.assert_allclose(x, t["x"] - 1, atol=0.01)
            np.testing.assert_allclose(y, t["y"] - 1, atol=0.01)


def test_truth_catalog_format(runs):
    d, _ = runs["a"]
    for img in _images(d):
        band, pointing, sca = ou2024.parse_image_name(img)
        p = d / "truth" / ou2024.truth_relpath(band, pointing, sca)
        lines = p.read_text().splitlines()
        assert lines[0] == ou2024.TRUTH_HEADER
        assert all(len(line) == 152 for line in lines[1:])
        t = ou2024.read_truth_catalog(p)
        assert set(t["obj_type"]) <= {"star", "galaxy", "transient"}
        assert (t["obj_type"] == "transient").sum() == 1
        assert {"star", "galaxy"} <= set(t["obj_type"])
        bright = t[(t["flux"] > 0) & (t["obj_type"] != "transient")]
        np.testing.assert_allclose(bright["mag"], -2.5 * np.log10(bright["flux"])
                                   + GALSIM_ZEROPOINT[band], atol=1e-6)


def test_image_lists_and_objects_yaml(runs):
    d, s = runs["a"]
    objs = yaml.safe_load((d / "objects.yaml").read_text())
    assert objs == s["objects"] and len(objs) == 1
    o = objs[0]
    assert set(o) == {"oid", "ra", "dec", "band", "templates", "science", "z"}
    man = json.loads((d / "manifest.json").read_text())
    sn = {t.id: t for t in build_transients(man["config"], int(man["seed"]))}[o["oid"]]
    assert o["z"] == pytest.approx(sn.params["z_CMB"], abs=1e-5)  # the host's catalogue redshift
    assert o["templates"] == f"lists/H158/{o['oid']}_instances_templates_1.csv"
    n_rows = {}
    for kind in ("templates", "science"):
        p = d / o[kind]
        lines = p.read_text().splitlines()
        assert lines[0] == IMAGELIST_HEADER
        n_rows[kind] = len(lines) - 1
        for line in lines[1:]:
            path, obs_id, sca, mjd, band = line.split(" ")
            img = d / ou2024.IMAGE_SUBDIR / path
            assert img.is_file()
            assert ou2024.parse_image_name(path) == (band, int(obs_id), int(sca))
            assert float(mjd) == pytest.approx(fits.getheader(img, 1)["MJD-OBS"], abs=1e-9)
    assert n_rows == {"templates": 1, "science": 3}


def test_sn_truth_files_and_injected_flux(runs):
    """truth flux of the SN = 10**(-0.4 (HDF5 mag(MJD) - image zeropoint)); stamp holds > 99.8 %."""
    d, s = runs["a"]
    oid = s["objects"][0]["oid"]
    row, mjd_grid, mags = ou2024.find_sn_truth(d / "snana", oid)
    for c in ou2024.SNANA_REQUIRED_COLUMNS:
        assert c in row.index
    assert row["healpix"] == ou2024.healpix_ring(row["ra"], row["dec"])
    assert set(mags) == {"R062", "Z087", "Y106", "J129", "H158", "F184", "K213"}
    n_pos = 0
    for img in _images(d):
        hdr = fits.getheader(img, 1)
        t = _truth_for(d, img)
        sn = t[t["object_id"] == oid].iloc[0]
        assert sn["obj_type"] == "transient"
        mag = ou2024.truth_mag(mjd_grid, mags[hdr["FILTER"]], hdr["MJD-OBS"])
        expected = ou2024.mag_to_counts(mag, zeropoint(hdr["FILTER"], hdr["ZPTMAG"]))
        assert sn["flux"] == pytest.approx(expected, rel=2e-8, abs=1e-9)  # %17.8e in the file
        if expected > 0:
            n_pos += 1
            # the chromatic PSF's SN stamp holds > 99.5 % of the flux (H158: 0.998)
            assert sn["realized_flux"] / sn["flux"] == pytest.approx(1.0, abs=5e-3)
            assert sn["mag"] + hdr["ZPTMAG"] == pytest.approx(mag, abs=1e-6)
        else:
            assert sn["realized_flux"] == 0.0 and math.isinf(sn["mag"])
    assert n_pos == 3                       # template is before explosion


def test_sn_pixels_equal_truth_psf_model(runs):
    """Noiseless, SN only: SCI - ERR equals an independent render of the HDF5-truth point source
    the way OU2024 drew (chromatic optics, charge diffusion, pixel; tests/_roman.py)."""
    import galsim
    from _roman import ou2024_point_source

    from romandia.simulate.psf import sca_wcs_from_header, sn_stamp_size

    d, s = runs["s"]
    oid = s["objects"][0]["oid"]
    _, mjd_grid, mags = ou2024.find_sn_truth(d / "snana", oid)
    obj = s["objects"][0]
    checked = 0
    for img in _images(d):
        with fits.open(img) as hdul:
            hdr = hdul[1].header
            src = hdul["SCI"].data.astype(float) - hdul["ERR"].data.astype(float)
        flux = ou2024.mag_to_counts(ou2024.truth_mag(mjd_grid, mags[hdr["FILTER"]],
                                                     hdr["MJD-OBS"]),
                                    zeropoint(hdr["FILTER"], hdr["ZPTMAG"]))
        if flux == 0:
            assert np.abs(src).max() < 1e-3
            continue
        wcs, (dx, dy) = sca_wcs_from_header(hdr)
        x, y = WCS(hdr).all_world2pix(obj["ra"], obj["dec"], 0)
        pos = galsim.PositionD(float(x) + 1 + dx, float(y) + 1 + dy)
        n = sn_stamp_size(hdr["FILTER"], hdr["SCA_NUM"], pos, wcs)
        stamp = ou2024_point_source(hdr["FILTER"], hdr["SCA_NUM"], pos, wcs, flux, n, n, pos)
        model = galsim.ImageD(galsim.BoundsI(1 + dx, 256 + dx, 1 + dy, 256 + dy))
        b = stamp.bounds & model.bounds
        model[b] += stamp[b]
        assert np.abs(src - model.array).max() < 1e-3 * model.array.max()
        assert src.sum() == pytest.approx(flux, rel=6e-3)   # only the far wings leave 256^2
        checked += 1
    assert checked == 3


def test_aperture_photometry_of_isolated_stars(runs):
    """Noiseless render: aperture flux / PSF encircled energy = truth flux within 1 %."""
    from photutils.aperture import CircularAperture, aperture_photometry

    from romandia.simulate.psf import roman_psf_stamp

    d, _ = runs["n"]
    r = 5.0
    ratios = []
    for img in _images(d):
        with fits.open(img) as hdul:
            hdr = hdul[1].header
            src = hdul["SCI"].data - hdul["ERR"].data.astype(float)
        t = _truth_for(d, img)
        ab = t["mag"] + hdr["ZPTMAG"]
        stars = t[(t["obj_type"] == "star") & (ab > 18.5) & (ab < 22.0)]
        for _, st in stars.iterrows():
            x, y = st["x"] - 1, st["y"] - 1
            if min(x, y) < 15 or max(x, y) > 256 - 16:
                continue
            others = t[t["object_id"] != st["object_id"]]
            dist = np.hypot(others["x"] - st["x"], others["y"] - st["y"])
            if ((dist < 25) & (others["realized_flux"] > 0.001 * st["flux"])).any():
                continue
            flux_ap = aperture_photometry(src, CircularAperture((x, y), r))["aperture_sum"][0]
            psf = roman_psf_stamp(hdr["FILTER"], hdr["SCA_NUM"], x, y, hdr, size=129, oversample=None)
            ee = aperture_photometry(psf, CircularAperture((64, 64), r))["aperture_sum"][0]
            ratios.append(flux_ap / ee / st["flux"])
    assert len(ratios) >= 3
    np.testing.assert_allclose(ratios, 1.0, atol=0.01)


# ----------------------------------------------------------------------------- determinism
def test_same_seed_gives_byte_identical_outputs(runs):
    da, db = runs["a"][0], runs["b"][0]
    fa = sorted(p.relative_to(da).as_posix() for p in da.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(db).as_posix() for p in db.rglob("*") if p.is_file())
    assert fa == fb
    for rel in fa:
        assert (da / rel).read_bytes() == (db / rel).read_bytes(), rel


def test_different_seed_gives_different_noise(runs):
    da, dc = runs["a"][0], runs["c"][0]
    (img_c,) = _images(dc)
    img_a = da / img_c.relative_to(dc)
    assert img_a.is_file()
    a, c = fits.getdata(img_a, "ERR"), fits.getdata(img_c, "ERR")
    assert a.shape == c.shape and not np.array_equal(a, c)
    # same sky level, different realization
    assert np.mean(a) == pytest.approx(np.mean(c), rel=0.01)


def test_noise_chain_statistics_and_err_modes():
    import galsim

    from romandia.simulate import noise

    sky = np.full((200, 200), 150.0)
    src = np.zeros_like(sky)
    src[100, 100] = 2e5                           # saturates
    sci, err = noise.apply_noise(src, sky, 302.275, galsim.BaseDeviate(1), "ou2024")
    dark = 0.015 * 302.275
    bg = sci[:90]
    assert bg.mean() == pytest.approx(150 + dark, abs=0.3)
    assert bg.var() == pytest.approx(150 + dark + 8.5**2, rel=0.05)
    assert sci[100, 100] <= 1e5 + 50 and sci[100, 100] > 1e5 - 50
    assert np.array_equal(sci[:90], err[:90])     # ERR = the same noisy sky, no sources
    _, sig = noise.apply_noise(src, sky, 302.275, galsim.BaseDeviate(1), "sigma")
    assert sig[0, 0] == pytest.approx(math.sqrt(150 + dark + 8.5**2))
    sci2, _ = noise.apply_noise(src, sky, 302.275, galsim.BaseDeviate(2), "ou2024")
    assert not np.array_equal(sci, sci2)
    n_sci, n_err = noise.noiseless(src, sky, 302.275)
    assert np.array_equal(n_sci - n_err, src)


def test_sky_mean_reproduces_real_ou2024_image():
    """Y106 pointing 13205 SCA 1: OU2024's SKY_MEAN is 112.0 (snappl's test of the real file)."""
    import galsim

    from romandia.simulate import noise
    from romandia.simulate.pointings import obseq_exposure
    from romandia.simulate.psf import bandpasses

    e = obseq_exposure(ou2024.read_obseq(), 13205, 1, "science")
    b = galsim.BoundsI(1, 4088, 1, 4088)
    sky = noise.sky_image(e.band, bandpasses()[e.band], e.wcs, b, e.date, e.exptime)
    assert noise.sky_mean(sky, e.exptime) == pytest.approx(112.0, abs=0.1)


def test_wcs_recipe_reproduces_real_ou2024_truth_positions():
    """galsim.roman WCS of obseq row 35198 / SCA 2 gives OU's truth x, y to < 0.01 px."""
    from romandia.simulate.pointings import obseq_exposure

    t = ou2024.read_truth_catalog(ou2024.packaged_data(
        "ou2024/truth/Y106/35198/Roman_TDS_index_Y106_35198_2.sample.txt"))
    e = obseq_exposure(ou2024.read_obseq(), 35198, 2, "science")
    x, y = e.radec_to_sca(t["ra"], t["dec"])
    # the catalogue's ra/dec have 9 significant digits (~3e-4 px)
    np.testing.assert_allclose(x, t["x"], atol=0.01)
    np.testing.assert_allclose(y, t["y"], atol=0.01)


# ----------------------------------------------------------------------------- PSF
def test_roman_psf_stamp_properties(runs):
    import galsim

    from romandia.simulate.psf import roman_psf_stamp, sca_wcs_from_header

    d, _ = runs["a"]
    img = _images(d)[0]
    hdr = fits.getheader(img, 1)
    p = roman_psf_stamp("H158", hdr["SCA_NUM"], 100.3, 120.7, hdr, size=65)
    assert p.shape == (65, 65) and p.dtype == np.float64
    assert np.unravel_index(np.argmax(p), p.shape) == (32, 32)
    yy, xx = np.mgrid[:65, :65]
    # the optical model's reference point is the centre; aberrations move the centroid slightly
    assert (p * xx).sum() / p.sum() == pytest.approx(32, abs=0.2)
    assert (p * yy).sum() / p.sum() == pytest.approx(32, abs=0.2)
    assert 0.95 < p.sum() < 0.99                   # unit total flux, not renormalised
    full = roman_psf_stamp("H158", hdr["SCA_NUM"], 100.3, 120.7, hdr, oversample=None)
    assert full.shape[0] % 2 == 1 and 0.995 < full.sum() < 1.002
    # same stamp from a galsim SCA-frame WCS + offset, and via the interpolated path
    wcs, off = sca_wcs_from_header(hdr)
    raw = galsim.GSFitsWCS(header=dict(hdr))
    p2 = roman_psf_stamp("H158", hdr["SCA_NUM"], 100.3, 120.7, raw, size=65, sca_offset=off)
    np.testing.assert_allclose(p2, p, atol=1e-12)
    p3 = roman_psf_stamp("H158", hdr["SCA_NUM"], 100.3 + off[0], 120.7 + off[1], wcs, size=65)
    np.testing.assert_allclose(p3, p, atol=1e-12)
    p4 = roman_psf_stamp("H158", hdr["SCA_NUM"], 100.3, 120.7, hdr, size=65, oversample=None)
    assert np.abs(p4 - p).max() < 1e-3 * p.max()
    # an astropy WCS of the file + the SCA offset, and a header without ROMX0 (GS_XMIN used)
    p5 = roman_psf_stamp("H158", hdr["SCA_NUM"], 100.3, 120.7, WCS(hdr), size=65, sca_offset=off)
    np.testing.assert_allclose(p5, p, atol=1e-9)
    h2 = hdr.copy()
    del h2["ROMX0"], h2["ROMY0"]
    np.testing.assert_allclose(roman_psf_stamp("H158", hdr["SCA_NUM"], 100.3, 120.7, h2,
                                               size=65), p, atol=1e-12)
    # offset: the PSF drawn at a sub-pixel position moves its centroid by that much
    q = roman_psf_stamp("H158", hdr["SCA_NUM"], 100.3, 120.7, hdr, size=65, offset=(0.3, -0.2))
    cx = lambda a: (a * xx).sum() / a.sum()  # noqa: E731
    cy = lambda a: (a * yy).sum() / a.sum()  # noqa: E731
    assert cx(q) - cx(p) == pytest.approx(0.3, abs=0.02)
    assert cy(q) - cy(p) == pytest.approx(-0.2, abs=0.02)
    with pytest.raises(ValueError):
        roman_psf_stamp("H158", hdr["SCA_NUM"], 1, 1, hdr, size=64)


# ----------------------------------------------------------------------------- presets + CLI
@pytest.mark.parametrize("name", ["demo", "test", "validation", "validation_bright", "validation_bright2", "validation_noiseless", "benchmark", "test_sed", "validation_sed"])
def test_packaged_presets_validate(name):
    cfg = sim_config.load_preset(name)
    assert cfg["name"] == name
    assert name in sim_config.preset_names()


def test_demo_plan_real_pointings_shared_images():
    """Demo: SN 20172782 at its real position on the real R062 pointings; both SNe in every cutout."""
    from romandia.simulate.core import _explicit_exposures, _set_bounds, build_transients
    from romandia.simulate.pointings import in_bounds

    cfg = sim_config.load_preset("demo")
    ts = build_transients(cfg, cfg["seed"])
    assert [t.id for t in ts] == [20172782, 20172783]
    assert ts[0].ra == 7.551093401915147 and ts[0].dec == -44.80718106491529
    exps = _explicit_exposures(cfg, ts)
    _set_bounds(exps, ts, cfg["image"]["size"], "demo")
    assert sum(e.role == "template" for e in exps) >= 1
    assert sum(e.role == "science" for e in exps) >= 6
    assert {e.band for e in exps} == {"R062"} and not any(e.synthetic for e in exps)
    assert len({round(e.pa) for e in exps}) >= 6 and len({e.sca for e in exps}) >= 6
    for e in exps:
        x, y = e.radec_to_sca([t.ra for t in ts], [t.dec for t in ts])
        assert in_bounds(x, y, e.bounds, 20).all(), e.key
        assert e.bounds.xmax - e.bounds.xmin + 1 == 512
    # the real truth lightcurve: mag_R near peak ~22.4 at pointing 36626
    mags = ts[0].mags["R062"]
    assert ou2024.truth_mag(ts[0].mjd, mags, 62475.185) == pytest.approx(22.42, abs=0.02)


def test_validation_plan_has_pre_explosion_epochs():
    from romandia.simulate.core import _generated_exposures, build_transients

    cfg = sim_config.load_preset("validation", {"sne": {"n_sne": 3}})
    ts = build_transients(cfg, cfg["seed"])
    assert len(ts) == 3
    full = sim_config.load_preset("validation")
    assert full["sne"]["n_sne"] >= 20 and len(full["epochs"]["bands"]) >= 2
    exps = _generated_exposures(cfg, ts, cfg["seed"])
    for t in ts:
        for band in cfg["epochs"]["bands"]:
            es = [e for e in exps if e.center_on == [t.id] and e.band == band]
            sci = [e for e in es if e.role == "science"]
            assert len(sci) >= 8 and any(e.role == "template" for e in es)
            zero = [e for e in sci if ou2024.truth_mag(t.mjd, t.mags[band], e.mjd) == math.inf]
            assert len(zero) >= 2
            assert all(ou2024.truth_mag(t.mjd, t.mags[band], e.mjd) == math.inf
                       for e in es if e.role == "template")


@pytest.mark.parametrize("override, message", [
    ({"image": {"size": 10}}, "key 'image.size': 10 is less than the minimum of 64"),
    ({"image": {"err_mode": "rms"}}, "key 'image.err_mode': 'rms' is not one of"),
    ({"image": {"sizee": 5}}, "key 'image.sizee': unknown key"),
    ({"exposures": [{"role": "science", "band": "H158", "mjd": 62470.0, "pa": 3.0,
                     "sca": 19}]}, "key 'exposures[0].sca': 19 is greater than the maximum of 18"),
    ({"exposures": [{"role": "science", "pointing": 5}]}, "key 'exposures[0].sca': required"),
])
def test_bad_preset_value_names_the_key(tmp_path, override, message):
    with pytest.raises(InputError, match=r"^preset 'test': " + message.replace("[", r"\[")
                       .replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        simulate("test", tmp_path, config_overrides=override)


def test_bad_value_in_preset_file(tmp_path):
    p = tmp_path / "x.yaml"
    cfg = _test_preset()
    cfg["epochs"] = {"n_science": -1}
    del cfg["exposures"]
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError) as exc:
        sim_config.load_preset(os.fspath(p))
    assert str(exc.value) == f"preset '{p}': key 'epochs.n_science': -1 is less than the " \
                             "minimum of 1"


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    from romandia.cli import main

    cfg = tmp_path / "over.yaml"
    cfg.write_text("image:\n  err_mode: bogus\n")
    rc = main(["simulate", "--preset", "test", "--out", str(tmp_path / "o"), "--config", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "key 'image.err_mode'" in err
    rc = main(["simulate", "--preset", "nope", "--out", str(tmp_path / "o")])
    assert rc == 2 and "unknown preset 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "images").exists()
