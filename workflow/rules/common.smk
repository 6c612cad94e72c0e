import inspect
import os
import sys
from pathlib import Path

from snakemake.common import overwrite_function_params
from snakemake.utils import min_version, validate

min_version("9.0")

# romandia's library: importable here and in the rule scripts, installed or not.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
_ENV = os.environ  # rule scripts inherit this environment
_ENV["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, _ENV.get("PYTHONPATH", "")) if p)

from romandia.config import check_config, check_output_dirs  # noqa: E402
from romandia.plan import IMAGE_KEY_RE, build_plan  # noqa: E402
from romandia.plan import check_objects_on_images  # noqa: E402
from romandia.provenance import science_params  # noqa: E402

# errors name the key (check_config); then Snakemake's validate fills in the defaults
check_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
validate(config, "../schemas/config.schema.yaml")
# before any job: output directories that cannot be written
check_output_dirs(config)

PLAN = build_plan(config)
# an object outside every image of a list (reads image headers: once, not in every
# cluster job, which re-parses this file)
if workflow.is_main_process:
    check_objects_on_images(PLAN)

DIA = config["dia_out_dir"].rstrip("/")
LC = config["lc_out_dir"].rstrip("/")
# GPU rules ask for a GPU unless the CPU backend is forced.
GPU = 0 if config["backend"] == "cpu" else 1
# Remote inputs (sims_dir an https:// or s3:// URL) are downloaded by `prepare` into this cache;
# each such job holds one `download` resource (profiles cap them: profiles/local).
CACHE = (config["remote"]["cache_dir"] or f"{DIA}/cache").rstrip("/")
DOWNLOAD = 1 if PLAN.remote else 0
# Compiled numba kernels (sfft) are cached next to the results and reused by every job.
_ENV.setdefault("NUMBA_CACHE_DIR", str(Path(".numba_cache").resolve()))
# ... and CuPy's compiled kernels (backend gpu), so only a workdir's first GPU job compiles them
_ENV.setdefault("CUPY_CACHE_DIR", str(Path(".cupy_cache").resolve()))


wildcard_constraints:
    image=IMAGE_KEY_RE,
    sci=IMAGE_KEY_RE,
    tmpl=IMAGE_KEY_RE,
    oid=r"[0-9]+",
    band=r"[A-Z][0-9]{3}",


def input_function(func):
    """Give an input or params function its parameters once: Snakemake looks them up twice
    at every call (``inspect.signature``, ≈ 40 % of a call's cost, tens of thousands of calls
    on a large plan) unless they were registered with its own
    ``snakemake.common.overwrite_function_params`` (as its ``subpath`` helper does), which
    it then reads without inspecting (docs/benchmarks.md).
    """
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


@input_function
def image_file(wildcards):
    """The input image of ``prepare``; empty when missing so ``prepare`` records the failure
    (its ``fetch`` stage names the file)."""
    if PLAN.remote:  # downloaded by the job itself (romandia.remote)
        return []
    path = PLAN.image_path(wildcards.image)
    return [str(path)] if path.exists() else []


@input_function
def image_params(wildcards):
    entry = PLAN.images[wildcards.image]
    key = wildcards.image
    return {
        "path": str(PLAN.image_path(key)),
        "band": entry.band,
        "objects": image_objects(wildcards),
        # a science image's PSFs get their chromatic basis (romandia.chromatic)
        "chroma": bool(
            config["chromatic"]["enabled"] and key in PLAN.science_templates
        ),
        # the list line, for a download's error message; remote only, because params are a
        # rerun trigger and a local image's message names its file already
        "source": entry.source if PLAN.remote else "",
        # remote: the science image's truth catalogue comes along (field-star calibration)
        "extra": (
            [_truth_location(key)]
            if PLAN.remote and key in PLAN.science_templates
            else []
        ),
    }


@input_function
def fetch_params(wildcards):
    """config remote + the cache directory (romandia.steps.prepare.fetch_input)."""
    return dict(config["remote"], cache_dir=CACHE)


def _truth_location(key):
    from romandia.ou2024 import truth_relpath

    e = PLAN.images[key]
    return str(PLAN.sims_path("truth", truth_relpath(e.band, e.observation_id, e.sca)))


def image_objects(wildcards):
    """[oid, ra, dec] of every object whose lists name the image."""
    return [[o.oid, o.ra, o.dec] for o in PLAN.objects_on_image(wildcards.image)]


@input_function
def objects_radec_on_image(wildcards):
    """Sky positions of every configured object on the science image (kept out of fits)."""
    return [[o.ra, o.dec] for o in PLAN.objects_on_image(wildcards.sci)]


def science_templates(wildcards):
    """Templates paired with a science image (sorted keys)."""
    return PLAN.science_templates[wildcards.sci]


def _anchor(sci, tmpl):
    return PLAN.anchor(f"{sci}--{tmpl}")


@input_function
def subtract_inputs(wildcards):
    ts = science_templates(wildcards)
    return {
        "sci": f"{DIA}/prepare/{wildcards.sci}.fits",
        "tmpl": [f"{DIA}/prepare/{t}.fits" for t in ts],
    }


@input_function
def subtract_pairs(wildcards):
    """[template, anchor oid, anchor ra, anchor dec] per template (subtract_inputs' order)."""
    out = []
    for t in science_templates(wildcards):
        o = PLAN.object(_anchor(wildcards.sci, t), PLAN.images[t].band)
        out.append([t, o.oid, o.ra, o.dec])
    return out


@input_function
def photometry_rows(wildcards):
    """One entry per (object, template) row of a science image, with the plan's metadata."""
    sci = PLAN.images[wildcards.sci]
    rows = []
    for o, t in PLAN.measurements(wildcards.sci):
        tmpl = PLAN.images[t]
        meta = {
            "science_name": Path(sci.path).name,
            "template_name": Path(tmpl.path).name,
            "observation_id": str(sci.observation_id),
            "sca": sci.sca,
            "template_observation_id": str(tmpl.observation_id),
            "template_sca": tmpl.sca,
            "band": sci.band,
        }
        rows.append(
            {"oid": o.oid, "ra": o.ra, "dec": o.dec, "template": t, "meta": meta}
        )
    return rows


@input_function
def colour_catalogs(wildcards):
    """Truth catalogues (with their images) of images in the other bands of the science
    image's objects: the field stars' colours for the chromatic correction (none for remote
    inputs, or with chromatic.enabled or chromatic.stars false)."""
    c = config["chromatic"]
    if PLAN.remote or not (c["enabled"] and c["stars"]):
        return []
    # [truth catalogue, its image]: the image's ZPTMAG turns the catalogue's mag into AB
    return [
        [_truth_location(k), str(PLAN.image_path(k))]
        for k in PLAN.colour_images(wildcards.sci)
    ]


@input_function
def star_catalog(wildcards):
    """The OU2024 truth catalogue of a science image (calibration.stars: truth); for remote
    inputs its copy in the cache, which the science image's `prepare` downloaded."""
    loc = _truth_location(wildcards.sci)
    if PLAN.remote:
        from romandia.remote import cache_path

        return str(cache_path(CACHE, loc))
    return loc


@input_function
def object_photometry(wildcards):
    """The photometry of every science image of an object in a band."""
    o = PLAN.object(int(wildcards.oid), wildcards.band)
    return [f"{DIA}/phot/{s}.json" for s in o.science]


@input_function
def object_colour_photometry(wildcards):
    """The photometry of the object's science images in its other bands (its colours, for
    the chromatic correction; none with chromatic.enabled false)."""
    if not config["chromatic"]["enabled"]:
        return []
    return [
        f"{DIA}/phot/{s}.json"
        for o in PLAN.object_bands(int(wildcards.oid))
        if o.band != wildcards.band
        for s in o.science
    ]


@input_function
def object_redshift(wildcards):
    """The object's host redshift from the config (None: not given)."""
    return PLAN.object(int(wildcards.oid), wildcards.band).z


def provenance_params(wildcards):
    """What the lightcurve's provenance record needs besides the checksums: the object, its
    images (key, role, path) and the config (romandia.provenance)."""
    o = PLAN.object(int(wildcards.oid), wildcards.band)
    images = [
        {"key": k, "role": role, "path": str(PLAN.image_path(k))}
        for role, keys in (("template", o.templates), ("science", o.science))
        for k in keys
    ]
    return {
        "ra": o.ra,
        "dec": o.dec,
        "images": images,
        "config": science_params(config),
    }


@input_function
def object_stamps(wildcards):
    """The stamps of every science image of an object in a band."""
    o = PLAN.object(int(wildcards.oid), wildcards.band)
    return [f"{DIA}/stamps/{s}.fits" for s in o.science]


def lightcurve_tables(wildcards=None):
    """Every lightcurve CSV of the run."""
    return [f"{LC}/data/{o.oid}/{o.oid}_{o.band}_all.csv" for o in PLAN.objects]


def truth_dir():
    """SNANA truth for the plots' overlays (optional; none by default for remote inputs)."""
    if config["truth_dir"] or PLAN.remote:
        return config["truth_dir"] or ""
    return os.path.join(config["sims_dir"], "snana")


def final_outputs():
    out = []
    for o in PLAN.objects:
        stem = f"{LC}/data/{o.oid}/{o.oid}_{o.band}"
        out += [
            f"{stem}_all.csv",
            f"{stem}_all.parquet",
            f"{stem}.png",
            f"{stem}_stamps.png",
            f"{stem}_provenance.json",
        ]
    return out + [f"{LC}/failed_pairs.csv", f"{LC}/run_settings.csv"]


def print_failure_summary(lightcurves):
    """After a run: list the rows that failed, with the stage and cause."""
    import pandas as pd

    failed = []
    for path in lightcurves:
        if path.endswith("_all.csv") and os.path.exists(path):
            df = pd.read_csv(path, keep_default_na=False)
            bad = df[df["success"].astype(str) != "True"]
            for _, r in bad.iterrows():
                failed.append(
                    f"  {Path(path).name}: {r['science_name']} - {r['template_name']}: "
                    f"{r.get('failure_reason', '')}"
                )
    if failed:
        print(f"romandia: {len(failed)} pair(s) failed (rows kept with success=False):")
        print("\n".join(failed))
    else:
        print("romandia: all pairs succeeded.")


_WORKER = []  # (process, socket path) of the running worker


def start_worker():
    """Local execution: start the fork server the rule scripts hand their jobs to
    (romandia.worker; config ``worker``). Cluster jobs start their own processes."""
    if not (config["worker"] and workflow.local_exec):
        return
    from romandia import worker

    proc, path = worker.start("logs/worker.log", env=_ENV)
    _ENV[worker.ENV_SOCKET] = path
    _ENV[worker.ENV_PID] = str(proc.pid)
    if config["worker_gpu"]:
        _ENV[worker.ENV_GPU] = "1"
    _WORKER.append((proc, path))


def stop_worker():
    from romandia import worker

    while _WORKER:
        worker.stop(*_WORKER.pop())
    for var in (worker.ENV_SOCKET, worker.ENV_PID, worker.ENV_GPU):
        _ENV.pop(var, None)
