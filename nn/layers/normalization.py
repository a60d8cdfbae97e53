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

    def forward(self, x: np.ndarray) -> np.ndarray:
        dt = self.running_mean.dtype
        C = self.num_features
        if type(x) is not np.ndarray or x.dtype != dt or x.ndim not in self._ndims \
                or x.shape[1] != C:
            x = check_input(self, x, dtype=dt)
            if x.ndim not in self._ndims or x.shape[1] != C:
                raise ValueError(f"{self.label()}: expected input of shape {self._layout} "
                                 f"with C={C}, got {x.shape}")
        N = x.shape[0]
        L = int(np.prod(x.shape[2:], dtype=np.int64))
        x3 = x.reshape(N, C, L)                       # (N, C, L): a view for any layout
        M = N * L
        if self.training:
            if M < 2:
                raise ValueError(f"{self.label()}: training needs more than 1 value per "
                                 f"channel to compute batch statistics, got input of shape "
                                 f"{x.shape} (a last mini-batch of one sample? then choose a "
                                 f"batch size that does not leave a remainder of 1)")
            mu = x3.mean(axis=(0, 2))
            xc = x3 - mu[:, None]
            var = np.mean(xc * xc, axis=(0, 2))
            rstd = 1.0 / np.sqrt(var + self.eps)
            xhat = xc
            xhat *= rstd[:, None]
            # running statistics (PyTorch's rule; the variance is the unbiased one)
            m = self.momentum
            self.running_mean *= 1.0 - m
            self.running_mean += m * mu
            self.running_var *= 1.0 - m
            self.running_var += (m * M / (M - 1)) * var
        else:
            rstd = 1.0 / np.sqrt(self.running_var + self.eps)
            xhat = (x3 - self.running_mean[:, None]) * rstd[:, None]
        if self.weight is not None:
            y = xhat * self.weight.data[:, None]
            y += self.bias.data[:, None]
        else:
            y = xhat.copy()
        self._cache = (xhat, rstd, M, self.training, x.shape)
        return y.reshape(x.shape)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        xhat, rstd, M, training, shape = self._saved()
        dt = xhat.dtype
        if type(grad_y) is not np.ndarray or grad_y.shape != shape or grad_y.dtype != dt:
            grad_y = check_grad(self, grad_y, shape, dt)
        g = grad_y.reshape(xhat.shape)
        sum_g = g.sum(axis=(0, 2))                     # = dbeta
        sum_gx = np.einsum("ncl,ncl->c", g, xhat)      # = dgamma
        if self.weight is not None:
            if self.weight.requires_grad:
                # dgamma = sum(g * xhat)
                self.weight.add_grad(sum_gx)
            if self.bias.requires_grad:
                # dbeta = sum(g)
                self.bias.add_grad(sum_g)
        if not self.input_grad:
            return None
        scale = rstd if self.weight is None else self.weight.data * rstd
        if not training:
            # dx = gamma * rstd_running * g  (running statistics are constants)
            return (g * scale[:, None]).reshape(shape)
        # dx = gamma * rstd * (g - mean(g) - xhat * mean(g * xhat))
        dx = xhat * (sum_gx / M)[:, None]
        np.subtract(g, dx, out=dx)
        dx -= (sum_g / M)[:, None]
        dx *= scale[:, None]
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

    def forward(self, x: np.ndarray) -> np.ndarray:
        k = len(self.normalized_shape)
        dt = self.weight.dtype if self.weight is not None else None
        if type(x) is not np.ndarray or x.dtype.kind != "f" or (dt is not None and x.dtype != dt) \
                or x.shape[x.ndim - k:] != self.normalized_shape:
            x = check_input(self, x, dtype=dt)
            if x.shape[x.ndim - k:] != self.normalized_shape:
                dims = ", ".join(map(str, self.normalized_shape))
                raise ValueError(f"{self.label()}: expected input of shape (..., {dims}), "
                                 f"got {x.shape}")
        D = self._size
        X = x.reshape(-1, D)
        mu = X.mean(axis=1, keepdims=True)
        xhat = X - mu
        var = np.mean(xhat * xhat, axis=1, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat *= rstd
        if self.weight is not None:
            y = xhat * self.weight.data.reshape(D)
            if self.bias is not None:
                y += self.bias.data.reshape(D)
        else:
            y = xhat.copy()
        self._cache = (xhat, rstd, x.shape)
        return y.reshape(x.shape)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        xhat, rstd, shape = self._saved()
        dt = xhat.dtype
        if type(grad_y) is not np.ndarray or grad_y.shape != shape or grad_y.dtype != dt:
            grad_y = check_grad(self, grad_y, shape, dt)
        D = self._size
        g = grad_y.reshape(-1, D)
        if self.weight is not None:
            if self.weight.requires_grad:
                # dgamma = sum over rows of g * xhat
                self.weight.add_grad(
                    np.einsum("md,md->d", g, xhat).reshape(self.normalized_shape))
            if self.bias is not None and self.bias.requires_grad:
                # dbeta = sum over rows of g
                self.bias.add_grad(g.sum(axis=0).reshape(self.normalized_shape))
        if not self.input_grad:
            return None
        dxhat = g * self.weight.data.reshape(D) if self.weight is not None else g
        # dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        dx = xhat * np.einsum("md,md->m", dxhat, xhat)[:, None]
        dx *= 1.0 / D
        np.subtract(dxhat, dx, out=dx)
        dx -= dxhat.mean(axis=1, keepdims=True)
        dx *= rstd
        return dx.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, " \
               f"elementwise_affine={self.weight is not None}"
