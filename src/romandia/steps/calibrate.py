"""Step ``calibrate`` (inside the photometry job): the PSF-fit flux scale of a science image
on field stars, for each of its templates (:mod:`romandia.calibration`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from .. import calibration, psf
from ..convolve import kernel_convolve
from ..errors import DataError, InputError
from ..ou2024 import read_truth_catalog
from .psf import provider_params


def unmeasured(templates: Iterable[str], why: str) -> dict:
    """``{template: Calibration(status="unmeasured: why")}``."""
    return {t: calibration.Calibration(status=f"unmeasured: {why}") for t in templates}


def grid_psf(cfg: Mapping, header, shape, cell: float) -> Callable:
    """``psf_at(x, y)``: the PSF model of one cell of <= ``cell`` px (the PSF varies little
    over a few hundred pixels), drawn at the star's own sub-pixel phase."""
    params = provider_params(cfg)
    ny, nx = shape
    wx, wy = nx / np.ceil(nx / cell), ny / np.ceil(ny / cell)

    def psf_at(x, y):
        node = ((np.floor(x / wx) + 0.5) * wx - 0.5, (np.floor(y / wy) + 0.5) * wy - 0.5)
        return psf.psf_stamp(cfg["type"], params, header, x, y, at_position=True, model_xy=node)

    return psf_at


def calibrate_science(sci: tuple, sci_var: np.ndarray, members: Mapping, catalog_path, *,
                      exclude_radec: Iterable, cfg: Mapping, phot: Mapping, psf_cfg: Mapping,
                      log: logging.Logger | None = None) -> dict:
    """The field-star calibration of a science image with each template.

    Parameters
    ----------
    sci : (ndarray, Header)
        The sky-subtracted science image and its header.
    sci_var : ndarray
        Its variance [counts²].
    members : mapping
        ``template -> difference member`` (with ``ZPTIMG``, ``DECORR``, ``PSFT``) or the
        DataError of that pair.
    catalog_path : path
        The star catalogue (OU2024 truth file of the image).
    exclude_radec : iterable of (ra, dec)
        The configured objects [deg] (never used as stars).
    cfg, phot, psf_cfg : mapping
        Config ``calibration``, ``photometry``, ``psf``.

    Returns
    -------
    dict
        ``template -> Calibration`` (``status`` says why one is unmeasured).
    """
    templates = list(members)
    cat_path = Path(catalog_path)
    if not cat_path.is_file():
        return unmeasured(templates, f"no star catalogue at {cat_path}")
    try:
        catalog = read_truth_catalog(cat_path)
    except InputError as exc:
        return unmeasured(templates, str(exc))
    data, hdr = sci
    out, pairs = {}, {}
    for t, m in members.items():
        if isinstance(m, DataError):
            out[t] = calibration.Calibration(status=f"unmeasured: pair failed ({m})")
            continue
        psft = m["PSFT"][0]
        # the same kernel that turns the science PSF into the difference's (steps.photometry)
        kernel = kernel_convolve(psft / psft.sum(), m["DECORR"][0])
        pairs[t] = {"zptimg": m["ZPTIMG"][0].astype(np.float64),
                    "var": calibration.zptimg_variance(sci_var, kernel), "kernel": kernel}
    if pairs:
        psf_at = grid_psf(psf_cfg, hdr, data.shape, float(cfg["psf_grid"]))
        res = calibration.calibrate_image(data, hdr, catalog, pairs, psf_at, cfg=dict(cfg), phot=dict(phot),
                                          exclude_radec=exclude_radec,
                                          log=log.info if log is not None else None)
        out.update(res)
    return {t: out[t] for t in templates}


def calibrate_batch(diff, templates: Iterable[str], catalog_path, *, exclude_radec: Iterable, cfg: Mapping,
                    phot: Mapping, psf_cfg: Mapping, log: logging.Logger | None = None) -> dict:
    """:func:`calibrate_science` on a difference product (:class:`romandia.products.Batch`).

    Returns ``{template: calibration dict}``; with ``cfg["enabled"]`` false every status is
    ``off (calibration.enabled: false)``, and when the science image failed, ``unmeasured: ...``.
    """
    from .. import products

    templates = list(templates)
    if not cfg["enabled"]:
        return {t: {"status": "off (calibration.enabled: false)"} for t in templates}
    if diff.failure is not None:
        return {t: {"status": f"unmeasured: science image failed ({diff.failure})"} for t in templates}
    members = {}
    for t in templates:
        try:
            members[t] = diff.member(t, ["ZPTIMG", "DECORR", "PSFT"])
        except DataError as err:
            members[t] = err
    sci = diff.shared(products.DIFFERENCE_SHARED)
    cals = calibrate_science(sci["SCI"], sci["SCIVAR"][0], members, catalog_path, exclude_radec=exclude_radec,
                             cfg=cfg, phot=phot, psf_cfg=psf_cfg, log=log)
    return {t: c.to_dict() for t, c in cals.items()}
