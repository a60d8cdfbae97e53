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
# # Exercise 10: backpropagation through time for a whole LSTM sequence
#
# For $t = 0, \dots, T-1$, from the initial state $(h_{-1}, c_{-1}) = (h_0, c_0)$ (the
# layer's Parameters; symbols of `docs/math/recurrent.md`), one
# step of exercise 9 with the same weights, and $y_{:,t} = h_t$.
#
# The forward pass is given and caches every step's values. `backward(grad_y)` receives
# $\partial L/\partial y$ $(N, T, H)$, adds the gradients of the weights, the bias and the
# initial state into their `.grad`s and returns $\partial L/\partial x$ $(N, T, I)$.
#
# ## Derive it
#
# 1. $h_t$ reaches the loss twice: through $y_{:,t}$ and through step $t+1$. $c_t$ reaches
#    it through $h_t$ and through step $t+1$. What does step $t$ receive, and what must it
#    send back to step $t - 1$?
# 2. The weights are shared by every step: how do their gradients combine?
# 3. What comes out of step 0, and whose gradient is it?
#
# Walk the steps backwards, $t = T-1, \dots, 0$, with both gradients coming back from the
# future at zero for $t = T-1$.
#
# <details><summary>Hint: the gates</summary>
#
# $\sigma' = \sigma(1 - \sigma)$ and $\tanh' = 1 - \tanh^2$, written with the cached gate
# values. Stack the four pre-activation gradients in the order $[i \mid f \mid g \mid o]$ into
# $dz$ $(N, 4H)$: then $z = x W_{ih} + h_{prev} W_{hh} + b$ is a linear layer, as in
# exercise 1.
# </details>


# %% [markdown] tags=["solution"]
# **Solution.** Step $t$: $dh = G_{:,t} + dh_{next}$, $dc = dc_{next} + dh \odot o \odot
# (1 - \tanh^2 c_t)$, $dz$ as in exercise 9; add $x_t^\top dz$, $h_{t-1}^\top dz$,
# $\sum_n dz$ into the weights' gradients; $dx_t = dz\, W_{ih}^\top$; send back
# $dh_{next} = dz\, W_{hh}^\top$ and $dc_{next} = dc \odot f$. After step 0 these are
# $dh_0$ and $dc_0$.


# %% tags=["skeleton"] file="lstm.py"
"""Exercise 10: backpropagation through time for a whole LSTM sequence.

Fill in ``backward`` (see docs/exercises/10-lstm-sequence.md), then grade it:

    python -m nn check docs/exercises/lstm.py:LSTM
"""

import numpy as np
from scipy.special import expit as sigmoid  # sigmoid(z) = 1 / (1 + exp(-z)), no overflow

import nn

EXERCISE = "lstm"


class LSTM(nn.Layer):
    """An LSTM over a whole sequence, gate order i, f, g, o (PyTorch's and nn.LSTM's).

    For t = 0 .. T-1, from the initial state (h, c) = (h0, c0):

        z_t = x_t @ W_ih + h_{t-1} @ W_hh + b                (N, 4H), blocks [i | f | g | o]
        i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);   g = tanh(z_g)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)
        y[:, t] = h_t

    x (N, T, I) is the input, x_t = x[:, t]; y (N, T, H) the output, every step's h_t. The
    initial state h0 and c0 (N, H) is held by the layer as two Parameters, so that the
    grader checks its gradient like any other (in nn.LSTM it is the ``state`` argument of
    forward, and its gradient is ``state_grad``). W_ih = self.weight_ih (I, 4H),
    W_hh = self.weight_hh (H, 4H), b = self.bias (4H,): the same at every step.
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
        self.h0 = nn.Parameter(np.tanh(gen.standard_normal((batch_size, H))))
        self.c0 = nn.Parameter(gen.standard_normal((batch_size, H)))

    def forward(self, x):
        N, T, _ = x.shape
        H = self.hidden_size
        y = np.empty((N, T, H), dtype=x.dtype)
        h, c = self.h0.data, self.c0.data
        steps = []  # per step: the state going in, the gates, tanh(c_t)
        for t in range(T):
            z = x[:, t] @ self.weight_ih.data + h @ self.weight_hh.data + self.bias.data
            i = sigmoid(z[:, :H])             # input gate
            f = sigmoid(z[:, H:2 * H])        # forget gate
            g = np.tanh(z[:, 2 * H:3 * H])    # candidate cell values
            o = sigmoid(z[:, 3 * H:])         # output gate
            c_new = f * c + i * g
            tc = np.tanh(c_new)
            steps.append((h, c, i, f, g, o, tc))  # h, c here are h_{t-1}, c_{t-1}
            h, c = o * tc, c_new
            y[:, t] = h
        self._cache = (x, steps)  # backward needs x and every step's values
        return y

    def backward(self, grad_y):
        x, steps = self._saved()  # what the last forward cached
        N, T, _ = x.shape
        H = self.hidden_size
        ### BEGIN SOLUTION
        dx = np.zeros_like(x)
        dh_next = np.zeros_like(steps[0][0])         # dL/dh_t from step t+1 (none after T-1)
        dc_next = np.zeros_like(steps[0][1])         # dL/dc_t from step t+1
        for t in range(T - 1, -1, -1):
            h_prev, c_prev, i, f, g, o, tc = steps[t]
            dh = grad_y[:, t] + dh_next              # h_t: the output and the next step
            dc = dc_next + dh * o * (1 - tc ** 2)    # c_t: the next step and h_t
            dz = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                 dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)
            self.weight_ih.grad += x[:, t].T @ dz    # shared weights: summed over the steps
            self.weight_hh.grad += h_prev.T @ dz
            self.bias.grad += dz.sum(axis=0)
            dx[:, t] = dz @ self.weight_ih.data.T
            dh_next, dc_next = dz @ self.weight_hh.data.T, dc * f
        self.h0.grad += dh_next                      # what comes out of step 0
        self.c0.grad += dc_next
        return dx
        ### END SOLUTION
        ### BEGIN STUDENT
        # # TODO: walk the steps backwards, t = T-1 .. 0. Step t receives grad_y[:, t] plus
        # #       the gradient of h_t coming back from step t+1, and the gradient of c_t
        # #       coming back from step t+1 (both zero at t = T-1). Add the gradients of
        # #       weight_ih, weight_hh and bias summed over the steps, and of h0 and c0 (what
        # #       comes out of step 0), into their .grad (+=), and return dL/dx, shape
        # #       (N, T, I). Do not modify grad_y.
        # raise NotImplementedError("exercise: write LSTM.backward")
        ### END STUDENT


# %% [markdown]
# ## Check it
#
# The grader compares your gradients with central finite differences, tensor by tensor
# (the table: the worst coordinate, both values there), then runs generated cases for the
# other properties (dtype kept, `grad_y` not modified, `+=` accumulation, ...).


# %% tags=["check"]
from nn.testing import check_exercise

check_exercise(LSTM)


# %% [markdown]
# ## Use it
#
# Your LSTM and a linear read-out learn whether a sequence of 8 numbers sums to more than
# zero (full-batch gradient descent, 64 sequences).


# %% tags=["use-it"]
import matplotlib.pyplot as plt

nn.manual_seed(0)
rng = np.random.default_rng(0)
x_train = rng.standard_normal((64, 8, 1))
y_train = (x_train.sum(axis=(1, 2)) > 0).astype(np.int64)
lstm = LSTM(input_size=1, hidden_size=8, batch_size=64)
head = nn.Linear(8, 2).astype(np.float64)
loss_fn = nn.CrossEntropyLoss()
losses = []
for _ in range(80):
    lstm.zero_grad()
    head.zero_grad()
    h = lstm.forward(x_train)                        # (N, T, H)
    losses.append(loss_fn(head(h[:, -1]), y_train))  # read out the last step
    dh_last = head.backward(loss_fn.backward())
    grad_h = np.zeros_like(h)
    grad_h[:, -1] = dh_last
    lstm.backward(grad_h)
    for p in [*lstm.parameters(), *head.parameters()]:
        p.data -= 0.5 * p.grad
accuracy = (head(lstm.forward(x_train)[:, -1]).argmax(axis=1) == y_train).mean()
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.title(f"your LSTM: training accuracy {accuracy:.2f}")
plt.show()
print(f"loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")
