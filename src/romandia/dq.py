"""Roman data-quality flags: which pixels are masked, and their names in messages.

The bit assignments are Roman's pixel flags as ``roman_datamodels.dqflags.pixel`` defines
them (the Roman calibration pipeline's reference-file documentation); they are restated here
so that FITS inputs (OU2024's ``DQ`` HDU) need no roman_datamodels.  By default every flag
masks its pixel except ``WARM`` and ``LOW_QE`` (usable pixels; as phrosty's PR #199).
A masked pixel is set to NaN when the image is staged, so the sky, the subtraction's fit and
its blank mask all leave it out; a masked science pixel inside an object's PSF-fit box fails
that row naming the flags (:func:`romandia.checks.check_dq_at_object`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: flag name -> bit value (Roman pixel DQ)
FLAGS: dict[str, int] = {
    "DO_NOT_USE": 2**0, "SATURATED": 2**1, "JUMP_DET": 2**2, "DROPOUT": 2**3, "GW_AFFECTED_DATA": 2**4,
    "PERSISTENCE": 2**5, "AD_FLOOR": 2**6, "RESERVED_4": 2**7, "UNRELIABLE_ERROR": 2**8, "NON_SCIENCE": 2**9,
    "DEAD": 2**10, "HOT": 2**11, "WARM": 2**12, "LOW_QE": 2**13, "TELEGRAPH": 2**15, "NONLINEAR": 2**16,
    "BAD_REF_PIXEL": 2**17, "NO_FLAT_FIELD": 2**18, "NO_GAIN_VALUE": 2**19, "NO_LIN_CORR": 2**20,
    "NO_SAT_CHECK": 2**21, "UNRELIABLE_BIAS": 2**22, "UNRELIABLE_DARK": 2**23, "UNRELIABLE_SLOPE": 2**24,
    "UNRELIABLE_FLAT": 2**25, "RESERVED_5": 2**26, "RESERVED_6": 2**27, "UNRELIABLE_RESET": 2**28,
    "RESERVED_7": 2**29, "OTHER_BAD_PIXEL": 2**30, "REFERENCE_PIXEL": 2**31,
}
#: every bit that has a name
NAMED = sum(FLAGS.values())
#: flags that do not mask a pixel by default (config ``dq.ignore``)
DEFAULT_IGNORE = ("WARM", "LOW_QE")


def mask_bits(ignore: Iterable[str] = DEFAULT_IGNORE) -> int:
    """The bits that mask a pixel: every flag not in ``ignore`` (bits without a name too)."""
    unknown = sorted(set(ignore) - set(FLAGS))
    if unknown:
        raise ValueError(f"unknown DQ flag(s) {unknown}; known: {sorted(FLAGS)}")
    keep = 0
    for name in ignore:
        keep |= FLAGS[name]
    return 0xFFFFFFFF & ~keep


def masked(dq: np.ndarray | None, bits: int) -> np.ndarray | None:
    """Boolean mask of the pixels with any of ``bits`` set (None without a DQ array)."""
    if dq is None:
        return None
    return (np.asarray(dq).astype(np.uint32) & np.uint32(bits)) != 0


def describe(values: np.ndarray, bits: int) -> str:
    """``"HOT (2), DEAD (1)"``: the masked flags set in ``values`` and how many pixels each."""
    v = np.asarray(values).astype(np.uint32).ravel() & np.uint32(bits)
    parts = []
    for name, bit in FLAGS.items():
        n = int(np.count_nonzero(v & np.uint32(bit)))
        if n:
            parts.append(f"{name} ({n})")
    n_other = int(np.count_nonzero(v & np.uint32(0xFFFFFFFF & ~NAMED)))
    if n_other:
        parts.append(f"unnamed bit(s) ({n_other})")
    return ", ".join(parts)
