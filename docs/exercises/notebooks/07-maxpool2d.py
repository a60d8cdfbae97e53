# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 7: the backward pass of max pooling, with overlapping windows
#
# With $x_p$ the input padded with $-\infty$, kernel size $k$, stride $s$ (symbols of
# `docs/math/conv.md`):
#
# $$y_{n,c,i,j} = \max_{0 \le a, q < k} x_{p\,n,c,\,is+a,\,js+q}.$$
#
# The forward pass is given; it caches `arg`, the offset $a k + q$ of the maximum of each
# window. `backward(grad_y)` returns $\partial L/\partial x$, shape $(N, C, H, W)$; the
# layer has no parameters.
#
# ## Derive it
#
# 1. Away from ties, a window's maximum depends on one entry only, with derivative 1. Which
#    entry receives $G_{n,c,i,j}$, and what do the other entries of the window receive?
# 2. When $s < k$, windows overlap: an entry can be the maximum of two windows. What does it
#    receive then?
# 3. Loop over the offsets $(a, q)$ as forward does: for a fixed offset, which windows send
#    their gradient to the patch's positions?
#
# <details><summary>Hint</summary>
#
# `arg == a * k + q` is a boolean array of the output's shape: the windows whose maximum
# is at offset $(a, q)$. Accumulate into a buffer of $x_p$'s shape with `+=`, then crop
# the padding.
# </details>


# %% [markdown] tags=["solution"]
# **Solution.** For each offset $(a, q)$:
# $dx_p[:, :, a{:}a+sH_o{:}s,\ q{:}q+sW_o{:}s] \mathrel{+}= G \odot [\text{arg} = ak + q]$;
# then $dx = dx_p[:, :, p:p+H, p:p+W]$.


# %% tags=["skeleton"] file="maxpool2d.py"
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
        ### BEGIN SOLUTION
        dxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=grad_y.dtype)  # dL/dxp
        for a in range(k):
            for q in range(k):
                # windows whose maximum is at offset (a, q) send G there; += where they overlap
                dxp[:, :, a:a + s * Ho:s, q:q + s * Wo:s] += grad_y * (arg == a * k + q)
        return dxp[:, :, p:p + H, p:p + W]                                # the padding cropped
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: return dL/dx, shape (N, C, H, W): each grad_y[n, c, i, j] goes to the one
        # #       input entry that was the maximum of window (i, j). Windows overlap when
        # #       s < k: an entry that wins two windows gets both gradients. Do not modify
        # #       grad_y.
        # raise NotImplementedError("exercise: write MaxPool2d.backward")
        ### END STUDENT


# %% [markdown]
# ## Check it
#
# The grader compares your gradients with central finite differences, tensor by tensor
# (the table: the worst coordinate, both values there), then runs generated cases for the
# other properties (dtype kept, `grad_y` not modified, `+=` accumulation, ...).
# It grades three configurations (padding 1 and 0, strides 2 and 1, a row no window
# reaches): code right for one of them only fails in another, after a line naming it.


# %% tags=["check"]
from nn.testing import check_exercise

check_exercise(MaxPool2d)


# %% [markdown]
# ## Use it
#
# A small CNN with your `MaxPool2d` after a convolution, trained on 8x8 digit images.


# %% tags=["use-it"]
import matplotlib.pyplot as plt

nn.manual_seed(0)
x_all, y_all = nn.datasets.load_digits(as_images=True, dtype=np.float64)
x_train, y_train = x_all[:300] / 16.0, y_all[:300]
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), MaxPool2d(2),
                      nn.Flatten(), nn.Linear(8 * 4 * 4, 10)).astype(np.float64)
loss_fn = nn.CrossEntropyLoss()
losses = []
for _ in range(40):
    model.zero_grad()
    losses.append(loss_fn(model(x_train), y_train))
    model.backward(loss_fn.backward())
    for p in model.parameters():
        p.data -= 0.1 * p.grad
accuracy = (model(x_train).argmax(axis=1) == y_train).mean()
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.title(f"your MaxPool2d: training accuracy {accuracy:.2f}")
plt.show()
print(f"loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
