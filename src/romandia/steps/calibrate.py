"""Step ``calibrate`` (inside the photometry job): the PSF-fit flux scale of a science image
on field stars, for each of its templates (:mod:`romandia.calibration`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from .. import calibration, products, psf
from ..convolve import kernel_convolve
from ..errors import DataError, InputError
from ..ou2024 import read_truth_catalog
from .psf import provider_params, read_model_image


def unmeasured(templates: Iterable[str], why: str) -> dict:
    """``{template: Calibration(status="unmeasured: why")}``."""
    return {t: calibration.Calibration(status=f"unmeasured: {why}") for t in templates}


def grid_psf(cfg: Mapping, header, shape, cell: float, models: Iterable = ()) -> Callable:
    """``psf_at(x, y)``: the PSF model of one cell of <= ``cell`` px (the PSF varies little
    over a few hundred pixels), drawn at the star's own sub-pixel phase.

    The model of a cell is evaluated at its centre, or, where one of ``models``
    (:class:`romandia.psf.ModelImage` made with the same parameters, 0-based positions in this
    image) lies in the cell, drawn from the first such: the object's own model from
    ``prepare``, which saves building one (~1.4 s for the chromatic galsim PSF).
    """
    params = provider_params(cfg)
    ny, nx = shape
    wx, wy = nx / np.ceil(nx / cell), ny / np.ceil(ny / cell)
    key = psf.model_key(cfg["type"], params)
    by_cell = {}
    for m in models:
        if m.model == key and -0.5 <= m.x < nx - 0.5 and -0.5 <= m.y < ny - 0.5:
            by_cell.setdefault((int(np.floor((m.x + 0.5) / wx)), int(np.floor((m.y + 0.5) / wy))), m)

    def psf_at(x, y):
        i, j = int(np.floor((x + 0.5) / wx)), int(np.floor((y + 0.5) / wy))
        if (i, j) in by_cell:
            return psf.psf_stamp(cfg["type"], params, header, x, y, at_position=True, model_image=by_cell[i, j])
        node = ((i + 0.5) * wx - 0.5, (j + 0.5) * wy - 0.5)
        return psf.psf_stamp(cfg["type"], params, header, x, y, at_position=True, model_xy=node)

    return psf_at


def calibrate_science(sci: tuple, sci_var: np.ndarray, members: Mapping, catalog_path, *,
                      exclude_radec: Iterable, cfg: Mapping, phot: Mapping, psf_cfg: Mapping,
                      models: Iterable = (), bases: Mapping | None = None, colour_catalogs: Iterable = (),
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
    models : iterable of romandia.psf.ModelImage
        PSF model images already made on this image (:func:`grid_psf`).
    bases : mapping, optional
        ``{oid: romandia.chromatic.basis.ChromaBasis}`` in this image's frame: with
        ``colour_catalogs``, each star's reference flux is scaled by its chromatic factor
        (:func:`romandia.steps.chromatic.star_factor`).
    colour_catalogs : iterable of (path, path)
        Truth catalogues of images in other bands and those images (the stars' colours;
        :func:`romandia.steps.chromatic.catalogue_mags`).

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
        psf_at = grid_psf(psf_cfg, hdr, data.shape, float(cfg["psf_grid"]), models)
        factor = None
        if bases:
            from . import chromatic

            band = str(hdr["FILTER"]).strip()
            n = len(next(iter(bases.values())).waves)
            weights = chromatic.star_sed_weights(catalog, band, chromatic.catalogue_mags(colour_catalogs), n,
                                                 float(hdr["ZPTMAG"]))
            factor = chromatic.star_factor(bases, hdr, psf_cfg, phot, weights,
                                           chromatic.model_weights(psf_cfg, band, n), log=log)
        res = calibration.calibrate_image(data, hdr, catalog, pairs, psf_at, cfg=dict(cfg), phot=dict(phot),
                                          exclude_radec=exclude_radec, star_factor=factor,
                                          log=log.info if log is not None else None)
        out.update(res)
    return {t: out[t] for t in templates}


def same_frame(prepared, sci_header, shape) -> bool:
    """Whether a science image's ``prepare`` product is in the frame of the difference's
    ``SCI`` (same cutout origin and shape, from the headers)."""
    if prepared is None or prepared.failure is not None:
        return False
    sky = prepared.header("SKYSUB")
    return (int(sky["NAXIS2"]), int(sky["NAXIS1"])) == tuple(shape) and all(
        int(sky.get(k, 0)) == int(sci_header.get(k, 0)) for k in (products.KEY_X0, products.KEY_Y0))


def object_models(prepared, sci_header, shape) -> list:
    """The PSF model images (:class:`romandia.psf.ModelImage`) of the objects in a science
    image's ``prepare`` product, when it is in the frame of the difference's ``SCI``
    (:func:`same_frame`; else none)."""
    oids = [] if prepared is None or prepared.failure is not None else prepared.members_with(products.PSF_MODEL_HDU)
    if not oids:
        return []
    if not same_frame(prepared, sci_header, shape):  # the frame first: no model read in vain
        return []
    out = []
    for oid in oids:
        if prepared.status(oid) is not None:
            continue
        data, hdr = prepared.member(oid, [products.PSF_MODEL_HDU])[products.PSF_MODEL_HDU]
        try:
            out.append(read_model_image(data, hdr))
        except (KeyError, TypeError, ValueError):  # not one this version wrote: make a model instead
            continue
    return out


def calibrate_batch(diff, templates: Iterable[str], catalog_path, *, exclude_radec: Iterable, cfg: Mapping,
                    phot: Mapping, psf_cfg: Mapping, prepared=None, colour_catalogs: Iterable = (),
                    bases: Mapping | None = None, log: logging.Logger | None = None) -> dict:
    """:func:`calibrate_science` on a difference product (:class:`romandia.products.Batch`),
    with the object PSF models of the science image's ``prepare`` product (a Batch, optional:
    :func:`object_models`) and, with ``colour_catalogs``, the objects' chromatic bases read
    from it (``bases``: :func:`romandia.steps.chromatic.read_bases`, read once per job by the
    caller, which the photometry uses too).

    Returns ``{template: calibration dict}``; with ``cfg["enabled"]`` false every status is
    ``off (calibration.enabled: false)``, and when the science image failed, ``unmeasured: ...``.
    """
    templates, colour_catalogs = list(templates), list(colour_catalogs)
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
    models = object_models(prepared, sci["SCI"][1], sci["SCI"][0].shape)
    if not (colour_catalogs and bases and same_frame(prepared, sci["SCI"][1], sci["SCI"][0].shape)):
        bases = {}
    if log is not None and models:
        log.info("field-star PSFs: the model image of %d object(s) from the prepare product where they "
                 "lie, cell centres elsewhere", len(models))
    cals = calibrate_science(sci["SCI"], sci["SCIVAR"][0], members, catalog_path, exclude_radec=exclude_radec,
                             cfg=cfg, phot=phot, psf_cfg=psf_cfg, models=models, bases=bases,
                             colour_catalogs=colour_catalogs, log=log)
    return {t: c.to_dict() for t, c in cals.items()}
