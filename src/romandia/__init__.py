"""romandia: Roman SN difference-imaging photometry (phrosty's science) as a Snakemake workflow.

Array conventions used throughout the package
---------------------------------------------
* Images are 2-D arrays indexed ``[y, x]`` (row = y), as returned by ``astropy.io.fits``.
* Pixel coordinates are **0-based** with (0, 0) at the centre of the first pixel, as in
  astropy's ``world_to_pixel``. FITS/galsim/truth-file coordinates are 1-based; the
  conversion is always explicit (``x0 = x_fits - 1``).
* Fluxes are in counts (= e-, gain 1) accumulated over the exposure, as in OU2024.
"""

__version__ = "0.1.0"
