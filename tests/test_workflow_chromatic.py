"""The chromatic correction end to end on per-object SEDs (the simulator's `test_sed` preset:
every star, the host and the SN drawn by galsim with their own SEDs; J129 and H158).

What is checked: the SN's true spectrum (Hsiao with host dust at each epoch, from the
simulator) gives its true chromatic factor through each row's own responses.  The default
estimate (`chromatic.sed: auto`) fits the SN Ia template at the host's redshift, which here is
the simulator's own SED family, so its small error (measured 2026-12-08: ≤ 0.011 %, true
factors +0.3 ... +2.7 %) only shows the machinery end to end; whether the template holds for a
SN it is not is tests/test_chromatic_template.py (OU2024's SNANA spectrum).  The power law from
the same rows' colours (not the simulator's family): 0.01-0.4 % at the first epochs, up to
0.9 % at +18 d rest where the Hsiao features cross a band.  The field stars' factors come from
their catalogue colours.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from romandia.simulate import simulate
    from romandia.validation.run import workflow_config

    base = tmp_path_factory.mktemp("chromatic")
    sims = base / "sims"
    simulate("test_sed", sims)
    cfg = workflow_config(sims, base / "work")
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "2",
                          "--configfile", str(cfg)], cwd=base / "work", capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-4000:]
    return {"sims": sims, "work": base / "work"}


def _rows(run):
    files = sorted((run["work"] / "results" / "lc_out_dir" / "data").glob("*/*_all.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_every_detected_epoch_is_corrected_close_to_the_true_factor(run):
    from romandia.validation.chromatic import true_factors

    df = _rows(run)
    ok = df[df["success"]]
    # all 12 rows succeed; under heavy load one SFFT solve was once "singular" and succeeded
    # on rerun with the same inputs (a nondeterminism outside the chromatic code, noted in
    # docs/validation_sed.md), so one lost row does not fail this test
    assert len(df) == 12 and len(ok) >= 11, df.loc[~df["success"], "failure_reason"].tolist()
    applied = ok[ok["chrom_status"] == "applied"]
    assert len(applied) == len(ok), ok["chrom_status"].unique()
    assert set(applied["band"]) == {"J129", "H158"}
    first_mjd = {b: g["mjd"].min() for b, g in applied.groupby("band")}
    true = true_factors(applied, run["sims"])  # the simulator's own spectrum through each row's responses
    errs = list(applied["chrom_corr"].to_numpy() - true)
    effect = list(true - 1.0)
    for _, r in applied.iterrows():
        assert r["flux"] == pytest.approx(r["flux_uncal"] / r["calib_ratio"] / r["chrom_corr"], rel=1e-9)
    assert np.mean(np.abs(effect)) > 2e-3  # the effect the correction removes is there
    # the default (chromatic.sed: auto) fits the SN Ia template at the host's z (objects.yaml)
    assert applied["chrom_sed"].str.startswith("hsiao-subsampled fit z=0.4000").all(), applied["chrom_sed"].tolist()
    # ... which is the simulator's own SED family here, so its error must be small; the test
    # that it is not circular is tests/test_chromatic_template.py (OU2024's SNANA spectrum)
    assert np.max(np.abs(errs)) < 1.5e-3, errs
    # the power law from the same rows' colours (their fluxes before the correction): close
    # before peak, off by up to ~1 % where the Hsiao features cross the band
    from romandia.chromatic import estimate

    raw = df.copy()
    raw.loc[ok.index, "flux"] = ok["flux"] * ok["chrom_corr"]
    raw.loc[ok.index, "flux_err"] = ok["flux_err"] * ok["chrom_corr"]
    pl = estimate.correct_lightcurves(raw.drop(columns=list(estimate.CHROM_COLUMNS)), sed="power_law")
    pl_err = [pl.at[i, "chrom_corr"] - (r["chrom_corr"] - e) for (i, r), e in zip(applied.iterrows(), errs, strict=True)]
    first_pl = [v for v, (_, r) in zip(pl_err, applied.iterrows(), strict=True) if r["mjd"] == first_mjd[r["band"]]]
    assert np.mean(np.abs(pl_err)) < 0.5 * np.mean(np.abs(effect)), (pl_err, effect)
    assert np.max(np.abs(first_pl)) < 1.5e-3, first_pl  # a smooth spectrum before peak: a power law holds
    print("effect", np.round(effect, 4), "template err", np.round(errs, 5), "power-law err", np.round(pl_err, 5))


def test_calibration_stars_carry_their_own_factor(run):
    docs = [json.loads(p.read_text()) for p in (run["work"] / "results" / "dia_out_dir" / "phot").glob("*.json")]
    factors = [s["chrom"] for d in docs for c in d["calibration"].values() for s in c.get("stars", [])
               if s.get("ok")]
    assert len(factors) >= 3 * len(docs)
    assert all(math.isfinite(f) and 0.97 < f < 1.03 for f in factors)
    assert np.std(factors) > 5e-4  # stars of different temperatures, different factors
    # blackbodies of 3500-10000 K are bluer across J129 and H158 than the model's flat photon
    # SED, so the fit measures them high (chromatic.md: +0.24 ... +0.99 % before the
    # cross-convolution); colours taken from the catalogue's mag without the images' ZPTMAG
    # (not AB) gave factors below 1 here
    assert np.median(factors) > 1.001
