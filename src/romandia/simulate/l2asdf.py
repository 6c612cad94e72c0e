"""The simulator's scenes as Roman Level-2 ASDF files (``roman_datamodels`` ``ImageModel``).

A simulated image (counts per exposure [e-], a galsim TAN-SIP header) is written the way
romancal writes a calibrated rate image (``*_cal.asdf``): ``data`` and ``err`` in MJy/sr
(``meta.cal_step.flux = "COMPLETE"``), ``dq`` uint32, ``meta.wcs`` a gwcs, and the
photometric calibration in ``meta.photometry``.  The reader, :mod:`romandia.l2asdf`, turns
it back into counts per exposure, so the ASDF path of the workflow can be measured against
the same truth as the FITS path (``romandia simulate --format asdf``).

Conversions (``g`` the gain [e-/DN], ``t`` the exposure time [s], ``Z`` the AB magnitude of
one count, ``Ω`` the pixel area [sr]):

* ``rate [DN/s] = counts / (g t)``;
* ``conversion_megajanskys`` ``C = 3631e-6 10^(-0.4 Z) g t / Ω`` [MJy/sr per DN/s], so that
  ``data [MJy/sr] = C × rate``.

The gwcs is built from the header's SIP polynomials (forward) with an inverse fitted on a
grid (galsim writes no ``AP``/``BP``); it agrees with astropy's reading of the header to
< 1e-6 px.  Real Roman gwcs objects chain detector -> v2v3 -> world through the distortion
reference files; the reader does not rely on either structure (it fits TAN-SIP to whatever
forward transform it gets).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from romandia.constants import OPTICAL_ELEMENT
from romandia.l2asdf import DEFAULT_GAIN

#: romancal's L2 steps (rad's ``l2_cal_step-2.0.0``): those a calibrated rate image has been
#: through, and those it has not
_CAL_STEPS_DONE = ("dq_init", "saturation", "refpix", "linearity", "dark", "dark_decay", "ramp_fit",
                   "assign_wcs", "flat_field", "photom", "flux")
_CAL_STEPS_SKIPPED = ("wfi18_transient", "source_catalog", "tweakreg", "outlier_detection", "skymatch")


def _sip_polynomial(header, prefix: str, linear: str):
    from astropy.modeling import models

    order = int(header.get(f"{prefix}_ORDER", 0))
    coeffs = {}
    for key in header:
        parts = key.split("_")
        if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit() and parts[2].isdigit():
            coeffs[f"c{parts[1]}_{parts[2]}"] = float(header[key])
    coeffs[linear] = coeffs.get(linear, 0.0) + 1.0
    return models.Polynomial2D(max(order, 1), **coeffs)


def gwcs_from_header(header, shape):
    """A gwcs (0-based pixels -> ICRS degrees) equal to a TAN or TAN-SIP FITS header.

    Parameters
    ----------
    header : astropy.io.fits.Header
        ``CRPIX``, ``CD``, ``CRVAL`` and, for TAN-SIP, ``A_*``/``B_*`` (1-based FITS pixels).
    shape : tuple of int
        ``(ny, nx)`` of the image: the bounding box, and the grid the inverse is fitted on.
    """
    from astropy import units as u
    from astropy.coordinates import ICRS
    from astropy.modeling import fitting, models
    from gwcs import coordinate_frames as cf
    from gwcs import wcs as gwcs_wcs

    ny, nx = (int(s) for s in shape)
    shift = models.Shift(1.0 - float(header["CRPIX1"])) & models.Shift(1.0 - float(header["CRPIX2"]))
    if "A_ORDER" in header:
        distortion = shift | models.Mapping((0, 1, 0, 1)) | (
            _sip_polynomial(header, "A", "c1_0") & _sip_polynomial(header, "B", "c0_1"))
        gx, gy = np.meshgrid(np.linspace(-0.5, nx - 0.5, 48), np.linspace(-0.5, ny - 0.5, 48))
        up, vp = distortion(gx, gy)
        degree = max(int(header["A_ORDER"]), int(header["B_ORDER"])) + 1
        fitter = fitting.LinearLSQFitter()
        with warnings.catch_warnings():  # conditioning: the residual is checked in the tests
            warnings.simplefilter("ignore")
            inv_x = fitter(models.Polynomial2D(degree), up, vp, gx)
            inv_y = fitter(models.Polynomial2D(degree), up, vp, gy)
        distortion.inverse = models.Mapping((0, 1, 0, 1)) | (inv_x & inv_y)
    else:
        distortion = shift
    cd = np.array([[header["CD1_1"], header["CD1_2"]], [header["CD2_1"], header["CD2_2"]]], float)
    sky = (models.AffineTransformation2D(matrix=cd) | models.Pix2Sky_TAN()
           | models.RotateNative2Celestial(float(header["CRVAL1"]), float(header["CRVAL2"]), 180.0))
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(reference_frame=ICRS(), name="world", unit=(u.deg, u.deg))
    w = gwcs_wcs.WCS([(detector, distortion | sky), (world, None)])
    w.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    return w


def l2_image_model(header, sci, err, dq=None, *, band: str, sca: int, mjd: float, exptime: float,
                   zeropoint: float, gain: float = DEFAULT_GAIN, sca_origin=(0, 0)):
    """A ``roman_datamodels`` ``ImageModel`` (L2 calibrated, MJy/sr) of a simulated image.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The simulator's TAN-SIP header of the (cut-out) image.
    sci, err : ndarray
        Counts per exposure [e-] and their 1σ (or OU2024's ERR image), ``[y, x]``.
    dq : ndarray, optional
        Roman DQ flags (zeros when None).
    band, sca, mjd, exptime
        Roman band, SCA number, MJD at the exposure start, exposure time [s].
    zeropoint : float
        AB magnitude of one count.
    gain : float
        [e-/DN] used for the DN/s rate (:data:`DEFAULT_GAIN`).
    sca_origin : (int, int)
        0-based SCA pixel of array pixel ``[0, 0]`` (cutouts; written as
        ``meta.romandia.sca_origin``, which a real L2 file, always a full SCA, lacks).
    """
    import roman_datamodels.datamodels as rdd
    from astropy.time import Time

    ny, nx = np.shape(sci)
    model = rdd.ImageModel.create_fake_data(shape=(ny, nx))
    w = gwcs_from_header(header, (ny, nx))
    x0, y0 = np.asarray(w.bounding_box.bounding_box()).mean(axis=1)
    area = _pixel_area_sr(w, x0, y0)
    conv = 3631e-6 * 10.0 ** (-0.4 * zeropoint) * gain * exptime / area
    scale = conv / (gain * exptime)  # MJy/sr per count
    model.data = (np.asarray(sci, np.float64) * scale).astype(np.float32)
    model.err = (np.asarray(err, np.float64) * scale).astype(np.float16)
    model.dq = (np.zeros((ny, nx), np.uint32) if dq is None else np.asarray(dq, np.uint32))
    meta = model.meta
    meta.wcs = w
    meta.instrument.optical_element = OPTICAL_ELEMENT[band]
    meta.instrument.detector = f"WFI{int(sca):02d}"
    start = Time(float(mjd), format="mjd", scale="utc")
    meta.exposure.start_time = start
    meta.exposure.end_time = Time(float(mjd) + exptime / 86400.0, format="mjd", scale="utc")
    meta.exposure.exposure_time = float(exptime)
    meta.exposure.effective_exposure_time = float(exptime)
    meta.photometry.conversion_megajanskys = float(conv)
    meta.photometry.conversion_megajanskys_uncertainty = 0.0
    meta.photometry.pixel_area = float(area)
    meta["cal_step"] = {**{k: "INCOMPLETE" for k in _CAL_STEPS_SKIPPED}, **{k: "COMPLETE" for k in _CAL_STEPS_DONE}}
    meta["romandia"] = {"sca_origin": [int(sca_origin[0]), int(sca_origin[1])], "gain": float(gain)}
    return model


def _pixel_area_sr(w, x, y) -> float:
    """Pixel solid angle [sr] at pixel (x, y) from the gwcs's local Jacobian."""
    ra0, dec0 = w(x, y)
    rax, decx = w(x + 1.0, y)
    ray, decy = w(x, y + 1.0)
    c = np.cos(np.radians(dec0))
    jac = np.array([[(rax - ra0) * c, (ray - ra0) * c], [decx - dec0, decy - dec0]])
    return float(abs(np.linalg.det(jac)) * np.radians(1.0) ** 2)


def write_l2_asdf(path, model) -> int:
    """Write ``model`` to ``path`` atomically; returns the size [bytes].

    roman_datamodels stamps ``meta.filename`` (the final name: the file is saved under it in a
    private directory, then moved) and ``meta.file_date`` (the time of writing, as romancal
    does), so ASDF files, unlike the FITS ones, differ from run to run in that one value.
    """
    import os
    import shutil

    path = Path(path)
    tmpdir = path.parent / f".{path.name}.{os.getpid()}.d"
    tmpdir.mkdir(parents=True, exist_ok=True)
    try:
        model.save(str(tmpdir / path.name))
        os.replace(tmpdir / path.name, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path.stat().st_size
