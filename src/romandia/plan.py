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

The workflow's jobs are keyed by image: ``prepare`` (stages fetch, sky_subtract, psf) per
input image, ``subtract`` (stages align, subtract) and ``photometry`` per science image (every
template and object of that image in one job), ``lightcurve`` per object and band.
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
    #: the image lists (CSV files) the keys came from, for error messages
    template_list: str = ""
    science_list: str = ""
    #: the host's catalogue redshift, if given
    z: float | None = None


@dataclass
class Plan:
    """Everything the DAG needs, derived from the config.

    Every lookup the workflow's input functions make is a dictionary access (the plan is
    built once, in linear time over the lists), so parsing the Snakefile costs O(images +
    pairs), whatever the number of objects.
    """

    #: a local directory, or an https:// / s3:// URL (romandia.remote)
    sims_dir: Path | str
    images: dict[str, ImageEntry] = field(default_factory=dict)
    objects: list[Obj] = field(default_factory=list)
    #: pair key -> (science key, template key)
    pairs: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: pair key -> sorted object ids using it
    pair_objects: dict[str, list[int]] = field(default_factory=dict)
    #: image key -> objects listing it as template or science (config order)
    image_objects: dict[str, list[Obj]] = field(default_factory=dict)
    #: science key -> objects listing it as science (config order)
    science_objects: dict[str, list[Obj]] = field(default_factory=dict)
    #: science key -> sorted template keys paired with it
    science_templates: dict[str, list[str]] = field(default_factory=dict)
    #: (oid, band) -> object
    by_id: dict[tuple[int, str], Obj] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        """True when ``sims_dir`` is an https:// or s3:// URL."""
        return isinstance(self.sims_dir, str)

    def image_path(self, key: str) -> Path | str:
        """Where an input image is: ``sims_dir/images/simple_model/<path from the list>``
        (a URL when ``sims_dir`` is one)."""
        return self.sims_path("images", "simple_model", self.images[key].path)

    def sims_path(self, *parts: str) -> Path | str:
        """``sims_dir/part/...``: a Path, or a URL string when ``sims_dir`` is remote."""
        if self.remote:
            from .remote import join

            return join(self.sims_dir, *parts)
        return self.sims_dir.joinpath(*parts)

    def object(self, oid: int, band: str | None = None) -> Obj:
        """The object ``oid`` in ``band`` (any band when None: the first configured)."""
        if band is not None:
            try:
                return self.by_id[(int(oid), band)]
            except KeyError:
                raise KeyError(f"object {oid} {band} not in config") from None
        for (o_id, _), o in self.by_id.items():
            if o_id == int(oid):
                return o
        raise KeyError(f"object {oid} not in config")

    def object_bands(self, oid: int) -> list[Obj]:
        """The object ``oid`` in every band it is configured in (config order)."""
        return [o for (o_id, _), o in self.by_id.items() if o_id == int(oid)]

    def colour_images(self, sci: str) -> list[str]:
        """Images in the other bands of the objects measured on science image ``sci``: the
        first template of each (object, other band), sorted.  Their truth catalogues give the
        field stars' colours (config ``chromatic.stars``)."""
        band = self.images[sci].band
        out = set()
        for o in self.science_objects.get(sci, []):
            for other in self.object_bands(o.oid):
                if other.band != band and (other.templates or other.science):
                    out.add((other.templates or other.science)[0])
        return sorted(out)

    def anchor(self, pair: str) -> int:
        """Object id whose position sets the pair's PSFs."""
        return self.pair_objects[pair][0]

    def objects_on_image(self, key: str) -> list[Obj]:
        return self.image_objects.get(key, [])

    @property
    def science_keys(self) -> list[str]:
        """Every science image (sorted)."""
        return sorted(self.science_templates)

    def measurements(self, sci: str) -> list[tuple[Obj, str]]:
        """The (object, template key) rows that science image ``sci`` contributes."""
        return [(o, t) for o in self.science_objects.get(sci, []) for t in o.templates]

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
    from .remote import is_remote

    base = Path(base_dir)
    sims = str(config["sims_dir"]).rstrip("/") if is_remote(config["sims_dir"]) else Path(config["sims_dir"])
    if isinstance(sims, Path) and not sims.is_absolute():
        sims = base / sims
    plan = Plan(sims_dir=sims)
    seen_objects: set[tuple[int, str]] = set()
    redshifts: dict[int, float] = {}
    for i, entry in enumerate(config["objects"]):
        where = f"config key objects[{i}] (oid {entry['oid']}, band {entry['band']})"
        ident = (int(entry["oid"]), entry["band"])
        if ident in seen_objects:
            raise InputError(f"{where}: object {ident[0]} appears twice for band {ident[1]}; keep one entry")
        seen_objects.add(ident)
        z = entry.get("z")
        if z is not None and redshifts.setdefault(ident[0], float(z)) != float(z):
            raise InputError(f"{where}: z {z} differs from the z {redshifts[ident[0]]} given for this object "
                             "in another band; give every band of an object the same redshift")
        lists = {}
        files = {}
        for role in ("templates", "science"):
            p = Path(entry[role])
            if not p.is_absolute():
                p = base / p
            files[role] = str(p)
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
        obj = Obj(
            int(entry["oid"]), float(entry["ra"]), float(entry["dec"]), entry["band"], lists["templates"],
            lists["science"], template_list=files["templates"], science_list=files["science"],
            z=None if z is None else float(z),
        )
        plan.objects.append(obj)
        plan.by_id[ident] = obj
        for key in dict.fromkeys(obj.templates + obj.science):
            plan.image_objects.setdefault(key, []).append(obj)
        for s in obj.science:
            plan.science_objects.setdefault(s, []).append(obj)
            plan.science_templates.setdefault(s, set()).update(obj.templates)
        for t in obj.templates:
            for s in obj.science:
                key = f"{s}--{t}"
                plan.pairs[key] = (s, t)
                plan.pair_objects.setdefault(key, [])
                if obj.oid not in plan.pair_objects[key]:
                    plan.pair_objects[key].append(obj.oid)
    for v in plan.pair_objects.values():
        v.sort()
    plan.science_templates = {s: sorted(t) for s, t in plan.science_templates.items()}
    for key in plan.images:
        if not re.fullmatch(IMAGE_KEY_RE, key):
            raise InputError(f"image key '{key}' is malformed")
    return plan


def check_objects_on_images(plan: Plan) -> None:
    """Stop early when an object lies outside every image of its template or science list.

    Every pair of such an object would fail (``psf: object ... is outside image ...``), which
    almost always means a wrong ``ra``/``dec`` or the wrong image list; an object outside
    only *some* of its images is left to the workflow, where only those images' rows fail.
    Only the images' headers are read (a few ms per image).  Images that cannot be read are
    not counted: ``prepare`` reports them.  Remote images are not read here (a gzip file is
    read whole; ``prepare`` downloads each one once).

    Raises
    ------
    InputError
        Naming the object (config key, oid, RA/Dec), the image list(s), an example image
        with the object's pixel position in it, and the fix.
    """
    from functools import partial

    footprints: dict[str, tuple | None] = {}

    def footprint(key):
        if plan.remote:
            return None
        if key not in footprints:
            path = plan.image_path(key)
            if not path.exists():  # prepare reports it (and nothing here needs astropy)
                footprints[key] = None
                return None
            from . import l2asdf
            from .io import header_wcs, read_sci_header, sky_to_pixel

            try:
                if l2asdf.is_asdf(path):
                    footprints[key] = l2asdf.footprint(path)
                else:
                    hdr = read_sci_header(path)
                    w = header_wcs(hdr)
                    footprints[key] = (partial(sky_to_pixel, w), int(hdr["NAXIS1"]), int(hdr["NAXIS2"]))
            except Exception:  # noqa: BLE001 - unreadable: prepare reports it
                footprints[key] = None
        return footprints[key]

    for i, o in enumerate(plan.objects):
        missed = []
        for role, keys, csv in (("template", o.templates, o.template_list), ("science", o.science, o.science_list)):
            checked, unreadable, inside = [], 0, False
            for key in keys:
                fp = footprint(key)
                if fp is None:
                    unreadable += 1
                    continue
                to_pixel, nx, ny = fp
                try:
                    # the header's own frame, as the psf rule does
                    x, y = to_pixel(o.ra, o.dec)
                except Exception:  # noqa: BLE001 - no convergence: far outside
                    x = y = float("nan")
                if -0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5:
                    inside = True
                    break
                checked.append((key, x, y, nx, ny))
            if checked and not inside:
                missed.append((role, csv, checked, unreadable))
        if missed:
            lists = " and ".join(f"{role} list '{csv}'" for role, csv, _, _ in missed)
            n = sum(len(c) for _, _, c, _ in missed)
            n_bad = sum(u for _, _, _, u in missed)
            key, x, y, nx, ny = missed[0][2][0]
            raise InputError(
                f"config key objects[{i}] (oid {o.oid}, band {o.band}): object {o.oid} at RA {o.ra:.6f}, "
                f"Dec {o.dec:.6f} is outside every image in its {lists} ({n} checked"
                f"{f', {n_bad} unreadable' if n_bad else ''}; {key} puts it at pixel ({x:.0f}, {y:.0f}) of "
                f"{nx}x{ny}), so every pair would fail; check its ra/dec (degrees) or list images that contain it"
            )
