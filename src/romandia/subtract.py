"""Cross-convolution, SFFT subtraction (``sfft`` package, NumPy backend) and the per-pair
difference-imaging flow.

The per-pair flow (:func:`difference_pair`) follows phrosty / ``SpaceSFFT_Flow``:

1. cross-convolve: ``Ct = S ⊗ P_T′``, ``Co = T′ ⊗ P_S`` (both now have the PSF
   ``P_S ⊗ P_T′``);
2. SFFT with REF = ``Co`` (convolved by the matching kernel ``K``) and SCI = ``Ct``:
   ``DIFF = Ct − K ⊗ Co − B``, ``K`` fitted on pixels detected in both images;
3. decorrelate ``DIFF``, ``Ct`` and the common PSF with the filter of
   :mod:`romandia.decorrelate`;
4. variance of the decorrelated difference.

Conventions
-----------
* All public arrays are ``[y, x]``, 0-based pixel coordinates.  ``sfft`` works on
  ``[x, y]`` arrays: this module is the only place that transposes (``_to_sfft`` /
  ``_from_sfft``).
* PSFs are odd-sized centred stamps in the science pixel frame; when used as convolution
  kernels they are normalised to sum 1.  ``P_S`` keeps its own sum in the common PSF
  (stamp sum = enclosed fraction, see ``docs/architecture.md``).
* Inputs are sky-subtracted (masked pixels enter SFFT's least squares as zeros).

Threads: ``sfft``'s numba kernels use ``NUMBA_NUM_THREADS`` (set it in the environment
before numba is imported); its pyFFTW transforms use ``threads``.  ``sfft`` overwrites
``numba.set_num_threads`` with an integer when configuring; this module restores it.
"""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import scipy.fft

from romandia.constants import SATURATION_LEVEL
from romandia.convolve import check_odd_kernel, embed_kernel, fft_convolve, kernel_convolve
from romandia.decorrelate import (
    apply_filter,
    decorrelate_kernel,
    decorrelation_filter,
    decorrelation_grid,
    difference_variance,
    effective_kernels,
)
from romandia.errors import DataError
from romandia.xp import asarray, get_namespace, to_numpy

__all__ = [
    "DEFAULT_PARAMS",
    "apply_sfft_solution",
    "cross_convolve",
    "sfft_solve_subtract",
    "plan_tiles",
    "match_kernel_at",
    "effective_radius",
    "difference_pair",
]

#: Parameters of :func:`difference_pair` (keys of its ``params`` dict) and defaults.
DEFAULT_PARAMS = {
    # SFFT (phrosty / SpaceSFFT_Flow defaults)
    "kernel_half_width": 9,  # GKerHW: kernel is (2w+1)^2 = 19x19
    "kernel_poly_order": 2,  # KerPolyOrder
    "bg_poly_order": 0,  # BGPolyOrder
    "const_phot_ratio": True,  # ConstPhotRatio
    # Template -> science flux ratio.  None: fitted by SFFT (phrosty).  A number: the ratio
    # known from the images' calibrated zeropoints, 10**(0.4 (zp_S - zp_T)); the fitted
    # kernel is rescaled to this sum and the background refitted with it.  On cutouts the
    # fitted ratio scatters by 1-5 % around the calibrated one (noise in a fit over a few
    # thousand pixels), which leaves (ratio error) x host flux under every SN: 1-4 sigma on
    # bright hosts (docs/validation.md, fix 6).
    "flux_scale": None,
    # fit mask: sci_detmask > 0.5 & tmpl_detmask_rs > detmask_threshold & clean
    "detmask_threshold": 0.1,
    "min_fit_pixels": 100,  # fewer fit pixels (per tile) -> DataError
    # Data sufficiency of the kernel fit (docs/validation.md, fix 2).  The delta-basis kernel
    # has (2w+1)^2 * (DK+1)(DK+2)/2 free coefficients (2166 for w=9, DK=2); fitted on fewer
    # pixels than that (a cutout holds a few hundred to a few thousand) it is noise (sum|K|
    # up to 3000 measured) and the difference is garbage.  The polynomial order is lowered
    # until there are >= this many fit pixels per coefficient (full SCAs keep DK=2).
    "min_fit_pixels_per_parameter": 10.0,
    # ... and if even DK=0 is under-determined, the kernel half-width is lowered (not below
    # this): after cross-convolution both images share one PSF, so the kernel only absorbs
    # small PSF-model and resampling differences, which live within a few pixels.
    "min_kernel_half_width": 3,
    # When the extended-source mask is too small even for DK=0, add compact sources
    # (stars) detected in both cross-convolved images ('auto'); True: always; False: never.
    "fit_compact_sources": "auto",
    "compact_detect_sigma": 3.0,  # detection threshold [sigma] of that compact-source mask
    # pixels at or above this (sky-subtracted counts) are saturated: kept out of the fit
    "saturation": SATURATION_LEVEL,
    # memory / tiling of the SFFT call
    # a 1024² pair in 2 tiles: 954 MB peak subtract job at kernel order 2 (docs/benchmarks.md)
    "max_pixels_per_call": 600_000,
    "tile": None,  # (n_tiles_y, n_tiles_x) to force a tiling; None = automatic
    "tile_margin": None,  # px; None = max(32, 2 * (2w + 1))
    "threads": 1,  # pyFFTW / scipy.fft threads
    # decorrelation
    "use_match_kernel": True,  # include K in the filter and variance (phrosty: False)
    "decorr_power_fraction": 0.999,  # crop of the real-space decorrelation kernel
    "decorr_floor": 1e-10,  # floor of the noise power, relative to k=0
    # outputs
    "psf_size": None,  # odd size of the output PSF; None = science PSF stamp size
    "blank_radius_fraction": 0.995,  # kernel radii used to grow the blank mask
}

_SSC_CACHE: dict = {}


# --------------------------------------------------------------------------- helpers


def _to_sfft(a) -> np.ndarray:
    """``[y, x]`` → sfft's ``[x, y]`` (C-contiguous float64)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).T)


def _from_sfft(a) -> np.ndarray:
    """sfft's ``[x, y]`` → ``[y, x]``."""
    return np.ascontiguousarray(np.asarray(a).T)


def effective_radius(kernel, fraction: float = 0.995, weight: str = "abs") -> float:
    """Radius [px] of the centred disc holding ``fraction`` of a kernel's weight.

    Parameters
    ----------
    kernel : array, odd
        Centred stamp.
    fraction : float
        Fraction of the total weight inside the radius.
    weight : {'abs', 'power'}
        ``Σ|k|`` (PSFs: flux in the wings) or ``Σk²`` (kernels whose wings are noise,
        like a fitted matching kernel, or a whitening kernel dominated by its core).

    Returns
    -------
    float
        Radius from the central pixel (0 for a δ).
    """
    k = to_numpy(kernel).astype(float)
    check_odd_kernel(k)
    k = k * k if weight == "power" else np.abs(k)
    cy, cx = k.shape[0] // 2, k.shape[1] // 2
    yy, xx = np.indices(k.shape)
    r = np.hypot(yy - cy, xx - cx).ravel()
    order = np.argsort(r, kind="stable")
    cum = np.cumsum(k.ravel()[order])
    if cum[-1] <= 0:
        return 0.0
    i = int(np.searchsorted(cum, fraction * cum[-1], side="left"))
    return float(r[order][min(i, r.size - 1)])


def _dilate(mask, radius: float, xp):
    """Grow a boolean mask by a disc of ``radius`` px (FFT convolution)."""
    if radius < 0.5 or not bool(xp.any(mask)):
        return mask
    h = int(math.ceil(radius))
    yy, xx = np.mgrid[-h : h + 1, -h : h + 1]
    disc = asarray((yy * yy + xx * xx <= radius * radius + 1e-9).astype(float), xp)
    return fft_convolve(mask.astype(xp.float64), disc, xp=xp) > 0.5


# --------------------------------------------------------------------------- cross-convolution


def cross_convolve(sci, tmpl_rs, psf_sci, psf_tmpl_rot, psf_size=None, xp=None,
                   workers: int | None = None):
    """Convolve each image with the other image's PSF.

    Parameters
    ----------
    sci : array (ny, nx)
        Sky-subtracted science image ``S`` ``[y, x]`` (finite).
    tmpl_rs : array (ny, nx)
        Sky-subtracted template resampled to the science grid ``T′`` (finite).
    psf_sci : array, odd
        Science PSF ``P_S`` (science frame).
    psf_tmpl_rot : array, odd
        Template PSF in the science frame ``P_T′`` (:func:`romandia.resample.rotate_psf`).
    psf_size : int, optional
        Odd size of the returned common PSF; default the full size
        ``len(P_S) + len(P_T′) − 1``.

    Returns
    -------
    ct : array (ny, nx)
        ``S ⊗ P_T′/ΣP_T′`` (zero-padded linear convolution).
    co : array (ny, nx)
        ``T′ ⊗ P_S/ΣP_S``.
    psf_common : array, odd
        ``P_S ⊗ P_T′/ΣP_T′``: the PSF of ``ct`` (and of ``co`` up to the flux scale);
        its sum is ``ΣP_S`` before cropping.
    """
    xp = xp or get_namespace(sci, tmpl_rs, psf_sci, psf_tmpl_rot)
    ps = xp.asarray(psf_sci, dtype=xp.float64)
    pt = xp.asarray(psf_tmpl_rot, dtype=xp.float64)
    check_odd_kernel(ps, "psf_sci")
    check_odd_kernel(pt, "psf_tmpl_rot")
    ct = fft_convolve(sci, pt, normalize=True, xp=xp, workers=workers)
    co = fft_convolve(tmpl_rs, ps, normalize=True, xp=xp, workers=workers)
    psf_common = kernel_convolve(ps, pt / pt.sum(), out_size=psf_size, xp=xp)
    return ct, co, psf_common


# --------------------------------------------------------------------------- SFFT


def _sfft_config(n0, n1, w, dk, db, cpr, threads):
    """sfft ``SingleSFFTConfigure.SSC`` (NumPy backend), cached per shape and parameters."""
    key = (int(n0), int(n1), int(w), int(dk), int(db), bool(cpr))
    cfg = _SSC_CACHE.get(key)
    if cfg is None:
        import numba  # noqa: PLC0415
        from sfft.sfftcore.SFFTConfigure import SingleSFFTConfigure  # noqa: PLC0415

        real_set_num_threads = numba.set_num_threads
        try:
            cfg = SingleSFFTConfigure.SSC(
                NX=key[0], NY=key[1], KerHW=key[2], KerPolyOrder=key[3], BGPolyOrder=key[4],
                ConstPhotRatio=key[5], BACKEND_4SUBTRACT="Numpy",
                NUM_CPU_THREADS_4SUBTRACT=int(threads), NUMBA_CACHE=True, VERBOSE_LEVEL=0,
            )
        finally:  # sfft assigns an int to numba.set_num_threads; undo it
            numba.set_num_threads = real_set_num_threads
        _SSC_CACHE[key] = cfg
    return cfg


def plan_tiles(shape, max_pixels: int, margin: int, tile=None):
    """Split a frame into identical overlapping tiles for SFFT.

    Parameters
    ----------
    shape : (ny, nx)
    max_pixels : int
        Largest tile (pixels) per SFFT call.
    margin : int
        Overlap [px] added on each side of a tile's core (where the frame allows).
    tile : (n_y, n_x), optional
        Force the number of tiles per axis.

    Returns
    -------
    list of (box, core)
        ``box = (y0, y1, x0, x1)`` of the tile and ``core = (y0, y1, x0, x1)`` of the
        pixels it owns in the stitched result (frame coordinates, half-open).  All boxes
        have the same shape (so numba compiles once); cores partition the frame.
    """
    ny, nx = int(shape[0]), int(shape[1])
    if tile is None:
        nty = ntx = 1
        while True:
            ty = min(ny, math.ceil(ny / nty) + (2 * margin if nty > 1 else 0))
            tx = min(nx, math.ceil(nx / ntx) + (2 * margin if ntx > 1 else 0))
            if ty * tx <= max_pixels:
                break
            if (ty >= tx and nty < ny) or ntx >= nx:
                nty += 1
            else:
                ntx += 1
            if math.ceil(ny / nty) < margin or math.ceil(nx / ntx) < margin:
                raise ValueError(
                    f"max_pixels_per_call={max_pixels} too small for margin {margin}"
                )
    else:
        nty, ntx = int(tile[0]), int(tile[1])

    def axis(n, nt):
        size = min(n, math.ceil(n / nt) + (2 * margin if nt > 1 else 0))
        bounds = [round(k * n / nt) for k in range(nt + 1)]
        out = []
        for k in range(nt):
            start = min(max(bounds[k] - margin, 0), n - size)
            out.append((start, start + size, bounds[k], bounds[k + 1]))
        return out

    tiles = []
    for y0, y1, cy0, cy1 in axis(ny, nty):
        for x0, x1, cx0, cx1 in axis(nx, ntx):
            tiles.append(((y0, y1, x0, x1), (cy0, cy1, cx0, cx1)))
    return tiles


@contextlib.contextmanager
def _in_place_fft2(threads: int):
    """Let sfft's numpy solve pass transform its plane stacks in place.

    Why not plain sfft: its numpy backend writes ``X = SCALE * pyfftw.interfaces.numpy_fft
    .fft2(X)`` for every stack of basis-product planes (36 complex planes of the frame
    for the Ω block at kernel order 2).  pyfftw's interface makes an aligned copy of the
    input and a fresh output (and its plan cache keeps both alive), so four copies of the
    largest stack coexist: ≈ 2.3 kB per pixel, most of a pair's peak memory
    (docs/benchmarks.md).  Every such call in the solve pass rebinds ``X`` to the result,
    so the input may be overwritten; :func:`scipy.fft.fft2` with ``overwrite_x=True``
    transforms a C-contiguous complex stack in place, which halves that peak.  The
    numbers are the same FFT to rounding (checked in tests/test_subtract.py).

    sfft imports pyfftw inside the function and looks ``fft2`` up at call time, so the
    attribute is swapped for the duration of the call and restored afterwards.
    """
    try:
        import pyfftw.interfaces.numpy_fft as pyfftw_fft  # noqa: PLC0415
    except ImportError:  # sfft would fail on its own import; nothing to swap
        yield
        return

    def fft2(a, s=None, axes=(-2, -1), **_pyfftw_options):
        return scipy.fft.fft2(a, s=s, axes=axes, overwrite_x=True, workers=threads)

    original = pyfftw_fft.fft2
    pyfftw_fft.fft2 = fft2
    try:
        yield
    finally:
        pyfftw_fft.fft2 = original


def _kernel_from_solution(coeffs, n0, n1, w, dk, db, x_local, y_local):
    """Matching kernel ``[y, x]`` at 0-based tile-local ``(x, y)`` from an sfft solution."""
    from sfft.utils.SFFTSolutionReader import Realize_MatchingKernel  # noqa: PLC0415

    fpq = (db + 1) * (db + 2) // 2
    size = 2 * w + 1
    xy_q = np.array([[x_local + 1.0, y_local + 1.0]])  # sfft: 1-based, [x, y] frame
    k_xy = Realize_MatchingKernel(XY_q=xy_q).FromArray(
        Solution=np.asarray(coeffs, dtype=float), N0=n0, N1=n1, L0=size, L1=size, DK=dk, Fpq=fpq
    )[0]
    return _from_sfft(k_xy)


def apply_sfft_solution(ref, sci, coeffs, kernel_half_width: int, kernel_poly_order: int,
                        bg_poly_order: int, workers: int | None = None) -> np.ndarray:
    """Apply an sfft solution: ``DIFF = SCI − Σ_ij (c_x^i c_y^j · REF) ⊛ K_ij − B``.

    This reproduces sfft's subtraction pass (``ElementalSFFTSubtract`` with
    ``Subtract=True``, to ~1e-13 relative) with one real FFT per polynomial term instead of
    sfft's ``(2w+1)``-plane phase arrays, which saves about a third of the time of a
    ``GSS`` call and never exceeds the memory of the solve pass.

    Parameters
    ----------
    ref, sci : numpy.ndarray (ny, nx)
        ``[y, x]`` images (the tile the solution was fitted on).
    coeffs : numpy.ndarray
        sfft solution vector.
    kernel_half_width, kernel_poly_order, bg_poly_order : int
        ``w``, ``DK``, ``DB`` of the solution.

    Returns
    -------
    numpy.ndarray (ny, nx)
        ``[y, x]`` difference.  As in sfft, the convolution is circular over the tile and
        the polynomial factors use sfft's scaled coordinates ``c_x = (x + 1) / nx``,
        ``c_y = (y + 1) / ny`` (``x`` = column) and multiply REF before the shift.
    """
    import scipy.fft as sfft_fft  # noqa: PLC0415
    from sfft.utils.SFFTSolutionReader import (  # noqa: PLC0415
        Read_SFFTSolution,
        SVKDict_SFFT2ST,
    )

    ny, nx = ref.shape
    w, dk, db = int(kernel_half_width), int(kernel_poly_order), int(bg_poly_order)
    size = 2 * w + 1
    fpq = (db + 1) * (db + 2) // 2
    kw = {} if workers is None else {"workers": int(workers)}
    sdict = Read_SFFTSolution().FromArray(Solution=np.asarray(coeffs, dtype=float), N0=nx, N1=ny,
                                          L0=size, L1=size, DK=dk, Fpq=fpq)
    std = SVKDict_SFFT2ST.convert(DKx=dk, DKy=dk, Sfft_dict=sdict)
    cx = (np.arange(nx, dtype=float) + 1.0) / nx
    cy = (np.arange(ny, dtype=float) + 1.0) / ny
    acc = None
    for (i, j), k_xy in std.items():
        term = ref * (cy[:, None] ** j) * (cx[None, :] ** i)
        f = sfft_fft.rfft2(term, **kw)
        f *= sfft_fft.rfft2(embed_kernel(_from_sfft(k_xy), (ny, nx)), **kw)
        acc = f if acc is None else acc + f
    out = sci - sfft_fft.irfft2(acc, s=(ny, nx), **kw)
    b = np.asarray(coeffs, dtype=float)[-fpq:]
    k = 0
    for pp in range(db + 1):
        for qq in range(db + 1 - pp):
            out -= b[k] * (cx[None, :] ** pp) * (cy[:, None] ** qq)
            k += 1
    return out


def match_kernel_at(solution: dict, y: float, x: float) -> np.ndarray:
    """Matching kernel ``K`` ``[y, x]`` at a 0-based frame position.

    Parameters
    ----------
    solution : dict
        As returned by :func:`sfft_solve_subtract`.
    y, x : float
        0-based position in the frame (the tile whose core holds it is used).

    Returns
    -------
    numpy.ndarray, shape (2w+1, 2w+1)
        Convolution kernel such that ``REF ⊗ K`` (``romandia.convolve.fft_convolve``)
        models ``SCI``; its sum is the local flux scale SCI/REF.
    """
    w = solution["kernel_half_width"]
    dk = solution["kernel_poly_order"]
    db = solution["bg_poly_order"]
    iy, ix = int(round(y)), int(round(x))
    for coeffs, (box, core) in zip(solution["coeffs"], solution["tiles"], strict=True):
        if core[0] <= iy < core[1] and core[2] <= ix < core[3]:
            n1, n0 = box[1] - box[0], box[3] - box[2]
            return _kernel_from_solution(coeffs, n0, n1, w, dk, db, x - box[2], y - box[0])
    raise ValueError(f"position ({y}, {x}) outside the frame {solution['shape']}")


def sfft_solve_subtract(
    ref,
    sci,
    ref_masked,
    sci_masked,
    kernel_half_width: int = 9,
    kernel_poly_order: int = 2,
    bg_poly_order: int = 0,
    const_phot_ratio: bool = True,
    tile=None,
    threads: int = 1,
    max_pixels_per_call: int = DEFAULT_PARAMS["max_pixels_per_call"],
    margin: int | None = None,
    min_fit_pixels: int = 100,
    apply_with: str = "romandia",
):
    """SFFT: fit a spatially varying matching kernel on the masked pair and subtract.

    ``DIFF = SCI − REF ⊗ K(x, y) − B(x, y)`` (sfft ``ForceConv='REF'``), with ``K`` a
    ``(2w+1)²`` δ-basis kernel whose coefficients vary as a polynomial of order
    ``kernel_poly_order`` (a constant flux ratio when ``const_phot_ratio``), and ``B`` a
    polynomial background of order ``bg_poly_order``.  The solution is fitted on
    ``(ref_masked, sci_masked)`` and applied to ``(ref, sci)``.

    Calls ``sfft.sfftcore.SFFTConfigure.SingleSFFTConfigure.SSC`` (cached per tile shape
    and parameters) and sfft's solve pass (``ElementalSFFTSubtract.ESS``, as the first
    half of ``GeneralSFFTSubtract.GSS``) with ``BACKEND_4SUBTRACT='Numpy'`` on float64
    ``[x, y]`` arrays; the solution is applied by :func:`apply_sfft_solution` (identical
    to GSS's subtraction pass to ~1e-13, ~1/3 faster), or by ``GSS`` itself with
    ``apply_with='sfft'``.  Frames above
    ``max_pixels_per_call`` (peak memory ≈ 2.8 kB per pixel of a call) are split into
    identical overlapping tiles (:func:`plan_tiles`), each fitted independently; the
    cores are stitched.

    Parameters
    ----------
    ref, sci : array (ny, nx)
        Finite images ``[y, x]``; ``ref`` is the one convolved.
    ref_masked, sci_masked : array (ny, nx)
        Copies with the pixels excluded from the fit set to 0.
    kernel_half_width : int
        ``w``; the kernel is ``(2w+1)²``.
    kernel_poly_order, bg_poly_order : int
        Polynomial orders (0–3).
    const_phot_ratio : bool
        Constant photometric ratio over the frame (per tile).
    tile : (n_y, n_x), optional
        Force this tiling; default automatic from ``max_pixels_per_call``.
    threads : int
        pyFFTW / scipy.fft threads.  sfft's numba kernels use ``NUMBA_NUM_THREADS`` (set
        it in the environment before numba is imported; this function never changes it).
    max_pixels_per_call : int
        Memory budget per SFFT call in pixels.
    margin : int, optional
        Tile overlap [px]; default ``max(32, 2(2w+1))``.  It should exceed the kernel
        plus PSF half-widths.
    min_fit_pixels : int
        Minimum number of non-zero fit pixels per tile.
    apply_with : {'romandia', 'sfft'}
        Who applies the solution (see above).

    Returns
    -------
    diff : numpy.ndarray (ny, nx)
        ``SCI − REF ⊗ K − B``, ``[y, x]``.
    solution : dict
        ``coeffs`` (list of sfft solution vectors, one per tile), ``tiles`` (list of
        ``(box, core)`` from :func:`plan_tiles`), ``kernel_half_width``,
        ``kernel_poly_order``, ``bg_poly_order``, ``const_phot_ratio``, ``shape``.  Use
        :func:`match_kernel_at` to evaluate ``K`` anywhere.
    match_kernel : numpy.ndarray (2w+1, 2w+1)
        ``K`` ``[y, x]`` at the frame centre ``((ny-1)/2, (nx-1)/2)``; ``sum`` = flux
        scale SCI/REF.

    Raises
    ------
    DataError
        ``stage='subtract'``: too few fit pixels, singular system, non-finite solution,
        or a non-positive flux scale.
    """
    from sfft.sfftcore.SFFTSubtract import (  # noqa: PLC0415
        ElementalSFFTSubtract,
        GeneralSFFTSubtract,
    )

    if apply_with not in ("romandia", "sfft"):
        raise ValueError(f"apply_with must be 'romandia' or 'sfft', got {apply_with!r}")

    ref, sci, ref_masked, sci_masked = (
        np.asarray(to_numpy(a), dtype=np.float64) for a in (ref, sci, ref_masked, sci_masked)
    )
    shape = ref.shape
    for name, a in (("sci", sci), ("ref_masked", ref_masked), ("sci_masked", sci_masked)):
        if a.shape != shape:
            raise ValueError(f"{name} shape {a.shape} differs from ref {shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} has non-finite pixels; fill them before SFFT")
    if not np.all(np.isfinite(ref)):
        raise ValueError("ref has non-finite pixels; fill them before SFFT")
    w, dk, db = int(kernel_half_width), int(kernel_poly_order), int(bg_poly_order)
    if margin is None:
        margin = max(32, 2 * (2 * w + 1))
    tiles = plan_tiles(shape, int(max_pixels_per_call), int(margin), tile)

    diff = np.empty(shape, dtype=np.float64)
    coeffs = []
    fit_any = (ref_masked != 0) | (sci_masked != 0)
    for box, core in tiles:
        y0, y1, x0, x1 = box
        n_fit = int(np.count_nonzero(fit_any[y0:y1, x0:x1]))
        if n_fit < min_fit_pixels:
            raise DataError(
                "subtract", f"only {n_fit} fit pixels in tile {box} (< {min_fit_pixels})"
            )
        n0, n1 = x1 - x0, y1 - y0  # sfft axis 0 = x
        cfg = _sfft_config(n0, n1, w, dk, db, const_phot_ratio, threads)
        sl = (slice(y0, y1), slice(x0, x1))
        try:
            if apply_with == "sfft":
                sol, d_xy, _ = GeneralSFFTSubtract.GSS(
                    PixA_I=_to_sfft(ref[sl]), PixA_J=_to_sfft(sci[sl]),
                    PixA_mI=_to_sfft(ref_masked[sl]), PixA_mJ=_to_sfft(sci_masked[sl]),
                    SFFTConfig=cfg, BACKEND_4SUBTRACT="Numpy",
                    NUM_CPU_THREADS_4SUBTRACT=int(threads), VERBOSE_LEVEL=0,
                )
            else:  # sfft's solve pass only; the subtraction is applied below
                with _in_place_fft2(int(threads)):
                    sol, _ = ElementalSFFTSubtract.ESS(
                        PixA_I=_to_sfft(ref_masked[sl]), PixA_J=_to_sfft(sci_masked[sl]),
                        SFFTConfig=cfg, SFFTSolution=None, Subtract=False,
                        BACKEND_4SUBTRACT="Numpy", NUM_CPU_THREADS_4SUBTRACT=int(threads),
                        VERBOSE_LEVEL=0,
                    )
        except np.linalg.LinAlgError as exc:
            raise DataError("subtract", f"singular SFFT system in tile {box}: {exc}") from exc
        sol = np.asarray(sol, dtype=np.float64)
        if not np.all(np.isfinite(sol)):
            raise DataError("subtract", f"non-finite SFFT solution in tile {box}")
        if apply_with == "sfft":
            d = _from_sfft(d_xy)
        else:
            d = apply_sfft_solution(ref[sl], sci[sl], sol, w, dk, db, workers=threads)
        if not np.all(np.isfinite(d)):
            raise DataError("subtract", f"non-finite difference in tile {box}")
        cy0, cy1, cx0, cx1 = core
        diff[cy0:cy1, cx0:cx1] = d[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        coeffs.append(sol)

    solution = {
        "coeffs": coeffs,
        "tiles": tiles,
        "kernel_half_width": w,
        "kernel_poly_order": dk,
        "bg_poly_order": db,
        "const_phot_ratio": bool(const_phot_ratio),
        "shape": tuple(shape),
    }
    kern = match_kernel_at(solution, (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)
    scale = float(kern.sum())
    if not np.isfinite(scale) or scale <= 0:
        raise DataError("subtract", f"non-positive or non-finite flux scale {scale!r}")
    return diff, solution, kern


# --------------------------------------------------------------------------- per-pair flow


def exclude_from_fit(mask, positions, radius: float):
    """Remove discs around the transients from a fit mask.

    The SFFT kernel must be fitted on static sources only: a supernova inside the fit
    mask (it sits on its host, which is in the detection mask) pulls the kernel toward
    reproducing it from the template, biasing its flux low.  On full SCAs thousands of
    galaxies dilute this; on cutouts the host can dominate the fit.

    Parameters
    ----------
    mask : array (ny, nx)
        Detection mask ``[y, x]`` (bool or 0/1).
    positions : iterable of (x, y)
        0-based pixel positions of the objects.
    radius : float
        Disc radius [px]; 0 leaves the mask unchanged.

    Returns
    -------
    array
        A copy of ``mask`` with the discs set to 0.
    """
    out = np.array(mask, copy=True)
    if radius <= 0:
        return out
    ny, nx = out.shape
    yy, xx = np.ogrid[:ny, :nx]
    for x, y in positions:
        out[(xx - x) ** 2 + (yy - y) ** 2 <= radius * radius] = 0
    return out



def kernel_parameter_count(kernel_half_width: int, kernel_poly_order: int,
                           bg_poly_order: int = 0) -> int:
    """Number of free coefficients of an SFFT solution (δ-basis kernel + background)."""
    n_k = (2 * int(kernel_half_width) + 1) ** 2
    n_poly = (int(kernel_poly_order) + 1) * (int(kernel_poly_order) + 2) // 2
    n_bg = (int(bg_poly_order) + 1) * (int(bg_poly_order) + 2) // 2
    return n_k * n_poly + n_bg


def supported_poly_order(n_fit: int, kernel_half_width: int, max_order: int, bg_poly_order: int,
                         pixels_per_parameter: float) -> int:
    """Highest kernel polynomial order <= ``max_order`` that ``n_fit`` fit pixels constrain
    with at least ``pixels_per_parameter`` pixels per coefficient (0 if none does)."""
    for order in range(int(max_order), 0, -1):
        need = pixels_per_parameter * kernel_parameter_count(kernel_half_width, order,
                                                             bg_poly_order)
        if n_fit >= need:
            return order
    return 0


def _compact_source_mask(ct, co, psf_s, psf_t, sig_s, sig_t, nsigma, xp):
    """Pixels significantly positive in both cross-convolved images (any source size).

    The per-pixel noise of ``ct = S ⊗ P_T′/ΣP_T′`` is ``σ_S √Σ(P_T′/ΣP_T′)²`` (white input
    noise), and likewise for ``co``; a pixel is kept if both exceed ``nsigma`` times their
    noise, then the mask is grown by 2 px (as phrosty's detection mask).
    """
    pt = xp.asarray(psf_t, dtype=xp.float64)
    ps = xp.asarray(psf_s, dtype=xp.float64)
    n_ct = float(sig_s) * math.sqrt(float(xp.sum((pt / pt.sum()) ** 2)))
    n_co = float(sig_t) * math.sqrt(float(xp.sum((ps / ps.sum()) ** 2)))
    m = (ct > nsigma * n_ct) & (co > nsigma * n_co)
    return _dilate(m, 2.0, xp)


def _impose_flux_scale(ct, diff_raw, kern, solution, fit, scale: float, xp):
    """Rescale the fitted kernel to a known sum and refit the background (least squares).

    With ``M = K ⊗ Co`` (the kernel part of the SFFT model ``ct − diff_raw = M + B``), the
    new difference is ``ct − f M − B′`` with ``f = scale / ΣK`` and ``B′`` the polynomial
    of the solution's order that best fits ``ct − f M`` on the fit pixels.  Returns the new
    ``diff_raw`` and kernel (at the frame centre).
    """
    if not scale > 0:
        raise ValueError(f"flux_scale must be > 0, got {scale}")
    f = scale / float(kern.sum())
    db = int(solution["bg_poly_order"])
    bg = xp.zeros_like(diff_raw)
    for box, coeffs in zip(solution["tiles"], solution["coeffs"], strict=True):
        (y0, y1, x0, x1), core = box[0], box[1]
        cy0, cy1, cx0, cx1 = core
        zero = np.zeros((y1 - y0, x1 - x0))
        b = -apply_sfft_solution(zero, zero, coeffs, solution["kernel_half_width"],
                                 solution["kernel_poly_order"], db)
        bg[cy0:cy1, cx0:cx1] = asarray(b[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0], xp)
    model = (ct - diff_raw - bg) * f  # f K ⊗ Co
    resid = ct - model
    ny, nx = ct.shape
    yy, xx = xp.mgrid[0:ny, 0:nx]
    cx, cy = (xx + 1.0) / nx, (yy + 1.0) / ny
    terms = [cx**i * cy**j for i in range(db + 1) for j in range(db + 1 - i)]
    fm = xp.asarray(fit).astype(bool)
    a = xp.stack([tm[fm] for tm in terms], axis=1)
    coef = xp.linalg.lstsq(a, resid[fm], rcond=None)[0]
    bg_new = sum(c * tm for c, tm in zip(coef, terms, strict=True))
    return resid - bg_new, kern * f


def _params(params):
    p = dict(DEFAULT_PARAMS)
    if params:
        unknown = set(params) - set(DEFAULT_PARAMS)
        if unknown:
            raise ValueError(
                f"unknown difference_pair params {sorted(unknown)}; known: {sorted(DEFAULT_PARAMS)}"
            )
        p.update(params)
    return p


def difference_pair(
    sci,
    sci_var,
    sci_detmask,
    sci_psf,
    sci_skyrms,
    tmpl_rs,
    tmpl_var_rs,
    tmpl_detmask_rs,
    tmpl_blank,
    tmpl_psf_rot,
    tmpl_skyrms,
    params=None,
    fit_exclude=None,
):
    """Difference one science image and one (resampled) template.

    All images are on the science pixel grid, ``[y, x]``, sky-subtracted, in counts.

    Parameters
    ----------
    sci : array (ny, nx)
        Science image ``S``; NaN = bad pixel.
    sci_var : array (ny, nx)
        Science variance [counts²].
    sci_detmask : array (ny, nx)
        Science detection mask (1 / True = pixel on a detected source).
    sci_psf : array, odd
        Science PSF stamp ``P_S`` at the object, science frame.
    sci_skyrms : float
        Science background RMS σ_S [counts / px].
    tmpl_rs, tmpl_var_rs, tmpl_detmask_rs, tmpl_blank : arrays (ny, nx)
        Template image, variance, fractional detection mask and blank mask resampled to
        the science grid (:func:`romandia.resample.resample_image_set`).
    tmpl_psf_rot : array, odd
        Template PSF in the science frame ``P_T′`` (:func:`romandia.resample.rotate_psf`).
    tmpl_skyrms : float
        Template background RMS σ_T [counts / px] (taken as is for the resampled
        template).
    params : dict, optional
        Keys of :data:`DEFAULT_PARAMS` (unknown keys raise ``ValueError``).
    fit_exclude : array (ny, nx) of bool, optional
        Pixels never used in the kernel fit (discs around the transients).

    Returns
    -------
    dict
        ``diff``
            Decorrelated difference ``(Ct − K ⊗ Co − B) ⊗ k_φ`` [counts, science flux
            scale]; NaN on ``blank``.
        ``var``
            Its variance [counts²] (:func:`romandia.decorrelate.difference_variance`);
            NaN on ``blank``.
        ``psf``
            Decorrelated common PSF ``(P_S ⊗ P_T′) ⊗ k_φ``, odd size ``psf_size``
            (default: the science stamp size), not renormalised.
        ``zptimg``
            Decorrelated cross-convolved science image ``Ct ⊗ k_φ`` (same PSF and flux
            scale as ``diff``); NaN where bad science pixels reach.
        ``decorr_kernel``
            Real-space decorrelation kernel ``k_φ`` (odd, sum ≈ 1), cropped to hold
            ``decorr_power_fraction`` of its power; for applying to other stamps.  The
            outputs here use the exact filter (Fourier, zero-padded frame).
        ``match_kernel``
            ``K`` ``[y, x]`` at the frame centre, ``(2w+1)²``.
        ``noise_kernels``
            ``(k_sci, k_tmpl)``: the kernels carrying science and resampled-template
            pixels into ``diff`` (:func:`romandia.decorrelate.effective_kernels`), for
            exact error propagation of measurements (:mod:`romandia.errorprop`).
        ``flux_scale``
            ``ΣK``: science / template flux ratio (``params['flux_scale']`` when given).
        ``fitted_flux_scale``
            ``ΣK`` as fitted by SFFT.
        ``blank``
            Bool mask of unusable difference pixels: template blank (outside its
            footprint) or non-finite input pixels, grown by the radii of the kernels that
            spread them (``P_T′`` for science pixels; ``P_S`` + ``K`` for template pixels;
            plus ``k_φ``): the radii hold ``blank_radius_fraction`` of ``Σ|P|`` for the
            PSFs and of ``Σk²`` for ``K`` and ``k_φ`` (whose wings are noise / weak).
        ``diff_raw``
            Difference before decorrelation (0 on ``blank``).
        ``solution``
            SFFT solution dict (:func:`sfft_solve_subtract`).
        ``n_fit_pixels``
            Pixels used in the SFFT fit.
        ``kernel_poly_order``
            Polynomial order actually fitted (lowered from ``params['kernel_poly_order']``
            when the fit pixels cannot constrain it, see ``min_fit_pixels_per_parameter``).
        ``kernel_half_width``
            Kernel half-width actually used (lowered likewise, not below
            ``min_kernel_half_width``).
        ``fit_compact_sources``
            Whether compact sources were added to the fit mask.
        ``timings``
            Seconds per stage: ``cross_convolve``, ``sfft``, ``decorrelate``, ``variance``.

    Raises
    ------
    DataError
        ``stage='subtract'`` for too few fit pixels, a singular SFFT system, ...

    Notes
    -----
    NaNs in the inputs are replaced by 0 for the FFTs and marked NaN in the outputs
    (through ``blank``).  Template pixels outside its footprint are 0 (sky-subtracted)
    for the FFTs.  The decorrelation uses scalar sky RMS values, ``K`` at the frame
    centre, and ignores the covariance of the resampled template noise (see
    :mod:`romandia.decorrelate`).
    """
    p = _params(params)
    xp = get_namespace(sci, tmpl_rs)
    workers = int(p["threads"])
    t = {}
    t0 = time.perf_counter()

    sci = xp.asarray(sci, dtype=xp.float64)
    shape = sci.shape
    arrays = {
        "sci_var": sci_var, "sci_detmask": sci_detmask, "tmpl_rs": tmpl_rs,
        "tmpl_var_rs": tmpl_var_rs, "tmpl_detmask_rs": tmpl_detmask_rs, "tmpl_blank": tmpl_blank,
    }
    for name, a in arrays.items():
        if a.shape != shape:
            raise ValueError(f"{name} shape {a.shape} differs from sci {shape}")
    sci_var = xp.asarray(sci_var, dtype=xp.float64)
    tmpl = xp.asarray(tmpl_rs, dtype=xp.float64)
    tmpl_var = xp.asarray(tmpl_var_rs, dtype=xp.float64)
    psf_s = xp.asarray(sci_psf, dtype=xp.float64)
    psf_t = xp.asarray(tmpl_psf_rot, dtype=xp.float64)

    bad_sci = ~(xp.isfinite(sci) & xp.isfinite(sci_var))
    bad_tmpl = xp.asarray(tmpl_blank).astype(bool) | ~(xp.isfinite(tmpl) & xp.isfinite(tmpl_var))
    sci0 = xp.where(bad_sci, 0.0, sci)
    tmpl0 = xp.where(bad_tmpl, 0.0, tmpl)

    # 1. cross-convolution
    ct, co, psf_common = cross_convolve(sci0, tmpl0, psf_s, psf_t, xp=xp, workers=workers)
    t["cross_convolve"] = time.perf_counter() - t0

    # 2. fit mask and SFFT
    t1 = time.perf_counter()
    frac = float(p["blank_radius_fraction"])
    r_t = effective_radius(psf_t, frac)
    r_s = effective_radius(psf_s, frac)
    w = int(p["kernel_half_width"])
    bad_ct = _dilate(bad_sci, r_t, xp)
    fit_bad = bad_ct | _dilate(bad_tmpl, r_s + w, xp)
    # saturated cores are clipped (non-linear): keep them, spread by P_T′ and the kernel,
    # out of the fit
    sat = p["saturation"]
    if sat is not None:
        satm = (sci0 >= float(sat)) | (tmpl0 >= float(sat))
        fit_bad = fit_bad | _dilate(satm, max(r_t, r_s) + w, xp)
    if fit_exclude is not None:
        fit_bad = fit_bad | xp.asarray(fit_exclude).astype(bool)
    fit = (
        (xp.asarray(sci_detmask, dtype=xp.float64) > 0.5)
        & (xp.asarray(tmpl_detmask_rs, dtype=xp.float64) > float(p["detmask_threshold"]))
        & ~fit_bad
    )
    n_fit = int(xp.count_nonzero(fit))
    db = int(p["bg_poly_order"])
    ppp = float(p["min_fit_pixels_per_parameter"])
    compact = p["fit_compact_sources"]
    n_need0 = ppp * kernel_parameter_count(w, 0, db)
    used_compact = False
    if compact is True or (compact == "auto" and n_fit < n_need0):
        extra = _compact_source_mask(ct, co, psf_s, psf_t, sci_skyrms, tmpl_skyrms,
                                     float(p["compact_detect_sigma"]), xp)
        fit = fit | (extra & ~fit_bad)
        n_fit = int(xp.count_nonzero(fit))
        used_compact = True
    if n_fit < int(p["min_fit_pixels"]):
        raise DataError("subtract", f"only {n_fit} pixels detected in both images to fit SFFT")
    order = supported_poly_order(n_fit, w, int(p["kernel_poly_order"]), db, ppp)
    w_min = min(w, int(p["min_kernel_half_width"]))
    while w > w_min and n_fit < ppp * kernel_parameter_count(w, 0, db):
        w -= 1
    mct = xp.where(fit, ct, 0.0)
    mco = xp.where(fit, co, 0.0)
    diff_raw, solution, kern = sfft_solve_subtract(
        co, ct, mco, mct,
        kernel_half_width=w,
        kernel_poly_order=order,
        bg_poly_order=int(p["bg_poly_order"]),
        const_phot_ratio=bool(p["const_phot_ratio"]),
        tile=p["tile"],
        threads=workers,
        max_pixels_per_call=int(p["max_pixels_per_call"]),
        margin=p["tile_margin"],
        min_fit_pixels=int(p["min_fit_pixels"]),
    )
    diff_raw = asarray(diff_raw, xp)
    fitted_scale = float(kern.sum())
    if p["flux_scale"] is not None:
        diff_raw, kern = _impose_flux_scale(ct, diff_raw, kern, solution, fit, float(p["flux_scale"]),
                                            xp)
    kern_x = asarray(kern, xp)
    t["sfft"] = time.perf_counter() - t1

    # 3. decorrelation: exact filter on a small grid for stamps, on the padded frame for images
    t2 = time.perf_counter()
    kd = kern_x if p["use_match_kernel"] else None
    sig_s, sig_t, floor = float(sci_skyrms), float(tmpl_skyrms), float(p["decorr_floor"])
    grid = decorrelation_grid(psf_s, psf_t, kd)
    phi = decorrelation_filter(grid, psf_s, psf_t, sig_s, sig_t, match_kernel=kd, floor=floor,
                               xp=xp)
    psf_size = p["psf_size"] or psf_s.shape
    psf_dec, k_phi = decorrelate_kernel(
        psf_common, phi, grid, power_fraction=float(p["decorr_power_fraction"]),
        out_size=psf_size, xp=xp,
    )
    pad = grid[0] // 2  # >= support half-width of k_phi: no wrap-around
    fshape = tuple(scipy.fft.next_fast_len(n + pad, real=True) for n in shape)
    phi_frame = decorrelation_filter(fshape, psf_s, psf_t, sig_s, sig_t, match_kernel=kd,
                                     floor=floor, xp=xp)
    r_k = effective_radius(kern, frac, weight="power")
    # Growth of bad pixels into the decorrelated difference (docs/validation.md, fix 3): by
    # the radius of the kernels that actually carry each input into it, k_sci = P_T′ ⊗ k_φ
    # and k_tmpl = K ⊗ P_S ⊗ k_φ (holding ``frac`` of Σ|k|).  Adding the radii of P and of
    # k_φ separately over-grew it: k_φ alone boosts the high frequencies where the PSFs have
    # no power, and its power radius (up to 130 px) NaN-ed whole 256² cutouts.
    k_sci_eff, k_tmpl_eff = effective_kernels(psf_s, psf_t, phi, grid, kd, xp=xp)
    r_sci = effective_radius(k_sci_eff, frac)
    r_tmpl = effective_radius(k_tmpl_eff, frac)
    blank = _dilate(bad_sci, r_sci, xp) | _dilate(bad_tmpl, r_tmpl, xp)
    blank_raw = bad_ct | _dilate(bad_tmpl, r_s + r_k, xp)
    diff_raw = xp.where(blank_raw, 0.0, diff_raw)
    diff = apply_filter(diff_raw, phi_frame, fshape, xp=xp, workers=workers)
    zpt = apply_filter(ct, phi_frame, fshape, xp=xp, workers=workers)
    zpt = xp.where(_dilate(bad_sci, r_sci, xp), xp.nan, zpt)
    t["decorrelate"] = time.perf_counter() - t2

    # 4. variance
    t3 = time.perf_counter()
    var = difference_variance(
        xp.where(bad_sci, 0.0, sci_var), xp.where(bad_tmpl, 0.0, tmpl_var), psf_s, psf_t,
        phi, grid, match_kernel=kd, xp=xp, workers=workers,
    )
    diff = xp.where(blank, xp.nan, diff)
    var = xp.where(blank, xp.nan, var)
    t["variance"] = time.perf_counter() - t3

    return {
        "diff": diff,
        "var": var,
        "psf": psf_dec,
        "zptimg": zpt,
        "decorr_kernel": k_phi,
        "match_kernel": kern,
        "noise_kernels": (to_numpy(k_sci_eff), to_numpy(k_tmpl_eff)),
        "flux_scale": float(kern.sum()),
        "fitted_flux_scale": fitted_scale,
        "blank": blank,
        "diff_raw": diff_raw,
        "solution": solution,
        "n_fit_pixels": n_fit,
        "kernel_poly_order": order,
        "kernel_half_width": w,
        "fit_compact_sources": used_compact,
        "timings": t,
    }


