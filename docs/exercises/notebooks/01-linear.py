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
# # Exercise 1: the backward pass of a fully connected layer
#
# The layer computes, for a batch of $N$ rows (symbols of
# `docs/math/linear.md`),
#
# $$y = x W + b, \qquad x\ (N, in),\quad W\ (in, out),\quad b\ (out,),\quad y\ (N, out).$$
#
# `backward(grad_y)` receives $G = \partial L / \partial y$, shape $(N, out)$. It must
# **add** $\partial L/\partial W$ into `self.weight.grad` and $\partial L/\partial b$ into
# `self.bias.grad` (`+=`: gradients accumulate until `zero_grad()`), and **return**
# $\partial L/\partial x$, without modifying `grad_y`.
#
# ## Derive it
#
# Write one element of the output, $y_{nj} = \sum_i x_{ni} W_{ij} + b_j$, and use the
# chain rule: a quantity receives the sum, over every $y_{nj}$ it touches, of
# $G_{nj}\, \partial y_{nj} / \partial(\text{quantity})$.
#
# 1. Which $y_{nj}$ does $W_{ij}$ touch, and with what derivative? Sum them: that is
#    $\partial L / \partial W_{ij}$. Write the sum as a matrix product.
# 2. The same for $b_j$.
# 3. The same for $x_{ni}$ (it touches one row of $y$ only).
#
# Check each result's shape against the tensor it is the gradient of.
#
# <details><summary>Hint: the shapes</summary>
#
# $\partial L/\partial W$ has W's shape $(in, out)$; from $x$ $(N, in)$ and $G$ $(N, out)$,
# only one product of the two has that shape. $\partial L/\partial x$ has $x$'s shape
# $(N, in)$, from $G$ $(N, out)$ and $W$ $(in, out)$.
# </details>
#
# <details><summary>Hint: the batch</summary>
#
# Do not divide by $N$: the loss takes the batch mean, and its gradient $G$ already
# carries the $1/N$.
# </details>

# %% [markdown] tags=["solution"]
# **Solution.** $W_{ij}$ appears in $y_{nj}$ for every $n$, with derivative $x_{ni}$:
# $dW_{ij} = \sum_n G_{nj} x_{ni}$, so $dW = x^\top G$, shape $(in, out)$.
# $b_j$ appears in every $y_{nj}$ with derivative 1: $db = \sum_n G_{n\cdot}$, the column
# sums of $G$, shape $(out,)$. $x_{ni}$ appears in $y_{nj}$ for every $j$ of its own row,
# with derivative $W_{ij}$: $dx = G W^\top$, shape $(N, in)$.

# %% tags=["skeleton"] file="linear.py"
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
        ### BEGIN SOLUTION
        self.weight.grad += x.T @ grad_y         # dW = x^T G
        self.bias.grad += grad_y.sum(axis=0)     # db = column sums of G
        return grad_y @ self.weight.data.T       # dx = G W^T
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: add dL/dW into self.weight.grad and dL/db into self.bias.grad (+=, never =),
        # #       and return dL/dx. grad_y is dL/dy, shape (N, out). Do not modify grad_y.
        # raise NotImplementedError("exercise: write Linear.backward")
        ### END STUDENT

# %% [markdown]
# ## Check it
#
# The grader compares your gradients with central finite differences, tensor by tensor
# (the table: the worst coordinate, both values there), then runs generated cases for the
# other properties (dtype kept, `grad_y` not modified, `+=` accumulation, ...). Run it
# again with `exercise="linear-square"` (in = out): a missing transpose then shows as
# wrong values instead of a shape error.

# %% tags=["check"]
from nn.testing import check_exercise

check_exercise(Linear)
check_exercise(Linear, exercise="linear-square")

# %% [markdown]
# ## Use it
#
# A two-layer network made of your `Linear` learns the 8x8 digits (a few hundred images,
# full-batch gradient descent).

# %% tags=["use-it"]
import matplotlib.pyplot as plt

nn.manual_seed(0)
x_all, y_all = nn.datasets.load_digits(dtype=np.float64)
x_train, y_train = x_all[:500] / 16.0, y_all[:500]
model = nn.Sequential(Linear(64, 32), nn.ReLU(), Linear(32, 10))
loss_fn = nn.CrossEntropyLoss()
losses = []
for _ in range(60):
    model.zero_grad()
    losses.append(loss_fn(model(x_train), y_train))
    model.backward(loss_fn.backward())
    for p in model.parameters():
        p.data -= 0.5 * p.grad
accuracy = (model(x_train).argmax(axis=1) == y_train).mean()
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.title(f"your Linear: training accuracy {accuracy:.2f}")
plt.show()
print(f"loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
