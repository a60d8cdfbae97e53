"""Recurrent layers: RNN, LSTM, GRU, with backpropagation through time (BPTT).

Shapes (batch first, as everywhere in ``nn``): input x ``(N, T, input_size)``; output
``(N, T, hidden_size)``, or ``(N, hidden_size)`` (the last step) with
``return_sequences=False``. Weights are stored ``(in, gates*hidden)`` so a step is
``x_t @ W_ih + h_{t-1} @ W_hh + b`` (the transpose of PyTorch's storage, same numbers).

Every forward and backward is written as the equations of docs/math/recurrent.md, in the
same symbols. The work is laid out the same way in the three layers:

* ``x_t W_ih + b`` does not depend on the recursion, so it is computed for every step at
  once, one GEMM over the ``(T*N, input_size)`` matrix X of the whole sequence;
* inside the loop: one GEMM per step for all gates together (``h @ W_hh``, W_hh of shape
  (hidden, gates*hidden)), then the cell equations;
* backward walks the steps in reverse with only the recursion in the loop; the parameters
  are shared by all steps, so their gradients are sums over steps, one GEMM each after the
  loop: ``dW_ih = X^T dZ``, ``dW_hh = H_prev^T dZ``, ``db = sum(dZ)``, ``dx = dZ W_ih^T``.

Three fast kernels, each right under its plain reference (tests/test_recurrent_kernels.py
proves them equal, float64): :func:`sigmoid` (``1/2 + tanh(z/2)/2``, overflow-free, about
three times faster than ``scipy.special.expit`` on these blocks), :func:`lstm_gates` and
:func:`lstm_gates_grad` (the four gates and their derivatives in one block; measured on a
quiet machine, one BLAS thread: the plain per-gate forms make a whole LSTM step 7% slower).
One piece of bookkeeping, ``_buffer`` (sequence arrays reused between calls), saves 7% of
a step (page faults of fresh arrays). A contiguous copy of W^T for the per-step GEMM was
measured at 0-3% and removed: BLAS reads the transposed view.

The gradient with respect to the initial state is available after ``backward`` as
``layer.state_grad`` (``(dh_0, dc_0)`` for LSTM, ``dh_0`` for RNN and GRU). ``backward``
also takes an optional ``grad_state``: the gradient with respect to the final state
``layer.state`` (for an encoder whose final state feeds something else).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from .._config import get_rng, resolve_dtype
from ..layer import Layer, check_grad, check_input
from ..parameter import Parameter

# ---------------------------------------------------------------------------- kernels
# Each fast form sits right under its plain reference; tests/test_recurrent_kernels.py proves
# them equal (float64, hypothesis). docs/math/recurrent.md shows the plain forms.

def split(z: np.ndarray, n: int) -> list[np.ndarray]:
    """The n column blocks of z (N, n*H), as views: ``z_i, z_f, z_g, z_o = split(z, 4)``."""
    H = z.shape[1] // n
    return [z[:, k * H:(k + 1) * H] for k in range(n)]


def sigmoid_reference(z: np.ndarray) -> np.ndarray:
    """sigma(z) = 1 / (1 + exp(-z)), the plain form (``F.sigmoid``: scipy's expit)."""
    return F.sigmoid(z)


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Fast sigma(z) through the identity ``sigma(z) = 1/2 + tanh(z/2)/2``; dtype kept.

    Equal to :func:`sigmoid_reference` within 4.5e-16 absolutely in float64, overflow-free
    for any z, and about three times faster than ``scipy.special.expit`` on the gate blocks
    of a step (NumPy's tanh is vectorised). Writes into ``out`` when given.
    """
    s = np.multiply(z, 0.5, out=out)
    np.tanh(s, out=s)
    s *= 0.5
    s += 0.5
    return s


def lstm_gates_reference(z: np.ndarray) -> list[np.ndarray]:
    """i, f, g, o = sigma(z_i), sigma(z_f), tanh(z_g), sigma(z_o), the plain form."""
    z_i, z_f, z_g, z_o = split(z, 4)
    return [sigmoid_reference(z_i), sigmoid_reference(z_f), np.tanh(z_g), sigmoid_reference(z_o)]


def lstm_gates(z: np.ndarray, out: np.ndarray) -> list[np.ndarray]:
    """Fast :func:`lstm_gates_reference`, written into ``out`` (N, 4H); returns its blocks.

    One :func:`sigmoid` over the whole block, then ``tanh`` over the g block: 5 NumPy calls
    instead of 13 on (N, H) blocks (measured: 7% of a whole LSTM training step).
    """
    S = sigmoid(z, out=out)
    i, f, g, o = split(S, 4)
    np.tanh(split(z, 4)[2], out=g)
    return [i, f, g, o]


def lstm_gates_grad_reference(di, df, dg, do, S: np.ndarray) -> np.ndarray:
    """dz = [di * i(1-i) | df * f(1-f) | dg * (1-g^2) | do * o(1-o)], the plain form:
    the gradients of the gates S = [i | f | g | o] times their derivatives."""
    i, f, g, o = split(S, 4)
    return np.hstack([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)])


def lstm_gates_grad(di, df, dg, do, S: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Fast :func:`lstm_gates_grad_reference`, written into ``out`` (N, 4H).

    The derivative as one block, ``S (1 - S)``, with the g block replaced by ``1 - g^2``:
    7 NumPy calls instead of 14 (measured: 7% of a whole LSTM training step).
    """
    dz = np.concatenate([di, df, dg, do], axis=1, out=out)
    slope = S * (1 - S)
    g = split(S, 4)[2]
    split(slope, 4)[2][...] = 1 - g * g
    dz *= slope
    return dz


def _flat(A: np.ndarray) -> np.ndarray:
    """Steps stacked (T, N, K) -> (T*N, K): every step's rows, one matrix."""
    return A.reshape(-1, A.shape[-1])


class _Recurrent(Layer):
    """Shared plumbing: parameters, the checks of inputs, states and gradients, buffers."""

    _gates = 1  # column blocks of W_ih / W_hh
    _biases: tuple[str, ...] = ("bias",)
    bias: Parameter             # set by name from _biases (GRU: bias_ih, bias_hh)

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool, rng,
                 dtype):
        super().__init__()
        name = type(self).__name__
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.return_sequences = bool(return_sequences)
        dt = resolve_dtype(dtype)
        gen = get_rng(rng)
        G = self._gates * self.hidden_size
        k = 1.0 / math.sqrt(self.hidden_size)  # PyTorch: U(-1/sqrt(hidden), 1/sqrt(hidden))
        self.weight_ih = Parameter(gen.uniform(-k, k, (self.input_size, G)).astype(dt))
        self.weight_hh = Parameter(gen.uniform(-k, k, (self.hidden_size, G)).astype(dt))
        for b in self._biases:
            setattr(self, b, Parameter(gen.uniform(-k, k, G).astype(dt)))
        self.state: Any = None        # final state after forward
        self.state_grad: Any = None   # gradient w.r.t. the initial state after backward
        self._buffers: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ checks
    def _sequence(self, x) -> np.ndarray:
        """Check x (N, T, input_size); return X, the time-major (T*N, input_size) copy whose
        row block t-1 is x_t (so that x_t W_ih for every t is one GEMM)."""
        x = check_input(self, x, ndim=3, last_dim=self.input_size,
                        dtype=self.weight_ih.dtype, expected=f"(N, T, {self.input_size})")
        N, T, I = x.shape
        if N == 0 or T == 0:
            raise ValueError(f"{self.label()}: expected input of shape (N, T, {self.input_size}) "
                             f"with N >= 1 and T >= 1, got {x.shape}")
        return x.transpose(1, 0, 2).reshape(T * N, I)

    def _initial(self, h, N: int, what: str) -> np.ndarray | int:
        """The initial state ``what`` (N, hidden) checked, or 0 when it is None."""
        want = (N, self.hidden_size)
        if h is None:
            return 0
        if not isinstance(h, np.ndarray):
            raise TypeError(f"{self.label()}: initial state {what} must be a numpy.ndarray of "
                            f"shape {want}, got {type(h).__name__}")
        if h.shape != want:
            raise ValueError(f"{self.label()}: initial state {what} must have shape "
                             f"(N, hidden_size) = {want}, got {h.shape}")
        if h.dtype != self.weight_hh.dtype:
            raise TypeError(f"{self.label()}: initial state {what} has dtype {h.dtype}, the "
                            f"parameters {self.weight_hh.dtype}")
        return h

    def _final(self, g, N: int, what: str) -> np.ndarray:
        """A fresh (N, hidden) copy of the gradient ``what`` w.r.t. a final state (zeros if
        None), in the parameters' dtype."""
        want = (N, self.hidden_size)
        if g is None:
            return np.zeros(want, dtype=self.weight_hh.dtype)
        if not isinstance(g, np.ndarray) or g.shape != want or g.dtype.kind not in "fiu":
            raise ValueError(f"{self.label()}: backward expected {what} of shape "
                             f"(N, hidden_size) = {want} (the final state's), got "
                             f"{getattr(g, 'shape', type(g).__name__)}")
        return g.astype(self.weight_hh.dtype, copy=True)

    def _upstream(self, grad_y, N: int, T: int) -> np.ndarray:
        """Check grad_y; return G (T, N, hidden), G[t-1] the gradient reaching h_t from
        above (with ``return_sequences=False``: grad_y at the last step, zero before)."""
        H, dt = self.hidden_size, self.weight_hh.dtype
        if not self.return_sequences:
            grad_y = check_grad(self, grad_y, (N, H), dt)
            G = np.zeros((T, N, H), dtype=dt)
            G[-1] = grad_y
            return G
        return check_grad(self, grad_y, (N, T, H), dt).transpose(1, 0, 2)

    # ------------------------------------------------------------------ buffers, layouts
    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A layer-owned array for a whole sequence, reused by the next call of the same
        shape. Fresh arrays of this size cost page faults on every call (measured: 15% of a
        whole LSTM training step, docs/math/recurrent.md); ``forward`` caches views of these
        buffers for ``backward``, and what the layer returns is always a fresh array."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != self.weight_hh.dtype:
            buf = self._buffers[name] = np.empty(shape, dtype=self.weight_hh.dtype)
        return buf

    def _projection(self, X: np.ndarray, b: np.ndarray, N: int, T: int) -> np.ndarray:
        """x_t W_ih + b for every t: one GEMM over X (T*N, I), into a (T, N, G*H) buffer."""
        XW = self._buffer("XW", (T, N, self._gates * self.hidden_size))
        np.matmul(X, self.weight_ih.data, out=_flat(XW))
        XW += b
        return XW

    def _output(self, Hs: np.ndarray) -> np.ndarray:
        """Hs = [h_0, .., h_T] -> y (N, T, H), or h_T (N, H) with return_sequences=False."""
        if self.return_sequences:
            return Hs[1:].transpose(1, 0, 2).copy()
        return Hs[-1].copy()

    def _input_grad(self, dZ: np.ndarray, N: int, T: int) -> np.ndarray | None:
        """dx = dZ W_ih^T (all steps in one GEMM), returned batch first (N, T, I)."""
        if not self.input_grad:
            return None
        dx = dZ @ self.weight_ih.data.T
        return dx.reshape(T, N, self.input_size).transpose(1, 0, 2).copy()

    def _add_grads(self, **grads: np.ndarray) -> None:
        """Add each gradient into its parameter's ``grad`` (skipping frozen parameters)."""
        for name, g in grads.items():
            p = getattr(self, name)
            if p.requires_grad:
                p.add_grad(g)

    def extra_repr(self) -> str:
        extra = f"input_size={self.input_size}, hidden_size={self.hidden_size}"
        if not self.return_sequences:
            extra += ", return_sequences=False"
        return extra


# ---------------------------------------------------------------------------- RNN
class RNN(_Recurrent):
    """Elman RNN: ``h_t = phi(x_t W_ih + h_{t-1} W_hh + b)``, phi = tanh or relu.

    Shapes: x ``(N, T, input_size)`` -> y ``(N, T, hidden)`` (or ``(N, hidden)``, the last
    step, with ``return_sequences=False``); ``weight_ih`` ``(input_size, hidden)``,
    ``weight_hh`` ``(hidden, hidden)``, ``bias`` ``(hidden,)`` (PyTorch's ``b_ih + b_hh``).
    ``forward(x, state=None)`` with state h_0 ``(N, hidden)`` (zeros if None); afterwards
    ``self.state`` is h_T. ``forward`` caches X (time-major) and Hs = [h_0, .., h_T].

    Forward, t = 1 .. T::

        z_t = x_t W_ih + h_{t-1} W_hh + b
        h_t = phi(z_t)

    Backward, t = T .. 1 (dh starts as the grad_state, or 0; G_t the upstream of h_t)::

        dh   = dh + G_t
        dz_t = dh * phi'(z_t)      phi' = 1 - h_t^2 (tanh) or [h_t > 0] (relu)
        dh   = dz_t W_hh^T         (the gradient reaching h_{t-1})

        dW_ih = X^T dZ,  dW_hh = H_prev^T dZ,  db = sum_rows dZ,  dx = dZ W_ih^T

    After backward, ``self.state_grad`` is dh_0 (N, hidden).
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 return_sequences: bool = True, *, rng=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, return_sequences, rng, dtype)
        self.nonlinearity = nonlinearity

    @np.errstate(under="ignore")   # products of tiny numbers may underflow to 0: harmless
    def forward(self, x: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        X = self._sequence(x)
        N, T = x.shape[0], x.shape[1]
        W_hh, b = self.weight_hh.data, self.bias.data
        Hs = self._buffer("H", (T + 1, N, self.hidden_size))
        Hs[0] = self._initial(state, N, "h0")
        XW = self._projection(X, b, N, T)          # x_t W_ih + b for every t: one GEMM
        for t in range(1, T + 1):
            z = XW[t - 1] + Hs[t - 1] @ W_hh
            Hs[t] = np.tanh(z) if self.nonlinearity == "tanh" else np.maximum(z, 0)
        self._cache = (X, Hs)
        self.state = Hs[T].copy()
        return self._output(Hs)

    @np.errstate(under="ignore")
    def backward(self, grad_y: np.ndarray, grad_state: np.ndarray | None = None):
        X, Hs = self._saved()
        T, N = Hs.shape[0] - 1, Hs.shape[1]
        G = self._upstream(grad_y, N, T)
        dh = self._final(grad_state, N, "grad_state")
        W_hh_T = self.weight_hh.data.T
        dZ = self._buffer("dZ", (T, N, self.hidden_size))
        for t in range(T, 0, -1):
            h = Hs[t]
            dh = dh + G[t - 1]
            dZ[t - 1] = dh * (1 - h**2) if self.nonlinearity == "tanh" else dh * (h > 0)
            dh = dZ[t - 1] @ W_hh_T
        H_prev, dZ = _flat(Hs[:-1]), _flat(dZ)
        dW_ih = X.T @ dZ
        dW_hh = H_prev.T @ dZ
        db = dZ.sum(axis=0)
        self._add_grads(weight_ih=dW_ih, weight_hh=dW_hh, bias=db)
        self.state_grad = dh
        return self._input_grad(dZ, N, T)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", nonlinearity='relu'" if self.nonlinearity == "relu"
                                       else "")


# ---------------------------------------------------------------------------- LSTM
class LSTM(_Recurrent):
    """Long short-term memory, gate order i, f, g, o (PyTorch's).

    Shapes: x ``(N, T, input_size)`` -> y ``(N, T, H)`` (or ``(N, H)`` with
    ``return_sequences=False``); ``weight_ih`` ``(input_size, 4H)``, ``weight_hh``
    ``(H, 4H)``, ``bias`` ``(4H,)`` (one bias: PyTorch's ``b_ih + b_hh``), columns in blocks
    [i | f | g | o]. ``forward(x, state=None)`` with ``state = (h_0, c_0)``, each ``(N, H)``
    (zeros if None); afterwards ``self.state = (h_T, c_T)``. Caches X (time-major), the
    gates S (T, N, 4H) (S[t-1] = [i | f | g | o] of step t), Hs = [h_0, .., h_T] and
    C = [c_0, .., c_T].

    Forward, t = 1 .. T::

        z = x_t W_ih + h_{t-1} W_hh + b = [z_i | z_f | z_g | z_o]      (N, 4H)
        i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Backward, t = T .. 1 (dh, dc start as the grad_state, or 0; G_t the upstream of h_t)::

        dh = dh + G_t
        do = dh * tanh(c_t)
        dc = dc + dh * o * (1 - tanh(c_t)^2)
        di, df, dg = dc * g, dc * c_{t-1}, dc * i
        dz_t = [di * i(1-i) | df * f(1-f) | dg * (1-g^2) | do * o(1-o)]
        dc = dc * f                 (the gradient reaching c_{t-1})
        dh = dz_t W_hh^T            (the gradient reaching h_{t-1})

        dW_ih = X^T dZ,  dW_hh = H_prev^T dZ,  db = sum_rows dZ,  dx = dZ W_ih^T

    After backward, ``self.state_grad = (dh_0, dc_0)``.
    """

    _gates = 4

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True, *,
                 rng=None, dtype=None):
        super().__init__(input_size, hidden_size, return_sequences, rng, dtype)

    @np.errstate(under="ignore")   # products of tiny numbers may underflow to 0: harmless
    def forward(self, x: np.ndarray, state=None) -> np.ndarray:
        X = self._sequence(x)
        N, T, H = x.shape[0], x.shape[1], self.hidden_size
        W_hh, b = self.weight_hh.data, self.bias.data
        h0, c0 = self._pair(state, "state", ("h0", "c0"))
        S = self._buffer("S", (T, N, 4 * H))
        Hs, C = self._buffer("H", (T + 1, N, H)), self._buffer("C", (T + 1, N, H))
        Hs[0], C[0] = self._initial(h0, N, "h0"), self._initial(c0, N, "c0")
        XW = self._projection(X, b, N, T)          # x_t W_ih + b for every t: one GEMM
        for t in range(1, T + 1):
            z = XW[t - 1] + Hs[t - 1] @ W_hh
            i, f, g, o = lstm_gates(z, out=S[t - 1])
            C[t] = f * C[t - 1] + i * g
            Hs[t] = o * np.tanh(C[t])
        self._cache = (X, S, Hs, C)
        self.state = (Hs[T].copy(), C[T].copy())
        return self._output(Hs)

    @np.errstate(under="ignore")
    def backward(self, grad_y: np.ndarray, grad_state=None):
        X, S, Hs, C = self._saved()
        T, N = S.shape[0], S.shape[1]
        G = self._upstream(grad_y, N, T)
        gh, gc = self._pair(grad_state, "grad_state", ("dh_T", "dc_T"))
        dh, dc = self._final(gh, N, "grad_state[0]"), self._final(gc, N, "grad_state[1]")
        W_hh_T = self.weight_hh.data.T
        dZ = self._buffer("dZ", S.shape)
        for t in range(T, 0, -1):
            i, f, g, o = split(S[t - 1], 4)
            tanh_c = np.tanh(C[t])
            dh = dh + G[t - 1]
            do = dh * tanh_c
            dc = dc + dh * o * (1 - tanh_c**2)
            di, df, dg = dc * g, dc * C[t - 1], dc * i
            dz = lstm_gates_grad(di, df, dg, do, S[t - 1], out=dZ[t - 1])
            dc = dc * f
            dh = dz @ W_hh_T
        H_prev, dZ = _flat(Hs[:-1]), _flat(dZ)
        dW_ih = X.T @ dZ
        dW_hh = H_prev.T @ dZ
        db = dZ.sum(axis=0)
        self._add_grads(weight_ih=dW_ih, weight_hh=dW_hh, bias=db)
        self.state_grad = (dh, dc)
        return self._input_grad(dZ, N, T)

    def _pair(self, value, what: str, names: tuple[str, str]) -> tuple:
        """``value`` as a pair (None -> (None, None)); a TypeError naming it otherwise."""
        if value is None:
            return None, None
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise TypeError(f"{self.label()}: {what} must be a pair ({names[0]}, {names[1]}), "
                            f"got {type(value).__name__}")
        return value[0], value[1]


# ---------------------------------------------------------------------------- GRU
class GRU(_Recurrent):
    """Gated recurrent unit with PyTorch's equations and gate order r, z, n.

    Shapes: x ``(N, T, input_size)`` -> y ``(N, T, H)`` (or ``(N, H)`` with
    ``return_sequences=False``); ``weight_ih`` ``(input_size, 3H)``, ``weight_hh`` ``(H, 3H)``,
    ``bias_ih``, ``bias_hh`` ``(3H,)``, columns in blocks [r | z | n].
    ``forward(x, state=None)`` with state h_0 ``(N, H)``; afterwards ``self.state`` is h_T.
    Caches X (time-major), the gates S (T, N, 3H) (S[t-1] = [r | z | n] of step t), Q
    (q_t of every step) and Hs = [h_0, .., h_T].

    Forward, t = 1 .. T (a for every t in one GEMM before the loop)::

        a = x_t W_ih + b_ih = [a_r | a_z | a_n]          (N, 3H)
        e = h_{t-1} W_hh + b_hh = [e_r | e_z | q]        (q = h_{t-1} W_hn + b_hn)
        r, z = sigmoid(a_r + e_r), sigmoid(a_z + e_z)
        n = tanh(a_n + r * q)
        h_t = n + z * (h_{t-1} - n)        ( = (1 - z) * n + z * h_{t-1})

    Backward, t = T .. 1 (dh starts as the grad_state, or 0; G_t the upstream of h_t)::

        dh = dh + G_t
        dn = dh * (1 - z) * (1 - n^2)                  (the gradient of a_n)
        dz = dh * (h_{t-1} - n) * z(1 - z)
        dr = dn * q * r(1 - r)
        da_t = [dr | dz | dn]                          (reaches x W_ih + b_ih)
        de_t = [dr | dz | dn * r]                      (reaches h W_hh + b_hh)
        dh = dh * z + de_t W_hh^T                      (the gradient reaching h_{t-1})

        dW_ih = X^T dA,  db_ih = sum_rows dA,  dW_hh = H_prev^T dE,  db_hh = sum_rows dE,
        dx = dA W_ih^T

    After backward, ``self.state_grad`` is dh_0 (N, H).
    """

    _gates = 3
    _biases = ("bias_ih", "bias_hh")
    bias_ih: Parameter
    bias_hh: Parameter

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True, *,
                 rng=None, dtype=None):
        super().__init__(input_size, hidden_size, return_sequences, rng, dtype)

    @np.errstate(under="ignore")   # products of tiny numbers may underflow to 0: harmless
    def forward(self, x: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        X = self._sequence(x)
        N, T, H = x.shape[0], x.shape[1], self.hidden_size
        W_hh, b_ih, b_hh = self.weight_hh.data, self.bias_ih.data, self.bias_hh.data
        S, Q = self._buffer("S", (T, N, 3 * H)), self._buffer("Q", (T, N, H))
        Hs = self._buffer("H", (T + 1, N, H))
        Hs[0] = self._initial(state, N, "h0")
        A = self._projection(X, b_ih, N, T)        # x_t W_ih + b_ih for every t: one GEMM
        for t in range(1, T + 1):
            a_r, a_z, a_n = split(A[t - 1], 3)
            e_r, e_z, q = split(Hs[t - 1] @ W_hh + b_hh, 3)
            r, z = sigmoid(a_r + e_r), sigmoid(a_z + e_z)
            n = np.tanh(a_n + r * q)
            Hs[t] = n + z * (Hs[t - 1] - n)
            S[t - 1], Q[t - 1] = np.hstack([r, z, n]), q
        self._cache = (X, S, Q, Hs)
        self.state = Hs[T].copy()
        return self._output(Hs)

    @np.errstate(under="ignore")
    def backward(self, grad_y: np.ndarray, grad_state: np.ndarray | None = None):
        X, S, Q, Hs = self._saved()
        T, N = S.shape[0], S.shape[1]
        G = self._upstream(grad_y, N, T)
        dh = self._final(grad_state, N, "grad_state")
        W_hh_T = self.weight_hh.data.T
        dA, dE = self._buffer("dA", S.shape), self._buffer("dE", S.shape)
        for t in range(T, 0, -1):
            r, z, n = split(S[t - 1], 3)
            q, h_prev = Q[t - 1], Hs[t - 1]
            dh = dh + G[t - 1]
            dn = dh * (1 - z) * (1 - n**2)
            dz = dh * (h_prev - n) * z * (1 - z)
            dr = dn * q * r * (1 - r)
            dA[t - 1] = np.hstack([dr, dz, dn])
            dE[t - 1] = np.hstack([dr, dz, dn * r])
            dh = dh * z + dE[t - 1] @ W_hh_T
        H_prev, dA, dE = _flat(Hs[:-1]), _flat(dA), _flat(dE)
        dW_ih = X.T @ dA
        db_ih = dA.sum(axis=0)
        dW_hh = H_prev.T @ dE
        db_hh = dE.sum(axis=0)
        self._add_grads(weight_ih=dW_ih, bias_ih=db_ih, weight_hh=dW_hh, bias_hh=db_hh)
        self.state_grad = dh
        return self._input_grad(dA, N, T)
