"""Normalisation layers: BatchNorm1d, BatchNorm2d (statistics per channel over the batch)
and LayerNorm (statistics per example over the last dims). PyTorch's semantics.

Both normalise, then scale and shift with learned ``weight`` (gamma) and ``bias`` (beta)::

    mu = mean(x),  var = mean((x - mu)^2)          (biased: divide by M, the count)
    rstd = 1 / sqrt(var + eps),  xhat = (x - mu) * rstd,  y = xhat * gamma + beta

and share one compact backward (derivation: docs/math/normalization.md). With
g = grad_y and means taken over the same M entries as the statistics::

    dgamma = sum(g * xhat),  dbeta = sum(g)
    dx = gamma * rstd * (g - mean(g) - xhat * mean(g * xhat))

The last two terms are the paths through mu and var: dropping either gives a wrong
gradient that the tests catch. In eval mode BatchNorm uses its running statistics, which
are constants, so dx = gamma * rstd_running * g.
"""

from __future__ import annotations

import math

import numpy as np

from .._config import resolve_dtype
from ..layer import Layer, check_grad, check_input
from ..parameter import Parameter


class _BatchNorm(Layer):
    """Shared code of BatchNorm1d/2d; subclasses set ``_ndims`` and ``_layout``.

    The input is viewed as ``(N, C, L)`` (L = 1 for (N, C), L = H*W for images) and the
    statistics of channel c are taken over the M = N*L entries ``x[:, c, :]``.
    """

    _ndims: tuple[int, ...] = ()
    _layout = ""
    weight: Parameter | None
    bias: Parameter | None
    running_mean: np.ndarray  # buffers (register_buffer)
    running_var: np.ndarray

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, *, dtype=None):
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) \
                or num_features <= 0:
            raise ValueError(f"{name}: num_features must be a positive integer, "
                             f"got {num_features!r}")
        if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
            raise ValueError(f"{name}: eps must be a positive number, got {eps!r}")
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum <= 1.0):
            raise ValueError(f"{name}: momentum must be in [0, 1], got {momentum!r}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        dt = resolve_dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dt))
            self.bias = Parameter(np.zeros(self.num_features, dtype=dt))
        else:
            self.weight = self.bias = None
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dt))
        self.register_buffer("running_var", np.ones(self.num_features, dtype=dt))

    def _check(self, x) -> np.ndarray:
        """The validated input: floating, the buffers' dtype, a layout of this class, C."""
        x = check_input(self, x, dtype=self.running_mean.dtype)
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            raise ValueError(f"{self.label()}: expected input of shape {self._layout} "
                             f"with C={self.num_features}, got {x.shape}")
        return x

    def _affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(gamma, beta) as (C, 1) columns; 1 and 0 without affine parameters."""
        if self.weight is None or self.bias is None:  # both or neither (affine)
            dt = self.running_mean.dtype
            return np.ones((self.num_features, 1), dt), np.zeros((self.num_features, 1), dt)
        return self.weight.data[:, None], self.bias.data[:, None]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check(x)
        N, C = x.shape[:2]
        L = int(np.prod(x.shape[2:], dtype=np.int64))
        x3 = x.reshape(N, C, L)                       # (N, C, L): a view for any layout
        M = N * L
        if self.training:
            if M < 2:
                raise ValueError(f"{self.label()}: training needs more than 1 value per "
                                 f"channel to compute batch statistics, got input of shape "
                                 f"{x.shape} (a last mini-batch of one sample? then choose a "
                                 f"batch size that does not leave a remainder of 1)")
            mu = x3.mean(axis=(0, 2))                       # (C,)
            var = x3.var(axis=(0, 2))                       # (C,), mean((x - mu)^2): biased
            rstd = 1.0 / np.sqrt(var + self.eps)
            xhat = (x3 - mu[:, None]) * rstd[:, None]
            # running statistics (PyTorch's rule; the variance is the unbiased one)
            m = self.momentum
            self.running_mean[:] = (1 - m) * self.running_mean + m * mu
            self.running_var[:] = (1 - m) * self.running_var + m * M / (M - 1) * var
        else:
            rstd = 1.0 / np.sqrt(self.running_var + self.eps)
            xhat = (x3 - self.running_mean[:, None]) * rstd[:, None]
        gamma, beta = self._affine()
        y = gamma * xhat + beta
        self._cache = (xhat, rstd, M, self.training, x.shape)
        return y.reshape(x.shape)

    def backward(self, grad_y: np.ndarray) -> np.ndarray | None:
        xhat, rstd, M, training, shape = self._saved()
        g = check_grad(self, grad_y, shape, xhat.dtype).reshape(xhat.shape)
        dgamma = np.einsum("ncl,ncl->c", g, xhat)        # sum over n, l of g * xhat
        dbeta = g.sum(axis=(0, 2))
        if self.weight is not None and self.weight.requires_grad:
            self.weight.add_grad(dgamma)                    # dgamma = sum(g * xhat)
        if self.bias is not None and self.bias.requires_grad:
            self.bias.add_grad(dbeta)                       # dbeta = sum(g)
        if not self.input_grad:
            return None
        gamma, _ = self._affine()
        if not training:
            # dx = gamma * rstd_running * g  (running statistics are constants)
            return (gamma * rstd[:, None] * g).reshape(shape)
        # dx = gamma * rstd * (g - mean(g) - xhat * mean(g * xhat))
        dx = gamma * rstd[:, None] * (g - dbeta[:, None] / M - xhat * (dgamma[:, None] / M))
        return dx.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, " \
               f"affine={self.weight is not None}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over ``(N, C)`` or ``(N, C, L)`` inputs, per channel C.

    Shapes: x and y ``(N, C)`` or ``(N, C, L)``; ``weight`` (gamma) and ``bias`` (beta)
    ``(C,)`` (ones and zeros at creation); buffers ``running_mean`` ``(C,)`` (zeros) and
    ``running_var`` ``(C,)`` (ones), in ``state_dict`` but not in ``parameters()``.

    Train mode: statistics of the batch over every axis but C (M = N or N*L entries)::

        y = (x - mu) / sqrt(var + eps) * gamma + beta         (var biased, divided by M)
        running_mean <- (1 - momentum) * running_mean + momentum * mu
        running_var  <- (1 - momentum) * running_var + momentum * var * M / (M - 1)

    Eval mode: ``y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta``.

    ``forward`` caches xhat (the normalised input), rstd = 1/sqrt(var + eps) per channel,
    M and the mode. Backward (g = grad_y, sums and means over the M entries of a channel)::

        dgamma = sum(g * xhat),  dbeta = sum(g)
        train: dx = gamma * rstd * (g - mean(g) - xhat * mean(g * xhat))
        eval:  dx = gamma * rstd * g

    Training with one value per channel (M = 1) raises ValueError, as in PyTorch.
    """

    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over ``(N, C, H, W)`` images, per channel C.

    The same layer as :class:`BatchNorm1d` (see its docstring for the equations) with the
    statistics of channel c taken over the M = N*H*W entries ``x[:, c, :, :]``.
    ``weight``, ``bias``, ``running_mean``, ``running_var``: ``(C,)``.
    """

    _ndims = (4,)
    _layout = "(N, C, H, W)"


class LayerNorm(Layer):
    """Layer normalisation over the last ``len(normalized_shape)`` dims (PyTorch's).

    Shapes: x and y ``(..., *normalized_shape)``; ``weight`` (gamma, ones) and ``bias``
    (beta, zeros) of shape ``normalized_shape``. Each of the M = prod(leading dims) rows
    of D = prod(normalized_shape) entries is normalised on its own, in train and eval
    mode alike::

        mu = mean(x_row),  var = mean((x_row - mu)^2)     (biased)
        rstd = 1 / sqrt(var + eps),  xhat = (x_row - mu) * rstd
        y = xhat * gamma + beta

    ``forward`` caches xhat (M, D) and rstd (M, 1). Backward (g = grad_y as (M, D), means
    over a row's D entries)::

        dgamma = sum over rows of g * xhat,  dbeta = sum over rows of g
        dxhat = g * gamma
        dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

    ``elementwise_affine=False`` drops gamma and beta; ``bias=False`` drops beta only.
    """

    weight: Parameter | None
    bias: Parameter | None

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
            else tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) \
            else ()
        if not shape or any(isinstance(d, bool) or not isinstance(d, (int, np.integer))
                            or d <= 0 for d in shape):
            raise ValueError("LayerNorm: normalized_shape must be a positive int or a "
                             f"non-empty tuple of them, got {normalized_shape!r}")
        if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
            raise ValueError(f"LayerNorm: eps must be a positive number, got {eps!r}")
        self.normalized_shape = tuple(int(d) for d in shape)
        self.eps = float(eps)
        dt = resolve_dtype(dtype)
        self._size = int(np.prod(self.normalized_shape))
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt)) if bias else None
        else:
            self.weight = self.bias = None

    def _check(self, x) -> np.ndarray:
        """The validated input: floating, the parameters' dtype, ending in normalized_shape."""
        x = check_input(self, x, dtype=self.weight.dtype if self.weight is not None else None)
        if x.shape[x.ndim - len(self.normalized_shape):] != self.normalized_shape:
            dims = ", ".join(map(str, self.normalized_shape))
            raise ValueError(f"{self.label()}: expected input of shape (..., {dims}), "
                             f"got {x.shape}")
        return x

    def _affine(self, dtype) -> tuple[np.ndarray, np.ndarray]:
        """(gamma, beta) as (D,) rows; 1 and 0 where the layer has no such parameter."""
        D = self._size
        gamma = self.weight.data.reshape(D) if self.weight is not None else np.ones(D, dtype)
        beta = self.bias.data.reshape(D) if self.bias is not None else np.zeros(D, dtype)
        return gamma, beta

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check(x)
        X = x.reshape(-1, self._size)                       # (M, D): one row per example
        mu = X.mean(axis=1, keepdims=True)
        var = X.var(axis=1, keepdims=True)                  # mean((x - mu)^2): biased
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (X - mu) * rstd
        gamma, beta = self._affine(x.dtype)
        y = xhat * gamma + beta
        self._cache = (xhat, rstd, x.shape)
        return y.reshape(x.shape)

    def backward(self, grad_y: np.ndarray) -> np.ndarray | None:
        xhat, rstd, shape = self._saved()
        g = check_grad(self, grad_y, shape, xhat.dtype).reshape(xhat.shape)
        if self.weight is not None and self.weight.requires_grad:
            # dgamma = sum over rows of g * xhat
            self.weight.add_grad(np.einsum("md,md->d", g, xhat).reshape(self.normalized_shape))
        if self.bias is not None and self.bias.requires_grad:
            # dbeta = sum over rows of g
            self.bias.add_grad(g.sum(axis=0).reshape(self.normalized_shape))
        if not self.input_grad:
            return None
        D = self._size
        gamma, _ = self._affine(xhat.dtype)
        dxhat = g * gamma
        # dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        dx = rstd * (dxhat - dxhat.mean(axis=1, keepdims=True)
                     - xhat * np.einsum("md,md->m", dxhat, xhat)[:, None] / D)
        return dx.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, " \
               f"elementwise_affine={self.weight is not None}"
