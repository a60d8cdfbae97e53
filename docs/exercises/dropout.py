"""Exercise 4: inverted dropout, forward and backward.

Fill in ``forward`` (train mode) and ``backward`` (see docs/exercises/04-dropout.md), then
grade them:

    python -m nn check docs/exercises/dropout.py:Dropout
"""

import nn

EXERCISE = "dropout"


class Dropout(nn.Layer):
    """Drop each entry with probability p in train mode; identity in eval mode."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p!r}")
        self.p = p
        self.rng = nn.get_rng(rng)  # draw every mask from this generator

    def forward(self, x):
        if not self.training:
            self._cache = ("eval", None)
            return x.copy()
        # TODO: draw a mask from self.rng (keep an entry with probability 1 - p), scale the
        #       kept entries so that E[y] = x, cache ("train", what backward needs), return y.
        raise NotImplementedError("exercise: write Dropout.forward")

    def backward(self, grad_y):
        mode, saved = self._saved()
        if mode == "eval":  # the identity
            return grad_y.copy()
        # TODO: return dL/dx.
        raise NotImplementedError("exercise: write Dropout.backward")
