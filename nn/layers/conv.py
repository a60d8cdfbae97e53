"""2-D convolution (cross-correlation, like PyTorch) as im2col plus one matrix product.

Symbols (as in the code; docs/math/conv.md has the derivation)::

    x  (N, C, H, W)       input, zero-padded by (ph, pw) to xp (N, Hp, Wp, C) channels-last
    Wt (O, C, kh, kw)     self.weight;  b (O,) self.bias
    y  (N, O, Ho, Wo)     Ho = (H + 2 ph - dh (kh - 1) - 1) // sh + 1, likewise Wo

    y[n, o, i, j] = b[o] + sum_{c, a, q} Wt[o, c, a, q] * xp[n, i sh + a dh, j sw + q dw, c]

im2col: the (M, K) column matrix X, M = N Ho Wo rows (one per output pixel), K = kh kw C
columns, is one copy of a strided window view of xp, columns ordered (a, q, c); for few
input channels it is built instead as X^T, one copy per kernel offset, columns ordered
(c, a, q). No loop over pixels either way. With Wm (K, O) the weight in X's column
order, Y = X Wm + b, and Y (M, O) *is* the output in NHWC memory. Backward, with G (M, O)
the upstream gradient in the same layout::

    dWm = X^T G                      (reordered into weight.grad's (O, C, kh, kw))
    db  = sum_rows(G)
    dxp[:, a dh + sh i, q dw + sw j, :] += (G Wt[:, :, a, q])[n, i, j]   for each offset (a, q)

The input gradient is one GEMM per kernel offset added into a zero padded buffer, which
is then cropped; no ``np.add.at`` (benchmarks/README.md compares the alternatives).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._config import resolve_dtype
from ..init import initialise
from ..layer import Layer, check_grad, check_input
from ..parameter import Parameter
from ._windows import (
    is_channels_last,
    offset_slices,
    out_size,
    pad_nhwc,
    pair,
    scratch,
    windows_nhwc,
)

#: Inputs with at most this many channels in NCHW memory (and any 1-channel input) are
#: unfolded plane by plane (one copy per kernel offset, rows of Wo values); others from a
#: channels-last window view (runs of kw*C values). See benchmarks/README.md.
_PLANES_MAX_CHANNELS = 4
#: Longest row (in values) of the wide view through which the bias is added.
_BIAS_ROW_MAX = 1 << 16


def _im2col_planes(layer: Conv2d, x: np.ndarray, out_hw) -> np.ndarray:
    """``X^T`` of shape ``(C*kh*kw, N*Ho*Wo)``, rows ordered (c, a, q) like the weight's.

    ``X^T[(c, a, q), (n, i, j)] = xp[n, c, i*sh + a*dh, j*sw + q*dw]`` with xp the
    zero-padded input; one strided copy per kernel offset (a, q).
    """
    N, C, H, W = x.shape
    kernel, stride, padding, dilation = (layer.kernel_size, layer.stride, layer.padding,
                                         layer.dilation)
    (kh, kw), (ph, pw), (Ho, Wo) = kernel, padding, out_hw
    if ph or pw:
        xp = scratch(layer, "xpad_nchw", (N, C, H + 2 * ph, W + 2 * pw), x.dtype, fill=0)
        xp[:, :, ph:ph + H, pw:pw + W] = x
    else:
        xp = x
    XT = scratch(layer, "columns_t", (C, kh, kw, N, Ho, Wo), x.dtype)
    for a in range(kh):
        for q in range(kw):
            rows, cols = offset_slices(a, q, stride, dilation, out_hw)
            np.copyto(XT[:, a, q], xp[:, :, rows, cols].transpose(1, 0, 2, 3))
    return XT.reshape(C * kh * kw, N * Ho * Wo)


class Conv2d(Layer):
    """2-D convolution over NCHW images (cross-correlation, no kernel flip: PyTorch's).

    Shapes: x ``(N, C_in, H, W)`` -> y ``(N, C_out, Ho, Wo)`` with
    ``Ho = (H + 2*ph - dh*(kh - 1) - 1) // sh + 1`` (likewise Wo); ``weight``
    ``(C_out, C_in, kh, kw)``, ``bias`` ``(C_out,)``; gradients of the same shapes.
    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` take an int or a pair
    (rows, columns). Padding is with zeros.

    Forward: ``y[n,o,i,j] = b[o] + sum_{c,a,q} W[o,c,a,q] x_pad[n,c, i*sh + a*dh, j*sw + q*dw]``,
    computed as Y = X Wm + b with X the (N*Ho*Wo, kh*kw*C_in) im2col matrix.
    Backward (G = grad_y as (N*Ho*Wo, C_out)): dWm = X^T G, db = sum of G's rows, and the
    input gradient is, for each kernel offset (a, q), G W[:, :, a, q] added into the
    windows' offset-(a, q) positions of a padded buffer (then cropped).

    ``forward`` caches X (the column matrix) and the input shape. The output is an
    NCHW-shaped view of channels-last (NHWC) memory, like PyTorch's channels_last format:
    values and shape are NCHW; ``np.ascontiguousarray(y)`` gives C order if needed.

    Initialisation (``init=``): ``"torch"`` (default) is PyTorch's, i.e. kaiming_uniform
    with a = sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, with
    fan_in = C_in*kh*kw. Any name of :mod:`nn.init` (e.g. ``"he"``) is accepted; those
    zero the bias.

    Positional order is the API contract's (``..., padding, bias, rng, dtype``);
    ``dilation`` and ``init`` are keyword-only (PyTorch puts dilation before bias).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, rng=None, dtype=None, *, dilation=1, init="torch"):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Conv2d: {name} must be a positive integer, got {v!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.padding = pair(padding, "padding", "Conv2d", minimum=0)
        self.dilation = pair(dilation, "dilation", "Conv2d")
        dt = resolve_dtype(dtype)
        kh, kw = self.kernel_size
        w = np.empty((self.out_channels, self.in_channels, kh, kw), dtype=dt)
        b = np.empty(self.out_channels, dtype=dt) if bias else None
        initialise(w, b, init, "out_in", rng)
        self.weight = Parameter(w)
        self.bias = Parameter(b) if bias else None

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """``(N, C_out, Ho, Wo)`` for an input of shape ``(N, C_in, H, W)``."""
        N, _, H, W = input_shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (self.kernel_size, self.stride,
                                                  self.padding, self.dilation)
        return (N, self.out_channels, out_size(H, kh, sh, ph, dh), out_size(W, kw, sw, pw, dw))

    def _check(self, x) -> np.ndarray:
        """The validated input: (N, C_in, H, W) of the weight's dtype, kernel fits."""
        expected = f"(N, {self.in_channels}, H, W)"
        x = check_input(self, x, ndim=4, dtype=self.weight.dtype, expected=expected)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{self.label()}: expected input of shape {expected}, "
                             f"got {x.shape}")
        _, _, Ho, Wo = self.output_shape(x.shape)
        if Ho <= 0 or Wo <= 0:
            self._raise_kernel_too_large(x.shape)
        return x

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check(x)
        Wt = self.weight.data
        N, _, Ho, Wo = self.output_shape(x.shape)
        O = self.out_channels
        C = self.in_channels
        kh, kw = self.kernel_size
        K = kh * kw * C
        M = N * Ho * Wo
        planes = C <= _PLANES_MAX_CHANNELS and (C == 1 or not is_channels_last(x))
        if planes:
            # X^T[(c, a, q), (n, i, j)] = xp[n, c, i*sh + a*dh, j*sw + q*dw]: one copy per
            # offset, rows of Wo contiguous values (few channels: the first layer)
            XT = _im2col_planes(self, x, (Ho, Wo))
            X = XT.T                                        # (M, K), K ordered (c, a, q)
            Wm = Wt.reshape(O, K).T                         # Wm[(c, a, q), o] = W[o, c, a, q]
        else:
            # X[(n, i, j), (a, q, c)] = xp[n, i*sh + a*dh, j*sw + q*dw, c]: one copy of
            # the channels-last window view, runs of kw*C contiguous values
            ph, pw = self.padding
            xp = pad_nhwc(x, ph, pw, out=scratch(
                self, "xpad", (N, x.shape[2] + 2 * ph, x.shape[3] + 2 * pw, C), x.dtype,
                fill=0) if ph or pw else None)
            X = scratch(self, "columns", (N, Ho, Wo, kh, kw, C), x.dtype)
            np.copyto(X, windows_nhwc(xp, self.kernel_size, self.stride, self.dilation,
                                      (Ho, Wo)))
            X = X.reshape(M, K)
            Wm = Wt.transpose(2, 3, 1, 0).reshape(K, O)     # Wm[(a, q, c), o] = W[o, c, a, q]
        Y = X @ Wm                                          # (M, O): NHWC memory
        if self.bias is not None:
            # Y[m, o] += b[o], through a wide view: rows of whole images (or image rows)
            # with b tiled along them, not a (M, O) broadcast with rows of only O values
            width = Ho * Wo * O if Ho * Wo * O <= _BIAS_ROW_MAX else Wo * O
            Yw = Y.reshape(-1, width)
            Yw += np.tile(self.bias.data, width // O)
        self._cache = (X, planes, x.shape, (Ho, Wo))
        return Y.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2)

    def backward(self, grad_y: np.ndarray) -> np.ndarray | None:
        X, planes, shape, (Ho, Wo) = self._saved()
        Wt = self.weight.data
        N, C, H, W = shape
        O = self.out_channels
        kh, kw = self.kernel_size
        grad_y = check_grad(self, grad_y, (N, O, Ho, Wo), Wt.dtype)
        G = grad_y.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, O)  # no copy if NHWC memory
        if self.weight.requires_grad:
            # dWm = X^T G, i.e. dW[o, c, a, q] = sum_m X[m, (c, a, q) or (a, q, c)] G[m, o]
            dWm = np.matmul(X.T, G).T                           # (O, K), X's column order
            dWm = dWm.reshape(O, C, kh, kw) if planes else \
                dWm.reshape(O, kh, kw, C).transpose(0, 3, 1, 2)
            self.weight.add_grad(dWm)
        if self.bias is not None and self.bias.requires_grad:
            # db = sum over rows of G (a BLAS gemv)
            self.bias.add_grad_matmul(F.ones(G.shape[0], G.dtype), G)
        if not self.input_grad:
            return None
        # dxp[:, a*dh + i*sh, q*dw + j*sw, :] += (G W[:, :, a, q])[n, i, j, :], per offset
        (ph, pw) = self.padding
        dxp = np.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=Wt.dtype)
        Wk = np.ascontiguousarray(Wt.transpose(2, 3, 0, 1))       # (kh, kw, O, C)
        part = scratch(self, "dx_part", (N * Ho * Wo, C), Wt.dtype)
        part4 = part.reshape(N, Ho, Wo, C)
        for a in range(kh):
            for q in range(kw):
                rows, cols = offset_slices(a, q, self.stride, self.dilation, (Ho, Wo))
                np.matmul(G, Wk[a, q], out=part)
                dxp[:, rows, cols, :] += part4
        return dxp[:, ph:ph + H, pw:pw + W, :].transpose(0, 3, 1, 2)

    def _raise_kernel_too_large(self, shape) -> None:
        (kh, kw), (ph, pw), (dh, dw) = self.kernel_size, self.padding, self.dilation
        ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        dil = f" (dilated to {ekh}x{ekw})" if (dh, dw) != (1, 1) else ""
        raise ValueError(
            f"{self.label()}: kernel {kh}x{kw}{dil} is larger than the padded input "
            f"{shape[2] + 2 * ph}x{shape[3] + 2 * pw} (input shape {tuple(shape)}, padding "
            f"{(ph, pw)}); use a smaller kernel or more padding")

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s
