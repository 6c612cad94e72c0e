"""Per-object SEDs (``image.psf.sed: per_object``): every object has its own spectrum, as in
OU2024, where stars, galaxies and SNe each carried their own SED through the chromatic PSF
(``../shared/reference/chromatic.md``).

SED models (all unnormalised; the band counts are set per object and band):

* **stars**: a Planck blackbody, ``f_lambda ∝ lambda^-5 / (exp(hc / lambda k T) - 1)``
  (:func:`romandia.simulate.psf.sed` ``blackbody:T``, tabulated 100-3000 nm).  ``T`` is drawn
  log-uniform in ``scene.star_temperature`` [K] (default 3500-10000: M to A dwarfs; no
  luminosity function behind it, just an even spread of colours) and put on a fixed grid of
  :data:`TEMPERATURE_STEP` in ``ln T`` (centres ``1000 K exp(0.012 k)``).  The star *is* at
  that grid temperature: its magnitudes and its drawing use the same ``T``, so nothing is
  approximated; the grid only lets the stars of one temperature share an effective PSF per
  PSF grid cell (:mod:`.sedrender`; it pays on full SCAs, not on small cut-outs) and the
  check below says it costs no realism.
* **galaxies** (field galaxies and SN hosts): galsim's Coleman-Wu-Weedman templates extended
  by Bolzonella et al. (2000) (``galsim/share/SEDs/CWW_{E,Sbc,Scd,Im}_ext.sed``, f_lambda at
  rest-frame wavelengths 9.1-2205 nm), continued redward of 2205 nm as ``lambda^-4``
  (Rayleigh-Jeans; only reached for ``z < 0.1`` in K213), redshifted.  Field galaxies: the
  template uniform among ``scene.galaxy_templates``, ``z`` uniform in ``scene.galaxy_z``
  (default 0.1-1.5) rounded to 0.01 (the galaxy is at the rounded ``z``); hosts: the template
  uniform likewise, ``z`` = their SN's redshift (a SNANA-truth SN without a redshift gets a
  field galaxy's).  Bulge and disk share the one SED (no colour gradient).
* **SNe**: the SN's spectrum at each epoch (:func:`transient_sed`): for ``hsiao`` lightcurves
  sncosmo's ``hsiao-subsampled`` model at the SN's redshift (with host dust if the lightcurve
  has ``host_ebv``), with the amplitude of its truth lightcurve; for ``snana_hdf5`` lightcurves
  the truth file's own ``lambda`` / ``flambda`` (per MJD, linear in MJD between rows) where it
  has them (OU2024's files do), else the hsiao spectrum at the lightcurve's ``z``
  (``t0 = peak_mjd``), else (no ``z``) the flat photon SED.

Magnitudes are AB, photon-counting through galsim.roman's bandpasses with their AB zeropoints:
the convention of :data:`romandia.constants.GALSIM_ZEROPOINT` and so of the images'
zeropoints.  A catalogue object's ``mag`` is its magnitude in :data:`REFERENCE_BAND` (J129,
the band where :func:`romandia.simulate.scene.band_mag`'s linear colour vanishes, so the
reference magnitudes mean the same in both modes); in band ``b`` it is
``mag + m_b(SED) - m_J129(SED)`` and the catalogue's ``color`` is not used.  An SN's band
magnitudes stay those of its truth lightcurve; its SED only shapes its PSF (the drawing
normalises the SED to the truth counts in the band).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import galsim
import numpy as np

from romandia.constants import BANDS
from romandia.simulate.config import SED_SCENE_DEFAULTS
from romandia.simulate.psf import bandpasses, charge_diffusion_kernel
from romandia.simulate.psf import sed as named_sed
from romandia.simulate.scene import Catalog, stable_seed

#: Band of the catalogue's reference magnitude ``mag``.
REFERENCE_BAND = "J129"
#: Width of the stars' temperature grid in ln T.  Check (:func:`temperature_step_check`,
#: ``python -m romandia.simulate.seds``, 2 min; galsim 2.8.4, SCA 7 at (1500, 2300), PA 30,
#: a flat-photon-SED model PSF fitted to blackbody stars in a 5x5 box, no noise, 13
#: temperatures 3300-10600 K): the PSF-fit flux changes with ln T by at most (%/unit ln T,
#: all at 3300 K, the cool end) R062 2.47, Y106 1.13, J129 1.10, H158 0.92, F184 0.39 for a
#: star centred on a pixel (at a sub-pixel offset (0.3, 0.7): R062 2.21, Z087 0.97, Y106
#: 0.89, J129 0.76, H158 0.70, F184 0.34, K213 0.29); so a star anywhere in a bin (half-width
#: 0.006) is fitted within 2.47 % x 0.006 = 0.015 % (R062; Y106 0.007 %, H158 0.006 %) of its
#: bin centre's flux: < 0.02 %.
TEMPERATURE_STEP = 0.012
#: galsim's galaxy templates by short name.
GALAXY_TEMPLATES = {"E": "CWW_E_ext.sed", "Sbc": "CWW_Sbc_ext.sed", "Scd": "CWW_Scd_ext.sed",
                    "Im": "CWW_Im_ext.sed"}
#: Scene keys of the per-object mode and their defaults (merged only in that mode).
SCENE_DEFAULTS = SED_SCENE_DEFAULTS
#: Rounding of field-galaxy redshifts.
Z_STEP = 0.01


def grid_temperature(t_kelvin):
    """The temperature grid's centre [K] nearest to ``t_kelvin`` (``1000 exp(0.012 k)``)."""
    k = np.round(np.log(np.asarray(t_kelvin, dtype="float64") / 1000.0) / TEMPERATURE_STEP)
    return np.round(1000.0 * np.exp(k * TEMPERATURE_STEP), 1)


@functools.lru_cache(maxsize=512)
def star_sed(temperature: float) -> galsim.SED:
    """Blackbody SED of a star at ``temperature`` [K] (f_lambda, max 1)."""
    return named_sed(f"blackbody:{float(temperature):.1f}")


@functools.lru_cache(maxsize=8)
def _template_table(template: str) -> galsim.LookupTable:
    """Rest-frame f_lambda of a CWW template [nm -> arbitrary], continued as lambda^-4."""
    if template not in GALAXY_TEMPLATES:
        raise ValueError(f"unknown galaxy template '{template}'; use one of "
                         f"{sorted(GALAXY_TEMPLATES)}")
    path = f"{galsim.meta_data.share_dir}/SEDs/{GALAXY_TEMPLATES[template]}"
    wave_a, flam = np.loadtxt(path, comments="#", unpack=True)
    wave = wave_a / 10.0  # nm
    tail = np.geomspace(wave[-1] * 1.05, 6000.0, 24)
    wave = np.concatenate([wave, tail])
    flam = np.concatenate([flam, flam[-1] * (tail / (wave_a[-1] / 10.0)) ** -4])
    return galsim.LookupTable(wave, flam, interpolant="linear")


@functools.lru_cache(maxsize=2048)
def galaxy_sed(template: str, z: float) -> galsim.SED:
    """CWW template ``template`` (``E``, ``Sbc``, ``Scd``, ``Im``) redshifted to ``z``."""
    return galsim.SED(_template_table(template), wave_type="nm",
                      flux_type="flambda").atRedshift(float(z))


def ab_mag(sed: galsim.SED, band: str) -> float:
    """AB magnitude of ``sed`` in ``band`` (photon counting, galsim's AB zeropoint)."""
    return float(sed.calculateMagnitude(bandpasses()[band]))


@functools.lru_cache(maxsize=8192)
def _colour(key: tuple, band: str) -> float:
    """``m_band - m_REFERENCE_BAND`` [mag] of the catalogue SED ``key``."""
    s = _sed_of_key(key)
    return ab_mag(s, band) - ab_mag(s, REFERENCE_BAND)


def _sed_of_key(key: tuple) -> galsim.SED:
    if key[0] == "blackbody":
        return star_sed(key[1])
    return galaxy_sed(key[1], key[2])


def _describe(key: tuple) -> str:
    if key[0] == "blackbody":
        return f"blackbody:{key[1]:.1f}"
    return f"{GALAXY_TEMPLATES[key[1]]} z={key[2]:.4f}"


@dataclass
class SceneSEDs:
    """The SED of every catalogue object (aligned with the :class:`~.scene.Catalog`).

    Attributes
    ----------
    keys : list of tuple
        ``("blackbody", T [K])`` or ``("cww", template, z)`` per catalogue row.
    kinds : list of str
        ``star``, ``galaxy`` or ``host``.
    """

    keys: list
    kinds: list

    def sed(self, i: int) -> galsim.SED:
        """The (cached, unnormalised) SED of catalogue row ``i``."""
        return _sed_of_key(self.keys[i])

    def band_mags(self, ref_mags, rows, band: str) -> np.ndarray:
        """AB magnitudes in ``band`` of catalogue ``rows`` with reference magnitudes
        ``ref_mags`` (the catalogue's ``mag``, in :data:`REFERENCE_BAND`)."""
        col = np.array([_colour(self.keys[i], band) for i in rows], dtype="float64")
        return np.asarray(ref_mags, dtype="float64") + col


def assign_seds(catalog: Catalog, transients: list, scene_cfg: dict, seed: int) -> SceneSEDs:
    """Draw every catalogue object's SED (module docstring), deterministic in ``seed``.

    Parameters
    ----------
    catalog : Catalog
        Stars, field galaxies and hosts (hosts are the rows whose id is a transient's
        ``host["host_id"]``).
    transients : list of Transient
        For the hosts' redshifts (``sed_model["z"]``, else the SNANA row's ``z_CMB``).
    scene_cfg : dict
        ``scene`` section with ``star_temperature`` [K], ``galaxy_z`` and
        ``galaxy_templates`` (:data:`SCENE_DEFAULTS`).
    seed : int
        Run seed (the draws use their own stream: the catalogue is the same as in the
        single-SED modes).
    """
    cfg = {**SCENE_DEFAULTS, **{k: v for k, v in scene_cfg.items() if v is not None}}
    n = len(catalog)
    rng = np.random.default_rng(stable_seed(seed, "seds"))
    t_lo, t_hi = (float(v) for v in cfg["star_temperature"])
    temps = grid_temperature(np.exp(rng.uniform(math.log(t_lo), math.log(t_hi), size=n)))
    templates = list(cfg["galaxy_templates"])
    tidx = rng.integers(0, len(templates), size=n)
    z_lo, z_hi = (float(v) for v in cfg["galaxy_z"])
    zs = np.round(rng.uniform(z_lo, z_hi, size=n) / Z_STEP) * Z_STEP
    host_z = {}
    host_ids = {int(t.host["host_id"]) for t in transients if t.host}
    for t in transients:
        if t.host:
            z = _transient_z(t)
            if z is not None:
                host_z[int(t.host["host_id"])] = z
    keys, kinds = [], []
    for i in range(n):
        oid = int(catalog.object_id[i])
        if catalog.kind[i] == "star":
            keys.append(("blackbody", float(temps[i])))
            kinds.append("star")
            continue
        z = host_z.get(oid, round(float(zs[i]), 4))
        keys.append(("cww", templates[int(tidx[i])], z))
        kinds.append("host" if oid in host_ids else "galaxy")
    return SceneSEDs(keys, kinds)


def _transient_z(t) -> float | None:
    sm = getattr(t, "sed_model", None) or {}
    z = sm.get("z")
    if z is None:
        z = t.params.get("z_CMB")
    return float(z) if z is not None and np.isfinite(z) and z > 0 else None


# ----------------------------------------------------------------------------- SNe
@functools.lru_cache(maxsize=64)
def _hsiao(z: float, t0: float, amplitude: float, host_ebv: float):
    from romandia.simulate.lightcurves import hsiao_model

    return hsiao_model(z, t0, amplitude, host_ebv)


def _band_wave(band: str) -> np.ndarray:
    """1-nm grid [nm] covering ``band`` (the SN spectra are smooth on 5-nm scales)."""
    bp = bandpasses()[band]
    return np.arange(math.floor(bp.blue_limit) - 1.0, math.ceil(bp.red_limit) + 1.5, 1.0)


def _table_sed(wave_nm: np.ndarray, flam_per_a: np.ndarray) -> galsim.SED | None:
    f = np.clip(np.nan_to_num(np.asarray(flam_per_a, dtype="float64")), 0.0, None)
    if not np.any(f > 0):
        return None
    # galsim's 'flambda' with wave_type 'nm' is erg s^-1 cm^-2 nm^-1: 10x the per-A values
    return galsim.SED(galsim.LookupTable(np.asarray(wave_nm, dtype="float64"), f * 10.0,
                                         interpolant="linear"),
                      wave_type="nm", flux_type="flambda")


def hsiao_sed(z: float, t0: float, amplitude: float, host_ebv: float, mjd: float,
              band: str) -> galsim.SED | None:
    """The hsiao-subsampled spectrum at ``mjd`` across ``band``, observer frame, in absolute
    f_lambda (its AB magnitude in the band is the truth lightcurve's); ``None`` outside the
    model's phase range (-20 ... +85 rest-frame days) or where it has no flux."""
    model = _hsiao(float(z), float(t0), float(amplitude), float(host_ebv or 0.0))
    if not model.mintime() <= mjd <= model.maxtime():
        return None
    wave = _band_wave(band)
    return _table_sed(wave, model.flux(float(mjd), wave * 10.0))


def snana_sed(datasets: dict, mjd: float, band: str) -> galsim.SED | None:
    """A SNANA truth file's spectrum at ``mjd`` (``lambda`` [A], ``flambda`` [erg s^-1 cm^-2
    A^-1] per ``mjd`` row, linear in MJD); ``None`` outside its MJDs or where it has no flux
    in ``band`` or does not cover the band."""
    lam = np.asarray(datasets["lambda"], dtype="float64") / 10.0  # nm
    flam = np.asarray(datasets["flambda"], dtype="float64")
    t = np.asarray(datasets["mjd"], dtype="float64")
    bp = bandpasses()[band]
    if not (t[0] <= mjd <= t[-1]) or lam[0] > bp.blue_limit or lam[-1] < bp.red_limit:
        return None
    j = int(np.clip(np.searchsorted(t, mjd), 1, len(t) - 1))
    w = (mjd - t[j - 1]) / (t[j] - t[j - 1]) if t[j] > t[j - 1] else 0.0
    row = (1.0 - w) * flam[j - 1] + w * flam[j]
    inband = (lam >= bp.blue_limit) & (lam <= bp.red_limit)
    if not np.any(row[inband] > 0):
        return None
    return _table_sed(lam, row)


def transient_sed(t, mjd: float, band: str) -> tuple[galsim.SED, str]:
    """``(sed, description)`` of SN ``t`` at ``mjd`` in ``band`` (module docstring).

    The description names the source actually used; the flat photon SED stands in where the
    model has no spectrum (outside its phase range: there the truth counts are ~0 anyway).
    """
    sm = getattr(t, "sed_model", None) or {}
    ds = t.hdf5_datasets or {}
    s = None
    if sm.get("model") == "hsiao":
        s = hsiao_sed(sm["z"], sm["t0"], sm["amplitude"], sm.get("host_ebv", 0.0), mjd, band)
        desc = "hsiao"
    elif "lambda" in ds and "flambda" in ds:
        s = snana_sed(ds, mjd, band)
        desc = "snana_flambda"
    else:
        z = _transient_z(t)
        if z is not None:
            s = hsiao_sed(z, float(t.params["peak_mjd"]), 1.0, 0.0, mjd, band)
        desc = "hsiao_fallback"
    if s is None:
        return named_sed("flat"), f"{desc}:none->flat"
    return s, desc


def describe_transient(t) -> dict:
    """One :func:`sed_table` row's SED fields for SN ``t``."""
    sm = getattr(t, "sed_model", None) or {}
    ds = t.hdf5_datasets or {}
    if sm.get("model") == "hsiao":
        d = (f"hsiao-subsampled z={sm['z']:.4f} t0={sm['t0']:.3f} amplitude={sm['amplitude']:.6g}"
             f" host_ebv={sm.get('host_ebv', 0.0):.3f}")
        return dict(sed=d, z=float(sm["z"]), host_ebv=float(sm.get("host_ebv", 0.0)))
    z = _transient_z(t)
    if "lambda" in ds and "flambda" in ds:
        return dict(sed="snana_hdf5 lambda/flambda per MJD", z=z if z else math.nan,
                    host_ebv=math.nan)
    if z is not None:
        return dict(sed=f"hsiao-subsampled z={z:.4f} t0={float(t.params['peak_mjd']):.3f} "
                        "(fallback: no flambda in the SNANA file)", z=z, host_ebv=0.0)
    return dict(sed="flat (no flambda and no z)", z=math.nan, host_ebv=math.nan)


def sed_table(catalog: Catalog, seds: SceneSEDs, transients: list, bands=BANDS):
    """The ``seds.parquet`` table: one row per catalogue object and SN.

    Columns: ``object_id``, ``kind`` (star | galaxy | host | transient), ``sed`` (a
    description), ``temperature`` [K] (stars), ``template`` (galaxies), ``z``, ``host_ebv``
    [mag] (SNe), ``mag_<band>`` [AB] (catalogue objects; NaN for SNe, whose magnitudes are
    their truth lightcurves in the SNANA files).
    """
    import pandas as pd

    rows = []
    for i in range(len(catalog)):
        key = seds.keys[i]
        row = dict(object_id=int(catalog.object_id[i]), kind=seds.kinds[i], sed=_describe(key),
                   temperature=key[1] if key[0] == "blackbody" else math.nan,
                   template=key[1] if key[0] == "cww" else "",
                   z=key[2] if key[0] == "cww" else math.nan, host_ebv=math.nan)
        for b in bands:
            row[f"mag_{b}"] = float(catalog.mag[i]) + _colour(key, b)
        rows.append(row)
    for t in transients:
        row = dict(object_id=int(t.id), kind="transient", temperature=math.nan, template="",
                   **describe_transient(t))
        for b in bands:
            row[f"mag_{b}"] = math.nan
        rows.append(row)
    cols = ["object_id", "kind", "sed", "temperature", "template", "z", "host_ebv"] + \
        [f"mag_{b}" for b in bands]
    return pd.DataFrame(rows, columns=cols)


def temperature_step_check(bands=("R062", "Y106", "J129", "H158", "F184"), n_temps: int = 13,
                           sca: int = 7, sca_pos=(1500.0, 2300.0)) -> dict:
    """PSF-fit flux of blackbody stars against ``ln T``: the check behind
    :data:`TEMPERATURE_STEP` (~1 s per temperature and band).

    A model PSF for the flat photon SED is fitted (least squares, 5x5 box, no noise) to stars
    of 3300-10600 K at the same position (OU2024's effective PSF: n_waves 5, charge diffusion,
    pixel; SCA ``sca``, PA 30 deg, MJD 62650).

    Returns
    -------
    dict
        ``{band: (temperatures [K], fitted/true flux, d(fitted/true)/d ln T)}``.
    """
    import galsim.roman as groman

    from romandia.simulate.pointings import synthetic_exposure

    exp = synthetic_exposure("H158", 0, sca, 30.0, 62650.0, (7.6, -44.5), tuple(sca_pos),
                             "science")
    pos = galsim.PositionD(*sca_pos)
    local = exp.wcs.local(pos)
    temps = np.exp(np.linspace(math.log(3300.0), math.log(10600.0), n_temps))
    out = {}
    for band in bands:
        bp = bandpasses()[band]
        optics = groman.getPSF(sca, band, SCA_pos=pos, pupil_bin=8, wcs=exp.wcs, n_waves=5)
        det = local.toWorld(galsim.Convolve(charge_diffusion_kernel(), galsim.Pixel(1.0)))

        def box(s, bp=bp, optics=optics, det=det):
            prof = galsim.Convolve(galsim.DeltaFunction() * s.withFlux(1.0, bp), optics, det)
            return prof.drawImage(bp, nx=25, ny=25, center=pos, wcs=local, method="no_pixel",
                                  dtype=np.float64).array[10:15, 10:15]

        model = box(named_sed("flat"))
        ratio = np.array([(model * box(star_sed(float(t)))).sum() / (model**2).sum()
                          for t in temps])
        out[band] = (temps, ratio, np.gradient(ratio, np.log(temps)))
    return out


if __name__ == "__main__":  # pragma: no cover
    for b, (t, _ratio, d) in temperature_step_check().items():
        worst = float(np.abs(d).max())
        print(f"{b}: max |d(fit/true)/d lnT| = {100 * worst:.3f} % at "
              f"{t[np.argmax(np.abs(d))]:.0f} K; half a step ({TEMPERATURE_STEP / 2}): "
              f"{100 * worst * TEMPERATURE_STEP / 2:.4f} %")
