"""2-D max and average pooling over NCHW images, PyTorch's semantics.

Both loop over the kh*kw kernel offsets (never over pixels): for offset (a, q) the
strided slice ``xp[:, :, a + sh*i, q + sw*j]`` holds that entry of every window at
once, shape (N, C, Ho, Wo). Sizes (no ceil mode, padding at most half the kernel)::

    Ho = (H + 2 ph - kh) // sh + 1,  Wo likewise

MaxPool2d pads with -inf, so padding never wins a window; AvgPool2d pads with zeros and
divides by kh*kw (PyTorch's default ``count_include_pad=True``). Windows overlap when the
stride is smaller than the kernel; backward then *adds* into the shared entries.
Derivations: docs/math/conv.md.
"""

from __future__ import annotations

import numpy as np

from ..layer import Layer, check_grad, check_input
from ._windows import is_channels_last, offset_slices, out_size, pair


def _padded(x: np.ndarray, ph: int, pw: int, fill: float) -> np.ndarray:
    """``x`` with a border of ``fill``, in x's memory layout (channels-last stays so)."""
    if not (ph or pw):
        return x
    N, C, H, W = x.shape
    if is_channels_last(x):
        xp = np.full((N, H + 2 * ph, W + 2 * pw, C), fill, dtype=x.dtype).transpose(0, 3, 1, 2)
    else:
        xp = np.full((N, C, H + 2 * ph, W + 2 * pw), fill, dtype=x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _zeros(shape: tuple[int, int, int, int], dtype, channels_last: bool) -> np.ndarray:
    """Zeros of NCHW ``shape``, in channels-last memory or in C order."""
    if channels_last:
        N, C, H, W = shape
        return np.zeros((N, H, W, C), dtype=dtype).transpose(0, 3, 1, 2)
    return np.zeros(shape, dtype=dtype)


class _Pool2d(Layer):
    """Shared arguments, shape checks and offset bookkeeping of the pooling layers."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", name)
        self.padding = pair(padding, "padding", name, minimum=0)
        for k, p in zip(self.kernel_size, self.padding):
            if 2 * p > k:
                raise ValueError(f"{name}: padding {self.padding} must be at most half the "
                                 f"kernel size {self.kernel_size} (as in PyTorch)")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """``(N, C, Ho, Wo)`` for an input of shape ``(N, C, H, W)``."""
        N, C, H, W = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return N, C, out_size(H, kh, sh, ph), out_size(W, kw, sw, pw)

    @property
    def overlapping(self) -> bool:
        """Do neighbouring windows share entries (stride < kernel along some axis)?"""
        return any(s < k for s, k in zip(self.stride, self.kernel_size))

    def _check(self, x) -> tuple[int, int, int, int]:
        if type(x) is not np.ndarray or x.dtype.kind != "f" or x.ndim != 4:
            check_input(self, x, ndim=4, expected="(N, C, H, W)")
        shape = self.output_shape(x.shape)
        if shape[2] <= 0 or shape[3] <= 0:
            (kh, kw), (ph, pw) = self.kernel_size, self.padding
            raise ValueError(
                f"{self._label()}: kernel {kh}x{kw} is larger than the padded input "
                f"{x.shape[2] + 2 * ph}x{x.shape[3] + 2 * pw} (input shape {x.shape}, "
                f"padding {(ph, pw)})")
        return shape

    def _offsets(self, out_hw):
        kh, kw = self.kernel_size
        for a in range(kh):
            for q in range(kw):
                yield a * kw + q, offset_slices(a, q, self.stride, (1, 1), out_hw)

    def _grad(self, grad_y, shape, dtype):
        if type(grad_y) is not np.ndarray or grad_y.shape != shape or grad_y.dtype != dtype:
            grad_y = check_grad(self, grad_y, shape, dtype)
        return grad_y

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling: ``y[n, c, i, j] = max over the window of x_pad[n, c, ...]``.

    Shapes: x ``(N, C, H, W)`` -> y ``(N, C, Ho, Wo)``, ``Ho = (H + 2 ph - kh) // sh + 1``;
    ``stride`` defaults to ``kernel_size``; padding (with -inf) at most half the kernel.
    No parameters.

    ``forward`` caches, for every output, the index k = a*kw + q of the offset that
    holds the window's maximum (the *first* one in row-major order when several are
    equal: blank image regions give exact ties, and the gradient must go to exactly one
    element, as in PyTorch). Backward::

        dx[window (i, j) at offset k] += g[n, c, i, j]   where k = argmax of the window

    accumulating where overlapping windows share an element. At a tie the function has
    a kink; sending g to the first maximum is a valid subgradient choice.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, C, Ho, Wo = self._check(x)
        xp = _padded(x, *self.padding, fill=-np.inf)
        kh, kw = self.kernel_size
        idx_dtype = np.uint8 if kh * kw <= 256 else np.int32
        y = idx = larger = None
        for k, (rows, cols) in self._offsets((Ho, Wo)):
            v = xp[:, :, rows, cols]
            if y is None:
                y = v.copy()                 # keeps v's (NHWC or NCHW) memory order
                idx = np.zeros_like(y, dtype=idx_dtype)
                larger = np.empty_like(y, dtype=bool)
                continue
            # strictly larger: the first maximum keeps the index at a tie
            np.greater(v, y, out=larger)
            np.copyto(idx, k, where=larger)
            np.maximum(y, v, out=y)
        self._cache = (idx, x.shape, x.dtype, is_channels_last(x), (Ho, Wo))
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        idx, shape, dtype, channels_last, out_hw = self._saved()
        N, C, H, W = shape
        g = self._grad(grad_y, (N, C) + out_hw, dtype)
        ph, pw = self.padding
        dxp = _zeros((N, C, H + 2 * ph, W + 2 * pw), dtype, channels_last)
        hit = np.empty_like(idx, dtype=bool)
        overlapping = self.overlapping
        for k, (rows, cols) in self._offsets(out_hw):
            np.equal(idx, k, out=hit)
            if overlapping:
                # dx[window entry k] += g where k is the argmax (windows share entries)
                dxp[:, :, rows, cols] += g * hit
            else:
                # dx[window entry k] = g where k is the argmax (each entry in one window)
                np.multiply(g, hit, out=dxp[:, :, rows, cols])
        return dxp[:, :, ph:ph + H, pw:pw + W]


class AvgPool2d(_Pool2d):
    """Average pooling: ``y[n, c, i, j] = sum over the window of x_pad / (kh*kw)``.

    Shapes as :class:`MaxPool2d`. Zero padding counts in the divisor (PyTorch's default
    ``count_include_pad=True``). No parameters; ``forward`` caches the input's shape and
    layout. Backward::

        dx[every entry of window (i, j)] += g[n, c, i, j] / (kh*kw)
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, C, Ho, Wo = self._check(x)
        xp = _padded(x, *self.padding, fill=0.0)
        y = None
        for _, (rows, cols) in self._offsets((Ho, Wo)):
            if y is None:
                y = xp[:, :, rows, cols].copy()
            else:
                y += xp[:, :, rows, cols]
        kh, kw = self.kernel_size
        y *= 1.0 / (kh * kw)
        self._cache = (x.shape, x.dtype, is_channels_last(x), (Ho, Wo))
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        shape, dtype, channels_last, out_hw = self._saved()
        N, C, H, W = shape
        g = self._grad(grad_y, (N, C) + out_hw, dtype)
        kh, kw = self.kernel_size
        ph, pw = self.padding
        # dx[each window entry] += g / (kh*kw)
        gs = g * (1.0 / (kh * kw))
        dxp = _zeros((N, C, H + 2 * ph, W + 2 * pw), dtype, channels_last)
        for _, (rows, cols) in self._offsets(out_hw):
            if self.overlapping:
                dxp[:, :, rows, cols] += gs
            else:
                dxp[:, :, rows, cols] = gs
        return dxp[:, :, ph:ph + H, pw:pw + W]
