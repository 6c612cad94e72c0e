"""romandia.products (batch files with per-member failures), romandia.steps helpers and
io.sky_to_pixel."""

import logging

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from romandia import io, products
from romandia.errors import DataError
from romandia.steps import each_member
from romandia.steps.subtract import fit_masks, zeropoint_flux_ratio


def test_batch_keeps_good_members_beside_a_failed_one(tmp_path):
    out = tmp_path / "b.fits"
    hdr = fits.Header({"SKYRMS": 3.5})
    members = {
        "R062_1_1": {"DIFF": (np.ones((4, 5)), hdr), "PSF": (np.eye(3), None), "BLANK": (np.zeros((4, 5), bool), hdr)},
        "R062_2_1": DataError("align", "template and science images do not overlap"),
    }
    products.write_batch(out, members, shared={"SCI": (np.full((4, 5), 2.0), hdr)})
    with products.Batch(out) as b:
        assert b.status("R062_1_1") is None
        m = b.member("R062_1_1", ["DIFF", "PSF", "BLANK"])
        assert m["DIFF"][0].dtype.kind == "f" and m["DIFF"][0].itemsize == 4 and m["DIFF"][1]["SKYRMS"] == 3.5
        assert m["PSF"][0].itemsize == 8 and m["BLANK"][0].dtype == np.uint8
        with pytest.raises(DataError) as exc:
            b.member("R062_2_1", ["DIFF"])
        assert (exc.value.stage, exc.value.reason) == ("align", "template and science images do not overlap")
        assert b.shared(["SCI"])["SCI"][0].mean() == 2.0
        with pytest.raises(DataError, match="has no HDU VAR.R062_1_1"):
            b.member("R062_1_1", ["VAR"])


def test_a_failure_marker_fails_every_member(tmp_path):
    out = tmp_path / "f.fits"
    io.write_failure(out, "fetch", "image x.fits.gz is truncated")
    with products.Batch(out) as b:
        for m in ("a", "b"):
            with pytest.raises(DataError, match="truncated"):
                b.member(m, ["DIFF"])
        with pytest.raises(DataError):
            b.shared(["SCI"])


def test_each_member_isolates_data_errors_not_faults():
    def fn(m):
        if m == 2:
            raise DataError("psf", "outside")
        return m * 10

    out = each_member([1, 2, 3], fn, logging.getLogger("t"))
    assert out[1] == 10 and out[3] == 30 and isinstance(out[2], DataError)

    def broken(m):
        raise MemoryError("infrastructure")

    with pytest.raises(MemoryError):
        each_member([1], broken)


def test_prepared_product_holds_the_staged_image_and_a_psf_member_per_object(tmp_path):
    out = tmp_path / "p.fits"
    hdr = fits.Header({"SKYRMS": 3.5, products.KEY_SHA256: "ab" * 32})
    staged = [fits.PrimaryHDU(header=hdr), io.image_hdu(np.full((4, 5), 2.0), hdr, "SKYSUB"),
              io.image_hdu(np.ones((4, 5)), hdr, "VAR")]
    psfs = {"7": {"PSF": (np.eye(3) / 3, None), "ATPOS": (np.eye(3) / 3, None)},
            "8": DataError("psf", "object 8 is outside the image")}
    products.write_prepared(out, staged, psfs)
    with products.Batch(out) as b:
        sky = b.shared(["SKYSUB", "VAR"])
        assert sky["SKYSUB"][0].mean() == 2.0 and sky["SKYSUB"][1][products.KEY_SHA256] == "ab" * 32
        assert b.member("7", ["PSF"])["PSF"][0].itemsize == 8
        with pytest.raises(DataError, match="outside the image"):
            b.member("8", ["ATPOS"])
    # the readers of the staged image by HDU name see it as before
    assert io.read_hdus(out, ["VAR"])["VAR"][0].sum() == 20


def test_checksums_travel_in_the_difference_product(tmp_path):
    out = tmp_path / "d.fits"
    sums = {"H158_1_2": "ab" * 32, "H158_10_12": "cd" * 32, "H158_3_4": None}
    products.write_batch(out, {"H158_10_12": DataError("align", "no overlap")},
                         extra_hdus=[products.checksum_hdu(sums)])
    with products.Batch(out) as b:
        # an unreadable image (None) is left out; a failed pair keeps its template's checksum
        assert b.checksums() == {"H158_1_2": "ab" * 32, "H158_10_12": "cd" * 32}
    io.write_failure(out, "fetch", "truncated")
    with products.Batch(out) as b:
        assert b.checksums() == {}


def test_paths_are_keyed_by_image():
    assert products.path("res/dia", "prepared", "R062_1_2") == "res/dia/prepare/R062_1_2.fits"
    assert products.path("res/dia", "difference", "R062_1_2") == "res/dia/subtract/R062_1_2.fits"
    assert products.path("res/dia", "photometry", "R062_1_2") == "res/dia/phot/R062_1_2.json"


def _wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [7.5, -44.5]
    w.wcs.crpix = [50.5, 40.5]
    w.wcs.cd = np.array([[-0.11, 0.0], [0.0, 0.11]]) / 3600
    return w


def test_sky_to_pixel_uses_the_header_frame_scalar_and_array():
    w = _wcs()
    x, y = io.sky_to_pixel(w, 7.5, -44.5)
    assert isinstance(x, float) and (x, y) == pytest.approx((49.5, 39.5))
    xs, ys = io.sky_to_pixel(w, np.array([7.5, 7.5]), np.array([-44.5, -44.5 + 0.11 / 3600]))
    assert xs == pytest.approx([49.5, 49.5]) and ys == pytest.approx([39.5, 40.5])


def test_zeropoint_flux_ratio():
    assert zeropoint_flux_ratio(26.0, 26.0) == 1.0
    assert zeropoint_flux_ratio(27.0, 26.0) == pytest.approx(10**0.4)


def test_fit_masks_cut_out_every_object():
    hdr = _wcs().to_header()
    det = np.ones((80, 100), bool)
    mask, excl, n = fit_masks(det, hdr, [(7.5, -44.5)], 3.0)
    assert n == 1 and excl.sum() == (~mask).sum() > 0
    assert not mask[39, 49] and excl[39, 49] and mask[0, 0] and not excl[0, 0]
