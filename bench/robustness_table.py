"""Print the table of bad-input cases and the message romandia gives for each
(docs/robustness.md).  Every case is run for real through the code the workflow uses.

Usage: python bench/robustness_table.py > /tmp/table.md
"""

from __future__ import annotations

import gzip
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from romandia import checks, io  # noqa: E402
from romandia.config import check_config, check_output_dirs  # noqa: E402
from romandia.errors import RomandiaError  # noqa: E402
from romandia.imagelist import read_image_list  # noqa: E402
from romandia.plan import build_plan, check_objects_on_images  # noqa: E402

H = "path observation_id sca mjd band\n"
ROW = "R062/35083/Roman_TDS_simple_model_R062_35083_8.fits.gz 35083 8 62455.174 R062\n"


def header(ctype=("RA---TAN", "DEC--TAN"), band="R062"):
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = ctype
    h["CRPIX1"] = h["CRPIX2"] = 32.0
    h["CRVAL1"], h["CRVAL2"] = 7.55, -44.8
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -3e-5, 0.0, 0.0, 3e-5
    h["FILTER"], h["SCA_NUM"], h["MJD-OBS"], h["EXPTIME"], h["ZPTMAG"] = band, 3, 62000.5, 161.025, 16.95
    return h


def ou_file(path, data=None, hdr=None, layout=("SCI", "ERR", "DQ")):
    hdr = hdr if hdr is not None else header()
    data = np.random.default_rng(1).normal(100, 10, (64, 64)) if data is None else data
    hdus = [fits.PrimaryHDU(header=hdr)] + [fits.ImageHDU(data.astype(np.float32), header=hdr, name=n) for n in layout]
    tmp = path.with_suffix(".raw")
    fits.HDUList(hdus).writeto(tmp)
    path.write_bytes(gzip.compress(tmp.read_bytes(), compresslevel=1))
    tmp.unlink()
    return path


def message(fn):
    try:
        fn()
    except RomandiaError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - report whatever a user would see
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = [ln for ln in lines if "ValidationError" in ln or "Failed validating" in ln]
        return f"{type(exc).__name__}: {' '.join(lines[:1] + detail[:1])}"
    return "(accepted)"


def main():
    d = Path(tempfile.mkdtemp(prefix="romandia-robust-"))
    schema = str(REPO / "workflow/schemas/config.schema.yaml")
    good_t = d / "t.csv"
    good_t.write_text(H + ROW.replace("35083", "6").replace(" 8 ", " 17 "))
    good_s = d / "s.csv"
    good_s.write_text(H + ROW)
    base = {"sims_dir": str(d), "objects": [{"oid": 1, "ra": 7.5, "dec": -44.8, "band": "R062",
                                              "templates": str(good_t), "science": str(good_s)}]}

    counter = iter(range(1000))

    def csv(text):
        p = d / f"list{next(counter)}.csv"
        p.write_text(text)
        return lambda: read_image_list(p)

    def img(make, band="R062"):
        p = d / f"image{next(counter)}.fits.gz"
        make(p)
        return lambda: io.load_ou_image(p, expected_band=band)

    def cfg(patch):
        c = yaml.safe_load(yaml.safe_dump(base))
        c.update(patch)
        return lambda: (check_config(c, schema), validate(c, schema), check_output_dirs(c))

    def plan(patch_objects):
        c = yaml.safe_load(yaml.safe_dump(base))
        c["objects"] = patch_objects(c["objects"])
        return lambda: build_plan(c)

    # the images of the base config (64 px frames around RA 7.55: object 1 at RA 7.5 is on neither)
    for row in (good_t, good_s):
        rel = row.read_text().splitlines()[1].split()[0]
        (d / "images" / "simple_model" / rel).parent.mkdir(parents=True, exist_ok=True)
        ou_file(d / "images" / "simple_model" / rel)
    afile = d / "afile.txt"
    afile.write_text("")

    def geometry(fn):
        return lambda: fn(io.header_wcs(header()), (64, 64))

    far = header()
    far["CRVAL2"] += 0.2

    def saturated():
        stamp = np.random.default_rng(2).normal(0, 10, (64, 64))
        stamp[30:35, 30:35] = 1e5
        h = header()
        ra, dec = (float(v) for v in io.header_wcs(h).pixel_to_world_values(32, 32))
        checks.check_not_saturated({"SCI": (stamp, h)}, ra, dec, 3.0)

    both = d / "both.csv"
    both.write_text(H + ROW.replace("35083", "6").replace(" 8 ", " 17 ") + ROW)
    cases = [
        ("missing image file", img(lambda p: None)),
        ("corrupt .fits.gz", img(lambda p: p.write_bytes(b"\x1f\x8b" + b"x" * 50))),
        ("truncated .fits.gz", img(lambda p: p.write_bytes(ou_file(p).read_bytes()[:400]))),
        ("not a FITS file", img(lambda p: p.write_bytes(b"hello"))),
        ("wrong HDU layout (no SCI)", img(lambda p: ou_file(p, layout=()))),
        ("FITS without a WCS", img(lambda p: ou_file(p, hdr=header(ctype=("", ""))))),
        ("unsupported projection (ZPN)", img(lambda p: ou_file(p, hdr=header(ctype=("RA---ZPN", "DEC--ZPN"))))),
        ("CSV band differs from the image's FILTER", img(lambda p: ou_file(p, hdr=header(band="Y106")))),
        ("all-NaN image", img(lambda p: ou_file(p, data=np.full((64, 64), np.nan)))),
        ("all-zero image", img(lambda p: ou_file(p, data=np.zeros((64, 64))))),
        ("CSV: wrong header", csv("path,observation_id,sca,mjd,band\n" + ROW)),
        ("CSV: wrong column count", csv(H + "a.fits 1 2 3\n")),
        ("CSV: non-numeric mjd", csv(H + ROW.replace("62455.174", "soon"))),
        ("CSV: non-numeric sca", csv(H + ROW.replace(" 8 ", " eight "))),
        ("CSV: duplicate rows", csv(H + ROW + ROW)),
        ("CSV: path escaping the image tree", csv(H + "../../etc/passwd 1 2 3.0 R062\n")),
        ("same image as template and science", plan(lambda o: [dict(o[0], science=str(both))])),
        ("same object twice in one band", plan(lambda o: o + o)),
        ("object outside every image of its lists", lambda: check_objects_on_images(build_plan(base))),
        ("object outside one image (its rows fail)",
         geometry(lambda w, sh: checks.object_pixel(w, sh, 7.5, -44.8, 1, "R062_35083_8"))),
        ("template with no overlap (its pairs fail)",
         geometry(lambda w, sh: checks.template_pixel_map(w, sh, io.header_wcs(far), sh, "R062_35083_8",
                                                          "R062_6_17"))),
        ("saturated object (its rows fail)", saturated),
        ("config: output directory cannot be created", cfg({"lc_out_dir": str(afile / "lc")})),
        ("config: unknown key", cfg({"colour": "blue"})),
        ("config: wrong type", cfg({"threads": "many"})),
        ("config: negative size", cfg({"cutout_size": -5})),
        ("config: unknown PSF type", cfg({"psf": {"type": "webbpsf"}})),
        ("config: unknown band", cfg({"objects": [dict(base["objects"][0], band="W999")]})),
    ]
    print("| bad input | what romandia says |")
    print("|---|---|")
    for name, fn in cases:
        msg = message(fn).replace(str(d) + "/", "").replace("|", "\\|")
        msg = " ".join(msg.split())
        print(f"| {name} | {msg[:400]} |")


if __name__ == "__main__":
    main()
