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
# # Exercise 9: the backward pass of one LSTM step
#
# Gate order $i, f, g, o$ (symbols of `docs/math/recurrent.md`):
#
# $$z = x W_{ih} + h_{prev} W_{hh} + b, \quad i, f, o = \sigma(z_i), \sigma(z_f),
# \sigma(z_o), \quad g = \tanh(z_g),$$
# $$c = f \odot c_{prev} + i \odot g, \qquad h = o \odot \tanh(c), \qquad y = [h \mid c].$$
#
# The forward pass is given. The state going in, $h_{prev}$ and $c_{prev}$, is held as two
# Parameters so that the grader checks their gradients too. `backward(grad_y)` receives
# $[dh \mid dc_{next}]$, adds the gradients of $W_{ih}, W_{hh}, b, h_{prev}, c_{prev}$ into
# their `.grad`s and returns $\partial L/\partial x$.
#
# ## Derive it
#
# 1. $c$ reaches the loss twice: directly ($dc_{next}$) and through $h = o \tanh(c)$. What
#    is the total $dc$?
# 2. From $dc$ and $dh$: the gradients of $o$, $i$, $g$, $f$, then of their
#    pre-activations $z_o, z_i, z_g, z_f$.
# 3. $z$ is a linear function of $x$, $h_{prev}$ and the weights: finish as in exercise 1.
# 4. What does $c_{prev}$ receive?
#
# <details><summary>Hint: the gates</summary>
#
# $\sigma' = \sigma(1 - \sigma)$ and $\tanh' = 1 - \tanh^2$, written with the cached gate
# values. Stack the four pre-activation gradients in the order $[i \mid f \mid g \mid o]$ into
# $dz$ $(N, 4H)$: then $z = x W_{ih} + h_{prev} W_{hh} + b$ is a linear layer, as in
# exercise 1.
# </details>


# %% [markdown] tags=["solution"]
# **Solution.** $dc = dc_{next} + dh \odot o \odot (1 - \tanh^2 c)$;
# $dz = [dc\, g\, i(1-i) \mid dc\, c_{prev} f(1-f) \mid dc\, i (1 - g^2) \mid
# dh \tanh(c)\, o (1-o)]$; $dW_{ih} = x^\top dz$, $dW_{hh} = h_{prev}^\top dz$,
# $db = \sum_n dz$, $dh_{prev} = dz\, W_{hh}^\top$, $dc_{prev} = dc \odot f$,
# $dx = dz\, W_{ih}^\top$.


# %% tags=["skeleton"] file="lstm_cell.py"
"""Exercise 9: the backward pass of one LSTM step.

Fill in ``backward`` (see docs/exercises/09-lstm-cell.md), then grade it:

    python -m nn check docs/exercises/lstm_cell.py:LSTMCell
"""

import numpy as np
from scipy.special import expit as sigmoid  # sigmoid(z) = 1 / (1 + exp(-z)), no overflow

import nn

EXERCISE = "lstm-cell"


class LSTMCell(nn.Layer):
    """One LSTM step, gate order i, f, g, o (PyTorch's and nn.LSTM's).

        z = x @ W_ih + h_prev @ W_hh + b                     (N, 4H), blocks [i | f | g | o]
        i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);   g = tanh(z_g)
        c = f * c_prev + i * g
        h = o * tanh(c)
        y = [h | c]                                          (N, 2H)

    x (N, I) is the input. The state going in, h_prev and c_prev (N, H), is held by the
    layer as two Parameters, so that the grader checks their gradients like any other (in
    nn.LSTM it is the ``state`` argument of forward, and its gradient is ``state_grad``).
    The output is the state going out, h and c side by side: both feed the next step, so
    grad_y = [dL/dh | dL/dc]. W_ih = self.weight_ih (I, 4H), W_hh = self.weight_hh (H, 4H),
    b = self.bias (4H,).
    """

    def __init__(self, input_size: int, hidden_size: int, batch_size: int, rng=None):
        super().__init__()
        gen = nn.get_rng(rng)
        H = hidden_size
        bound = 1.0 / np.sqrt(H)  # PyTorch's default range
        self.hidden_size = H
        self.weight_ih = nn.Parameter(gen.uniform(-bound, bound, (input_size, 4 * H)))
        self.weight_hh = nn.Parameter(gen.uniform(-bound, bound, (H, 4 * H)))
        self.bias = nn.Parameter(gen.uniform(-bound, bound, 4 * H))
        self.h_prev = nn.Parameter(np.tanh(gen.standard_normal((batch_size, H))))
        self.c_prev = nn.Parameter(gen.standard_normal((batch_size, H)))

    def forward(self, x):
        H = self.hidden_size
        h_prev, c_prev = self.h_prev.data, self.c_prev.data
        z = x @ self.weight_ih.data + h_prev @ self.weight_hh.data + self.bias.data
        i = sigmoid(z[:, :H])             # input gate
        f = sigmoid(z[:, H:2 * H])        # forget gate
        g = np.tanh(z[:, 2 * H:3 * H])    # candidate cell values
        o = sigmoid(z[:, 3 * H:])         # output gate
        c = f * c_prev + i * g
        tc = np.tanh(c)
        h = o * tc
        self._cache = (x, h_prev, c_prev, i, f, g, o, tc)  # what backward needs
        return np.concatenate([h, c], axis=1)

    def backward(self, grad_y):
        x, h_prev, c_prev, i, f, g, o, tc = self._saved()  # what the last forward cached
        H = self.hidden_size
        dh, dc_next = grad_y[:, :H], grad_y[:, H:]  # dL/dh and dL/dc from the next step
        ### BEGIN SOLUTION
        dc = dc_next + dh * o * (1 - tc ** 2)        # c reaches L directly and through h
        dz = np.concatenate([dc * g * i * (1 - i),   # dz_i
                             dc * c_prev * f * (1 - f),  # dz_f
                             dc * i * (1 - g ** 2),  # dz_g
                             dh * tc * o * (1 - o)], axis=1)  # dz_o
        self.weight_ih.grad += x.T @ dz
        self.weight_hh.grad += h_prev.T @ dz
        self.bias.grad += dz.sum(axis=0)
        self.h_prev.grad += dz @ self.weight_hh.data.T
        self.c_prev.grad += dc * f
        return dz @ self.weight_ih.data.T
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: add the gradients of weight_ih, weight_hh, bias, h_prev and c_prev into
        # #       their .grad (+=, never =), and return dL/dx, shape (N, I). c reaches the
        # #       loss twice: directly (dc_next) and through h = o * tanh(c). Do not modify
        # #       grad_y.
        # raise NotImplementedError("exercise: write LSTMCell.backward")
        ### END STUDENT


# %% [markdown]
# ## Check it
#
# The grader compares your gradients with central finite differences, tensor by tensor
# (the table: the worst coordinate, both values there), then runs generated cases for the
# other properties (dtype kept, `grad_y` not modified, `+=` accumulation, ...).


# %% tags=["check"]
from nn.testing import check_exercise

check_exercise(LSTMCell)


# %% [markdown]
# ## Use it
#
# Gradient descent on your cell's weights (and its state going in) until its output
# $[h \mid c]$ reaches a target: the loss must fall.


# %% tags=["use-it"]
import matplotlib.pyplot as plt

nn.manual_seed(0)
rng = np.random.default_rng(0)
cell = LSTMCell(input_size=4, hidden_size=3, batch_size=8)
x = rng.standard_normal((8, 4))
target = np.concatenate([0.5 * np.tanh(rng.standard_normal((8, 3))),
                         rng.standard_normal((8, 3))], axis=1)
losses = []
for _ in range(200):
    cell.zero_grad()
    y = cell.forward(x)
    losses.append(float(((y - target) ** 2).mean()))
    cell.backward(2 * (y - target) / y.size)
    for p in cell.parameters():
        p.data -= 0.5 * p.grad
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("mean squared error")
plt.title("your LSTMCell fitting a target state")
plt.show()
print(f"loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
