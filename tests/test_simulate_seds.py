"""Tests of the simulator's per-object SEDs (``image.psf.sed: per_object``,
romandia.simulate.seds / sedrender): stars as blackbodies, galaxies as CWW templates, SNe with
their spectrum at each epoch, each drawn through the chromatic PSF with its own SED.

~40 s: one one-image run of the ``test_sed`` preset, one small exposure rendered in both modes,
and direct draws of single stars.
"""

import math

import galsim
import numpy as np
import pandas as pd
import pytest

from romandia import ou2024
from romandia.constants import zeropoint, zptmag
from romandia.errors import InputError
from romandia.simulate import config as sim_config
from romandia.simulate import seds as S

BANDS4 = ("Y106", "J129", "H158", "F184")


# ----------------------------------------------------------------------------- SED models
def test_star_colours_follow_temperature():
    """Hotter = bluer in every adjacent pair of bands; J129 is the reference (colour 0)."""
    temps = [3500.0, 5000.0, 6500.0, 10000.0]
    for blue, red in zip(("R062",) + BANDS4[:-1], BANDS4, strict=True):
        colours = [S.ab_mag(S.star_sed(t), blue) - S.ab_mag(S.star_sed(t), red) for t in temps]
        assert np.all(np.diff(colours) < -0.01), (blue, red, colours)
    # the colours are Planck's: f_nu ~ nu^3 / (exp(h nu / k T) - 1) at the bands' effective
    # wavelengths gives R062 - J129 = +1.39 (3500 K) ... -0.76 (10000 K) to ~0.1 mag
    from romandia.simulate.psf import bandpasses

    lam = {b: bandpasses()[b].effective_wavelength for b in ("R062", "J129")}  # nm
    for t in temps:
        fnu = {b: lam[b] ** -3 / math.expm1(1.4387769e7 / (lam[b] * t)) for b in lam}
        planck = -2.5 * math.log10(fnu["R062"] / fnu["J129"])
        colour = S.ab_mag(S.star_sed(t), "R062") - S.ab_mag(S.star_sed(t), "J129")
        assert colour == pytest.approx(planck, abs=0.12), t
    keys = [("blackbody", 3500.0), ("blackbody", 10000.0)]
    seds = S.SceneSEDs(keys, ["star", "star"])
    np.testing.assert_allclose(seds.band_mags([20.0, 20.0], [0, 1], S.REFERENCE_BAND), 20.0)
    h = seds.band_mags([20.0, 20.0], [0, 1], "H158")
    assert h[0] < 20.0 < h[1]               # the cool star is brighter in H158 than in J129


def test_temperature_grid():
    t = S.grid_temperature([3500.0, 3501.0, 9999.0])
    assert abs(math.log(t[0] / 3500.0)) <= S.TEMPERATURE_STEP / 2 + 1e-9
    assert t[0] == t[1]
    k = np.log(t / 1000.0) / S.TEMPERATURE_STEP
    np.testing.assert_allclose(k, np.round(k), atol=2e-3)   # centres rounded to 0.1 K


def test_galaxy_templates_redshift():
    """The 4000 A break moves through the bands with z: an elliptical is much redder in
    Y106 - H158 at z 1.5 than at z 0.1, and redder than an irregular at the same z."""
    def col(t, z):
        s = S.galaxy_sed(t, z)
        return S.ab_mag(s, "Y106") - S.ab_mag(s, "H158")
    assert col("E", 1.5) > col("E", 0.1) + 0.3
    assert col("E", 0.8) > col("Im", 0.8) + 0.15
    # covered out to K213 even at z = 0 (the template is continued beyond 2205 nm)
    assert math.isfinite(S.ab_mag(S.galaxy_sed("Sbc", 0.0), "K213"))


def _scene(seed=5):
    from romandia.simulate.core import _hsiao_transient
    from romandia.simulate.scene import Catalog, Field, host_catalog, make_field_catalog

    lc = {"z": 0.55, "peak_mjd": 62490.0, "peak_mag": 21.0, "peak_band": "H158",
          "host_ebv": 0.1}
    host_cfg = {"mag": 21.0, "hlr": 0.5, "offset": 0.3, "angle": 40.0, "bulge_fraction": 0.3,
                "color": 0.3}
    t = _hsiao_transient(90000201, 0, 7.6, -44.5, lc, host_cfg)
    scene = {**sim_config.DEFAULTS["scene"], **sim_config.SED_SCENE_DEFAULTS,
             "star_density": 200, "galaxy_density": 200, "galaxy_z": [0.2, 1.2],
             "galaxy_templates": ["E", "Im"]}
    cat = Catalog.concat([make_field_catalog(Field(0, 7.6, -44.5, 30.0), scene, seed),
                          host_catalog([t.host])])
    return t, cat, scene


def test_assign_seds_ranges_hosts_and_determinism():
    t, cat, scene = _scene()
    seds = S.assign_seds(cat, [t], scene, seed=5)
    again = S.assign_seds(cat, [t], scene, seed=5)
    other = S.assign_seds(cat, [t], scene, seed=6)
    assert seds.keys == again.keys and seds.keys != other.keys
    stars = [k for k, kind in zip(seds.keys, seds.kinds, strict=True) if kind == "star"]
    gals = [k for k, kind in zip(seds.keys, seds.kinds, strict=True) if kind == "galaxy"]
    assert len(stars) > 50 and len(gals) > 50
    temps = np.array([k[1] for k in stars])
    half = math.exp(S.TEMPERATURE_STEP / 2)
    assert temps.min() >= 3500 / half and temps.max() <= 10000 * half
    assert temps.min() < 4000 and temps.max() > 8500     # spread over the range
    zs = np.array([k[2] for k in gals])
    assert zs.min() >= 0.2 and zs.max() <= 1.2 and len(set(zs)) > 20
    assert {k[1] for k in gals} == {"E", "Im"}
    host = seds.keys[seds.kinds.index("host")]
    assert seds.kinds.count("host") == 1 and host[0] == "cww" and host[2] == 0.55
    table = S.sed_table(cat, seds, [t])
    assert list(table["kind"].value_counts().sort_index().index) == \
        ["galaxy", "host", "star", "transient"]
    np.testing.assert_allclose(table["mag_J129"].iloc[: len(cat)], cat.mag)


def test_sn_sed_is_the_truth_lightcurves_sed():
    """The hsiao spectrum the SN is drawn with gives back its truth magnitudes (float32)
    through galsim's bandpasses, at every phase and band, with host dust."""
    t, _, _ = _scene()
    assert t.sed_model["host_ebv"] == 0.1
    n = 0
    for band in BANDS4 + ("R062",):
        for mjd in t.mjd[::6]:
            mag = ou2024.truth_mag(t.mjd, t.mags[band], float(mjd))
            sed, desc = S.transient_sed(t, float(mjd), band)
            if mag > 30:
                continue
            assert desc == "hsiao"
            assert S.ab_mag(sed, band) == pytest.approx(mag, abs=1e-3), (band, mjd)
            n += 1
    assert n > 60
    # outside the model's phase range there is no spectrum: the flat SED stands in
    sed, desc = S.transient_sed(t, float(t.mjd[0]) - 10.0, "H158")
    assert desc.endswith("none->flat")


def test_host_dust_reddens_only_when_set():
    from romandia.simulate.lightcurves import hsiao_lightcurve

    mjd, m0 = hsiao_lightcurve(0.4, 62490.0, 21.0, "H158")
    _, m1 = hsiao_lightcurve(0.4, 62490.0, 21.0, "H158", host_ebv=0.0)
    _, m2 = hsiao_lightcurve(0.4, 62490.0, 21.0, "H158", host_ebv=0.3)
    for b in m0:
        np.testing.assert_array_equal(m0[b], m1[b])
    i = int(np.argmin(m0["H158"]))
    assert (m2["Y106"][i] - m2["H158"][i]) - (m0["Y106"][i] - m0["H158"][i]) > 0.1


def test_snana_sed_from_truth_file():
    """OU2024's SNANA truth has lambda/flambda per MJD: the SN is drawn with it, and its band
    magnitudes agree with the file's mag_X to a few mmag."""
    from romandia.simulate.core import _snana_transient

    lc = {"model": "snana_hdf5", "file": "package:ou2024/snana_truth/snana_10430.hdf5"}
    t = _snana_transient(20172782, 0, 7.55, -44.8, lc, None, ".")
    for band in ("R062", "H158", "K213"):
        i = int(np.argmin(t.mags[band]))
        sed, desc = S.transient_sed(t, float(t.mjd[i]), band)
        assert desc == "snana_flambda"
        assert S.ab_mag(sed, band) == pytest.approx(float(t.mags[band][i]), abs=0.01)


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("override, message", [
    ({"image": {"psf": {"sed": "rainbow"}}}, "key 'image.psf.sed': 'rainbow' is not an SED"),
    ({"image": {"psf": {"sed": "blackbody:50"}}}, "key 'image.psf.sed': 'blackbody:50'"),
    ({"image": {"psf": {"sed": "per_object", "n_waves": None}}},
     "key 'image.psf.sed': per_object needs a chromatic PSF"),
    ({"scene": {"star_temperature": [9000, 4000]}},
     "key 'scene.star_temperature': lower bound 9000 > upper 4000"),
    ({"scene": {"galaxy_templates": ["Sa"]}}, "key 'scene.galaxy_templates[0]': 'Sa' is not one"),
])
def test_bad_sed_config_names_the_key(override, message):
    with pytest.raises(InputError) as exc:
        sim_config.load_preset("test_sed", override)
    assert str(exc.value).startswith("preset 'test_sed': " + message), str(exc.value)


def test_sed_defaults_only_in_per_object_mode():
    assert "star_temperature" not in sim_config.load_preset("test")["scene"]
    cfg = sim_config.load_preset("test", {"image": {"psf": {"sed": "per_object"}}})
    assert cfg["scene"]["star_temperature"] == [3500.0, 10000.0]
    assert cfg["scene"]["galaxy_templates"] == ["E", "Sbc", "Scd", "Im"]


def test_validation_sed_plan():
    """validation_sed: 4+ bands, 2 templates and 2 pre-explosion epochs per band, science
    epochs over rest-frame phases -10 ... +60, z spread over 0.2-1.0, per-object SEDs."""
    from romandia.simulate.core import _generated_exposures, build_transients

    cfg = sim_config.load_preset("validation_sed")
    assert cfg["image"]["psf"]["sed"] == "per_object"
    assert set(BANDS4) <= set(cfg["epochs"]["bands"])
    ts = build_transients(cfg, cfg["seed"])
    assert 8 <= len(ts) <= 12
    zs = np.array([t.params["z_CMB"] for t in ts])
    assert zs.min() < 0.4 and zs.max() > 0.8
    exps = _generated_exposures(cfg, ts[:3], cfg["seed"])   # 3 SNe: enough, and fast
    for t in ts[:3]:
        z = t.params["z_CMB"]
        for band in cfg["epochs"]["bands"]:
            es = [e for e in exps if e.center_on == [t.id] and e.band == band]
            assert sum(e.role == "template" for e in es) == 2
            sci = [e for e in es if e.role == "science"]
            zero = [e for e in sci if ou2024.truth_mag(t.mjd, t.mags[band], e.mjd) == math.inf]
            assert len(zero) == 2
            phase = np.array([(e.mjd - t.params["peak_mjd"]) / (1 + z) for e in sci
                              if e not in zero])
            assert phase.min() < -9 and phase.max() > 59 and phase.max() < 62


# ----------------------------------------------------------------------------- rendering
@pytest.fixture(scope="module")
def exposure():
    from romandia.simulate.pointings import cutout_bounds, synthetic_exposure

    e = synthetic_exposure("H158", 100000, 7, 30.0, 62495.0, (7.6, -44.5), (1500.0, 2300.0),
                           "science")
    x, y = e.radec_to_sca(7.6, -44.5)
    e.bounds = cutout_bounds(float(x[0]), float(y[0]), 128)
    return e


def _psf_cfg(sed):
    return {**sim_config.DEFAULTS["image"]["psf"], "sed": sed}


def _psf_fit(model, data, half=2):
    c = model.shape[0] // 2
    m = model[c - half:c + half + 1, c - half:c + half + 1]
    d = data[c - half:c + half + 1, c - half:c + half + 1]
    return float((m * d).sum() / (m * m).sum())


def test_hot_star_is_more_concentrated(exposure):
    """A 3500 K and a 10000 K star at the same position: different normalised stamps, the hotter
    one narrower; a flat-photon-SED PSF fits the hot one ~0.5 % higher (chromatic.md)."""
    from romandia.simulate.psf import PSFGrid, PSFModel
    from romandia.simulate.sedrender import ChromaticCells

    e = exposure
    model = PSFModel()
    cells = ChromaticCells("H158", e.sca, e.bounds, e.wcs, 1, model)
    pos = galsim.PositionD(float(cells.xc[0]), float(cells.yc[0]))
    local = e.wcs.local(pos)
    st = {t: cells.draw_star(pos, local, ("blackbody", t), S.star_sed(t), 1.0).array
          for t in (3500.0, 10000.0)}
    for a in st.values():
        assert a.sum() == pytest.approx(0.98, abs=0.01)   # the 7.04" box holds ~98 %
    cold, hot = (st[t] / st[t].sum() for t in (3500.0, 10000.0))
    assert np.abs(hot - cold).max() > 1e-3 * hot.max()
    assert hot.max() > cold.max() * 1.003
    flat = PSFGrid("H158", e.sca, e.bounds, e.wcs, 1, model=model).nearest(pos.x, pos.y)
    n = cells.stamp_size
    ref = flat.drawImage(nx=n, ny=n, center=pos, wcs=local, method="no_pixel",
                         dtype=np.float64).array
    ratio = {t: _psf_fit(ref, st[t]) / st[t].sum() for t in st}
    assert 0.002 < ratio[10000.0] - ratio[3500.0] < 0.01


@pytest.fixture(scope="module")
def rendered(exposure):
    """One 128^2 exposure: the SN, its host and the field objects nearest the image centre
    rendered with per-object SEDs; and the SN alone, per-object and flat."""
    from romandia.simulate.render import render_sources
    from romandia.simulate.scene import Catalog

    t, cat, scene = _scene()
    seds = S.assign_seds(cat, [t], scene, seed=5)
    x, y = exposure.radec_to_sca(cat.ra, cat.dec)
    c = exposure.bounds.center
    keep = sorted(set(np.argsort(np.hypot(x - c.x, y - c.y))[:3].tolist()) | {len(cat) - 1})
    sub = Catalog(**{k: getattr(cat, k)[keep] for k in Catalog.__dataclass_fields__})
    sub_seds = S.SceneSEDs([seds.keys[i] for i in keep], [seds.kinds[i] for i in keep])
    empty = Catalog.concat([])
    return t, sub, sub_seds, {
        "all": render_sources(exposure, sub, [t], _psf_cfg("per_object"), seds=sub_seds),
        "sn": render_sources(exposure, empty, [t], _psf_cfg("per_object")),
        "sn_flat": render_sources(exposure, empty, [t], _psf_cfg("flat")),
    }


def test_render_truth_follows_seds(rendered, exposure):
    """Truth fluxes: catalogue objects from their SEDs (J129 reference + SED colour), the SN
    from its truth lightcurve; the SN's drawn sum is its truth counts to < 0.5 %."""
    from romandia.simulate.scene import band_mag

    t, cat, seds, out = rendered
    zp = zeropoint("H158", zptmag(exposure.exptime))
    img, rows, info = out["all"]
    by_id = {r["object_id"]: r for r in rows}
    assert len(rows) == len(cat) + 1 and {r["obj_type"] for r in rows} == \
        {"star", "galaxy", "transient"}
    mags = seds.band_mags(cat.mag, range(len(cat)), "H158")
    # the SEDs' colours, not the single-SED mode's linear ones
    assert np.abs(mags - band_mag(cat.mag, cat.color, "H158")).max() > 0.05
    for i in range(len(cat)):
        r = by_id[int(cat.object_id[i])]
        assert r["flux"] == pytest.approx(ou2024.mag_to_counts(mags[i], zp), rel=1e-12)
        assert 0.95 < r["realized_flux"] / r["flux"] < 1.0
    sn = by_id[t.id]
    mag = ou2024.truth_mag(t.mjd, t.mags["H158"], exposure.mjd)
    assert sn["flux"] == pytest.approx(ou2024.mag_to_counts(mag, zp), rel=1e-12)
    assert sn["realized_flux"] / sn["flux"] == pytest.approx(1.0, abs=5e-3)
    assert info[t.id]["sed"] == "hsiao"
    assert img.sum() == pytest.approx(sum(r["realized_flux"] for r in rows), rel=0.02)
    # the SN alone: the same counts in both modes
    for key in ("sn", "sn_flat"):
        r = out[key][1][0]
        assert r["flux"] == sn["flux"]
        assert r["realized_flux"] / r["flux"] == pytest.approx(1.0, abs=5e-3)


def test_sn_drawn_with_its_own_sed(rendered, exposure):
    """The SN's pixels equal an independent galsim render of its hsiao spectrum (sncosmo with
    host dust, typed in here) through the chromatic optics, and not the flat SED's."""
    import sncosmo
    from _roman import CHARGE_DIFF_SIGMAS, CHARGE_DIFF_WEIGHTS

    from romandia.simulate.psf import sn_stamp_size

    t, _, _, out = rendered
    e = exposure
    bp = galsim.roman.getBandpasses(AB_zeropoint=True)["H158"]
    model = sncosmo.Model(source="hsiao-subsampled", effects=[sncosmo.CCM89Dust()],
                          effect_names=["host"], effect_frames=["rest"])
    model.set(z=0.55, t0=62490.0, hostebv=0.1, hostr_v=3.1)
    wave = np.arange(1300.0, 1876.0, 0.5)
    sed = galsim.SED(galsim.LookupTable(wave, model.flux(e.mjd, wave * 10.0)), "nm", "flambda")
    x, y = e.radec_to_sca(t.ra, t.dec)
    pos = galsim.PositionD(float(x[0]), float(y[0]))
    flux = out["sn"][1][0]["flux"]
    optics = galsim.roman.getPSF(e.sca, "H158", SCA_pos=pos, pupil_bin=8, wcs=e.wcs, n_waves=5)
    local = e.wcs.local(pos)
    cd = galsim.Add([galsim.Gaussian(sigma=s, flux=w)
                     for w, s in zip(CHARGE_DIFF_WEIGHTS, CHARGE_DIFF_SIGMAS, strict=True)])
    n = sn_stamp_size("H158", e.sca, pos, e.wcs)
    ref = galsim.Convolve(galsim.DeltaFunction() * sed.withFlux(flux, bp), optics,
                          local.toWorld(cd), local.toWorld(galsim.Pixel(1.0))) \
        .drawImage(bp, nx=n, ny=n, center=pos, wcs=local, method="no_pixel", dtype=float)
    ref_im = galsim.ImageD(e.bounds)
    ref_im[ref.bounds & e.bounds] += ref[ref.bounds & e.bounds]
    peak = ref_im.array.max()
    d_sed = np.abs(out["sn"][0] - ref_im.array).max() / peak
    d_flat = np.abs(out["sn_flat"][0] - ref_im.array).max() / peak
    assert d_sed < 1e-4, d_sed
    assert d_flat > 2e-3, d_flat


# ----------------------------------------------------------------------------- end to end
def test_simulate_test_sed_one_image(tmp_path):
    """test_sed with one science image: seds.parquet beside the OU2024 files (and in the
    manifest); truth fluxes = the SEDs' magnitudes at the zeropoint."""
    from romandia.simulate import simulate

    cfg = sim_config.load_preset("test_sed")
    exps = [next(x for x in cfg["exposures"] if x["band"] == "J129" and x["role"] == "science")]
    s = simulate("test_sed", tmp_path, config_overrides={"exposures": exps})
    assert s["n_images"] == 1 and s["images"][0]["transients"][90000101]["sed"] == "hsiao"
    table = pd.read_parquet(tmp_path / "seds.parquet")
    man = sim_config.load_yaml_mapping(tmp_path / "manifest.json", "manifest")
    assert "seds.parquet" in {f["path"] for f in man["files"]}
    stars = table[table["kind"] == "star"]
    assert len(stars) == 4 and stars["temperature"].between(3400, 10200).all()
    assert (table["kind"] == "host").sum() == 1 and (table["kind"] == "transient").sum() == 1
    for img in s["images"]:
        truth = ou2024.read_truth_catalog(tmp_path / "truth" / ou2024.truth_relpath(
            img["band"], img["pointing"], img["sca"]))
        assert list(truth.columns) == list(ou2024.TRUTH_COLUMNS)
        m = truth.merge(table, on="object_id")
        cat = m[m["obj_type"] != "transient"]
        assert len(cat) == 5
        expected = ou2024.mag_to_counts(cat[f"mag_{img['band']}"].to_numpy(), img["zeropoint"])
        np.testing.assert_allclose(cat["flux"], expected, rtol=1e-7)
