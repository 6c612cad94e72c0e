"""Flux calibration on field stars: how the PSF-fit flux relates to the true flux.

A PSF model is never exact.  A model that is too narrow, lacks the detector's charge diffusion,
assumes the wrong SED or is mirrored makes every PSF-fit flux wrong by a factor that depends
on the band and the image, not on the source (for a point source).  This module measures that
factor on bright, isolated, unsaturated field stars *through the same photometry path the SN
takes* and the workflow divides the SN's flux by it:

* the image is the decorrelated, cross-convolved science image (``ZPTIMG`` of a pair: the same
  PSF and flux scale as the difference) and the PSF is the same effective PSF the SN is fitted
  with (science PSF at the star ⊗ template PSF ⊗ decorrelation kernel), fitted with the same
  :func:`romandia.photometry.forced_psf_photometry` settings;
* the reference flux is the catalogue's (``reference="catalog"``, the default: OU2024's truth
  catalogue, where the star positions come from; this also absorbs any zeropoint error, as
  phrosty's field-star zeropoint did) or a large-aperture flux corrected to total with the PSF
  model's own encircled energy (``reference="aperture"``, for a catalogue without trustworthy
  fluxes).  The aperture reference is only as right as the model's wings: a model 5 % too
  wide or narrow has its encircled energy within 6 px wrong by 0.5 % in H158 and 0.4 % in
  R062, and by 0.4 % / 0.1 % still at 15 px (``python bench/aperture_reference.py``), which
  is what the SN keeps after calibration.

``ratio = fit flux / reference flux`` per star; the image's calibration is their weighted mean
after 3-sigma clipping, with an error inflated by the Birge ratio sqrt(max(1, chi2_nu)).  The
corrected flux is ``flux / ratio``.

Conventions: images ``[y, x]``; 0-based pixel coordinates, (0, 0) the centre of the first
pixel; fluxes in counts per exposure; PSF stamps odd, drawn at the object's sub-pixel phase
(``psf_at_position``) for unit total flux.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .photometry import forced_psf_photometry

__all__ = ["StarMeasurement", "Calibration", "aperture_total_flux", "measure_star",
           "combine", "select_stars", "zptimg_variance", "calibrate_image", "apply"]


@dataclass
class StarMeasurement:
    """One field star measured on one image (fluxes in counts)."""

    x: float
    y: float
    fit_flux: float = math.nan
    fit_err: float = math.nan
    ref_flux: float = math.nan
    ref_err: float = math.nan
    encircled: float = math.nan
    ok: bool = False
    reason: str = ""
    #: measured / true flux of this star's SED relative to the model's (romandia.chromatic);
    #: the reference flux is multiplied by it
    chrom: float = 1.0

    @property
    def ratio(self) -> float:
        return self.fit_flux / self.ref_flux if self.ok else math.nan

    @property
    def ratio_err(self) -> float:
        if not self.ok:
            return math.nan
        return abs(self.ratio) * math.hypot(self.fit_err / self.fit_flux, self.ref_err / self.ref_flux)


@dataclass
class Calibration:
    """The flux scale of one image: ``ratio`` = PSF-fit flux / true flux.

    ``status`` is ``"measured"`` or ``"unmeasured: <why>"``; ``ratio`` and ``ratio_err`` are
    NaN when unmeasured.  ``chi2_nu`` is the reduced chi^2 of the stars' ratios about the
    mean (the error is inflated by sqrt(max(1, chi2_nu))).
    """

    ratio: float = math.nan
    ratio_err: float = math.nan
    n_stars: int = 0
    n_clipped: int = 0
    chi2_nu: float = math.nan
    status: str = "unmeasured"
    stars: list = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.status == "measured"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stars"] = [dict(asdict(s), ratio=s.ratio, ratio_err=s.ratio_err) if isinstance(s, StarMeasurement)
                      else s for s in self.stars]
        return d


def _aperture_sums(image, x, y, radius, annulus):
    """(aperture sum, annulus mean per pixel, aperture area) with photutils' exact overlap."""
    from photutils.aperture import CircularAnnulus, CircularAperture, aperture_photometry

    ap = CircularAperture((x, y), r=radius)
    an = CircularAnnulus((x, y), r_in=annulus[0], r_out=annulus[1])
    t = aperture_photometry(image, [ap, an], method="exact")
    return float(t["aperture_sum_0"][0]), float(t["aperture_sum_1"][0]) / an.area, ap.area, an.area


def aperture_total_flux(image, variance, psf, x, y, *, radius: float, annulus: tuple[float, float]):
    """Total flux of a point source from a large aperture, corrected with the PSF model.

    The aperture sum minus the annulus mean times the aperture area is measured on the image
    and, identically, on the PSF stamp (unit total flux, drawn at the source's sub-pixel
    phase): the latter is the model's effective encircled energy, including the wing light
    the annulus removes.

    Parameters
    ----------
    image, variance : 2-D ndarray
        Image [counts] and per-pixel variance [counts^2].
    psf : 2-D ndarray
        Odd PSF stamp centred on the central pixel plus the sub-pixel offset of (x, y).
    x, y : float
        0-based position in ``image``.
    radius : float
        Aperture radius [px].
    annulus : (float, float)
        Background annulus radii [px]; must lie inside the PSF stamp.

    Returns
    -------
    tuple
        ``(flux, flux_err, encircled)``; NaNs if the aperture or annulus leaves the image or
        holds non-finite pixels.
    """
    h = psf.shape[0] // 2
    if annulus[1] > h:
        raise ValueError(f"annulus outer radius {annulus[1]} px exceeds the PSF stamp half-size {h}")
    ny, nx = image.shape
    r = annulus[1] + 1
    if not (r <= x < nx - 1 - r and r <= y < ny - 1 - r):
        return math.nan, math.nan, math.nan
    ix, iy = int(round(x)), int(round(y))
    sl = (slice(iy - int(r) - 1, iy + int(r) + 2), slice(ix - int(r) - 1, ix + int(r) + 2))
    cut, vcut = image[sl], variance[sl]
    if not (np.all(np.isfinite(cut)) and np.all(np.isfinite(vcut))):
        return math.nan, math.nan, math.nan
    cx, cy = x - sl[1].start, y - sl[0].start
    s, b, area, an_area = _aperture_sums(cut, cx, cy, radius, annulus)
    sv, bv, _, _ = _aperture_sums(vcut, cx, cy, radius, annulus)
    dx, dy = x - ix, y - iy
    ps, pb, _, _ = _aperture_sums(psf, h + dx, h + dy, radius, annulus)
    encircled = ps - pb * area
    flux = (s - b * area) / encircled
    # aperture variance + the background mean's (pixels treated as independent: the
    # convolved images' correlations make this an approximation; the stars' scatter about
    # their mean, through the Birge ratio in :func:`combine`, covers what it misses)
    var = sv + (bv / an_area) * area**2
    return flux, math.sqrt(max(var, 0.0)) / encircled, encircled


def measure_star(image, variance, psf, x, y, *, fit_shape: int, local_bkg, weights: str,
                 radius: float, annulus: tuple[float, float], ref_flux: float | None = None,
                 ref_err: float = 0.0, min_snr: float = 50.0) -> StarMeasurement:
    """PSF-fit and reference flux of one star (see the module docstring).

    ``ref_flux`` given (a catalogue flux): it is the reference; else the aperture flux of
    :func:`aperture_total_flux`.  The star is rejected (``ok=False`` with a ``reason``) when a
    measurement fails or the S/N that limits its ratio (the aperture flux's; with a catalogue
    flux, the PSF fit's) is below ``min_snr``.
    """
    m = StarMeasurement(float(x), float(y))
    res = forced_psf_photometry(image, variance, psf, x, y, fit_shape=fit_shape, local_bkg=local_bkg,
                                psf_at_position=True, weights=weights)
    if not res["success"] or not res["flux"] > 0:
        m.reason = f"PSF fit: {res.get('message') or 'non-positive flux'}"
        return m
    m.fit_flux, m.fit_err = float(res["flux"]), float(res["flux_err"])
    ap, ap_err, m.encircled = aperture_total_flux(image, variance, psf, x, y, radius=radius, annulus=annulus)
    if ref_flux is None:
        m.ref_flux, m.ref_err = ap, ap_err
    else:
        m.ref_flux, m.ref_err = float(ref_flux), float(ref_err)
    if not (math.isfinite(m.ref_flux) and m.ref_flux > 0 and math.isfinite(m.ref_err)):
        m.reason = "aperture off the image or not finite"
        return m
    # the S/N that limits the star's ratio: the aperture flux's, or (a catalogue flux, exact)
    # the PSF fit's
    value, err, what = (m.ref_flux, m.ref_err, "reference") if ref_flux is None else (m.fit_flux, m.fit_err, "PSF fit")
    if value < min_snr * err:
        m.reason = f"{what} S/N {value / err:.0f} < {min_snr:g}"
        return m
    m.ok = True
    return m


def _birge_mean(r: np.ndarray, e: np.ndarray) -> tuple[float, float, float]:
    """Weighted mean of ``r`` (errors ``e``), its error inflated by sqrt(max(1, chi2_nu)), and
    chi2_nu (NaN for one value)."""
    w = 1.0 / e**2
    mean = float(np.sum(w * r) / np.sum(w))
    chi2 = float(np.sum(w * (r - mean) ** 2) / (r.size - 1)) if r.size > 1 else math.nan
    err = math.sqrt(1.0 / float(np.sum(w))) * math.sqrt(max(chi2, 1.0) if math.isfinite(chi2) else 1.0)
    return mean, err, chi2


def combine(stars: list[StarMeasurement], *, min_stars: int = 3, clip: float = 3.0) -> Calibration:
    """The image's calibration from its stars: clipped weighted mean of the ratios.

    Iteratively drops stars more than ``clip`` sigma (each star's error inflated by the Birge
    ratio, floored by the robust scatter) from the weighted mean; needs ``min_stars`` left.
    """
    good = [s for s in stars if s.ok]
    cal = Calibration(stars=list(stars))
    if len(good) < min_stars:
        cal.status = f"unmeasured: {len(good)} usable field star(s), need {min_stars}"
        cal.n_stars = len(good)
        return cal
    r = np.array([s.ratio for s in good])
    e = np.array([s.ratio_err for s in good])
    keep = np.ones(len(r), bool)
    for _ in range(10):
        mean, _, chi2 = _birge_mean(r[keep], e[keep])
        chi2 = chi2 if math.isfinite(chi2) else 1.0
        mad = 1.4826 * float(np.median(np.abs(r[keep] - np.median(r[keep]))))
        sig = np.maximum(e * math.sqrt(max(chi2, 1.0)), mad)
        new = np.abs(r - mean) <= clip * sig
        if new.sum() < min_stars or np.array_equal(new, keep):
            break
        keep = new
    mean, err, chi2 = _birge_mean(r[keep], e[keep])
    n = int(keep.sum())
    for s, k in zip(good, keep, strict=True):
        if not k:
            s.ok, s.reason = False, f"clipped ({clip:g} sigma)"
    cal.ratio, cal.ratio_err, cal.n_stars, cal.n_clipped = mean, err, n, int(len(r) - n)
    cal.chi2_nu, cal.status = chi2, "measured"
    return cal


def select_stars(catalog, x, y, shape, *, margin: float, isolation_px: float,
                 neighbour_fraction: float = 0.01, exclude_xy=(), max_stars: int = 30) -> np.ndarray:
    """Indices of catalogue stars fit to calibrate on, brightest first.

    Parameters
    ----------
    catalog : pandas.DataFrame
        OU2024 truth-catalogue columns ``obj_type`` and ``flux`` (expected counts) of every
        object on the image, stars and others.
    x, y : ndarray
        0-based pixel positions of the catalogue rows in the image.
    shape : (ny, nx)
        Image shape.
    margin : float
        Minimum distance [px] from the image edge (the aperture's annulus and the fit box).
    isolation_px : float
        No other object brighter than ``neighbour_fraction`` of the star within this radius
        [px], and no ``exclude_xy`` position (the transients being measured).
    max_stars : int
        Keep at most this many (the brightest).
    """
    ny, nx = shape
    flux = catalog["flux"].to_numpy(dtype=float)
    star = (catalog["obj_type"].to_numpy() == "star") & np.isfinite(flux) & (flux > 0)
    inside = (x >= margin) & (x <= nx - 1 - margin) & (y >= margin) & (y <= ny - 1 - margin)
    cand = np.flatnonzero(star & inside)
    ex = np.asarray(list(exclude_xy), dtype=float).reshape(-1, 2)
    out = []
    for i in cand[np.argsort(-flux[cand])]:
        d2 = (x - x[i]) ** 2 + (y - y[i]) ** 2
        near = (d2 < isolation_px**2) & (flux > neighbour_fraction * flux[i])
        near[i] = False
        if near.any():
            continue
        if len(ex) and np.any((ex[:, 0] - x[i]) ** 2 + (ex[:, 1] - y[i]) ** 2 < isolation_px**2):
            continue
        out.append(i)
        if len(out) >= max_stars:
            break
    return np.array(out, dtype=int)


def zptimg_variance(sci_var, kernel) -> np.ndarray:
    """Per-pixel variance of the science image convolved with ``kernel`` (independent pixels)."""
    from scipy.signal import fftconvolve

    v = np.where(np.isfinite(sci_var), sci_var, np.nan)
    return fftconvolve(np.nan_to_num(v, nan=0.0), np.asarray(kernel) ** 2, mode="same")


def calibrate_image(sci, sci_header, catalog, pairs, psf_getter, *, cfg: dict, phot: dict,
                    exclude_radec=(), star_factor=None, log=None) -> dict:
    """Calibration of one science image for each of its templates.

    Parameters
    ----------
    sci : 2-D ndarray
        Sky-subtracted science image [counts] (for the saturation check).
    sci_header : astropy.io.fits.Header
        Its header (WCS in the image's own frame).
    catalog : pandas.DataFrame
        Truth-catalogue rows (``ra``, ``dec``, ``flux``, ``obj_type``) of the image.
    pairs : dict
        ``{template name: {"zptimg", "var", "kernel"}}``: the pair's decorrelated,
        cross-convolved science image, its variance, and the kernel that maps the science
        PSF to the difference's PSF (normalised template PSF ⊗ decorrelation kernel).
    psf_getter : callable
        ``psf_getter(x, y)``: the science PSF drawn at (x, y)'s sub-pixel phase.
    cfg : dict
        Config ``calibration`` section (``reference``, ``aperture_radius``, ``annulus``,
        ``isolation``, ``min_stars``, ``min_snr``, ``max_stars``).
    phot : dict
        Config ``photometry`` section (``fit_shape``, ``local_bkg``, ``weights``).
    exclude_radec : sequence of (ra, dec)
        The objects being measured (kept out of the star list).
    star_factor : callable, optional
        ``star_factor(i, x, y, peff, pair)``: the PSF fit's measured / true flux of catalogue
        star ``i`` for its own SED relative to the model's (:mod:`romandia.chromatic`); its
        reference flux is multiplied by it, so the ratio is the model's error alone.

    Returns
    -------
    dict
        ``{template name: Calibration}``.
    """
    from .constants import SATURATION_LEVEL
    from .convolve import kernel_convolve
    from .io import header_wcs, sky_to_pixel

    w = header_wcs(sci_header)
    x, y = sky_to_pixel(w, catalog["ra"].to_numpy(dtype=float), catalog["dec"].to_numpy(dtype=float))
    ex = [sky_to_pixel(w, ra, dec) for ra, dec in exclude_radec]
    scale = float(np.sqrt(abs(np.linalg.det(w.pixel_scale_matrix)))) * 3600.0  # arcsec/px
    annulus = tuple(float(a) for a in cfg["annulus"])
    half = (int(phot["fit_shape"]) - 1) / 2
    idx = select_stars(catalog, x, y, sci.shape, margin=annulus[1] + 2,
                       isolation_px=float(cfg["isolation"]) / scale, exclude_xy=ex,
                       max_stars=int(cfg["max_stars"]))
    stars = []  # (index, x, y, psf) of unsaturated candidates
    for i in idx:
        ix, iy = int(round(x[i])), int(round(y[i]))
        box = sci[max(iy - int(half) - 2, 0): iy + int(half) + 3, max(ix - int(half) - 2, 0): ix + int(half) + 3]
        if np.nanmax(box) >= SATURATION_LEVEL:
            continue
        stars.append((i, x[i], y[i], psf_getter(x[i], y[i])))
    if log:
        log(f"{len(idx)} isolated catalogue stars, {len(stars)} unsaturated")
    out = {}
    for name, p in pairs.items():
        meas = []
        for i, sx, sy, psf in stars:
            peff = kernel_convolve(psf, p["kernel"])
            ref = float(catalog["flux"].iloc[i]) if cfg["reference"] == "catalog" else None
            chrom = 1.0 if star_factor is None else float(star_factor(i, sx, sy, peff, p))
            m = measure_star(p["zptimg"], p["var"], peff, sx, sy, fit_shape=int(phot["fit_shape"]),
                             local_bkg=tuple(phot["local_bkg"]) if phot["local_bkg"] else None,
                             weights=phot.get("weights", "background"),
                             radius=float(cfg["aperture_radius"]), annulus=annulus,
                             ref_flux=None if ref is None else ref * chrom, min_snr=float(cfg["min_snr"]))
            if ref is None and math.isfinite(m.ref_flux):  # an aperture flux: the star's true flux
                m.ref_flux, m.ref_err = m.ref_flux * chrom, m.ref_err * chrom
            m.chrom = chrom
            meas.append(m)
        out[name] = combine(meas, min_stars=int(cfg["min_stars"]))
        if log:
            c = out[name]
            log(f"{name}: {c.status}, ratio {c.ratio:.4f} ± {c.ratio_err:.4f} from {c.n_stars} stars "
                f"({c.n_clipped} clipped, chi2_nu {c.chi2_nu:.2f})")
    return out


def apply(flux: float, flux_err: float, cal: Calibration | dict | None) -> tuple[float, float]:
    """``(flux / ratio, error)`` with the ratio's error added in quadrature; unchanged when the
    calibration is missing or unmeasured."""
    if cal is None:
        return flux, flux_err
    c = cal if isinstance(cal, dict) else asdict(cal)
    if c.get("status") != "measured":
        return flux, flux_err
    r, re = float(c["ratio"]), float(c["ratio_err"])
    f = flux / r
    return f, math.hypot(flux_err / r, f * re / r)


def pool_unmeasured(df):
    """Calibrate a lightcurve's unmeasured rows with the pooled ratio of its measured images.

    Cutouts often hold too few isolated stars.  A PSF model's flux error depends mostly on the
    band (the model's physics), little on the image, so rows whose image could not be
    measured get the weighted mean ratio of the lightcurve's measured (science, template)
    pairs, its error inflated by the Birge ratio of their scatter, and ``calib_status``
    ``"pooled from N images (<why unmeasured>)"``.  Rows stay as they are when nothing was
    measured.

    Parameters
    ----------
    df : pandas.DataFrame
        One lightcurve (:func:`romandia.lightcurve.merge_rows`) with the ``flux_uncal``,
        ``flux_err_uncal`` and ``calib_*`` columns.

    Returns
    -------
    pandas.DataFrame
        A copy with ``flux``, ``flux_err``, ``mag``, ``mag_err`` and ``calib_*`` updated.
    """
    from .lightcurve import _instrumental_mag

    out = df.copy()
    st = out["calib_status"].astype(str)
    meas = out[st == "measured"].drop_duplicates(["science_name", "template_name"])
    todo = st.str.startswith("unmeasured") & out["success"].astype(bool) & np.isfinite(out["flux_uncal"])
    if meas.empty or not todo.any():
        return out
    mean, err, _ = _birge_mean(meas["calib_ratio"].to_numpy(float), meas["calib_ratio_err"].to_numpy(float))
    cal = {"status": "measured", "ratio": mean, "ratio_err": err}
    for i in np.flatnonzero(todo.to_numpy()):
        idx = out.index[i]
        f, e = apply(float(out.at[idx, "flux_uncal"]), float(out.at[idx, "flux_err_uncal"]), cal)
        out.at[idx, "flux"], out.at[idx, "flux_err"] = f, e
        out.at[idx, "mag"], out.at[idx, "mag_err"] = _instrumental_mag(f, e)
        out.at[idx, "calib_ratio"], out.at[idx, "calib_ratio_err"] = mean, err
        out.at[idx, "calib_nstars"] = int(meas["calib_nstars"].sum())
        why = str(out.at[idx, "calib_status"]).removeprefix("unmeasured: ")
        out.at[idx, "calib_status"] = f"pooled from {len(meas)} images ({why})"
    return out
