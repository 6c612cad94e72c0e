"""Interpolation kernels and the tap-by-tap weighted sums behind every resampler.

:data:`KERNELS` lists the kernels; ``_weights_1d`` gives the separable 1-D weights of a
coordinate and ``_accumulate`` sums weighted source values (or squared weights times
variances) over the taps for every target pixel.  :mod:`romandia.resample.resampling`,
:func:`romandia.resample.resample_adjoint` and :func:`romandia.resample.rotate_psf` share
these weights, so the resamplers and their adjoint cannot diverge.

Interpolation kernels
---------------------
``'lanczos3'``, ``'lanczos4'``, ``'lanczos5'``
    separable Lanczos-a, 2a×2a taps, 1-D weights normalised to sum 1 per pixel.  On an
    undersampled Roman image a larger ``a`` follows the image between pixel centres more
    closely (`bench/resampling_error.py`: the host light left at a supernova by resampling
    halves from Lanczos-3 to Lanczos-4; beyond that the aliasing floor dominates).
``'bilinear'``
    2×2 taps.
``'nearest'``
    1 tap (nearest source pixel).

Conventions
-----------
Arrays are ``[y, x]``; coordinates are 0-based source-pixel coordinates with ``(0, 0)`` at
the centre of the first pixel (a pixel map, :func:`romandia.resample.pixel_map`).  The
accumulation goes tap by tap (36 gathers for Lanczos-3) over chunks of target pixels, so the
memory cost stays a few times the image size.  All array work goes through ``xp`` (NumPy or
CuPy).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["KERNELS"]

#: Interpolation kernels accepted by the resamplers: name -> half support ``a`` [px].
KERNELS = {"lanczos3": 3, "lanczos4": 4, "lanczos5": 5, "bilinear": 1, "nearest": 0}

_CHUNK = 1 << 16  # target pixels per accumulation block (temporaries stay in cache)


def _check_kernel(kernel):
    if kernel not in KERNELS:
        raise ValueError(f"unknown interpolation kernel {kernel!r}; use one of {sorted(KERNELS)}")


def _weights_1d(coord, kernel, xp):
    """First tap index and normalised 1-D weights (list over taps) for ``coord``.

    Lanczos-a weights ``a sin(πt) sin(πt/a) / (πt)²`` of the ``2a`` taps
    ``floor(coord) - a + 1 ... floor(coord) + a`` are evaluated from ``sin(πf)``,
    ``sin(πf/a)``, ``cos(πf/a)`` of the fractional part ``f`` only (angle addition),
    i.e. three transcendental evaluations per coordinate instead of ``4a``.
    """
    a = KERNELS[kernel]
    if kernel == "nearest":
        first = xp.floor(coord + 0.5)
        return first, [xp.ones_like(coord)]
    base = xp.floor(coord)
    first = base - (a - 1)
    f = coord - base  # in [0, 1)
    ws = []
    if kernel == "bilinear":
        ws = [1.0 - f, f]
        return first, ws
    s1 = xp.sin(math.pi * f)
    s2 = xp.sin(math.pi * f / a)
    c2 = xp.cos(math.pi * f / a)
    for i in range(2 * a):
        k = a - 1 - i  # t = f + k, k = a-1 ... -a
        sign = -1.0 if k % 2 else 1.0
        num = (a * sign) * s1 * (s2 * math.cos(math.pi * k / a) + c2 * math.sin(math.pi * k / a))
        t = f + k
        if k == 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                w = num / (math.pi * math.pi * t * t)
            w = xp.where(t < 1e-8, 1.0, w)
        else:
            w = num / (math.pi * math.pi * t * t)
        ws.append(w)
    total = ws[0]
    for w in ws[1:]:
        total = total + w
    inv = 1.0 / total
    return first, [w * inv for w in ws]


def _accumulate(sources, powers, valid, xs, ys, kernel, xp, chunk=_CHUNK):
    """Tap-by-tap weighted sums over the source arrays.

    Parameters
    ----------
    sources : list of arrays (ny_s, nx_s)
        Source arrays (already NaN-free).
    powers : list of int
        1 → ``Σ w v``, 2 → ``Σ w² v`` for the matching source.
    valid : array (ny_s, nx_s) of float (0/1), or None
        Validity of the source pixels (taps on invalid pixels get weight 0).  None means
        every pixel of the frame is valid; the coverage is then computed separably and
        no validity gather is needed.
    xs, ys : arrays, target shape
        Pixel map (NaN allowed: such pixels get zero sums).
    chunk : int
        Target pixels per block (small blocks keep the temporaries in cache).

    Returns
    -------
    sums : list of arrays (target shape)
    wsum : array (target shape)
        ``Σ w`` over valid in-frame taps (the coverage).
    """
    a = KERNELS[kernel]
    ntap = max(1, 2 * a)
    nys, nxs = sources[0].shape if sources else valid.shape
    # taps of coordinates in [-(a+1), n+a] stay inside the zero padding
    pad = 2 * a + 2
    pny, pnx = nys + 2 * pad, nxs + 2 * pad

    def padded(arr):
        out = xp.zeros((pny, pnx), dtype=xp.float64)
        out[pad : pad + nys, pad : pad + nxs] = arr
        return out.ravel()

    flat_src = [padded(s) for s in sources]
    flat_valid = None if valid is None else padded(valid)

    shape = xs.shape
    xf = xs.ravel()
    yf = ys.ravel()
    n = xf.size
    sums = [xp.zeros(n, dtype=xp.float64) for _ in sources]
    wsum = xp.zeros(n, dtype=xp.float64)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        x = xf[sl]
        y = yf[sl]
        with np.errstate(invalid="ignore"):
            finite = (
                xp.isfinite(x) & xp.isfinite(y)
                & (x >= -(a + 1)) & (x <= nxs + a) & (y >= -(a + 1)) & (y <= nys + a)
            )
        # pixels far outside (or unprojectable) get zero sums; park them on a valid index
        x = xp.where(finite, x, 0.0)
        y = xp.where(finite, y, 0.0)
        fx, wx = _weights_1d(x, kernel, xp)
        fy, wy = _weights_1d(y, kernel, xp)
        ix0 = (fx + pad).astype(xp.int64)
        iy0 = (fy + pad).astype(xp.int64)
        acc = [xp.zeros(x.shape, dtype=xp.float64) for _ in sources]
        if flat_valid is None:  # coverage = product of the in-frame 1-D weight sums
            cov_x = xp.zeros(x.shape, dtype=xp.float64)
            cov_y = xp.zeros(x.shape, dtype=xp.float64)
            for i in range(ntap):
                cov_x += xp.where((fx + i >= 0) & (fx + i < nxs), wx[i], 0.0)
                cov_y += xp.where((fy + i >= 0) & (fy + i < nys), wy[i], 0.0)
            wacc = cov_x * cov_y
        else:
            wacc = xp.zeros(x.shape, dtype=xp.float64)
        for j in range(ntap):
            row = (iy0 + j) * pnx + ix0
            for i in range(ntap):
                idx = row + i
                w = wy[j] * wx[i]
                if flat_valid is not None:
                    w = w * xp.take(flat_valid, idx)
                    wacc += w
                for k, (src, p) in enumerate(zip(flat_src, powers, strict=True)):
                    acc[k] += (w * w if p == 2 else w) * xp.take(src, idx)
        wsum[sl] = xp.where(finite, wacc, 0.0)
        for k in range(len(sources)):
            sums[k][sl] = xp.where(finite, acc[k], 0.0)
    return [s.reshape(shape) for s in sums], wsum.reshape(shape)
