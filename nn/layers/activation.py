"""Elementwise activations and the softmax family. No parameters; dtype in = dtype out.

Each backward is the vector-Jacobian product g ↦ g·∂y/∂x, written in the code's symbols
(g = grad_y). Derivations: docs/math/activations.md.

Products of small numbers (y*y for a tiny tanh, x*phi(x) for a very negative x) may
underflow to zero; that is the right limit, so those classes set ``underflow_ok`` and the
base class silences underflow around their math: nothing trips
``np.errstate(all="raise")``. A 0-d input gives a 0-d ndarray back, never a NumPy scalar.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..layer import Layer, check_grad, check_input


class Activation(Layer):
    """Base for parameter-free layers whose output has the input's shape.

    A subclass writes only the math: ``_forward(x) -> (y, cache)`` and
    ``_backward(g, cache) -> dx``. This class does the rest once, around it: it checks the
    input (a floating ndarray with at least ``min_ndim`` dims) and the upstream gradient
    (the output's shape and dtype), keeps what ``backward`` needs, silences the benign
    underflow of tiny products when ``underflow_ok`` is set, and returns 0-d ndarrays (never
    NumPy scalars) for a 0-d input.
    """

    min_ndim = 0
    #: The math may underflow a tiny product to 0, which is the right limit: run it under
    #: ``np.errstate(under="ignore")`` so that ``np.errstate(all="raise")`` does not trip.
    underflow_ok = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_input(self, x, min_ndim=self.min_ndim)
        y, cache = self._quietly(self._forward, x)
        self._cache = (cache, x.shape, x.dtype)
        return y if x.ndim else np.asarray(y)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        cache, shape, dtype = self._saved()
        g = check_grad(self, grad_y, shape, dtype)
        dx = self._quietly(self._backward, g, cache)
        return dx if g.ndim else np.asarray(dx)

    def _quietly(self, method, *args):
        if not self.underflow_ok:
            return method(*args)
        with np.errstate(under="ignore"):
            return method(*args)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, object]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} does not implement _forward")

    def _backward(self, g: np.ndarray, cache) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} does not implement _backward")


class ReLU(Activation):
    """y = max(x, 0);  dx = g * [x > 0]  (the derivative at 0 is taken as 0, like PyTorch).

    Caches y (y > 0 exactly where x > 0).
    """

    def _forward(self, x):
        y = np.maximum(x, 0)                         # y = max(x, 0)
        return y, y

    def _backward(self, g, y):
        return g * (y > 0)                           # dx = g [x > 0]


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
        a = self.negative_slope
        return np.where(positive, x, a * x), positive     # y = x if x > 0 else a x

    def _backward(self, g, positive):
        a = self.negative_slope
        return np.where(positive, g, a * g)               # dx = g if x > 0 else a g

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Activation):
    """y = 1 / (1 + exp(-x)) (stable: scipy.special.expit);  dx = g * y * (1 - y).  Caches y."""

    underflow_ok = True

    def _forward(self, x):
        y = F.sigmoid(x)                             # y = σ(x)
        return y, y

    def _backward(self, g, y):
        return g * y * (1 - y)                       # dx = g y (1 - y)


class Tanh(Activation):
    """y = tanh(x);  dx = g * (1 - y^2).  Caches y."""

    underflow_ok = True

    def _forward(self, x):
        y = np.tanh(x)                               # y = tanh(x)
        return y, y

    def _backward(self, g, y):
        return g * (1 - y * y)                       # dx = g (1 - y^2)


_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


class GELU(Activation):
    """Exact GELU: y = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2.

    dx = g * (Phi(x) + x * phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).  Caches x and Phi(x).
    """

    underflow_ok = True

    def _forward(self, x):
        Phi = 0.5 * (1 + F.erf(x / _SQRT2))          # Φ(x) = (1 + erf(x / √2)) / 2
        y = x * Phi                                  # y = x Φ(x)
        return y, (x, Phi)

    def _backward(self, g, cache):
        x, Phi = cache
        phi = np.exp(-0.5 * x * x) / _SQRT_2PI       # φ(x) = exp(-x² / 2) / √(2π)
        return g * (Phi + x * phi)                   # dx = g (Φ(x) + x φ(x))


class _AxisActivation(Activation):
    min_ndim = 1
    underflow_ok = True

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

    def _forward(self, x):
        y = F.softmax(x, axis=self.axis)             # y = exp(x) / Σ exp(x)
        return y, y

    def _backward(self, g, y):
        gy = (g * y).sum(axis=self.axis, keepdims=True)   # <g, y>
        return y * (g - gy)                               # dx = y (g - <g, y>)


class LogSoftmax(_AxisActivation):
    """y = x - logsumexp(x) along ``axis``.

    dx = g - softmax(x) * sum(g, axis), with softmax(x) = exp(y).  Caches y.
    """

    def _forward(self, x):
        y = F.log_softmax(x, axis=self.axis)         # y = x - logsumexp(x)
        return y, y

    def _backward(self, g, y):
        p = np.exp(y)                                          # p = softmax(x)
        return g - p * g.sum(axis=self.axis, keepdims=True)    # dx = g - p Σ g
