"""The per-pair difference-imaging flow: :func:`difference_pair` and its stages.

:func:`difference_pair` follows phrosty / ``SpaceSFFT_Flow``:

1. cross-convolve (:func:`romandia.subtract.cross_convolve`): ``Ct = S ⊗ P_T′``,
   ``Co = T′ ⊗ P_S`` (both now have the PSF ``P_S ⊗ P_T′``);
2. SFFT with REF = ``Co`` (convolved by the matching kernel ``K``) and SCI = ``Ct``:
   ``DIFF = Ct − K ⊗ Co − B``, ``K`` fitted on pixels detected in both images (the fit
   mask: ``_fit_mask``, policy in :mod:`romandia.fitmask`; the solve:
   :mod:`romandia.sfft_solve`);
3. decorrelate ``DIFF``, ``Ct`` and the common PSF with the filter of
   :mod:`romandia.decorrelate` (``_decorrelate``);
4. variance of the decorrelated difference.

The result is a :class:`PairDifference`.

Conventions
-----------
* All public arrays are ``[y, x]``, 0-based pixel coordinates, counts (variances in
  counts²) on the science pixel grid and flux scale.  ``sfft`` works on ``[x, y]`` arrays:
  :mod:`romandia.sfft_solve` is the only place that transposes.
* PSFs are odd-sized centred stamps in the science pixel frame; when used as convolution
  kernels they are normalised to sum 1.  ``P_S`` keeps its own sum in the common PSF
  (stamp sum = enclosed fraction, see ``docs/architecture.md``).
* Inputs are sky-subtracted (masked pixels enter SFFT's least squares as zeros).

Threads: see :mod:`romandia.sfft_solve`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.fft

from romandia.decorrelate import (
    apply_filter,
    decorrelate_kernel,
    decorrelation_filter,
    decorrelation_grid,
    difference_variance,
    effective_kernels,
)
from romandia.errors import DataError
from romandia.fitmask import (
    compact_source_mask,
    dilate,
    kernel_parameter_count,
    supported_poly_order,
)
from romandia.sfft_solve import apply_sfft_solution, sfft_solve_subtract
from romandia.xp import asarray, get_namespace, nvtx_range, to_numpy

from .crossconvolve import cross_convolve, effective_radius
from .params import _params

__all__ = ["difference_pair", "PairDifference"]


def _impose_flux_scale(ct, diff_raw, kern, solution, fit, scale: float, xp):
    """Rescale the fitted kernel to a known sum and refit the background (least squares).

    With ``M = K ⊗ Co`` (the kernel part of the SFFT model ``ct − diff_raw = M + B``), the
    new difference is ``ct − f M − B′`` with ``f = scale / ΣK`` and ``B′`` the polynomial
    of the solution's order that best fits ``ct − f M`` on the fit pixels.  Returns the new
    ``diff_raw`` and kernel (at the frame centre).
    """
    if not scale > 0:
        raise ValueError(f"flux_scale must be > 0, got {scale}")
    f = scale / float(kern.sum())
    db = int(solution["bg_poly_order"])
    bg = xp.zeros_like(diff_raw)
    for box, coeffs in zip(solution["tiles"], solution["coeffs"], strict=True):
        (y0, y1, x0, x1), core = box[0], box[1]
        cy0, cy1, cx0, cx1 = core
        zero = np.zeros((y1 - y0, x1 - x0))
        b = -apply_sfft_solution(zero, zero, coeffs, solution["kernel_half_width"],
                                 solution["kernel_poly_order"], db)
        bg[cy0:cy1, cx0:cx1] = asarray(b[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0], xp)
    model = (ct - diff_raw - bg) * f  # f K ⊗ Co
    resid = ct - model
    ny, nx = ct.shape
    yy, xx = xp.mgrid[0:ny, 0:nx]
    cx, cy = (xx + 1.0) / nx, (yy + 1.0) / ny
    terms = [cx**i * cy**j for i in range(db + 1) for j in range(db + 1 - i)]
    fm = xp.asarray(fit).astype(bool)
    a = xp.stack([tm[fm] for tm in terms], axis=1)
    coef = xp.linalg.lstsq(a, resid[fm], rcond=None)[0]
    bg_new = sum(c * tm for c, tm in zip(coef, terms, strict=True))
    return resid - bg_new, kern * f


def _solve(co, ct, mco, mct, w: int, order: int, p: dict, workers: int):
    """SFFT on the cross-convolved pair: ``Ct − K ⊗ Co − B`` with the fit-mask copies."""
    return sfft_solve_subtract(
        co, ct, mco, mct,
        kernel_half_width=w,
        kernel_poly_order=order,
        bg_poly_order=int(p["bg_poly_order"]),
        const_phot_ratio=bool(p["const_phot_ratio"]),
        tile=p["tile"],
        threads=workers,
        max_pixels_per_call=int(p["max_pixels_per_call"]),
        margin=p["tile_margin"],
        min_fit_pixels=int(p["min_fit_pixels"]),
    )


@dataclass
class PairDifference:
    """What :func:`difference_pair` makes of one science image and one resampled template.

    Arrays are in the namespace of the inputs (NumPy or CuPy), ``[y, x]``.

    Attributes
    ----------
    diff
        Decorrelated difference ``(Ct − K ⊗ Co − B) ⊗ k_φ`` [counts, science flux
        scale]; NaN on ``blank``.
    var
        Its variance [counts²] (:func:`romandia.decorrelate.difference_variance`);
        NaN on ``blank``.
    psf
        Decorrelated common PSF ``(P_S ⊗ P_T′) ⊗ k_φ``, odd size ``psf_size``
        (default: the science stamp size), not renormalised.
    zptimg
        Decorrelated cross-convolved science image ``Ct ⊗ k_φ`` (same PSF and flux
        scale as ``diff``); NaN where bad science pixels reach.
    decorr_kernel
        Real-space decorrelation kernel ``k_φ`` (odd, sum ≈ 1), cropped to hold
        ``decorr_power_fraction`` of its power; for applying to other stamps.  The
        outputs here use the exact filter (Fourier, zero-padded frame).
    match_kernel
        ``K`` ``[y, x]`` at the frame centre, ``(2w+1)²``.
    noise_kernels
        ``(k_sci, k_tmpl)``: the kernels carrying science and resampled-template
        pixels into ``diff`` (:func:`romandia.decorrelate.effective_kernels`), for
        exact error propagation of measurements (:mod:`romandia.errorprop`).
    flux_scale
        ``ΣK``: science / template flux ratio (``params['flux_scale']`` when given).
    fitted_flux_scale
        ``ΣK`` as fitted by SFFT.
    blank
        Bool mask of unusable difference pixels: template blank (outside its
        footprint) or non-finite input pixels, grown by the radii of the kernels that
        spread them (``P_T′`` for science pixels; ``P_S`` + ``K`` for template pixels;
        plus ``k_φ``): the radii hold ``blank_radius_fraction`` of ``Σ|P|`` for the
        PSFs and of ``Σk²`` for ``K`` and ``k_φ`` (whose wings are noise / weak).
    diff_raw
        Difference before decorrelation (0 on ``blank``).
    solution
        SFFT solution dict (:func:`sfft_solve_subtract`).
    n_fit_pixels
        Pixels used in the SFFT fit.
    kernel_poly_order
        Polynomial order actually fitted (lowered from ``params['kernel_poly_order']``
        when the fit pixels cannot constrain it, see ``min_fit_pixels_per_parameter``).
    kernel_half_width
        Kernel half-width actually used (lowered likewise, not below
        ``min_kernel_half_width``).
    fit_compact_sources
        Whether compact sources were added to the fit mask.
    timings
        Seconds per stage: ``cross_convolve``, ``sfft``, ``decorrelate``, ``variance``.
    """

    diff: object
    var: object
    psf: object
    zptimg: object
    decorr_kernel: object
    match_kernel: np.ndarray
    noise_kernels: tuple
    flux_scale: float
    fitted_flux_scale: float
    blank: object
    diff_raw: object
    solution: dict
    n_fit_pixels: int
    kernel_poly_order: int
    kernel_half_width: int
    fit_compact_sources: bool
    timings: dict


def difference_pair(
    sci,
    sci_var,
    sci_detmask,
    sci_psf,
    sci_skyrms,
    tmpl_rs,
    tmpl_var_rs,
    tmpl_detmask_rs,
    tmpl_blank,
    tmpl_psf_rot,
    tmpl_skyrms,
    params=None,
    fit_exclude=None,
    tmpl_psf_noise=None,
):
    """Difference one science image and one (resampled) template.

    All images are on the science pixel grid, ``[y, x]``, sky-subtracted, in counts.

    Parameters
    ----------
    sci : array (ny, nx)
        Science image ``S``; NaN = bad pixel.
    sci_var : array (ny, nx)
        Science variance [counts²].
    sci_detmask : array (ny, nx)
        Science detection mask (1 / True = pixel on a detected source).
    sci_psf : array, odd
        Science PSF stamp ``P_S`` at the object, science frame.
    sci_skyrms : float
        Science background RMS σ_S [counts / px].
    tmpl_rs, tmpl_var_rs, tmpl_detmask_rs, tmpl_blank : arrays (ny, nx)
        Template image, variance, fractional detection mask and blank mask resampled to
        the science grid (:func:`romandia.resample.resample_image_set`).
    tmpl_psf_rot : array, odd
        Template PSF in the science frame ``P_T′`` (:func:`romandia.resample.rotate_psf`).
    tmpl_skyrms : float
        Template background RMS σ_T [counts / px] (taken as is for the resampled
        template).
    params : dict, optional
        Keys of :data:`DEFAULT_PARAMS` (unknown keys raise ``ValueError``).
    fit_exclude : array (ny, nx) of bool, optional
        Pixels never used in the kernel fit (discs around the transients).
    tmpl_psf_noise : array, odd, optional
        The template PSF the decorrelation filter is built with, when ``tmpl_psf_rot`` carries
        the resampling's blur (``template_psf: resampled``): that blur smooths the science
        noise (through ``P_T′``) and the template's own (resampled) noise alike, so whitening
        it would divide by it; the filter is made without it and the blur stays in the noise,
        which the propagated errors carry (``KSCI``, ``KTMPL``).  None: ``tmpl_psf_rot``.

    Returns
    -------
    PairDifference
        The difference, its variance and PSF, the kernels and what the fit used.

    Raises
    ------
    DataError
        ``stage='subtract'`` for too few fit pixels, a singular SFFT system, ...

    Notes
    -----
    NaNs in the inputs are replaced by 0 for the FFTs and marked NaN in the outputs
    (through ``blank``).  Template pixels outside its footprint are 0 (sky-subtracted)
    for the FFTs.  The decorrelation uses scalar sky RMS values, ``K`` at the frame
    centre, and ignores the covariance of the resampled template noise (see
    :mod:`romandia.decorrelate`).
    """
    p = _params(params)
    workers = int(p["threads"])
    t = {}
    t0 = time.perf_counter()
    a = _inputs(sci, sci_var, sci_detmask, sci_psf, tmpl_rs, tmpl_var_rs, tmpl_detmask_rs, tmpl_blank,
                tmpl_psf_rot)
    xp = a.xp

    # 1. cross-convolution
    with nvtx_range("cross_convolve"):
        ct, co, psf_common = cross_convolve(a.sci0, a.tmpl0, a.psf_s, a.psf_t, xp=xp, workers=workers)
    t["cross_convolve"] = time.perf_counter() - t0

    # 2. fit mask and SFFT
    t1 = time.perf_counter()
    fit = _fit_mask(a, ct, co, sci_detmask, tmpl_detmask_rs, fit_exclude, float(sci_skyrms),
                    float(tmpl_skyrms), p)
    mct = xp.where(fit.mask, ct, 0.0)
    mco = xp.where(fit.mask, co, 0.0)
    with nvtx_range("sfft_solve"):
        diff_raw, solution, kern = _solve(co, ct, mco, mct, fit.w, fit.order, p, workers)
    diff_raw = asarray(diff_raw, xp)
    fitted_scale = float(kern.sum())
    if p["flux_scale"] is not None:
        diff_raw, kern = _impose_flux_scale(ct, diff_raw, kern, solution, fit.mask, float(p["flux_scale"]), xp)
    t["sfft"] = time.perf_counter() - t1

    # 3. decorrelation
    t2 = time.perf_counter()
    psf_t_noise = a.psf_t if tmpl_psf_noise is None else xp.asarray(tmpl_psf_noise, dtype=xp.float64)
    dec = _decorrelate(a, ct, psf_common, diff_raw, kern, fit, float(sci_skyrms), float(tmpl_skyrms), p, psf_t_noise,
                       workers)
    t["decorrelate"] = time.perf_counter() - t2

    # 4. variance
    t3 = time.perf_counter()
    with nvtx_range("variance"):
        var = difference_variance(
            xp.where(a.bad_sci, 0.0, a.sci_var), xp.where(a.bad_tmpl, 0.0, a.tmpl_var), a.psf_s, a.psf_t,
            dec.phi, dec.grid, match_kernel=dec.kd, xp=xp, workers=workers,
        )
    var = xp.where(dec.blank, xp.nan, var)
    t["variance"] = time.perf_counter() - t3

    return PairDifference(
        diff=dec.diff, var=var, psf=dec.psf, zptimg=dec.zptimg, decorr_kernel=dec.k_phi, match_kernel=kern,
        noise_kernels=(to_numpy(dec.k_sci), to_numpy(dec.k_tmpl)), flux_scale=float(kern.sum()),
        fitted_flux_scale=fitted_scale, blank=dec.blank, diff_raw=dec.diff_raw, solution=solution,
        n_fit_pixels=fit.n_fit, kernel_poly_order=fit.order, kernel_half_width=fit.w,
        fit_compact_sources=fit.used_compact, timings=t,
    )


@dataclass
class _Inputs:
    """The pair on one namespace: float64 arrays, their bad pixels, and copies with them zeroed."""

    xp: object
    sci: object
    sci_var: object
    tmpl: object
    tmpl_var: object
    psf_s: object
    psf_t: object
    bad_sci: object
    bad_tmpl: object
    sci0: object
    tmpl0: object


def _inputs(sci, sci_var, sci_detmask, sci_psf, tmpl_rs, tmpl_var_rs, tmpl_detmask_rs, tmpl_blank,
            tmpl_psf_rot) -> _Inputs:
    """Check shapes, move everything to the science image's namespace, mark bad pixels."""
    xp = get_namespace(sci, tmpl_rs)
    sci = xp.asarray(sci, dtype=xp.float64)
    shape = sci.shape
    arrays = {
        "sci_var": sci_var, "sci_detmask": sci_detmask, "tmpl_rs": tmpl_rs,
        "tmpl_var_rs": tmpl_var_rs, "tmpl_detmask_rs": tmpl_detmask_rs, "tmpl_blank": tmpl_blank,
    }
    for name, arr in arrays.items():
        if arr.shape != shape:
            raise ValueError(f"{name} shape {arr.shape} differs from sci {shape}")
    sci_var = xp.asarray(sci_var, dtype=xp.float64)
    tmpl = xp.asarray(tmpl_rs, dtype=xp.float64)
    tmpl_var = xp.asarray(tmpl_var_rs, dtype=xp.float64)
    bad_sci = ~(xp.isfinite(sci) & xp.isfinite(sci_var))
    bad_tmpl = xp.asarray(tmpl_blank).astype(bool) | ~(xp.isfinite(tmpl) & xp.isfinite(tmpl_var))
    return _Inputs(xp=xp, sci=sci, sci_var=sci_var, tmpl=tmpl, tmpl_var=tmpl_var,
                   psf_s=xp.asarray(sci_psf, dtype=xp.float64), psf_t=xp.asarray(tmpl_psf_rot, dtype=xp.float64),
                   bad_sci=bad_sci, bad_tmpl=bad_tmpl, sci0=xp.where(bad_sci, 0.0, sci),
                   tmpl0=xp.where(bad_tmpl, 0.0, tmpl))


@dataclass
class _Fit:
    """The SFFT fit mask and the kernel it can constrain."""

    mask: object
    n_fit: int
    used_compact: bool
    order: int
    w: int
    bad_ct: object  # bad science pixels grown by P_T′ (where Ct is unusable)
    r_s: float
    r_t: float


def _fit_mask(a: _Inputs, ct, co, sci_detmask, tmpl_detmask_rs, fit_exclude, sig_s: float, sig_t: float,
              p: dict) -> _Fit:
    """Pixels detected in both images, minus bad, saturated and excluded ones (grown by the
    kernels that spread them), plus compact sources when needed; the order and half-width
    the fit pixels support (docs/validation.md, fixes 2 and 4)."""
    xp = a.xp
    frac = float(p["blank_radius_fraction"])
    r_t, r_s = effective_radius(a.psf_t, frac), effective_radius(a.psf_s, frac)
    w = int(p["kernel_half_width"])
    bad_ct = dilate(a.bad_sci, r_t, xp)
    fit_bad = bad_ct | dilate(a.bad_tmpl, r_s + w, xp)
    # saturated cores are clipped (non-linear): keep them, spread by P_T′ and the kernel, out of the fit
    if p["saturation"] is not None:
        satm = (a.sci0 >= float(p["saturation"])) | (a.tmpl0 >= float(p["saturation"]))
        fit_bad = fit_bad | dilate(satm, max(r_t, r_s) + w, xp)
    if fit_exclude is not None:
        fit_bad = fit_bad | xp.asarray(fit_exclude).astype(bool)
    fit = ((xp.asarray(sci_detmask, dtype=xp.float64) > 0.5)
           & (xp.asarray(tmpl_detmask_rs, dtype=xp.float64) > float(p["detmask_threshold"])) & ~fit_bad)
    n_fit = int(xp.count_nonzero(fit))
    db, ppp, compact = int(p["bg_poly_order"]), float(p["min_fit_pixels_per_parameter"]), p["fit_compact_sources"]
    used_compact = False
    if compact is True or (compact == "auto" and n_fit < ppp * kernel_parameter_count(w, 0, db)):
        extra = compact_source_mask(ct, co, a.psf_s, a.psf_t, sig_s, sig_t, float(p["compact_detect_sigma"]), xp)
        fit = fit | (extra & ~fit_bad)
        n_fit = int(xp.count_nonzero(fit))
        used_compact = True
    if n_fit < int(p["min_fit_pixels"]):
        raise DataError("subtract", f"only {n_fit} pixels detected in both images to fit SFFT")
    order = supported_poly_order(n_fit, w, int(p["kernel_poly_order"]), db, ppp)
    w_min = min(w, int(p["min_kernel_half_width"]))
    while w > w_min and n_fit < ppp * kernel_parameter_count(w, 0, db):
        w -= 1
    return _Fit(mask=fit, n_fit=n_fit, used_compact=used_compact, order=order, w=w, bad_ct=bad_ct, r_s=r_s, r_t=r_t)


@dataclass
class _Decorrelated:
    diff: object
    zptimg: object
    psf: object
    k_phi: object
    k_sci: object
    k_tmpl: object
    blank: object
    diff_raw: object
    phi: object
    grid: tuple
    kd: object


def _decorrelate(a: _Inputs, ct, psf_common, diff_raw, kern, fit: _Fit, sig_s: float, sig_t: float, p: dict,
                 psf_t_noise, workers: int) -> _Decorrelated:
    """The decorrelation filter (exact, on a small grid for stamps and on the padded frame for
    images) applied to the difference and to Ct, and the blank mask it spreads."""
    xp = a.xp
    frac, floor = float(p["blank_radius_fraction"]), float(p["decorr_floor"])
    kd = asarray(kern, xp) if p["use_match_kernel"] else None
    grid = decorrelation_grid(a.psf_s, a.psf_t, kd)
    phi = decorrelation_filter(grid, a.psf_s, psf_t_noise, sig_s, sig_t, match_kernel=kd, floor=floor, xp=xp)
    psf_dec, k_phi = decorrelate_kernel(psf_common, phi, grid, power_fraction=float(p["decorr_power_fraction"]),
                                        out_size=p["psf_size"] or a.psf_s.shape, xp=xp)
    pad = grid[0] // 2  # >= support half-width of k_phi: no wrap-around
    fshape = tuple(scipy.fft.next_fast_len(n + pad, real=True) for n in a.sci.shape)
    phi_frame = decorrelation_filter(fshape, a.psf_s, psf_t_noise, sig_s, sig_t, match_kernel=kd, floor=floor,
                                     xp=xp)
    r_k = effective_radius(kern, frac, weight="power")
    # Growth of bad pixels into the decorrelated difference (docs/validation.md, fix 3): by
    # the radius of the kernels that actually carry each input into it, k_sci = P_T′ ⊗ k_φ
    # and k_tmpl = K ⊗ P_S ⊗ k_φ (holding ``frac`` of Σ|k|).  Adding the radii of P and of
    # k_φ separately over-grew it: k_φ alone boosts the high frequencies where the PSFs have
    # no power, and its power radius (up to 130 px) NaN-ed whole 256² cutouts.
    k_sci, k_tmpl = effective_kernels(a.psf_s, a.psf_t, phi, grid, kd, xp=xp)
    r_sci, r_tmpl = effective_radius(k_sci, frac), effective_radius(k_tmpl, frac)
    blank = dilate(a.bad_sci, r_sci, xp) | dilate(a.bad_tmpl, r_tmpl, xp)
    diff_raw = xp.where(fit.bad_ct | dilate(a.bad_tmpl, fit.r_s + r_k, xp), 0.0, diff_raw)
    with nvtx_range("decorrelate"):
        diff = apply_filter(diff_raw, phi_frame, fshape, xp=xp, workers=workers)
        zpt = apply_filter(ct, phi_frame, fshape, xp=xp, workers=workers)
    zpt = xp.where(dilate(a.bad_sci, r_sci, xp), xp.nan, zpt)
    return _Decorrelated(diff=xp.where(blank, xp.nan, diff), zptimg=zpt, psf=psf_dec, k_phi=k_phi, k_sci=k_sci,
                         k_tmpl=k_tmpl, blank=blank, diff_raw=diff_raw, phi=phi, grid=grid, kd=kd)
