"""Fully connected layer and Flatten.

Linear (row-major batches, as in the code)::

    forward:   y = x @ W + b                 x (..., in), W (in, out), b (out,), y (..., out)
    backward:  dW += X^T @ G                 X = x reshaped (M, in), G = grad_y reshaped (M, out)
               db += sum_rows(G)
               dx  = G @ W^T                 reshaped back to (..., in)

The source documents write the weight gradient as X·δ and the hidden delta as W·δ; for
row-major batches they are X^T·δ (shape (in, out)) and δ·W^T (see docs/errata.md).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._config import resolve_dtype
from ..init import initialise
from ..layer import Layer, check_grad, check_input, plain
from ..parameter import Parameter


class Linear(Layer):
    """``y = x @ weight + bias``.

    Shapes: x ``(..., in_features)`` -> y ``(..., out_features)``; ``weight``
    ``(in_features, out_features)``, ``bias`` ``(out_features,)``; gradients of the same
    shapes. ``forward`` caches ``x``.

    Parameters
    ----------
    init : {"he", "he_uniform", "xavier", "xavier_normal", "torch"} or callable
        Weight initialiser (see :mod:`nn.init`); the bias starts at zero except with
        ``"torch"`` (PyTorch's default U(-1/sqrt(in), 1/sqrt(in)) for both).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 init="he", rng=None, dtype=None):
        super().__init__()
        _check_positive("Linear", in_features=in_features, out_features=out_features)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = resolve_dtype(dtype)
        w = np.empty((self.in_features, self.out_features), dtype=dt)
        b = np.empty(self.out_features, dtype=dt) if bias else None
        initialise(w, b, init, "in_out", rng)
        self.weight = Parameter(w)
        self.bias = Parameter(b) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        W = self.weight.data
        if type(x) is not np.ndarray or x.dtype != W.dtype or x.ndim == 0 \
                or x.shape[-1] != self.in_features:
            x = check_input(self, x, last_dim=self.in_features, dtype=W.dtype)
        if x.ndim == 2:
            y = x @ W
        else:  # one GEMM over all leading dims (a stacked matmul is 2x slower)
            y = (x.reshape(-1, self.in_features) @ W).reshape(x.shape[:-1] + (self.out_features,))
        if self.bias is not None:
            y += self.bias.data
        self._cache = x
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        x = self._saved()
        W = self.weight.data
        out_shape = x.shape[:-1] + (self.out_features,)
        if type(grad_y) is not np.ndarray or grad_y.shape != out_shape or grad_y.dtype != W.dtype:
            grad_y = check_grad(self, grad_y, out_shape, W.dtype)
        G = grad_y.reshape(-1, self.out_features)
        if self.weight.requires_grad:
            # dW += X^T G
            self.weight.add_grad_matmul(x.reshape(-1, self.in_features).T, G)
        if self.bias is not None and self.bias.requires_grad:
            # db += 1^T G  (the column sums of G, as a BLAS gemv)
            self.bias.add_grad_matmul(F.ones(G.shape[0], G.dtype), G)
        if not self.input_grad:
            return None
        # dx = G W^T
        return G @ W.T if x.ndim == 2 else (G @ W.T).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1*d2*...)``; backward reshapes the gradient back.

    Caches the input shape, dtype and memory layout: for an NCHW input laid out channels-last
    in memory (what ``Conv2d`` and the pooling layers return), the gradient is returned in
    that same layout, so the layer before (a ReLU, say) multiplies arrays of one layout
    (mixed layouts measured 0.25 ms of a 1 ms CNN step).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            _raise_shape(self, x, "(N, d1, ...) with at least 2 dims")
        if x.dtype.kind != "f":
            raise TypeError(f"{self.label()}: expected a floating input, got dtype {x.dtype}")
        x = plain(x)
        channels_last = x.ndim == 4 and not x.flags.c_contiguous \
            and x.transpose(0, 2, 3, 1).flags.c_contiguous
        self._cache = (x.shape, x.dtype, channels_last)
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))  # (not -1: N may be 0)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        shape, dtype, channels_last = self._saved()
        grad_y = check_grad(self, grad_y, (shape[0], int(np.prod(shape[1:]))), dtype)
        if not channels_last:
            return grad_y.reshape(shape)
        n, c, h, w = shape
        dx = np.empty((n, h, w, c), dtype=dtype)
        dx[...] = grad_y.reshape(shape).transpose(0, 2, 3, 1)
        return dx.transpose(0, 3, 1, 2)  # NCHW shape, channels-last memory like the input


def _raise_shape(layer: Layer, x, expected: str):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer.label()}: expected a numpy.ndarray input, got {type(x).__name__}")
    raise ValueError(f"{layer.label()}: expected input of shape {expected}, got {x.shape}")


def _check_positive(layer_name: str, **sizes) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{layer_name}: {name} must be a positive integer, got {value!r}")
