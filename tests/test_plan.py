"""The plan: images, pairs keyed by image pair (shared pairs once), anchors, config errors."""

import pytest

from romandia.errors import InputError
from romandia.plan import build_plan

H = "path observation_id sca mjd band\n"


def row(band, obs, sca, mjd=62000.0):
    return f"{band}/{obs}/Roman_TDS_simple_model_{band}_{obs}_{sca}.fits.gz {obs} {sca} {mjd} {band}\n"


def obj(oid, t, s, band="R062"):
    return {"oid": oid, "ra": 7.5, "dec": -44.8, "band": band, "templates": str(t), "science": str(s)}


def test_shared_pairs_are_planned_once(tmp_path):
    t = tmp_path / "t.csv"
    t.write_text(H + row("R062", 6, 17))
    s1 = tmp_path / "s1.csv"
    s1.write_text(H + row("R062", 10, 1) + row("R062", 11, 2))
    s2 = tmp_path / "s2.csv"
    s2.write_text(H + row("R062", 11, 2) + row("R062", 12, 3))
    plan = build_plan({"sims_dir": str(tmp_path), "objects": [obj(2, t, s2), obj(1, t, s1)]})
    assert sorted(plan.pairs) == ["R062_10_1--R062_6_17", "R062_11_2--R062_6_17", "R062_12_3--R062_6_17"]
    assert plan.pair_objects["R062_11_2--R062_6_17"] == [1, 2]
    assert plan.anchor("R062_11_2--R062_6_17") == 1
    assert plan.anchor("R062_12_3--R062_6_17") == 2
    assert len(plan.images) == 4
    assert plan.object_pairs(1, "R062") == ["R062_10_1--R062_6_17", "R062_11_2--R062_6_17"]


def test_same_image_as_template_and_science(tmp_path):
    t = tmp_path / "t.csv"
    t.write_text(H + row("R062", 6, 17))
    s = tmp_path / "s.csv"
    s.write_text(H + row("R062", 6, 17) + row("R062", 7, 1))
    with pytest.raises(InputError, match=r"objects\[0\].*R062_6_17 is both a template and a science image"):
        build_plan({"sims_dir": ".", "objects": [obj(1, t, s)]})


def test_duplicate_object_band(tmp_path):
    t = tmp_path / "t.csv"
    t.write_text(H + row("R062", 6, 17))
    s = tmp_path / "s.csv"
    s.write_text(H + row("R062", 7, 1))
    with pytest.raises(InputError, match=r"objects\[1\].*appears twice for band R062"):
        build_plan({"sims_dir": ".", "objects": [obj(1, t, s), obj(1, t, s)]})


def test_list_without_the_band(tmp_path):
    t = tmp_path / "t.csv"
    t.write_text(H + row("Y106", 6, 17))
    s = tmp_path / "s.csv"
    s.write_text(H + row("R062", 7, 1))
    with pytest.raises(InputError, match=r"lists no R062 image"):
        build_plan({"sims_dir": ".", "objects": [obj(1, t, s)]})


def test_per_image_lookups(tmp_path):
    """The plan's indexes behind the per-image jobs: objects per image, templates and rows
    per science image, objects by (oid, band)."""
    t = tmp_path / "t.csv"
    t.write_text(H + row("R062", 6, 17) + row("R062", 7, 3))
    s1 = tmp_path / "s1.csv"
    s1.write_text(H + row("R062", 10, 1) + row("R062", 11, 2))
    s2 = tmp_path / "s2.csv"
    s2.write_text(H + row("R062", 11, 2))
    t2 = tmp_path / "t2.csv"
    t2.write_text(H + row("R062", 6, 17))
    plan = build_plan({"sims_dir": str(tmp_path), "objects": [obj(1, t, s1), obj(2, t2, s2)]})
    assert [o.oid for o in plan.objects_on_image("R062_11_2")] == [1, 2]
    assert [o.oid for o in plan.objects_on_image("R062_6_17")] == [1, 2]
    assert [o.oid for o in plan.objects_on_image("R062_7_3")] == [1]
    assert plan.science_keys == ["R062_10_1", "R062_11_2"]
    assert plan.science_templates["R062_11_2"] == ["R062_6_17", "R062_7_3"]
    assert [(o.oid, t) for o, t in plan.measurements("R062_11_2")] == [
        (1, "R062_6_17"), (1, "R062_7_3"), (2, "R062_6_17")]
    assert plan.object(2, "R062").science == ("R062_11_2",)
    with pytest.raises(KeyError, match="object 3 R062 not in config"):
        plan.object(3, "R062")


def test_redshift_is_per_object_and_must_agree_across_bands(tmp_path):
    t = tmp_path / "t.csv"
    t.write_text(H + row("R062", 6, 17) + row("Y106", 6, 17))
    s = tmp_path / "s.csv"
    s.write_text(H + row("R062", 7, 1) + row("Y106", 7, 1))
    a, b = obj(1, t, s), obj(1, t, s, band="Y106")
    plan = build_plan({"sims_dir": ".", "objects": [dict(a, z=0.4), dict(b, z=0.4)]})
    assert plan.object(1, "Y106").z == 0.4
    assert build_plan({"sims_dir": ".", "objects": [a]}).object(1, "R062").z is None
    with pytest.raises(InputError, match=r"objects\[1\].*z 0.5 differs from the z 0.4"):
        build_plan({"sims_dir": ".", "objects": [dict(a, z=0.4), dict(b, z=0.5)]})
