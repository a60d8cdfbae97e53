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
# # Exercise 3: softmax with cross-entropy, and its fused gradient
#
# For logits $z$ $(N, C)$ and integer labels $y_n \in [0, C)$ (symbols of
# `docs/math/losses.md`):
#
# $$p_{nk} = \frac{e^{z_{nk}}}{\sum_j e^{z_{nj}}}, \qquad
# L = -\frac{1}{N} \sum_n \log p_{n, y_n}.$$
#
# The forward pass is given: it subtracts each row's maximum before `exp` (no overflow)
# and caches $p$ and the labels. `backward(grad)` returns $\partial L / \partial z$, shape
# $(N, C)$, times `grad` (the upstream scalar, 1 by default). Use the cached $p$.
#
# ## Derive it
#
# 1. Write $\log p_{nk} = z_{nk} - \log \sum_j e^{z_{nj}}$.
# 2. Differentiate $-\log p_{n, y_n}$ with respect to $z_{nk}$: two cases, $k = y_n$ and
#    $k \ne y_n$. Write both with one expression, using the one-hot matrix $Y$ of the labels.
# 3. Do not forget the mean over the batch.
#
# <details><summary>Hint</summary>
#
# $\partial \log \sum_j e^{z_{nj}} / \partial z_{nk} = p_{nk}$: the softmax itself. The
# softmax's own Jacobian never has to be formed.
# </details>


# %% [markdown] tags=["solution"]
# **Solution.** $\partial(-\log p_{n,y_n})/\partial z_{nk} = p_{nk} - [k = y_n]$, so
# $dz = (p - Y)/N$, times `grad`.


# %% tags=["skeleton"] file="softmax_cross_entropy.py"
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
        ### BEGIN SOLUTION
        dz = p.copy()
        dz[np.arange(len(y)), y] -= 1.0               # p - Y
        return dz * (grad / len(y))                   # dz = (p - Y) / N, times grad
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: return dL/dz, shape (N, C), times grad. Use p, not a new softmax.
        # raise NotImplementedError("exercise: write SoftmaxCrossEntropy.backward")
        ### END STUDENT


# %% [markdown]
# ## Check it
#
# The grader compares your gradients with central finite differences, tensor by tensor
# (the table: the worst coordinate, both values there), then runs generated cases for the
# other properties (dtype kept, `grad_y` not modified, `+=` accumulation, ...).


# %% tags=["check"]
from nn.testing import check_exercise

check_exercise(SoftmaxCrossEntropy)


# %% [markdown]
# ## Use it
#
# Your loss trains a linear classifier on the 8x8 digits.


# %% tags=["use-it"]
import matplotlib.pyplot as plt

nn.manual_seed(0)
x_all, y_all = nn.datasets.load_digits(dtype=np.float64)
x_train, y_train = x_all[:500] / 16.0, y_all[:500]
model = nn.Linear(64, 10).astype(np.float64)
loss_fn = SoftmaxCrossEntropy()
losses = []
for _ in range(60):
    model.zero_grad()
    losses.append(loss_fn.forward(model(x_train), y_train))
    model.backward(loss_fn.backward())
    for p in model.parameters():
        p.data -= 0.5 * p.grad
accuracy = (model(x_train).argmax(axis=1) == y_train).mean()
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("your cross-entropy")
plt.title(f"training accuracy {accuracy:.2f}")
plt.show()
print(f"loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
