"""Validation statistics of several validation runs, per set and pooled (issue #13's per-band
targets need more lightcurves than one 20-SN set holds).

Each directory is a ``romandia validate --out`` directory: ``sims/`` (the simulated data) and
one workflow directory per configuration (``romandia`` by default).  The sets must use distinct
SN ids (the packaged presets do), because the errors come from a bootstrap over lightcurves
(``oid``, ``band``): the epochs of one lightcurve share their template's noise.

usage (from the repo root):
    python bench/combine_validation.py results/valbright results/valbright2 [--config romandia]
"""

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from romandia.validation.stats import TARGETS, summarize  # noqa: E402
from romandia.validation.truth import attach_truth, load_rows  # noqa: E402


def rows(out_dir: Path, config: str) -> pd.DataFrame:
    df = attach_truth(load_rows(out_dir / config / "results" / "lc_out_dir"), out_dir / "sims")
    return df.assign(set=out_dir.name)


def lines(label: str, df: pd.DataFrame) -> list[str]:
    s = summarize(df)
    out = []
    groups = [("both", s["bias_snr20"], s["pull"])] if df["band"].nunique() > 1 else []
    groups += [(b, v["bias_snr20"], v["pull"]) for b, v in sorted(s["by_band"].items())]
    for band, b, p in groups:
        lim = TARGETS["pull_mean_k"] / math.sqrt(p["n"])
        out.append(f"| {label} | {band} | {p['n']} ({b['n']}) | {b['n_lightcurves']} | "
                   f"{100 * b['bias']:+.2f} ± {100 * b['bias_err']:.2f} % | {p['mean']:+.3f} (limit {lim:.3f}) | "
                   f"{p['std']:.3f} ± {p['std_err']:.3f} (robust {p['robust']:.3f}) |")
    z = s["zero_flux"]
    out.append(f"| {label} | zero-flux epochs | {z['n']} | | weighted mean {z.get('wmean_flux', math.nan):+.1f} ± "
               f"{z.get('wmean_err', math.nan):.1f} counts | {z['mean']:+.3f} | {z['std']:.3f} |")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--config", default="romandia", help="workflow directory inside each set")
    a = ap.parse_args()
    frames = [rows(d, a.config) for d in a.dirs]
    ids = [set(zip(f["oid"], f["band"], strict=True)) for f in frames]
    if len(set().union(*ids)) != sum(len(i) for i in ids):
        sys.exit("the sets share lightcurve ids; use sets simulated with distinct id ranges")
    print("| set | band | epochs (S/N ≥ 20) | lightcurves (S/N ≥ 20) | bias at S/N ≥ 20 | pull mean | pull σ |")
    print("|---|---|---|---|---|---|---|")
    for d, f in zip(a.dirs, frames, strict=True):
        print("\n".join(lines(d.name, f)))
    if len(frames) > 1:
        print("\n".join(lines("pooled", pd.concat(frames, ignore_index=True))))


if __name__ == "__main__":
    main()
