"""Photometric accuracy against truth: the analysis behind ``romandia validate`` / ``make validate``.

The simulator (:mod:`romandia.simulate`, preset ``validation``) writes every image's truth
catalogue, in which each transient has a row with its *expected* counts in that exposure
(``flux``, 0 before explosion).  This package compares the workflow's lightcurves with it:

* :func:`load_rows` reads every ``{oid}_{band}_all.parquet`` of a run;
* :func:`attach_truth` adds the true flux at each epoch (``flux_true``), the truth zeropoint,
  and the host galaxy's surface brightness at the SN (``host_sb``, mag/arcsec², from the
  simulator's own host model);
* :func:`summarize` computes the statistics of the issue (bias per S/N and host bins, pulls,
  zero-flux epochs, χ² of each lightcurve against its truth, zeropoint errors, failures);
* :func:`field_star_zeropoints` measures phrosty's field-star zeropoint (median over
  unsaturated 19 < m < 21.5 stars) on each science image and compares it with the header's;
* :func:`make_plots` draws the pull histogram, bias vs S/N, bias vs host brightness and one
  lightcurve per band;
* :func:`run_validation` simulates, runs the workflow (one or several configurations on the
  same data) and regenerates ``docs/validation.md`` between its ``<!-- BEGIN GENERATED -->``
  and ``<!-- END GENERATED -->`` markers (text outside them, e.g. the record of fixes, is kept).

Modules
-------
:mod:`~romandia.validation.truth`
    Loading a run's lightcurves and attaching the simulator's truth.
:mod:`~romandia.validation.stats`
    Targets, bins and statistics (bias, pulls, error-model stages).
:mod:`~romandia.validation.zeropoints`
    phrosty's field-star zeropoint against the header's.
:mod:`~romandia.validation.plots`
    The report's plots.
:mod:`~romandia.validation.run`
    Writing the workflow config, running Snakemake, the whole validation.
:mod:`~romandia.validation.report`
    The generated block of ``docs/validation.md``.

Every name is importable from :mod:`romandia.validation` itself.

Definitions
-----------
``ratio - 1 = f / f_true - 1`` (rows with ``f_true > 0``); ``bias`` = its median in a bin, with
the uncertainty ``1.2533 sigma_MAD / sqrt(n)``; ``pull = (f - f_true) / sigma``; robust sigma =
1.4826 × median absolute deviation; S/N = ``f_true / sigma``.  All statistics use successful rows;
failed rows are counted separately.
"""

from .plots import make_plots
from .report import _BEGIN as _BEGIN
from .report import _END as _END
from .report import _edges as _edges
from .report import _f as _f
from .report import report_markdown, write_report
from .run import INPUT_FORMAT as INPUT_FORMAT
from .run import PHROSTY_CONFIG, run_validation, run_workflow, workflow_config
from .run import _machine as _machine
from .run import analyze as analyze
from .stats import _MAD as _MAD
from .stats import (
    SB_BINS,
    SNR_BINS,
    TARGETS,
    binned_stats,
    check_targets,
    pull_stats,
    robust_sigma,
    summarize,
)
from .stats import _bias as _bias
from .stats import error_model_pulls as error_model_pulls
from .truth import _science_key as _science_key
from .truth import _zptmag as _zptmag
from .truth import attach_truth, host_surface_brightness, load_rows
from .zeropoints import field_star_zeropoints

__all__ = [
    "TARGETS",
    "SNR_BINS",
    "SB_BINS",
    "PHROSTY_CONFIG",
    "load_rows",
    "attach_truth",
    "host_surface_brightness",
    "robust_sigma",
    "pull_stats",
    "binned_stats",
    "summarize",
    "check_targets",
    "field_star_zeropoints",
    "make_plots",
    "workflow_config",
    "run_workflow",
    "report_markdown",
    "write_report",
    "run_validation",
]
