"""Rule ``subtract``: for each template of a science image, the stages ``align`` (resample
onto the science grid, :mod:`romandia.steps.align`) and ``subtract`` (cross-convolution,
SFFT, decorrelation and variance, :func:`romandia.subtract.difference_pair`).

Both stages run in one process per science image (issue #14); the aligned template passes
from one to the other in memory, in the dtypes its file had (:func:`romandia.products.as_stored`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from .. import products
from .. import subtract as sub
from ..io import header_wcs, sky_to_pixel
from ..xp import asarray, get_namespace, to_numpy
from .align import align_template


def zeropoint_flux_ratio(sci_zptmag: float, tmpl_zptmag: float) -> float:
    """Counts of one source in the science image over the template: ``10^(0.4 (zp_S - zp_T))``.

    The bandpass part of the two zeropoints (:func:`romandia.constants.zeropoint`) is
    common, so only the headers' ``ZPTMAG`` enter.
    """
    return 10.0 ** (0.4 * (float(sci_zptmag) - float(tmpl_zptmag)))


def fit_masks(detmask: np.ndarray, header, exclude_radec: Iterable, radius: float):
    """The kernel-fit mask with the objects cut out, and the excluded area.

    Returns
    -------
    (mask, exclude, n) : (ndarray of bool, ndarray of bool, int)
        ``mask``: ``detmask`` without pixels within ``radius`` px of any object;
        ``exclude``: those pixels (kept out of the compact-source fallback too); ``n``: the
        number of objects.
    """
    w = header_wcs(header)
    xy = [sky_to_pixel(w, ra, dec) for ra, dec in exclude_radec]
    mask = sub.exclude_from_fit(detmask, xy, radius)
    exclude = ~sub.exclude_from_fit(get_namespace(detmask).ones(mask.shape, bool), xy, radius)
    return mask, exclude, len(xy)


def subtract_template(sci: Mapping, aligned: Mapping, sci_psf: np.ndarray, *, exclude_radec: Iterable,
                      sfft: Mapping, threads: int = 1, log: logging.Logger | None = None) -> dict:
    """The decorrelated difference of a science image and one aligned template.

    Parameters
    ----------
    sci : mapping
        The science sky product: ``SKYSUB``, ``VAR``, ``DETMASK`` (header with ``SKYRMS``,
        ``ZPTMAG``).
    aligned : mapping
        The template's aligned member (:func:`romandia.steps.align.align_template`).
    sci_psf : ndarray
        The science PSF at the pair's anchor object, centred.
    exclude_radec : iterable of (ra, dec)
        Every object on the science image [deg], kept out of the kernel fit.
    sfft : mapping
        Config ``sfft``; ``flux_scale: zeropoint`` takes the ratio from the headers.
    threads : int
        CPU threads for SFFT.

    Returns
    -------
    dict
        The difference member (``DIFF``, ``VAR``, ``PSF``, ``ZPTIMG``, ``DECORR``, ``MATCH``,
        ``KSCI``, ``KTMPL``, and ``TMPL``, ``PSFT``, ``TMPLVAR0`` carried from ``aligned``);
        the header has ``FLUXSCL``, ``FLUXSCLF``, ``KERHW``, ``KERORDER``, ``NFITPIX``,
        ``FITCOMP``, ``BGORDER``, ``CPHOTR``.

    Raises
    ------
    DataError
        ``subtract``: too few fit pixels, a singular SFFT system, ...
    """
    hdr = sci["SKYSUB"][1]
    tmpl, tmpl_hdr = aligned["TMPL"]
    cfg = dict(sfft)
    radius = cfg.pop("exclude_radius")
    if cfg.pop("flux_scale") == "zeropoint":
        cfg["flux_scale"] = zeropoint_flux_ratio(hdr["ZPTMAG"], tmpl_hdr[products.KEY_TZPTMAG])
    mask, exclude, n = fit_masks(sci["DETMASK"][0], hdr, exclude_radec, radius)
    if log is not None:
        log.info("%d object(s) excluded from the kernel fit (r = %.1f px)", n, radius)
    out = sub.difference_pair(
        sci=sci["SKYSUB"][0],
        sci_var=sci["VAR"][0],
        sci_detmask=mask,
        sci_psf=sci_psf,
        sci_skyrms=float(hdr[products.KEY_SKYRMS]),
        tmpl_rs=tmpl,
        tmpl_var_rs=aligned["TMPLVAR"][0],
        tmpl_detmask_rs=aligned["TMPLMASK"][0],
        tmpl_blank=aligned["BLANK"][0].astype(bool),
        tmpl_psf_rot=aligned["PSFT"][0],
        tmpl_skyrms=float(tmpl_hdr[products.KEY_TSKYRMS]),
        params=dict(cfg, threads=threads),
        fit_exclude=exclude,
        tmpl_psf_noise=aligned["PSFT0"][0] if "PSFT0" in aligned else None,
    )
    hdr = hdr.copy()
    hdr[products.KEY_FLUXSCL] = (float(out.flux_scale), "kernel sum (template -> science flux ratio)")
    hdr[products.KEY_FLUXSCLF] = (float(out.fitted_flux_scale), "kernel sum as fitted by SFFT")
    for k, v in ((products.KEY_KERHW, out.kernel_half_width), (products.KEY_KERORDER, out.kernel_poly_order),
                 (products.KEY_NFITPIX, out.n_fit_pixels), (products.KEY_FITCOMP, bool(out.fit_compact_sources)),
                 (products.KEY_BGORDER, cfg["bg_poly_order"]), (products.KEY_CPHOTR, cfg["const_phot_ratio"])):
        hdr[k] = v
    if log is not None:
        log.info("flux scale %.5f, kernel order %d on %d fit pixels%s", out.flux_scale,
                 out.kernel_poly_order, out.n_fit_pixels,
                 " (compact sources added)" if out.fit_compact_sources else "")
    return {  # arrays in the namespace of the inputs (difference_template brings them to the host)
        "DIFF": (out.diff, hdr),
        "VAR": (out.var, hdr),
        "PSF": (out.psf, None),
        "ZPTIMG": (out.zptimg, hdr),
        "DECORR": (out.decorr_kernel, None),
        "MATCH": (out.match_kernel, None),
        # science / resampled-template pixels -> difference (romandia.errorprop)
        "KSCI": (out.noise_kernels[0], None),
        "KTMPL": (out.noise_kernels[1], None),
        "TMPL": aligned["TMPL"],
        "PSFT": aligned["PSFT"],
        "TMPLVAR0": aligned["TMPLVAR0"],
    }


def difference_template(sci: Mapping, tmpl: Mapping, tmpl_psf: Callable[[], np.ndarray], sci_psf: np.ndarray,
                        radec: tuple[float, float], *, kernel: str, exclude_radec: Iterable, sfft: Mapping,
                        sci_key: str, tmpl_key: str, threads: int = 1, xp=None,
                        tmpl_psf_at: Callable[[float, float], np.ndarray] | None = None,
                        log: logging.Logger | None = None) -> dict:
    """Stages ``align`` then ``subtract`` of one template: the difference member.

    Parameters
    ----------
    sci : mapping
        The science sky product: ``SKYSUB``, ``VAR``, ``DETMASK``.
    tmpl : mapping
        The template's sky product: ``SKYSUB``, ``VAR``, ``DETMASK``.
    tmpl_psf : callable
        ``tmpl_psf()`` -> the template's centred PSF at ``radec``
        (:func:`romandia.steps.align.align_template`).
    sci_psf : ndarray
        The science PSF at ``radec``, centred.
    radec : (float, float)
        The pair's anchor object [deg].
    kernel, sci_key, tmpl_key, tmpl_psf_at
        See :func:`romandia.steps.align.align_template` (:func:`template_psf_at` makes
        ``tmpl_psf_at``).
    exclude_radec, sfft, threads
        See :func:`subtract_template`.
    xp : module, optional
        Array namespace of the computation (:func:`romandia.xp.select_backend`); ``sci``'s
        arrays should already be in it (moved once per job, :func:`to_namespace`), the
        template's are moved here.  Default NumPy.

    Returns
    -------
    dict
        The difference member (:func:`subtract_template`), on the host (NumPy).

    Raises
    ------
    DataError
        ``align`` or ``subtract``.
    """
    aligned = align_template(sci, tmpl, tmpl_psf, radec, kernel=kernel, sci_key=sci_key, tmpl_key=tmpl_key,
                             xp=xp, tmpl_psf_at=tmpl_psf_at, log=log)
    member = subtract_template(sci, products.as_stored(aligned), asarray(sci_psf, xp or np),
                               exclude_radec=exclude_radec, sfft=sfft, threads=threads, log=log)
    return {k: (None if d is None else to_numpy(d), h) for k, (d, h) in member.items()}


def template_psf_at(prepared, oid, psf_cfg: Mapping) -> Callable[[float, float], np.ndarray]:
    """``f(x, y)``: the template's PSF drawn at the sub-pixel phase of its 0-based position
    (x, y), from a template's prepare product (a :class:`romandia.products.Batch`): the
    object's own model image (``PSFIMG``, galsim) where it has one, else the provider itself
    (:func:`romandia.psf.psf_stamp`, ``at_position=True``)."""
    from .. import psf as psf_providers
    from .psf import provider_params, read_model_image

    params = provider_params(psf_cfg)
    cache: dict = {}

    def at(x, y):
        if not cache:  # on first use (in align, after the overlap check), as tmpl_psf()
            prepared.member(oid, ["PSF"])  # raises the object's own failure (outside the template)
            cache["header"], cache["model"] = prepared.header("SKYSUB"), None
            if str(oid) in prepared.members_with(products.PSF_MODEL_HDU):
                data, hdr = prepared.member(oid, [products.PSF_MODEL_HDU])[products.PSF_MODEL_HDU]
                cache["model"] = read_model_image(data, hdr)
        return psf_providers.psf_stamp(psf_cfg["type"], params, cache["header"], x, y, at_position=True,
                                       model_image=cache["model"])

    return at


def to_namespace(hdus: Mapping, xp) -> dict:
    """``{name: (data, header)}`` with the arrays moved to namespace ``xp`` (once per job)."""
    return {k: (asarray(d, xp), h) for k, (d, h) in hdus.items()}
