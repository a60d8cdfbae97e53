"""Exercise 1: the backward pass of a fully connected layer.

Fill in ``backward`` (see docs/exercises/01-linear.md), then grade it:

    python -m nn check docs/exercises/linear.py:Linear
"""

import numpy as np

import nn

EXERCISE = "linear"


class Linear(nn.Layer):
    """y = x @ W + b, with x (N, in), W (in, out), b (out,), y (N, out)."""

    def __init__(self, in_features: int, out_features: int, rng=None):
        super().__init__()
        gen = nn.get_rng(rng)
        self.weight = nn.Parameter(gen.standard_normal((in_features, out_features))
                                   * np.sqrt(2.0 / in_features))
        self.bias = nn.Parameter(np.zeros(out_features))

    def forward(self, x):
        self._cache = x  # backward needs x
        return x @ self.weight.data + self.bias.data

    def backward(self, grad_y):
        x = self._saved()  # the x of the last forward (an error if there was none)
        # TODO: add dL/dW into self.weight.grad and dL/db into self.bias.grad (+=, never =),
        #       and return dL/dx. grad_y is dL/dy, shape (N, out). Do not modify grad_y.
        raise NotImplementedError("exercise: write Linear.backward")
