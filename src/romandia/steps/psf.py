"""Step ``psf``: the PSF of an image at every configured object on it (romandia.psf)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
from astropy.io import fits

from .. import checks, products
from .. import psf as psf_providers
from ..io import Image
from . import each_member


def provider_params(cfg: Mapping) -> dict:
    """Provider parameters of config ``psf`` with the stamp ``size`` filled in."""
    params = dict(cfg.get("params") or {})
    params.setdefault("size", cfg.get("size", 41))
    return params


def object_psf(img: Image, ra: float, dec: float, *, oid, image: str, cfg: Mapping, chroma: bool = False) -> dict:
    """The ``PSF`` (centred) and ``ATPOS`` (at the object's sub-pixel position) stamps.

    Parameters
    ----------
    img : romandia.io.Image
        The staged image (its header gives band, SCA, WCS and cutout origin).
    ra, dec : float
        Object position [deg], in the header's own frame.
    oid, image :
        Object id and image key, for messages.
    cfg : mapping
        Config ``psf`` (``type``, ``params``).
    chroma : bool
        Also the chromatic PSF's per-wavelength basis (``CHROMA``,
        :mod:`romandia.chromatic.basis`; galsim provider with a chromatic model only), which
        the photometry of a science image uses for its chromatic correction.

    Returns
    -------
    dict
        ``{"PSF": (stamp, header), "ATPOS": (stamp, header)}``, unit total flux, float64,
        and for the galsim provider ``PSFIMG`` (:func:`model_image_data`); the stamps' header
        has ``PSFTYPE``, ``PSFX``/``PSFY`` (0-based pixel of the object in the staged image)
        and ``PSFSUM``.

    Raises
    ------
    DataError
        ``psf``: the object is outside the image.
    """
    x, y = checks.object_pixel(img.wcs, img.data.shape, ra, dec, oid, image)
    params = provider_params(cfg)
    model = psf_providers.model_image(cfg["type"], params, img.header, x, y)
    # both stamps come from the model image just made (the provider's cache)
    stamp = psf_providers.psf_stamp(cfg["type"], params, img.header, x, y)
    at_pos = psf_providers.psf_stamp(cfg["type"], params, img.header, x, y, at_position=True)
    hdr = fits.Header()
    hdr[products.KEY_PSFTYPE] = cfg["type"]
    hdr[products.KEY_PSFX] = (x, "0-based x of the object in the image")
    hdr[products.KEY_PSFY] = (y, "0-based y of the object in the image")
    hdr[products.KEY_PSFSUM] = (float(stamp.sum()), "enclosed fraction of unit total flux")
    out = {"PSF": (np.asarray(stamp, dtype=np.float64), hdr),
           "ATPOS": (np.asarray(at_pos, dtype=np.float64), hdr)}
    if model is not None:
        out[products.PSF_MODEL_HDU] = model_image_data(model)
    if chroma and cfg["type"] == "galsim":
        from ..chromatic import basis

        b = basis.make_basis(params, img.header, x, y)
        if b is not None:
            out[products.CHROMA_HDU] = basis.basis_data(b)
    return out


def model_image_data(model: psf_providers.ModelImage) -> tuple:
    """``(array, header)`` of the ``PSFIMG`` member that stores a model image."""
    hdr = fits.Header()
    hdr[products.KEY_PSFX] = (model.x, "0-based x where the model was evaluated")
    hdr[products.KEY_PSFY] = (model.y, "0-based y where the model was evaluated")
    hdr[products.KEY_OVERSAMP] = (model.oversample, "oversampling of the image")
    hdr[products.KEY_PSFMAXK] = (model.maxk, "galsim maxk [1/arcsec]")
    hdr[products.KEY_PSFSTEPK] = (model.stepk, "galsim stepk [1/arcsec]")
    hdr[products.KEY_PSFMODEL] = model.model
    return model.array, hdr


def read_model_image(data: np.ndarray, header) -> psf_providers.ModelImage:
    """The :class:`romandia.psf.ModelImage` of a ``PSFIMG`` member (:func:`model_image_data`)."""
    return psf_providers.ModelImage(
        array=np.asarray(data), x=float(header[products.KEY_PSFX]), y=float(header[products.KEY_PSFY]),
        oversample=int(header[products.KEY_OVERSAMP]), maxk=float(header[products.KEY_PSFMAXK]),
        stepk=float(header[products.KEY_PSFSTEPK]), model=str(header[products.KEY_PSFMODEL]))


def image_psfs(img: Image, objects: Iterable, *, image: str, cfg: Mapping, chroma: bool = False,
               log: logging.Logger | None = None) -> dict:
    """:func:`object_psf` for every ``(oid, ra, dec)``: ``{str(oid): members or DataError}``."""
    objs = {str(oid): (float(ra), float(dec)) for oid, ra, dec in objects}

    def one(oid):
        ra, dec = objs[oid]
        out = object_psf(img, ra, dec, oid=oid, image=image, cfg=cfg, chroma=chroma)
        if log is not None:
            h = out["PSF"][1]
            log.info("%s PSF of object %s at (%.2f, %.2f), sum %.4f", cfg["type"], oid,
                     h[products.KEY_PSFX], h[products.KEY_PSFY], h[products.KEY_PSFSUM])
        return out

    return each_member(objs, one, log, "object")
