"""FFT convolution helpers (NumPy or CuPy through ``xp``).

Conventions
-----------
* Images and kernels are 2-D arrays indexed ``[y, x]``.
* Kernels have odd sizes and are centred on their central pixel ``[(ky-1)/2, (kx-1)/2]``.
* ``fft_convolve`` is a *linear* (zero-padded) convolution cropped to the image size
  ("same" mode): pixels beyond the image edge count as 0.
* Real transforms (``rfft2``/``irfft2``) are used throughout; sizes are rounded up to
  fast FFT lengths.
"""

from __future__ import annotations

import scipy.fft

from romandia.xp import fft_namespace, get_namespace

__all__ = [
    "fft_convolve",
    "embed_kernel",
    "extract_kernel",
    "kernel_convolve",
    "resize_kernel",
    "check_odd_kernel",
]


def check_odd_kernel(kernel, name: str = "kernel") -> None:
    """Raise ``ValueError`` unless ``kernel`` is 2-D with odd sizes on both axes."""
    if kernel.ndim != 2 or kernel.shape[0] % 2 != 1 or kernel.shape[1] % 2 != 1:
        raise ValueError(f"{name} must be 2-D with odd sizes, got shape {kernel.shape}")


def _fast_shape(shape) -> tuple[int, int]:
    return tuple(scipy.fft.next_fast_len(int(n), real=True) for n in shape)


def _rfft_kwargs(xp, workers):
    # scipy.fft takes ``workers``; cupyx.scipy.fft ignores threads (keep the call portable).
    return {} if workers is None or getattr(xp, "__name__", "") == "cupy" else {"workers": workers}


def fft_convolve(image, kernel, normalize: bool = False, xp=None, workers: int | None = None):
    """Linear 2-D convolution ``image ⊗ kernel`` by FFT, cropped to the image ("same").

    Parameters
    ----------
    image : array, shape (ny, nx)
        Image ``[y, x]``; must be finite (replace NaNs before calling).
    kernel : array, shape (ky, kx)
        Odd-sized kernel ``[y, x]``, centred on its central pixel.  It is *not* flipped
        relative to the mathematical definition: ``out[y, x] = Σ_ij kernel[i, j] ·
        image[y - (i - ky//2), x - (j - kx//2)]``.
    normalize : bool
        Divide the kernel by its sum first (use when the kernel is a PSF used as a
        smoothing kernel, so that fluxes are conserved).
    xp : module, optional
        Array namespace; inferred from the arguments by default.
    workers : int, optional
        Threads for :mod:`scipy.fft` (NumPy only).

    Returns
    -------
    array, shape (ny, nx), float64
        Zero-padded convolution: pixels outside the image are treated as 0.
    """
    xp = xp or get_namespace(image, kernel)
    fft = fft_namespace(xp)
    image = xp.asarray(image, dtype=xp.float64)
    kernel = xp.asarray(kernel, dtype=xp.float64)
    check_odd_kernel(kernel)
    if normalize:
        kernel = kernel / kernel.sum()
    ny, nx = image.shape
    ky, kx = kernel.shape
    shape = _fast_shape((ny + ky - 1, nx + kx - 1))
    kw = _rfft_kwargs(xp, workers)
    f = fft.rfft2(image, s=shape, **kw)
    f *= fft.rfft2(kernel, s=shape, **kw)
    full = fft.irfft2(f, s=shape, **kw)
    hy, hx = ky // 2, kx // 2
    return xp.ascontiguousarray(full[hy : hy + ny, hx : hx + nx])


def embed_kernel(kernel, shape, xp=None):
    """Embed an odd kernel in a zero array of ``shape`` with its centre at ``[0, 0]``.

    The kernel is circularly shifted so that its central pixel lands on the origin (the
    layout a kernel needs for FFT-based circular convolution).

    Parameters
    ----------
    kernel : array, shape (ky, kx)
        Odd-sized kernel ``[y, x]``.
    shape : tuple of int
        Output shape ``(ny, nx)``; must be at least the kernel shape.

    Returns
    -------
    array, shape ``shape``
    """
    xp = xp or get_namespace(kernel)
    kernel = xp.asarray(kernel)
    check_odd_kernel(kernel)
    ky, kx = kernel.shape
    ny, nx = int(shape[0]), int(shape[1])
    if ky > ny or kx > nx:
        raise ValueError(f"kernel {kernel.shape} does not fit in {shape}")
    out = xp.zeros((ny, nx), dtype=kernel.dtype)
    out[:ky, :kx] = kernel
    return xp.roll(out, (-(ky // 2), -(kx // 2)), axis=(0, 1))


def extract_kernel(embedded, kshape, xp=None):
    """Inverse of :func:`embed_kernel`: cut the odd ``kshape`` kernel centred on the origin.

    Parameters
    ----------
    embedded : array, shape (ny, nx)
        Array whose element ``[0, 0]`` is the kernel centre (circular layout).
    kshape : int or tuple of int
        Odd output size ``(ky, kx)`` (an int means square).

    Returns
    -------
    array, shape ``kshape``, centred.
    """
    xp = xp or get_namespace(embedded)
    if isinstance(kshape, int):
        kshape = (kshape, kshape)
    ky, kx = int(kshape[0]), int(kshape[1])
    if ky % 2 != 1 or kx % 2 != 1:
        raise ValueError(f"kernel shape must be odd, got {kshape}")
    if ky > embedded.shape[0] or kx > embedded.shape[1]:
        raise ValueError(f"kernel shape {kshape} larger than array {embedded.shape}")
    rolled = xp.roll(embedded, (ky // 2, kx // 2), axis=(0, 1))
    return xp.ascontiguousarray(rolled[:ky, :kx])


def resize_kernel(kernel, size, xp=None):
    """Crop (or zero-pad) an odd kernel symmetrically about its centre to ``size``.

    Parameters
    ----------
    kernel : array, shape (ky, kx), odd
    size : int or tuple of int
        Odd output shape.

    Returns
    -------
    array, shape ``size``; the centre stays the centre.  No renormalisation.
    """
    xp = xp or get_namespace(kernel)
    check_odd_kernel(kernel)
    if isinstance(size, int):
        size = (size, size)
    oy, ox = int(size[0]), int(size[1])
    if oy % 2 != 1 or ox % 2 != 1:
        raise ValueError(f"size must be odd, got {size}")
    ky, kx = kernel.shape
    out = xp.zeros((oy, ox), dtype=kernel.dtype)
    # overlap half-widths
    hy, hx = min(ky, oy) // 2, min(kx, ox) // 2
    cy_k, cx_k, cy_o, cx_o = ky // 2, kx // 2, oy // 2, ox // 2
    out[cy_o - hy : cy_o + hy + 1, cx_o - hx : cx_o + hx + 1] = kernel[
        cy_k - hy : cy_k + hy + 1, cx_k - hx : cx_k + hx + 1
    ]
    return out


def kernel_convolve(k1, k2, out_size=None, xp=None):
    """Full linear convolution of two odd kernels (e.g. PSF ⊗ PSF).

    Parameters
    ----------
    k1, k2 : array, odd shapes ``[y, x]``, centred
    out_size : int or tuple of int, optional
        Odd output shape; the full result ``(k1y + k2y - 1, k1x + k2x - 1)`` is cropped or
        zero-padded about its centre.  Default: the full size.

    Returns
    -------
    array
        ``k1 ⊗ k2``, centred; its sum is ``sum(k1) · sum(k2)`` before cropping.
    """
    xp = xp or get_namespace(k1, k2)
    fft = fft_namespace(xp)
    k1 = xp.asarray(k1, dtype=xp.float64)
    k2 = xp.asarray(k2, dtype=xp.float64)
    check_odd_kernel(k1, "k1")
    check_odd_kernel(k2, "k2")
    full_shape = (k1.shape[0] + k2.shape[0] - 1, k1.shape[1] + k2.shape[1] - 1)
    shape = _fast_shape(full_shape)
    f = fft.rfft2(k1, s=shape) * fft.rfft2(k2, s=shape)
    full = fft.irfft2(f, s=shape)[: full_shape[0], : full_shape[1]]
    if out_size is None:
        return xp.ascontiguousarray(full)
    return resize_kernel(full, out_size, xp=xp)
