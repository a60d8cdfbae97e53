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
# # Exercise 8: the backward pass of batch normalisation (train mode)
#
# Feature by feature, over a batch of $N$ rows (symbols of
# `docs/math/normalization.md`):
#
# $$\mu = \frac{1}{N}\sum_n x_n, \quad \sigma^2 = \frac{1}{N}\sum_n (x_n - \mu)^2, \quad
# r = \frac{1}{\sqrt{\sigma^2 + \epsilon}}, \quad \hat x_n = (x_n - \mu)\, r, \quad
# y_n = \gamma \hat x_n + \beta.$$
#
# The forward pass is given and caches $\hat x$ and $r$. `backward(grad_y)` adds
# $\partial L/\partial\gamma$ and $\partial L/\partial\beta$ into the `.grad`s and returns
# $\partial L/\partial x$, shape $(N, D)$.
#
# ## Derive it
#
# Write $g$ = `grad_y`.
#
# 1. The last step is elementwise per feature: $\partial L/\partial\beta$,
#    $\partial L/\partial\gamma$ and $d\hat x = \partial L/\partial \hat x$ follow at once.
# 2. $\hat x_n$ depends on $x_n$ directly, and on every row through $\mu$ and $\sigma^2$.
#    Follow the three paths: directly ($\mu$, $r$ fixed); through $\sigma^2$ (use
#    $\partial\sigma^2/\partial x_n = 2(x_n - \mu)/N$); through $\mu$ (use
#    $\sum_m (x_m - \mu) = 0$).
# 3. Add the three and write the result with $\hat x$, $r$, $\gamma$ and batch means.
#
# <details><summary>Hint: the variance path</summary>
#
# $\partial L/\partial\sigma^2 = \sum_m d\hat x_m (x_m - \mu) \cdot (-\tfrac12)(\sigma^2 +
# \epsilon)^{-3/2}$; rewrite $(x_m - \mu)$ as $\hat x_m / r$.
# </details>
#
# <details><summary>Hint: a check</summary>
#
# Adding a constant to a feature in every row changes neither $\hat x$ nor $y$: your
# $\partial L/\partial x$ must sum to 0 over the batch, feature by feature.
# </details>


# %% [markdown] tags=["solution"]
# **Solution.** $d\beta = \sum_n g_n$, $d\gamma = \sum_n g_n \hat x_n$, and
# $dx = \gamma\, r \left(g - \overline{g} - \hat x\, \overline{g \hat x}\right)$, the bars
# being means over the batch.


# %% tags=["skeleton"] file="batchnorm.py"
"""Exercise 8: the backward pass of batch normalisation (train mode).

Fill in ``backward`` (see docs/exercises/08-batchnorm.md), then grade it:

    python -m nn check docs/exercises/batchnorm.py:BatchNorm
"""

import numpy as np

import nn

EXERCISE = "batchnorm"


class BatchNorm(nn.Layer):
    """Batch normalisation of x (N, D), feature by feature, with the batch's statistics.

        mu = mean_n x,  var = mean_n (x - mu)^2          (biased: divided by N)
        rstd = 1 / sqrt(var + eps),  xhat = (x - mu) * rstd,  y = gamma * xhat + beta

    x, xhat, y (N, D); mu, var, rstd, gamma = self.weight, beta = self.bias (D,). This is
    train mode only: nn.BatchNorm1d also keeps running statistics for eval mode, where they
    are constants and the backward is just dx = gamma * rstd * grad_y.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, rng=None):
        super().__init__()
        gen = nn.get_rng(rng)
        # A network starts with gamma = 1 and beta = 0; random values here, so that the
        # grader sees it when gamma is left out of a formula.
        self.weight = nn.Parameter(gen.uniform(0.5, 1.5, num_features))  # gamma
        self.bias = nn.Parameter(gen.uniform(-0.5, 0.5, num_features))   # beta
        self.eps = eps

    def forward(self, x):
        mu = x.mean(axis=0)
        var = ((x - mu) ** 2).mean(axis=0)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mu) * rstd
        self._cache = (xhat, rstd)  # backward needs xhat and rstd (x is not needed)
        return self.weight.data * xhat + self.bias.data

    def backward(self, grad_y):
        xhat, rstd = self._saved()  # what the last forward cached
        N = xhat.shape[0]
        gamma = self.weight.data
        ### BEGIN SOLUTION
        self.weight.grad += (grad_y * xhat).sum(axis=0)      # dgamma = sum_n g * xhat
        self.bias.grad += grad_y.sum(axis=0)                 # dbeta = sum_n g
        # dx = gamma * rstd * (g - mean(g) - xhat * mean(g * xhat))
        return gamma * rstd * (grad_y - grad_y.mean(axis=0)
                               - xhat * (grad_y * xhat).mean(axis=0))
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: add dL/dgamma into self.weight.grad and dL/dbeta into self.bias.grad (+=),
        # #       and return dL/dx, shape (N, D). mu and var depend on every row of x: keep
        # #       both paths. grad_y is dL/dy, shape (N, D); do not modify it.
        # raise NotImplementedError("exercise: write BatchNorm.backward")
        ### END STUDENT


# %% [markdown]
# ## Check it
#
# The grader compares your gradients with central finite differences, tensor by tensor
# (the table: the worst coordinate, both values there), then runs generated cases for the
# other properties (dtype kept, `grad_y` not modified, `+=` accumulation, ...).


# %% tags=["check"]
from nn.testing import check_exercise

check_exercise(BatchNorm)


# %% [markdown]
# ## Use it
#
# The digits' pixels are not rescaled here (0 to 16): your `BatchNorm` after the first
# layer makes the network trainable anyway.


# %% tags=["use-it"]
import matplotlib.pyplot as plt

nn.manual_seed(0)
x_all, y_all = nn.datasets.load_digits(dtype=np.float64)
x_train, y_train = x_all[:500], y_all[:500]
model = nn.Sequential(nn.Linear(64, 32), BatchNorm(32), nn.ReLU(),
                      nn.Linear(32, 10)).astype(np.float64)
loss_fn = nn.CrossEntropyLoss()
losses = []
for _ in range(60):
    model.zero_grad()
    losses.append(loss_fn(model(x_train), y_train))
    model.backward(loss_fn.backward())
    for p in model.parameters():
        p.data -= 0.1 * p.grad
accuracy = (model(x_train).argmax(axis=1) == y_train).mean()
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.title(f"your BatchNorm: training accuracy {accuracy:.2f}")
plt.show()
print(f"loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
