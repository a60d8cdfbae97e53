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
# # Exercise 2: the backward passes of sigmoid and tanh
#
# Both act elementwise (symbols of `docs/math/activations.md`):
#
# $$y = \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad y = \tanh(x).$$
#
# `backward(grad_y)` returns $\partial L/\partial x$: `grad_y` times the derivative
# $dy/dx$, elementwise. The forward passes cache the *output* $y$: write each derivative
# with $y$ (no second `exp` or `tanh`), and do not modify `grad_y`.
#
# ## Derive it
#
# 1. Differentiate $\sigma(x) = (1 + e^{-x})^{-1}$ and rewrite the result using only
#    $\sigma(x)$ itself.
# 2. Differentiate $\tanh(x) = \sinh(x)/\cosh(x)$ and rewrite it using only $\tanh(x)$.
#
# <details><summary>Hint: sigmoid</summary>
#
# $\dfrac{e^{-x}}{(1 + e^{-x})^2} = \dfrac{1}{1 + e^{-x}} \cdot \dfrac{e^{-x}}{1 + e^{-x}}$,
# and the second factor is $1 - \sigma(x)$.
# </details>
#
# <details><summary>Hint: tanh</summary>
#
# Use the quotient rule and $\cosh^2 - \sinh^2 = 1$.
# </details>


# %% [markdown] tags=["solution"]
# **Solution.** $\sigma'(x) = \sigma(x)(1 - \sigma(x))$, so $dx = G \odot y \odot (1 - y)$;
# $\tanh'(x) = 1 - \tanh^2(x)$, so $dx = G \odot (1 - y^2)$.


# %% tags=["skeleton"] file="sigmoid_tanh.py"
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
        ### BEGIN SOLUTION
        return grad_y * y * (1.0 - y)  # dx = G * y * (1 - y)
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: return dL/dx (same shape as grad_y), written with y.
        # raise NotImplementedError("exercise: write Sigmoid.backward")
        ### END STUDENT


class Tanh(nn.Layer):
    """y = tanh(x), elementwise."""

    def forward(self, x):
        y = np.tanh(x)
        self._cache = y
        return y

    def backward(self, grad_y):
        y = self._saved()
        ### BEGIN SOLUTION
        return grad_y * (1.0 - y * y)  # dx = G * (1 - y^2)
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: return dL/dx (same shape as grad_y), written with y.
        # raise NotImplementedError("exercise: write Tanh.backward")
        ### END STUDENT


# %% [markdown]
# ## Check it
#
# The grader compares your gradients with central finite differences, tensor by tensor
# (the table: the worst coordinate, both values there), then runs generated cases for the
# other properties (dtype kept, `grad_y` not modified, `+=` accumulation, ...).


# %% tags=["check"]
from nn.testing import check_exercise

check_exercise(Sigmoid)
check_exercise(Tanh)


# %% [markdown]
# ## Use it
#
# A small network with your `Tanh` as its hidden activation separates the two moons.


# %% tags=["use-it"]
import matplotlib.pyplot as plt

nn.manual_seed(0)
x_train, y_train = nn.datasets.make_moons(200, noise=0.1, rng=0, dtype=np.float64)
model = nn.Sequential(nn.Linear(2, 16), Tanh(), nn.Linear(16, 2)).astype(np.float64)
loss_fn = nn.CrossEntropyLoss()
losses = []
for _ in range(150):
    model.zero_grad()
    losses.append(loss_fn(model(x_train), y_train))
    model.backward(loss_fn.backward())
    for p in model.parameters():
        p.data -= 0.5 * p.grad
accuracy = (model(x_train).argmax(axis=1) == y_train).mean()
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.title(f"your Tanh: training accuracy {accuracy:.2f}")
plt.show()
print(f"loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
