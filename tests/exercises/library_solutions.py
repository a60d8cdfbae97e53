"""The library's own classes, graded as answers to the exercises: all must pass."""

import numpy as np

import nn
import optim

EXERCISE = {"Linear": "linear", "Sigmoid": "sigmoid", "Tanh": "tanh",
            "CrossEntropyLoss": "softmax-cross-entropy", "Dropout": "dropout", "Adam": "adam",
            "Conv2d": "conv2d", "MaxPool2d": "maxpool2d", "BatchNorm1d": "batchnorm",
            "LSTMCell": "lstm-cell", "LSTM": "lstm"}

Linear, Sigmoid, Tanh, Dropout = nn.Linear, nn.Sigmoid, nn.Tanh, nn.Dropout
CrossEntropyLoss = nn.CrossEntropyLoss
Adam = optim.Adam
Conv2d, MaxPool2d, BatchNorm1d = nn.Conv2d, nn.MaxPool2d, nn.BatchNorm1d


class _StateAsParameters(nn.Layer):
    """nn.LSTM seen through the exercises' contract: the initial state (h, c) is two
    Parameters of the layer, its gradient (nn.LSTM's ``state_grad``) is added into theirs.

    The LSTM's weights are this layer's Parameters (the same objects), so the grader
    perturbs and reads them under the exercise's names.
    """

    _state_names = ("h0", "c0")

    def __init__(self, input_size, hidden_size, batch_size):
        super().__init__()
        lstm = nn.LSTM(input_size, hidden_size)
        object.__setattr__(self, "_lstm", lstm)  # not a registered sub-layer
        self.weight_ih, self.weight_hh, self.bias = lstm.weight_ih, lstm.weight_hh, lstm.bias
        gen = nn.get_rng()
        dt = lstm.weight_ih.dtype
        h, c = self._state_names
        setattr(self, h, nn.Parameter(np.tanh(gen.standard_normal((batch_size, hidden_size)))
                                      .astype(dt)))
        setattr(self, c, nn.Parameter(gen.standard_normal((batch_size, hidden_size)).astype(dt)))

    def _run(self, x):
        h, c = (getattr(self, name).data for name in self._state_names)
        return self._lstm.forward(x, state=(h, c))

    def _add_state_grad(self):
        dh0, dc0 = self._lstm.state_grad
        for name, g in zip(self._state_names, (dh0, dc0)):
            getattr(self, name).grad += g


class LSTMCell(_StateAsParameters):
    """One step of nn.LSTM: x (N, I) -> [h | c] (N, 2H) from (h_prev, c_prev)."""

    _state_names = ("h_prev", "c_prev")

    def forward(self, x):
        y = self._run(x[:, None, :])
        return np.concatenate([y[:, 0], self._lstm.state[1]], axis=1)

    def backward(self, grad_y):
        H = self._lstm.hidden_size
        zeros = np.zeros_like(grad_y[:, :H])
        dx = self._lstm.backward(grad_y[:, None, :H], grad_state=(zeros, grad_y[:, H:]))
        self._add_state_grad()
        return dx[:, 0]


class LSTM(_StateAsParameters):
    """nn.LSTM over a whole sequence from the initial state (h0, c0)."""

    def forward(self, x):
        return self._run(x)

    def backward(self, grad_y):
        dx = self._lstm.backward(grad_y)
        self._add_state_grad()
        return dx
