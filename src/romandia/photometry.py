"""Forced PSF photometry, aperture sums, NEA and the field-star zeropoint.

This is phrosty's forced photometry (``make_phot_info_dict`` / ``phot_at_coords``,
reference ``phrosty.md`` §4.6) as pure functions:

* :func:`forced_psf_photometry` fits the amplitude of a PSF stamp at a *fixed* position with
  photutils ``PSFPhotometry`` + ``ImagePSF`` (``x_0``/``y_0`` fixed), weighting every pixel of the
  ``fit_shape`` box by ``1/sqrt(variance)``; it also returns a ``r = 3`` px exact circular
  aperture sum, the noise-equivalent area and the fit's reduced chi^2.
* :func:`linear_psf_flux` is an independent closed-form weighted-least-squares amplitude fit
  (no photutils; the stamp is shifted with a cubic spline from :mod:`scipy.ndimage`), used as a
  cross-check.
* :func:`field_star_zeropoint` is the legacy phrosty / paper field-star zeropoint
  (``phrosty.md`` §2.2): ``median(m_truth - m_inst)`` over stars with ``19 < m_truth < 21.5``.

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
* By default a stamp is the PSF of a source at the centre of the central pixel and is moved to
  the object's sub-pixel position by cubic-spline interpolation (what phrosty does).  With
  ``psf_at_position=True`` the stamp is taken to be drawn *at the object's sub-pixel phase*
  (its centre offset from the central pixel by ``(x - round(x), y - round(y))``) and is used
  without interpolation, which is exact also for undersampled PSFs.

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
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "forced_psf_photometry",
    "linear_psf_flux",
    "field_star_zeropoint",
    "noise_equivalent_area",
    "shift_psf",
    "estimator_weights",
    "chi2_error_scale",
]

# photutils PSFPhotometry flag bits that make a fit unusable.  Bit 4 (negative flux) is normal
# on a difference image and bit 32 (near xy bound) cannot occur with fixed positions.
_FATAL_PSF_FLAGS = 1 | 2 | 8 | 16 | 64 | 128 | 256 | 512 | 1024 | 2048


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _to_numpy(a) -> np.ndarray:
    """Return ``a`` as a float64 numpy array (CuPy arrays are copied to the host)."""
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        a = a.get()
    return np.asarray(a, dtype=np.float64)


def _check_psf(psf: np.ndarray) -> None:
    if psf.ndim != 2 or psf.shape[0] != psf.shape[1] or psf.shape[0] % 2 != 1:
        raise ValueError(f"PSF stamp must be an odd-sized square 2-D array, got shape {psf.shape}")
    if psf.shape[0] < 5:
        raise ValueError(f"PSF stamp must be at least 5x5 pixels, got {psf.shape}")


def _check_fit_shape(fit_shape: int) -> int:
    if int(fit_shape) != fit_shape or fit_shape < 3 or fit_shape % 2 != 1:
        raise ValueError(f"fit_shape must be an odd integer >= 3, got {fit_shape!r}")
    return int(fit_shape)


def _nearest_pixel(v: float) -> int:
    """Index of the pixel containing 0-based coordinate ``v``.

    Pixel ``i`` spans ``(i - 0.5, i + 0.5]``: half-integers go down, as in photutils'
    ``PSFPhotometry`` fit-box placement (``astropy.nddata.overlap_slices`` with ``np.ceil``).
    """
    return int(math.ceil(v - 0.5))


def _fit_box(shape: tuple[int, int], x: float, y: float, fit_shape: int):
    """Slices of the ``fit_shape`` box centred on the pixel containing (x, y), or a reason."""
    half = fit_shape // 2
    ix, iy = _nearest_pixel(x), _nearest_pixel(y)
    ny, nx = shape
    if not (-0.5 < x <= nx - 0.5 and -0.5 < y <= ny - 0.5):
        return None, f"position (x={x:.3f}, y={y:.3f}) is outside the {nx}x{ny} image"
    if ix - half < 0 or iy - half < 0 or ix + half >= nx or iy + half >= ny:
        return None, (
            f"{fit_shape}x{fit_shape} fit box around (x={x:.3f}, y={y:.3f}) is not fully inside "
            f"the {nx}x{ny} image"
        )
    return (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1)), None


def _model(psf: np.ndarray, x: float, y: float, psf_at_position: bool):
    """photutils ``ImagePSF`` (flux=1) placed at (x, y), positions fixed, stamp not renormalised."""
    from photutils.psf import ImagePSF

    c = (psf.shape[0] - 1) / 2.0
    if psf_at_position:
        # the stamp centre sits at (c + dx, c + dy): put that point at (x, y) so that the model
        # evaluated at integer pixels returns the stamp values themselves (spline nodes).
        origin = (c + (x - _nearest_pixel(x)), c + (y - _nearest_pixel(y)))
    else:
        origin = (c, c)
    model = ImagePSF(psf, flux=1.0, x_0=x, y_0=y, origin=origin, fill_value=0.0)
    model.x_0.fixed = True
    model.y_0.fixed = True
    return model


def _psf_on_box(psf: np.ndarray, x: float, y: float, box, psf_at_position: bool) -> np.ndarray:
    """Unit-total-flux PSF sampled on the image pixels of ``box`` (photutils interpolation)."""
    yy, xx = np.mgrid[box[0], box[1]]
    return _model(psf, x, y, psf_at_position)(xx.astype(float), yy.astype(float))


def noise_equivalent_area(
    psf: np.ndarray, x: float = 0.0, y: float = 0.0, *, psf_at_position: bool = False
) -> float:
    """Noise-equivalent area ``1 / sum(p_i^2)`` of a unit-total-flux PSF sampled at (x, y).

    Parameters
    ----------
    psf : 2-D ndarray
        PSF stamp (odd, square, centred, unit total flux, not renormalised).
    x, y : float
        0-based position of the object; only the sub-pixel phase matters.
    psf_at_position : bool
        See :func:`forced_psf_photometry`.

    Returns
    -------
    float
        NEA [pix^2].  For a well-sampled Gaussian of width sigma, NEA ~ 4 pi sigma^2.
    """
    psf = _to_numpy(psf)
    _check_psf(psf)
    n = psf.shape[0]
    half = n // 2 + 1  # one extra pixel: the shifted PSF may spill over
    ix, iy = _nearest_pixel(x), _nearest_pixel(y)
    box = (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1))
    p = _psf_on_box(psf, float(x), float(y), box, psf_at_position)
    s2 = float(np.sum(p * p))
    return 1.0 / s2 if s2 > 0 else math.nan


def shift_psf(psf: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Shift a PSF stamp by (dx, dy) pixels with an order-3 spline (``scipy.ndimage.shift``).

    Parameters
    ----------
    psf : 2-D ndarray
        PSF stamp ``[y, x]``.
    dx, dy : float
        Shift [pix] along x and y; the PSF centre moves from the central pixel to
        ``(c + dx, c + dy)``.

    Returns
    -------
    ndarray
        Shifted stamp, same shape; values beyond the stamp are taken as 0.  Not renormalised.
    """
    from scipy import ndimage

    psf = _to_numpy(psf)
    if dx == 0 and dy == 0:
        return psf.copy()
    return ndimage.shift(psf, (dy, dx), order=3, mode="grid-constant", cval=0.0, prefilter=True)


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


# --------------------------------------------------------------------------------------------
# forced PSF photometry (photutils)
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# the flux as a linear estimator; error scaling
# --------------------------------------------------------------------------------------------
def estimator_weights(
    psf: np.ndarray,
    variance: np.ndarray,
    x: float,
    y: float,
    fit_shape: int = 5,
    psf_at_position: bool = False,
    weights: str = "background",
) -> np.ndarray:
    """Weights ``a`` of the forced PSF flux as a linear estimator, ``flux = Σ a_i image_i``.

    The amplitude fit of :func:`forced_psf_photometry` (fixed position, no local background)
    is linear: ``a = p w / Σ p² w`` on the fit box (``p`` the PSF model on its pixels,
    ``w = 1`` for ``weights='background'``, ``1/variance`` for ``'variance'``), 0 elsewhere.
    :func:`romandia.errorprop.propagated_flux_variance` carries ``a`` back to the input
    images.

    Parameters
    ----------
    psf, variance, x, y, fit_shape, psf_at_position, weights
        As in :func:`forced_psf_photometry` (``variance`` gives the image shape).

    Returns
    -------
    numpy.ndarray, shape of ``variance``
        ``a`` [1]; ``Σ a_i p_i = 1``.

    Raises
    ------
    ValueError
        The fit box is not inside the image, or the PSF is zero on it.
    """
    _check_psf(psf)
    fit_shape = _check_fit_shape(fit_shape)
    if weights not in ("variance", "background"):
        raise ValueError(f"weights must be 'variance' or 'background', got {weights!r}")
    variance = _to_numpy(variance)
    box, reason = _fit_box(variance.shape, float(x), float(y), fit_shape)
    if box is None:
        raise ValueError(reason)
    p = _psf_on_box(_to_numpy(psf), float(x), float(y), box, psf_at_position)
    w = 1.0 / variance[box] if weights == "variance" else np.ones_like(p)
    norm = float(np.sum(p * p * w))
    if not norm > 0:
        raise ValueError("PSF model is zero over the fit box")
    a = np.zeros_like(variance)
    a[box] = p * w / norm
    return a


def chi2_error_scale(chi2_red: float) -> float:
    """Factor ``sqrt(max(1, χ²_ν))`` by which a fit's flux error is inflated.

    Where the fit's residuals exceed the noise model (``χ²_ν > 1``: host residuals from
    resampling an undersampled template, PSF mismatch) the error grows by ``sqrt(χ²_ν)``,
    the practice of ZTF's forced-photometry service (Masci et al. 2019, PASP 131, 018003;
    Masci et al. 2023, arXiv:2305.16279, §8-9).  Never below 1, so a fit that is consistent
    with the noise keeps its propagated error.  NaN ``chi2_red`` gives 1.
    """
    c = float(chi2_red)
    return math.sqrt(c) if math.isfinite(c) and c > 1.0 else 1.0


# --------------------------------------------------------------------------------------------
# closed-form cross-check
# --------------------------------------------------------------------------------------------
def linear_psf_flux(
    image,
    variance,
    psf,
    x: float,
    y: float,
    fit_shape: int = 5,
    fit_background: bool = False,
    *,
    psf_at_position: bool = False,
) -> dict:
    """Closed-form weighted-least-squares PSF amplitude at a fixed position (no photutils).

    Solves ``d_i = F p_i (+ b)`` over the ``fit_shape`` box with weights ``1/variance``:
    ``F = sum(p d / v) / sum(p^2 / v)`` and ``sigma_F^2 = 1 / sum(p^2 / v)`` (or the 2x2
    normal equations when ``fit_background``).  The stamp is moved to the object's sub-pixel
    position with :func:`shift_psf` (order-3 spline, independent of photutils' interpolator).

    Parameters
    ----------
    image, variance : 2-D ndarray
        Image [counts] and its variance [counts^2], ``[y, x]``.
    psf : 2-D ndarray
        PSF stamp (odd, square, centred, unit total flux, not renormalised).
    x, y : float
        0-based object position in ``image``.
    fit_shape : int
        Odd side [pix] of the fit box, centred on the pixel containing (x, y).
    fit_background : bool
        Also fit a constant background [counts/pix].
    psf_at_position : bool
        ``psf`` is already drawn at the object's sub-pixel phase: no shift.

    Returns
    -------
    dict
        ``flux``, ``flux_err`` [counts], ``background``, ``background_err`` [counts/pix]
        (0 and NaN without ``fit_background``), ``chi2_red``, ``npix``, ``success``,
        ``message`` (same failure policy as :func:`forced_psf_photometry`).
    """
    image = _to_numpy(image)
    variance = _to_numpy(variance)
    psf = _to_numpy(psf)
    if image.ndim != 2 or image.shape != variance.shape:
        raise ValueError("image and variance must be 2-D arrays of the same shape")
    _check_psf(psf)
    fit_shape = _check_fit_shape(fit_shape)
    nan = math.nan
    out = {
        "flux": nan,
        "flux_err": nan,
        "background": 0.0 if not fit_background else nan,
        "background_err": nan,
        "chi2_red": nan,
        "npix": 0,
        "success": False,
        "message": "",
    }
    x = float(x)
    y = float(y)
    if not (math.isfinite(x) and math.isfinite(y)):
        out["message"] = f"non-finite position (x={x}, y={y})"
        return out
    box, reason = _fit_box(image.shape, x, y, fit_shape)
    if box is None:
        out["message"] = reason
        return out
    d = image[box].ravel()
    v = variance[box].ravel()
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(v) & (v > 0))):
        out["message"] = "non-finite image or non-positive variance pixels in the fit box"
        return out
    if not np.all(np.isfinite(psf)):
        out["message"] = "PSF stamp contains non-finite values"
        return out

    ix, iy = _nearest_pixel(x), _nearest_pixel(y)
    stamp = psf if psf_at_position else shift_psf(psf, x - ix, y - iy)
    c = psf.shape[0] // 2
    half = fit_shape // 2
    # stamp pixel c + k corresponds to image pixel ix + k
    big = np.zeros((2 * half + 1, 2 * half + 1))
    lo, hi = max(c - half, 0), min(c + half + 1, psf.shape[0])
    big[lo - (c - half) : hi - (c - half), lo - (c - half) : hi - (c - half)] = stamp[lo:hi, lo:hi]
    p = big.ravel()
    w = 1.0 / v
    if fit_background:
        a = np.stack([p, np.ones_like(p)], axis=1)
        normal = a.T @ (a * w[:, None])
        rhs = a.T @ (d * w)
        try:
            cov = np.linalg.inv(normal)
        except np.linalg.LinAlgError:
            out["message"] = "singular normal equations"
            return out
        flux, back = cov @ rhs
        model = flux * p + back
        out["background"] = float(back)
        out["background_err"] = float(math.sqrt(cov[1, 1]))
        flux_var = cov[0, 0]
        npar = 2
    else:
        ppw = float(np.sum(p * p * w))
        if not ppw > 0:
            out["message"] = "PSF model is zero over the fit box"
            return out
        flux = float(np.sum(p * d * w) / ppw)
        flux_var = 1.0 / ppw
        model = flux * p
        npar = 1
    chi2 = float(np.sum((d - model) ** 2 * w))
    out.update(
        flux=float(flux),
        flux_err=float(math.sqrt(flux_var)),
        chi2_red=chi2 / (d.size - npar) if d.size > npar else nan,
        npix=int(d.size),
        success=True,
    )
    return out


# --------------------------------------------------------------------------------------------
# field-star zeropoint
# --------------------------------------------------------------------------------------------
def _robust_scatter(a: np.ndarray) -> float:
    """1.4826 * median absolute deviation (Gaussian sigma equivalent)."""
    if a.size == 0:
        return math.nan
    return float(1.482602218505602 * np.median(np.abs(a - np.median(a))))


def field_star_zeropoint(
    image,
    variance,
    psf_getter: Callable[[float, float], np.ndarray],
    stars_xy: Sequence[tuple[float, float]] | np.ndarray,
    truth_mags: Sequence[float] | np.ndarray,
    mag_range: tuple[float, float] = (19.0, 21.5),
    *,
    fit_shape: int = 5,
    local_bkg: tuple[float, float] | None = (15.0, 25.0),
    aperture_radius: float = 4.0,
) -> dict:
    """Field-star zeropoint ``median(m_truth - m_inst)`` (legacy phrosty, Aldoroty et al. 2025).

    Each star is measured with :func:`forced_psf_photometry` at its true position; stars with
    ``mag_range[0] < m_truth < mag_range[1]``, a successful fit and a positive flux enter the
    median.  ``m_inst = -2.5 log10(flux)`` with ``flux`` in counts, so ``m_AB = m_inst + zpt``.

    Parameters
    ----------
    image, variance : 2-D ndarray
        Image [counts] and variance [counts^2] (phrosty: the decorrelated, cross-convolved
        science image and its PSF).
    psf_getter : callable
        ``psf_getter(x, y) -> stamp``: the PSF stamp at 0-based (x, y) (conventions as in
        :func:`forced_psf_photometry`).
    stars_xy : (N, 2) array_like
        0-based (x, y) star positions in ``image`` (OU truth files are 1-based: subtract 1).
    truth_mags : (N,) array_like
        True calibrated AB magnitudes (OU truth ``mag`` + ``ZPTMAG``).
    mag_range : (float, float)
        Open magnitude interval of stars used (phrosty: 19 < m < 21.5).
    fit_shape, local_bkg, aperture_radius
        Passed to :func:`forced_psf_photometry` (defaults: phrosty's 5, (15, 25) and ``ap_r=4``).

    Returns
    -------
    dict
        ``zpt`` [mag]: median of ``m_truth - m_psf``; ``scatter`` [mag]: its robust (1.4826 MAD)
        per-star scatter; ``zpt_err`` [mag]: ``1.2533 * scatter / sqrt(n)``; ``n``: stars used;
        ``ap_zpt``, ``ap_scatter``: the same for aperture sums (not aperture-corrected, so
        ``ap_zpt`` is smaller than ``zpt`` by the aperture correction); ``delta`` (N,): per-star
        ``m_truth - m_psf`` (NaN for failed stars); ``used`` (N,) bool.
    """
    xy = np.asarray(stars_xy, dtype=float).reshape(-1, 2)
    mags = np.asarray(truth_mags, dtype=float).ravel()
    if len(mags) != len(xy):
        raise ValueError(f"stars_xy has {len(xy)} rows but truth_mags has {len(mags)}")
    lo, hi = mag_range
    delta = np.full(len(xy), np.nan)
    ap_delta = np.full(len(xy), np.nan)
    in_range = (mags > lo) & (mags < hi)
    for i in np.flatnonzero(in_range):
        sx, sy = xy[i]
        res = forced_psf_photometry(
            image,
            variance,
            psf_getter(sx, sy),
            sx,
            sy,
            fit_shape=fit_shape,
            local_bkg=local_bkg,
            aperture_radius=aperture_radius,
        )
        if res["success"] and res["flux"] > 0:
            delta[i] = mags[i] + 2.5 * math.log10(res["flux"])
            if res["aperture_sum"] > 0:
                ap_delta[i] = mags[i] + 2.5 * math.log10(res["aperture_sum"])
    used = np.isfinite(delta)
    good = delta[used]
    ap_good = ap_delta[np.isfinite(ap_delta)]
    n = int(good.size)
    scatter = _robust_scatter(good)
    return {
        "zpt": float(np.median(good)) if n else math.nan,
        "scatter": scatter,
        "zpt_err": 1.2533141373155 * scatter / math.sqrt(n) if n else math.nan,
        "n": n,
        "ap_zpt": float(np.median(ap_good)) if ap_good.size else math.nan,
        "ap_scatter": _robust_scatter(ap_good),
        "delta": delta,
        "used": used,
    }
