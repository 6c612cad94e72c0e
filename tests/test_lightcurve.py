"""Tests of romandia.lightcurve: schema, rows, sorting, deterministic files, plotting."""

import math
import os

import numpy as np
import pandas as pd
import pytest

from romandia.lightcurve import (
    COLUMNS,
    DTYPES,
    EXTRA_COLUMNS,
    apply_schema,
    failed_row,
    make_row,
    merge_rows,
    plot_lightcurve,
    read_lightcurve,
    write_lightcurve,
)

PHROSTY_COLUMNS = [
    "mjd",
    "flux",
    "flux_err",
    "zpt",
    "NEA",
    "sky_rms",
    "observation_id",
    "sca",
    "pix_x",
    "pix_y",
    "science_name",
    "template_name",
    "science_id",
    "template_id",
    "template_observation_id",
    "template_sca",
    "aperture_sum",
    "mag",
    "mag_err",
    "success",
]


def phot(flux=1000.0, flux_err=50.0, success=True, message=""):
    return {
        "flux": flux if success else math.nan,
        "flux_err": flux_err if success else math.nan,
        "aperture_sum": 0.8 * flux if success else math.nan,
        "aperture_sum_err": 40.0 if success else math.nan,
        "nea": 12.5 if success else math.nan,
        "local_bkg": 0.0,
        "chi2_red": 1.02,
        "x": 49.3,
        "y": 50.1,
        "success": success,
        "message": message,
    }


def meta(mjd, obs, sca, tobs, tsca, **kw):
    m = {
        "mjd": mjd,
        "zpt": 32.5,
        "sky_rms": 7.5,
        "observation_id": obs,
        "sca": sca,
        "pix_x": 1000.25,
        "pix_y": 2000.75,
        "science_name": f"Roman_TDS_simple_model_Y106_{obs}_{sca}.fits.gz",
        "template_name": f"Roman_TDS_simple_model_Y106_{tobs}_{tsca}.fits.gz",
        "template_observation_id": tobs,
        "template_sca": tsca,
        "oid": 20172782,
        "band": "Y106",
        "ra": 7.551093401915147,
        "dec": -44.80718106491529,
    }
    m.update(kw)
    return m


def example_rows():
    rng = np.random.default_rng(1)
    rows = []
    for mjd, obs, sca in [
        (62455.669, 35083, 8),
        (62515.527, 44650, 5),
        (62455.669, 35083, 2),
        (62470.1, 9999, 17),
    ]:
        for tobs, tsca in [(5934, 3), (10000, 1), (5934, 1)]:
            f = float(rng.normal(2000, 300))
            rows.append(make_row(phot(f, 60.0), meta(mjd, obs, sca, tobs, tsca, flux_true=2000.0)))
    rows.append(failed_row(meta(62500.0, 40000, 4, 5934, 3), "subtract", "singular SFFT system"))
    rows.append(
        make_row(
            phot(success=False, message="3 non-finite image pixel(s)"),
            meta(62490.0, 39000, 4, 5934, 3),
        )
    )
    rows.append(make_row(phot(-150.0, 60.0), meta(62480.0, 38000, 4, 5934, 3)))
    return rows


# ------------------------------------------------------------------------------------------
def test_columns_match_phrosty():
    assert list(COLUMNS) == PHROSTY_COLUMNS
    assert len(COLUMNS) == 20
    assert set(COLUMNS) | set(EXTRA_COLUMNS) == set(DTYPES)
    assert "failure_reason" in EXTRA_COLUMNS and "oid" in EXTRA_COLUMNS


def test_make_row_values():
    r = make_row(phot(1000.0, 50.0), meta(62455.669, 35083, 8, 5934, 3))
    assert r["mag"] == pytest.approx(-7.5)
    assert r["mag_err"] == pytest.approx(1.0857362 * 0.05)
    assert r["zpt"] == 32.5
    assert r["mag"] + r["zpt"] == pytest.approx(25.0)  # AB
    assert r["NEA"] == 12.5
    assert r["success"] is True and r["failure_reason"] == ""
    assert r["science_id"] == "None" and r["template_id"] == "None"
    neg = make_row(phot(-100.0, 50.0), meta(1.0, 1, 1, 2, 2))
    assert math.isnan(neg["mag"]) and neg["mag_err"] == pytest.approx(1.0857362 * 0.5)
    assert neg["success"] is True
    bad = make_row(phot(success=False, message="fit box off image"), meta(1.0, 1, 1, 2, 2))
    assert bad["success"] is False
    assert bad["failure_reason"] == "photometry: fit box off image"
    assert math.isnan(bad["flux"]) and math.isnan(bad["mag"])
    with pytest.raises(KeyError):
        make_row(phot(), {"mjd": 1.0})


def test_failed_row():
    r = failed_row({"mjd": 62000.5, "observation_id": "123", "sca": 4}, "align", "no overlap")
    assert r["success"] is False
    assert r["failure_reason"] == "align: no overlap"
    assert math.isnan(r["flux"]) and math.isnan(r["mag"]) and math.isnan(r["NEA"])
    assert r["mjd"] == 62000.5
    df = merge_rows([r])
    assert df["template_sca"].iloc[0] == -1 and df["template_observation_id"].iloc[0] == ""


def test_merge_rows_schema_and_order():
    rows = example_rows()
    df = merge_rows(rows)
    assert list(df.columns[:20]) == PHROSTY_COLUMNS
    assert list(df.columns[20 : 20 + len(EXTRA_COLUMNS)]) == list(EXTRA_COLUMNS)
    for col, dt in DTYPES.items():
        if dt == "str":
            assert df[col].dtype == object
            assert all(isinstance(v, str) for v in df[col])
        else:
            assert df[col].dtype == np.dtype(dt), col
    assert df["observation_id"].iloc[0] == "35083"
    assert list(df.index) == list(range(len(df)))
    # sorted by (mjd, observation_id, sca, template_observation_id numerically, template_sca)
    first = df.iloc[:6]
    assert (first["mjd"] == 62455.669).all()
    assert list(first["sca"]) == [2, 2, 2, 8, 8, 8]
    assert list(first["template_observation_id"][:3]) == ["5934", "5934", "10000"]
    assert list(first["template_sca"][:3]) == [1, 3, 1]
    assert np.all(np.diff(df["mjd"]) >= 0)
    # independent of input order
    for seed in range(5):
        perm = np.random.default_rng(seed).permutation(len(rows))
        shuffled = merge_rows([rows[i] for i in perm])
        pd.testing.assert_frame_equal(shuffled, df)
    assert int((~df["success"]).sum()) == 2
    assert set(df.loc[~df["success"], "failure_reason"]) == {
        "subtract: singular SFFT system",
        "photometry: 3 non-finite image pixel(s)",
    }


def test_extra_columns_sorted_after_known():
    rows = [dict(r, zeta=1.0, alpha="a") for r in example_rows()[:2]]
    df = merge_rows(rows)
    assert list(df.columns[-2:]) == ["alpha", "zeta"]
    assert list(df.columns[: len(COLUMNS)]) == PHROSTY_COLUMNS


def test_empty():
    df = merge_rows([])
    assert len(df) == 0
    assert list(df.columns) == list(COLUMNS) + list(EXTRA_COLUMNS)


def test_write_deterministic_and_roundtrip(tmp_path):
    rows = example_rows()
    df = merge_rows(rows)
    a_csv, a_pq = tmp_path / "a" / "lc.csv", tmp_path / "a" / "lc.parquet"
    b_csv, b_pq = tmp_path / "b" / "lc.csv", tmp_path / "b" / "lc.parquet"
    md = {"oid": 20172782, "band": "Y106"}
    write_lightcurve(df, a_csv, a_pq, metadata=md)
    shuffled = merge_rows(rows[::-1])
    write_lightcurve(shuffled, b_csv, b_pq, metadata=md)
    assert a_csv.read_bytes() == b_csv.read_bytes()
    assert a_pq.read_bytes() == b_pq.read_bytes()
    # rewriting in place gives the same bytes and leaves no temporary files
    before = a_pq.read_bytes()
    write_lightcurve(df, a_csv, a_pq, metadata=md)
    assert a_pq.read_bytes() == before
    assert sorted(os.listdir(tmp_path / "a")) == ["lc.csv", "lc.parquet"]
    # header and lossless floats
    text = a_csv.read_text()
    assert text.splitlines()[0].split(",")[:20] == PHROSTY_COLUMNS
    assert "7.551093401915147" in text and "-44.80718106491529" in text
    for path in (a_csv, a_pq):
        back = read_lightcurve(path)
        pd.testing.assert_frame_equal(back, df)
    import pyarrow.parquet as pq

    schema = pq.read_schema(a_pq)
    assert schema.names[:20] == PHROSTY_COLUMNS
    assert b"pandas" not in (schema.metadata or {})
    assert schema.field("flux").metadata == {b"unit": b"count"}
    assert str(schema.field("observation_id").type) == "string"
    assert str(schema.field("sca").type) == "int64"
    assert str(schema.field("success").type) == "bool"


def test_apply_schema_coerces():
    df = pd.DataFrame(
        {"mjd": ["62000.5"], "sca": [3.0], "observation_id": [13205], "success": ["True"]}
    )
    out = apply_schema(df)
    assert out["mjd"].iloc[0] == 62000.5
    assert out["sca"].dtype == np.int64 and out["sca"].iloc[0] == 3
    assert out["observation_id"].iloc[0] == "13205"
    assert bool(out["success"].iloc[0]) is True
    with pytest.raises(ValueError):
        apply_schema(pd.DataFrame({"sca": [3.5]}))


def test_plot_deterministic(tmp_path):
    df = merge_rows(example_rows())
    mjd = np.linspace(62440, 62530, 50)
    truth = (mjd, 2000 * np.exp(-0.5 * ((mjd - 62480) / 20) ** 2))
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    plot_lightcurve(df, a, truth=truth)
    plot_lightcurve(df, b, truth=pd.DataFrame({"mjd": truth[0], "flux": truth[1]}))
    data = a.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data == b.read_bytes()
    assert b"matplotlib" not in data.lower() and b"Software" not in data
    # all failed / empty tables still plot
    plot_lightcurve(merge_rows([failed_row({"mjd": 1.0}, "fetch", "missing")]), tmp_path / "c.png")
    plot_lightcurve(merge_rows([]), tmp_path / "d.png", title="empty")
    assert (tmp_path / "d.png").stat().st_size > 0
