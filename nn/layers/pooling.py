"""Max and average pooling, 2-D over NCHW images and 1-D over NCL sequences, PyTorch's
semantics.

All four loop over the kernel offsets (never over pixels): for offset (a, q) the strided
slice ``xp[:, :, a + sh*i, q + sw*j]`` holds that entry of every window at once, shape
(N, C, Ho, Wo); in 1-D, offset a's slice ``xp[:, :, a + s*i]`` has shape (N, C, Lo).
Sizes (no ceil mode, padding at most half the kernel)::

    Ho = (H + 2 ph - kh) // sh + 1,  Wo likewise;    Lo = (L + 2 p - k) // s + 1

Max pooling pads with -inf, so padding never wins a window; average pooling pads with
zeros and divides by the kernel size (PyTorch's default ``count_include_pad=True``).
Windows overlap when the stride is smaller than the kernel; backward then *adds* into the
shared entries. One implementation serves both dimensions: ``_MaxPool`` and ``_AvgPool``
work on a tuple of spatial axes (two for the 2-D layers, one for the 1-D ones), and a
kernel offset's entries of every window are ``xp[window]`` with ``window`` the index
``(..., rows, cols)`` or ``(..., positions)``. Derivations: docs/math/conv.md.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..layer import Layer, check_grad, check_input
from ._windows import is_channels_last, offset_slice, out_size, pair, scratch, single


def _alloc(shape: tuple[int, ...], dtype, channels_last: bool, owner: Layer | None = None,
           name: str = "", fill: float | None = None) -> np.ndarray:
    """An array of (N, C, *spatial) ``shape`` in channels-last memory (N, *spatial, C) or in
    C order: new and zero, or the work array ``name`` of ``owner`` (contents undefined,
    or ``fill`` where newly allocated)."""
    N, C, *sizes = shape
    mem = (N, *sizes, C) if channels_last else tuple(shape)
    if owner is not None:
        a = scratch(owner, name + ("_nhwc" if channels_last else ""), mem, dtype, fill=fill)
    else:
        a = np.zeros(mem, dtype=dtype)
    return a.transpose(0, a.ndim - 1, *range(1, a.ndim - 1)) if channels_last else a


#: The index of one kernel offset's entries of every window: ``(..., rows, cols)`` in 2-D,
#: ``(..., positions)`` in 1-D (see :meth:`_Pool.offsets`).
Window = tuple[Any, ...]


def _axes(value: int | tuple[int, ...]) -> tuple[int, ...]:
    """An argument as a tuple with one entry per spatial axis."""
    return value if isinstance(value, tuple) else (value,)


class _Pool(Layer):
    """Shared arguments, shape checks and offset bookkeeping of the pooling layers.

    A subclass sets ``dims`` (2: ``kernel_size``, ``stride``, ``padding`` are pairs; 1: ints,
    as in PyTorch's MaxPool1d/AvgPool1d) and ``expected`` (the input shape as errors print
    it). The code below works on :meth:`geometry`: the three as tuples, one entry per axis.
    """

    dims: int
    expected: str
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int]
    padding: int | tuple[int, int]

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = self._arg(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else self._arg(stride, "stride")
        self.padding = self._arg(padding, "padding", minimum=0)
        kernel, _, pads = self.geometry()
        if any(2 * p > k for k, p in zip(kernel, pads)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the "
                             f"kernel size {self.kernel_size} (as in PyTorch)")

    def geometry(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """``(kernel, stride, padding)``, each a tuple with one entry per spatial axis."""
        return _axes(self.kernel_size), _axes(self.stride), _axes(self.padding)

    def _arg(self, value, name: str, minimum: int = 1) -> int | tuple[int, int]:
        """A pair (2-D) or an int (1-D), validated; errors name the layer."""
        owner = type(self).__name__
        return pair(value, name, owner, minimum) if self.dims == 2 else \
            single(value, name, owner, minimum)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(N, C, Ho, Wo)`` for an input ``(N, C, H, W)``; ``(N, C, Lo)`` for ``(N, C, L)``."""
        N, C, *sizes = input_shape
        kernel, stride, pads = self.geometry()
        return (N, C) + tuple(out_size(n, k, s, p)
                              for n, k, s, p in zip(sizes, kernel, stride, pads))

    def _check(self, x) -> tuple[int, ...]:
        """The output shape for the validated input ``x``."""
        check_input(self, x, ndim=2 + self.dims, expected=self.expected)
        shape = self.output_shape(x.shape)
        if min(shape[2:]) <= 0:
            kernel, _, pads = self.geometry()
            padded = "x".join(str(n + 2 * p) for n, p in zip(x.shape[2:], pads))
            raise ValueError(
                f"{self.label()}: kernel {'x'.join(map(str, kernel))} is larger than the "
                f"padded input {padded} (input shape {x.shape}, padding {self.padding})")
        return shape

    def offsets(self, out_sizes: tuple[int, ...]) -> list[tuple[int, Window]]:
        """``[(k, window), ...]``: for each kernel offset (a, q) (a in 1-D), in row-major
        order, k = a*kw + q (k = a) and ``window``, the index ``(..., rows, cols)``
        (``(..., positions)``) of the padded input's entries that hold entry k of every
        window: ``xp[window]`` has the output's shape."""
        kernel, stride, _ = self.geometry()
        return [(k, (Ellipsis,) + tuple(offset_slice(a, s, 1, n)
                                        for a, s, n in zip(at, stride, out_sizes)))
                for k, at in enumerate(itertools.product(*map(range, kernel)))]

    def _padded(self, x: np.ndarray, fill: float) -> np.ndarray:
        """``x`` with a border of ``fill``, in x's memory layout (channels-last stays so).
        The padded array is a work array of the layer (its border is filled once)."""
        _, _, pads = self.geometry()
        if not any(pads):
            return x
        N, C, *sizes = x.shape
        xp = _alloc((N, C) + tuple(n + 2 * p for n, p in zip(sizes, pads)), x.dtype,
                    is_channels_last(x), owner=self, name="xpad", fill=fill)
        xp[self._interior(x.shape)] = x
        return xp

    def _interior(self, shape: tuple[int, ...]) -> tuple[slice, ...]:
        """The index of the unpadded input (of ``shape``) inside the padded one."""
        _, _, pads = self.geometry()
        return (slice(None), slice(None)) + tuple(slice(p, p + n)
                                                  for p, n in zip(pads, shape[2:]))

    def _grad(self, grad_y, shape, dtype, channels_last: bool):
        """The checked upstream gradient, in the layout of the forward's work arrays (one
        copy when it arrives in the other one, e.g. C order from Flatten.backward)."""
        grad_y = check_grad(self, grad_y, shape, dtype)
        if shape[1] > 1 and (grad_y.strides[1] < grad_y.strides[-1]) != channels_last:
            g = _alloc(shape, dtype, channels_last, owner=self, name="grad")
            np.copyto(g, grad_y)
            return g
        return grad_y

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _MaxPool(_Pool):
    """Max pooling over ``dims`` spatial axes (MaxPool2d and MaxPool1d write out the math)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out_shape = self._check(x)
        xp = self._padded(x, fill=-np.inf)
        offsets = self.offsets(out_shape[2:])
        # y = max over each window; idx = the offset k of its first maximum
        # (max_pool_plain is the plain form; this is its fast kernel)
        y, idx = max_pool_fast(self, xp, offsets, out_shape, is_channels_last(x))
        self._cache = (idx, offsets, x.shape, xp.shape, x.dtype, is_channels_last(x), out_shape)
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        idx, offsets, shape, padded_shape, dtype, channels_last, out_shape = self._saved()
        g = self._grad(grad_y, out_shape, dtype, channels_last)
        # dx[window entry k] += g where k is the window's argmax
        # (max_pool_backward_plain is the plain form; this is its fast kernel)
        dxp = max_pool_backward_fast(self, g, idx, offsets, padded_shape, channels_last)
        return dxp[self._interior(shape)]


class _AvgPool(_Pool):
    """Average pooling over ``dims`` spatial axes (AvgPool2d and AvgPool1d write out the
    math)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out_shape = self._check(x)
        xp = self._padded(x, fill=0.0)
        y = _alloc(out_shape, x.dtype, is_channels_last(x))
        offsets = self.offsets(out_shape[2:])
        for _, window in offsets:
            y += xp[window]                       # y = sum over the window's entries ...
        y /= len(offsets)                         # ... / (kh*kw or k, padding counted)
        self._cache = (offsets, x.shape, xp.shape, x.dtype, is_channels_last(x), out_shape)
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        offsets, shape, padded_shape, dtype, channels_last, out_shape = self._saved()
        g = self._grad(grad_y, out_shape, dtype, channels_last)
        dxp = _alloc(padded_shape, dtype, channels_last)
        gs = g / len(offsets)
        for _, window in offsets:
            dxp[window] += gs                     # dx[each window entry] += g / (kh*kw or k)
        return dxp[self._interior(shape)]


class MaxPool2d(_MaxPool):
    """Max pooling: ``y[n, c, i, j] = max over the window of x_pad[n, c, ...]``.

    Shapes: x ``(N, C, H, W)`` -> y ``(N, C, Ho, Wo)``, ``Ho = (H + 2 ph - kh) // sh + 1``;
    ``kernel_size``, ``stride``, ``padding``: an int or a pair; ``stride`` defaults to
    ``kernel_size``; padding (with -inf) at most half the kernel. No parameters.

    ``forward`` caches, for every output, the index k = a*kw + q of the offset that
    holds the window's maximum (the *first* one in row-major order when several are
    equal: blank image regions give exact ties, and the gradient must go to exactly one
    element, as in PyTorch). Backward::

        dx[window (i, j) at offset k] += g[n, c, i, j]   where k = argmax of the window

    accumulating where overlapping windows share an element. At a tie the function has
    a kink; sending g to the first maximum is a valid subgradient choice.
    """

    dims = 2
    expected = "(N, C, H, W)"


class AvgPool2d(_AvgPool):
    """Average pooling: ``y[n, c, i, j] = sum over the window of x_pad / (kh*kw)``.

    Shapes as :class:`MaxPool2d`. Zero padding counts in the divisor (PyTorch's default
    ``count_include_pad=True``). No parameters; ``forward`` caches the input's shape and
    layout. Backward::

        dx[every entry of window (i, j)] += g[n, c, i, j] / (kh*kw)
    """

    dims = 2
    expected = "(N, C, H, W)"


class MaxPool1d(_MaxPool):
    """1-D max pooling: ``y[n, c, i] = max_{a < k} x_pad[n, c, i*s + a]``.

    Shapes: x ``(N, C, L)`` -> y ``(N, C, Lo)``, ``Lo = (L + 2 p - k) // s + 1``;
    ``kernel_size``, ``stride``, ``padding`` are ints (a one-element tuple is accepted);
    ``stride`` defaults to ``kernel_size``; padding (with -inf) at most half the kernel.
    No parameters. ``forward`` caches the offset a of each window's first maximum.
    Backward::

        dx[n, c, i*s + a - p] += g[n, c, i]   where a = argmax of window i

    adding where overlapping windows share an element; a tie goes to the first maximum,
    as in :class:`MaxPool2d` and PyTorch.
    """

    dims = 1
    expected = "(N, C, L)"


class AvgPool1d(_AvgPool):
    """1-D average pooling: ``y[n, c, i] = sum_{a < k} x_pad[n, c, i*s + a] / k``.

    Shapes as :class:`MaxPool1d`. Zero padding counts in the divisor (PyTorch's default
    ``count_include_pad=True``). No parameters; ``forward`` caches the input's shape and
    layout. Backward::

        dx[n, c, i*s + a - p] += g[n, c, i] / k   for every a < k
    """

    dims = 1
    expected = "(N, C, L)"


# ---------------------------------------------------------------------- max pooling kernels
# The plain forms are the equations of docs/math/conv.md, one NumPy expression each; the
# fast forms compute the same numbers (tests/test_kernels_cnn.py, float64, 1e-12) about 6x
# (forward) and 3x (backward) faster: each offset's strided slice is read once into a work
# array and the rest are contiguous in-place passes. The plain forms made the CNN
# benchmark's training step 1.28x slower (interleaved A/B, 20 rounds).

def max_pool_plain(xp: np.ndarray, offsets, out_shape) -> tuple[np.ndarray, np.ndarray]:
    """``(y, idx)``: the maximum of each window of the padded ``xp`` and the offset k of
    its first maximum (row-major order), by offsets ``[(k, window), ...]``
    (:meth:`_Pool.offsets`; ``xp[window]`` is entry k of every window)."""
    y = np.full(out_shape, -np.inf, dtype=xp.dtype)
    idx = np.zeros(out_shape, np.uint8 if len(offsets) <= 256 else np.int32)
    for k, window in offsets:
        v = xp[window]                            # entry k of every window
        idx = np.where(v > y, k, idx)             # strictly larger: the first max wins a tie
        y = np.maximum(y, v)
    return y, idx


def max_pool_fast(layer: _Pool, xp: np.ndarray, offsets, out_shape, channels_last: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`max_pool_plain`, in ``channels_last`` memory, with the layer's work arrays."""
    idx_dtype = np.uint8 if len(offsets) <= 256 else np.int32
    y = _alloc(out_shape, xp.dtype, channels_last)
    v = _alloc(out_shape, xp.dtype, channels_last, owner=layer, name="window_entry")
    idx = _alloc(out_shape, idx_dtype, channels_last, owner=layer, name="argmax")
    larger = _alloc(out_shape, np.bool_, channels_last, owner=layer, name="larger")
    tmp = _alloc(out_shape, idx_dtype, channels_last, owner=layer, name="k_larger")
    for k, window in offsets:
        if k == 0:
            np.copyto(y, xp[window])
            idx.fill(0)
            continue
        np.copyto(v, xp[window])                  # one strided pass; the rest contiguous
        # offsets come in increasing k, so "idx = k where larger" is max(idx, k * larger)
        np.greater(v, y, out=larger)
        np.maximum(y, v, out=y)
        np.multiply(larger.view(np.uint8), k, out=tmp, dtype=idx_dtype)
        np.maximum(idx, tmp, out=idx)
    return y, idx


def max_pool_backward_plain(g: np.ndarray, idx: np.ndarray, offsets, padded_shape
                            ) -> np.ndarray:
    """dxp: for each offset k, ``dxp[window entry k] += g where idx == k``."""
    dxp = np.zeros(padded_shape, dtype=g.dtype)
    for k, window in offsets:
        dxp[window] += g * (idx == k)
    return dxp


def max_pool_backward_fast(layer: _Pool, g: np.ndarray, idx: np.ndarray, offsets,
                           padded_shape, channels_last: bool) -> np.ndarray:
    """:func:`max_pool_backward_plain` in ``channels_last`` memory: without overlapping
    windows each entry is in at most one window, so the product is written, not added."""
    dxp = _alloc(padded_shape, g.dtype, channels_last)
    hit = _alloc(idx.shape, np.bool_, channels_last, owner=layer, name="hit")
    overlapping = any(s < k for k, s, _ in zip(*layer.geometry()))
    for k, window in offsets:
        np.equal(idx, k, out=hit)
        if overlapping:
            dxp[window] += g * hit
        else:
            np.multiply(g, hit, out=dxp[window])
    return dxp
