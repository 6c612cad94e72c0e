"""Forced (fixed-position) PSF photometry with photutils, as phrosty does it.

:func:`forced_psf_photometry` is phrosty's forced photometry (``make_phot_info_dict`` /
``phot_at_coords``, reference ``phrosty.md`` §4.6) as a pure function: it fits the amplitude
of a PSF stamp at a *fixed* position with photutils ``PSFPhotometry`` + ``ImagePSF``
(``x_0``/``y_0`` fixed), weighting every pixel of the ``fit_shape`` box by
``1/sqrt(variance)``; it also returns a ``r = 3`` px exact circular aperture sum, the
noise-equivalent area and the fit's reduced chi^2.

Conventions (``docs/architecture.md``)
--------------------------------------
* Images are ``[y, x]``; pixel coordinates are 0-based with (0, 0) the centre of the first
  pixel.  ``x``, ``y`` arguments are in the frame of the ``image`` passed in.
* Fluxes are counts (e-, gain 1) per exposure.  ``variance`` is the per-pixel variance in
  counts^2 of the same image.
* PSF stamps are odd-sized squares centred on the central pixel, drawn for unit *total* flux:
  the stamp sum is the enclosed fraction (<= 1) and is **never renormalised** here.  The fitted
  ``flux`` is therefore the source's total flux, not the flux inside the stamp.  photutils'
  ``ImagePSF`` multiplies the stamp as given by its ``flux`` parameter (checked in
  ``tests/test_photometry.py::test_truncated_psf_gives_total_flux``).
* Sub-pixel placement of the stamp (``psf_at_position``): see
  :mod:`romandia.photometry.fitbox`.

Failure policy (``romandia.errors``)
------------------------------------
Data problems (object outside the image, fit box not fully on the image, non-finite pixels or
non-positive variance in the fit box, non-finite PSF, fit failure) do not raise: the result has
``success=False`` and a ``message``.  Programming errors (wrong shapes, even-sized stamp, bad
arguments) raise ``ValueError`` / ``TypeError``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .fitbox import (
    _check_fit_shape,
    _check_psf,
    _fit_box,
    _model,
    _psf_on_box,
    _to_numpy,
    noise_equivalent_area,
)

__all__ = ["forced_psf_photometry"]

# photutils PSFPhotometry flag bits that make a fit unusable.  Bit 4 (negative flux) is normal
# on a difference image and bit 32 (near xy bound) cannot occur with fixed positions.
_FATAL_PSF_FLAGS = 1 | 2 | 8 | 16 | 64 | 128 | 256 | 512 | 1024 | 2048


def _empty_result(x: float, y: float) -> dict:
    nan = math.nan
    return {
        "flux": nan,
        "flux_err": nan,
        "aperture_sum": nan,
        "aperture_sum_err": nan,
        "nea": nan,
        "local_bkg": nan,
        "chi2_red": nan,
        "x": float(x),
        "y": float(y),
        "success": False,
        "message": "",
    }


def forced_psf_photometry(
    image,
    variance,
    psf,
    x: float,
    y: float,
    fit_shape: int = 5,
    local_bkg: tuple[float, float] | None = None,
    aperture_radius: float = 3.0,
    *,
    psf_at_position: bool = False,
    weights: str = "variance",
) -> dict:
    """Forced (fixed-position) PSF photometry of one object, as phrosty does it.

    The amplitude of ``psf`` is fitted with photutils ``PSFPhotometry(ImagePSF(psf), fit_shape)``
    with ``x_0``/``y_0`` fixed at (x, y), using only the ``fit_shape`` x ``fit_shape`` pixels
    centred on the pixel that contains (x, y) and ``error = sqrt(variance)``.  Because the stamp
    is drawn for unit total flux and not renormalised, ``flux`` is the object's total flux.

    Parameters
    ----------
    image : 2-D ndarray
        Image ``[y, x]`` in counts per exposure (normally the decorrelated difference stamp).
    variance : 2-D ndarray
        Per-pixel variance of ``image`` [counts^2], same shape.
    psf : 2-D ndarray
        PSF stamp in ``image``'s pixel frame: odd square, centred on the central pixel, unit
        total flux (sum = enclosed fraction <= 1), at least 5x5.
    x, y : float
        0-based pixel position of the object in ``image``.
    fit_shape : int
        Odd side [pix] of the fit box (phrosty: 5).
    local_bkg : (float, float) or None
        ``(r_in, r_out)`` [pix] of an annulus whose ``MMMBackground`` (non-finite pixels masked)
        is subtracted before the fit and from the aperture sum (phrosty: ``(15, 25)`` for field
        stars, none for the SN on the difference image).  ``None``: no background (0).
    aperture_radius : float
        Radius [pix] of the circular aperture (photutils, ``method='exact'``).
    psf_at_position : bool
        If True, ``psf`` is the PSF drawn at the object's sub-pixel phase (centre offset from the
        central pixel by ``(x - round(x), y - round(y))``) and is used without interpolation.
    weights : {"variance", "background"}
        ``"variance"`` (phrosty): pixels weighted by ``1 / variance``; the error is the fit's
        ``(sum p^2 / v)^-1/2``.  ``"background"``: equal weights over the fit box (the
        optimal weights of a background-limited source on the decorrelated, white-noise
        difference), and ``flux_err = sqrt(sum p_i^2 v_i) / sum p_i^2``, the propagated
        per-pixel variance (source Poisson noise included).  Weights that contain the
        source's own noisy Poisson term correlate with the data and bias fluxes low; these
        do not depend on the data at all (docs/validation.md, fix 5).

    Returns
    -------
    dict
        ``flux``, ``flux_err`` [counts]: fitted total flux and its 1-sigma error from the
        variance (absolute weights, not rescaled by chi^2);
        ``aperture_sum``, ``aperture_sum_err`` [counts]: background-subtracted aperture sum
        (not aperture-corrected) and its error from ``variance`` (NaN if the aperture holds
        non-finite pixels; this does not fail the fit);
        ``nea`` [pix^2]: ``1 / sum p_i^2`` of the PSF sampled at the object;
        ``local_bkg`` [counts/pix]: subtracted background (0.0 if ``local_bkg`` is None);
        ``chi2_red``: ``sum((d - f p)^2 / v) / (n - 1)`` over the fit box;
        ``x``, ``y``: the position used; ``success`` (bool); ``message`` (str, '' when all is
        well, otherwise the reason for failure or a note).

    Raises
    ------
    ValueError
        Wrong shapes, even-sized or too small stamp, bad ``fit_shape``/``local_bkg``.
    """
    from astropy.table import QTable
    from photutils.aperture import CircularAperture, aperture_photometry
    from photutils.psf import PSFPhotometry

    image = _to_numpy(image)
    variance = _to_numpy(variance)
    psf = _to_numpy(psf)
    if image.ndim != 2 or image.shape != variance.shape:
        raise ValueError(
            f"image and variance must be 2-D arrays of the same shape, got {image.shape} "
            f"and {variance.shape}"
        )
    _check_psf(psf)
    fit_shape = _check_fit_shape(fit_shape)
    if local_bkg is not None:
        r_in, r_out = (float(r) for r in local_bkg)
        if not 0 <= r_in < r_out:
            raise ValueError(
                f"local_bkg must be (r_in, r_out) with 0 <= r_in < r_out, got {local_bkg}"
            )
    if not aperture_radius > 0:
        raise ValueError(f"aperture_radius must be > 0, got {aperture_radius}")
    if weights not in ("variance", "background"):
        raise ValueError(f"weights must be 'variance' or 'background', got {weights!r}")

    out = _empty_result(x, y)
    x = float(x)
    y = float(y)
    if not (math.isfinite(x) and math.isfinite(y)):
        out["message"] = f"non-finite position (x={x}, y={y})"
        return out
    box, reason = _fit_box(image.shape, x, y, fit_shape)
    if box is None:
        out["message"] = reason
        return out
    if not np.all(np.isfinite(psf)):
        out["message"] = "PSF stamp contains non-finite values"
        return out
    d = image[box]
    v = variance[box]
    nbad = int(np.count_nonzero(~np.isfinite(d)))
    if nbad:
        out["message"] = f"{nbad} non-finite image pixel(s) in the {fit_shape}x{fit_shape} fit box"
        return out
    nbad = int(np.count_nonzero(~(np.isfinite(v) & (v > 0))))
    if nbad:
        out["message"] = (
            f"{nbad} non-finite or non-positive variance pixel(s) in the "
            f"{fit_shape}x{fit_shape} fit box"
        )
        return out

    # ---- local background ----------------------------------------------------------------
    bkg = 0.0
    if local_bkg is not None:
        from photutils.background import LocalBackground, MMMBackground

        estimator = LocalBackground(r_in, r_out, bkg_estimator=MMMBackground())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bkg = float(np.atleast_1d(estimator(image, x, y, mask=~np.isfinite(image)))[0])
        if not math.isfinite(bkg):
            out["message"] = f"local background in annulus ({r_in:g}, {r_out:g}) px is not finite"
            return out
    out["local_bkg"] = bkg

    # ---- PSF model on the fit box; NEA; closed-form initial flux ---------------------------
    # The fit is linear in flux, so the weighted-least-squares solution with photutils' own
    # model values is the exact starting point; photutils then confirms it (its TRF fit moves it
    # by < 1e-6 sigma from a 20 % offset start) and supplies the covariance and flags.
    p = _psf_on_box(psf, x, y, box, psf_at_position)
    out["nea"] = noise_equivalent_area(psf, x, y, psf_at_position=psf_at_position)
    w = 1.0 / v
    if weights == "background":
        w_fit = np.full_like(v, 1.0 / float(np.median(v)))
    else:
        w_fit = w
    ppw = float(np.sum(p * p * w_fit))
    if not ppw > 0:
        out["message"] = "PSF model is zero over the fit box"
        return out
    flux_init = float(np.sum(p * (d - bkg) * w_fit) / ppw)

    # ---- photutils PSF fit ------------------------------------------------------------------
    model = _model(psf, x, y, psf_at_position)
    phot = PSFPhotometry(model, fit_shape)
    init = QTable({"x": [x], "y": [y], "flux": [flux_init], "local_bkg": [bkg]})
    # Only the fit box enters photutils' fit, so hand it just that cutout (cheaper; NaNs
    # elsewhere are irrelevant).  Positions move to the cutout frame; photutils centres its
    # box on pixel ceil(pos - 0.5), as _nearest_pixel does, so it fits exactly these pixels.
    cy0, cx0 = box[0].start, box[1].start
    init["x"] = [x - cx0]
    init["y"] = [y - cy0]
    model.x_0 = x - cx0
    model.y_0 = y - cy0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = phot(d, error=1.0 / np.sqrt(w_fit), init_params=init)
    except (ValueError, np.linalg.LinAlgError) as exc:  # photutils' own data checks
        out["message"] = f"PSF fit failed: {exc}"
        return out
    flux = float(res["flux_fit"][0])
    flux_err = float(res["flux_err"][0])
    flags = int(res["flags"][0])
    if flags & _FATAL_PSF_FLAGS or not (math.isfinite(flux) and math.isfinite(flux_err)):
        from photutils.psf import decode_psf_flags

        out["message"] = f"PSF fit failed: flags={flags} {decode_psf_flags(flags)}"
        return out
    if weights == "background":
        # linear estimator F = sum(a_i d_i), a = p / sum p^2: Var F = sum(a_i^2 v_i)
        flux_err = float(math.sqrt(np.sum(p * p * v)) / np.sum(p * p))
    resid = (d - bkg - flux * p) ** 2 * w
    n = resid.size
    out["flux"] = flux
    out["flux_err"] = flux_err
    out["chi2_red"] = float(np.sum(resid) / (n - 1)) if n > 1 else math.nan

    # ---- aperture sum -----------------------------------------------------------------------
    r_ap = float(aperture_radius)
    ny, nx = image.shape
    if x - r_ap < -0.5 or y - r_ap < -0.5 or x + r_ap > nx - 0.5 or y + r_ap > ny - 0.5:
        asum = aerr = math.nan
        out["message"] = f"r={r_ap:g} aperture extends beyond the image: aperture_sum is NaN"
    else:
        aper = CircularAperture((x, y), r=r_ap)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sqrt of negative variance -> NaN, handled below
            at = aperture_photometry(image, aper, error=np.sqrt(variance), method="exact")
        asum = float(at["aperture_sum"][0]) - bkg * float(aper.area)
        aerr = float(at["aperture_sum_err"][0])
        if not (math.isfinite(asum) and math.isfinite(aerr)):
            asum = aerr = math.nan
            out["message"] = (
                "aperture contains non-finite image or negative variance pixels: "
                "aperture_sum is NaN"
            )
    out["aperture_sum"] = asum
    out["aperture_sum_err"] = aerr
    out["success"] = True
    return out
