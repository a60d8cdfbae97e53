"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from .._config import get_rng
from .activation import Activation


class Dropout(Activation):
    """Inverted dropout with drop probability ``p`` (PyTorch's meaning).

    Train mode::

        m ~ Bernoulli(1 - p) elementwise,  s = m / (1 - p)
        y = x * s          dx = g * s      (the same mask s is reused in backward)

    Eval mode (or ``p == 0``): y = x, dx = g.  Shapes: y and dx have x's shape.
    ``forward`` caches ``s`` (``None`` when it acts as the identity). The mask is drawn
    from ``rng`` (the global generator when ``None``). Input checks, caching and 0-d
    handling come from the :class:`~nn.layers.activation.Activation` base class.
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) \
                or not 0.0 <= float(p) < 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = get_rng(rng)

    def _forward(self, x):
        if not self.training or self.p == 0.0:
            return x.copy(), None                                # y = x
        u = self.rng.random(x.shape, dtype=_uniform_dtype(x.dtype))
        m = u >= self.p                                          # m ~ Bernoulli(1 - p)
        s = m * x.dtype.type(1 / (1 - self.p))                   # s = m / (1 - p)
        return x * s, s                                          # y = x s

    def _backward(self, g, s):
        if s is None:
            return g.copy()                                      # dx = g
        return g * s                                             # dx = g s

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _uniform_dtype(dtype: np.dtype) -> type:
    """The dtype of the uniform draws: the input's (float32 or float64); float16 draws
    float32 (``Generator.random`` has no float16)."""
    return dtype.type if dtype in (np.float32, np.float64) else np.float32
