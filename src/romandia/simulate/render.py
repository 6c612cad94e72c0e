"""Rendering of the noiseless source image of one exposure (stars, galaxies, SNe).

Every object is drawn with OU2024's effective PSF (chromatic optics x SED, charge diffusion,
pixel; :mod:`.psf`, configured by ``image.psf``: ``n_waves``, ``sed``, ``charge_diffusion``).
With one SED for all (``image.psf.sed`` a name, default ``flat``):

* Stars: the nearest grid PSF (oversampled InterpolatedImage of the effective PSF) times the
  star's counts, drawn on the local WCS Jacobian at the star (so distortion and
  rotation follow the real WCS).
* Galaxies: de Vaucouleurs bulge + exponential disk, sheared, in world coordinates, convolved
  (FFT) with the nearest grid PSF.
* SNe: a point source with the exact effective PSF at the SN position, drawn directly
  (:func:`.psf.draw_point_source`), total counts
  ``10**(-0.4 (truth_mag(mjd) - zeropoint))``, stamp large enough to hold > 99.8 % of the flux.

With ``image.psf.sed: per_object`` every object has its own SED (:mod:`.seds`: blackbody
stars, CWW galaxies, the SN's spectrum at the epoch) and is drawn through the chromatic optics
with it (:mod:`.sedrender`); star and galaxy band counts follow from their SEDs, the SN's from
its truth lightcurve as above.

Every drawn object yields a truth row: ``flux`` = expected counts, ``realized_flux`` = sum of its
noiseless stamp (including any part falling off the image), ``x``, ``y`` = 1-based position in
the written image's frame.
"""

from __future__ import annotations

import math

import galsim
import numpy as np

from romandia.constants import GALSIM_ZEROPOINT, zeropoint, zptmag
from romandia.ou2024 import mag_to_counts, truth_mag
from romandia.simulate.config import PER_OBJECT
from romandia.simulate.pointings import Exposure, in_bounds
from romandia.simulate.psf import PIXEL_SCALE, PSFGrid, PSFModel, draw_point_source, psf_grid_size
from romandia.simulate.scene import Catalog, band_mag

#: Largest galaxy stamp [px].
MAX_GALAXY_STAMP = 193


def _add_stamp(image: galsim.Image, stamp: galsim.Image) -> None:
    b = stamp.bounds & image.bounds
    if b.isDefined():
        image[b] += stamp[b]


def _galaxy_profile(cat: Catalog, i: int, flux: float) -> galsim.GSObject:
    bf = float(cat.bulge_frac[i])
    comps = []
    if bf > 0:
        comps.append(galsim.DeVaucouleurs(half_light_radius=float(cat.hlr_bulge[i]),
                                          flux=bf * flux))
    if bf < 1:
        comps.append(galsim.Exponential(half_light_radius=float(cat.hlr_disk[i]),
                                        flux=(1 - bf) * flux))
    gal = comps[0] if len(comps) == 1 else galsim.Add(comps)
    e1, e2 = float(cat.e1[i]), float(cat.e2[i])
    if e1 or e2:
        gal = gal.shear(e1=e1, e2=e2)
    return gal


def _galaxy_stamp_size(hlr: float) -> int:
    n = int(math.ceil(2 * (3.0 * hlr + 2.0) / PIXEL_SCALE))
    n = min(max(n, 33), MAX_GALAXY_STAMP)
    return n + 1 - n % 2


def render_sources(exp: Exposure, catalog: Catalog, transients: list, psf_cfg: dict,
                   draw_margin: float = 16.0,
                   seds=None) -> tuple[np.ndarray, list[dict], dict]:
    """Noiseless source counts of one exposure.

    Parameters
    ----------
    exp : Exposure
        With ``bounds`` set.
    catalog : Catalog
        Stars, galaxies and hosts (all fields).
    transients : list of Transient
        SNe (``id, ra, dec, mjd, mags``; see :mod:`.core`).
    psf_cfg : dict
        ``image.psf`` section (``pupil_bin``, ``oversample``, ``box_arcsec``, ``grid``,
        ``n_waves``, ``sed``, ``charge_diffusion``).
    draw_margin : float
        Objects whose centre is up to this many pixels outside the image are drawn too.
    seds : romandia.simulate.seds.SceneSEDs, optional
        The catalogue's SEDs; required with ``psf_cfg["sed"] == "per_object"``.

    Returns
    -------
    tuple
        ``(sources, truth_rows, info)``: ``[y, x]`` float64 counts; truth row dicts (x, y
        1-based in the image frame); info with the SN injection details per transient id
        (with ``sed``, the SN SED's source, in the per-object mode).
    """
    b = exp.bounds
    wcs = exp.wcs
    band = exp.band
    zpt = zptmag(exp.exptime)
    zp = zeropoint(band, zpt)
    gs_zp = GALSIM_ZEROPOINT[band]
    image = galsim.ImageD(b, init_value=0.0)
    nx, ny = b.xmax - b.xmin + 1, b.ymax - b.ymin + 1
    ngrid = psf_cfg.get("grid") or psf_grid_size(nx, ny)
    per_object = psf_cfg.get("sed") == PER_OBJECT
    if per_object:
        from romandia.simulate.sedrender import ChromaticCells

        if seds is None and len(catalog):
            raise ValueError("render_sources: image.psf.sed is per_object but no SEDs given")
        # the model's own SED is never used in this mode; "flat" passes its validation
        model = PSFModel.from_params({**psf_cfg, "sed": "flat"}, where="image.psf")
        cells = ChromaticCells(band, exp.sca, b, wcs, ngrid, model, psf_cfg["oversample"],
                               psf_cfg["box_arcsec"])
    else:
        model = PSFModel.from_params(psf_cfg, where="image.psf")
        grid = PSFGrid(band, exp.sca, b, wcs, ngrid, psf_cfg["oversample"],
                       psf_cfg["box_arcsec"], model)
    rows: list[dict] = []
    dx0, dy0 = b.xmin - 1, b.ymin - 1

    if len(catalog):
        x, y = exp.radec_to_sca(catalog.ra, catalog.dec)
        sel = np.flatnonzero(in_bounds(x, y, b, -draw_margin))
        if per_object:
            mags = seds.band_mags(catalog.mag[sel], sel, band)
        else:
            mags = band_mag(catalog.mag[sel], catalog.color[sel], band)
        counts = mag_to_counts(mags, zp)
        for k, i in enumerate(sel):
            pos = galsim.PositionD(float(x[i]), float(y[i]))
            local = wcs.local(pos)
            flux = float(counts[k])
            if catalog.kind[i] == "star":
                if per_object:
                    stamp = cells.draw_star(pos, local, seds.keys[i], seds.sed(i), flux)
                else:
                    n = grid.stamp_size
                    psf = grid.nearest(pos.x, pos.y)
                    stamp = (psf * flux).drawImage(nx=n, ny=n, center=pos, wcs=local,
                                                   method="no_pixel", dtype=np.float64)
                otype = "star"
            else:
                n = _galaxy_stamp_size(max(catalog.hlr_disk[i], catalog.hlr_bulge[i]))
                if per_object:
                    gal = _galaxy_profile(catalog, i, 1.0)
                    stamp = cells.draw_galaxy(gal, seds.sed(i), flux, pos, local, n)
                else:
                    gal = _galaxy_profile(catalog, i, flux)
                    psf = grid.nearest(pos.x, pos.y)
                    stamp = galsim.Convolve(gal, psf).drawImage(
                        nx=n, ny=n, center=pos, wcs=local, method="no_pixel", dtype=np.float64)
                otype = "galaxy"
            _add_stamp(image, stamp)
            rows.append(dict(object_id=int(catalog.object_id[i]), ra=float(catalog.ra[i]),
                             dec=float(catalog.dec[i]), x=pos.x - dx0, y=pos.y - dy0,
                             realized_flux=float(stamp.array.sum()), flux=flux,
                             mag=-2.5 * math.log10(flux) + gs_zp if flux > 0 else math.inf,
                             obj_type=otype))

    info = {}
    for t in transients:
        tx, ty = exp.radec_to_sca(t.ra, t.dec)
        pos = galsim.PositionD(float(tx[0]), float(ty[0]))
        if not in_bounds(pos.x, pos.y, b, -draw_margin):
            continue
        mag_ab = truth_mag(t.mjd, t.mags[band], exp.mjd) if band in t.mags else math.inf
        flux = mag_to_counts(mag_ab, zp)
        sn_sed, sed_desc = None, None
        if per_object:
            from romandia.simulate.seds import transient_sed

            sn_sed, sed_desc = transient_sed(t, exp.mjd, band)
        if flux > 0:
            stamp = draw_point_source(band, exp.sca, pos, wcs, flux, model, sn_sed)
            _add_stamp(image, stamp)
            realized = float(stamp.array.sum())
            nea = realized**2 / float((stamp.array**2).sum())
        else:
            realized, nea = 0.0, None
        rows.append(dict(object_id=int(t.id), ra=float(t.ra), dec=float(t.dec), x=pos.x - dx0,
                         y=pos.y - dy0, realized_flux=realized, flux=flux,
                         mag=-2.5 * math.log10(flux) + gs_zp if flux > 0 else math.inf,
                         obj_type="transient"))
        info[int(t.id)] = dict(mag_ab=mag_ab, flux=flux, realized_flux=realized,
                               x=pos.x - dx0, y=pos.y - dy0, nea=nea)
        if per_object:
            info[int(t.id)]["sed"] = sed_desc
    return image.array, rows, info
