"""Tests of romandia.ou2024: OU2024 paths, truth catalogues, obseq and SNANA truth I/O."""

import math

import numpy as np
import pandas as pd
import pytest

from romandia import ou2024
from romandia.constants import EXPTIME, IMAGELIST_HEADER, zeropoint, zptmag
from romandia.errors import InputError

SN_ID = 20172782
SN_RA, SN_DEC = 7.551093401915147, -44.80718106491529
SAMPLE = "ou2024/truth/Y106/35198/Roman_TDS_index_Y106_35198_2.sample.txt"


def test_image_paths_and_parsing():
    rel = ou2024.image_relpath("R062", 35083, 8)
    assert rel == "R062/35083/Roman_TDS_simple_model_R062_35083_8.fits.gz"
    assert ou2024.image_filename("R062", 35083, 8) == "Roman_TDS_simple_model_R062_35083_8.fits.gz"
    assert ou2024.parse_image_name(rel) == ("R062", 35083, 8)
    assert ou2024.parse_image_name("/a/b/Roman_TDS_simple_model_Y106_6_17.fits") == ("Y106", 6, 17)
    assert ou2024.truth_relpath("Y106", 35198, 2) == "Y106/35198/Roman_TDS_index_Y106_35198_2.txt"


@pytest.mark.parametrize("name", [
    "Roman_TDS_simple_model_R062_35083.fits.gz",          # no SCA
    "Roman_TDS_truth_R062_35083_8.fits.gz",               # not simple_model
    "Roman_TDS_simple_model_X999_1_8.fits.gz",            # unknown band
    "Roman_TDS_simple_model_R062_1_19.fits.gz",           # SCA out of range
    "Roman_TDS_simple_model_R062_a_8.fits.gz",
])
def test_parse_image_name_rejects(name):
    with pytest.raises(InputError, match="Roman_TDS|band|SCA"):
        ou2024.parse_image_name(name)


def test_packaged_data_and_lists():
    assert ou2024.default_obseq_path().is_file()
    with pytest.raises(InputError, match="does not exist"):
        ou2024.packaged_data("ou2024/nope.txt")
    for name in ("20172782_instances_templates_1.csv", "20172782_instances_science.csv"):
        text = ou2024.packaged_data(f"ou2024/phrosty_lists/{name}").read_text()
        assert text.splitlines()[0] == IMAGELIST_HEADER


def test_read_real_truth_sample():
    df = ou2024.read_truth_catalog(ou2024.packaged_data(SAMPLE))
    assert list(df.columns) == list(ou2024.TRUTH_COLUMNS)
    assert df["object_id"].dtype == np.int64
    assert set(df["obj_type"]) == {"galaxy", "star", "transient"}
    sn = df[df["object_id"] == SN_ID].iloc[0]
    assert sn["obj_type"] == "transient"
    assert sn["x"] == pytest.approx(1037.05348)
    # mag = -2.5 log10(flux) + galsim zp  (flux = expected counts in the exposure)
    assert sn["mag"] == pytest.approx(-2.5 * math.log10(sn["flux"]) + 15.023547191066584, abs=1e-6)


def test_truth_writer_reproduces_ou_format_exactly(tmp_path):
    src = ou2024.packaged_data(SAMPLE)
    out = tmp_path / "t.txt"
    ou2024.write_truth_catalog(out, ou2024.read_truth_catalog(src))
    assert out.read_text() == src.read_text()
    first = out.read_text().splitlines()[0]
    assert first == ou2024.TRUTH_HEADER and first.split()[1:] == list(ou2024.TRUTH_COLUMNS)


def test_truth_writer_handles_zero_flux_and_rejects_bad_type(tmp_path):
    df = pd.DataFrame([dict(object_id=1, ra=1.0, dec=-2.0, x=10.5, y=-3.0, realized_flux=0.0,
                            flux=0.0, mag=math.inf, obj_type="transient")])
    p = tmp_path / "a" / "t.txt"
    ou2024.write_truth_catalog(p, df)
    back = ou2024.read_truth_catalog(p)
    assert np.isinf(back["mag"][0]) and back["flux"][0] == 0.0
    assert len(p.read_text().splitlines()[1]) == 152
    df.loc[0, "obj_type"] = "quasar"
    with pytest.raises(InputError, match="obj_type"):
        ou2024.write_truth_catalog(p, df)
    (tmp_path / "bad.txt").write_text("# a b c\n1 2 3\n")
    with pytest.raises(InputError, match="not an OU2024 truth"):
        ou2024.read_truth_catalog(tmp_path / "bad.txt")


def test_read_obseq_real_and_roundtrip(tmp_path):
    ob = ou2024.read_obseq()
    assert len(ob) == 57365 and ob.index[0] == 0
    row = ob.loc[35198]
    assert row["filter"] == "Y106" and row["date"] == pytest.approx(62455.669)
    assert row["exptime"] == pytest.approx(EXPTIME["Y106"])
    sub = ob.loc[[6, 35083]].copy()
    sub.index = pd.Index([100001, 35083], name="pointing")
    ou2024.write_obseq(tmp_path / "o.fits", sub)
    back = ou2024.read_obseq(tmp_path / "o.fits")
    assert list(back.index) == [35083, 100001]          # explicit pointing column, sorted
    assert back.loc[100001, "filter"] == "R062"
    assert back.loc[100001, "date"] == pytest.approx(62000.04011)


def test_healpix_of_sn_is_10430():
    assert ou2024.healpix_ring(SN_RA, SN_DEC) == 10430
    # a few reference values of the RING scheme (nside 32): poles and equator
    # RING scheme reference values: poles, equator (first pixel of ring 2*nside), nside=1
    assert ou2024.healpix_ring(0.0, 90.0) == 0
    assert ou2024.healpix_ring(0.0, -90.0) == 12 * 32 * 32 - 4
    assert ou2024.healpix_ring(0.0, 0.0) == 2 * 32 * 31 + 32 * 4 * 32
    assert ou2024.healpix_ring(0.0, 0.0, nside=1) == 4
    assert ou2024.healpix_ring(100.0, 0.0, nside=1) == 5


def test_truth_mag_interpolation_and_outside():
    grid = np.array([10.0, 20.0, 30.0])
    mags = np.array([25.0, 23.0, 24.0], dtype="float32")
    assert ou2024.truth_mag(grid, mags, 15.0) == pytest.approx(24.0)
    assert ou2024.truth_mag(grid, mags, 9.99) == math.inf
    assert ou2024.truth_mag(grid, mags, 30.01) == math.inf
    np.testing.assert_allclose(ou2024.truth_mag(grid, mags, [10.0, 30.0]), [25.0, 24.0])
    assert ou2024.mag_to_counts(math.inf, 32.0) == 0.0
    assert ou2024.mag_to_counts(32.0 - 2.5 * math.log10(1000.0), 32.0) == pytest.approx(1000.0)


def test_real_snana_truth_matches_real_ou_truth_flux():
    """HDF5 mag_Y at the image MJD through the header zeropoint = OU's truth flux (to 0.5 %)."""
    mjd, mags = ou2024.read_snana_lightcurve(
        ou2024.packaged_data("ou2024/snana_truth/snana_10430.hdf5"), SN_ID)
    assert mjd.dtype == np.float64 and set(mags) == {"R062", "Z087", "Y106", "J129", "H158",
                                                     "F184", "K213"}
    zp = zeropoint("Y106", zptmag(EXPTIME["Y106"]))
    assert zp == pytest.approx(32.6617, abs=1e-4)
    counts = ou2024.mag_to_counts(ou2024.truth_mag(mjd, mags["Y106"], 62455.669), zp)
    df = ou2024.read_truth_catalog(ou2024.packaged_data(SAMPLE))
    ou_flux = float(df.loc[df["object_id"] == SN_ID, "flux"].iloc[0])
    assert counts == pytest.approx(ou_flux, rel=5e-3)


def test_snana_roundtrip_and_lookup(tmp_path):
    params = pd.DataFrame([
        dict(id=5, ra=1.0, dec=-2.0, start_mjd=10.0, peak_mjd=20.0, end_mjd=30.0, host_id=7,
             z_CMB=0.3, model_name="m"),
        dict(id=6, ra=1.1, dec=-2.1, start_mjd=11.0, peak_mjd=21.0, end_mjd=31.0, host_id=-1,
             z_CMB=float("nan"), model_name="m"),
    ])
    lcs = {5: {"mjd": np.array([10.0, 20.0, 30.0]),
               "mag_R": np.array([25, 22, 24], dtype="float32"),
               "mag_H": np.array([26, 23, 25], dtype="float32")},
           6: {"mjd": np.array([11.0, 31.0]), "mag_R": np.array([20, 21], dtype="float32")}}
    ou2024.write_snana(tmp_path, 99, params, lcs)
    # a 'flux' parquet and another healpix without the id are skipped
    params.iloc[:0].to_parquet(tmp_path / "snana_flux_99.parquet")
    ou2024.write_snana(tmp_path, 3, params.iloc[1:], {6: lcs[6]})
    row, mjd, mags = ou2024.find_sn_truth(tmp_path, 5)
    assert row["id"] == 5 and row["healpix"] == 99 and row["host_id"] == 7
    np.testing.assert_array_equal(mjd, [10.0, 20.0, 30.0])
    assert set(mags) == {"R062", "H158"} and mags["R062"].dtype == np.float32
    assert mags["H158"][1] == 23
    with pytest.raises(InputError, match="SN 12345"):
        ou2024.find_sn_truth(tmp_path, 12345)
    with pytest.raises(InputError, match="missing columns"):
        ou2024.write_snana(tmp_path, 1, params.drop(columns="z_CMB"), lcs)
