"""phrosty's lightcurve table: schema, rows, merging, deterministic writing and plotting.

One row per (science image, template image) pair, with phrosty's 20 columns in the exact order
of ``snappl`` ``Lightcurve`` (reference ``phrosty.md`` §4.7), followed by romandia's extra
columns.  Differences from phrosty, all deliberate:

* ``NEA`` is computed (phrosty: NaN); ``pix_x``/``pix_y`` and ``sky_rms`` are filled when the
  caller provides them (phrosty HEAD: NaN).
* Rows are sorted (phrosty: completion order) and both files are byte-for-byte reproducible.
* Failed pairs keep a row with ``success=False`` and ``failure_reason = "{stage}: {reason}"``.

Units: ``flux``, ``flux_err``, ``aperture_sum``, ``sky_rms`` are counts per exposure (OU2024;
phrosty labels them count/s); ``mag = -2.5 log10(flux)`` is *instrumental*, so the AB magnitude
is ``mag + zpt``; ``pix_x``/``pix_y`` are 0-based science-image pixels; ``NEA`` is in pix^2.

Missing values: float columns NaN, string columns ``''`` (``science_id``/``template_id``:
``'None'``, as phrosty), integer columns ``-1``, ``success`` False.

Modules
-------
:mod:`~romandia.lightcurve.schema`
    Columns, dtypes, units, missing values, conversion, row order, merging rows into a table.
:mod:`~romandia.lightcurve.rows`
    One row from a photometry result (:func:`make_row`) or a failure (:func:`failed_row`).
:mod:`~romandia.lightcurve.fileio`
    Deterministic CSV / parquet encoding, atomic writing, reading.
:mod:`~romandia.lightcurve.plot`
    The lightcurve plot (reproducible PNG).

Every name is importable from :mod:`romandia.lightcurve` itself.
"""

from .fileio import _arrow_table as _arrow_table
from .fileio import _atomic_write_bytes as _atomic_write_bytes
from .fileio import _format_float as _format_float
from .fileio import read_lightcurve, to_csv_bytes, to_parquet_bytes, write_lightcurve
from .plot import _truth_arrays as _truth_arrays
from .plot import plot_lightcurve
from .rows import MAG_ERR_FACTOR, REQUIRED_META, failed_row, make_row
from .rows import _base_row as _base_row
from .rows import _instrumental_mag as _instrumental_mag
from .schema import _DEFAULTS as _DEFAULTS
from .schema import _STR_DEFAULTS as _STR_DEFAULTS
from .schema import (
    COLUMNS,
    DTYPES,
    EXTRA_COLUMNS,
    SORT_KEYS,
    UNITS,
    apply_schema,
    merge_rows,
    sort_lightcurve,
)
from .schema import SCHEMA_VERSION as SCHEMA_VERSION
from .schema import _column_order as _column_order
from .schema import _default as _default
from .schema import _rank_ids as _rank_ids
from .schema import _rank_str as _rank_str
from .schema import _to_bool as _to_bool
from .schema import _to_float as _to_float
from .schema import _to_int as _to_int
from .schema import _to_str as _to_str

__all__ = [
    "COLUMNS",
    "EXTRA_COLUMNS",
    "DTYPES",
    "UNITS",
    "SORT_KEYS",
    "MAG_ERR_FACTOR",
    "REQUIRED_META",
    "make_row",
    "failed_row",
    "merge_rows",
    "apply_schema",
    "sort_lightcurve",
    "write_lightcurve",
    "to_csv_bytes",
    "to_parquet_bytes",
    "read_lightcurve",
    "plot_lightcurve",
]
