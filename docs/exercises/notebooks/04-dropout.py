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
# # Exercise 4: inverted dropout, forward and backward
#
# In train mode, each entry of $x$ is dropped with probability $p$ and the kept ones are
# scaled so that the expected output is $x$ (inverted dropout; symbols of
# `docs/math/activations.md`):
#
# $$y = x \odot s, \qquad s_{ij} = \begin{cases} ? & \text{with probability } 1 - p \\
# 0 & \text{with probability } p \end{cases}$$
#
# In eval mode the layer is the identity (given). Write `forward` in train mode and
# `backward`.
#
# ## Derive it
#
# 1. Which value of the kept entries of $s$ makes $\mathbb{E}[y] = x$?
# 2. With the mask held fixed, $y$ is linear in $x$: what is $\partial L / \partial x$?
#    Which $s$ must `backward` use?
#
# Draw the mask from `self.rng`: the grader replays that generator to repeat a forward
# pass exactly when it computes finite differences.
#
# <details><summary>Hint</summary>
#
# Keep an entry when a uniform draw is at least $p$: that has probability $1 - p$. The
# mask is drawn once, in `forward`, and cached; `backward` never draws again.
# </details>


# %% [markdown] tags=["solution"]
# **Solution.** $s = \text{keep} / (1 - p)$ with keep $\sim$ Bernoulli$(1 - p)$, so
# $\mathbb{E}[s] = 1$; $dx = G \odot s$ with the cached $s$.


# %% tags=["skeleton"] file="dropout.py"
"""Exercise 4: inverted dropout, forward and backward.

Fill in ``forward`` (train mode) and ``backward`` (see docs/exercises/04-dropout.md), then
grade them:

    python -m nn check docs/exercises/dropout.py:Dropout
"""

import nn

EXERCISE = "dropout"


class Dropout(nn.Layer):
    """Drop each entry with probability p in train mode; identity in eval mode."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p!r}")
        self.p = p
        self.rng = nn.get_rng(rng)  # draw every mask from this generator

    def forward(self, x):
        if not self.training:
            self._cache = ("eval", None)
            return x.copy()
        ### BEGIN SOLUTION
        keep = self.rng.random(x.shape) >= self.p        # kept with probability 1 - p
        scale = (keep / (1.0 - self.p)).astype(x.dtype)  # s: 0 or 1 / (1 - p)
        self._cache = ("train", scale)
        return x * scale                                 # y = x * s
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: draw a mask from self.rng (keep an entry with probability 1 - p), scale the
        # #       kept entries so that E[y] = x, cache ("train", what backward needs), return y.
        # raise NotImplementedError("exercise: write Dropout.forward")
        ### END STUDENT

    def backward(self, grad_y):
        mode, saved = self._saved()
        if mode == "eval":  # the identity
            return grad_y.copy()
        ### BEGIN SOLUTION
        return grad_y * saved                            # dx = G * s, the same s
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: return dL/dx.
        # raise NotImplementedError("exercise: write Dropout.backward")
        ### END STUDENT


# %% [markdown]
# ## Check it
#
# The grader compares your gradients with central finite differences, tensor by tensor
# (the table: the worst coordinate, both values there), then runs generated cases for the
# other properties (dtype kept, `grad_y` not modified, `+=` accumulation, ...).


# %% tags=["check"]
from nn.testing import check_exercise

check_exercise(Dropout)


# %% [markdown]
# ## Use it
#
# A network with your `Dropout` between its layers, trained on the 8x8 digits; the curve
# is noisier than without dropout (every step draws a new mask).


# %% tags=["use-it"]
import matplotlib.pyplot as plt
import numpy as np

nn.manual_seed(0)
x_all, y_all = nn.datasets.load_digits(dtype=np.float64)
x_train, y_train = x_all[:500] / 16.0, y_all[:500]
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), Dropout(0.3),
                      nn.Linear(64, 10)).astype(np.float64)
loss_fn = nn.CrossEntropyLoss()
losses = []
for _ in range(80):
    model.zero_grad()
    losses.append(loss_fn(model(x_train), y_train))
    model.backward(loss_fn.backward())
    for p in model.parameters():
        p.data -= 0.5 * p.grad
model.eval()
accuracy = (model(x_train).argmax(axis=1) == y_train).mean()
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.title(f"with your Dropout: training accuracy (eval mode) {accuracy:.2f}")
plt.show()
print(f"loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
