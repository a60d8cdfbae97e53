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

import math

import numpy as np

from .. import functional as F
from .._config import resolve_dtype
from ..init import initialise
from ..layer import Layer, check_grad, check_input, check_positive
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
        check_positive("Linear", in_features=in_features, out_features=out_features)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = resolve_dtype(dtype)
        w = np.empty((self.in_features, self.out_features), dtype=dt)
        b = np.empty(self.out_features, dtype=dt) if bias else None
        initialise(w, b, init, "in_out", rng)
        self.weight = Parameter(w)
        self.bias = Parameter(b) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_input(self, x, last_dim=self.in_features, dtype=self.weight.dtype)
        self._cache = x
        X = x.reshape(-1, self.in_features)          # (M, in): every leading dim as rows
        y = X @ self.weight.data                     # y = X W
        if self.bias is not None:
            y += self.bias.data                      #     + b
        return y.reshape(x.shape[:-1] + (self.out_features,))

    def backward(self, grad_y: np.ndarray) -> np.ndarray | None:
        x = self._saved()
        y_shape = x.shape[:-1] + (self.out_features,)
        G = check_grad(self, grad_y, y_shape, self.weight.dtype).reshape(-1, self.out_features)
        X = x.reshape(-1, self.in_features)
        if self.weight.requires_grad:
            self.weight.add_grad_matmul(X.T, G)      # dW += X^T G
        if self.bias is not None and self.bias.requires_grad:
            self.bias.add_grad(G.sum(axis=0))        # db += sum_rows G
        if not self.input_grad:
            return None
        dx = G @ self.weight.data.T                  # dx = G W^T
        return dx.reshape(x.shape)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1*d2*...)``; backward reshapes the gradient back.

    Caches ``x`` (for its shape, dtype and memory layout). The gradient comes back in the
    input's memory layout: for an NCHW input laid out channels-last in memory (what
    ``Conv2d`` and the pooling layers return), a channels-last gradient, so that the layer
    before (a ReLU, say) multiplies arrays of one layout (mixed layouts measured 0.25 ms of
    a 1 ms CNN step).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_input(self, x, min_ndim=2, expected="(N, d1, ...) with at least 2 dims")
        self._cache = x
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))   # y = reshape(x, (N, d1 d2 ...))

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        x = self._saved()
        g = check_grad(self, grad_y, (x.shape[0], math.prod(x.shape[1:])), x.dtype)
        dx = g.reshape(x.shape)                                # dx = reshape(g, x.shape)
        return dx if x.flags.c_contiguous else F.same_layout(dx, x)
