"""Roman L2 ASDF input images (romandia.l2asdf): the same image as OU2024 FITS and as L2 ASDF
reads back to the same counts, zeropoint and sky positions; every kind of bad ASDF file gets a
DataError naming the file and what is wrong."""

import numpy as np
import pytest
from astropy.io import fits
from test_io import ou_header, write_ou

from romandia import io, l2asdf
from romandia.constants import zeropoint
from romandia.errors import DataError
from romandia.simulate.l2asdf import l2_image_model, write_l2_asdf

SHAPE = (64, 80)


def sip_header():
    h = ou_header(band="H158")
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
    h["CRPIX1"], h["CRPIX2"] = -300.0, 900.0  # a cutout far from the SCA's reference pixel
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -2.99e-5, 1.6e-6, -6.8e-7, -2.95e-5
    h["A_ORDER"] = h["B_ORDER"] = 3
    h["A_2_0"], h["A_1_1"], h["A_0_2"], h["A_3_0"] = -7.9e-10, -7.6e-10, 2.7e-10, -2.4e-14
    h["B_2_0"], h["B_1_1"], h["B_0_2"], h["B_0_3"] = 3.1e-10, 8.0e-10, -1.1e-9, 2.0e-14
    h["ROMX0"], h["ROMY0"] = 1200, 2300
    return h


def scene(rng=None):
    rng = rng or np.random.default_rng(3)
    data = rng.normal(400.0, 20.0, SHAPE)
    data[30:33, 40:43] += 5000.0
    return data


@pytest.fixture
def pair(tmp_path):
    """The same image as FITS and as L2 ASDF (MJy/sr)."""
    h, data = sip_header(), scene()
    fits_path = write_ou(tmp_path / "img.fits.gz", data=data, header=h)
    model = l2_image_model(h, data, np.sqrt(data), band="H158", sca=3, mjd=h["MJD-OBS"], exptime=h["EXPTIME"],
                           zeropoint=zeropoint("H158", h["ZPTMAG"]), sca_origin=(1200, 2300))
    asdf_path = tmp_path / "img.asdf"
    write_l2_asdf(asdf_path, model)
    return fits_path, asdf_path, model


def test_asdf_reads_back_as_the_fits_image(pair):
    fits_path, asdf_path, _ = pair
    a, b = io.load_ou_image(fits_path), io.load_image(asdf_path, expected_band="H158")
    np.testing.assert_allclose(b.data, a.data, rtol=2e-7, atol=1e-3)  # float32 MJy/sr and back
    assert b.zeropoint == pytest.approx(a.zeropoint, abs=1e-9)
    assert (b.band, int(b.header["SCA_NUM"]), b.origin) == ("H158", 3, (1200, 2300))
    assert b.header["MJD-OBS"] == a.header["MJD-OBS"] and b.header["EXPTIME"] == a.header["EXPTIME"]
    assert b.header["ROMFMT"] == "ASDF" and b.header["ROMBUNIT"] == "MJy/sr" and b.header["ROMGAIN"] == 2.0
    assert 0 <= b.header["WCSFITER"] < 0.01
    x, y = np.meshgrid(np.linspace(0, SHAPE[1] - 1, 7), np.linspace(0, SHAPE[0] - 1, 7))
    ra, dec = a.wcs.all_pix2world(x.ravel(), y.ravel(), 0)
    bx, by = io.sky_to_pixel(b.wcs, ra, dec)
    assert np.max(np.hypot(bx - x.ravel(), by - y.ravel())) < 1e-3
    np.testing.assert_allclose(b.err, np.sqrt(scene()), rtol=2e-3)  # err is float16 in L2
    assert b.dq.dtype == np.uint32 and not b.dq.any()


def test_gain_changes_counts_but_not_calibrated_fluxes(pair):
    _, asdf_path, _ = pair
    g2, g1 = io.load_image(asdf_path), io.load_image(asdf_path, asdf={"gain": 1.0})
    np.testing.assert_allclose(g1.data * 2.0, g2.data, rtol=1e-6)
    # the same source has the same AB magnitude whatever the gain
    m1 = -2.5 * np.log10(g1.data[31, 41]) + g1.zeropoint
    m2 = -2.5 * np.log10(g2.data[31, 41]) + g2.zeropoint
    assert m1 == pytest.approx(m2, abs=1e-6)


def test_dn_per_second_data_give_the_same_counts(pair, tmp_path):
    fits_path, _, model = pair
    conv = model.meta.photometry.conversion_megajanskys
    model.data = (np.asarray(model.data, np.float64) / conv).astype(np.float32)  # back to DN/s
    model.err = (np.asarray(model.err, np.float64) / conv).astype(np.float16)
    model.meta.cal_step.flux = "INCOMPLETE"
    write_l2_asdf(tmp_path / "dn.asdf", model)
    b = io.load_image(tmp_path / "dn.asdf")
    assert b.header["ROMBUNIT"] == "DN/s"
    np.testing.assert_allclose(b.data, io.load_ou_image(fits_path).data, rtol=2e-6, atol=2e-3)


def test_footprint_locates_objects_without_reading_the_arrays(pair):
    fits_path, asdf_path, _ = pair
    a = io.load_ou_image(fits_path)
    to_pixel, nx, ny = l2asdf.footprint(asdf_path)
    ra, dec = a.wcs.all_pix2world(12.3, 45.6, 0)
    x, y = to_pixel(float(ra), float(dec))
    assert (nx, ny) == (SHAPE[1], SHAPE[0]) and abs(x - 12.3) < 1e-3 and abs(y - 45.6) < 1e-3


def _expect(path, *fragments, **kw):
    with pytest.raises(DataError) as exc:
        io.load_image(path, **kw)
    msg = str(exc.value)
    assert exc.value.stage == "fetch" and str(path) in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


def test_bad_asdf_inputs_name_the_file_and_the_problem(pair, tmp_path):
    _, good, model = pair
    # not ASDF at all: a FITS file or text under a .asdf name
    _expect(tmp_path.joinpath("text.asdf"), "image file not found")
    (tmp_path / "text.asdf").write_text("path observation_id sca mjd band\n")
    _expect(tmp_path / "text.asdf", "not an ASDF file")
    fake = tmp_path / "fits.asdf"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(fake)
    _expect(fake, "not an ASDF file")
    # truncated ASDF
    trunc = tmp_path / "trunc.asdf"
    trunc.write_bytes(good.read_bytes()[:3000])
    _expect(trunc, "unreadable as a Roman datamodel")
    # an ASDF file of another datamodel: a level-3 mosaic
    import roman_datamodels.datamodels as rdd

    mosaic = tmp_path / "mosaic.asdf"
    rdd.MosaicModel.create_fake_data(shape=(8, 8)).save(str(mosaic))
    _expect(mosaic, "a MosaicModel, not an ImageModel")
    # a plain ASDF file with no Roman datamodel
    import asdf

    plain = tmp_path / "plain.asdf"
    asdf.AsdfFile({"data": np.zeros((4, 4))}).write_to(str(plain))
    _expect(plain, "unreadable as a Roman datamodel")
    # wrong band for the image list
    _expect(good, "image's band is H158", "list says R062", expected_band="R062")


@pytest.mark.parametrize("edit, fragments", [
    (lambda m: setattr(m.meta, "wcs", None), ("meta.wcs is missing", "assign_wcs")),
    (lambda m: setattr(m.meta.photometry, "conversion_megajanskys", None),
     ("meta.photometry.conversion_megajanskys is missing",)),
    (lambda m: setattr(m.meta.photometry, "pixel_area", -999999.0), ("meta.photometry.pixel_area = -999999.0",)),
    (lambda m: setattr(m.meta.exposure, "exposure_time", 0.0), ("meta.exposure.exposure_time = 0.0",)),
    (lambda m: setattr(m.meta.instrument, "optical_element", "PRISM"), ("optical_element 'PRISM'",)),
])
def test_missing_or_invalid_meta_is_named(pair, tmp_path, edit, fragments):
    _, _, model = pair
    edit(model)
    path = tmp_path / "bad.asdf"
    write_l2_asdf(path, model)
    _expect(path, *fragments)


def test_a_wcs_the_fit_cannot_follow_fails_naming_the_error(pair):
    _, good, _ = pair
    msg = _expect(good, "TAN-SIP fits meta.wcs only to", "asdf.max_wcs_error_px = 1e-12",
                  asdf={"max_wcs_error_px": 1e-12})
    assert "px" in msg
