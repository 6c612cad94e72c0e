"""The one place that touches the ``sfft`` package: SFFT's kernel solve and its ``[x, y]``
arrays.

romandia hands sfft float64 ``[y, x]`` images; this module transposes them to sfft's ``[x, y]``
convention and back (:func:`_to_sfft` / :func:`_from_sfft`), configures sfft per tile shape
(cached), runs its solve pass, and applies the solution.  The patches that make sfft fit the
pipeline live here too, each with its reason: numba's ``set_num_threads`` restored after
sfft's configuration, pyFFTW's copying ``fft2`` swapped for an in-place ``scipy.fft`` one
during the solve pass (:func:`_in_place_fft2`), and ``numpy.in1d`` (removed in numpy 2.4,
still called by sfft 1.7.3) provided as ``numpy.isin`` when missing (:func:`_numpy_compat`).

Threads: ``sfft``'s numba kernels use ``NUMBA_NUM_THREADS`` (set it in the environment
before numba is imported); its pyFFTW transforms use ``threads``.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import scipy.fft

from romandia.convolve import embed_kernel
from romandia.errors import DataError
from romandia.numba_cache import cache_lock
from romandia.xp import asarray, fft_namespace, get_namespace, is_cupy, to_numpy

__all__ = ["MAX_PIXELS_PER_CALL", "apply_sfft_solution", "match_kernel_at", "plan_tiles", "sfft_solve_subtract"]

#: pixels per SFFT call (tile) by default: a 1024² pair in 2 tiles, 954 MB peak subtract job at
#: kernel order 2 (docs/benchmarks.md)
MAX_PIXELS_PER_CALL = 600_000

_SSC_CACHE: dict = {}


def _numpy_compat() -> None:
    """sfft 1.7.3 calls ``np.in1d``, which numpy 2.4 removed; ``np.isin`` on 1-D input is the
    same function (numpy's own deprecation note), so it stands in when ``in1d`` is missing."""
    if not hasattr(np, "in1d"):
        np.in1d = lambda ar1, ar2, assume_unique=False, invert=False: np.isin(  # noqa: E731
            np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert)


def _to_sfft(a) -> np.ndarray:
    """``[y, x]`` → sfft's ``[x, y]`` (C-contiguous float64)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).T)


def _from_sfft(a) -> np.ndarray:
    """sfft's ``[x, y]`` → ``[y, x]``."""
    return np.ascontiguousarray(np.asarray(a).T)


def _sfft_config(n0, n1, w, dk, db, cpr, threads, backend: str = "Numpy"):
    """sfft ``SingleSFFTConfigure.SSC`` (``backend`` ``Numpy`` or ``Cupy``), cached per shape,
    parameters and backend (the CuPy configuration compiles sfft's CUDA kernels)."""
    key = (int(n0), int(n1), int(w), int(dk), int(db), bool(cpr), backend)
    cfg = _SSC_CACHE.get(key)
    if cfg is None:
        import numba  # noqa: PLC0415
        from sfft.sfftcore.SFFTConfigure import SingleSFFTConfigure  # noqa: PLC0415

        _numpy_compat()

        real_set_num_threads = numba.set_num_threads
        try:
            with cache_lock():  # numba's cache is not safe for concurrent writers (numba_cache.py)
                cfg = SingleSFFTConfigure.SSC(
                    NX=key[0], NY=key[1], KerHW=key[2], KerPolyOrder=key[3], BGPolyOrder=key[4],
                    ConstPhotRatio=key[5], BACKEND_4SUBTRACT=backend,
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
    ref, sci : array (ny, nx)
        ``[y, x]`` images (the tile the solution was fitted on), NumPy or device arrays
        (the result is in their namespace).
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
    from sfft.utils.SFFTSolutionReader import (  # noqa: PLC0415
        Read_SFFTSolution,
        SVKDict_SFFT2ST,
    )

    xp = get_namespace(ref, sci)
    fft = fft_namespace(xp)
    ny, nx = ref.shape
    w, dk, db = int(kernel_half_width), int(kernel_poly_order), int(bg_poly_order)
    size = 2 * w + 1
    fpq = (db + 1) * (db + 2) // 2
    kw = {} if workers is None or is_cupy(xp) else {"workers": int(workers)}
    coeffs = np.asarray(to_numpy(coeffs), dtype=float)  # a few thousand numbers: host
    sdict = Read_SFFTSolution().FromArray(Solution=coeffs, N0=nx, N1=ny, L0=size, L1=size, DK=dk, Fpq=fpq)
    std = SVKDict_SFFT2ST.convert(DKx=dk, DKy=dk, Sfft_dict=sdict)
    cx = (xp.arange(nx, dtype=xp.float64) + 1.0) / nx
    cy = (xp.arange(ny, dtype=xp.float64) + 1.0) / ny
    acc = None
    for (i, j), k_xy in std.items():
        term = ref * (cy[:, None] ** j) * (cx[None, :] ** i)
        f = fft.rfft2(term, **kw)
        f *= fft.rfft2(embed_kernel(asarray(_from_sfft(k_xy), xp), (ny, nx), xp=xp), **kw)
        acc = f if acc is None else acc + f
    out = sci - fft.irfft2(acc, s=(ny, nx), **kw)
    b = coeffs[-fpq:]
    k = 0
    for pp in range(db + 1):
        for qq in range(db + 1 - pp):
            out -= b[k] * (cx[None, :] ** pp) * (cy[:, None] ** qq)
            k += 1
    return out


def _solve_cupy(ref_masked, sci_masked, cfg):
    """sfft's solve pass on the GPU (``ElementalSFFTSubtract_PureCupy.ESSPC``): CuPy ``[y, x]``
    tiles in, the solution vector (CuPy) out.  Runs only where CuPy sees a device; checked by
    ``bench/gpu_check.sh`` against the NumPy solve, never by the CPU test suite."""
    import cupy  # noqa: PLC0415
    from sfft.sfftcore.SFFTSubtract import ElementalSFFTSubtract_PureCupy  # noqa: PLC0415

    sol, _ = ElementalSFFTSubtract_PureCupy.ESSPC(
        PixA_I_GPU=cupy.ascontiguousarray(ref_masked.T), PixA_J_GPU=cupy.ascontiguousarray(sci_masked.T),
        SFFTConfig=cfg, SFFTSolution_GPU=None, Subtract=False, VERBOSE_LEVEL=0,
    )
    return sol


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
    max_pixels_per_call: int = MAX_PIXELS_PER_CALL,
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

    xp = get_namespace(ref, sci, ref_masked, sci_masked)
    gpu = is_cupy(xp)
    if gpu and apply_with == "sfft":
        raise ValueError("apply_with='sfft' runs sfft's NumPy subtraction; use 'romandia' on the GPU")
    ref, sci, ref_masked, sci_masked = (xp.asarray(a, dtype=xp.float64) for a in (ref, sci, ref_masked, sci_masked))
    shape = ref.shape
    for name, a in (("sci", sci), ("ref_masked", ref_masked), ("sci_masked", sci_masked)):
        if a.shape != shape:
            raise ValueError(f"{name} shape {a.shape} differs from ref {shape}")
        if not bool(xp.all(xp.isfinite(a))):
            raise ValueError(f"{name} has non-finite pixels; fill them before SFFT")
    if not bool(xp.all(xp.isfinite(ref))):
        raise ValueError("ref has non-finite pixels; fill them before SFFT")
    w, dk, db = int(kernel_half_width), int(kernel_poly_order), int(bg_poly_order)
    if margin is None:
        margin = max(32, 2 * (2 * w + 1))
    tiles = plan_tiles(shape, int(max_pixels_per_call), int(margin), tile)

    diff = xp.empty(shape, dtype=xp.float64)
    coeffs = []
    fit_any = (ref_masked != 0) | (sci_masked != 0)
    for box, core in tiles:
        y0, y1, x0, x1 = box
        n_fit = int(xp.count_nonzero(fit_any[y0:y1, x0:x1]))
        if n_fit < min_fit_pixels:
            raise DataError(
                "subtract", f"only {n_fit} fit pixels in tile {box} (< {min_fit_pixels})"
            )
        n0, n1 = x1 - x0, y1 - y0  # sfft axis 0 = x
        cfg = _sfft_config(n0, n1, w, dk, db, const_phot_ratio, threads, "Cupy" if gpu else "Numpy")
        sl = (slice(y0, y1), slice(x0, x1))
        try:
            if apply_with == "sfft":
                sol, d_xy, _ = GeneralSFFTSubtract.GSS(
                    PixA_I=_to_sfft(to_numpy(ref[sl])), PixA_J=_to_sfft(to_numpy(sci[sl])),
                    PixA_mI=_to_sfft(to_numpy(ref_masked[sl])), PixA_mJ=_to_sfft(to_numpy(sci_masked[sl])),
                    SFFTConfig=cfg, BACKEND_4SUBTRACT="Numpy",
                    NUM_CPU_THREADS_4SUBTRACT=int(threads), VERBOSE_LEVEL=0,
                )
            elif gpu:  # sfft's pure-CuPy solve pass: device arrays in, solution on the device
                sol = _solve_cupy(ref_masked[sl], sci_masked[sl], cfg)
            else:  # sfft's NumPy solve pass only (device arrays of another namespace: their
                # two masked tiles go to the host); the subtraction is applied below
                with _in_place_fft2(int(threads)):
                    sol, _ = ElementalSFFTSubtract.ESS(
                        PixA_I=_to_sfft(to_numpy(ref_masked[sl])), PixA_J=_to_sfft(to_numpy(sci_masked[sl])),
                        SFFTConfig=cfg, SFFTSolution=None, Subtract=False,
                        BACKEND_4SUBTRACT="Numpy", NUM_CPU_THREADS_4SUBTRACT=int(threads),
                        VERBOSE_LEVEL=0,
                    )
        except np.linalg.LinAlgError as exc:
            raise DataError("subtract", f"singular SFFT system in tile {box}: {exc}") from exc
        sol = np.asarray(to_numpy(sol), dtype=np.float64)
        if not np.all(np.isfinite(sol)):
            raise DataError("subtract", f"non-finite SFFT solution in tile {box}")
        if apply_with == "sfft":
            d = _from_sfft(d_xy)
        else:
            d = apply_sfft_solution(ref[sl], sci[sl], sol, w, dk, db, workers=threads)
        if not bool(xp.all(xp.isfinite(d))):
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
