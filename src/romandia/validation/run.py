"""Running the validation: the workflow config of a simulator output, Snakemake, the analysis.

* :func:`workflow_config` writes ``{workdir}/config.yaml`` for a simulator output;
* :func:`run_workflow` runs the repository's Snakefile on it;
* :func:`analyze` attaches the truth, summarises and measures field-star zeropoints of one run;
* :func:`run_validation` simulates, runs the workflow (one or several configurations on the
  same data) and regenerates ``docs/validation.md`` between its ``<!-- BEGIN GENERATED -->``
  and ``<!-- END GENERATED -->`` markers (text outside them, e.g. the record of fixes, is kept).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .plots import make_plots
from .report import _END as _END_MARKER
from .report import report_markdown, write_report
from .stats import summarize
from .truth import attach_truth, load_rows
from .zeropoints import field_star_zeropoints

__all__ = [
    "PHROSTY_CONFIG",
    "INPUT_FORMAT",
    "workflow_config",
    "run_workflow",
    "analyze",
    "run_validation",
]

#: phrosty's choices where romandia's defaults differ (run side by side by ``--phrosty``).
PHROSTY_CONFIG = {
    "variance": "err",
    "resample_kernel": "bilinear",
    "photometry": {"weights": "variance", "flux_err": "pixel", "chi2_scaling": False},
    "sfft": {"flux_scale": "fit"},
    # phrosty's ou24PSF: chromatic galsim.roman PSF x flat SED, no charge diffusion; header
    # zeropoint, no field-star calibration of the PSF fit
    "psf": {"params": {"charge_diffusion": False}},
    "calibration": {"enabled": False},
}

#: key of a validation configuration (not of the workflow config): the image format it reads,
#: ``fits`` (default) or ``asdf`` (the simulator's ``lists_asdf/``)
INPUT_FORMAT = "_input_format"


def workflow_config(sims_dir, workdir, overrides: Mapping | None = None, threads: int = 1) -> Path:
    """Write ``{workdir}/config.yaml`` for the simulator output ``sims_dir`` (every object of
    its ``objects.yaml``), with ``overrides`` deep-merged; return its path.

    ``overrides[INPUT_FORMAT] = "asdf"`` points the objects at the ASDF lists of the same images.

    ``threads`` (per ``subtract`` job) stays 1: the cores are filled by jobs side by side.
    """
    import yaml

    sims = Path(sims_dir).resolve()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    from romandia.config import deep_merge
    from romandia.constants import LIST_DIRS

    overrides = dict(overrides or {})
    fmt = overrides.pop(INPUT_FORMAT, "fits")
    objects = yaml.safe_load((sims / "objects.yaml").read_text())
    for o in objects:
        for role in ("templates", "science"):
            rel = o[role]
            if fmt != "fits":  # the simulator's lists of the same images in another format
                rel = rel.replace(LIST_DIRS["fits"] + "/", LIST_DIRS[fmt] + "/", 1)
                if not (sims / rel).is_file():
                    raise FileNotFoundError(
                        f"{sims / rel}: no {fmt} image list; simulate with image.formats: [fits, {fmt}] "
                        f"(romandia simulate --format both) into a fresh directory")
            o[role] = str(sims / rel)
    cfg = deep_merge({"sims_dir": str(sims), "objects": objects, "threads": int(threads)}, overrides)
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_workflow(sims_dir, workdir, overrides: Mapping | None = None, cores: int = 2,
                 snakefile: str | os.PathLike | None = None, log=None) -> float:
    """Run the workflow on a simulator output in ``workdir``; return the wall time [s].

    Raises ``RuntimeError`` (with the end of Snakemake's output) if Snakemake fails.
    """
    repo = Path(__file__).resolve().parents[3]  # src/romandia/validation/run.py -> repo root
    snakefile = Path(snakefile) if snakefile else repo / "Snakefile"
    cfg = workflow_config(sims_dir, workdir, overrides)
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(repo / ".numba_cache"))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "-d", str(workdir),
           "--cores", str(cores), "--configfile", str(cfg), "--rerun-incomplete", "--quiet",
           "--scheduler", "greedy"]  # the ILP scheduler costs ~0.15 s per job selection
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if log:
        log(f"workflow in {workdir}: {dt:.0f} s (exit {res.returncode})")
    if res.returncode != 0:
        raise RuntimeError(f"snakemake failed in {workdir}:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
    return dt


def _machine() -> str:
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                    if ln.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor()
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}")


def analyze(sims_dir, workdir, field_stars: bool = True, max_zp_images: int | None = None) -> tuple[pd.DataFrame, dict, dict | None]:
    """Rows with truth, their summary and (optionally) field-star zeropoints of one run."""
    import yaml

    df = attach_truth(load_rows(Path(workdir) / "results" / "lc_out_dir"), sims_dir)
    cfg_file = Path(workdir) / "config.yaml"
    cfg = yaml.safe_load(cfg_file.read_text()) if cfg_file.is_file() else {}
    s = summarize(df, chi2_scaled=bool(((cfg or {}).get("photometry") or {}).get("chi2_scaling", True)))
    fs = None
    if field_stars:
        fs = field_star_zeropoints(df, sims_dir, Path(workdir) / "results" / "dia_out_dir",
                                   max_images=max_zp_images)
    return df, s, fs


def run_validation(out_dir, preset: str = "validation", config_overrides: Mapping | None = None,
                   configs: Mapping[str, Mapping] | None = None, cores: int = 2,
                   report: str | os.PathLike | None = None, plot_dir: str | os.PathLike | None = None,
                   field_stars: bool = True, max_zp_images: int | None = None, seed: int | None = None,
                   command: str = "", log=print, cases: Sequence[str] = (), reuse: bool = False,
                   chromatic: bool = False) -> dict:
    """Simulate, run the workflow for each configuration, analyse, and write the report.

    Parameters
    ----------
    out_dir : path
        Working directory: ``sims/`` (simulated data, reused if it holds a manifest) and one
        workflow directory per configuration.
    preset, config_overrides, seed
        Simulator preset and overrides (e.g. ``{"sne": {"n_sne": 3}}``).
    configs : mapping, optional
        ``{name: workflow config overrides}``; default ``{"romandia": {}}``.  A configuration
        with ``{INPUT_FORMAT: "asdf"}`` reads the same scenes as Roman L2 ASDF (the data are
        then simulated in both formats).
    report, plot_dir : path, optional
        Markdown file whose generated block is replaced, and the folder of its plots.
    field_stars, max_zp_images
        Measure field-star zeropoints (on at most ``max_zp_images`` images per run).
    cases : sequence of str
        PSF-model mismatch cases (:data:`romandia.mismatch.CASES`) run on the same data with
        romandia's defaults plus the case's overrides; tabulated with the first configuration
        as the matched case.
    reuse : bool
        Analyse a configuration's workflow directory as it is, without calling Snakemake, when
        it already holds lightcurves (a run finished with other code; its time is then NaN).
    chromatic : bool
        Add each configuration's :func:`romandia.validation.chromatic.chromatic_summary` (bias by
        band, phase, colour, redshift and host; pre-explosion epochs) to the results
        (``"chromatic"``) and the report.

    Returns
    -------
    dict
        ``{name: {"df", "summary", "field_stars", "seconds", "overrides"}}`` plus ``"meta"``
        (with ``"mismatch"``: ``{name: {"what", "summary"}}`` when ``cases`` are given).
    """
    from romandia import mismatch
    from romandia.simulate import simulate

    unknown = [c for c in cases if c not in mismatch.CASES]
    if unknown:
        raise ValueError(f"unknown mismatch case(s) {unknown}; choose from {list(mismatch.CASES)}")

    out = Path(out_dir)
    sims = out / "sims"
    t0 = time.perf_counter()
    if (sims / "manifest.json").is_file():
        log(f"reusing simulated data in {sims}")
        man = json.loads((sims / "manifest.json").read_text())
        sim_seconds = 0.0
    else:
        over = dict(config_overrides or {})
        if any(c.get(INPUT_FORMAT) == "asdf" for c in (configs or {}).values()):
            over["image"] = {**over.get("image", {}), "formats": ["fits", "asdf"]}
        simulate(preset, sims, seed=seed, config_overrides=over)
        man = json.loads((sims / "manifest.json").read_text())
        sim_seconds = time.perf_counter() - t0
        log(f"simulated {preset} into {sims} in {sim_seconds:.0f} s")
    configs = dict(configs or {"romandia": {}})
    results: dict = {}

    def run(name, over):
        work = out / name
        if reuse and list((work / "results" / "lc_out_dir").glob("data/*/*_all.csv")):
            log(f"{name}: reusing the lightcurves in {work} (no Snakemake run)")
            return work, float("nan")
        return work, run_workflow(sims, work, over, cores=cores, log=log)

    for name, over in configs.items():
        work, dt = run(name, over)
        df, s, fs = analyze(sims, work, field_stars=field_stars, max_zp_images=max_zp_images)
        results[name] = {"df": df, "summary": s, "field_stars": fs, "seconds": dt, "overrides": dict(over)}
        log(f"{name}: pull mean {s['pull']['mean']:+.3f} std {s['pull']['std']:.3f}, bias(S/N>=20) "
            f"{100 * s['bias_snr20']['bias']:+.3f} %, failed {s['n_failed']}/{s['n_rows']}")
    first = next(iter(configs))
    mm = {f"{first} (matched)": {"what": "none (the OU2024 model)",
                                 "summary": mismatch.case_summary(results[first]["df"])}} if cases else {}
    for name in cases:
        what, over = mismatch.CASES[name]
        work, dt = run(name, over)
        df, s, _ = analyze(sims, work, field_stars=False)
        results[name] = {"df": df, "summary": s, "field_stars": None, "seconds": dt, "overrides": dict(over)}
        mm[name] = {"what": what, "summary": mismatch.case_summary(df, matched=results[first]["df"])}
        cs = mm[name]["summary"]
        log(f"{name}: bias(S/N>=20) {100 * cs['bias_uncal']:+.2f} % -> {100 * cs['bias']:+.2f} %, "
            f"pull std {cs['pull_std']:.3f}")
    cfg = man["config"]
    import yaml

    objects = yaml.safe_load((sims / "objects.yaml").read_text())
    meta = {"command": command or "romandia validate", "machine": _machine(), "preset": man["preset"],
            "seed": man["seed"], "n_sne": len({o["oid"] for o in objects}),
            "bands": sorted({o["band"] for o in objects}),
            "n_images": sum(1 for f in man["files"] if str(f.get("path", "")).startswith("images/")),
            "sim_seconds": sim_seconds, "version": man.get("romandia_version", ""), "config": cfg,
            "mismatch": mm, "case_seconds": {n: results[n]["seconds"] for n in cases}}
    results["meta"] = meta
    chrom_md = ""
    if chromatic:
        from .chromatic import attach_sn_truth, chromatic_markdown, chromatic_summary

        for n in configs:
            results[n]["chromatic"] = chromatic_summary(attach_sn_truth(results[n]["df"], sims))
        chrom_md = ("\n\n## What differs between supernova and stars (per-object SEDs)\n\n"
                    + chromatic_markdown({n: results[n]["chromatic"] for n in configs}))
    if report:
        doc = Path(report)
        pdir = Path(plot_dir) if plot_dir else doc.parent / doc.stem
        plots = make_plots({n: results[n]["df"] for n in configs}, pdir, sims_dir=sims)
        md = report_markdown({n: results[n] for n in configs}, meta, plots, doc.parent)
        if chrom_md:  # inside the generated block, before its end marker
            head, end = md.rsplit(_END_MARKER, 1)
            md = head.rstrip("\n") + chrom_md + "\n\n" + _END_MARKER + end
        write_report(doc, md)
        log(f"report written to {doc}")
    summary_json = {n: {"summary": results[n]["summary"], "field_stars": results[n]["field_stars"],
                        "seconds": results[n]["seconds"], "chromatic": results[n].get("chromatic")}
                    for n in configs}
    summary_json["mismatch"] = {n: c["summary"] for n, c in mm.items()}
    (out / "summary.json").write_text(json.dumps(summary_json, indent=1, default=float))
    return results
