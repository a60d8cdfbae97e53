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
# # Exercise 6: the backward pass of a 2-D convolution
#
# With $x_p$ the input padded with $p$ zeros on each side, kernel size $k$, stride $s$
# (symbols of `docs/math/conv.md`):
#
# $$y_{n,o,i,j} = b_o + \sum_{c}\sum_{a=0}^{k-1}\sum_{q=0}^{k-1}
# W_{o,c,a,q}\; x_{p\,n,c,\,is+a,\,js+q}.$$
#
# The forward pass is given: it loops over the kernel offsets $(a, q)$ and handles every
# window at once for each. `backward(grad_y)` adds $\partial L/\partial W$ and
# $\partial L/\partial b$ into the `.grad`s and returns $\partial L/\partial x$, shape
# $(N, C, H, W_d)$. Loop over the offsets as forward does.
#
# ## Derive it
#
# Differentiate the sum term by term; every index not on the left is summed on the right.
#
# 1. $b_o$ is added to which outputs? Sum $G$ over them.
# 2. $W_{o,c,a,q}$ multiplies which entries of $x_p$, in which outputs? For a fixed offset
#    $(a, q)$, the entries form the same patch the forward pass used.
# 3. An entry of $x_p$ appears in every window containing it. For a fixed offset the
#    entries reached are the patch's positions, each once: what does each receive? When
#    $s < k$ two offsets reach the same entry: what must happen to both contributions?
# 4. Which part of $\partial L / \partial x_p$ is $\partial L / \partial x$?
#
# <details><summary>Hint: einsum</summary>
#
# For one offset, `patch = xp[:, :, a:a + s*Ho:s, q:q + s*Wo:s]` has shape
# $(N, C, H_o, W_o)$ like a slice of the output; `np.einsum` with subscripts such as
# `"nohw,nchw->oc"` or `"nohw,oc->nchw"` contracts exactly the indices that are summed.
# </details>
#
# <details><summary>Hint: no flip</summary>
#
# The "full convolution with the flipped kernel" of some derivations is the same sum
# written per input pixel. Grouping by offset, nothing is flipped.
# </details>


# %% [markdown] tags=["solution"]
# **Solution.** $db_o = \sum_{n,i,j} G_{n,o,i,j}$. For each offset $(a, q)$ with
# $P$ = the patch: $dW_{:,:,a,q} = \sum_{n,i,j} G_{n,o,i,j} P_{n,c,i,j}$ and
# $dx_p[\text{patch positions}] \mathrel{+}= \sum_o G_{n,o,i,j} W_{o,c,a,q}$; then
# $dx = dx_p[:, :, p:p+H, p:p+W_d]$.


# %% tags=["skeleton"] file="conv2d.py"
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
        ### BEGIN SOLUTION
        self.bias.grad += grad_y.sum(axis=(0, 2, 3))                  # db = sum of G over n, i, j
        dxp = np.zeros_like(xp)                                       # dL/dxp
        for a in range(k):
            for q in range(k):
                rows, cols = slice(a, a + s * Ho, s), slice(q, q + s * Wo, s)
                # dW[:, :, a, q] = sum over n, i, j of G * the patch of offset (a, q)
                self.weight.grad[:, :, a, q] += np.einsum("nohw,nchw->oc", grad_y,
                                                          xp[:, :, rows, cols])
                # the patch's entries get sum over o of G * W[o, c, a, q]; += where windows overlap
                dxp[:, :, rows, cols] += np.einsum("nohw,oc->nchw", grad_y,
                                                   self.weight.data[:, :, a, q])
        return dxp[:, :, p:p + H, p:p + Wd]                           # the padding cropped
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: add dL/dW into self.weight.grad and dL/db into self.bias.grad (+=, never =),
        # #       and return dL/dx, shape (N, C, H, Wd). grad_y is dL/dy, shape (N, O, Ho, Wo).
        # #       Loop over the kernel offsets (a, q) as forward does; do not modify grad_y.
        # raise NotImplementedError("exercise: write Conv2d.backward")
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

check_exercise(Conv2d)


# %% [markdown]
# ## Use it
#
# A small CNN with your `Conv2d` (8 filters 3x3, padding 1, then ReLU and a linear
# classifier) trained on 8x8 digit images.


# %% tags=["use-it"]
import matplotlib.pyplot as plt

nn.manual_seed(0)
x_all, y_all = nn.datasets.load_digits(as_images=True, dtype=np.float64)
x_train, y_train = x_all[:300] / 16.0, y_all[:300]
model = nn.Sequential(Conv2d(1, 8, 3, stride=1, padding=1), nn.ReLU(), nn.Flatten(),
                      nn.Linear(8 * 8 * 8, 10)).astype(np.float64)
loss_fn = nn.CrossEntropyLoss()
losses = []
for _ in range(30):
    model.zero_grad()
    losses.append(loss_fn(model(x_train), y_train))
    model.backward(loss_fn.backward())
    for p in model.parameters():
        p.data -= 0.1 * p.grad
accuracy = (model(x_train).argmax(axis=1) == y_train).mean()
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.title(f"your Conv2d: training accuracy {accuracy:.2f}")
plt.show()
print(f"loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
