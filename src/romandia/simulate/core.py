"""The simulator driver: preset -> transients, exposures, scene -> OU2024-layout files."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import galsim
import numpy as np
import pandas as pd

import romandia
from romandia.constants import BANDS, LIST_DIRS, SCA_NPIX, SNANA_LETTER, zeropoint, zptmag
from romandia.errors import InputError
from romandia.ou2024 import (
    IMAGE_SUBDIR,
    SNANA_SUBDIR,
    TRUTH_COLUMNS,
    TRUTH_SUBDIR,
    healpix_ring,
    image_relpath,
    read_obseq,
    resolve_data_path,
    truth_relpath,
    write_obseq,
    write_snana,
    write_truth_catalog,
)
from romandia.simulate.config import PER_OBJECT, load_preset
from romandia.simulate.pointings import (
    SYNTHETIC_POINTING_BASE,
    Exposure,
    cutout_bounds,
    in_bounds,
    obseq_exposure,
    on_sca,
    synthetic_exposure,
)
from romandia.simulate.scene import (
    HOST_ID_BASE,
    Catalog,
    Field,
    host_catalog,
    make_field_catalog,
    offset_radec,
    separation_arcsec,
    stable_seed,
)

#: Default host of an explicit transient (when the ``host`` key is absent).
DEFAULT_HOST = {"mag": 21.5, "hlr": 0.5, "offset": 0.3, "angle": 30.0, "bulge_fraction": 0.3,
                "color": 0.3}
#: SNANA ``gentype`` of a SN Ia.
GENTYPE_IA = 10


@dataclass
class Transient:
    """An SN: position [deg], truth lightcurve and SNANA parameter row.

    ``sed_model`` describes the spectrum the ``per_object`` mode draws it with
    (:func:`romandia.simulate.seds.transient_sed`): for hsiao lightcurves
    ``{"model": "hsiao", "z", "t0", "amplitude", "host_ebv"}``, else ``None``.
    """

    id: int
    ra: float
    dec: float
    mjd: np.ndarray
    mags: dict
    params: dict
    host: dict | None = None
    hdf5_datasets: dict = field(default_factory=dict)
    exclude_pointings: set = field(default_factory=set)
    sed_model: dict | None = None


# ----------------------------------------------------------------------------- transients
def _host_for(sn_id: int, index: int, ra: float, dec: float, h: dict) -> dict:
    """Host galaxy centred so that the SN sits at ``offset`` arcsec, position angle ``angle``."""
    ang = math.radians(h["angle"])
    hra, hdec = offset_radec(ra, dec, -h["offset"] * math.sin(ang), -h["offset"] * math.cos(ang))
    return {"host_id": HOST_ID_BASE + index, "ra": float(hra), "dec": float(hdec),
            "mag": h["mag"], "color": h["color"], "hlr": h["hlr"],
            "bulge_fraction": h["bulge_fraction"], "e1": 0.1, "e2": -0.05,
            "offset": h["offset"]}


def _params_row(t_id, ra, dec, mjd, peak_mjd, host, z, model_name) -> dict:
    return {
        "id": int(t_id), "ra": float(ra), "dec": float(dec),
        "start_mjd": float(mjd[0]), "peak_mjd": float(peak_mjd), "end_mjd": float(mjd[-1]),
        "host_id": int(host["host_id"]) if host else -1,
        "host_ra": float(host["ra"]) if host else float("nan"),
        "host_dec": float(host["dec"]) if host else float("nan"),
        "host_sn_sep": float(host["offset"]) if host else float("nan"),
        "z_CMB": float(z) if z is not None else float("nan"),
        "model_name": model_name, "gentype": GENTYPE_IA,
    }


def _hsiao_transient(t_id, index, ra, dec, lc, host_cfg):
    from romandia.simulate.lightcurves import hsiao_lightcurve

    ebv = float(lc.get("host_ebv") or 0.0)
    mjd, mags, amp = hsiao_lightcurve(lc["z"], lc["peak_mjd"], lc["peak_mag"], lc["peak_band"],
                                      host_ebv=ebv, return_amplitude=True)
    host = _host_for(t_id, index, ra, dec, host_cfg) if host_cfg else None
    params = _params_row(t_id, ra, dec, mjd, lc["peak_mjd"], host, lc["z"], "hsiao-subsampled")
    ds = {"mjd": mjd, **{f"mag_{SNANA_LETTER[b]}": m for b, m in mags.items()}}
    sed_model = {"model": "hsiao", "z": float(lc["z"]), "t0": float(lc["peak_mjd"]),
                 "amplitude": float(amp), "host_ebv": ebv}
    return Transient(int(t_id), float(ra), float(dec), mjd, mags, params, host, ds,
                     sed_model=sed_model)


def build_transients(cfg: dict, seed: int) -> list[Transient]:
    """Transients of an explicit ``transients`` list or of the ``sne`` generator."""
    out: list[Transient] = []
    if "transients" in cfg:
        pos = {}
        for i, t in enumerate(cfg["transients"]):
            if "offset_from" in t:
                o = t["offset_from"]
                ra0, dec0 = pos[o["id"]]
                ra, dec = (float(v) for v in offset_radec(ra0, dec0, o["east"], o["north"]))
            else:
                ra, dec = float(t["ra"]), float(t["dec"])
            pos[t["id"]] = (ra, dec)
            host_cfg = t.get("host", DEFAULT_HOST)
            if host_cfg is not None:
                host_cfg = {**DEFAULT_HOST, **host_cfg}
            lc = t["lightcurve"]
            if lc["model"] == "hsiao":
                tr = _hsiao_transient(t["id"], i, ra, dec, lc, host_cfg)
            else:
                tr = _snana_transient(t["id"], i, ra, dec, lc, host_cfg, cfg["preset_dir"])
            tr.exclude_pointings = set(t.get("exclude_pointings", []))
            out.append(tr)
        return out
    s = cfg["sne"]
    rng = np.random.default_rng(stable_seed(seed, "sne"))
    n = s["n_sne"]
    # host dust only where configured, from its own stream (the other draws stay as they were)
    ebv = np.zeros(n)
    if s.get("host_ebv") is not None:
        ebv = np.random.default_rng(stable_seed(seed, "sne_host_ebv")).uniform(*s["host_ebv"],
                                                                               size=n)
    ncol = int(math.ceil(math.sqrt(n)))
    peak_mags = np.linspace(*s["peak_mag"], n)
    host_mags = rng.permutation(np.linspace(*s["host_mag"], n))
    for k in range(n):
        row, col = divmod(k, ncol)
        east = (col - (ncol - 1) / 2) * s["spacing"]
        north = (row - (ncol - 1) / 2) * s["spacing"]
        ra, dec = (float(v) for v in offset_radec(s["center"][0], s["center"][1], east, north))
        lc = {"z": float(rng.uniform(*s["z"])), "peak_mjd": float(rng.uniform(*s["peak_mjd"])),
              "peak_mag": float(peak_mags[k]), "peak_band": s["peak_band"],
              "host_ebv": float(ebv[k])}
        host_cfg = {"mag": float(host_mags[k]), "hlr": float(rng.uniform(*s["host_hlr"])),
                    "offset": float(rng.uniform(*s["host_offset"])),
                    "angle": float(rng.uniform(0, 360)),
                    "bulge_fraction": float(rng.uniform(0.0, 0.5)),
                    "color": float(rng.uniform(-0.3, 0.6))}
        out.append(_hsiao_transient(s["first_id"] + k, k, ra, dec, lc, host_cfg))
    return out


def _snana_transient(t_id, index, ra, dec, lc, host_cfg, preset_dir):
    import h5py

    from romandia.ou2024 import read_snana_lightcurve

    path = resolve_data_path(lc["file"], base=preset_dir)
    mjd, mags = read_snana_lightcurve(path, t_id)
    with h5py.File(path, "r", locking=False) as f:
        ds = {k: np.asarray(v[()]) for k, v in f[str(int(t_id))].items()}
    host = _host_for(t_id, index, ra, dec, host_cfg) if host_cfg else None
    peak = lc.get("peak_mjd")
    if peak is None:
        b = next(b for b in BANDS if b in mags)
        peak = float(mjd[int(np.argmin(mags[b]))])
    params = _params_row(t_id, ra, dec, mjd, peak, host, lc.get("z"), "OU2024-SNANA-truth")
    return Transient(int(t_id), float(ra), float(dec), mjd, mags, params, host, ds)


# ----------------------------------------------------------------------------- exposures
def _explicit_exposures(cfg, transients) -> list[Exposure]:
    obseq = None
    by_id = {t.id: t for t in transients}
    next_id = SYNTHETIC_POINTING_BASE
    used = {int(x["pointing"]) for x in cfg["exposures"] if "pointing" in x}
    out = []
    for i, x in enumerate(cfg["exposures"]):
        if "mjd" not in x:
            if obseq is None:
                obseq = read_obseq(resolve_data_path(cfg["obseq"], cfg["preset_dir"])
                                   if cfg.get("obseq") else None)
            if int(x["pointing"]) not in obseq.index:
                raise InputError(f"preset '{cfg['name']}': key 'exposures[{i}].pointing': "
                                 f"{x['pointing']} is not a row of the obseq table")
            exp = obseq_exposure(obseq, x["pointing"], x["sca"], x["role"])
        else:
            if "pointing" in x:
                pid = int(x["pointing"])
            else:
                while next_id in used:
                    next_id += 1
                pid = next_id
                used.add(pid)
            tgt = by_id[x.get("target", transients[0].id)]
            tp = x.get("target_pixel", [SCA_NPIX / 2, SCA_NPIX / 2])
            try:
                exp = synthetic_exposure(x["band"], pid, x["sca"], x["pa"], x["mjd"],
                                         (tgt.ra, tgt.dec), tuple(tp), x["role"])
            except galsim.GalSimError as exc:
                raise InputError(f"preset '{cfg['name']}': key 'exposures[{i}].mjd': galsim "
                                 f"cannot point at transient {tgt.id} on MJD {x['mjd']}: "
                                 f"{exc}") from None
        exp.center_shift = tuple(x.get("center_shift", (0, 0)))
        out.append(exp)
    return out


def _generated_exposures(cfg, transients, seed) -> list[Exposure]:
    ep = cfg["epochs"]
    out = []
    pid = SYNTHETIC_POINTING_BASE
    m = ep["target_margin"]
    for t in transients:
        explosion = float(t.mjd[0])
        peak = float(t.params["peak_mjd"])
        for band in ep["bands"]:
            rng = np.random.default_rng(stable_seed(seed, "epochs", t.id, band))
            tmpl = explosion + rng.uniform(*ep["template_days"], size=ep["n_templates"])
            npre = ep["n_pre_explosion"]
            pre = explosion + rng.uniform(*ep["pre_explosion_days"], size=npre)
            nsci = ep["n_science"] - npre
            # science_days in the observer frame, or (science_days_frame: rest) rest-frame
            # days stretched by 1 + z
            stretch = 1.0
            if ep.get("science_days_frame") == "rest" and np.isfinite(t.params["z_CMB"]):
                stretch = 1.0 + float(t.params["z_CMB"])
            sci = peak + np.linspace(*ep["science_days"], nsci) * stretch + \
                rng.uniform(-1, 1, nsci)
            epochs = [("template", v) for v in np.sort(tmpl)] + \
                [("science", v) for v in np.sort(np.concatenate([pre, sci]))]
            for role, mjd in epochs:
                sca = int(rng.choice(ep["scas"]))
                pa = float(rng.uniform(0, 360))
                tp = (float(rng.uniform(m, SCA_NPIX - m)), float(rng.uniform(m, SCA_NPIX - m)))
                try:
                    exp = synthetic_exposure(band, pid, sca, pa, round(float(mjd), 5),
                                             (t.ra, t.dec), tp, role)
                except galsim.GalSimError as exc:
                    raise InputError(f"preset '{cfg['name']}': key 'epochs': galsim cannot "
                                     f"point at SN {t.id} on MJD {mjd:.2f}: {exc}; change "
                                     "sne.peak_mjd or the epochs.*_days ranges") from None
                j = ep["cutout_jitter"]
                exp.center_shift = (int(rng.integers(-j, j + 1)), int(rng.integers(-j, j + 1)))
                exp.center_on = [t.id]
                out.append(exp)
                pid += 1
    return out


def _set_bounds(exposures, transients, size, name) -> None:
    for e in exposures:
        ids = e.center_on
        ts = [t for t in transients if ids is None or t.id in ids]
        try:
            x, y = e.radec_to_sca([t.ra for t in ts], [t.dec for t in ts])
        except galsim.GalSimError as exc:
            raise InputError(f"preset '{name}': exposure {e.band}/{e.pointing}/SCA {e.sca}: "
                             f"galsim refuses the pointing: {exc}") from None
        ok = on_sca(x, y)
        if not ok.any():
            raise InputError(
                f"preset '{name}': exposure {e.band}/{e.pointing}/SCA {e.sca}: none of the "
                f"transients {[t.id for t in ts]} falls on this SCA (pixels "
                f"{np.round(x, 1).tolist()}, {np.round(y, 1).tolist()})")
        dx, dy = e.center_shift
        e.bounds = cutout_bounds(float(np.mean(x[ok])) + dx, float(np.mean(y[ok])) + dy, size)


def _fields(transients, size, cfg_radius) -> list[Field]:
    """Group transients into circular scene fields covering every exposure's footprint."""
    # a cutout clipped at the SCA edge (or a full SCA) may have its transient near a corner, so
    # the default radius covers a whole image diagonal around the transients
    base = cfg_radius if cfg_radius else size * 0.11 * math.sqrt(2.0) + 5.0
    link = 2.0 * base  # transients closer than this share one field: fields never overlap
    groups: list[list[Transient]] = []
    for t in transients:
        for g in groups:
            if min(separation_arcsec(t.ra, t.dec, u.ra, u.dec) for u in g) < link:
                g.append(t)
                break
        else:
            groups.append([t])
    out = []
    for i, g in enumerate(groups):
        ra = float(np.mean([t.ra for t in g]))
        dec = float(np.mean([t.dec for t in g]))
        ext = max(float(separation_arcsec(ra, dec, t.ra, t.dec)) for t in g)
        out.append(Field(i, ra, dec, base + ext, [t.id for t in g]))
    return out


# ----------------------------------------------------------------------------- main entry
def simulate(preset, out_dir, seed: int | None = None, config_overrides: dict | None = None,
             progress=None) -> dict:
    """Simulate a preset into ``out_dir`` in the OU2024 layout.

    Parameters
    ----------
    preset : str or path-like
        Packaged preset name (``demo``, ``test``, ``validation``, ``benchmark``) or YAML file.
    out_dir : str or path-like
        Output directory (created; files of a previous run are overwritten, other files left).
    seed : int, optional
        Overrides the preset's seed.  Outputs are byte-identical for the same preset + seed.
    config_overrides : dict, optional
        Deep-merged onto the preset, e.g. ``{"image": {"noiseless": True}}`` or
        ``{"sne": {"n_sne": 3}}``.
    progress : callable, optional
        Called with one line of text per image written.

    Returns
    -------
    dict
        Summary: ``preset, seed, out_dir, n_images, bands, size, transients`` (per SN: id, ra,
        dec, bands, n_templates, n_science, peak S/N estimate), ``images`` (per image: path,
        band, pointing, sca, mjd, role, bounds, sky_mean, SN fluxes, wall and CPU seconds),
        ``objects``
        (the objects.yaml entries), ``timing`` [s].

    Raises
    ------
    InputError
        Bad preset / override values (the message names the key).
    """
    from romandia.simulate import noise as noise_mod
    from romandia.simulate.psf import bandpasses
    from romandia.simulate.render import render_sources
    from romandia.simulate.writer import (
        image_hdulist,
        image_header,
        sha256_file,
        write_fits_gz,
        write_image_list,
        write_json,
        write_text_atomic,
    )

    t_start = time.perf_counter()
    cfg = load_preset(preset, config_overrides, seed)
    seed = int(cfg["seed"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    img_cfg = cfg["image"]
    size = int(img_cfg["size"])
    timing: dict[str, float] = {}

    t0 = time.perf_counter()
    transients = build_transients(cfg, seed)
    if "exposures" in cfg:
        exposures = _explicit_exposures(cfg, transients)
    else:
        exposures = _generated_exposures(cfg, transients, seed)
    keys = [e.key for e in exposures]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise InputError(f"preset '{cfg['name']}': image(s) {sorted(dup)} (band, pointing, sca) "
                         "appear more than once")
    _set_bounds(exposures, transients, size, cfg["name"])
    fields = _fields(transients, size, cfg["scene"]["field_radius"])
    catalog = Catalog.concat(
        [make_field_catalog(f, cfg["scene"], seed) for f in fields]
        + [host_catalog([t.host for t in transients if t.host])])
    seds = None
    if img_cfg["psf"]["sed"] == PER_OBJECT:
        from romandia.simulate.seds import assign_seds

        seds = assign_seds(catalog, transients, cfg["scene"], seed)
    timing["plan"] = time.perf_counter() - t0

    written: list[Path] = []
    images = []
    bps = bandpasses()
    exposures.sort(key=lambda e: (e.band, e.mjd, e.pointing, e.sca))
    for e in exposures:
        te = time.perf_counter()
        ce = time.process_time()
        b = e.bounds
        sources, rows, info = render_sources(e, catalog, transients, img_cfg["psf"], seds=seds)
        t_draw = time.perf_counter() - te
        sky_cfg = img_cfg["sky"]
        sky = noise_mod.sky_image(e.band, bps[e.band], e.wcs, b, e.date, e.exptime,
                                  sky_cfg["force_cvz"], sky_cfg["stray_light"], sky_cfg["thermal"])
        smean = noise_mod.sky_mean(sky, e.exptime)
        if img_cfg["noiseless"]:
            sci, err = noise_mod.noiseless(sources, sky, e.exptime, img_cfg["err_mode"])
        else:
            rng = galsim.BaseDeviate(stable_seed(seed, "noise", e.band, e.pointing, e.sca))
            sci, err = noise_mod.apply_noise(sources, sky, e.exptime, rng, img_cfg["err_mode"])
        t_noise = time.perf_counter() - te - t_draw
        zpt = zptmag(e.exptime)
        hdr = image_header(e.wcs, b, e.band, e.mjd, e.date.isoformat(), e.exptime, zpt, smean,
                           img_cfg["err_mode"], img_cfg["noiseless"])
        rel = image_relpath(e.band, e.pointing, e.sca)
        ipath = out / IMAGE_SUBDIR / rel
        if "fits" in img_cfg["formats"]:
            write_fits_gz(ipath, image_hdulist(hdr, sci, err), img_cfg["gzip_level"])
            written.append(ipath)
        if "asdf" in img_cfg["formats"]:
            from romandia.simulate.l2asdf import l2_image_model, write_l2_asdf

            apath = out / IMAGE_SUBDIR / image_relpath(e.band, e.pointing, e.sca, "asdf")
            write_l2_asdf(apath, l2_image_model(
                hdr, sci, err, band=e.band, sca=e.sca, mjd=e.mjd, exptime=e.exptime,
                zeropoint=zeropoint(e.band, zpt), sca_origin=(b.xmin - 1, b.ymin - 1)))
            written.append(apath)
        tpath = out / TRUTH_SUBDIR / truth_relpath(e.band, e.pointing, e.sca)
        tdf = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))
        _write_truth_atomic(tpath, tdf)
        written.append(tpath)
        dt = time.perf_counter() - te
        rn2 = 8.5**2
        sn_info = {}
        for tid, d in info.items():
            snr = None
            if d["flux"] > 0 and d.get("nea"):
                snr = d["flux"] / math.sqrt(d["flux"] + d["nea"] * (smean + rn2))
            sn_info[tid] = {**d, "snr": snr}
        images.append(dict(path=rel, band=e.band, pointing=e.pointing, sca=e.sca, mjd=e.mjd,
                           role=e.role, synthetic=e.synthetic, ra=e.ra, dec=e.dec, pa=e.pa,
                           bounds=[b.xmin, b.xmax, b.ymin, b.ymax], sky_mean=smean,
                           zeropoint=zeropoint(e.band, zpt), transients=sn_info,
                           n_objects=len(rows), seconds=dt, draw_seconds=t_draw,
                           cpu_seconds=time.process_time() - ce,
                           noise_seconds=t_noise))
        if progress:
            progress(f"{rel}: {len(rows)} objects, {dt:.2f} s")
    timing["images"] = sum(i["seconds"] for i in images)

    # ---- lists + objects.yaml
    objects = []
    margin = img_cfg["list_margin"]
    for t in transients:
        for band in sorted({e.band for e in exposures}, key=BANDS.index):
            sel = {"template": [], "science": []}
            for e in exposures:
                if e.band != band or e.pointing in t.exclude_pointings:
                    continue
                x, y = e.radec_to_sca(t.ra, t.dec)
                if in_bounds(x, y, e.bounds, margin)[0]:
                    sel[e.role].append(e)
            if not sel["template"] or not sel["science"]:
                continue
            tname = f"{t.id}_instances_templates_{len(sel['template'])}.csv"
            sname = f"{t.id}_instances_science.csv"
            # the FITS lists in lists/, the ASDF lists (same images as .asdf) in lists_asdf/
            for fmt in img_cfg["formats"]:
                ldir = out / LIST_DIRS[fmt] / band
                for fname, es in ((tname, sel["template"]), (sname, sel["science"])):
                    es = sorted(es, key=lambda e: (e.mjd, e.pointing, e.sca))
                    write_image_list(ldir / fname, [(image_relpath(e.band, e.pointing, e.sca, fmt),
                                                     e.pointing, e.sca, e.mjd, e.band) for e in es])
                    written.append(ldir / fname)
            lists = LIST_DIRS[img_cfg["formats"][0]]
            obj = {"oid": int(t.id), "ra": float(t.ra), "dec": float(t.dec),
                   "band": band, "templates": f"{lists}/{band}/{tname}",
                   "science": f"{lists}/{band}/{sname}"}
            if math.isfinite(t.params["z_CMB"]):  # the host's catalogue redshift, as a user has it
                obj["z"] = round(float(t.params["z_CMB"]), 5)
            objects.append(obj)
    import yaml

    write_text_atomic(out / "objects.yaml", yaml.safe_dump(objects, sort_keys=False))
    written.append(out / "objects.yaml")

    # ---- per-object SEDs (not part of the OU2024 format: a file of its own)
    if seds is not None:
        from romandia.simulate.seds import sed_table
        from romandia.simulate.writer import atomic_path

        with atomic_path(out / "seds.parquet") as tmp:
            sed_table(catalog, seds, transients).to_parquet(tmp, index=False)
        written.append(out / "seds.parquet")

    # ---- SNANA truth
    by_hp: dict[int, list[Transient]] = {}
    for t in transients:
        by_hp.setdefault(healpix_ring(t.ra, t.dec), []).append(t)
    for hp, ts in sorted(by_hp.items()):
        pq, h5 = write_snana(out / SNANA_SUBDIR, hp, pd.DataFrame([t.params for t in ts]),
                             {t.id: t.hdf5_datasets for t in ts})
        written += [pq, h5]

    # ---- obseq of the pointings used
    rows = {}
    for e in exposures:
        rows[e.pointing] = dict(ra=e.ra, dec=e.dec, filter=e.band, exptime=e.exptime,
                                date=e.mjd, pa=e.pa)
    obs_df = pd.DataFrame.from_dict(rows, orient="index")
    obs_df.index.name = "pointing"
    write_obseq(out / "Roman_TDS_obseq.fits", obs_df)
    written.append(out / "Roman_TDS_obseq.fits")

    # ---- manifest (deterministic: relative paths, no timings)
    files = []
    for p in sorted(set(written), key=lambda p: p.relative_to(out).as_posix()):
        files.append({"path": p.relative_to(out).as_posix(), "size": p.stat().st_size,
                      "sha256": sha256_file(p)})
    public_cfg = {k: v for k, v in cfg.items() if k not in ("preset_dir",)}
    manifest = {"preset": cfg["name"], "seed": seed, "romandia_version": romandia.__version__,
                "galsim_version": galsim.__version__, "config": public_cfg, "files": files}
    write_json(out / "manifest.json", manifest)
    timing["total"] = time.perf_counter() - t_start

    tsum = []
    for t in transients:
        ims = [i for i in images if t.id in i["transients"]]
        snrs = [i["transients"][t.id]["snr"] for i in ims
                if i["role"] == "science" and i["transients"][t.id]["snr"]]
        tsum.append({"id": t.id, "ra": t.ra, "dec": t.dec, "healpix": healpix_ring(t.ra, t.dec),
                     "n_images": len(ims), "peak_snr": max(snrs) if snrs else 0.0,
                     "z": t.params["z_CMB"], "peak_mjd": t.params["peak_mjd"],
                     "host_mag": t.host["mag"] if t.host else None})
    return {"preset": cfg["name"], "seed": seed, "out_dir": os.fspath(out),
            "n_images": len(images), "size": size,
            "bands": sorted({i["band"] for i in images}, key=BANDS.index),
            "transients": tsum, "images": images, "objects": objects, "timing": timing,
            "config": public_cfg}


def _write_truth_atomic(path: Path, df: pd.DataFrame) -> None:
    from romandia.simulate.writer import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write_truth_catalog(tmp, df)

