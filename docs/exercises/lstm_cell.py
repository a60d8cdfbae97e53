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
        # TODO: add the gradients of weight_ih, weight_hh, bias, h_prev and c_prev into
        #       their .grad (+=, never =), and return dL/dx, shape (N, I). c reaches the
        #       loss twice: directly (dc_next) and through h = o * tanh(c). Do not modify
        #       grad_y.
        raise NotImplementedError("exercise: write LSTMCell.backward")
