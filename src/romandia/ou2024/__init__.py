"""The OpenUniverse 2024 (OU2024) Roman TDS layout: paths, file names, truth catalogues, obseq.

Used by both the simulator (:mod:`romandia.simulate`, which writes this layout) and the
workflow (which reads it).  Nothing here imports galsim.

Directory layout (``DIR`` = a simulator output or an OU2024 ``RomanTDS`` root)::

    DIR/images/simple_model/{band}/{pointing}/Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz
    DIR/truth/{band}/{pointing}/Roman_TDS_index_{band}_{pointing}_{sca}.txt
    DIR/snana/snana_{healpix}.parquet + snana_{healpix}.hdf5        (SN truth, SNANA format)

Conventions
-----------
* ``pointing`` (= phrosty's ``observation_id``) is an integer.  In OU2024 it is the 0-based row
  index of ``Roman_TDS_obseq_11_6_23.fits``.
* Truth-catalogue ``x``, ``y`` are **1-based** pixel coordinates (galsim / FITS convention) in the
  frame of the image file they describe; subtract 1 for the 0-based ``[y, x]`` array convention.
* Truth ``flux`` is the *expected* number of counts (e-, gain 1) of the object in the exposure and
  ``realized_flux`` the counts actually drawn; ``mag = -2.5 log10(flux) + galsim_zp(band)``, so the
  calibrated AB magnitude is ``mag + ZPTMAG`` (checked on the real
  ``Roman_TDS_index_Y106_35198_2.txt``: SN 20172782 has flux 1069.1, mag 7.451, and
  7.451 + 17.638 = 25.089 = the SNANA truth ``mag_Y`` at that MJD).
* SNANA truth magnitudes are AB magnitudes; ``counts = 10**(-0.4 (mag - zeropoint))`` with
  ``zeropoint = galsim_zp + ZPTMAG`` (:func:`romandia.constants.zeropoint`).

Modules
-------
:mod:`~romandia.ou2024.paths`
    The directory layout and the image / truth file names.
:mod:`~romandia.ou2024.packaged`
    Data files shipped in ``romandia/data`` (the real OU2024 obseq table).
:mod:`~romandia.ou2024.truth`
    Per-image truth catalogues (``Roman_TDS_index_*.txt``).
:mod:`~romandia.ou2024.obseq`
    Observing-sequence tables.
:mod:`~romandia.ou2024.healpix`
    HEALPix RING index of a position (OU2024's SNANA file names).
:mod:`~romandia.ou2024.snana`
    SNANA truth files: parameters, lightcurves, magnitudes to counts.

Every name is importable from :mod:`romandia.ou2024` itself.
"""

from .healpix import healpix_ring as healpix_ring
from .obseq import OBSEQ_COLUMNS as OBSEQ_COLUMNS
from .obseq import read_obseq as read_obseq
from .obseq import write_obseq as write_obseq
from .packaged import default_obseq_path as default_obseq_path
from .packaged import packaged_data as packaged_data
from .packaged import resolve_data_path as resolve_data_path
from .paths import _IMAGE_RE as _IMAGE_RE
from .paths import IMAGE_SUBDIR as IMAGE_SUBDIR
from .paths import SNANA_SUBDIR as SNANA_SUBDIR
from .paths import TRUTH_SUBDIR as TRUTH_SUBDIR
from .paths import image_filename as image_filename
from .paths import image_relpath as image_relpath
from .paths import parse_image_name as parse_image_name
from .paths import truth_relpath as truth_relpath
from .snana import _SNANA_RE as _SNANA_RE
from .snana import SNANA_REQUIRED_COLUMNS as SNANA_REQUIRED_COLUMNS
from .snana import find_sn_truth as find_sn_truth
from .snana import mag_to_counts as mag_to_counts
from .snana import read_snana_lightcurve as read_snana_lightcurve
from .snana import truth_mag as truth_mag
from .snana import write_snana as write_snana
from .truth import OBJ_TYPES as OBJ_TYPES
from .truth import TRUTH_COLUMNS as TRUTH_COLUMNS
from .truth import TRUTH_HEADER as TRUTH_HEADER
from .truth import _fmt_e as _fmt_e
from .truth import read_truth_catalog as read_truth_catalog
from .truth import write_truth_catalog as write_truth_catalog
