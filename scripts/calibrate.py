"""Rule calibrate: the PSF-fit flux scale of a science image on field stars (romandia.calibration).

Writes ``{template name: calibration}`` as JSON; a template whose pair failed, or an image
without a star catalogue, gets ``status: "unmeasured: <why>"`` (the photometry then leaves its
flux uncorrected and says so in ``calib_status``).
"""

import json
from pathlib import Path

import numpy as np

from romandia import calibration, io, psf, runner
from romandia.convolve import kernel_convolve
from romandia.errors import InputError
from romandia.ou2024 import read_truth_catalog


def unmeasured(templates, why):
    return {t: calibration.Calibration(status=f"unmeasured: {why}").to_dict() for t in templates}


def main(log):
    sm = snakemake  # noqa: F821
    templates = list(sm.params.templates)
    cat_path = Path(sm.params.catalog)
    err = io.first_failure([sm.input.sci])
    if err:
        out = unmeasured(templates, f"science image failed ({err})")
    elif not cat_path.is_file():
        out = unmeasured(templates, f"no star catalogue at {cat_path}")
    else:
        try:
            catalog = read_truth_catalog(cat_path)
        except InputError as exc:
            catalog, out = None, unmeasured(templates, str(exc))
        if catalog is not None:
            out = measure(sm, templates, catalog, log)
    with io.atomic_output(sm.output[0]) as tmp:
        tmp.write_text(json.dumps(out, indent=1, allow_nan=True, default=float) + "\n")


def measure(sm, templates, catalog, log):
    sci = io.read_hdus(sm.input.sci, ["SKYSUB", "VAR"])
    data, hdr = sci["SKYSUB"]
    pairs, out = {}, {}
    for t, diff, aligned in zip(templates, sm.input.diffs, sm.input.aligned, strict=True):
        err = io.first_failure([diff, aligned])
        if err:
            out[t] = calibration.Calibration(status=f"unmeasured: pair failed ({err})").to_dict()
            continue
        sub = io.read_hdus(diff, ["ZPTIMG", "DECORR"])
        psft = io.read_hdus(aligned, ["PSFT"])["PSFT"][0]
        # the same kernel that turns the science PSF into the difference's (scripts/photometry.py)
        kernel = kernel_convolve(psft / psft.sum(), sub["DECORR"][0])
        pairs[t] = {"zptimg": sub["ZPTIMG"][0].astype(np.float64),
                    "var": calibration.zptimg_variance(sci["VAR"][0], kernel), "kernel": kernel}
    cfg = sm.params.psf
    params = dict(cfg.get("params") or {})
    params.setdefault("size", cfg.get("size", 41))

    # one PSF model per cell of <= psf_grid px (the PSF varies little over a few hundred
    # pixels), drawn at each star's own sub-pixel phase
    ny, nx = data.shape
    g = float(sm.params.cfg["psf_grid"])
    wx, wy = nx / np.ceil(nx / g), ny / np.ceil(ny / g)

    def psf_at(x, y):
        node = ((np.floor(x / wx) + 0.5) * wx - 0.5, (np.floor(y / wy) + 0.5) * wy - 0.5)
        return psf.psf_stamp(cfg["type"], params, hdr, x, y, at_position=True, model_xy=node)

    res = calibration.calibrate_image(data, hdr, catalog, pairs, psf_at, cfg=dict(sm.params.cfg),
                                      phot=dict(sm.params.phot), exclude_radec=sm.params.exclude,
                                      log=log.info)
    out.update({t: c.to_dict() for t, c in res.items()})
    return out


runner.run(snakemake, main, failure_outputs=[])  # noqa: F821
