"""galsim.roman PSFs shared by the simulator and the workflow's galsim PSF provider.

The PSF is ``galsim.roman.getPSF(sca, band, SCA_pos, pupil_bin, wcs=..., wavelength=bandpass)``:
the Cycle-9 optical model, **monochromatic at the band's effective wavelength** (no colour
dependence), interpolated in aberrations across the SCA and rotated into world coordinates by the
local WCS, so it varies with band, SCA, position and roll angle.  It contains no pixel response;
drawing with ``method='auto'`` convolves with the pixel.

Two drawing paths exist and both are used by the simulator:

* **direct** (:func:`roman_psf_stamp` with ``oversample=None``, and the SN injection in
  :func:`draw_point_source`): the galsim optical PSF itself, FFT-drawn with the pixel response.
  This is the reference path the pipeline should use, because SNe are drawn exactly like this.
* **interpolated** (``oversample=k``; :func:`psf_interpolated_image`): the optical PSF convolved
  with the (locally distorted) pixel, drawn ``k`` times oversampled in a ``box_arcsec`` box and
  wrapped as a ``galsim.InterpolatedImage``, then drawn with ``method='no_pixel'``.  Stars
  (real-space interpolation, ~0.5 ms each) and galaxies (FFT convolution) are drawn with a small
  grid of these per image.  The box truncates the far wings: the flux outside it is simply not
  drawn (0.7-1.0 % in R062, 2.2 % in H158, 2.9 % in K213 for the default 7.04" box; never
  renormalised), while the core, where apertures and PSF fits look, is unchanged (< 0.3 % of
  the peak).

Pixel coordinates: functions take **0-based** positions in the frame of the WCS they are given
(:data:`romandia` convention).  galsim's ``SCA_pos`` is 1-based and in full-SCA coordinates; a
written cutout's header has ``ROMX0``/``ROMY0`` (0-based SCA pixel of array pixel [0, 0]) and
galsim's ``GS_XMIN``/``GS_YMIN``, which :func:`sca_wcs_from_header` uses to go back to SCA
coordinates.

Importing this module only imports galsim; the bandpasses are loaded on first use and
``galsim.roman``'s global ``max_sun_angle`` is not touched.
"""

from __future__ import annotations

import functools
import math

import galsim
import galsim.roman as groman
import numpy as np

#: Nominal pixel scale [arcsec].
PIXEL_SCALE = groman.pixel_scale
#: Default pupil binning for getPSF (8: 0.1-0.4 s per PSF; 4 is ~5x slower, see simulation.md).
DEFAULT_PUPIL_BIN = 8
#: Default oversampling and box of the interpolated (grid) PSFs.
DEFAULT_OVERSAMPLE = 4
DEFAULT_BOX_ARCSEC = 7.04


@functools.lru_cache(maxsize=1)
def bandpasses() -> dict:
    """``galsim.roman.getBandpasses(AB_zeropoint=True)``, loaded once (~0.4 s)."""
    return groman.getBandpasses(AB_zeropoint=True)


def sca_wcs_from_header(header) -> tuple[galsim.GSFitsWCS, tuple[int, int]]:
    """galsim WCS in full-SCA coordinates from an image header written by the simulator / OU2024.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict-like
        TAN-SIP header whose ``CRPIX`` refers to the file's own pixel frame.  The SCA position of
        the file's first pixel comes from ``ROMX0``/``ROMY0`` (0-based SCA pixel of array pixel
        ``[0, 0]``; kept up to date by the workflow's cropping) if present, else from galsim's
        ``GS_XMIN``/``GS_YMIN`` (1-based), else the file is a full SCA.

    Returns
    -------
    tuple
        ``(wcs, (dx, dy))``: ``wcs`` maps 1-based **SCA** pixels to the sky; an array pixel
        ``(x, y)`` (0-based) is at SCA position ``(x + 1 + dx, y + 1 + dy)``.
    """
    h = {k: header[k] for k in header.keys() if k not in ("", "COMMENT", "HISTORY")}
    if "ROMX0" in h or "ROMY0" in h:
        dx, dy = int(h.get("ROMX0", 0)), int(h.get("ROMY0", 0))
    else:
        dx, dy = int(h.get("GS_XMIN", 1)) - 1, int(h.get("GS_YMIN", 1)) - 1
    w = galsim.GSFitsWCS(header=h)
    if dx or dy:
        w = w.shiftOrigin(galsim.PositionD(dx, dy))
    return w, (dx, dy)


def _as_sca_wcs(wcs, x: float, y: float, sca_offset) -> tuple[galsim.BaseWCS, galsim.PositionD]:
    """(SCA-frame wcs, 1-based SCA position) for a 0-based position in the frame of ``wcs``."""
    if isinstance(wcs, galsim.BaseWCS) or _is_astropy_wcs(wcs):
        if _is_astropy_wcs(wcs):
            wcs = galsim.GSFitsWCS(header=dict(wcs.to_header(relax=True)))
        dx, dy = sca_offset if sca_offset is not None else (0, 0)
        if dx or dy:
            wcs = wcs.shiftOrigin(galsim.PositionD(dx, dy))
    else:  # a FITS header
        wcs, (dx, dy) = sca_wcs_from_header(wcs)
    return wcs, galsim.PositionD(float(x) + 1.0 + dx, float(y) + 1.0 + dy)


def _is_astropy_wcs(obj) -> bool:
    return type(obj).__name__ == "WCS" and type(obj).__module__.startswith("astropy.wcs")


def get_psf(band: str, sca: int, sca_pos: galsim.PositionD, wcs: galsim.BaseWCS,
            pupil_bin: int = DEFAULT_PUPIL_BIN) -> galsim.GSObject:
    """The galsim.roman optical PSF (world coordinates, unit flux, no pixel) at an SCA position.

    Parameters
    ----------
    band : str
        Roman band.
    sca : int
        SCA 1-18.
    sca_pos : galsim.PositionD
        **1-based** full-SCA pixel position (galsim ``SCA_pos``).
    wcs : galsim.BaseWCS
        WCS in full-SCA pixel coordinates (its local Jacobian at ``sca_pos`` rotates the PSF).
    pupil_bin : int
        Pupil-plane binning (8 default).
    """
    return groman.getPSF(int(sca), band, SCA_pos=sca_pos, pupil_bin=int(pupil_bin), wcs=wcs,
                         wavelength=bandpasses()[band])


def sn_stamp_size(psf: galsim.GSObject) -> int:
    """Odd stamp size [pixels] that holds all but < 0.2 % of a direct-drawn galsim.roman PSF.

    galsim's optical PSF is computed on a periodic grid of ``2 pi / stepk`` (9.4" in R062 ...
    31" in K213).  A stamp of 1.5x that (129 px in R062, 215 in Y106, 319 in H158, 423 in K213
    with ``pupil_bin=8``) holds the unit flux to |1 - sum| < 1e-4 in every band, pixel response
    included (measured at three positions of SCA 8; see docs/simulator.md).
    """
    n = int(math.ceil(1.5 * (2.0 * math.pi / psf.stepk) / PIXEL_SCALE))
    return n + 1 - n % 2


def roman_psf_stamp(band: str, sca: int, x: float, y: float, wcs, size: int | None = None,
                    oversample: int | None = None, pupil_bin: int = DEFAULT_PUPIL_BIN,
                    box_arcsec: float = DEFAULT_BOX_ARCSEC, sca_offset=None,
                    offset=(0.0, 0.0)) -> np.ndarray:
    """Centred galsim.roman PSF stamp at an image position, in that image's pixel frame.

    Parameters
    ----------
    band : str
        Roman band, e.g. ``"R062"``.
    sca : int
        SCA number 1-18.
    x, y : float
        **0-based** pixel position in the frame of ``wcs`` (for a written file: its array
        coordinates, ``[y, x]`` indexing); it sets the aberrations and the local distortion and
        rotation.  The PSF is drawn centred on the central pixel (plus ``offset``), not at the
        sub-pixel position of (x, y).
    wcs : astropy.io.fits.Header, galsim.BaseWCS or astropy.wcs.WCS
        The FITS header of the image (preferred: cutouts are handled through
        ``ROMX0``/``ROMY0`` or ``GS_XMIN``/``GS_YMIN``, see :func:`sca_wcs_from_header`), or a
        galsim / astropy WCS of the frame of (x, y), with ``sca_offset`` for cutouts.
    size : int, optional
        Odd stamp side [pixels].  Default: the size holding > 99.8 % of the flux
        (:func:`sn_stamp_size`, 129 px in R062, 319 px in H158).
    oversample : int, optional
        ``None`` (default): draw the optical PSF directly (exactly how the simulator injects
        SNe).  ``k``: go through a ``k``-times oversampled ``InterpolatedImage`` in a
        ``box_arcsec`` box (how the simulator draws stars and galaxies).
    pupil_bin : int
        Pupil binning passed to ``getPSF`` (the simulator uses 8).
    box_arcsec : float
        Box of the oversampled image when ``oversample`` is given.
    sca_offset : tuple of int, optional
        ``(dx, dy)`` = 0-based SCA pixel of the frame's pixel ``[0, 0]`` (SCA position = frame
        position + offset), for a galsim / astropy WCS of a cutout; ignored for headers.
    offset : tuple of float
        ``(dx, dy)`` shift [pixels] of the PSF centre from the central pixel's centre, e.g. the
        sub-pixel part of a source position for forced photometry.

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` float64 array indexed ``[y, x]``, PSF centre at ``[size//2, size//2]``
        (+ ``offset``), pixel response included, drawn for unit **total** flux (sum = enclosed fraction <= 1,
        never renormalised).

    Raises
    ------
    ValueError
        If ``size`` is even or < 3.
    """
    wcs_sca, pos = _as_sca_wcs(wcs, x, y, sca_offset)
    psf = get_psf(band, sca, pos, wcs_sca, pupil_bin)
    if size is None:
        size = sn_stamp_size(psf)
    size = int(size)
    if size < 3 or size % 2 == 0:
        raise ValueError(f"PSF stamp size must be odd and >= 3, got {size}")
    local = wcs_sca.local(pos)
    off = (float(offset[0]), float(offset[1]))
    if oversample is None:
        im = psf.drawImage(nx=size, ny=size, wcs=local, method="auto", dtype=np.float64,
                           offset=off)
    else:
        ii = psf_interpolated_image(psf, local, int(oversample), box_arcsec)
        im = ii.drawImage(nx=size, ny=size, wcs=local, method="no_pixel", dtype=np.float64,
                          offset=off)
    return np.asarray(im.array, dtype="float64")


def psf_interpolated_image(psf: galsim.GSObject, local_wcs: galsim.BaseWCS | None,
                           oversample: int = DEFAULT_OVERSAMPLE,
                           box_arcsec: float = DEFAULT_BOX_ARCSEC) -> galsim.InterpolatedImage:
    """Oversampled, box-truncated InterpolatedImage of a world-coordinate PSF (with the pixel).

    ``psf`` is convolved with the pixel response (the unit square of ``local_wcs``, i.e. the
    pixel's true shape on the sky at that position), drawn without further pixel convolution at
    ``0.11"/oversample`` in a ``box_arcsec`` box, and interpolated (quintic).  Draw the result
    with ``method='no_pixel'``.  With ``local_wcs=None`` the pixel is left out (draw with
    ``method='auto'``).  Its flux is the fraction of the PSF inside the box (not renormalised):
    scale it with ``* flux``, never ``withFlux``.
    """
    scale = PIXEL_SCALE / oversample
    n = int(round(box_arcsec / scale))
    n += n % 2
    prof = psf if local_wcs is None else galsim.Convolve(psf, local_wcs.toWorld(galsim.Pixel(1.0)))
    im = prof.drawImage(nx=n, ny=n, scale=scale, method="no_pixel")
    ii = galsim.InterpolatedImage(im, x_interpolant="quintic", normalization="flux", pad_factor=2)
    # Nothing exists beyond the optical cutoff (D/lambda), but the maxk estimated from the
    # truncated, interpolated image can exceed it (e.g. 71 vs 48.5 /arcsec in H158 for a pixel
    # rotated by 50 deg), which doubles the cost of every FFT convolution: cap it.
    if ii.maxk > psf.maxk:
        ii = galsim.InterpolatedImage(im, x_interpolant="quintic", normalization="flux",
                                      pad_factor=2, _force_maxk=psf.maxk)
    return ii


def psf_grid_size(nx: int, ny: int) -> int:
    """Automatic PSF grid (n x n) for an image: 1 for <= 512 px, 2 for <= 1024, 3 for <= 2048, else 4."""
    n = max(nx, ny)
    if n <= 512:
        return 1
    if n <= 1024:
        return 2
    if n <= 2048:
        return 3
    return 4


class PSFGrid:
    """An n x n grid of interpolated PSFs over an image; objects use the nearest grid PSF.

    Parameters
    ----------
    band, sca : str, int
        Band and SCA.
    bounds : galsim.BoundsI
        Image bounds in 1-based full-SCA coordinates.
    wcs : galsim.BaseWCS
        Full-SCA WCS.
    n : int
        Grid size per axis (cell centres).
    oversample, box_arcsec, pupil_bin
        See :func:`psf_interpolated_image` / :func:`get_psf`.
    """

    def __init__(self, band, sca, bounds, wcs, n, oversample=DEFAULT_OVERSAMPLE,
                 box_arcsec=DEFAULT_BOX_ARCSEC, pupil_bin=DEFAULT_PUPIL_BIN):
        self.n = int(n)
        w = bounds.xmax - bounds.xmin + 1
        h = bounds.ymax - bounds.ymin + 1
        self.xc = bounds.xmin - 0.5 + (np.arange(self.n) + 0.5) * w / self.n
        self.yc = bounds.ymin - 0.5 + (np.arange(self.n) + 0.5) * h / self.n
        self.psfs = []
        for yc in self.yc:
            row = []
            for xc in self.xc:
                p = galsim.PositionD(float(xc), float(yc))
                row.append(psf_interpolated_image(get_psf(band, sca, p, wcs, pupil_bin),
                                                  wcs.local(p), oversample, box_arcsec))
            self.psfs.append(row)
        # a stamp that holds the whole interpolated box at any rotation (odd, in image pixels;
        # the local pixel scale is ~0.108")
        s = int(math.ceil(box_arcsec * math.sqrt(2.0) / 0.105)) + 2
        self.stamp_size = s + 1 - s % 2

    def nearest(self, x: float, y: float) -> galsim.InterpolatedImage:
        """Grid PSF (x pixel) nearest to the 1-based SCA position (x, y)."""
        i = int(np.argmin(np.abs(self.yc - y)))
        j = int(np.argmin(np.abs(self.xc - x)))
        return self.psfs[i][j]


def draw_point_source(band: str, sca: int, pos: galsim.PositionD, wcs: galsim.BaseWCS,
                      flux: float, pupil_bin: int = DEFAULT_PUPIL_BIN) -> galsim.Image:
    """Draw a point source with the exact (direct) PSF at its position, as for SNe.

    Parameters
    ----------
    band, sca : str, int
        Band and SCA.
    pos : galsim.PositionD
        **1-based** full-SCA position of the source.
    wcs : galsim.BaseWCS
        Full-SCA WCS.
    flux : float
        Total counts [e-].

    Returns
    -------
    galsim.Image
        Stamp of :func:`sn_stamp_size` pixels (bounds in SCA coordinates) with the source at
        ``pos``, pixel response included; its sum is ``flux`` times the enclosed fraction
        (> 0.998).
    """
    psf = get_psf(band, sca, pos, wcs, pupil_bin)
    n = sn_stamp_size(psf)
    return (psf * float(flux)).drawImage(nx=n, ny=n, center=pos, wcs=wcs.local(pos),
                                         method="auto", dtype=np.float64)
