"""A strict stand-in for CuPy, so the namespace-generic path is tested on a machine without a GPU.

``strict`` is an array namespace whose arrays (:class:`StrictArray`) behave like CuPy's where it
matters for correctness on a device:

* ``numpy.asarray(a)`` / ``numpy.array(a)`` (and so scipy, astropy, sep, ... given one) raise
  ``TypeError``, as CuPy's ``__array__`` does: every host copy must be explicit (``a.get()``,
  :func:`romandia.xp.to_numpy`);
* mixing a device array with a NumPy array in arithmetic raises ``TypeError`` (CuPy:
  "Unsupported type"), Python and NumPy scalars are fine;
* NumPy ufuncs and functions applied to device arrays dispatch to the namespace and return
  device arrays (``__array_ufunc__`` / ``__array_function__``, as CuPy does);
* ``float()``, ``int()``, ``bool()`` of a 0-d array work (CuPy synchronises and allows them).

The namespace is NumPy underneath, so results can be compared with the NumPy path exactly.
``strict.scipy_fft`` and ``strict.scipy_ndimage`` play ``cupyx.scipy.fft`` / ``.ndimage``.
"""

from __future__ import annotations

import operator
import types

import numpy as np
import scipy.fft
import scipy.ndimage

#: explicit host copies (``get()``): how many, and the size of each [elements]
TRANSFERS = {"to_host": 0, "sizes": []}


def _unwrap(x):
    if isinstance(x, StrictArray):
        return x._a
    if isinstance(x, np.ndarray) and x.ndim > 0:
        raise TypeError(f"Unsupported type {type(x)} (a NumPy array mixed with a device array)")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return StrictArray(x)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


class StrictArray:
    """A device array that refuses implicit conversion to NumPy."""

    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, a):
        self._a = a

    # -- the conversions a device forbids or makes explicit
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (strict device array); "
                        "use .get() / romandia.xp.to_numpy")

    def get(self):
        TRANSFERS["to_host"] += 1
        TRANSFERS["sizes"].append(self._a.size)
        return self._a.copy()

    def __array_namespace__(self, api_version=None):
        return strict

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        res = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        if out is not None:
            out[0]._a[...] = res
            return out[0]
        return _wrap(res)

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # -- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    T = property(lambda self: StrictArray(self._a.T))
    real = property(lambda self: StrictArray(self._a.real))
    imag = property(lambda self: StrictArray(self._a.imag))
    flags = property(lambda self: self._a.flags)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __repr__(self):
        return f"StrictArray({self._a!r})"

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return operator.index(self._a)

    def __bool__(self):
        return bool(self._a)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __getattr__(self, name):  # methods: astype, sum, max, ravel, reshape, copy, ...
        if name.startswith("__") or name in ("ctypes", "data", "base"):  # no buffer or array interface
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *a, **k: _wrap(attr(*_unwrap(a), **_unwrap(k)))
        return attr


def _binary(op, reflected=False):
    def f(self, other):
        o = _unwrap(other)
        return _wrap(op(o, self._a) if reflected else op(self._a, o))

    return f


for _name, _op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv), ("mod", operator.mod),
                   ("pow", operator.pow), ("and", operator.and_), ("or", operator.or_), ("xor", operator.xor),
                   ("matmul", operator.matmul)]:
    setattr(StrictArray, f"__{_name}__", _binary(_op))
    setattr(StrictArray, f"__r{_name}__", _binary(_op, reflected=True))
    setattr(StrictArray, f"__i{_name}__", _binary(_op))
for _name, _op in [("lt", operator.lt), ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge),
                   ("eq", operator.eq), ("ne", operator.ne)]:
    setattr(StrictArray, f"__{_name}__", _binary(_op))
StrictArray.__neg__ = lambda self: StrictArray(-self._a)
StrictArray.__pos__ = lambda self: StrictArray(+self._a)
StrictArray.__abs__ = lambda self: StrictArray(abs(self._a))
StrictArray.__invert__ = lambda self: StrictArray(~self._a)
StrictArray.__hash__ = None


class _Namespace(types.ModuleType):
    """Functions of ``source`` taking and returning device arrays."""

    def __init__(self, name, source):
        super().__init__(name)
        self._source = source

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._source, name)
        if isinstance(attr, types.ModuleType):
            sub = _Namespace(f"{self.__name__}.{name}", attr)
            setattr(self, name, sub)
            return sub
        if callable(attr) and not isinstance(attr, type):
            return lambda *a, **k: _wrap(attr(*_unwrap(a), **_unwrap(k)))
        return attr  # dtypes, constants (nan, pi, newaxis, float64, ...)


class _Strict(_Namespace):
    def asarray(self, a, dtype=None, **_):
        """Host -> device is explicit here (as ``cupy.asarray``)."""
        if isinstance(a, StrictArray):
            return a if dtype is None else StrictArray(a._a.astype(dtype, copy=False))
        return StrictArray(np.array(a, dtype=dtype))

    array = asarray

    def zeros_like(self, a, dtype=None):
        return StrictArray(np.zeros(a.shape, dtype=dtype or a.dtype))

    def ones_like(self, a, dtype=None):
        return StrictArray(np.ones(a.shape, dtype=dtype or a.dtype))

    def empty_like(self, a, dtype=None):
        return StrictArray(np.empty(a.shape, dtype=dtype or a.dtype))

    def full_like(self, a, fill_value, dtype=None):
        return StrictArray(np.full(a.shape, fill_value, dtype=dtype or a.dtype))


strict = _Strict("strict_xp", np)
strict.scipy_fft = _Namespace("strict_xp.scipy_fft", scipy.fft)
strict.scipy_ndimage = _Namespace("strict_xp.scipy_ndimage", scipy.ndimage)
strict.mgrid = type("_MGrid", (), {"__getitem__": lambda self, k: _wrap(np.mgrid[k])})()
strict.ogrid = type("_OGrid", (), {"__getitem__": lambda self, k: _wrap(np.ogrid[k])})()


def to_device(a):
    """A NumPy array as a strict device array (the explicit host -> device copy)."""
    return StrictArray(np.array(a))
