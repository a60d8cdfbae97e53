"""Exercise 2: the backward passes of sigmoid and tanh.

Fill in both ``backward`` methods (see docs/exercises/02-sigmoid-tanh.md), then grade them:

    python -m nn check docs/exercises/sigmoid_tanh.py:Sigmoid
    python -m nn check docs/exercises/sigmoid_tanh.py:Tanh
"""

import numpy as np
from scipy import special

import nn

EXERCISE = {"Sigmoid": "sigmoid", "Tanh": "tanh"}


class Sigmoid(nn.Layer):
    """y = 1 / (1 + exp(-x)), elementwise."""

    def forward(self, x):
        y = special.expit(x)  # the stable sigmoid: no overflow for very negative x
        self._cache = y       # the derivative is easiest written with y
        return y

    def backward(self, grad_y):
        y = self._saved()
        # TODO: return dL/dx (same shape as grad_y), written with y.
        raise NotImplementedError("exercise: write Sigmoid.backward")


class Tanh(nn.Layer):
    """y = tanh(x), elementwise."""

    def forward(self, x):
        y = np.tanh(x)
        self._cache = y
        return y

    def backward(self, grad_y):
        y = self._saved()
        # TODO: return dL/dx (same shape as grad_y), written with y.
        raise NotImplementedError("exercise: write Tanh.backward")
