"""The Snakemake report of a finished run holds every lightcurve (plot, table, stamps), the
failed pairs and the run's settings; its tables are built from the lightcurves."""

import pandas as pd
from test_workflow_e2e import snakemake

from romandia import report


def test_report_of_a_run_holds_every_lightcurve_and_the_run_tables(local, tmp_path):
    work = local["work"]
    cfg = work / "config.yaml"
    out = tmp_path / "report.html"
    res = snakemake(work, "--configfile", str(cfg), "--report", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    html = out.read_text()
    lcs = sorted((work / "results" / "lc_out_dir" / "data").glob("*/*_all.csv"))
    assert lcs
    for lc in lcs:
        stem = lc.name[: -len("_all.csv")]
        for name in (lc.name, f"{stem}.png", f"{stem}_stamps.png"):
            assert name in html, name
        assert (lc.parent / f"{stem}_provenance.json").is_file()
    for name in ("failed_pairs.csv", "run_settings.csv", "Lightcurves", "romandia: difference-imaging"):
        assert name in html, name
    settings = pd.read_csv(work / "results" / "lc_out_dir" / "run_settings.csv")
    got = dict(zip(settings["setting"], settings["value"], strict=True))
    assert got["romandia"] and got["sfft"] == "1.7.3" and got["sfft.kernel_poly_order"] == "2"


def test_failed_pairs_lists_every_failed_row_with_stage_and_reason(tmp_path):
    cols = dict(oid=[7, 7], band=["R062", "R062"], mjd=[1.0, 2.0], science_name=["s1", "s2"],
                template_name=["t", "t"], success=[True, False],
                failure_reason=["", "subtract: singular SFFT system: too few fit pixels"])
    pd.DataFrame(cols).to_csv(tmp_path / "7_R062_all.csv", index=False)
    df = report.failed_pairs([tmp_path / "7_R062_all.csv"])
    assert df.to_dict("records") == [{"oid": 7, "band": "R062", "mjd": 2.0, "science": "s2", "template": "t",
                                      "stage": "subtract", "reason": "singular SFFT system: too few fit pixels"}]
