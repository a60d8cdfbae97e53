"""Exercise 7: the backward pass of max pooling, with overlapping windows.

Fill in ``backward`` (see docs/exercises/07-maxpool2d.md), then grade it:

    python -m nn check docs/exercises/maxpool2d.py:MaxPool2d
"""

import numpy as np

import nn

EXERCISE = "maxpool2d"


class MaxPool2d(nn.Layer):
    """y[n, c, i, j] = max over a, q in [0, k) of xp[n, c, i*s + a, j*s + q].

    x (N, C, H, W) the input and xp the input with p rows and columns of -inf on each side
    (padding never wins a window); y (N, C, Ho, Wo) with Ho = (H + 2p - k) // s + 1 and
    Wo = (W + 2p - k) // s + 1. (k, s, p) are kernel_size, stride (default: kernel_size)
    and padding. When s < k, neighbouring windows share entries. No parameters.
    """

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0):
        super().__init__()
        if 2 * padding > kernel_size:
            raise ValueError(f"MaxPool2d: padding {padding} must be at most half the kernel "
                             f"size {kernel_size}")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, x):
        N, C, H, W = x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
        y = np.full((N, C, Ho, Wo), -np.inf, dtype=x.dtype)
        # arg[n, c, i, j] = a*k + q for the window entry (a, q) that holds the maximum
        arg = np.zeros((N, C, Ho, Wo), dtype=np.int64)
        for a in range(k):          # window row
            for q in range(k):      # window column
                v = xp[:, :, a:a + s * Ho:s, q:q + s * Wo:s]  # entry (a, q) of every window
                larger = v > y      # strictly: at a tie the first maximum keeps the gradient
                y[larger] = v[larger]
                arg[larger] = a * k + q
        self._cache = (arg, x.shape)  # backward needs where each maximum was, and the shape
        return y

    def backward(self, grad_y):
        arg, x_shape = self._saved()  # what the last forward cached
        N, C, H, W = x_shape
        _, _, Ho, Wo = grad_y.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        # TODO: return dL/dx, shape (N, C, H, W): each grad_y[n, c, i, j] goes to the one
        #       input entry that was the maximum of window (i, j). Windows overlap when
        #       s < k: an entry that wins two windows gets both gradients. Do not modify
        #       grad_y.
        raise NotImplementedError("exercise: write MaxPool2d.backward")
