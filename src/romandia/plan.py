"""The workflow's plan: images, objects and science x template pairs from the config.

Pure Python (no Snakemake), so it is unit-testable.  ``workflow/rules/common.smk`` builds
one :class:`Plan` at parse time and its input functions read from it.

Keys used in file names and wildcards
-------------------------------------
image
    ``{band}_{observation_id}_{sca}``, e.g. ``R062_35083_8``.
pair
    ``{science image}--{template image}``.  A pair is subtracted once even when several
    objects use it; its *anchor* (the object whose position sets the PSFs used in the
    subtraction) is the object with the smallest id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .imagelist import ImageEntry, read_image_list

IMAGE_KEY_RE = r"[A-Z][0-9]{3}_[0-9]+_[0-9]+"


@dataclass(frozen=True)
class Obj:
    """A configured object in one band."""

    oid: int
    ra: float
    dec: float
    band: str
    templates: tuple[str, ...]
    science: tuple[str, ...]


@dataclass
class Plan:
    """Everything the DAG needs, derived from the config."""

    sims_dir: Path
    images: dict[str, ImageEntry] = field(default_factory=dict)
    objects: list[Obj] = field(default_factory=list)
    #: pair key -> (science key, template key)
    pairs: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: pair key -> sorted object ids using it
    pair_objects: dict[str, list[int]] = field(default_factory=dict)

    def image_path(self, key: str) -> Path:
        """Absolute path of an input image under ``sims_dir/images/simple_model``."""
        return self.sims_dir / "images" / "simple_model" / self.images[key].path

    def object(self, oid: int, band: str | None = None) -> Obj:
        for o in self.objects:
            if o.oid == int(oid) and (band is None or o.band == band):
                return o
        raise KeyError(f"object {oid} {band or ''} not in config")

    def anchor(self, pair: str) -> int:
        """Object id whose position sets the pair's PSFs."""
        return self.pair_objects[pair][0]

    def objects_on_image(self, key: str) -> list[Obj]:
        return [o for o in self.objects if key in o.templates or key in o.science]

    def object_pairs(self, oid: int, band: str) -> list[str]:
        o = self.object(oid, band)
        return [f"{s}--{t}" for t in o.templates for s in o.science]


def build_plan(config: dict, base_dir: str | Path = ".") -> Plan:
    """Read the image lists named in ``config`` and build the :class:`Plan`.

    Parameters
    ----------
    config : dict
        Validated workflow config (``sims_dir``, ``objects``).
    base_dir : path
        Directory relative paths are resolved against (the working directory).

    Raises
    ------
    InputError
        Duplicate object/band, an image used as both template and science of one object,
        an image listed with two different paths, or problems in the CSV files.
    """
    base = Path(base_dir)
    sims = Path(config["sims_dir"])
    if not sims.is_absolute():
        sims = base / sims
    plan = Plan(sims_dir=sims)
    seen_objects: set[tuple[int, str]] = set()
    for i, entry in enumerate(config["objects"]):
        where = f"config key objects[{i}] (oid {entry['oid']}, band {entry['band']})"
        ident = (int(entry["oid"]), entry["band"])
        if ident in seen_objects:
            raise InputError(f"{where}: object {ident[0]} appears twice for band {ident[1]}; keep one entry")
        seen_objects.add(ident)
        lists = {}
        for role in ("templates", "science"):
            p = Path(entry[role])
            if not p.is_absolute():
                p = base / p
            rows = read_image_list(p, band=entry["band"])
            if not rows:
                raise InputError(
                    f"{where}: '{p}' lists no {entry['band']} image; check the CSV's band column"
                )
            for r in rows:
                old = plan.images.get(r.key)
                if old is not None and old.path != r.path:
                    raise InputError(
                        f"{r.source}: image {r.key} listed with path '{r.path}' but "
                        f"{old.source} gives '{old.path}'"
                    )
                plan.images.setdefault(r.key, r)
            lists[role] = tuple(r.key for r in rows)
        both = sorted(set(lists["templates"]) & set(lists["science"]))
        if both:
            raise InputError(
                f"{where}: image {both[0]} is both a template and a science image; "
                "remove it from one of the lists"
            )
        obj = Obj(int(entry["oid"]), float(entry["ra"]), float(entry["dec"]), entry["band"], lists["templates"], lists["science"])
        plan.objects.append(obj)
        for t in obj.templates:
            for s in obj.science:
                key = f"{s}--{t}"
                plan.pairs[key] = (s, t)
                plan.pair_objects.setdefault(key, [])
                if obj.oid not in plan.pair_objects[key]:
                    plan.pair_objects[key].append(obj.oid)
    for v in plan.pair_objects.values():
        v.sort()
    for key in plan.images:
        if not re.fullmatch(IMAGE_KEY_RE, key):
            raise InputError(f"image key '{key}' is malformed")
    return plan
