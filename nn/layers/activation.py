"""Elementwise activations and the softmax family. No parameters; dtype in = dtype out.

Each backward is the vector-Jacobian product g ↦ g·∂y/∂x, written in the code's symbols
(g = grad_y). Derivations: docs/math/activations.md.

Products of small numbers (y*y for a tiny tanh, x*phi(x) for a very negative x) may
underflow to zero; that is the right limit, so those lines silence underflow locally and
nothing trips ``np.errstate(all="raise")``. A 0-d input gives a 0-d ndarray back, never a
NumPy scalar.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .. import functional as F
from ..layer import Layer, check_grad, plain


class Activation(Layer):
    """Base for parameter-free layers whose output has the input's shape.

    Subclasses implement ``_forward(x) -> (y, cache)`` and ``_backward(g, cache) -> dx``;
    this class checks the input (a floating ndarray) and the gradient's shape and dtype.
    """

    min_ndim = 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        if type(x) is not np.ndarray or x.dtype.kind != "f" or x.ndim < self.min_ndim:
            x = self._bad_input(x)
        y, cache = self._forward(x)
        self._cache = (cache, x.shape, x.dtype)
        return y if x.ndim else np.asarray(y)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        cache, shape, dtype = self._saved()
        if type(grad_y) is not np.ndarray or grad_y.shape != shape or grad_y.dtype != dtype:
            grad_y = check_grad(self, grad_y, shape, dtype)
        dx = self._backward(grad_y, cache)
        return dx if grad_y.ndim else np.asarray(dx)

    def _bad_input(self, x) -> np.ndarray:
        """Raise the error ``x`` deserves, or return a plain view of a good ndarray subclass
        (an ``np.memmap``)."""
        if not isinstance(x, np.ndarray):
            raise TypeError(
                f"{self.label()}: expected a numpy.ndarray input, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"{self.label()}: expected a floating input, got dtype {x.dtype}")
        if x.ndim >= self.min_ndim:
            return plain(x)
        raise ValueError(
            f"{self.label()}: expected an input with at least {self.min_ndim} dims, got {x.shape}"
        )


class ReLU(Activation):
    """y = max(x, 0);  dx = g * [x > 0]  (the derivative at 0 is taken as 0, like PyTorch).

    Caches y (y > 0 exactly where x > 0).
    """

    def _forward(self, x):
        y = np.maximum(x, 0)
        return y, y

    def _backward(self, g, y):
        # dx = g * [y > 0]
        return g * (y > 0)


class LeakyReLU(Activation):
    """y = x if x > 0 else a*x;  dx = g if x > 0 else a*g.  Caches the mask x > 0."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(
                negative_slope, (int, float, np.integer, np.floating)) \
                or not np.isfinite(negative_slope):
            raise ValueError(f"LeakyReLU: negative_slope must be a finite number, got "
                             f"{negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def _forward(self, x):
        positive = x > 0
        return np.where(positive, x, x * self.negative_slope), positive

    def _backward(self, g, positive):
        # dx = g * (1 if x > 0 else a)
        return np.where(positive, g, g * self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Activation):
    """y = 1 / (1 + exp(-x)) (stable: scipy.special.expit);  dx = g * y * (1 - y).  Caches y."""

    def _forward(self, x):
        y = F.sigmoid(x)
        return y, y

    def _backward(self, g, y):
        # dx = g y (1 - y)
        with np.errstate(under="ignore"):
            return g * y * (1 - y)


class Tanh(Activation):
    """y = tanh(x);  dx = g * (1 - y^2).  Caches y."""

    def _forward(self, x):
        y = np.tanh(x)
        return y, y

    def _backward(self, g, y):
        # dx = g (1 - y^2)
        with np.errstate(under="ignore"):
            return g * (1 - y * y)


_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELU(Activation):
    """Exact GELU: y = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2.

    dx = g * (Phi(x) + x * phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).  Caches x and Phi(x).
    """

    def _forward(self, x):
        with np.errstate(under="ignore"):
            cdf = F.keep_dtype(special.erf(x * _INV_SQRT2), x)
            cdf += 1
            cdf *= 0.5
            return x * cdf, (x, cdf)

    def _backward(self, g, cache):
        x, cdf = cache
        # dx = g (Phi + x phi)
        with np.errstate(under="ignore"):
            pdf = np.exp(-0.5 * x * x)
            pdf *= _INV_SQRT_2PI
            return g * (cdf + x * pdf)


class _AxisActivation(Activation):
    def __init__(self, axis: int = -1):
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def forward(self, x):
        if isinstance(x, np.ndarray) and not -x.ndim <= self.axis < max(x.ndim, 1):
            raise ValueError(f"{self.label()}: axis {self.axis} is out of range for input "
                             f"of shape {x.shape}")
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Softmax(_AxisActivation):
    """y = exp(x - max) / sum(exp(x - max)) along ``axis``.

    dx = y * (g - sum(g * y, axis)).  Caches y.
    """

    min_ndim = 1

    def _forward(self, x):
        y = F.softmax(x, axis=self.axis)
        return y, y

    def _backward(self, g, y):
        # dx = y (g - <g, y>)
        with np.errstate(under="ignore"):
            return y * (g - (g * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(_AxisActivation):
    """y = x - logsumexp(x) along ``axis``.

    dx = g - softmax(x) * sum(g, axis), with softmax(x) = exp(y).  Caches y.
    """

    min_ndim = 1

    def _forward(self, x):
        y = F.log_softmax(x, axis=self.axis)
        return y, y

    def _backward(self, g, y):
        # dx = g - p * sum(g), p = exp(y)
        with np.errstate(under="ignore"):
            p = np.exp(y)
            return g - p * g.sum(axis=self.axis, keepdims=True)
