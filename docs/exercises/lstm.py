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
        # TODO: walk the steps backwards, t = T-1 .. 0. Step t receives grad_y[:, t] plus
        #       the gradient of h_t coming back from step t+1, and the gradient of c_t
        #       coming back from step t+1 (both zero at t = T-1). Add the gradients of
        #       weight_ih, weight_hh and bias summed over the steps, and of h0 and c0 (what
        #       comes out of step 0), into their .grad (+=), and return dL/dx, shape
        #       (N, T, I). Do not modify grad_y.
        raise NotImplementedError("exercise: write LSTM.backward")
