"""The workflow's stages as library functions, one module per stage or rule.

Stages: fetch, sky_subtract and psf (rule ``prepare``, :mod:`.prepare`, :mod:`.psf`), align and
subtract (rule ``subtract``, :mod:`.align`, :mod:`.subtract`), the field-star calibration and
photometry (rule ``photometry``, :mod:`.calibrate`, :mod:`.photometry`), lightcurve.  Each rule
script reads its inputs (:mod:`romandia.products`), makes one call into its step module and
writes the result.  A job handles every member of its key (the objects on an
image, the templates of a science image, the rows of a science image) in one process;
:func:`each_member` runs them so that a :class:`~romandia.errors.DataError` in one member
costs only that member, while any other exception (an infrastructure fault) fails the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ..errors import DataError


def each_member(members: Iterable, fn: Callable, log: logging.Logger | None = None, what: str = "member") -> dict:
    """``{member: fn(member)}``, with ``member -> DataError`` where ``fn`` raised one.

    Parameters
    ----------
    members : iterable
        Member keys (object ids, template keys, ...), in the order to run them.
    fn : callable
        ``fn(member)`` -> the member's result.
    log : logging.Logger, optional
        Where a member's data problem is reported (as a warning).
    what : str
        Name of a member in the log (``"object"``, ``"template"``).
    """
    out = {}
    for m in members:
        try:
            out[m] = fn(m)
        except DataError as err:
            if log is not None:
                log.warning("%s %s: data problem, recorded as failure: %s", what, m, err)
            out[m] = err
    return out
