"""Chromatic correction: PSF-fit fluxes of sources whose SED is not the PSF model's.

romandia's PSF model (galsim's chromatic Roman PSF, :mod:`romandia.simulate.psf`) is made for
one SED (``psf.params.sed``, flat in photons per nm as phrosty's ``ou24PSF``).  A source of
another SED has another effective PSF, and the fit of the model returns a flux off by a
colour-dependent factor (``shared/reference/chromatic.md``: +0.25 ... +1.0 % for stars, −1.2
... +3.1 % for SNe Ia in H158).  The field-star calibration removes the stars' mean factor,
not the supernova's difference from the stars.

Modules
-------
:mod:`~romandia.chromatic.seds`
    SEDs as photon spectra, their weights on the PSF's wavelength grid, AB colours, the
    power-law slope of a colour.
:mod:`~romandia.chromatic.basis`
    The per-wavelength PSF basis at an object (galsim), stored in the prepare product.
:mod:`~romandia.chromatic.response`
    What the forced fit returns for each basis PSF through the difference's kernels.
:mod:`~romandia.chromatic.template`
    A SN Ia spectral template (sncosmo's hsiao) fitted to the object's lightcurve at its
    host's redshift: its SED at each epoch.
:mod:`~romandia.chromatic.estimate`
    The supernova's SED from its own colours or the template, and the lightcurve's correction.
"""
