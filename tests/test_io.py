"""Reading and staging OU2024 images: every kind of bad file gets a clear message naming it."""

import gzip

import numpy as np
import pytest
from astropy.io import fits

from romandia import io
from romandia.errors import DataError


def ou_header(ctype=("RA---TAN", "DEC--TAN"), band="R062"):
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = ctype
    h["CRPIX1"], h["CRPIX2"] = 32.0, 32.0
    h["CRVAL1"], h["CRVAL2"] = 7.55, -44.8
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -3.0e-5, 0.0, 0.0, 3.0e-5
    h["FILTER"], h["SCA_NUM"], h["MJD-OBS"], h["EXPTIME"], h["ZPTMAG"] = band, 3, 62000.5, 161.025, 16.9543
    return h


def write_ou(path, data=None, header=None, layout=("SCI", "ERR", "DQ")):
    header = header if header is not None else ou_header()
    data = data if data is not None else np.random.default_rng(1).normal(100, 10, (64, 64))
    hdus = [fits.PrimaryHDU(header=header)]
    for name in layout:
        arr = np.zeros(data.shape, np.uint32) if name == "DQ" else data.astype(np.float32)
        hdus.append(fits.ImageHDU(arr, header=header, name=name))
    raw = fits.HDUList(hdus)
    tmp = path.with_suffix(".tmp")
    raw.writeto(tmp)
    path.write_bytes(gzip.compress(tmp.read_bytes(), compresslevel=1))
    tmp.unlink()
    return path


def put(p, data: bytes):
    p.write_bytes(data)
    return p


def test_reads_valid_image_and_zeropoint(tmp_path):
    img = io.load_ou_image(write_ou(tmp_path / "a.fits.gz"), expected_band="R062")
    assert img.data.shape == (64, 64) and img.err is not None and img.dq.dtype == np.uint32
    assert img.zeropoint == pytest.approx(15.296832274841094 + 16.9543)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p, r"image file not found"),
        (lambda p: put(p, b"\x1f\x8b" + b"garbage" * 10), r"corrupt or truncated gzip"),
        (lambda p: put(p, write_ou(p).read_bytes()[:400]), r"corrupt or truncated gzip"),
        (lambda p: put(p, b"SIMPLE  =  nonsense"), r"unreadable FITS"),
        (lambda p: write_ou(p, layout=()), r"wrong HDU layout"),
        (lambda p: write_ou(p, header=ou_header(ctype=("", ""))), r"no WCS"),
        (lambda p: write_ou(p, header=ou_header(ctype=("RA---ZPN", "DEC--ZPN"))), r"unsupported projection"),
        (lambda p: write_ou(p, header=ou_header(band="Y106")), r"FILTER is Y106 but the image list says R062"),
        (lambda p: write_ou(p, data=np.full((64, 64), np.nan)), r"all NaN"),
        (lambda p: write_ou(p, data=np.zeros((64, 64))), r"all zero"),
    ],
)
def test_bad_images_name_file_and_problem(tmp_path, make, match):
    p = make(tmp_path / "bad.fits.gz")
    with pytest.raises(DataError, match=match) as exc:
        io.load_ou_image(p, expected_band="R062")
    assert "bad.fits.gz" in str(exc.value) and exc.value.stage == "fetch"


def test_header_without_keys(tmp_path):
    h = ou_header()
    del h["ZPTMAG"]
    with pytest.raises(DataError, match="header lacks ZPTMAG"):
        io.load_ou_image(write_ou(tmp_path / "k.fits.gz", header=h))


def test_crop_keeps_wcs_and_sca_origin(tmp_path):
    img = io.load_ou_image(write_ou(tmp_path / "a.fits.gz"))
    full = img.wcs
    cut = io.crop_image(img, io.cutout_bounds(img.data.shape, [(40.2, 30.7)], 16))
    assert cut.data.shape == (16, 16)
    x0, y0 = cut.origin
    ra, dec = full.pixel_to_world_values(40.2, 30.7)
    x, y = cut.wcs.world_to_pixel_values(ra, dec)
    assert (x + x0, y + y0) == pytest.approx((40.2, 30.7), abs=1e-6)
    np.testing.assert_array_equal(cut.data, img.data[y0 : y0 + 16, x0 : x0 + 16])


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.fits"
    with pytest.raises(RuntimeError):
        with io.atomic_output(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_failure_marker_roundtrip(tmp_path):
    p = tmp_path / "f.fits"
    io.write_failure(p, "align", "template does not overlap the science image " * 3)
    err = io.read_failure(p)
    assert err.stage == "align" and err.reason.startswith("template does not overlap")
    assert io.first_failure([p]) is not None
