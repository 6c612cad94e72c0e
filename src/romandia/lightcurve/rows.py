"""Lightcurve rows: one per (science image, template image) pair.

:func:`make_row` builds a row from a photometry result and the pair's metadata,
:func:`failed_row` one for a pair that failed (``success=False``,
``failure_reason = "{stage}: {reason}"``).  ``mag = -2.5 log10(flux)`` is *instrumental*
(the AB magnitude is ``mag + zpt``); fluxes are counts per exposure; ``pix_x``/``pix_y`` are
0-based science-image pixels; ``NEA`` is in pix^2 (computed; phrosty: NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .schema import COLUMNS, EXTRA_COLUMNS, _default

__all__ = ["MAG_ERR_FACTOR", "REQUIRED_META", "make_row", "failed_row"]

#: 2.5 / ln(10): magnitude error per unit relative flux error.
MAG_ERR_FACTOR = 2.5 / math.log(10.0)

#: meta keys :func:`make_row` requires.
REQUIRED_META: tuple[str, ...] = (
    "mjd",
    "zpt",
    "observation_id",
    "sca",
    "template_observation_id",
    "template_sca",
)


def _instrumental_mag(flux: float, flux_err: float) -> tuple[float, float]:
    """``(-2.5 log10 flux, 1.0857 flux_err / |flux|)``; mag NaN for flux <= 0 or NaN."""
    mag = -2.5 * math.log10(flux) if (math.isfinite(flux) and flux > 0) else math.nan
    if math.isfinite(flux) and flux != 0:
        mag_err = MAG_ERR_FACTOR * flux_err / abs(flux)
    else:
        mag_err = math.nan
    return mag, mag_err


def _base_row(meta: Mapping) -> dict:
    row = {c: _default(c) for c in COLUMNS + EXTRA_COLUMNS}
    for key, value in meta.items():
        if key in ("mag", "mag_err", "success", "failure_reason"):
            raise ValueError(f"meta must not set the derived column {key!r}")
        row[key] = value
    return row


def make_row(phot: Mapping, meta: Mapping) -> dict:
    """One lightcurve row from a photometry result and the pair's metadata.

    Parameters
    ----------
    phot : mapping
        Result of :func:`romandia.photometry.forced_psf_photometry`: ``flux``, ``flux_err``,
        ``aperture_sum``, ``nea``, ``success``, ``message`` (and optionally
        ``aperture_sum_err``, ``local_bkg``, ``chi2_red``, ``flux_err_pixel``: the error from
        the per-pixel variance alone, before the propagation of :mod:`romandia.errorprop` and
        the χ² scaling; default ``flux_err``).
    meta : mapping
        Image/pair metadata.  Required: ``mjd`` (science MJD-OBS [d]), ``zpt`` [mag, AB of one
        count], ``observation_id``, ``sca``, ``template_observation_id``, ``template_sca``.
        Optional: ``sky_rms``, ``pix_x``, ``pix_y`` (0-based on the *science* image; NaN if
        absent), ``science_name``, ``template_name``, ``science_id``, ``template_id``, ``oid``,
        ``band``, ``ra``, ``dec``, ``flux_true`` [counts].  Any other key becomes an extra
        column.

    Returns
    -------
    dict
        Column -> value.  ``mag = -2.5 log10(flux)`` (instrumental; NaN for flux <= 0),
        ``mag_err = 1.0857 flux_err / |flux|``, ``NEA = phot['nea']``; a failed photometry
        gives ``success=False``, NaN fluxes and ``failure_reason = "photometry: <message>"``.

    Raises
    ------
    KeyError
        A required meta key is missing.
    """
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise KeyError(f"make_row: meta lacks required key(s) {missing}")
    row = _base_row(meta)
    success = bool(phot["success"])
    if success:
        flux = float(phot["flux"])
        flux_err = float(phot["flux_err"])
        row["flux"] = flux
        row["flux_err"] = flux_err
        row["NEA"] = float(phot.get("nea", math.nan))
        row["aperture_sum"] = float(phot.get("aperture_sum", math.nan))
        row["aperture_sum_err"] = float(phot.get("aperture_sum_err", math.nan))
        row["local_bkg"] = float(phot.get("local_bkg", math.nan))
        row["chi2_red"] = float(phot.get("chi2_red", math.nan))
        row["flux_err_pixel"] = float(phot.get("flux_err_pixel", flux_err))
        row["mag"], row["mag_err"] = _instrumental_mag(flux, flux_err)
        row["success"] = True
        row["failure_reason"] = ""
    else:
        row["success"] = False
        row["failure_reason"] = f"photometry: {phot.get('message') or 'failed'}"
        row["mag"] = row["mag_err"] = math.nan
    return row


def failed_row(meta: Mapping, stage: str, reason: str) -> dict:
    """A row for a pair that failed before or during photometry.

    Parameters
    ----------
    meta : mapping
        Whatever metadata is known (same keys as :func:`make_row`; none required).
    stage : str
        Workflow stage that failed (``"align"``, ``"subtract"``, ...); see
        :class:`romandia.errors.DataError`.
    reason : str
        Human-readable cause.

    Returns
    -------
    dict
        ``success=False``, NaN measurements, ``failure_reason = f"{stage}: {reason}"``.
    """
    row = _base_row(meta)
    for col in (
        "flux",
        "flux_err",
        "NEA",
        "aperture_sum",
        "mag",
        "mag_err",
        "aperture_sum_err",
        "local_bkg",
        "chi2_red",
        "flux_err_pixel",
    ):
        row[col] = math.nan
    row["success"] = False
    row["failure_reason"] = f"{stage}: {reason}"
    return row
