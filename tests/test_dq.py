"""Roman DQ flags: which pixels are masked, and a masked pixel at the object naming its flag."""

import numpy as np
import pytest
from astropy.io import fits
from test_io import ou_header
from test_steps_prepare import SKY

from romandia import checks, dq, io, products
from romandia.errors import DataError
from romandia.steps import prepare


def test_default_mask_is_every_flag_but_warm_and_low_qe():
    bits = dq.mask_bits()
    assert not bits & dq.FLAGS["WARM"] and not bits & dq.FLAGS["LOW_QE"]
    assert all(bits & v for k, v in dq.FLAGS.items() if k not in ("WARM", "LOW_QE"))
    assert dq.mask_bits([]) == 0xFFFFFFFF
    with pytest.raises(ValueError, match=r"unknown DQ flag\(s\) \['TOASTY'\]"):
        dq.mask_bits(["TOASTY"])
    v = np.array([dq.FLAGS["HOT"], dq.FLAGS["HOT"] | dq.FLAGS["DEAD"], dq.FLAGS["WARM"], 2**14])
    assert dq.describe(v, dq.mask_bits()) == "DEAD (1), HOT (2), unnamed bit(s) (1)"


def _image(flags):
    rng = np.random.default_rng(5)
    data = rng.normal(100.0, 5.0, (64, 64)).astype(np.float32)
    q = np.zeros((64, 64), np.uint32)
    for (y, x), name in flags.items():
        q[y, x] = dq.FLAGS[name]
    return io.Image(data=data, err=None, dq=q, header=ou_header())


def test_sky_stage_masks_flagged_pixels_and_keeps_the_dq(tmp_path):
    img = _image({(10, 12): "HOT", (30, 40): "WARM"})
    hdus = prepare.sky_product(img, sky_cfg=SKY, variance="model")
    fits.HDUList(hdus).writeto(tmp_path / "sky.fits")
    got = io.read_hdus(tmp_path / "sky.fits", products.SKY_HDUS)
    skysub, hdr = got["SKYSUB"]
    assert np.isnan(skysub[10, 12]) and np.isnan(got["VAR"][0][10, 12])
    assert np.isfinite(skysub[30, 40]), "WARM does not mask by default"
    assert np.isfinite(skysub).sum() == 64 * 64 - 1 and hdr[products.KEY_NDQMASK] == 1
    assert got["DQ"][0].dtype == np.uint32 and got["DQ"][0][10, 12] == dq.FLAGS["HOT"]
    hdus = prepare.sky_product(img, sky_cfg=SKY, variance="model", dq_ignore=["WARM", "LOW_QE", "HOT"])
    assert hdus[0].header[products.KEY_NDQMASK] == 0


def test_flagged_science_pixel_in_the_fit_box_fails_the_row_naming_the_flag():
    h = ou_header()  # CRVAL at 0-based pixel (31, 31)
    ra, dec = h["CRVAL1"], h["CRVAL2"]
    img = _image({(33, 30): "DEAD", (50, 50): "HOT"})
    with pytest.raises(DataError, match=r"1 science pixel\(s\) flagged in DQ within the 7x7 fit box: DEAD \(1\)"):
        checks.check_dq_at_object(img.dq, h, ra, dec, 7, dq.mask_bits())
    checks.check_dq_at_object(img.dq, h, ra, dec, 3, dq.mask_bits())  # (33, 30) is outside a 3x3 box
    checks.check_dq_at_object(img.dq, h, ra, dec, 7, dq.mask_bits(["DEAD"]))  # ignored flag
    checks.check_dq_at_object(None, h, ra, dec, 7, dq.mask_bits())
