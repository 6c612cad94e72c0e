"""Simulator presets: loading, merging overrides, defaults and JSON-schema validation.

A preset is a YAML mapping (see ``presets/*.yaml`` and docs/simulator.md).  Loading order:
:data:`DEFAULTS` <- preset file <- ``config_overrides`` (deep merge: mappings are merged key by
key, anything else replaces).  The result is validated against :data:`SCHEMA`; the first
problem raises :class:`~romandia.errors.InputError` naming the key, e.g.
``preset 'x.yaml': key 'epochs.n_science': -1 is less than the minimum of 1``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from romandia.config import deep_merge
from romandia.constants import BANDS
from romandia.errors import InputError

_range = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
_band = {"type": "string", "enum": list(BANDS)}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "seed": {"type": "integer", "minimum": 0},
        "obseq": {"type": "string"},
        "image": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "size": {"type": "integer", "minimum": 64, "maximum": 4088},
                "err_mode": {"type": "string", "enum": ["ou2024", "sigma"]},
                "noiseless": {"type": "boolean"},
                "gzip_level": {"type": "integer", "minimum": 1, "maximum": 9},
                "formats": {"type": "array", "minItems": 1, "uniqueItems": True,
                            "items": {"type": "string", "enum": ["fits", "asdf"]}},
                "list_margin": {"type": "integer", "minimum": 0, "maximum": 1000},
                "psf": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "pupil_bin": {"type": "integer", "enum": [1, 2, 4, 8]},
                        "oversample": {"type": "integer", "minimum": 1, "maximum": 8},
                        "box_arcsec": {"type": "number", "minimum": 2, "maximum": 30},
                        "grid": {"type": ["integer", "null"], "minimum": 1, "maximum": 8},
                        "n_waves": {"type": ["integer", "null"], "minimum": 0, "maximum": 50},
                        "sed": {"type": "string"},
                        "charge_diffusion": {"type": "boolean"},
                    },
                },
                "sky": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "force_cvz": {"type": "boolean"},
                        "stray_light": {"type": "boolean"},
                        "thermal": {"type": "boolean"},
                    },
                },
            },
        },
        "scene": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "star_density": {"type": "number", "minimum": 0, "maximum": 1000},
                "star_mag": _range,
                "zp_star_mag": _range,
                "zp_star_fraction": {"type": "number", "minimum": 0, "maximum": 1},
                "galaxy_density": {"type": "number", "minimum": 0, "maximum": 1000},
                "galaxy_mag": _range,
                "galaxy_hlr": _range,
                "bulge_fraction": _range,
                "ellipticity": {"type": "number", "minimum": 0, "maximum": 0.8},
                "color": {"type": "number", "minimum": 0, "maximum": 3},
                "field_radius": {"type": ["number", "null"], "exclusiveMinimum": 0},
                # per-object SEDs (image.psf.sed: per_object; romandia.simulate.seds)
                "star_temperature": {**_range, "items": {"type": "number", "minimum": 1000,
                                                         "maximum": 50000}},
                "galaxy_z": {**_range, "items": {"type": "number", "minimum": 0,
                                                 "maximum": 6}},
                "galaxy_templates": {"type": "array", "minItems": 1, "uniqueItems": True,
                                     "items": {"type": "string",
                                               "enum": ["E", "Sbc", "Scd", "Im"]}},
            },
        },
        "transients": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "lightcurve"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "ra": {"type": "number", "minimum": 0, "maximum": 360},
                    "dec": {"type": "number", "minimum": -90, "maximum": 90},
                    "offset_from": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["id", "east", "north"],
                        "properties": {
                            "id": {"type": "integer"},
                            "east": {"type": "number"},
                            "north": {"type": "number"},
                        },
                    },
                    "lightcurve": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["model"],
                        "properties": {
                            "model": {"type": "string", "enum": ["snana_hdf5", "hsiao"]},
                            "file": {"type": "string"},
                            "z": {"type": ["number", "null"], "exclusiveMinimum": 0},
                            "peak_mjd": {"type": "number"},
                            "peak_mag": {"type": "number", "minimum": 10, "maximum": 35},
                            "peak_band": _band,
                            "host_ebv": {"type": "number", "minimum": 0, "maximum": 2},
                        },
                    },
                    "host": {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "properties": {
                            "mag": {"type": "number", "minimum": 10, "maximum": 35},
                            "hlr": {"type": "number", "exclusiveMinimum": 0, "maximum": 5},
                            "offset": {"type": "number", "minimum": 0, "maximum": 5},
                            "angle": {"type": "number"},
                            "bulge_fraction": {"type": "number", "minimum": 0, "maximum": 1},
                            "color": {"type": "number", "minimum": -3, "maximum": 3},
                        },
                    },
                    "exclude_pointings": {"type": "array", "items": {"type": "integer"}},
                },
            },
        },
        "sne": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "n_sne": {"type": "integer", "minimum": 1, "maximum": 1000},
                "first_id": {"type": "integer", "minimum": 1},
                "center": _range,
                "spacing": {"type": "number", "minimum": 30},
                "peak_mag": _range,
                "peak_band": _band,
                "z": _range,
                "peak_mjd": _range,
                "host_mag": _range,
                "host_offset": _range,
                "host_hlr": _range,
                "host_ebv": {**_range, "items": {"type": "number", "minimum": 0,
                                                 "maximum": 2}},
            },
        },
        "exposures": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["role"],
                "properties": {
                    "role": {"type": "string", "enum": ["template", "science"]},
                    "pointing": {"type": "integer", "minimum": 0},
                    "sca": {"type": "integer", "minimum": 1, "maximum": 18},
                    "band": _band,
                    "mjd": {"type": "number", "minimum": 50000, "maximum": 70000},
                    "pa": {"type": "number", "minimum": -360, "maximum": 360},
                    "target": {"type": "integer"},
                    "target_pixel": {"type": "array", "items": {"type": "number", "minimum": 1,
                                     "maximum": 4088}, "minItems": 2, "maxItems": 2},
                    "center_shift": {"type": "array", "items": {"type": "integer"},
                                     "minItems": 2, "maxItems": 2},
                },
            },
        },
        "epochs": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "bands": {"type": "array", "items": _band, "minItems": 1, "uniqueItems": True},
                "n_templates": {"type": "integer", "minimum": 1, "maximum": 50},
                "n_science": {"type": "integer", "minimum": 1, "maximum": 500},
                "n_pre_explosion": {"type": "integer", "minimum": 0, "maximum": 100},
                "template_days": _range,
                "pre_explosion_days": _range,
                "science_days": _range,
                "science_days_frame": {"type": "string", "enum": ["observer", "rest"]},
                "scas": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 18},
                         "minItems": 1},
                "target_margin": {"type": "integer", "minimum": 0, "maximum": 2000},
                "cutout_jitter": {"type": "integer", "minimum": 0, "maximum": 1000},
            },
        },
    },
}

#: Defaults merged under every preset.
DEFAULTS: dict[str, Any] = {
    "description": "",
    "seed": 42,
    "image": {
        "size": 512,
        "err_mode": "ou2024",
        "noiseless": False,
        "gzip_level": 1,
        "formats": ["fits"],
        "list_margin": 20,
        "psf": {"pupil_bin": 8, "oversample": 6, "box_arcsec": 7.04, "grid": None,
                "n_waves": 5, "sed": "flat", "charge_diffusion": True},
        "sky": {"force_cvz": True, "stray_light": True, "thermal": True},
    },
    "scene": {
        "star_density": 50.0,
        "star_mag": [17.0, 25.0],
        "zp_star_mag": [19.0, 21.5],
        "zp_star_fraction": 0.5,
        "galaxy_density": 25.0,
        "galaxy_mag": [20.0, 26.5],
        "galaxy_hlr": [0.1, 0.8],
        "bulge_fraction": [0.0, 0.6],
        "ellipticity": 0.5,
        "color": 0.5,
        "field_radius": None,
    },
}

#: ``image.psf.sed`` value that gives every object its own SED (romandia.simulate.seds).
PER_OBJECT = "per_object"
#: Scene defaults of the per-object SEDs, merged only when ``image.psf.sed`` is ``per_object``
#: (so that the other presets' configs, and manifests, are unchanged); as
#: ``romandia.simulate.seds.SCENE_DEFAULTS`` (without importing galsim here).
SED_SCENE_DEFAULTS: dict[str, Any] = {
    "star_temperature": [3500.0, 10000.0],
    "galaxy_z": [0.1, 1.5],
    "galaxy_templates": ["E", "Sbc", "Scd", "Im"],
}

#: Defaults of the ``sne`` / ``epochs`` generators (applied only when the section is present).
SNE_DEFAULTS: dict[str, Any] = {
    "n_sne": 20,
    "first_id": 91000001,
    "center": [7.6, -44.4],
    "spacing": 150.0,
    "peak_mag": [21.0, 26.5],
    "peak_band": "H158",
    "z": [0.2, 1.2],
    "peak_mjd": [62500.0, 62600.0],
    "host_mag": [19.0, 26.0],
    "host_offset": [0.1, 0.5],
    "host_hlr": [0.2, 0.8],
}
EPOCHS_DEFAULTS: dict[str, Any] = {
    "bands": ["R062", "H158"],
    "n_templates": 1,
    "n_science": 10,
    "n_pre_explosion": 2,
    "template_days": [-300.0, -150.0],
    "pre_explosion_days": [-60.0, -5.0],
    "science_days": [-15.0, 70.0],
    "scas": list(range(1, 19)),
    "target_margin": 400,
    "cutout_jitter": 40,
}


def preset_names() -> list[str]:
    """Names of the packaged presets."""
    d = resources.files("romandia.simulate").joinpath("presets")
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml"))


def load_yaml_mapping(path: str | os.PathLike, what: str) -> dict:
    """Read a YAML file that must hold a mapping; InputError with the file and line otherwise."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{what} '{path}': cannot read ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{what} '{path}':{where} invalid YAML: "
                         f"{getattr(exc, 'problem', exc)}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{what} '{path}': must be a YAML mapping, got {type(data).__name__}")
    return data


def resolve_preset(preset: str | os.PathLike) -> tuple[str, Path]:
    """``(name, path)`` of a packaged preset name or a YAML file path."""
    s = os.fspath(preset)
    p = Path(s).expanduser()
    if p.suffix in (".yaml", ".yml") or p.is_file() or os.sep in s:
        if not p.is_file():
            raise InputError(f"preset file '{s}' does not exist")
        return s, p
    names = preset_names()
    if s not in names:
        raise InputError(f"unknown preset '{s}'; available: {', '.join(names)} (or a YAML file)")
    res = resources.files("romandia.simulate").joinpath("presets", f"{s}.yaml")
    return s, Path(os.fspath(res))


def _key_path(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def validate(cfg: dict, name: str) -> None:
    """Validate a merged config against :data:`SCHEMA` and the cross-key rules.

    Raises
    ------
    InputError
        ``preset '{name}': key '{path}': {problem}`` for the first problem found.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(cfg),
                    key=lambda e: (_key_path(e.absolute_path), e.validator, e.message))
    if errors:
        e = errors[0]
        key = _key_path(e.absolute_path)
        if e.validator == "additionalProperties":
            extra = sorted(set(e.instance) - set(e.schema.get("properties", {})))
            allowed = ", ".join(sorted(e.schema.get("properties", {})))
            bad = f"{key}.{extra[0]}" if key else str(extra[0])
            raise InputError(f"preset '{name}': key '{bad}': unknown key (allowed here: {allowed})")
        if e.validator == "required":
            raise InputError(f"preset '{name}': key '{key or '<top>'}': {e.message}")
        raise InputError(f"preset '{name}': key '{key or '<top>'}': {e.message}")
    has_t, has_s = "transients" in cfg, "sne" in cfg
    if has_t == has_s:
        raise InputError(f"preset '{name}': give exactly one of 'transients' (explicit list) "
                         "or 'sne' (generated SNe)")
    has_x, has_e = "exposures" in cfg, "epochs" in cfg
    if has_x == has_e:
        raise InputError(f"preset '{name}': give exactly one of 'exposures' (explicit list) "
                         "or 'epochs' (generated)")
    if has_s and not has_e:
        raise InputError(f"preset '{name}': key 'sne' needs 'epochs' (not 'exposures')")
    if has_t and not has_x:
        raise InputError(f"preset '{name}': key 'transients' needs 'exposures' (not 'epochs')")
    _validate_sed(cfg, name)
    for sect in ("star_mag", "zp_star_mag", "galaxy_mag", "galaxy_hlr", "bulge_fraction",
                 "star_temperature", "galaxy_z"):
        if sect not in cfg["scene"]:
            continue
        lo, hi = cfg["scene"][sect]
        if lo > hi:
            raise InputError(f"preset '{name}': key 'scene.{sect}': lower bound {lo} > upper {hi}")
    if "sne" in cfg and cfg["sne"].get("host_ebv") is not None:
        lo, hi = cfg["sne"]["host_ebv"]
        if lo > hi:
            raise InputError(f"preset '{name}': key 'sne.host_ebv': lower bound {lo} > upper {hi}")
    if has_t:
        ids = [t["id"] for t in cfg["transients"]]
        for i, t in enumerate(cfg["transients"]):
            k = f"transients[{i}]"
            if ids.count(t["id"]) > 1:
                raise InputError(f"preset '{name}': key '{k}.id': duplicate id {t['id']}")
            has_pos = "ra" in t and "dec" in t
            if has_pos == ("offset_from" in t):
                raise InputError(f"preset '{name}': key '{k}': give either ra+dec or offset_from")
            if "offset_from" in t and t["offset_from"]["id"] not in ids[:i]:
                raise InputError(f"preset '{name}': key '{k}.offset_from.id': "
                                 f"{t['offset_from']['id']} is not an earlier transient")
            lc = t["lightcurve"]
            need = ["file"] if lc["model"] == "snana_hdf5" else ["z", "peak_mjd", "peak_mag",
                                                                 "peak_band"]
            for n in need:
                if lc.get(n) is None:
                    raise InputError(f"preset '{name}': key '{k}.lightcurve.{n}': required for "
                                     f"model '{lc['model']}'")
        for i, x in enumerate(cfg["exposures"]):
            k = f"exposures[{i}]"
            synthetic = "mjd" in x
            if synthetic:
                for n in ("band", "pa", "sca"):
                    if n not in x:
                        raise InputError(f"preset '{name}': key '{k}.{n}': required for a "
                                         "synthetic exposure (one with 'mjd')")
            else:
                for n in ("pointing", "sca"):
                    if n not in x:
                        raise InputError(f"preset '{name}': key '{k}.{n}': required for an "
                                         "obseq exposure (one without 'mjd')")
                for n in ("band", "pa", "target_pixel"):
                    if n in x:
                        raise InputError(f"preset '{name}': key '{k}.{n}': not allowed for an "
                                         "obseq exposure (it comes from the obseq row)")
            if "target" in x and x["target"] not in ids:
                raise InputError(f"preset '{name}': key '{k}.target': {x['target']} is not a "
                                 "transient id")
    if has_e:
        ep = cfg["epochs"]
        for sect in ("template_days", "pre_explosion_days", "science_days"):
            lo, hi = ep[sect]
            if lo > hi:
                raise InputError(f"preset '{name}': key 'epochs.{sect}': lower bound {lo} > "
                                 f"upper {hi}")
        if ep["n_pre_explosion"] >= ep["n_science"]:
            raise InputError(f"preset '{name}': key 'epochs.n_pre_explosion': must be smaller "
                             f"than epochs.n_science ({ep['n_science']})")
        if ep["template_days"][1] >= 0 or ep["pre_explosion_days"][1] >= 0:
            raise InputError(f"preset '{name}': key 'epochs.template_days': template and "
                             "pre-explosion days are relative to the explosion and must be < 0")


def _validate_sed(cfg: dict, name: str) -> None:
    """``image.psf.sed``: a single SED's name (:func:`romandia.simulate.psf.sed`) or
    ``per_object`` (which needs a chromatic PSF)."""
    from romandia.simulate.psf import SED_NAMES, sed

    psf = cfg["image"]["psf"]
    value = psf["sed"]
    allowed = f"{', '.join(SED_NAMES)}, blackbody:<T in K> or {PER_OBJECT}"
    if value == PER_OBJECT:
        if not psf.get("n_waves"):
            raise InputError(f"preset '{name}': key 'image.psf.sed': {PER_OBJECT} needs a "
                             "chromatic PSF (image.psf.n_waves > 0)")
        return
    try:
        sed(value)
    except ValueError as exc:
        raise InputError(f"preset '{name}': key 'image.psf.sed': {value!r} is not an SED "
                         f"({exc}); use one of {allowed}") from None


def load_preset(preset: str | os.PathLike, config_overrides: dict | None = None,
                seed: int | None = None) -> dict:
    """Load, merge and validate a preset.

    Parameters
    ----------
    preset : str or path-like
        A packaged preset name (``demo``, ``test``, ``validation``, ``benchmark``) or a YAML file.
    config_overrides : dict, optional
        Merged onto the preset (deep merge).
    seed : int, optional
        Overrides the preset's ``seed``.

    Returns
    -------
    dict
        The full configuration (defaults filled in), with ``name`` (the preset name as given)
        and ``preset_dir`` (for relative ``file`` paths) added.
    """
    name, path = resolve_preset(preset)
    data = load_yaml_mapping(path, "preset")
    cfg = deep_merge(DEFAULTS, data)
    if "sne" in cfg or (config_overrides or {}).get("sne") is not None:
        cfg["sne"] = deep_merge(SNE_DEFAULTS, cfg.get("sne") or {})
    if "epochs" in cfg or (config_overrides or {}).get("epochs") is not None:
        cfg["epochs"] = deep_merge(EPOCHS_DEFAULTS, cfg.get("epochs") or {})
    if config_overrides:
        if not isinstance(config_overrides, dict):
            raise InputError(f"preset '{name}': config overrides must be a mapping")
        cfg = deep_merge(cfg, config_overrides)
    if seed is not None:
        cfg["seed"] = seed
    if cfg.get("image", {}).get("psf", {}).get("sed") == PER_OBJECT and \
            isinstance(cfg.get("scene"), dict):
        cfg["scene"] = deep_merge(SED_SCENE_DEFAULTS, cfg["scene"])
    validate(cfg, name)
    cfg["name"] = name
    cfg["preset_dir"] = str(path.parent)
    return cfg
