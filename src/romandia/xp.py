"""NumPy / CuPy namespace selection.

The numerical modules (:mod:`romandia.resample`, :mod:`romandia.convolve`,
:mod:`romandia.decorrelate`, :mod:`romandia.subtract`) are written once against an
array namespace ``xp`` that is either :mod:`numpy` or :mod:`cupy`.  CuPy is optional:
it is imported lazily and only when an argument already is a CuPy array, so nothing
here requires a GPU.
"""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np

__all__ = ["get_namespace", "to_numpy", "asarray", "fft_namespace", "ndimage_namespace", "is_cupy"]


def _is_cupy_array(a) -> bool:
    """True when ``a`` is a CuPy array (checked without importing cupy)."""
    if "cupy" not in sys.modules:
        return False
    return type(a).__module__.split(".", 1)[0] == "cupy"


def _is_device_array(a) -> bool:
    """True for a device array of another namespace: not NumPy's, with the array API's
    ``__array_namespace__`` and CuPy's explicit ``.get()`` copy to the host (the test suite's
    strict stand-in for CuPy, ``tests/_strict_xp.py``, is one)."""
    return (not isinstance(a, np.ndarray) and hasattr(a, "__array_namespace__")
            and callable(getattr(a, "get", None)))


def is_cupy(xp: ModuleType) -> bool:
    """True when the namespace ``xp`` is CuPy."""
    return getattr(xp, "__name__", "") == "cupy"


def get_namespace(*arrays) -> ModuleType:
    """Array namespace of the arguments.

    Parameters
    ----------
    *arrays
        Arrays (or scalars / ``None``, which are ignored).

    Returns
    -------
    module
        :mod:`cupy` if CuPy is importable and any argument is a CuPy array,
        :mod:`numpy` otherwise.
    """
    for a in arrays:
        if a is not None and _is_cupy_array(a):
            import cupy  # noqa: PLC0415  (lazy: optional dependency)

            return cupy
        if a is not None and _is_device_array(a):
            return a.__array_namespace__()
    return np


def to_numpy(a) -> np.ndarray:
    """Return ``a`` as a host NumPy array (copies from the GPU when ``a`` is a CuPy array)."""
    if _is_cupy_array(a) or _is_device_array(a):
        return a.get()
    return np.asarray(a)


def asarray(a, xp: ModuleType | None = None, dtype=None):
    """Convert ``a`` to an array of namespace ``xp`` (NumPy when ``xp`` is None).

    CuPy → NumPy conversions go through :func:`to_numpy` (CuPy forbids implicit
    device-to-host copies).
    """
    if xp is None or xp is np:
        out = to_numpy(a)
        return out.astype(dtype, copy=False) if dtype is not None else out
    return xp.asarray(a, dtype=dtype)


def fft_namespace(xp: ModuleType) -> ModuleType:
    """FFT module to use with ``xp``: :mod:`scipy.fft` for NumPy, :mod:`cupyx.scipy.fft` for CuPy.

    Both provide ``rfft2``, ``irfft2``, ``fft2``, ``ifft2`` and ``next_fast_len``.
    """
    if is_cupy(xp):
        import cupyx.scipy.fft as cfft  # noqa: PLC0415

        return cfft
    if xp is not np and hasattr(xp, "scipy_fft"):  # a stand-in namespace brings its own
        return xp.scipy_fft
    import scipy.fft as sfft_mod  # noqa: PLC0415

    return sfft_mod


def ndimage_namespace(xp: ModuleType) -> ModuleType:
    """``scipy.ndimage`` for NumPy, ``cupyx.scipy.ndimage`` for CuPy (a stand-in namespace's
    ``scipy_ndimage``)."""
    if is_cupy(xp):
        import cupyx.scipy.ndimage as cnd  # noqa: PLC0415

        return cnd
    if xp is not np and hasattr(xp, "scipy_ndimage"):
        return xp.scipy_ndimage
    import scipy.ndimage as snd  # noqa: PLC0415

    return snd


def select_backend(name: str, log=None) -> ModuleType:
    """The array namespace for the config key ``backend``.

    Parameters
    ----------
    name : {"cpu", "gpu", "auto"}
        ``cpu``: numpy.  ``gpu``: cupy, and a usable CUDA device is required.  ``auto``:
        cupy when it imports and sees a device, numpy otherwise.
    log : logging.Logger, optional
        Told which namespace was chosen, and why ``auto`` fell back to NumPy.

    Returns
    -------
    module
        :mod:`numpy` or :mod:`cupy`.

    Raises
    ------
    RuntimeError
        ``gpu`` without CuPy or without a device: an infrastructure fault (the job fails and
        Snakemake may retry it on another node), not a data problem.
    ValueError
        An unknown backend name.
    """
    if name == "cpu":
        if log is not None:
            log.info("backend cpu: NumPy")
        return np
    if name not in ("gpu", "auto"):
        raise ValueError(f"unknown backend '{name}'; use cpu, gpu or auto")
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
        if log is not None:
            log.info("backend %s: CuPy %s on %s", name, cupy.__version__,
                     cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
        return cupy
    except Exception as exc:
        if name == "gpu":
            raise RuntimeError(
                f"backend 'gpu' needs CuPy and a CUDA device ({type(exc).__name__}: {exc}); "
                "install cupy-cuda12x (pip install '.[gpu]') or set backend: cpu"
            ) from None
        if log is not None:
            log.info("backend auto: no usable GPU (%s: %s), NumPy", type(exc).__name__, exc)
        return np


class nvtx_range:
    """Context manager marking a stage in Nsight Systems profiles (``nvtx`` package).

    A no-op when ``nvtx`` is not installed, so CPU runs need nothing.
    """

    def __init__(self, name: str):
        self.name = name
        self._ctx = None

    def __enter__(self):
        try:
            import nvtx
        except ImportError:
            return self
        self._ctx = nvtx.annotate(self.name, domain="romandia")
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
        return False
