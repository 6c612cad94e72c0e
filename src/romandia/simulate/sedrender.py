"""Drawing objects with their own SEDs (``image.psf.sed: per_object``, :mod:`.seds`).

Every object is drawn by galsim's own chromatic machinery with its own SED:
``galsim.Convolve(profile * SED, optics, detector).drawImage(bandpass, method='no_pixel')``,
``optics`` being galsim.roman's chromatic ``getPSF(n_waves)`` and ``detector`` the charge
diffusion x pixel kernel in world coordinates (:func:`.psf.optics_and_detector`).  Nothing
here combines per-wavelength PSF images itself: the simulator stays independent of the
pipeline's chromatic correction (``romandia.chromatic``), which does.

* **optics per cell**: the image's PSF grid (:func:`.psf.psf_grid_size` cells, as in the
  single-SED mode) keeps each cell's chromatic optics and detector kernel (``getPSF`` with
  ``n_waves`` costs 0.2-0.3 s per cell); stars and galaxies use the nearest cell's optics,
  on their own local WCS.
* **stars**: the point source ``DeltaFunction * SED`` through the cell's optics, drawn 6x
  oversampled in the grid's 7.04" box as an ``InterpolatedImage`` (the single-SED grid PSF,
  for this star's SED), cached per (cell, temperature): the stars of one temperature bin
  (:data:`.seds.TEMPERATURE_STEP`) in one cell share it.  ~1 s per new (cell, SED) on this
  project's machine: galsim folds the SED into the optics as an ``InterpolatedImage`` ~23"
  wide at half the Nyquist scale, whose maxk scan and padded FFT are most of that.
* **galaxies**: ``Convolve(galaxy * SED, optics, detector)`` drawn directly (galsim folds the
  SED into an effective PSF in the same way, then convolves by FFT): ~1 s per galaxy.

An image of N stars and galaxies thus takes ~N s more than with one SED for all (where a star
costs ~5 ms and a galaxy ~15 ms); the SN's direct draw (~2 s in H158) is the same in both.
* **SNe**: as in the single-SED mode (:func:`.psf.draw_point_source`: the exact optics at the
  SN's position, a stamp holding > 99.5 % of the flux), with the epoch's SED.
"""

from __future__ import annotations

import galsim
import numpy as np

from romandia.simulate.psf import (
    DEFAULT_BOX_ARCSEC,
    DEFAULT_OVERSAMPLE,
    PSFModel,
    bandpasses,
    grid_centres,
    grid_stamp_size,
    interpolate_profile,
    optics_and_detector,
)


class ChromaticCells:
    """The chromatic optics of an n x n grid of cells over one image, for per-object SEDs.

    Parameters
    ----------
    band, sca : str, int
        Band and SCA.
    bounds : galsim.BoundsI
        Image bounds in 1-based full-SCA coordinates.
    wcs : galsim.BaseWCS
        Full-SCA WCS.
    n : int
        Cells per axis.
    model : PSFModel
        Optics and detector settings (its ``sed`` is not used; ``n_waves`` must be > 0).
    oversample, box_arcsec : int, float
        Of the stars' interpolated PSFs (:func:`.psf.interpolate_profile`).
    """

    def __init__(self, band: str, sca: int, bounds: galsim.BoundsI, wcs: galsim.BaseWCS,
                 n: int, model: PSFModel, oversample: int = DEFAULT_OVERSAMPLE,
                 box_arcsec: float = DEFAULT_BOX_ARCSEC):
        if not model.chromatic:
            raise ValueError("per-object SEDs need a chromatic PSF (n_waves > 0)")
        self.band, self.sca, self.model = band, int(sca), model
        self.oversample, self.box_arcsec = int(oversample), float(box_arcsec)
        self.bandpass = bandpasses()[band]
        self.xc, self.yc = grid_centres(bounds, int(n))
        self.cells = {}
        for i, yc in enumerate(self.yc):
            for j, xc in enumerate(self.xc):
                p = galsim.PositionD(float(xc), float(yc))
                self.cells[i, j] = optics_and_detector(band, self.sca, p, wcs, model)
        self.stamp_size = grid_stamp_size(self.box_arcsec)
        self._stars: dict = {}

    def nearest(self, x: float, y: float) -> tuple[int, int]:
        """Index of the cell nearest to the 1-based SCA position (x, y)."""
        return int(np.argmin(np.abs(self.yc - y))), int(np.argmin(np.abs(self.xc - x)))

    def star_psf(self, x: float, y: float, key, sed: galsim.SED) -> galsim.InterpolatedImage:
        """Effective PSF (unit flux in the band, box-truncated) of a point source of SED
        ``sed`` in the cell nearest (x, y); cached per (cell, ``key``)."""
        cell = self.nearest(x, y)
        k = (cell, key)
        if k not in self._stars:
            optics, detector = self.cells[cell]
            prof = galsim.Convolve(galsim.DeltaFunction() * sed.withFlux(1.0, self.bandpass),
                                   optics, detector)
            self._stars[k] = interpolate_profile(prof, self.band, self.model, self.oversample,
                                                 self.box_arcsec, find_maxk=False)
        return self._stars[k]

    def draw_star(self, pos: galsim.PositionD, local: galsim.JacobianWCS, key,
                  sed: galsim.SED, counts: float) -> galsim.Image:
        """Stamp (grid stamp size) of a star of ``counts`` [e-] at ``pos`` (1-based SCA)."""
        psf = self.star_psf(pos.x, pos.y, key, sed)
        n = self.stamp_size
        return (psf * float(counts)).drawImage(nx=n, ny=n, center=pos, wcs=local,
                                               method="no_pixel", dtype=np.float64)

    def draw_galaxy(self, profile: galsim.GSObject, sed: galsim.SED, counts: float,
                    pos: galsim.PositionD, local: galsim.JacobianWCS, size: int) -> galsim.Image:
        """Stamp (``size`` px) of a galaxy ``profile`` (world coordinates, any flux) times
        ``sed``, ``counts`` [e-] in the band, through the nearest cell's optics."""
        optics, detector = self.cells[self.nearest(pos.x, pos.y)]
        chrom = (profile * sed).withFlux(float(counts), self.bandpass)
        return galsim.Convolve(chrom, optics, detector).drawImage(
            self.bandpass, nx=size, ny=size, center=pos, wcs=local, method="no_pixel",
            dtype=np.float64)
