"""Exercise 6: the backward pass of a 2-D convolution.

Fill in ``backward`` (see docs/exercises/06-conv2d.md), then grade it:

    python -m nn check docs/exercises/conv2d.py:Conv2d
"""

import numpy as np

import nn

EXERCISE = "conv2d"


class Conv2d(nn.Layer):
    """y[n, o, i, j] = b[o] + sum over c, a, q of W[o, c, a, q] * xp[n, c, i*s + a, j*s + q].

    x (N, C, H, Wd) the input (H, Wd its height and width: W is the weight) and xp the input
    with p rows and columns of zeros on each side; W (O, C, k, k) the weight, b (O,) the
    bias; y (N, O, Ho, Wo) the output, with Ho = (H + 2p - k) // s + 1 and
    Wo = (Wd + 2p - k) // s + 1. (k, s, p) are kernel_size, stride and padding, the same
    along both axes; no dilation. Cross-correlation, as in PyTorch and nn.Conv2d: the
    kernel is not flipped.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, rng=None):
        super().__init__()
        gen = nn.get_rng(rng)
        k = kernel_size
        bound = 1.0 / np.sqrt(in_channels * k * k)  # PyTorch's default range
        self.weight = nn.Parameter(gen.uniform(-bound, bound, (out_channels, in_channels, k, k)))
        self.bias = nn.Parameter(gen.uniform(-bound, bound, out_channels))
        self.kernel_size, self.stride, self.padding = k, stride, padding

    def forward(self, x):
        N, C, H, Wd = x.shape
        O = self.weight.data.shape[0]
        k, s, p = self.kernel_size, self.stride, self.padding
        Ho, Wo = (H + 2 * p - k) // s + 1, (Wd + 2 * p - k) // s + 1
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # zeros around every image
        y = np.zeros((N, O, Ho, Wo), dtype=x.dtype)
        for a in range(k):          # kernel row
            for q in range(k):      # kernel column
                # entry (a, q) of every window at once: xp[n, c, i*s + a, j*s + q]
                patch = xp[:, :, a:a + s * Ho:s, q:q + s * Wo:s]           # (N, C, Ho, Wo)
                # y[n, o, i, j] += sum_c W[o, c, a, q] * patch[n, c, i, j]
                y += np.einsum("nchw,oc->nohw", patch, self.weight.data[:, :, a, q])
        y += self.bias.data[None, :, None, None]
        self._cache = (xp, x.shape)  # backward needs the padded input and the input's shape
        return y

    def backward(self, grad_y):
        xp, x_shape = self._saved()  # what the last forward cached
        N, C, H, Wd = x_shape
        _, O, Ho, Wo = grad_y.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        # TODO: add dL/dW into self.weight.grad and dL/db into self.bias.grad (+=, never =),
        #       and return dL/dx, shape (N, C, H, Wd). grad_y is dL/dy, shape (N, O, Ho, Wo).
        #       Loop over the kernel offsets (a, q) as forward does; do not modify grad_y.
        raise NotImplementedError("exercise: write Conv2d.backward")
