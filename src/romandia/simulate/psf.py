"""The effective PSF OU2024 drew with, shared by the simulator and the workflow's galsim provider.

OU2024 (``shared/data/ou2024/tds.yaml``, roman_imsim) drew every object through
``roman_psf`` with ``n_waves: 5`` and the ``ChargeDiff`` photon operator.  The effective PSF
of a point source here is the same chain, written with galsim directly:

``Convolve(getPSF(sca, band, SCA_pos, pupil_bin, wcs, n_waves) x SED,
ChargeDiff, Pixel)`` drawn through the band's bandpass,

* **optics**: ``galsim.roman.getPSF`` (Cycle-9 pupil and aberrations interpolated across the
  SCA), rotated into world coordinates by the local WCS, so it varies with band, SCA, position
  and roll angle; chromatic (``InterpolatedChromaticObject`` over ``n_waves`` wavelengths) or,
  with ``n_waves=None``, monochromatic at the band's effective wavelength (romandia before
  December 2026: 14-20 % low PSF-fit fluxes on OU2024-like data, docs/validation.md);
* **SED**: flat in photons per nm by default (snappl's ``Flat_SED``, what phrosty's ``ou24PSF``
  uses); others by name (:func:`sed`), or the source's own (``source_sed`` of
  :func:`effective_psf`; the simulator's ``image.psf.sed: per_object``, :mod:`.seds`);
* **charge diffusion**: roman_imsim's ``ChargeDiff`` moves each photon by a draw from three
  Gaussians (weights 0.17519, 0.53146, 0.29335; sigmas 0.4522, 0.8050, 1.4329 x 0.3279 px) in
  the *pixel* frame; as a profile that is the normalised sum of those Gaussians, mapped to the
  sky through the local WCS (:func:`charge_diffusion_kernel`);
* **pixel response**: the unit pixel through the local WCS (its true shape on the sky).

:class:`PSFModel` holds these choices plus two deliberate perturbations the validation uses to
test a pipeline whose PSF model is wrong: ``width_scale`` (dilates the optical PSF) and
``mirror`` (flips the optical PSF about the SCA x axis, what galsim 2.8.5's "Flip to WFI
coords", GalSim PR #1363, does to the pupil relative to 2.8.4, the version OU2024 used).

Two drawing paths:

* **direct** (``oversample=None`` in :func:`roman_psf_stamp`; SN injection in
  :func:`draw_point_source`): the chromatic profile drawn through the bandpass at the stamp
  (0.16 s for a 41-px stamp, ~1 s for a 319-px SN stamp, after the optics).
* **interpolated** (``oversample=k``, the default of :func:`roman_psf_stamp`): the effective
  profile drawn once ``k`` times oversampled in a ``box_arcsec`` box and wrapped as a
  ``galsim.InterpolatedImage``, cached per (band, SCA, position, local WCS, model)
  (:func:`effective_interpolated_image`: 0.07-0.15 s to build at ``k = 6``, < 1 ms per later
  stamp); it matches the direct draw to < 3e-4 of the peak inside the box
  (tests/test_psf_model.py).  The chromatic optics (``getPSF`` with ``n_waves=5``) cost
  0.2-0.3 s per position and are the bulk of a PSF's cost.  The box
  truncates the far wings (0.7-1.0 % of the flux in R062, 2.2 % in H158 outside 7.04"):
  stamps drawn from it are exact only inside the box, which holds the workflow's 41-px stamps
  and every star of the simulator's grid.

Pixel coordinates: functions take **0-based** positions in the frame of the WCS they are given
(:data:`romandia` convention).  galsim's ``SCA_pos`` is 1-based and in full-SCA coordinates; a
written cutout's header has ``ROMX0``/``ROMY0`` (0-based SCA pixel of array pixel [0, 0]) and
galsim's ``GS_XMIN``/``GS_YMIN``, which :func:`sca_wcs_from_header` uses to go back to SCA
coordinates.

Importing this module only imports galsim; the bandpasses are loaded on first use and
``galsim.roman``'s global ``max_sun_angle`` is not touched.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping

import galsim
import galsim.roman as groman
import numpy as np

#: Nominal pixel scale [arcsec].
PIXEL_SCALE = groman.pixel_scale
#: Default pupil binning for getPSF (8: 0.1-0.4 s per PSF; 4 is ~5x slower, see simulation.md).
DEFAULT_PUPIL_BIN = 8
#: Default oversampling and box of the interpolated (grid) PSFs.  6: the interpolated PSF
#: matches the direct draw to 2.6e-4 (R062) / 4e-5 (H158) of the peak; 4 (romandia before
#: December 2026): 1.7e-3 / 4.3e-4 (R062's bluest light is barely Nyquist-sampled at 4x).
DEFAULT_OVERSAMPLE = 6
DEFAULT_BOX_ARCSEC = 7.04
#: roman_imsim's ChargeDiff (photonOps.py): weights and sigmas [px] of its three Gaussians.
CHARGE_DIFFUSION_WEIGHTS = (0.17519, 0.53146, 0.29335)
CHARGE_DIFFUSION_SIGMAS = tuple(f * 0.3279 for f in (0.4522, 0.8050, 1.4329))
#: Names :func:`sed` accepts besides ``blackbody:<T in K>``.
SED_NAMES = ("flat", "flat_fnu", "flat_flambda", "vega")


@dataclasses.dataclass(frozen=True)
class PSFModel:
    """How the effective PSF is made; the defaults are OU2024's.

    Attributes
    ----------
    n_waves : int or None
        Wavelengths of the chromatic interpolation (OU2024: 5); ``None`` or 0: monochromatic at
        the band's effective wavelength.
    sed : str
        SED of the point source (:func:`sed`); ignored when monochromatic.
    charge_diffusion : bool
        Convolve with roman_imsim's charge diffusion (OU2024: yes).
    pupil_bin : int
        Pupil-plane binning of ``getPSF`` (8).
    width_scale : float
        Dilation of the optical PSF (1: none).  Only for tests of model errors.
    mirror : bool
        Mirror the optical PSF about the SCA x axis (galsim 2.8.5's orientation relative to
        OU2024's 2.8.4).  Only for tests of model errors.
    """

    n_waves: int | None = 5
    sed: str = "flat"
    charge_diffusion: bool = True
    pupil_bin: int = DEFAULT_PUPIL_BIN
    width_scale: float = 1.0
    mirror: bool = False

    @classmethod
    def from_params(cls, params: Mapping | None, where: str = "psf.params") -> PSFModel:
        """A model from config keys (the fields' names); other keys are ignored.

        Raises ``ValueError`` naming ``where.<key>`` for a value of the wrong kind.
        """
        p = dict(params or {})
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name in p and p[f.name] is not None:
                kw[f.name] = p[f.name]
            elif f.name == "n_waves" and "n_waves" in p:
                kw["n_waves"] = None
        try:
            m = cls(**kw)
            m.validate()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        return m

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field that is out of range."""
        if self.n_waves is not None and (not isinstance(self.n_waves, int) or self.n_waves < 0):
            raise ValueError(f"n_waves must be a non-negative integer or null, got {self.n_waves!r}")
        if self.pupil_bin not in (1, 2, 4, 8):
            raise ValueError(f"pupil_bin must be 1, 2, 4 or 8, got {self.pupil_bin!r}")
        if not (isinstance(self.width_scale, (int, float)) and 0.5 <= self.width_scale <= 2.0):
            raise ValueError(f"width_scale must be a number in [0.5, 2], got {self.width_scale!r}")
        if not isinstance(self.charge_diffusion, bool) or not isinstance(self.mirror, bool):
            raise ValueError("charge_diffusion and mirror must be true or false")
        if self.chromatic:
            sed(self.sed)  # raises for an unknown name

    @property
    def chromatic(self) -> bool:
        return bool(self.n_waves)

    def describe(self) -> str:
        """One line for logs and headers."""
        parts = [f"n_waves={self.n_waves or 'mono'}"]
        if self.chromatic:
            parts.append(f"sed={self.sed}")
        parts.append(f"charge_diffusion={self.charge_diffusion}")
        if self.width_scale != 1.0:
            parts.append(f"width_scale={self.width_scale:g}")
        if self.mirror:
            parts.append("mirror")
        return ", ".join(parts)


#: romandia's December-2026-and-earlier model: monochromatic, no charge diffusion.
LEGACY_MODEL = PSFModel(n_waves=None, charge_diffusion=False)


@functools.lru_cache(maxsize=1)
def bandpasses() -> dict:
    """``galsim.roman.getBandpasses(AB_zeropoint=True)``, loaded once (~0.4 s)."""
    return groman.getBandpasses(AB_zeropoint=True)


@functools.lru_cache(maxsize=16)
def sed(name: str) -> galsim.SED:
    """A point source's SED by name (unnormalised; the flux is set per band when drawing).

    ``flat``: constant in photons per nm (the ``Flat_SED`` of snappl's ``ou24PSF`` and
    roman_imsim's trivial SED, i.e. what phrosty's ou24PSF draws with); ``flat_fnu``: constant
    f_nu (AB-flat); ``flat_flambda``: constant f_lambda (bluer); ``vega``: galsim's Vega
    spectrum; ``blackbody:T``: a Planck spectrum at ``T`` kelvin (e.g. ``blackbody:3500``).
    The flat ones are analytic: a two-point LookupTable in f_nu would be converted to photons
    by linear interpolation between its two points, a 0.4 % error in the PSF's peak.
    """
    flat = {"flat": "fphotons", "flat_fnu": "fnu", "flat_flambda": "flambda"}
    if name in flat:
        return galsim.SED("1", wave_type="nm", flux_type=flat[name])
    if name == "vega":
        return galsim.SED("vega.txt", wave_type="nm", flux_type="flambda")
    if name.startswith("blackbody:"):
        try:
            t = float(name.split(":", 1)[1])
        except ValueError:
            t = -1.0
        if not 500.0 <= t <= 1e5:
            raise ValueError(f"sed '{name}': the temperature must be 500-100000 K, e.g. blackbody:3500")
        wave = np.linspace(100.0, 3000.0, 2901)  # nm
        hc_kt = 1.4387769e7 / t  # hc/k in nm K
        flam = wave**-5 / np.expm1(hc_kt / wave)
        return galsim.SED(galsim.LookupTable(wave, flam / flam.max(), interpolant="linear"),
                          wave_type="nm", flux_type="flambda")
    raise ValueError(f"unknown sed '{name}'; use one of {SED_NAMES} or blackbody:<T>")


def charge_diffusion_kernel() -> galsim.GSObject:
    """roman_imsim's charge diffusion as a profile in **pixel** units (unit flux)."""
    return galsim.Sum([galsim.Gaussian(sigma=s, flux=w)
                       for w, s in zip(CHARGE_DIFFUSION_WEIGHTS, CHARGE_DIFFUSION_SIGMAS, strict=True)])


def sca_wcs_from_header(header) -> tuple[galsim.GSFitsWCS, tuple[int, int]]:
    """galsim WCS in full-SCA coordinates from an image header written by the simulator / OU2024.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict-like
        TAN-SIP header whose ``CRPIX`` refers to the file's own pixel frame.  The SCA position of
        the file's first pixel comes from ``ROMX0``/``ROMY0`` (0-based SCA pixel of array pixel
        ``[0, 0]``; kept up to date by the workflow's cropping) if present, else from galsim's
        ``GS_XMIN``/``GS_YMIN`` (1-based), else the file is a full SCA.

    Returns
    -------
    tuple
        ``(wcs, (dx, dy))``: ``wcs`` maps 1-based **SCA** pixels to the sky; an array pixel
        ``(x, y)`` (0-based) is at SCA position ``(x + 1 + dx, y + 1 + dy)``.
    """
    h = {k: header[k] for k in header.keys() if k not in ("", "COMMENT", "HISTORY")}
    if "ROMX0" in h or "ROMY0" in h:
        dx, dy = int(h.get("ROMX0", 0)), int(h.get("ROMY0", 0))
    else:
        dx, dy = int(h.get("GS_XMIN", 1)) - 1, int(h.get("GS_YMIN", 1)) - 1
    w = galsim.GSFitsWCS(header=h)
    if dx or dy:
        w = w.shiftOrigin(galsim.PositionD(dx, dy))
    return w, (dx, dy)


def _as_sca_wcs(wcs, x: float, y: float, sca_offset) -> tuple[galsim.BaseWCS, galsim.PositionD]:
    """(SCA-frame wcs, 1-based SCA position) for a 0-based position in the frame of ``wcs``."""
    if isinstance(wcs, galsim.BaseWCS) or _is_astropy_wcs(wcs):
        if _is_astropy_wcs(wcs):
            wcs = galsim.GSFitsWCS(header=dict(wcs.to_header(relax=True)))
        dx, dy = sca_offset if sca_offset is not None else (0, 0)
        if dx or dy:
            wcs = wcs.shiftOrigin(galsim.PositionD(dx, dy))
    else:  # a FITS header
        wcs, (dx, dy) = sca_wcs_from_header(wcs)
    return wcs, galsim.PositionD(float(x) + 1.0 + dx, float(y) + 1.0 + dy)


def _is_astropy_wcs(obj) -> bool:
    return type(obj).__name__ == "WCS" and type(obj).__module__.startswith("astropy.wcs")


def get_psf(band: str, sca: int, sca_pos: galsim.PositionD, wcs: galsim.BaseWCS,
            pupil_bin: int = DEFAULT_PUPIL_BIN) -> galsim.GSObject:
    """The monochromatic galsim.roman optical PSF (world coordinates, unit flux, no pixel).

    At the band's effective wavelength; used for stamp sizes and by the benches.  ``sca_pos``
    is the **1-based** full-SCA position (galsim ``SCA_pos``); ``wcs`` is in full-SCA pixels
    (its local Jacobian at ``sca_pos`` rotates the PSF).
    """
    return groman.getPSF(int(sca), band, SCA_pos=sca_pos, pupil_bin=int(pupil_bin), wcs=wcs,
                         wavelength=bandpasses()[band])


def _mirror_matrix(local: galsim.JacobianWCS) -> np.ndarray:
    """World-frame matrix of a flip of the SCA y axis: J diag(1, -1) J^-1."""
    j = local.getMatrix()
    return j @ np.diag([1.0, -1.0]) @ np.linalg.inv(j)


def optics_and_detector(band: str, sca: int, sca_pos: galsim.PositionD, wcs: galsim.BaseWCS,
                        model: PSFModel = PSFModel()):
    """The two factors of :func:`effective_psf`: the optics and the detector kernel.

    Parameters are as for :func:`effective_psf`.

    Returns
    -------
    tuple
        ``(optics, detector)``: the galsim.roman optical PSF in world coordinates (chromatic,
        an ``InterpolatedChromaticObject`` over ``model.n_waves`` wavelengths, or monochromatic
        at the band's effective wavelength), with the model's perturbations; and the pixel
        response (x charge diffusion) mapped to the sky by the local WCS (achromatic, unit
        flux).  A source of SED ``S`` is ``Convolve(profile * S, optics, detector)`` drawn
        through the bandpass with ``method='no_pixel'`` (:mod:`romandia.simulate.sedrender`
        draws every object so with its own SED).
    """
    bp = bandpasses()[band]
    local = wcs.local(sca_pos)
    if model.chromatic:
        optics = groman.getPSF(int(sca), band, SCA_pos=sca_pos, pupil_bin=int(model.pupil_bin),
                               wcs=wcs, n_waves=int(model.n_waves))
    else:
        optics = groman.getPSF(int(sca), band, SCA_pos=sca_pos, pupil_bin=int(model.pupil_bin),
                               wcs=wcs, wavelength=bp)
    if model.width_scale != 1.0:
        optics = optics.dilate(float(model.width_scale))
    if model.mirror:
        m = _mirror_matrix(local)
        optics = optics.transform(m[0, 0], m[0, 1], m[1, 0], m[1, 1])
    detector = galsim.Pixel(1.0)
    if model.charge_diffusion:
        detector = galsim.Convolve(charge_diffusion_kernel(), detector)
    detector = local.toWorld(detector)
    return optics, detector


def effective_psf(band: str, sca: int, sca_pos: galsim.PositionD, wcs: galsim.BaseWCS,
                  model: PSFModel = PSFModel(), source_sed: galsim.SED | None = None):
    """The effective PSF of a point source (world coordinates, unit flux in the band).

    Parameters
    ----------
    band, sca : str, int
        Roman band and SCA (1-18).
    sca_pos : galsim.PositionD
        **1-based** full-SCA position.
    wcs : galsim.BaseWCS
        WCS in full-SCA pixels (or a local Jacobian valid at ``sca_pos``).
    model : PSFModel
        Optics, SED, charge diffusion (module docstring).
    source_sed : galsim.SED, optional
        The point source's own SED (any normalisation; it must cover the band), instead of
        ``model.sed`` (the simulator's ``per_object`` mode); ignored when monochromatic.

    Returns
    -------
    galsim.GSObject or galsim.ChromaticObject
        Optics x SED (x charge diffusion) x pixel, unit flux in the band; draw it with
        :func:`draw_profile` (``method='no_pixel'``: the pixel is already in).
    """
    bp = bandpasses()[band]
    optics, detector = optics_and_detector(band, sca, sca_pos, wcs, model)
    if model.chromatic:
        s = sed(model.sed) if source_sed is None else source_sed
        source = galsim.DeltaFunction() * s.withFlux(1.0, bp)
        return galsim.Convolve(source, optics, detector)
    return galsim.Convolve(optics, detector)


def draw_profile(prof, band: str, **kwargs) -> galsim.Image:
    """Draw an effective PSF (:func:`effective_psf`) with ``method='no_pixel'``; chromatic
    profiles through the band's bandpass."""
    kwargs.setdefault("method", "no_pixel")
    if isinstance(prof, galsim.ChromaticObject):
        return prof.drawImage(bandpasses()[band], **kwargs)
    return prof.drawImage(**kwargs)


def _optical_maxk(band: str, model: PSFModel) -> float:
    """Upper bound [1/arcsec] of the optical PSF's Fourier support: 2 pi D / lambda_min."""
    lam = bandpasses()[band].blue_limit * 1e-9  # m
    return 2.0 * math.pi / (lam / groman.diameter * 206264.806) / float(model.width_scale)


def _local_key(local: galsim.JacobianWCS) -> tuple:
    return tuple(round(float(v), 12) for v in local.getMatrix().ravel())


def effective_interpolated_image(band: str, sca: int, sca_pos: galsim.PositionD,
                                 wcs: galsim.BaseWCS, model: PSFModel = PSFModel(),
                                 oversample: int = DEFAULT_OVERSAMPLE,
                                 box_arcsec: float = DEFAULT_BOX_ARCSEC) -> galsim.InterpolatedImage:
    """The effective PSF drawn ``oversample`` times oversampled in a ``box_arcsec`` box, as an
    InterpolatedImage (draw with ``method='no_pixel'``); cached per band, SCA, position, local
    WCS and model.

    Its flux is the fraction of the PSF inside the box (never renormalised): scale it with
    ``* flux``, never ``withFlux``.
    """
    local = wcs.local(sca_pos)
    return _cached_ii(band, int(sca), round(float(sca_pos.x), 6), round(float(sca_pos.y), 6),
                      _local_key(local), model, int(oversample), float(box_arcsec))


@functools.lru_cache(maxsize=256)
def _cached_ii(band, sca, x, y, jac, model, oversample, box_arcsec):
    local = galsim.JacobianWCS(*jac)
    pos = galsim.PositionD(x, y)
    prof = effective_psf(band, sca, pos, local, model)
    return interpolate_profile(prof, band, model, oversample, box_arcsec)


def interpolate_profile(prof, band: str, model: PSFModel, oversample: int, box_arcsec: float,
                        find_maxk: bool = True) -> galsim.InterpolatedImage:
    """An effective PSF (:func:`effective_psf`, chromatic or not) drawn ``oversample`` times
    oversampled in a ``box_arcsec`` box [arcsec] as a quintic ``InterpolatedImage`` (what
    :func:`effective_interpolated_image` caches).

    ``find_maxk=False`` skips galsim's maxk scan (0.1-0.2 s) and sets maxk to the optical
    cutoff: for an image only drawn in real space (``method='no_pixel'``, as stars are), where
    maxk is never used.
    """
    scale = PIXEL_SCALE / oversample
    n = int(round(box_arcsec / scale))
    n += n % 2
    im = draw_profile(prof, band, nx=n, ny=n, scale=scale)
    cap = _optical_maxk(band, model)
    if not find_maxk:
        return galsim.InterpolatedImage(im, x_interpolant="quintic", normalization="flux",
                                        pad_factor=2, _force_maxk=cap)
    ii = galsim.InterpolatedImage(im, x_interpolant="quintic", normalization="flux", pad_factor=2)
    # Nothing exists beyond the optical cutoff (D/lambda), but the maxk estimated from the
    # truncated, interpolated image can exceed it (e.g. 71 vs 48.5 /arcsec in H158 for a pixel
    # rotated by 50 deg), which doubles the cost of every FFT convolution: cap it.
    if ii.maxk > cap:
        ii = galsim.InterpolatedImage(im, x_interpolant="quintic", normalization="flux",
                                      pad_factor=2, _force_maxk=cap)
    return ii


def interpolated_from_array(array: np.ndarray, *, oversample: int, maxk: float,
                            stepk: float) -> galsim.InterpolatedImage:
    """Rebuild an interpolated effective PSF (:func:`effective_interpolated_image`) from its
    image, ``maxk`` and ``stepk`` [1/arcsec], as a file stores them: the same profile, with no
    maxk scan (0.1-0.2 s) and no optics.

    Parameters
    ----------
    array : ndarray
        ``ii.image.array`` of the original (``[y, x]``, pixel scale ``PIXEL_SCALE /
        oversample`` arcsec).
    oversample : int
        Its oversampling factor.
    maxk, stepk : float
        ``ii.maxk``, ``ii.stepk`` of the original [1/arcsec].
    """
    im = galsim.Image(np.ascontiguousarray(array, dtype=np.float64), scale=PIXEL_SCALE / int(oversample))
    return galsim.InterpolatedImage(im, x_interpolant="quintic", normalization="flux", pad_factor=2,
                                    _force_maxk=float(maxk), _force_stepk=float(stepk))


def interpolated_psf_at(band: str, sca: int, x: float, y: float, wcs, *,
                        oversample: int = DEFAULT_OVERSAMPLE, box_arcsec: float = DEFAULT_BOX_ARCSEC,
                        sca_offset=None, model: PSFModel = PSFModel()) -> galsim.InterpolatedImage:
    """The interpolated effective PSF :func:`roman_psf_stamp` draws from at the 0-based
    position (x, y) of the frame of ``wcs`` (arguments as there; cached)."""
    wcs_sca, pos = _as_sca_wcs(wcs, x, y, sca_offset)
    return effective_interpolated_image(band, sca, pos, wcs_sca, model, oversample, box_arcsec)


def sn_stamp_size(band: str, sca: int, sca_pos: galsim.PositionD, wcs: galsim.BaseWCS,
                  pupil_bin: int = DEFAULT_PUPIL_BIN) -> int:
    """Odd stamp size [pixels] for a direct-drawn point source.

    galsim's optical PSF is computed on a periodic grid of ``2 pi / stepk`` (9.4" in R062 ...
    31" in K213 at the effective wavelength).  A stamp of 1.5x that (129 px in R062, 215 in
    Y106, 319 in H158, 423 in K213 with ``pupil_bin=8``) holds > 99.5 % of the chromatic
    effective PSF's flux (R062 0.996, H158 0.998; the monochromatic one to 1e-4).
    """
    psf = get_psf(band, sca, sca_pos, wcs, pupil_bin)
    n = int(math.ceil(1.5 * (2.0 * math.pi / psf.stepk) / PIXEL_SCALE))
    return n + 1 - n % 2


def roman_psf_stamp(band: str, sca: int, x: float, y: float, wcs, size: int | None = None,
                    oversample: int | None = DEFAULT_OVERSAMPLE,
                    box_arcsec: float = DEFAULT_BOX_ARCSEC, sca_offset=None,
                    offset=(0.0, 0.0), model: PSFModel = PSFModel(),
                    interpolated: galsim.InterpolatedImage | None = None) -> np.ndarray:
    """Centred effective PSF stamp at an image position, in that image's pixel frame.

    Parameters
    ----------
    band : str
        Roman band, e.g. ``"R062"``.
    sca : int
        SCA number 1-18.
    x, y : float
        **0-based** pixel position in the frame of ``wcs`` (for a written file: its array
        coordinates, ``[y, x]`` indexing); it sets the aberrations and the local distortion and
        rotation.  The PSF is drawn centred on the central pixel (plus ``offset``), not at the
        sub-pixel position of (x, y).
    wcs : astropy.io.fits.Header, galsim.BaseWCS or astropy.wcs.WCS
        The FITS header of the image (preferred: cutouts are handled through
        ``ROMX0``/``ROMY0`` or ``GS_XMIN``/``GS_YMIN``, see :func:`sca_wcs_from_header`), or a
        galsim / astropy WCS of the frame of (x, y), with ``sca_offset`` for cutouts.
    size : int, optional
        Odd stamp side [pixels].  Default: :func:`sn_stamp_size` (direct drawing only).
    oversample : int or None
        ``k`` (default 4): from the cached interpolated effective PSF
        (:func:`effective_interpolated_image`; the stamp must fit in ``box_arcsec``).
        ``None``: draw the effective PSF directly (~1 s per stamp when chromatic).
    box_arcsec : float
        Box of the oversampled image.
    sca_offset : tuple of int, optional
        ``(dx, dy)`` = 0-based SCA pixel of the frame's pixel ``[0, 0]`` (SCA position = frame
        position + offset), for a galsim / astropy WCS of a cutout; ignored for headers.
    offset : tuple of float
        ``(dx, dy)`` shift [pixels] of the PSF centre from the central pixel's centre, e.g. the
        sub-pixel part of a source position for forced photometry.
    model : PSFModel
        Default: OU2024's effective PSF (chromatic, flat f_nu, charge diffusion, pixel).
    interpolated : galsim.InterpolatedImage, optional
        Draw from this interpolated PSF (:func:`interpolated_from_array`: one made at (x, y)
        elsewhere) instead of the cached one at (x, y); (x, y) still sets the local WCS.

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` float64 array indexed ``[y, x]``, PSF centre at ``[size//2, size//2]``
        (+ ``offset``), pixel response included, drawn for unit **total** flux (sum = enclosed
        fraction <= 1, never renormalised).

    Raises
    ------
    ValueError
        If ``size`` is even or < 3, or (interpolated) the stamp is larger than the box.
    """
    wcs_sca, pos = _as_sca_wcs(wcs, x, y, sca_offset)
    if size is None:
        if oversample is not None:
            raise ValueError("give the stamp size when drawing from the interpolated PSF")
        size = sn_stamp_size(band, sca, pos, wcs_sca, model.pupil_bin)
    size = int(size)
    if size < 3 or size % 2 == 0:
        raise ValueError(f"PSF stamp size must be odd and >= 3, got {size}")
    local = wcs_sca.local(pos)
    off = (float(offset[0]), float(offset[1]))
    if oversample is None:
        prof = effective_psf(band, sca, pos, wcs_sca, model)
        im = draw_profile(prof, band, nx=size, ny=size, wcs=local, dtype=np.float64, offset=off)
    else:
        if size * PIXEL_SCALE > box_arcsec * 1.02:
            raise ValueError(f"a {size}-px stamp does not fit in the {box_arcsec}\" box of the "
                             "interpolated PSF; use a smaller stamp or oversample=None")
        ii = interpolated
        if ii is None:
            ii = effective_interpolated_image(band, sca, pos, wcs_sca, model, oversample, box_arcsec)
        im = ii.drawImage(nx=size, ny=size, wcs=local, method="no_pixel", dtype=np.float64,
                          offset=off)
    return np.asarray(im.array, dtype="float64")


def psf_grid_size(nx: int, ny: int) -> int:
    """Automatic PSF grid (n x n) for an image: 1 for <= 512 px, 2 for <= 1024, 3 for <= 2048, else 4."""
    n = max(nx, ny)
    if n <= 512:
        return 1
    if n <= 1024:
        return 2
    if n <= 2048:
        return 3
    return 4


def grid_centres(bounds: galsim.BoundsI, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres ``(xc, yc)`` (1-based SCA pixels) of an ``n`` x ``n`` grid over ``bounds``."""
    w = bounds.xmax - bounds.xmin + 1
    h = bounds.ymax - bounds.ymin + 1
    xc = bounds.xmin - 0.5 + (np.arange(n) + 0.5) * w / n
    yc = bounds.ymin - 0.5 + (np.arange(n) + 0.5) * h / n
    return xc, yc


def grid_stamp_size(box_arcsec: float) -> int:
    """Odd stamp side [px] that holds a whole ``box_arcsec`` interpolated PSF at any rotation
    (the local pixel scale is ~0.108")."""
    s = int(math.ceil(box_arcsec * math.sqrt(2.0) / 0.105)) + 2
    return s + 1 - s % 2


class PSFGrid:
    """An n x n grid of interpolated effective PSFs over an image; objects use the nearest.

    Parameters
    ----------
    band, sca : str, int
        Band and SCA.
    bounds : galsim.BoundsI
        Image bounds in 1-based full-SCA coordinates.
    wcs : galsim.BaseWCS
        Full-SCA WCS.
    n : int
        Grid size per axis (cell centres).
    oversample, box_arcsec
        See :func:`effective_interpolated_image`.
    model : PSFModel
        The effective PSF (default OU2024's).
    """

    def __init__(self, band, sca, bounds, wcs, n, oversample=DEFAULT_OVERSAMPLE,
                 box_arcsec=DEFAULT_BOX_ARCSEC, model: PSFModel = PSFModel()):
        self.n = int(n)
        self.xc, self.yc = grid_centres(bounds, self.n)
        self.psfs = []
        for yc in self.yc:
            row = []
            for xc in self.xc:
                p = galsim.PositionD(float(xc), float(yc))
                row.append(effective_interpolated_image(band, sca, p, wcs, model, oversample,
                                                        box_arcsec))
            self.psfs.append(row)
        self.stamp_size = grid_stamp_size(box_arcsec)

    def nearest(self, x: float, y: float) -> galsim.InterpolatedImage:
        """Grid PSF (x pixel) nearest to the 1-based SCA position (x, y)."""
        i = int(np.argmin(np.abs(self.yc - y)))
        j = int(np.argmin(np.abs(self.xc - x)))
        return self.psfs[i][j]


def draw_point_source(band: str, sca: int, pos: galsim.PositionD, wcs: galsim.BaseWCS,
                      flux: float, model: PSFModel = PSFModel(),
                      source_sed: galsim.SED | None = None) -> galsim.Image:
    """Draw a point source with the exact (direct) effective PSF at its position, as for SNe.

    Parameters
    ----------
    band, sca : str, int
        Band and SCA.
    pos : galsim.PositionD
        **1-based** full-SCA position of the source.
    wcs : galsim.BaseWCS
        Full-SCA WCS.
    flux : float
        Total counts [e-].
    model : PSFModel
        The effective PSF (default OU2024's).
    source_sed : galsim.SED, optional
        The source's own SED instead of ``model.sed`` (:func:`effective_psf`); ``flux`` stays
        the total counts in the band.

    Returns
    -------
    galsim.Image
        Stamp of :func:`sn_stamp_size` pixels (bounds in SCA coordinates) with the source at
        ``pos``, pixel response included; its sum is ``flux`` times the enclosed fraction
        (> 0.995).
    """
    prof = effective_psf(band, sca, pos, wcs, model, source_sed) * float(flux)
    n = sn_stamp_size(band, sca, pos, wcs, model.pupil_bin)
    return draw_profile(prof, band, nx=n, ny=n, center=pos, wcs=wcs.local(pos), dtype=np.float64)
