"""``romandia run``: phrosty's command line, mapped onto a romandia config and a Snakemake run.

A phrosty user types::

    python phrosty/pipeline.py -c phrosty_config.yaml --oid 20172782 -r 7.551 -d -44.807 \\
        -b R062 -t templates.csv -s science.csv -p 3 -w 3

and gets ``{ltcv_dir}/data/{oid}/{oid}_{band}_all.csv``.  ``romandia run`` accepts the same
flags with the same meanings (:data:`PHROSTY_FLAGS` says what each one becomes), writes the
romandia config it built next to the results (``{out}/romandia_config.yaml``) and runs
Snakemake on it; flags that only make sense against the SN PIT database are refused with the
reason.  Many objects: ``--objects FILE.csv`` (columns ``oid ra dec band templates science``).

This is a pure translation layer: :func:`parse` -> :func:`build_config` ->
:func:`snakemake_command`; :func:`main` runs them.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .config import deep_merge, flatten
from .errors import InputError

REPO = Path(__file__).resolve().parents[2]
CONFIG_NAME = "romandia_config.yaml"

#: phrosty's steps (``--through-step``) -> the romandia rule that finishes them
THROUGH_STEP = {
    "sky_subtract": "prepare", "get_psfs": "prepare", "stamp_psfs": "prepare",
    "align_and_preconvolve": "subtract", "subtract": "subtract", "find_decorrelation": "subtract",
    "apply_decorrelation": "subtract", "make_stamps": "photometry", "make_lightcurve": "lightcurve",
}
#: flags that need the SN PIT database or phrosty's internals: flag -> why romandia refuses it
REFUSED = {
    "--dbsave": "romandia writes files only; the provenance JSON beside each lightcurve is what a later DB load needs",
    "-did/--diaobject-id": "DIA objects come from the SN PIT database; give --oid -r -d -b",
    "-dpt/--diaobject-provenance-tag": "a database lookup; give --oid -r -d -b",
    "-dp/--diaobject-process": "a database lookup; give --oid -r -d -b",
    "-dppt/--diaobject-position-provenance-tag": "a database lookup; give -r -d",
    "-dpp/--diaobject-position-process": "a database lookup; give -r -d",
    "-lpi/--ltcv-provenance-id": "romandia computes the lightcurve provenance id itself (snappl's recipe)",
    "-lpt/--ltcv-provenance-tag": "provenance tags live in the SN PIT database",
    "-ipt/--image-provenance-tag": "images come from the CSV lists (-t, -s), not the database",
    "-ip/--image-process": "images come from the CSV lists (-t, -s), not the database",
    "-is/--image-subset": "images come from the CSV lists (-t, -s)",
    "-os/--object-subset": "unused by phrosty too",
    "--base-path": "manual_fits image collections: put the images under --sims-dir/images/simple_model instead",
}
#: what each accepted phrosty flag becomes (printed by ``romandia run --explain``)
PHROSTY_FLAGS = {
    "-c/--config-file": "phrosty config (or $SNPIT_CONFIG): system.paths.dia_out_dir/ltcv_dir, system.ou24.images, "
                        "system.ou24.sn_truth_dir and photometry.phrosty.{kerpolyorder, psf, sfft} are mapped; "
                        "every other key is listed as ignored",
    "--oid, -r/--ra, -d/--dec, -b/--band": "objects[0].oid, .ra, .dec, .band",
    "-t/--template-images, -s/--science-images": "objects[0].templates, .science (the same CSVs)",
    "-p/--nprocs": "Snakemake --cores (jobs side by side; one thread each)",
    "-w/--nwrite": "accepted, no effect: each job writes its own files",
    "-v/--verbose": "Snakemake --verbose",
    "--catchfailures": "accepted: romandia always keeps failed pairs as rows with success=False",
    "--memtrace": "accepted, no effect (phrosty ignores it too); per-job memory is in benchmarks/",
    "-oc/--object-collection": "ou2024 or manual (positions from -r -d); snpitdb is refused",
    "-ic/--image-collection": "ou2024 or manual_fits (images from the CSVs); snpitdb is refused",
    "--through-step STEP": "Snakemake --until RULE (" + ", ".join(f"{k}->{v}" for k, v in THROUGH_STEP.items()) + ")",
    "-lp/--ltcv-process": "accepted only as 'phrosty' or 'romandia' (the provenance's process is romandia)",
    "--photometry-phrosty-kerpolyorder N": "sfft.kernel_poly_order",
    "--photometry-phrosty-psf-type T": "psf.type (ou24PSF/ou24PSF_slow -> galsim, gaussian -> gaussian; "
                                       "A25ePSF -> galsim, with a note)",
    "--photometry-phrosty-sfft-radius-cut-detmask R": "sky.radius_cut",
}
_PSF_TYPES = {"ou24psf": "galsim", "ou24psf_slow": "galsim", "gaussian": "gaussian", "a25epsf": "galsim",
              "galsim": "galsim", "file": "file"}


@dataclass
class Translation:
    """A romandia config built from phrosty's flags, and what was mapped or ignored."""

    config: dict
    notes: list[str] = field(default_factory=list)
    snakemake_args: list[str] = field(default_factory=list)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="romandia run", exit_on_error=False, allow_abbrev=False,
        description="Run romandia with phrosty's command-line flags (one object) or on a CSV of objects; "
                    "arguments after -- go to Snakemake unchanged.")
    add = p.add_argument
    add("-c", "--config-file", default=None, help="phrosty config YAML (default: $SNPIT_CONFIG)")
    add("--oid", type=int, default=None, help="object id")
    add("-r", "--ra", type=float, default=None, help="RA [deg]")
    add("-d", "--dec", type=float, default=None, help="Dec [deg]")
    add("-b", "--band", default=None, help="R062, Z087, Y106, J129, H158, F184 or K213")
    add("-t", "--template-images", default=None, help="template image list (phrosty CSV)")
    add("-s", "--science-images", default=None, help="science image list (phrosty CSV)")
    add("--objects", default=None, metavar="CSV", help="many objects: columns oid ra dec band templates science")
    add("-p", "--nprocs", type=int, default=1, help="jobs side by side (Snakemake --cores)")
    add("-w", "--nwrite", type=int, default=None, help="accepted, no effect")
    add("-v", "--verbose", action="store_true")
    add("--catchfailures", action="store_true", help="accepted: romandia's default")
    add("--memtrace", action="store_true", help="accepted, no effect")
    add("-oc", "--object-collection", default="manual", help="ou2024 or manual")
    add("-ic", "--image-collection", default="ou2024", help="ou2024 or manual_fits")
    add("--through-step", default=None, choices=sorted(THROUGH_STEP), help="stop after this phrosty step")
    add("-lp", "--ltcv-process", default=None)
    add("--photometry-phrosty-kerpolyorder", type=int, default=None)
    add("--photometry-phrosty-psf-type", default=None)
    add("--photometry-phrosty-sfft-radius-cut-detmask", type=float, default=None)
    add("--sims-dir", default=None, help="OU2024 root holding images/simple_model (default: the phrosty config's "
                                         "system.ou24.images, else $SIMS_DIR/RomanTDS)")
    add("--romandia-config", default=None, metavar="YAML", help="romandia config keys merged on top")
    add("--out", default=".", help="working directory: results/, logs/ and romandia_config.yaml go here")
    add("--profile", default=None, help="Snakemake profile, e.g. profiles/slurm")
    add("-n", "--dry-run", action="store_true", help="show the jobs, run nothing")
    add("--explain", action="store_true", help="print what every phrosty flag becomes and exit")
    for spec in REFUSED:
        names = spec.split("/")
        add(*names, dest="refused_" + names[-1].lstrip("-").replace("-", "_"), default=None, nargs="?",
            const=True, help=argparse.SUPPRESS)
    return p


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split ``argv`` at ``--`` (the rest goes to Snakemake) and parse phrosty's flags.

    Raises
    ------
    InputError
        An unknown flag, a bad value, or a flag romandia refuses (naming it and why).
    """
    argv = list(argv)
    passthrough: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, passthrough = argv[:i], argv[i + 1:]
    p = parser()
    try:
        args, unknown = p.parse_known_args(argv)
    except argparse.ArgumentError as exc:
        raise InputError(f"{exc}") from None
    if unknown:
        raise InputError(f"unknown flag(s) {' '.join(unknown)}; `romandia run --explain` lists phrosty's flags "
                         "romandia accepts, and Snakemake's own options go after --")
    for spec, why in REFUSED.items():
        if getattr(args, "refused_" + spec.split("/")[-1].lstrip("-").replace("-", "_")) is not None:
            raise InputError(f"{spec} is not supported by romandia: {why}")
    return args, passthrough


def _phrosty_config(path: str | None, notes: list[str]) -> dict:
    """The romandia keys a phrosty config maps to (:data:`PHROSTY_FLAGS`)."""
    path = path or os.environ.get("SNPIT_CONFIG")
    if not path:
        return {}
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise InputError(f"-c/--config-file {path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"-c/--config-file {path}: not YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise InputError(f"-c/--config-file {path}: expected a mapping of phrosty config keys")
    flat = flatten(raw)
    cfg: dict = {}
    used = set()

    def take(key, target, convert=lambda v: v):
        if key in flat and flat[key] is not None:
            used.add(key)
            node = cfg
            *parents, last = target.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = convert(flat[key])

    take("system.paths.dia_out_dir", "dia_out_dir", str)
    take("system.paths.ltcv_dir", "lc_out_dir", str)
    take("system.ou24.sn_truth_dir", "truth_dir", str)
    take("photometry.phrosty.kerpolyorder", "sfft.kernel_poly_order", int)
    take("photometry.phrosty.sfft.radius_cut_detmask", "sky.radius_cut", float)
    if flat.get("system.ou24.images"):
        used.add("system.ou24.images")
        cfg["sims_dir"] = _sims_from_images(str(flat["system.ou24.images"]))
    if flat.get("photometry.phrosty.psf.type"):
        used.add("photometry.phrosty.psf.type")
        cfg.setdefault("psf", {})["type"] = _psf_type(flat["photometry.phrosty.psf.type"], notes)
    if flat.get("photometry.phrosty.psf.params") not in (None, {}):
        notes.append(f"{path}: photometry.phrosty.psf.params ignored (romandia's psf.params differ; set them "
                     "with --romandia-config)")
    used.add("photometry.phrosty.psf.params")
    ignored = sorted(k for k in flat if k not in used)
    if ignored:
        notes.append(f"{path}: ignored (no meaning in romandia): {', '.join(ignored)}")
    return cfg


def _sims_from_images(images: str) -> str:
    """``.../RomanTDS/images/simple_model`` -> ``.../RomanTDS`` (romandia's ``sims_dir``)."""
    s = images.rstrip("/")
    for tail in ("/images/simple_model", "/images"):
        if s.endswith(tail):
            return s[: -len(tail)] or "/"
    raise InputError(f"system.ou24.images = {images}: expected a path ending in images/simple_model")


def _psf_type(value, notes: list[str]) -> str:
    t = _PSF_TYPES.get(str(value).lower())
    if t is None:
        raise InputError(f"PSF type '{value}': romandia knows ou24PSF, ou24PSF_slow, gaussian, A25ePSF (as galsim)")
    if str(value).lower() == "a25epsf":
        notes.append("psf.type A25ePSF: romandia has no A25ePSF library; using galsim (OU2024's effective PSF: "
                     "chromatic optics, charge diffusion, pixel) with field-star calibration")
    return t


def _objects_csv(path: str) -> list[dict]:
    base = Path(path).parent
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(f"--objects {path}: cannot read it ({exc.strerror})") from None
    rows = list(csv.reader(line for line in text.splitlines() if line.strip()))
    split = [r[0].split() if len(r) == 1 else [c.strip() for c in r] for r in rows]
    header = ["oid", "ra", "dec", "band", "templates", "science"]
    if not split or split[0] != header:
        raise InputError(f"--objects {path}:1: the header must be '{' '.join(header)}' (spaces or commas)")
    out = []
    for n, r in enumerate(split[1:], start=2):
        if len(r) != 6:
            raise InputError(f"--objects {path}:{n}: {len(r)} fields, expected 6 ({' '.join(header)})")
        try:
            oid, ra, dec = int(r[0]), float(r[1]), float(r[2])
        except ValueError:
            raise InputError(f"--objects {path}:{n}: oid must be an integer and ra/dec numbers [deg]") from None
        lists = [str(p if Path(p).is_absolute() else base / p) for p in r[4:6]]
        out.append({"oid": oid, "ra": ra, "dec": dec, "band": r[3], "templates": lists[0], "science": lists[1]})
    if not out:
        raise InputError(f"--objects {path}: no objects after the header")
    return out


def build_config(args: argparse.Namespace, passthrough: list[str] = ()) -> Translation:
    """The romandia config of a ``romandia run`` command line.

    Raises
    ------
    InputError
        A missing or conflicting flag, or a collection romandia cannot read, naming the flag.
    """
    notes: list[str] = []
    cfg = _phrosty_config(args.config_file, notes)
    single = {"--oid": args.oid, "-r/--ra": args.ra, "-d/--dec": args.dec, "-b/--band": args.band,
              "-t/--template-images": args.template_images, "-s/--science-images": args.science_images}
    if args.object_collection not in ("ou2024", "manual"):
        raise InputError(f"-oc/--object-collection {args.object_collection}: romandia reads objects from the "
                         "command line or --objects, not the SN PIT database (use ou2024 or manual)")
    if args.image_collection not in ("ou2024", "manual_fits"):
        raise InputError(f"-ic/--image-collection {args.image_collection}: romandia reads images listed in the "
                         "CSVs (-t, -s), not the SN PIT database (use ou2024 or manual_fits)")
    if args.ltcv_process not in (None, "phrosty", "romandia"):
        raise InputError(f"-lp/--ltcv-process {args.ltcv_process}: the process is romandia")
    if args.objects:
        given = [k for k, v in single.items() if v is not None]
        if given:
            raise InputError(f"--objects conflicts with {', '.join(given)}: give one object on the command line "
                             "or many in the CSV")
        cfg["objects"] = _objects_csv(args.objects)
    else:
        missing = [k for k, v in single.items() if v is None]
        if missing:
            raise InputError(f"missing {', '.join(missing)} (or --objects FILE.csv); romandia does not look "
                             "objects up in a database")
        cfg["objects"] = [{"oid": args.oid, "ra": args.ra, "dec": args.dec, "band": args.band,
                           "templates": str(Path(args.template_images)),
                           "science": str(Path(args.science_images))}]
    if args.sims_dir:
        cfg["sims_dir"] = args.sims_dir
    elif "sims_dir" not in cfg:
        if not os.environ.get("SIMS_DIR"):
            raise InputError("no image root: give --sims-dir, system.ou24.images in -c, or $SIMS_DIR")
        cfg["sims_dir"] = str(Path(os.environ["SIMS_DIR"]) / "RomanTDS")
    if args.photometry_phrosty_kerpolyorder is not None:
        cfg.setdefault("sfft", {})["kernel_poly_order"] = args.photometry_phrosty_kerpolyorder
    if args.photometry_phrosty_psf_type is not None:
        cfg.setdefault("psf", {})["type"] = _psf_type(args.photometry_phrosty_psf_type, notes)
    if args.photometry_phrosty_sfft_radius_cut_detmask is not None:
        cfg.setdefault("sky", {})["radius_cut"] = args.photometry_phrosty_sfft_radius_cut_detmask
    if args.nwrite is not None:
        notes.append(f"-w/--nwrite {args.nwrite}: no effect (each job writes its own files)")
    if args.romandia_config:
        try:
            extra = yaml.safe_load(Path(args.romandia_config).read_text()) or {}
        except OSError as exc:
            raise InputError(f"--romandia-config {args.romandia_config}: cannot read it ({exc.strerror})") from None
        if not isinstance(extra, dict):
            raise InputError(f"--romandia-config {args.romandia_config}: expected a mapping of romandia keys")
        cfg = deep_merge(cfg, extra)
    if args.nprocs < 1:
        raise InputError(f"-p/--nprocs {args.nprocs}: must be >= 1")
    conflicts = [a for a in passthrough if a.split("=")[0] in ("--cores", "-c", "--jobs", "-j", "--configfile",
                                                                 "--directory", "-d", "--snakefile", "-s")]
    if conflicts:
        raise InputError(f"Snakemake option(s) {' '.join(conflicts)} after -- conflict with romandia run's own "
                         "(-p/--nprocs, the config it writes, --out); drop them")
    return Translation(config=cfg, notes=notes, snakemake_args=list(passthrough))


def snakemake_command(args: argparse.Namespace, tr: Translation, config_path: Path) -> list[str]:
    """The Snakemake command line that runs ``config_path`` in ``--out``."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-d", str(Path(args.out)),
           "--configfile", str(config_path), "--rerun-incomplete"]
    if args.profile:
        cmd += ["--profile", args.profile]
    else:
        cmd += ["--cores", str(args.nprocs)]
    if args.dry_run:
        cmd.append("--dry-run")
    if args.verbose:
        cmd.append("--verbose")
    if args.through_step:
        cmd += ["--until", THROUGH_STEP[args.through_step]]
    return cmd + tr.snakemake_args


def _absolute(cfg: dict) -> dict:
    """Paths of the config made absolute, relative to where ``romandia run`` was typed (Snakemake
    runs in ``--out``; the output directories not given default to ``{out}/results/...``)."""
    cfg = dict(cfg)
    for key in ("sims_dir", "truth_dir", "dia_out_dir", "lc_out_dir"):
        v = cfg.get(key)
        if v and "://" not in str(v):
            cfg[key] = str(Path(v).resolve())
    cfg["objects"] = [dict(o, templates=str(Path(o["templates"]).resolve()), science=str(Path(o["science"]).resolve()))
                      for o in cfg["objects"]]
    return cfg


def main(argv: list[str]) -> int:
    """``romandia run``: translate, write ``{out}/romandia_config.yaml``, run Snakemake."""
    args, passthrough = parse(argv)
    if args.explain:
        width = max(len(k) for k in PHROSTY_FLAGS)
        for k, v in PHROSTY_FLAGS.items():
            print(f"{k:<{width}}  {v}")
        for k, v in REFUSED.items():
            print(f"{k:<{width}}  refused: {v}")
        return 0
    tr = build_config(args, passthrough)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = _absolute(tr.config)
    config_path = out / CONFIG_NAME
    config_path.write_text("# written by: romandia run " + " ".join(argv) + "\n"
                           + yaml.safe_dump(cfg, sort_keys=False))
    for note in tr.notes:
        print(f"romandia run: note: {note}", file=sys.stderr)
    cmd = snakemake_command(args, tr, config_path.resolve())
    print("romandia run: " + " ".join(cmd), file=sys.stderr, flush=True)
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))
    return subprocess.run(cmd, env=env).returncode
