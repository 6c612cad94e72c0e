"""Each SN row's chromatic factor against the truth, for the template and the power-law estimate,
on a `romandia validate --chromatic` output directory of a per-object-SED preset.

    python bench/chromatic_true_factors.py OUT_DIR

OUT_DIR holds `sims/` and the workflow directories `romandia` (chromatic.sed auto) and
`power-law SED`.  The true factor of a row is its responses (`chrom_resp`) applied to the
simulator's own spectrum of the SN at that epoch (romandia.simulate.seds.transient_sed);
printed per band: the mean |true factor − 1| (what no correction leaves) and the mean and max
|estimated − true| of each estimate [%], over the rows both corrected.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _rows(work: Path) -> pd.DataFrame:
    files = sorted((work / "results" / "lc_out_dir" / "data").glob("*/*_all.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit(__doc__)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from romandia.validation.chromatic import true_factors

    base = Path(argv[0])
    key = ["oid", "band", "science_name", "template_name"]
    m = _rows(base / "romandia").merge(_rows(base / "power-law SED"), on=key, suffixes=("_t", "_p"))
    m = m[(m["chrom_status_t"] == "applied") & (m["chrom_status_p"] == "applied")]
    true = true_factors(m.rename(columns={"mjd_t": "mjd", "chrom_resp_t": "chrom_resp"}), base / "sims")
    out = dict(band=m["band"].to_numpy(), effect=np.abs(true - 1), template=np.abs(m["chrom_corr_t"].to_numpy() - true),
               power_law=np.abs(m["chrom_corr_p"].to_numpy() - true))
    d = pd.DataFrame(out)
    t = d.groupby("band").agg(n=("effect", "size"), effect=("effect", "mean"), template=("template", "mean"),
                              template_max=("template", "max"), power_law=("power_law", "mean"),
                              power_law_max=("power_law", "max"))
    for c in t.columns[1:]:
        t[c] = (100 * t[c]).round(3)
    print(t.to_string())
    print(f"all {len(d)} rows: effect {100 * d['effect'].mean():.3f} %, template {100 * d['template'].mean():.3f} %, "
          f"power law {100 * d['power_law'].mean():.3f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
