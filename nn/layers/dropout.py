"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from .._config import get_rng
from ..layer import Layer, check_grad, check_input


class Dropout(Layer):
    """Inverted dropout with drop probability ``p`` (PyTorch's meaning).

    Train mode::

        m ~ Bernoulli(1 - p) elementwise,  s = m / (1 - p)
        y = x * s          dx = g * s      (the same mask s is reused in backward)

    Eval mode (or ``p == 0``): y = x, dx = g.  Shapes: y and dx have x's shape.
    ``forward`` caches ``s`` (``None`` when it acts as the identity). The mask is drawn
    from ``rng`` (the global generator when ``None``).
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) \
                or not 0.0 <= float(p) < 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = get_rng(rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_input(self, x, min_ndim=0)
        if not self.training or self.p == 0.0:
            self._cache = (None, x.shape, x.dtype)
            return x.copy()
        # uniform draws in the input's dtype (float32 or float64; float16 draws float32)
        draw = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
        keep = self.rng.random(x.shape, dtype=draw) >= self.p
        scale = keep * x.dtype.type(1.0 / (1.0 - self.p))
        self._cache = (scale, x.shape, x.dtype)
        return np.asarray(x * scale)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        scale, shape, dtype = self._saved()
        grad_y = check_grad(self, grad_y, shape, dtype)
        if scale is None:
            return grad_y.copy()
        # dx = g * s
        return np.asarray(grad_y * scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"
