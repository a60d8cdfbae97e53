"""Sliding-window helpers shared by the convolution and pooling layers (1-D and 2-D).

Layout: the public API is NCHW, and an ``(N, C, H, W)`` array may sit in memory in any
order. Convolutions work on channels-last (NHWC) memory, where one window position is a
contiguous run of C values, and return NCHW-shaped *views* of NHWC memory (what PyTorch
calls the channels_last memory format). ``x.transpose(0, 2, 3, 1)`` of such an array is
C-contiguous, so the next convolution reads it without a copy. Measurements behind this
choice: benchmarks/README.md.

Sizes follow PyTorch (floor division, no ceil mode)::

    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def pair(value, name: str, owner: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints -> ``(a, b)``, each at least ``minimum``."""
    items = (value, value) if isinstance(value, (int, np.integer)) else tuple(value) \
        if isinstance(value, (tuple, list)) else None
    if items is None or len(items) != 2 or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum
            for v in items):
        least = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{owner}: {name} must be an int or a pair of ints, each {least}, "
                         f"got {value!r}")
    return int(items[0]), int(items[1])


def single(value, name: str, owner: str, minimum: int = 1) -> int:
    """An int (or a one-element tuple/list, as PyTorch's 1-D layers accept) -> the int,
    at least ``minimum``."""
    item = value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value
    if isinstance(item, bool) or not isinstance(item, (int, np.integer)) or item < minimum:
        least = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{owner}: {name} must be an int, {least}, got {value!r}")
    return int(item)


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length along one axis (PyTorch's formula; <= 0 when the kernel does not fit)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def is_channels_last(x: np.ndarray) -> bool:
    """Is the NCHW- (or NCL-) shaped ``x`` a view of C-contiguous NHWC (NLC) memory?"""
    return x.transpose(0, *range(2, x.ndim), 1).flags.c_contiguous


def scratch(owner, name: str, shape: tuple[int, ...], dtype, fill: float | None = None
            ) -> np.ndarray:
    """A work array owned by the layer ``owner``, reused while shape and dtype match.

    Layers keep their im2col matrix, padded input and pooling work arrays here instead of
    allocating them on every call (fresh multi-megabyte arrays cost page faults: measured
    in benchmarks/README.md). Such an array is never returned to the caller; the next
    forward overwrites it, as it replaces the cache that refers to it. ``fill`` fills a
    newly allocated array (the border of a padded buffer then stays as filled, since
    only the interior is ever written).
    """
    store = owner.__dict__.get("_scratch")
    if store is None:
        store = {}
        object.__setattr__(owner, "_scratch", store)
    dt = np.dtype(dtype)
    buf = store.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dt:
        buf = np.empty(shape, dtype=dt) if fill is None else np.full(shape, fill, dtype=dt)
        store[name] = buf
    return buf


def pad_nhwc(x: np.ndarray, ph: int, pw: int, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` (N, C, H, W) as NHWC ``(N, H + 2 ph, W + 2 pw, C)`` with a zero border.

    Without padding this is the view ``x.transpose(0, 2, 3, 1)`` (no copy); with padding,
    one copy into the interior of ``out`` (whose border must already be zero) or of a
    new zero buffer.
    """
    xt = x.transpose(0, 2, 3, 1)
    if not (ph or pw):
        return xt
    N, H, W, C = xt.shape
    xp = np.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=x.dtype) if out is None else out
    xp[:, ph:ph + H, pw:pw + W, :] = xt
    return xp


def windows_nhwc(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Read-only view ``(N, Ho, Wo, kh, kw, C)`` of every window of the NHWC array ``xp``.

    ``view[n, i, j, a, b, c] = xp[n, i*sh + a*dh, j*sw + b*dw, c]``; no data is copied.
    """
    sn, sh_, sw_, sc = xp.strides
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_hw
    return as_strided(xp, shape=(xp.shape[0], Ho, Wo, kh, kw, xp.shape[3]),
                      strides=(sn, sh_ * sh, sw_ * sw, sh_ * dh, sw_ * dw, sc), writeable=False)


def windows_nlc(xp: np.ndarray, kernel: int, stride: int, dilation: int, out_len: int
                ) -> np.ndarray:
    """Read-only view ``(N, Lo, k, C)`` of every window of the channels-last ``xp`` (N, Lp, C).

    ``view[n, i, a, c] = xp[n, i*s + a*d, c]``; no data is copied.
    """
    sn, sl, sc = xp.strides
    return as_strided(xp, shape=(xp.shape[0], out_len, kernel, xp.shape[2]),
                      strides=(sn, sl * stride, sl * dilation, sc), writeable=False)


def offset_slice(a: int, stride: int, dilation: int, out_len: int) -> slice:
    """The positions of a padded sequence hit by kernel offset ``a``: entry ``i`` of
    ``xp[..., offset_slice(a, ...)]`` is the offset-``a`` entry of window ``i``
    (position ``i*s + a*d``)."""
    start = a * dilation
    return slice(start, start + stride * (out_len - 1) + 1, stride)


def offset_slices(i: int, j: int, stride: tuple[int, int], dilation: tuple[int, int],
                  out_hw: tuple[int, int]) -> tuple[slice, slice]:
    """Row and column slices of a padded input hit by kernel offset ``(i, j)``.

    ``xp[..., rows, cols]`` (NCHW) or ``xp[:, rows, cols, :]`` (NHWC) has shape (Ho, Wo)
    in the spatial dims: element ``(a, b)`` is the offset-(i, j) entry of window (a, b).
    """
    (sh, sw), (dh, dw), (Ho, Wo) = stride, dilation, out_hw
    r0, c0 = i * dh, j * dw
    return slice(r0, r0 + sh * (Ho - 1) + 1, sh), slice(c0, c0 + sw * (Wo - 1) + 1, sw)
