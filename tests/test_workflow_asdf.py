"""The workflow on Roman L2 ASDF images: the `test` preset's scene written as ASDF
(``romandia simulate --format both``) gives the FITS run's lightcurve and the truth; a bad ASDF
file in a list costs only its own row."""

import shutil

import numpy as np
import pandas as pd
import yaml
from test_workflow_e2e import lightcurves, make_config, snakemake

from romandia.validation import attach_truth


def test_asdf_run_equals_the_fits_run_and_the_truth_and_a_bad_file_costs_its_row(local, tmp_path):
    sims = tmp_path / "sims"
    shutil.copytree(local["sims"], sims)
    objects = yaml.safe_load((sims / "objects.yaml").read_text())
    for o in objects:
        o["templates"] = o["templates"].replace("lists/", "lists_asdf/", 1)
        o["science"] = o["science"].replace("lists/", "lists_asdf/", 1)
    (sims / "objects.yaml").write_text(yaml.safe_dump(objects, sort_keys=False))
    # one more science image, which is no Roman datamodel
    lst = sims / objects[0]["science"]
    lines = lst.read_text().splitlines()
    path, obs, sca, mjd, band = lines[1].split()
    bad = path.replace(f"_{obs}_", "_999999_").replace(f"/{obs}/", "/999999/")
    (sims / "images" / "simple_model" / bad).parent.mkdir(parents=True)
    (sims / "images" / "simple_model" / bad).write_bytes(b"#ASDF 1.0.0\nnot really\n")
    lines.append(" ".join([bad, "999999", sca, str(float(mjd) + 3), band]))
    lst.write_text("\n".join(lines) + "\n")

    res = snakemake(tmp_path, "--cores", "2", "--configfile", str(make_config(sims, tmp_path)))
    assert res.returncode == 0, res.stderr[-4000:]
    (csv,) = lightcurves(tmp_path)
    df = pd.read_csv(csv)
    failed = df[df["observation_id"].astype(str) == "999999"]
    assert len(failed) == 1 and str(failed["success"].iloc[0]) == "False"
    reason = failed["failure_reason"].iloc[0]
    assert reason.startswith("fetch: ") and bad in reason and "unreadable as a Roman datamodel" in reason, reason

    ok = df[df["observation_id"].astype(str) != "999999"].reset_index(drop=True)
    ref = pd.read_csv(lightcurves(local["work"])[0])
    assert len(ok) == len(ref) and ok["success"].astype(str).eq("True").all()
    assert (ok["science_name"].str.endswith(".asdf")).all()
    # the same fluxes as from the FITS images (float32 MJy/sr and back: ~1e-7 relative)
    dev = (ok["flux"] - ref["flux"]) / ref["flux_err"]
    assert np.abs(dev).max() < 1e-3, dev
    np.testing.assert_allclose(ok["zpt"], ref["zpt"], atol=1e-6)
    np.testing.assert_allclose(ok["flux_err"], ref["flux_err"], rtol=1e-3)
    # and the truth, within the errors
    truth = attach_truth(ok, sims)
    assert truth["flux_true"].notna().all() and (truth["flux_true"] > 0).any()
    assert np.abs(truth["pull"]).max() < 4, truth["pull"]
