"""Exercise 3: softmax with cross-entropy, and its fused gradient.

Fill in ``backward`` (see docs/exercises/03-softmax-cross-entropy.md), then grade it:

    python -m nn check docs/exercises/softmax_cross_entropy.py:SoftmaxCrossEntropy
"""

import numpy as np

import nn

EXERCISE = "softmax-cross-entropy"


class SoftmaxCrossEntropy(nn.Loss):
    """Mean cross-entropy of softmax(z) against integer labels.

    z: logits (N, C); y: integer labels (N,) in [0, C). Returns a Python float.
    """

    def forward(self, z, y):
        z_shift = z - z.max(axis=1, keepdims=True)            # no overflow in exp
        log_p = z_shift - np.log(np.exp(z_shift).sum(axis=1, keepdims=True))
        rows = np.arange(z.shape[0])
        self._cache = (np.exp(log_p), y)                      # p = softmax(z), the labels
        return float(-log_p[rows, y].mean())

    def backward(self, grad=1.0):
        if self._cache is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward() called before forward()")
        p, y = self._cache
        # TODO: return dL/dz, shape (N, C), times grad. Use p, not a new softmax.
        raise NotImplementedError("exercise: write SoftmaxCrossEntropy.backward")
