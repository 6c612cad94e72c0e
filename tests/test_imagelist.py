"""phrosty image lists: parsing, and a clear error for each kind of malformed file."""

import pytest

from romandia.errors import InputError
from romandia.imagelist import read_image_list, write_image_list

HEADER = "path observation_id sca mjd band\n"
ROW = "R062/35083/Roman_TDS_simple_model_R062_35083_8.fits.gz 35083 8 62455.174 R062\n"


def write(tmp_path, text, name="list.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_phrosty_list(tmp_path):
    p = write(tmp_path, HEADER + ROW + "Y106/5/Roman_TDS_simple_model_Y106_5_3.fits.gz 5 3 62001.5 Y106\n")
    rows = read_image_list(p)
    assert [r.key for r in rows] == ["R062_35083_8", "Y106_5_3"]
    assert rows[0].mjd == pytest.approx(62455.174)
    assert [r.key for r in read_image_list(p, band="Y106")] == ["Y106_5_3"]


def test_roundtrip(tmp_path):
    p = write(tmp_path, HEADER + ROW)
    rows = read_image_list(p)
    q = tmp_path / "out.csv"
    write_image_list(q, rows)
    assert q.read_text().splitlines()[0] == "path observation_id sca mjd band"
    assert read_image_list(q) == [r.__class__(**{**r.__dict__, "source": f"{q}:2"}) for r in rows]


@pytest.mark.parametrize(
    "text, match",
    [
        ("path,observation_id,sca,mjd,band\n" + ROW, r"list.csv:1: header must be exactly"),
        ("", r"list.csv:1: header"),
        (HEADER + "a.fits 1 2 3\n", r"list.csv:2: expected 5 space-separated columns"),
        (HEADER + ROW.replace("62455.174", "yesterday"), r"list.csv:2: mjd 'yesterday' is not a number"),
        (HEADER + ROW.replace(" 8 ", " eight "), r"list.csv:2: sca 'eight' is not an integer"),
        (HEADER + ROW.replace(" 8 ", " 19 "), r"sca 19 is outside 1-18"),
        (HEADER + ROW.replace("R062\n", "R999\n"), r"band 'R999' is not one of"),
        (HEADER + ROW + ROW, r"list.csv:3: duplicate image R062_35083_8 \(first at .*list.csv:2\)"),
        (HEADER + "../../etc/passwd 1 2 3.0 R062\n", r"must be relative to images/simple_model"),
    ],
)
def test_malformed_lists_name_file_and_line(tmp_path, text, match):
    p = write(tmp_path, text)
    with pytest.raises(InputError, match=match):
        read_image_list(p)


def test_missing_list(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_image_list(tmp_path / "nope.csv")
