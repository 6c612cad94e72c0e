"""The chromatic correction's glue inside the photometry job (:mod:`romandia.chromatic`): the
object's basis stamps from the prepare product, the model SED's weights, and the field stars'
SEDs from their catalogue magnitudes in other bands."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from .. import products
from ..chromatic import basis as chroma_basis
from ..chromatic import response, seds
from ..chromatic.estimate import slope_from_mags
from ..errors import InputError
from ..ou2024 import read_truth_catalog
from .psf import provider_params

#: An OU2024 truth catalogue's band, from its file name.
_TRUTH_BAND = re.compile(r"Roman_TDS_index_([A-Z][0-9]{3})_")


def model_weights(psf_cfg: Mapping, band: str, n_waves: int) -> np.ndarray:
    """Weights of the PSF model's own SED (config ``psf.params.sed``, default flat photons)."""
    from ..simulate.psf import PSFModel

    model = PSFModel.from_params(psf_cfg.get("params"))
    return seds.band_weights(seds.model_sed(model.sed), band, n_waves)


def read_bases(prepared) -> dict:
    """``{oid: ChromaBasis}`` of a science image's prepare product (members with ``CHROMA``)."""
    out = {}
    if prepared is None or prepared.failure is not None:
        return out
    for oid in prepared.members_with(products.CHROMA_HDU):
        if prepared.status(oid) is not None:
            continue
        data, hdr = prepared.member(oid, [products.CHROMA_HDU])[products.CHROMA_HDU]
        try:
            out[str(oid)] = chroma_basis.read_basis(data, hdr)
        except (KeyError, TypeError, ValueError):  # not one this version wrote
            continue
    return out


def object_stamps(prepared, oid, basis: chroma_basis.ChromaBasis, psf_cfg: Mapping) -> np.ndarray:
    """The basis stamps at the object's sub-pixel position in the staged science image (where
    its ``ATPOS`` stamp was drawn: ``PSFX``/``PSFY`` of that member)."""
    h = prepared.header("ATPOS", oid)
    x, y = float(h[products.KEY_PSFX]), float(h[products.KEY_PSFY])
    return chroma_basis.basis_stamps(basis, provider_params(psf_cfg), prepared.header("SKYSUB"), x, y)


def image_zptmag(path) -> float:
    """``ZPTMAG`` of an OU2024-format FITS image (its ``SCI`` header, else the primary); NaN when
    it cannot be read (e.g. an ASDF input)."""
    from astropy.io import fits

    try:
        with fits.open(path) as hdul:
            for hdu in (["SCI"] if "SCI" in hdul else []) + [0]:
                if "ZPTMAG" in hdul[hdu].header:
                    return float(hdul[hdu].header["ZPTMAG"])
    except (OSError, ValueError):
        pass
    return math.nan


def catalogue_mags(pairs: Iterable) -> dict:
    """``{object_id: {band: AB mag}}`` from OU2024 truth catalogues (band from the file name).

    ``pairs``: ``(truth catalogue, its image)``.  A truth catalogue's ``mag`` is
    ``-2.5 log10(flux) + galsim zp`` with ``flux`` in counts per exposure, so the AB magnitude
    is ``mag + ZPTMAG`` of its image (romandia.constants.zeropoint), which differs between
    bands with their exposure times.  Unreadable or missing files are skipped (their stars
    then have fewer colours)."""
    out: dict = {}
    for p, image in pairs:
        m = _TRUTH_BAND.search(Path(p).name)
        if m is None or not Path(p).is_file():
            continue
        zpt = image_zptmag(image)
        if not math.isfinite(zpt):
            continue
        try:
            cat = read_truth_catalog(p)
        except InputError:
            continue
        band = m.group(1)
        for oid, mag in zip(cat["object_id"].to_numpy(), cat["mag"].to_numpy(dtype=float), strict=True):
            if math.isfinite(mag):
                out.setdefault(int(oid), {})[band] = float(mag) + zpt
    return out


def star_sed_weights(catalog, band: str, other_mags: Mapping, n_waves: int, zptmag: float) -> dict:
    """``{catalogue row index: (weights, beta, source)}`` of the stars whose magnitude is known
    in another band (a power law from their AB colours, :func:`romandia.chromatic.estimate.
    slope_from_mags`; catalogue magnitudes are exact, so no error).  ``catalog`` is the
    science image's truth catalogue, ``zptmag`` its image's ``ZPTMAG`` (AB = mag + ZPTMAG)."""
    out = {}
    ids = catalog["object_id"].to_numpy()
    mags = catalog["mag"].to_numpy(dtype=float)
    kinds = catalog["obj_type"].to_numpy()
    for i in range(len(catalog)):
        if kinds[i] != "star" or not math.isfinite(mags[i]):
            continue
        other = {b: (m, 0.0) for b, m in other_mags.get(int(ids[i]), {}).items() if b != band}
        if not other:
            continue
        beta, _, src = slope_from_mags(band, {band: (float(mags[i]) + float(zptmag), 0.0), **other})
        if math.isfinite(beta):
            out[i] = (seds.band_weights(seds.power_law(beta), band, n_waves), beta, src)
    return out


def star_factor(bases: Mapping, header, psf_cfg: Mapping, phot: Mapping, weights: Mapping,
                w_model: np.ndarray, log: logging.Logger | None = None) -> Callable | None:
    """``f(i, x, y, peff, pair)``: measured / true flux of catalogue star ``i`` for its own SED
    (:func:`romandia.chromatic.response.factor`), through the pair's kernel and fit; 1 for a
    star without colours.  The basis is the nearest object's (its aberrations and local WCS),
    drawn at the star's sub-pixel phase.  None when there is no basis or no star colour.
    """
    if not bases or not weights:
        return None
    params = provider_params(psf_cfg)
    keys = list(bases)
    pos = np.array([[bases[k].x, bases[k].y] for k in keys])
    cache: dict = {}

    def f(i, x, y, peff, pair) -> float:
        if i not in weights:
            return 1.0
        if i not in cache:
            k = keys[int(np.argmin(np.hypot(pos[:, 0] - x, pos[:, 1] - y)))]
            cache[i] = chroma_basis.basis_stamps(bases[k], params, header, x, y)
        r = response.responses(cache[i], pair["kernel"], peff, pair["var"], x, y, fit_shape=int(phot["fit_shape"]),
                               weights=phot.get("weights", "background"), w_model=w_model)
        return response.factor(r, weights[i][0])

    if log is not None:
        log.info("chromatic: %d catalogue stars with colours; basis of %d object(s)", len(weights), len(bases))
    return f
