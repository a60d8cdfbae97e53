"""Multi-head self-attention and sinusoidal positional encoding.

MultiHeadAttention, for one head h (d = E / H columns of the projections)::

    Q = x W_q + b_q,  K = x W_k + b_k,  V = x W_v + b_v          each (N, T, E), split into
                                                                 H heads of width d
    S = Q_h K_h^T / sqrt(d)      (T, T) scores, query i, key j   + mask: -inf at ignored keys
    P = softmax_j(S)             attention weights, rows sum to 1 over the allowed keys
    C_h = P V_h                  (T, d) context; heads concatenated back to (N, T, E)
    y = C W_o + b_o

Backward (the softmax VJP, per head, all heads at once in batched matmuls)::

    dC = dy W_o^T                          (out_proj.backward)
    dV_h = P^T dC_h
    dP = dC_h V_h^T
    dS_ij = P_ij (dP_ij - D_i),  D_i = sum_j P_ij dP_ij = dC_i . C_i
    dQ_h = dS K_h / sqrt(d),   dK_h = dS^T Q_h / sqrt(d)
    dx = dQ W_q^T + dK W_k^T + dV W_v^T    (q_proj, k_proj, v_proj .backward, summed)

The derivation, in these symbols: docs/math/attention.md.
"""

from __future__ import annotations

import math

import numpy as np

from .._config import get_rng
from ..layer import Layer, check_grad, check_input, check_positive, inner_grad
from .dropout import Dropout
from .linear import Linear


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product self-attention on batch-first sequences.

    Shapes: x ``(N, T, E)`` -> y ``(N, T, E)`` with ``E = embed_dim``; ``H = num_heads``
    heads of width ``d = E // H``. Sub-layers ``q_proj``, ``k_proj``, ``v_proj``,
    ``out_proj``, each ``Linear(E, E)`` (weight ``(E, E)`` in our (in, out) layout, bias
    ``(E,)``); their gradients have the same shapes. Heads are the consecutive column blocks
    ``[h*d, (h+1)*d)`` of Q, K, V, as in PyTorch.

    Forward::

        S_ij = Q_i . K_j / sqrt(d)   (per head)
        P = softmax over j of S (keys that are masked get -inf, hence exactly zero weight)
        C = P V (heads concatenated),  y = C W_o + b_o

    Backward: ``dS = P * (dP - D)`` with ``dP = dC V^T`` and ``D_i = dC_i . C_i`` (the row
    sums of ``P * dP``, computed from the (T, d) context instead of the (T, T) weights),
    then ``dQ = dS K / sqrt(d)``, ``dK = dS^T Q / sqrt(d)``, ``dV = P^T dC``; every head of
    every example in one batched ``np.matmul`` on ``(N, H, T, ...)`` arrays.

    ``forward`` caches Q, K, V split into heads ``(N, H, T, d)``, the attention weights P
    ``(N, H, T, T)`` (readable as :attr:`attention_weights`), P after attention dropout and
    the context C ``(N*T, E)``.

    Layout: S is computed as (K Q^T)^T, the same numbers stored key-major, so that the
    softmax's reductions over the keys run across contiguous rows (2-3x faster than along a
    short last axis); P, dP and dS keep that layout (docs/math/attention.md, "All heads at
    once").

    Parameters
    ----------
    embed_dim, num_heads : int
        ``num_heads`` must divide ``embed_dim`` (``ValueError`` otherwise).
    bias : bool
        Biases in the four projections (PyTorch's ``bias``).
    causal : bool
        Query i attends only to keys j <= i (a decoder's mask), so the output at t does not
        depend on inputs after t.
    dropout : float, keyword-only
        Dropout on the attention weights in training mode (PyTorch's ``dropout``), default 0.
    rng, dtype
        Generator for the initialisation and the dropout masks; parameter dtype.

    Masks
    -----
    ``forward(x, mask)`` takes an optional **key-padding mask**: a boolean array
    ``(N, T)`` with **True = ignore this key** (padding), PyTorch's ``key_padding_mask``
    convention. Masked keys get exactly zero attention weight, so their keys and values
    get exactly zero gradient through the scores. A query whose every key is masked
    (possible only with a padding mask that hides a whole sequence) attends to nothing:
    its weights are all zero, its context is zero (its output is ``out_proj.bias``) and no
    gradient flows through its scores. PyTorch returns NaN there; we return finite values.

    Initialisation: the four projections are Xavier-uniform with zero bias (PyTorch uses
    Xavier-uniform on its packed (3E, E) input projection and zero biases).
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, causal: bool = False,
                 *, dropout: float = 0.0, rng=None, dtype=None):
        super().__init__()
        check_positive("MultiHeadAttention", embed_dim=embed_dim, num_heads=num_heads)
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiHeadAttention: num_heads={num_heads} does not divide "
                f"embed_dim={embed_dim}; each head gets embed_dim // num_heads columns, so "
                f"embed_dim must be a multiple of num_heads")
        self.embed_dim = int(embed_dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.causal = bool(causal)
        gen = get_rng(rng)
        E = self.embed_dim
        self.q_proj = Linear(E, E, bias, init="xavier", rng=gen, dtype=dtype)
        self.k_proj = Linear(E, E, bias, init="xavier", rng=gen, dtype=dtype)
        self.v_proj = Linear(E, E, bias, init="xavier", rng=gen, dtype=dtype)
        self.out_proj = Linear(E, E, bias, init="xavier", rng=gen, dtype=dtype)
        # attention-weight dropout: a plain Dropout's generator, used on (N, H, T, T)
        self.attn_dropout = Dropout(dropout, rng=gen)
        self.dropout = self.attn_dropout.p

    # ------------------------------------------------------------------ helpers
    def _check_mask(self, mask, N: int, T: int) -> np.ndarray | None:
        if mask is None:
            return None
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError(
                f"{self.label()}: mask must be a boolean ndarray of shape (N, T) with True = "
                f"ignore this key, got "
                f"{type(mask).__name__ if not isinstance(mask, np.ndarray) else mask.dtype}")
        if mask.shape != (N, T):
            raise ValueError(f"{self.label()}: expected a key-padding mask of shape ({N}, {T}) "
                             f"(batch, keys), got {mask.shape}")
        return mask

    def _heads(self, a: np.ndarray, N: int, T: int) -> np.ndarray:
        """(N*T, E) -> (N, H, T, d): head h is columns [h*d, (h+1)*d) (a view)."""
        return a.reshape(N, T, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    @staticmethod
    def _merged(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """A @ B for every head ((N, H, T, .) @ (N, H, ., d)), returned with the heads side
        by side again, (N*T, E). np.matmul writes straight into that layout: the same numbers
        as ``(A @ B).transpose(0, 2, 1, 3).reshape(N*T, E)`` without that strided copy (three
        of them cost 10% of a whole step)."""
        N, H, T, _ = A.shape
        d = B.shape[-1]
        out = np.empty((N, T, H, d), dtype=np.result_type(A, B))
        np.matmul(A, B, out=out.transpose(0, 2, 1, 3))
        return out.reshape(N * T, H * d)

    def _mask_bias(self, mask: np.ndarray | None, T: int, dtype) -> np.ndarray | float:
        """What the masks add to the scores S (N, H, T_query, T_key): -inf at ignored keys
        (keys after the query when causal; True entries of the key-padding mask)."""
        bias: np.ndarray | float = 0.0
        if self.causal:
            # key j > query i; stored key-major like S, for a fast (contiguous) addition
            bias = np.asfortranarray(np.triu(np.full((T, T), -np.inf, dtype), k=1))
        if mask is not None:
            bias = bias + np.where(mask, -np.inf, 0).astype(dtype)[:, None, None, :]
        return bias

    def set_input_grad(self, flag: bool) -> bool:
        """Forwarded to q_proj, k_proj and v_proj, which receive this layer's input."""
        old = super().set_input_grad(flag)
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            proj.set_input_grad(flag)
        return old

    @property
    def attention_weights(self) -> np.ndarray | None:
        """The last forward's attention weights ``(N, H, T_query, T_key)`` (before dropout)."""
        if self._cache is None:
            return None
        return self._cache[4]

    # ------------------------------------------------------------------ forward / backward
    def forward(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        E, d = self.embed_dim, self.head_dim
        x = check_input(self, x, ndim=3, last_dim=E, dtype=self.q_proj.weight.dtype,
                        expected=f"(N, T, {E})")
        N, T, _ = x.shape
        mask = self._check_mask(mask, N, T)
        x2 = x.reshape(N * T, E)                 # the projections see the (N*T, E) rows
        Q = self._heads(self.q_proj.forward(x2), N, T)      # Q = x W_q + b_q, (N, H, T, d)
        K = self._heads(self.k_proj.forward(x2), N, T)      # K = x W_k + b_k
        V = self._heads(self.v_proj.forward(x2), N, T)      # V = x W_v + b_v
        # S = Q K^T / sqrt(d), computed as (K Q^T)^T: the same numbers, stored key-major
        # (see Layout in the class docstring), so that the softmax's max and sum over the
        # keys run across contiguous rows
        S = (K @ (Q / math.sqrt(d)).transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
        if self.causal or mask is not None:
            S += self._mask_bias(mask, T, S.dtype)          # -inf at ignored keys
        P = masked_softmax_fast(S)                          # P = softmax_j(S), in place of S
        Pd = self.attn_dropout.forward(P) if self.training and self.attn_dropout.p > 0 else P
        C = self._merged(Pd, V)                             # C = P V, heads side by side
        y = self.out_proj.forward(C)                        # y = C W_o + b_o
        self._cache = (x.shape, Q, K, V, P, Pd, C)
        return y.reshape(N, T, E)

    def backward(self, grad_y: np.ndarray) -> np.ndarray | None:
        shape, Q, K, V, P, Pd, C = self._saved()
        N, T, E = shape
        d = self.head_dim
        G = check_grad(self, grad_y, shape, P.dtype).reshape(N * T, E)
        dC = inner_grad(self.out_proj.backward(G))          # dC = G W_o^T
        dCh = self._heads(dC, N, T)
        dV = self._merged(Pd.transpose(0, 1, 3, 2), dCh)    # dV = P^T dC
        dP = (V @ dCh.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # dP = dC V^T, key-major
        if Pd is not P:
            dP = self.attn_dropout.backward(dP)             # through the dropout mask
        D = np.sum(dCh * self._heads(C, N, T), axis=-1, keepdims=True)   # D_i = dC_i . C_i
        dS = softmax_grad_fast(P, dP, D)                    # dS = P * (dP - D), in dP
        dQ = self._merged(dS, K / math.sqrt(d))             # dQ = dS K / sqrt(d)
        dK = self._merged(dS.transpose(0, 1, 3, 2), Q / math.sqrt(d))   # dK = dS^T Q / sqrt(d)
        # dx = dQ W_q^T + dK W_k^T + dV W_v^T
        dxq = self.q_proj.backward(dQ)
        dxk = self.k_proj.backward(dK)
        dxv = self.v_proj.backward(dV)
        if dxq is None:
            return None
        return (dxq + dxk + dxv).reshape(shape)

    def extra_repr(self) -> str:
        extra = ", causal=True" if self.causal else ""
        if self.dropout:
            extra += f", dropout={self.dropout}"
        if self.q_proj.bias is None:
            extra += ", bias=False"
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}{extra}"


def masked_softmax(S: np.ndarray) -> np.ndarray:
    """softmax over the last axis (the keys) where a row may be all -inf (every key masked).

    ``P_ij = exp(S_ij - m_i) / sum_l exp(S_il - m_l)``, with the shift m_i = max_j S_ij
    clamped to a finite number and the row sum clamped to at least 1: a row with a visible
    key is unchanged (its maximum is finite, its sum >= exp(0) = 1), an all-masked row
    gets weights 0 instead of NaN. (Could join ``nn.functional`` next to ``softmax``.)
    """
    m = np.maximum(S.max(axis=-1, keepdims=True), np.finfo(S.dtype).min)
    with np.errstate(under="ignore"):      # exp of a very negative score underflows to 0
        e = np.exp(S - m)                  # exp(-inf) = 0: masked keys get exactly zero
    return e / np.maximum(e.sum(axis=-1, keepdims=True), 1)


def masked_softmax_fast(S: np.ndarray) -> np.ndarray:
    """:func:`masked_softmax` computed in place: S (a fresh array the caller owns) is
    overwritten with P and returned. Same operations in the same order, so the same numbers
    (tests/test_attention.py proves them equal); no (N, H, T, T) temporaries, which cost
    page faults on every call (measured: 8% of a whole MultiHeadAttention step, 20% with
    a causal mask; docs/math/attention.md shows the plain form).
    """
    m = S.max(axis=-1, keepdims=True)
    np.maximum(m, np.finfo(S.dtype).min, out=m)
    S -= m
    with np.errstate(under="ignore"):
        np.exp(S, out=S)
    s = S.sum(axis=-1, keepdims=True)
    np.maximum(s, 1, out=s)
    S /= s
    return S


def softmax_grad(P: np.ndarray, dP: np.ndarray, D: np.ndarray) -> np.ndarray:
    """The softmax VJP: ``dS = P * (dP - D)`` with ``D_i = sum_j P_ij dP_ij``."""
    return P * (dP - D)


def softmax_grad_fast(P: np.ndarray, dP: np.ndarray, D: np.ndarray) -> np.ndarray:
    """:func:`softmax_grad` computed in place: dP (a fresh array the caller owns) is
    overwritten with dS and returned; the same numbers (tests/test_attention.py). Measured:
    7% of a whole MultiHeadAttention step (two (N, H, T, T) temporaries fewer)."""
    dP -= D
    dP *= P
    return dP


class PositionalEncoding(Layer):
    """Sinusoidal positional encoding added to the input (Vaswani et al., 2017).

    Shapes: x ``(N, T, d_model)`` (or any ``(..., T, d_model)``) -> y of the same shape,
    ``T <= max_len``. No parameters. With ``w_i = 10000^(-2i/d_model)``::

        PE[t, 2i] = sin(t w_i),   PE[t, 2i+1] = cos(t w_i)
        y = x + PE[:T]            (then dropout with probability ``dropout``, default 0)
        dx = g                    (through the dropout mask when it is active)

    The table is computed once in float64 and cast to the input's dtype on first use. It is
    a fixed function of ``(d_model, max_len)``, not state, so it is not in ``state_dict``.
    An odd ``d_model`` is allowed (the last column is a sine). Caches nothing but the
    input's shape (and the dropout layer its mask).
    """

    def __init__(self, d_model: int, max_len: int = 5000, *, dropout: float = 0.0, rng=None):
        super().__init__()
        check_positive("PositionalEncoding", d_model=d_model, max_len=max_len)
        self.d_model = int(d_model)
        self.max_len = int(max_len)
        self.dropout = Dropout(dropout, rng=rng)
        t = np.arange(self.max_len, dtype=np.float64)[:, None]
        w = np.exp(-math.log(10000.0) * np.arange(0, self.d_model, 2) / self.d_model)
        pe = np.empty((self.max_len, self.d_model))
        pe[:, 0::2] = np.sin(t * w)
        pe[:, 1::2] = np.cos(t * w[: self.d_model // 2])
        self._pe = {np.dtype(np.float64).str: pe}

    def table(self, dtype=np.float64) -> np.ndarray:
        """The ``(max_len, d_model)`` encoding table in ``dtype`` (read-only)."""
        key = np.dtype(dtype).str
        pe = self._pe.get(key)
        if pe is None:
            pe = self._pe[key] = self._pe[np.dtype(np.float64).str].astype(dtype)
            pe.flags.writeable = False
        return pe

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = check_input(self, x, min_ndim=2, last_dim=self.d_model,
                        expected=f"(N, T, {self.d_model}) with T <= {self.max_len}")
        T = x.shape[-2]
        if T > self.max_len:
            raise ValueError(f"{self.label()}: sequence length {T} exceeds max_len "
                             f"{self.max_len}; got input of shape {x.shape}")
        y = x + self.table(x.dtype)[:T]
        active = self.training and self.dropout.p > 0
        if active:
            y = self.dropout.forward(y)
        self._cache = (x.shape, x.dtype, active)
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        shape, dtype, active = self._saved()
        grad_y = check_grad(self, grad_y, shape, dtype)
        if active:
            return self.dropout.backward(grad_y)
        # dx = g (the encoding is a constant; the gradient is returned unchanged, not copied)
        return grad_y

    def extra_repr(self) -> str:
        extra = f", dropout={self.dropout.p}" if self.dropout.p else ""
        return f"d_model={self.d_model}, max_len={self.max_len}{extra}"
