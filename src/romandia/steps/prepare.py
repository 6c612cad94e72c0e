"""Rule ``prepare``: one input image through the stages ``fetch`` → ``sky_subtract`` → ``psf``.

The three stages run in one process per image (issue #14: on 2 cores a separate Python job
per stage spent more time starting and importing than working).  They stay separate
functions here, each with its own :class:`~romandia.errors.DataError` stage name, its own
log lines and its own time in the log (``stage <name> ... s``), so a failure still says which
stage met it and ``bench/startup_share.py`` can still tell the stages apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import dq as dqflags
from .. import io, noise, products, provenance, remote, sky
from ..errors import DataError
from . import psf as psf_step


@dataclass
class Prepared:
    """What ``prepare`` writes for one image.

    Attributes
    ----------
    sky_hdus : list of astropy.io.fits HDUs
        The sky product (:data:`romandia.products.SKY_HDUS`), ready to write.
    psfs : dict
        The psf product's members: ``{str(oid): {"PSF", "ATPOS"} or DataError}``.
    seconds : dict
        Wall time of each stage [s].
    """

    sky_hdus: list
    psfs: dict
    seconds: dict


def fetch_input(location, *, fetch: Mapping, source: str = "", extra: Iterable = (),
                log: logging.Logger | None = None) -> Path:
    """Stage ``fetch``, first half: a local path for an input that may be remote.

    Parameters
    ----------
    location : path or str
        A local path (returned as it is) or an https:// / s3:// URL, downloaded into
        ``fetch["cache_dir"]`` unless it is there (:func:`romandia.remote.fetch`).
    fetch : mapping
        Config ``remote`` with ``cache_dir`` filled in.
    source : str
        The image list line naming the image (``list.csv:12``), for messages.
    extra : iterable of str
        Further remote files of this image (its truth catalogue) fetched into the cache too;
        a missing one is logged, not an error (what needs it reports its absence).

    Raises
    ------
    DataError
        ``fetch``: the URL does not exist (HTTP 403/404/410), naming it and ``source``.
    romandia.remote.RemoteUnavailable
        The server did not deliver it (the job fails; Snakemake retries it).
    """
    if not remote.is_remote(location):
        return Path(location)
    kw = {k: fetch[k] for k in ("s3_endpoint_url", "retries", "backoff", "timeout")}
    import requests

    with requests.Session() as session:
        got = remote.fetch(str(location), fetch["cache_dir"], source=source, log=log, session=session, **kw)
        if log is not None and got.cached:
            log.info("%s: in the cache (%s)", location, got.path)
        for url in extra:
            try:
                remote.fetch(url, fetch["cache_dir"], log=log, session=session, **kw)
            except DataError as err:
                if log is not None:
                    log.warning("%s", err)
    return got.path


def stage_image(path, *, band: str, objects: Iterable, cutout_size: int | None,
                log: logging.Logger | None = None, name: str | None = None,
                asdf: Mapping | None = None) -> io.Image:
    """Stage ``fetch``: read and validate an input image, cut it out around the objects.

    Parameters
    ----------
    path : path
        The OU2024 image (``.fits`` or ``.fits.gz``) or a Roman L2 image (``.asdf``).
    band : str
        The band the image list gives it (checked against ``FILTER``).
    objects : iterable of (oid, ra, dec)
        Objects whose lists name the image [deg]; the cutout covers those inside it.
    cutout_size : int or None
        Side of the region kept around each object [px]; None keeps the full frame.
    name : str, optional
        What messages and ``ROMSRC`` call the input (its URL when ``path`` is a cached copy).
    asdf : mapping, optional
        Config ``asdf`` for ``.asdf`` inputs (:func:`romandia.io.load_image`).

    Returns
    -------
    romandia.io.Image
        The cutout, header with ``ROMSRC`` (the input's path) and ``ROMX0``/``ROMY0``.

    Raises
    ------
    DataError
        ``fetch``: the file is missing, unreadable or not an OU2024 image of ``band``.
    """
    name = str(path) if name is None else name
    try:
        img = io.load_image(path, expected_band=band, asdf=asdf)
    except DataError as err:
        if name == str(path):
            raise
        # a cached copy that is not a good image is dropped, so a rerun downloads it again
        Path(path).unlink(missing_ok=True)
        raise DataError(err.stage, err.reason.replace(str(path), name)) from None
    ny, nx = img.data.shape
    centres = []
    for oid, ra, dec in objects:
        x, y = io.sky_to_pixel(img.wcs, ra, dec)
        inside = -0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5
        if log is not None:
            log.info("object %s at pixel (%.2f, %.2f)%s", oid, x, y, "" if inside else " (outside)")
        if inside:
            centres.append((x, y))
    bounds = io.cutout_bounds(img.data.shape, centres, cutout_size)
    out = io.crop_image(img, bounds)
    if out is img:
        out = io.Image(data=img.data, err=img.err, dq=img.dq, header=img.header.copy())
    out.header[products.KEY_SOURCE] = name[-68:]
    if log is not None:
        log.info("staged %s: %s -> %s (bounds %s)", name, img.data.shape, out.data.shape, bounds)
    return out


def sky_product(img: io.Image, *, sky_cfg: Mapping, variance: str, dq_ignore: Iterable = dqflags.DEFAULT_IGNORE,
                log: logging.Logger | None = None) -> list:
    """Stage ``sky_subtract``: DQ masking, sky, RMS, variance and the detection mask of
    extended sources.

    Parameters
    ----------
    img : romandia.io.Image
        The staged image [counts per exposure]; ``img.dq`` (may be None) masks pixels.
    sky_cfg : mapping
        Config ``sky`` (:func:`romandia.sky.subtract_sky`'s keywords).
    variance : str
        Config ``variance`` (:func:`romandia.noise.variance_map`'s ``mode``).
    dq_ignore : iterable of str
        Config ``dq.ignore``: DQ flags that do not mask (:mod:`romandia.dq`).

    Returns
    -------
    list of HDUs
        PRIMARY, ``SKYSUB``, ``VAR`` [counts²], ``DETMASK``, ``SKY``, ``DQ`` (the staged DQ,
        zeros without one); header ``SKYRMS``, ``SKYMED``, ``NSOURCES``, ``NDETMASK``,
        ``VARMODE``, ``DQMASK``, ``NDQMASK`` on top of the staged header.  Masked pixels are
        NaN in ``SKYSUB`` and ``VAR``, so every later step leaves them out.
    """
    bits = dqflags.mask_bits(dq_ignore)
    bad = dqflags.masked(img.dq, bits)
    data = img.data
    if bad is not None and bad.any():
        data = np.where(bad, np.float32(np.nan), data)
    res = sky.subtract_sky(data, **sky_cfg)
    var = noise.variance_map(res.skysub, res.rms, err=img.err, mode=variance)
    hdr = img.header.copy()
    hdr[products.KEY_SKYRMS] = (res.sky_rms, "median background RMS [counts]")
    hdr[products.KEY_SKYMED] = (float(np.median(res.sky)), "median background [counts]")
    hdr[products.KEY_NSOURCES] = res.n_sources
    hdr[products.KEY_NDETMASK] = (res.n_masked_sources, "sources kept in DETMASK (flux radius cut)")
    hdr[products.KEY_VARMODE] = variance
    n_bad = 0 if bad is None else int(bad.sum())
    hdr[products.KEY_DQMASK] = (bits, "DQ bits that mask a pixel (romandia.dq)")
    hdr[products.KEY_NDQMASK] = (n_bad, "pixels masked by their DQ flags")
    if n_bad:
        var = np.where(bad, np.nan, var)
    if log is not None:
        log.info("sky rms %.3f, %d sources, %d in the detection mask (%.1f%% of pixels), %d DQ-masked pixel(s)",
                 res.sky_rms, res.n_sources, res.n_masked_sources, 100 * res.detmask.mean(), n_bad)
    dq = img.dq if img.dq is not None else np.zeros(img.data.shape, np.uint32)
    return [
        io.fits.PrimaryHDU(header=io.image_hdu(np.zeros((1, 1)), hdr).header),
        io.image_hdu(res.skysub, hdr, "SKYSUB"),
        io.image_hdu(var, hdr, "VAR"),
        io.image_hdu(res.detmask.astype(np.uint8), hdr, "DETMASK", dtype=np.uint8),
        io.image_hdu(res.sky, hdr, "SKY"),
        io.image_hdu(dq, hdr, "DQ", dtype=np.uint32),
    ]


def prepare_image(path, *, image: str, band: str, objects: Iterable, cutout_size: int | None,
                  sky_cfg: Mapping, variance: str, psf_cfg: Mapping, fetch: Mapping | None = None,
                  source: str = "", extra: Iterable = (), dq_ignore: Iterable = dqflags.DEFAULT_IGNORE,
                  asdf: Mapping | None = None, chroma: bool = False,
                  log: logging.Logger | None = None) -> Prepared:
    """Stages ``fetch``, ``sky_subtract`` and ``psf`` of one input image.

    Parameters
    ----------
    path : path or str
        The input image: a local path, or an https:// / s3:// URL (:func:`fetch_input`).
    image : str
        Its key (``{band}_{observation_id}_{sca}``), for messages.
    band, objects, cutout_size
        See :func:`stage_image`; ``objects`` also get a PSF each.
    sky_cfg, variance, dq_ignore
        See :func:`sky_product`.
    psf_cfg : mapping
        Config ``psf`` (:func:`romandia.steps.psf.image_psfs`).
    fetch, source, extra
        See :func:`fetch_input` (``fetch`` is needed for a URL). With ``fetch["keep"]`` false a
        downloaded image is deleted once read.
    asdf : mapping, optional
        Config ``asdf`` (Roman L2 inputs: :func:`romandia.l2asdf.load_l2_image`).
    chroma : bool
        The PSFs' chromatic basis too (a science image with ``chromatic.enabled``;
        :func:`romandia.steps.psf.object_psf`).

    Raises
    ------
    DataError
        ``fetch`` or ``sky_subtract``: the image is unusable (every product of it fails).
        An object outside the image is its own member's failure, not the image's.
    """
    objects = list(objects)
    seconds = {}
    t = time.perf_counter()
    local = fetch_input(path, fetch=fetch or {}, source=source, extra=extra, log=log)
    img = stage_image(local, band=band, objects=objects, cutout_size=cutout_size, log=log, name=str(path),
                      asdf=asdf)
    img.header[products.KEY_SHA256] = provenance.sha256_file(local)  # 64 hex digits: no room for a comment
    if remote.is_remote(path) and not (fetch or {}).get("keep", True):
        local.unlink(missing_ok=True)
    seconds["fetch"], t = time.perf_counter() - t, time.perf_counter()
    sky_hdus = sky_product(img, sky_cfg=sky_cfg, variance=variance, dq_ignore=dq_ignore, log=log)
    seconds["sky_subtract"], t = time.perf_counter() - t, time.perf_counter()
    psfs = psf_step.image_psfs(img, objects, image=image, cfg=psf_cfg, chroma=chroma, log=log)
    seconds["psf"] = time.perf_counter() - t
    if log is not None:
        for name, s in seconds.items():
            log.info("stage %s %.2f s", name, s)
    return Prepared(sky_hdus=sky_hdus, psfs=psfs, seconds=seconds)
