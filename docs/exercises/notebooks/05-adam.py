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
# # Exercise 5: the Adam update
#
# For each parameter $\theta$ with gradient $g$, step $t = 1, 2, \dots$ (symbols of
# `docs/math/optimizers.md`), Adam keeps two moving averages, of
# the gradient and of its square:
#
# $$m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \qquad
# v \leftarrow \beta_2 v + (1 - \beta_2)\, g^2.$$
#
# Both start at 0, so early on they are biased towards 0. Write `step`: update $m$ and $v$
# in place, correct their bias, and update $\theta$ in place with learning rate $\alpha$
# and $\epsilon$.
#
# ## Derive it
#
# 1. If $g$ were the same at every step, what would $m$ be after $t$ steps? By what factor
#    must it be divided to give $g$? The same for $v$.
# 2. The step divides the corrected first moment by the root of the corrected second
#    moment. Where does $\epsilon$ go: inside or outside the square root? (PyTorch's
#    documentation fixes the answer; the grader compares with `optim.Adam`.)
#
# <details><summary>Hint</summary>
#
# $m_t = (1 - \beta_1)\sum_{k=1}^{t} \beta_1^{t-k} g_k$; with a constant $g$ the sum is a
# geometric series. Some texts divide by both corrections at once in one fraction: that is
# a known error of the source documents (see `docs/errata.md`).
# </details>


# %% [markdown] tags=["solution"]
# **Solution.** $\hat m = m / (1 - \beta_1^t)$, $\hat v = v / (1 - \beta_2^t)$,
# $\theta \leftarrow \theta - \alpha\, \hat m / (\sqrt{\hat v} + \epsilon)$.


# %% tags=["skeleton"] file="adam.py"
"""Exercise 5: the Adam update.

Fill in ``step`` (see docs/exercises/05-adam.md), then grade it against optim.Adam:

    python -m nn check docs/exercises/adam.py:Adam
"""

import numpy as np

EXERCISE = "adam"


class Adam:
    """Adam (Kingma and Ba), as PyTorch documents it, without weight decay."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.t = 0                # steps taken
        self.state = {}           # per parameter: {"m": array, "v": array}, keyed by the
                                  # Parameter object itself (never by its shape or name)

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        self.t += 1
        for p in self.params:
            if p not in self.state:
                self.state[p] = {"m": np.zeros_like(p.data), "v": np.zeros_like(p.data)}
            m, v = self.state[p]["m"], self.state[p]["v"]
            g = p.grad
            ### BEGIN SOLUTION
            m *= self.beta1
            m += (1 - self.beta1) * g                        # m = b1 m + (1 - b1) g
            v *= self.beta2
            v += (1 - self.beta2) * g * g                    # v = b2 v + (1 - b2) g^2
            m_hat = m / (1 - self.beta1 ** self.t)           # bias corrections
            v_hat = v / (1 - self.beta2 ** self.t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
            ### END SOLUTION
            ### BEGIN STUDENT
            # # TODO: update m and v in place, then p.data in place.
            # raise NotImplementedError("exercise: write Adam.step")
            ### END STUDENT


# %% [markdown]
# ## Check it
#
# The grader runs your `step` and `optim.Adam` side by side on the same parameters and
# gradients, and names the first step and parameter where they differ.


# %% tags=["check"]
from nn.testing import check_exercise

check_exercise(Adam)


# %% [markdown]
# ## Use it
#
# The same network trained with your `Adam` and with plain gradient descent.


# %% tags=["use-it"]
import matplotlib.pyplot as plt

import nn
import optim

x_all, y_all = nn.datasets.load_digits(dtype=np.float64)
x_train, y_train = x_all[:500] / 16.0, y_all[:500]
curves = {}
for label, make in (("your Adam", lambda ps: Adam(ps, lr=0.01)),
                    ("SGD", lambda ps: optim.SGD(ps, lr=0.01))):
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(),
                          nn.Linear(32, 10)).astype(np.float64)
    opt = make(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    curves[label] = []
    for _ in range(60):
        opt.zero_grad()
        curves[label].append(loss_fn(model(x_train), y_train))
        model.backward(loss_fn.backward())
        opt.step()
for label, losses in curves.items():
    plt.plot(losses, label=label)
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.legend()
plt.show()
for label, losses in curves.items():
    print(f"{label}: loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
