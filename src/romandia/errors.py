"""Exception types that separate data problems from infrastructure faults.

A :class:`DataError` is a problem in one image or pair (no overlap, NaN data at the
object, PSF failure, singular SFFT system, ...): the workflow records it in that pair's
lightcurve rows (``success=False``, ``failure_reason``) and goes on.  Anything else
(missing dependency, out of memory, disk full, killed job) propagates so that Snakemake
fails the job and may retry it.
"""


class RomandiaError(Exception):
    """Base class of romandia's own errors."""


class InputError(RomandiaError, ValueError):
    """Bad user input (config, CSV, image file). The message names the file/line/key and the fix."""


class DataError(RomandiaError):
    """A data problem confined to one image or pair.

    Parameters
    ----------
    stage : str
        Workflow stage that found the problem (``"align"``, ``"subtract"``, ...).
    reason : str
        Human-readable cause.
    """

    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
