"""Realistic wrong answers to the exercises in docs/exercises/; each must fail the grader.

Each class overrides only the part a student writes, on top of the library's correct
class, so the grader's verdict is about that part alone.
"""

import numpy as np

import nn

EXERCISE = {
    "LinearMissingTranspose": "linear-square", "LinearBiasMean": "linear",
    "LinearAssigns": "linear", "LinearWeightNotTransposed": "linear-square",
    "LinearMissingTransposeNotSquare": "linear", "LinearBiasSumsFeatures": "linear",
    "LinearForgetsReturn": "linear", "LinearReturnsList": "linear",
    "SigmoidNoUpstream": "sigmoid", "SigmoidUsesX": "sigmoid", "TanhNoSquare": "tanh",
    "TanhMutates": "tanh", "CrossEntropyNoMean": "softmax-cross-entropy",
    "CrossEntropyWrongSign": "softmax-cross-entropy",
    "CrossEntropyNoOneHot": "softmax-cross-entropy",
    "CrossEntropyOverflows": "softmax-cross-entropy",
    "DropoutNotRescaled": "dropout", "DropoutNewMaskInBackward": "dropout",
    "DropoutBackwardUnmasked": "dropout", "DropoutKeepsWithP": "dropout",
    "AdamEpsInsideSqrt": "adam", "AdamNoBiasCorrection": "adam", "AdamSharedState": "adam",
    "AdamSourceFormula": "adam",
}


# ----------------------------------------------------------------------------- Linear
class _Linear(nn.Linear):
    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features, dtype=np.float64)


class LinearMissingTranspose(_Linear):
    def backward(self, grad_y):
        x = self._saved()
        self.weight.grad += x.T @ grad_y
        self.bias.grad += grad_y.sum(axis=0)
        return grad_y @ self.weight.data  # should be W^T


class LinearMissingTransposeNotSquare(LinearMissingTranspose):
    """The same mistake graded with in_features != out_features: a matmul shape error."""


class LinearBiasSumsFeatures(_Linear):
    def backward(self, grad_y):
        x = self._saved()
        self.weight.grad += x.T @ grad_y
        self.bias.grad += grad_y.sum(axis=1)  # (N,) into (out,): a broadcast error
        return grad_y @ self.weight.data.T


class LinearForgetsReturn(_Linear):
    def backward(self, grad_y):
        x = self._saved()
        self.weight.grad += x.T @ grad_y
        self.bias.grad += grad_y.sum(axis=0)
        # dx computed, never returned
        dx = grad_y @ self.weight.data.T  # noqa: F841


class LinearReturnsList(_Linear):
    def backward(self, grad_y):
        x = self._saved()
        self.weight.grad += x.T @ grad_y
        self.bias.grad += grad_y.sum(axis=0)
        return (grad_y @ self.weight.data.T).tolist()


class LinearWeightNotTransposed(_Linear):
    def backward(self, grad_y):
        x = self._saved()
        self.weight.grad += grad_y.T @ x  # should be x^T G (the source's "X·δ")
        self.bias.grad += grad_y.sum(axis=0)
        return grad_y @ self.weight.data.T


class LinearBiasMean(_Linear):
    def backward(self, grad_y):
        x = self._saved()
        self.weight.grad += x.T @ grad_y
        self.bias.grad += grad_y.mean(axis=0)  # a second 1/N
        return grad_y @ self.weight.data.T


class LinearAssigns(_Linear):
    def backward(self, grad_y):
        x = self._saved()
        self.weight.grad[...] = x.T @ grad_y  # assigns: the gradient no longer accumulates
        self.bias.grad[...] = grad_y.sum(axis=0)
        return grad_y @ self.weight.data.T


# ----------------------------------------------------------------------------- activations
class SigmoidNoUpstream(nn.Sigmoid):
    def _backward(self, g, y):
        return y * (1 - y)


class SigmoidUsesX(nn.Layer):
    def forward(self, x):
        self._cache = x
        return 1.0 / (1.0 + np.exp(-x))

    def backward(self, grad_y):
        x = self._saved()
        return grad_y * x * (1 - x)


class TanhNoSquare(nn.Tanh):
    def _backward(self, g, y):
        return g * (1 - y)


class TanhMutates(nn.Tanh):
    def _backward(self, g, y):
        g *= 1 - y * y
        return g


# ----------------------------------------------------------------------------- cross-entropy
class _CE(nn.Loss):
    def forward(self, z, y):
        z_shift = z - z.max(axis=1, keepdims=True)
        log_p = z_shift - np.log(np.exp(z_shift).sum(axis=1, keepdims=True))
        self._cache = (np.exp(log_p), y)
        return float(-log_p[np.arange(z.shape[0]), y].mean())

    def onehot(self):
        p, y = self._cache
        t = np.zeros_like(p)
        t[np.arange(p.shape[0]), y] = 1.0
        return p, t


class CrossEntropyNoMean(_CE):
    def backward(self, grad=1.0):
        p, t = self.onehot()
        return (p - t) * grad


class CrossEntropyWrongSign(_CE):
    def backward(self, grad=1.0):
        p, t = self.onehot()
        return (t - p) / p.shape[0] * grad


class CrossEntropyNoOneHot(_CE):
    def backward(self, grad=1.0):
        p, _ = self.onehot()
        return p / p.shape[0] * grad


class CrossEntropyOverflows(_CE):
    def forward(self, z, y):  # no max subtraction: exp(1000) overflows
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        self._cache = (p, y)
        return float(-np.log(p[np.arange(z.shape[0]), y]).mean())

    def backward(self, grad=1.0):
        p, t = self.onehot()
        return (p - t) / p.shape[0] * grad


# ----------------------------------------------------------------------------- dropout
class _Dropout(nn.Dropout):
    def forward(self, x):
        if not self.training:
            self._cache = (None, x.shape, x.dtype)
            return x.copy()
        keep = self.rng.random(x.shape) >= self.p
        return self._train_forward(x, keep)


class DropoutNotRescaled(_Dropout):
    def _train_forward(self, x, keep):
        self._cache = (keep.astype(x.dtype), x.shape, x.dtype)
        return x * keep


class DropoutKeepsWithP(_Dropout):
    def forward(self, x):
        if not self.training:
            self._cache = (None, x.shape, x.dtype)
            return x.copy()
        keep = self.rng.random(x.shape) < self.p  # keeps with probability p
        scale = (keep / (1 - self.p)).astype(x.dtype)
        self._cache = (scale, x.shape, x.dtype)
        return x * scale


class DropoutNewMaskInBackward(_Dropout):
    def _train_forward(self, x, keep):
        self._cache = (True, x.shape, x.dtype)
        return x * (keep / (1 - self.p)).astype(x.dtype)

    def backward(self, grad_y):
        flag, _, _ = self._saved()
        if flag is None:
            return grad_y.copy()
        keep = self.rng.random(grad_y.shape) >= self.p  # a fresh mask: wrong
        return grad_y * (keep / (1 - self.p)).astype(grad_y.dtype)


class DropoutBackwardUnmasked(_Dropout):
    def _train_forward(self, x, keep):
        self._cache = (True, x.shape, x.dtype)
        return x * (keep / (1 - self.p)).astype(x.dtype)

    def backward(self, grad_y):
        flag, _, _ = self._saved()
        return grad_y.copy() if flag is None else grad_y * grad_y.dtype.type(1 / (1 - self.p))


# ----------------------------------------------------------------------------- Adam
class _Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.t = 0
        self.state = {}

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def key(self, p):
        return p

    def step(self):
        self.t += 1
        for p in self.params:
            st = self.state.setdefault(self.key(p), {"m": np.zeros_like(p.data),
                                                     "v": np.zeros_like(p.data)})
            g = p.grad
            st["m"] = self.b1 * st["m"] + (1 - self.b1) * g
            st["v"] = self.b2 * st["v"] + (1 - self.b2) * g * g
            p.data -= self.update(st["m"], st["v"])

    def update(self, m, v):
        m_hat, v_hat = m / (1 - self.b1 ** self.t), v / (1 - self.b2 ** self.t)
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamEpsInsideSqrt(_Adam):
    def update(self, m, v):
        m_hat, v_hat = m / (1 - self.b1 ** self.t), v / (1 - self.b2 ** self.t)
        return self.lr * m_hat / np.sqrt(v_hat + self.eps)


class AdamNoBiasCorrection(_Adam):
    def update(self, m, v):
        return self.lr * m / (np.sqrt(v) + self.eps)


class AdamSharedState(_Adam):
    def key(self, p):
        return p.shape  # two parameters of the same shape share their moments


class AdamSourceFormula(_Adam):
    def update(self, m, v):
        return self.lr * m / ((1 - self.b1 ** self.t) * (1 - self.b2 ** self.t))

