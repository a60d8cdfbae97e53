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
from ._windows import is_channels_last, offset_slices, out_size, pair, scratch


def _padded(layer: _Pool2d, x: np.ndarray, fill: float) -> np.ndarray:
    """``x`` with a border of ``fill``, in x's memory layout (channels-last stays so).

    The padded array is a work array of the layer (its border is filled once)."""
    ph, pw = layer.padding
    if not (ph or pw):
        return x
    N, C, H, W = x.shape
    if is_channels_last(x):
        xp = scratch(layer, "xpad_nhwc", (N, H + 2 * ph, W + 2 * pw, C), x.dtype,
                     fill=fill).transpose(0, 3, 1, 2)
    else:
        xp = scratch(layer, "xpad", (N, C, H + 2 * ph, W + 2 * pw), x.dtype, fill=fill)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    return xp


def _alloc(shape: tuple[int, int, int, int], dtype, channels_last: bool,
           owner: Layer | None = None, name: str = "") -> np.ndarray:
    """An array of NCHW ``shape`` in channels-last memory or in C order: new and zero, or
    the work array ``name`` of ``owner`` (contents undefined)."""
    N, C, H, W = shape
    mem = (N, H, W, C) if channels_last else shape
    if owner is not None:
        a = scratch(owner, name + ("_nhwc" if channels_last else ""), mem, dtype)
    else:
        a = np.zeros(mem, dtype=dtype)
    return a.transpose(0, 3, 1, 2) if channels_last else a


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

    def _check(self, x) -> tuple[int, int, int, int]:
        check_input(self, x, ndim=4, expected="(N, C, H, W)")
        shape = self.output_shape(x.shape)
        if shape[2] <= 0 or shape[3] <= 0:
            (kh, kw), (ph, pw) = self.kernel_size, self.padding
            raise ValueError(
                f"{self.label()}: kernel {kh}x{kw} is larger than the padded input "
                f"{x.shape[2] + 2 * ph}x{x.shape[3] + 2 * pw} (input shape {x.shape}, "
                f"padding {(ph, pw)})")
        return shape

    def offsets(self, out_hw: tuple[int, int]) -> list[tuple[int, tuple[slice, slice]]]:
        """``[(k, (rows, cols)), ...]``: for each kernel offset (a, q), k = a*kw + q and the
        slices of the padded input that hold entry (a, q) of every window."""
        kh, kw = self.kernel_size
        return [(a * kw + q, offset_slices(a, q, self.stride, (1, 1), out_hw))
                for a in range(kh) for q in range(kw)]

    def _grad(self, grad_y, shape, dtype, channels_last: bool):
        """The checked upstream gradient, in the layout of the forward's work arrays (one
        copy when it arrives in the other one, e.g. C order from Flatten.backward)."""
        grad_y = check_grad(self, grad_y, shape, dtype)
        if shape[1] > 1 and (grad_y.strides[1] < grad_y.strides[3]) != channels_last:
            g = _alloc(shape, dtype, channels_last, owner=self, name="grad")
            np.copyto(g, grad_y)
            return g
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
        xp = _padded(self, x, fill=-np.inf)
        offsets = self.offsets((Ho, Wo))
        # y = max over each window; idx = the offset k of its first maximum
        # (max_pool_plain is the plain form; this is its fast kernel)
        y, idx = max_pool_fast(self, xp, offsets, (N, C, Ho, Wo), is_channels_last(x))
        self._cache = (idx, x.shape, x.dtype, is_channels_last(x), (Ho, Wo))
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        idx, shape, dtype, channels_last, out_hw = self._saved()
        N, C, H, W = shape
        g = self._grad(grad_y, (N, C) + out_hw, dtype, channels_last)
        ph, pw = self.padding
        # dx[window entry k] += g where k is the window's argmax
        # (max_pool_backward_plain is the plain form; this is its fast kernel)
        dxp = max_pool_backward_fast(self, g, idx, self.offsets(out_hw),
                                     (N, C, H + 2 * ph, W + 2 * pw), channels_last)
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
        xp = _padded(self, x, fill=0.0)
        kh, kw = self.kernel_size
        y = _alloc((N, C, Ho, Wo), x.dtype, is_channels_last(x))
        for _, (rows, cols) in self.offsets((Ho, Wo)):
            y += xp[:, :, rows, cols]             # y = sum over the window's entries ...
        y /= kh * kw                              # ... / (kh*kw)
        self._cache = (x.shape, x.dtype, is_channels_last(x), (Ho, Wo))
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        shape, dtype, channels_last, out_hw = self._saved()
        N, C, H, W = shape
        g = self._grad(grad_y, (N, C) + out_hw, dtype, channels_last)
        kh, kw = self.kernel_size
        ph, pw = self.padding
        dxp = _alloc((N, C, H + 2 * ph, W + 2 * pw), dtype, channels_last)
        gs = g / (kh * kw)
        for _, (rows, cols) in self.offsets(out_hw):
            dxp[:, :, rows, cols] += gs           # dx[each window entry] += g / (kh*kw)
        return dxp[:, :, ph:ph + H, pw:pw + W]


# ---------------------------------------------------------------------- max pooling kernels
# The plain forms are the equations of docs/math/conv.md, one NumPy expression each; the
# fast forms compute the same numbers (tests/test_kernels_cnn.py, float64, 1e-12) about 6x
# (forward) and 3x (backward) faster: each offset's strided slice is read once into a work
# array and the rest are contiguous in-place passes. The plain forms made the CNN
# benchmark's training step 1.28x slower (interleaved A/B, 20 rounds).

def max_pool_plain(xp: np.ndarray, offsets, out_shape) -> tuple[np.ndarray, np.ndarray]:
    """``(y, idx)``: the maximum of each window of the padded ``xp`` and the offset k of
    its first maximum (row-major order), by offsets ``[(k, (rows, cols)), ...]``."""
    y = np.full(out_shape, -np.inf, dtype=xp.dtype)
    idx = np.zeros(out_shape, np.uint8 if len(offsets) <= 256 else np.int32)
    for k, (rows, cols) in offsets:
        v = xp[:, :, rows, cols]                  # entry k of every window
        idx = np.where(v > y, k, idx)             # strictly larger: the first max wins a tie
        y = np.maximum(y, v)
    return y, idx


def max_pool_fast(layer: Layer, xp: np.ndarray, offsets, out_shape, channels_last: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`max_pool_plain`, in ``channels_last`` memory, with the layer's work arrays."""
    idx_dtype = np.uint8 if len(offsets) <= 256 else np.int32
    y = _alloc(out_shape, xp.dtype, channels_last)
    v = _alloc(out_shape, xp.dtype, channels_last, owner=layer, name="window_entry")
    idx = _alloc(out_shape, idx_dtype, channels_last, owner=layer, name="argmax")
    larger = _alloc(out_shape, np.bool_, channels_last, owner=layer, name="larger")
    tmp = _alloc(out_shape, idx_dtype, channels_last, owner=layer, name="k_larger")
    for k, (rows, cols) in offsets:
        if k == 0:
            np.copyto(y, xp[:, :, rows, cols])
            idx.fill(0)
            continue
        np.copyto(v, xp[:, :, rows, cols])         # one strided pass; the rest is contiguous
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
    for k, (rows, cols) in offsets:
        dxp[:, :, rows, cols] += g * (idx == k)
    return dxp


def max_pool_backward_fast(layer: _Pool2d, g: np.ndarray, idx: np.ndarray, offsets,
                           padded_shape, channels_last: bool) -> np.ndarray:
    """:func:`max_pool_backward_plain` in ``channels_last`` memory: without overlapping
    windows each entry is in at most one window, so the product is written, not added."""
    dxp = _alloc(padded_shape, g.dtype, channels_last)
    hit = _alloc(idx.shape, np.bool_, channels_last, owner=layer, name="hit")
    overlapping = any(s < k for s, k in zip(layer.stride, layer.kernel_size))
    for k, (rows, cols) in offsets:
        np.equal(idx, k, out=hit)
        if overlapping:
            dxp[:, :, rows, cols] += g * hit
        else:
            np.multiply(g, hit, out=dxp[:, :, rows, cols])
    return dxp
