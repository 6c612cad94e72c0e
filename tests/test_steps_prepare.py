"""Rule prepare's stages as library calls (romandia.steps.prepare): stage, sky, PSFs of one image."""

import numpy as np
import pytest
from astropy.io import fits
from test_io import ou_header, write_ou

from romandia import products
from romandia import psf as P
from romandia.errors import DataError
from romandia.steps import prepare

SKY = {"back_size": 16, "filter_size": 3, "detect_thresh": 1.5, "min_area": 5, "radius_cut": 2.0,
       "dilate": 1, "deblend_cont": 0.005}
PSF = {"type": "gaussian", "size": 15, "params": {"fwhm": 2.0}}


def _image(tmp_path, name="a.fits.gz", band="R062"):
    rng = np.random.default_rng(3)
    data = rng.normal(100.0, 5.0, (64, 64))
    yy, xx = np.mgrid[:64, :64]
    data += 5000 * np.exp(-((xx - 40) ** 2 + (yy - 20) ** 2) / (2 * 1.5**2))  # one star
    return write_ou(tmp_path / name, data=data, header=ou_header(band=band))


def test_stage_cuts_out_around_the_objects_and_records_the_source(tmp_path):
    path = _image(tmp_path)
    h = ou_header()
    # object at pixel (31, 31): CRPIX is 1-based (32, 32)
    img = prepare.stage_image(path, band="R062", objects=[(1, h["CRVAL1"], h["CRVAL2"])], cutout_size=20)
    assert img.data.shape == (20, 20)
    assert (img.header[products.KEY_X0], img.header[products.KEY_Y0]) == (21, 21)
    assert img.header[products.KEY_SOURCE].endswith("a.fits.gz")
    full = prepare.stage_image(path, band="R062", objects=[], cutout_size=None)
    assert full.data.shape == (64, 64) and products.KEY_X0 not in full.header


def test_stage_names_the_file_on_a_band_mismatch(tmp_path):
    path = _image(tmp_path)
    with pytest.raises(DataError, match=r"a\.fits\.gz.*FILTER is R062 but the image list says H158") as exc:
        prepare.stage_image(path, band="H158", objects=[], cutout_size=None)
    assert exc.value.stage == "fetch"


def test_prepare_writes_sky_and_psf_products_with_their_contract(tmp_path):
    path = _image(tmp_path)
    h = ou_header()
    out = prepare.prepare_image(path, image="R062_1_3", band="R062",
                                objects=[(7, h["CRVAL1"], h["CRVAL2"]), (8, 0.0, 0.0)], cutout_size=None,
                                sky_cfg=SKY, variance="model", psf_cfg=PSF)
    assert set(out.seconds) == {"fetch", "sky_subtract", "psf"}
    fits.HDUList(out.sky_hdus).writeto(tmp_path / "sky.fits")
    with fits.open(tmp_path / "sky.fits") as hdul:
        assert [x.name for x in hdul[1:]] == list(products.SKY_HDUS)
        hdr = hdul["SKYSUB"].header
        assert hdr[products.KEY_VARMODE] == "model" and hdr[products.KEY_NSOURCES] >= 1
        assert abs(np.median(hdul["SKYSUB"].data)) < 1.0 < hdr[products.KEY_SKYMED]
        assert np.all(hdul["VAR"].data > 0)
    # object 8 is off the image: its own member fails, object 7 does not
    assert isinstance(out.psfs["8"], DataError) and out.psfs["8"].stage == "psf"
    stamp, phdr = out.psfs["7"]["PSF"]
    assert stamp.shape == (15, 15) and stamp.sum() == pytest.approx(1.0, abs=0.01)
    assert (phdr[products.KEY_PSFX], phdr[products.KEY_PSFY]) == pytest.approx((31.0, 31.0))


def test_as_stored_gives_the_dtypes_a_reader_of_the_file_sees(tmp_path):
    a = np.linspace(0, 1, 12).reshape(3, 4)
    members = {"TMPL": (a, None), "BLANK": (a > 0.5, None), "PSFT": (a, None)}
    stored = products.as_stored(members)
    products.write_batch(tmp_path / "b.fits", {"R062_1_2": members})
    with products.Batch(tmp_path / "b.fits") as b:
        back = b.member("R062_1_2", members)
    for name in members:
        assert stored[name][0].dtype == back[name][0].dtype.newbyteorder("=")
        np.testing.assert_array_equal(stored[name][0], back[name][0])


def test_galsim_psf_model_image_travels_to_the_calibration_in_the_prepared_file(tmp_path):
    """The object's oversampled model image (PSFIMG) goes through the prepare product to the
    photometry job's calibration, which draws its stars in that cell from it instead of
    building a model of its own (the ~1.4 s a chromatic PSF costs)."""
    from romandia.simulate import psf as S
    from romandia.steps import calibrate

    path = _image(tmp_path)
    h = ou_header()
    psf_cfg = {"type": "galsim", "size": 15, "params": {}}
    out = prepare.prepare_image(path, image="R062_1_3", band="R062", objects=[(7, h["CRVAL1"], h["CRVAL2"])],
                                cutout_size=None, sky_cfg=SKY, variance="model", psf_cfg=psf_cfg)
    products.write_prepared(tmp_path / "prep.fits", out.sky_hdus, out.psfs)
    with products.Batch(tmp_path / "prep.fits") as prep:
        assert prep.members_with(products.PSF_MODEL_HDU) == ["7"]
        sky_hdr = prep.shared(["SKYSUB"])["SKYSUB"][1]
        (model,) = calibrate.object_models(prep, sky_hdr, (64, 64))
        # another frame (cutout origin or shape): the positions would be wrong, so none
        moved = sky_hdr.copy()
        moved[products.KEY_X0] = 5
        assert calibrate.object_models(prep, moved, (64, 64)) == []
        assert calibrate.object_models(prep, sky_hdr, (64, 65)) == []
    assert (model.x, model.y) == pytest.approx((31.0, 31.0)) and model.array.dtype.itemsize == 4
    # a PSFIMG member without its keys (not written by this version) is left out, not an error
    products.write_prepared(tmp_path / "odd.fits", out.sky_hdus, {"7": {products.PSF_MODEL_HDU: (model.array, None)}})
    with products.Batch(tmp_path / "odd.fits") as odd:
        assert calibrate.object_models(odd, sky_hdr, (64, 64)) == []
    psf_at = calibrate.grid_psf(psf_cfg, sky_hdr, (64, 64), 32.0, [model])
    S._cached_ii.cache_clear()
    # a star in the object's cell: drawn from the stored model, exactly what prepare's model draws
    star = psf_at(20.3, 25.6)
    assert S._cached_ii.cache_info().misses == 0
    # a star in another cell: that cell's own model, at the cell centre
    other = psf_at(50.2, 10.4)
    assert S._cached_ii.cache_info().misses == 1
    ref = P.psf_stamp("galsim", {"size": 15}, sky_hdr, 20.3, 25.6, at_position=True, model_xy=(31.0, 31.0))
    # (equal but for the local WCS at the stored position, 31.0000000005: 1e-12 of the peak)
    np.testing.assert_allclose(star, ref, rtol=0, atol=1e-12 * ref.max())
    np.testing.assert_array_equal(other, P.psf_stamp("galsim", {"size": 15}, sky_hdr, 50.2, 10.4,
                                                     at_position=True, model_xy=(47.5, 15.5)))
    # a model made with other parameters is never used
    with pytest.raises(ValueError, match="cannot draw"):
        P.psf_stamp("galsim", {"size": 15, "n_waves": None}, sky_hdr, 20.3, 25.6, at_position=True,
                    model_image=model)
    mono = calibrate.grid_psf({"type": "galsim", "size": 15, "params": {"n_waves": None}}, sky_hdr, (64, 64),
                              32.0, [model])
    np.testing.assert_array_equal(mono(20.3, 25.6), P.psf_stamp("galsim", {"size": 15, "n_waves": None}, sky_hdr,
                                                               20.3, 25.6, at_position=True, model_xy=(15.5, 15.5)))


def test_providers_without_a_model_image_store_none():
    assert P.model_image("gaussian", {"fwhm": 2.0}, ou_header(), 3.0, 3.0) is None
    assert P.model_key("galsim", {"oversample": None}) is None
    assert P.model_key("galsim", {}) != P.model_key("galsim", {"n_waves": None})
