"""The chromatic correction's SED estimates against a spectrum neither of them is: OU2024's SNANA
SN 20172782 moved to several redshifts (romandia.validation.sed_estimate).

    python bench/chromatic_sed_estimate.py WORKDIR [--seeds 5] [--report docs/validation_sed.md]

WORKDIR is a finished workflow directory with the chromatic correction on (e.g. a
`romandia validate --chromatic` run's): each band's median row responses (`chrom_resp`) stand
for the pipeline's kernels.  For each redshift and noise seed the survey lightcurve (every 5 d,
Y106 J129 H158 F184 on each visit, 5σ depth 25.5) is corrected by
romandia.chromatic.estimate.correct_lightcurves with `sed` power_law, template and auto, and
each row's factor compared with the true spectrum's.  Prints (and with --report writes into the
report's `SED-ESTIMATE` block) the mean and max |error| per redshift, band and phase bin.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REDSHIFTS = (0.2, 0.36, 0.6, 0.9, 1.2)
BANDS = ("Y106", "J129", "H158", "F184")
BEGIN, END = "<!-- BEGIN SED-ESTIMATE -->", "<!-- END SED-ESTIMATE -->"


def _responses(work: Path) -> dict:
    from romandia.chromatic.response import parse_response

    files = sorted((work / "results" / "lc_out_dir" / "data").glob("*/*_all.parquet"))
    if not files:
        raise SystemExit(f"{work}: no lightcurves under results/lc_out_dir/data; run the workflow first")
    df = pd.concat([pd.read_parquet(f, columns=["band", "chrom_resp"]) for f in files], ignore_index=True)
    out = {}
    for b in BANDS:
        r = [v for v in (parse_response(x) for x in df.loc[df["band"] == b, "chrom_resp"]) if v is not None]
        if r:
            out[b] = np.median(np.array(r), axis=0)
    if len(out) < 2:
        raise SystemExit(f"{work}: responses in {len(out)} band(s); the estimates need two or more")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--report", default=None, help="markdown file whose SED-ESTIMATE block is replaced")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from romandia.ou2024 import packaged_data
    from romandia.validation import sed_estimate as se

    resp = _responses(Path(a.workdir))
    seq0 = se.read_snana_sequence(packaged_data("ou2024/snana_truth/snana_10430.hdf5"), 20172782,
                                  z=0.3601, peak_mjd=62476.508)
    t0 = time.perf_counter()
    frames = []
    for z in REDSHIFTS:
        seq = seq0.at_redshift(z)
        for seed in range(a.seeds):
            lc = se.survey_lightcurve(seq, resp, rng=np.random.default_rng(1000 * seed + int(100 * z)))
            e = se.estimate_errors(lc, z=z)
            frames.append(e.assign(z=z, seed=seed))
    errs = pd.concat(frames, ignore_index=True)
    lines = [f"Command: `python bench/chromatic_sed_estimate.py {a.workdir} --seeds {a.seeds}` "
             f"({time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s). Responses: each band's median "
             f"`chrom_resp` of {a.workdir}. Rows at S/N ≥ 5, {a.seeds} noise seeds per redshift; |error| of "
             "the chromatic factor (estimated − true) [%], mean / max; `effect` = |true factor − 1|, what no "
             "correction leaves. `auto` (the default) = the template wherever it fitted.", "",
             "| z | band | phase (rest) | n | effect | power law | template | template fitted |",
             "|---|---|---|---|---|---|---|---|"]
    for z in REDSHIFTS:
        t = se.summarise(errs[errs["z"] == z])
        for _, r in t.iterrows():
            lines.append(f"| {z:g} | {r['band']} | {r['phase']} | {r['n']} | {r['effect_mean']:.2f} / "
                         f"{r['effect_max']:.2f} | {r['power_law_mean']:.2f} / {r['power_law_max']:.2f} | "
                         f"{r['template_mean']:.2f} / {r['template_max']:.2f} | {r['template_n']}/{r['n']} |")
    det = errs[errs["snr"] >= 5]
    lines += ["", f"All redshifts, bands and phases ({len(det)} rows): mean |error| power law "
              f"{100 * det['err_power_law'].abs().mean():.2f} %, template {100 * det['err_template'].abs().mean():.2f} %, "
              f"auto {100 * det['err_auto'].abs().mean():.2f} %; mean effect {100 * det['effect'].abs().mean():.2f} %. "
              f"Rows whose |error| exceeds 0.3 %: power law {100 * (det['err_power_law'].abs() > 3e-3).mean():.0f} %, "
              f"template {100 * (det['err_template'].abs() > 3e-3).mean():.0f} %."]
    text = "\n".join(lines)
    print(text)
    if a.report:
        p = Path(a.report)
        doc = p.read_text()
        block = f"{BEGIN}\n\n{text}\n\n{END}"
        if BEGIN in doc:
            doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, doc, flags=re.S)
        else:
            doc += "\n" + block + "\n"
        p.write_text(doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
