"""What the chromatic correction costs: the photometry job of each science image with and without
it (calibration + photometry, romandia.steps), and the basis the prepare job makes per object.

Run on a finished workflow directory whose config has the chromatic correction on (e.g. the
`test_sed` preset's):

    python bench/chromatic_cost.py WORKDIR [--repeat 3]

Prints per science image the median time of the photometry job's library calls with the
correction (CHROMA basis read, basis stamps, responses, star factors) and without (psf_cfg
None, no colour catalogues), the time of romandia.chromatic.basis.make_basis per object, and
per object and band the lightcurve job's call without the correction, with the power law and
with the template estimate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import yaml


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    work = Path(a.workdir)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from snakemake.utils import validate  # fills in the schema's defaults, as the Snakefile does

    from romandia import products
    from romandia.chromatic import basis
    from romandia.plan import build_plan
    from romandia.steps import calibrate, chromatic, photometry

    cfg = yaml.safe_load((work / "config.yaml").read_text())
    validate(cfg, str(Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"))
    plan = build_plan(cfg, work)
    dia = work / cfg["dia_out_dir"]
    from romandia.ou2024 import truth_relpath

    def truth(key):
        e = plan.images[key]
        return str(plan.sims_path("truth", truth_relpath(e.band, e.observation_id, e.sca)))

    rows_all = []
    for sci in plan.science_keys:
        rows = [{"oid": o.oid, "ra": o.ra, "dec": o.dec, "template": t,
                 "meta": {"science_name": "", "template_name": "", "observation_id": "0", "sca": 1,
                          "template_observation_id": "0", "template_sca": 1, "band": plan.images[sci].band}}
                for o, t in plan.measurements(sci)]
        colour = [(truth(k), str(plan.image_path(k))) for k in plan.colour_images(sci)]
        times = {}
        for mode in ("off", "on"):
            ts = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                with products.Batch(dia / "subtract" / f"{sci}.fits") as diff, \
                        products.Batch(dia / "prepare" / f"{sci}.fits") as prep:
                    bases = chromatic.read_bases(prep) if mode == "on" else None  # as the job does
                    cals = calibrate.calibrate_batch(
                        diff, sorted({r["template"] for r in rows}), truth(sci),
                        exclude_radec=[(o.ra, o.dec) for o in plan.objects_on_image(sci)], cfg=cfg["calibration"],
                        phot=cfg["photometry"], psf_cfg=cfg["psf"], prepared=prep,
                        colour_catalogs=colour if mode == "on" else (),
                        bases=bases)
                    photometry.measure_science(diff, prep, rows, cals, phot=cfg["photometry"],
                                               resample_kernel=cfg["resample_kernel"], apply_calibration=True,
                                               psf_cfg=cfg["psf"] if mode == "on" else None,
                                               bases=bases)
                ts.append(time.perf_counter() - t0)
            times[mode] = statistics.median(ts)
        with products.Batch(dia / "prepare" / f"{sci}.fits") as prep:
            hdr = prep.header("SKYSUB")
            b_ts = []
            for oid in prep.members_with("ATPOS"):
                h = prep.header("ATPOS", oid)
                t0 = time.perf_counter()
                basis.make_basis(dict(cfg["psf"].get("params") or {}, size=cfg["psf"].get("size", 41)), hdr,
                                 float(h[products.KEY_PSFX]), float(h[products.KEY_PSFY]))
                b_ts.append(time.perf_counter() - t0)
        rows_all.append((sci, times["off"], times["on"], statistics.median(b_ts) if b_ts else float("nan")))
        print(f"{sci}: photometry job {times['off']:.3f} s without, {times['on']:.3f} s with "
              f"(+{100 * (times['on'] / times['off'] - 1):.0f} %); basis {rows_all[-1][3]:.2f} s per object",
              flush=True)
    off = sum(r[1] for r in rows_all)
    on = sum(r[2] for r in rows_all)
    print(f"all: photometry {off:.2f} s -> {on:.2f} s (+{100 * (on / off - 1):.0f} %), "
          f"basis {statistics.median(r[3] for r in rows_all):.2f} s per object and science image (median)")
    _lightcurve_cost(plan, cfg, dia, a.repeat)
    return 0


def _lightcurve_cost(plan, cfg, dia, repeat: int) -> None:
    """The lightcurve job's library call per object and band: correction off, power law,
    template (chromatic.sed auto), median of ``repeat`` (imports warm, as in the worker)."""
    from romandia.steps import lightcurve

    def phot(o):
        return [str(dia / "phot" / f"{s}.json") for s in o.science]

    for o in plan.objects:
        colour = [p for ob in plan.object_bands(o.oid) if ob.band != o.band for p in phot(ob)]
        out = {}
        for name, extra in (("off", {"enabled": False}), ("power law", {"sed": "power_law"}), ("template", {"sed": "auto"})):
            c = dict(cfg["chromatic"], **extra)
            ts = []
            for _ in range(repeat + 1):  # the first call warms the imports
                t0 = time.perf_counter()
                lightcurve.object_lightcurve(phot(o), o.oid, o.band, pool_calibration=True,
                                             colour_paths=colour if c["enabled"] else [], chromatic=c, z=o.z)
                ts.append(time.perf_counter() - t0)
            out[name] = statistics.median(ts[1:])
        print(f"lightcurve {o.oid} {o.band}: " + ", ".join(f"{k} {v:.2f} s" for k, v in out.items()), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
