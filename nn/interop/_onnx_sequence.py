"""ONNX converters of the sequence families: RNN, LSTM, GRU, attention, Transformer encoder.

Recurrent layers map onto ONNX's own ``RNN``, ``LSTM`` and ``GRU`` operators. Those are
time-major (X is (T, N, I), Y is (T, num_directions, N, H)), store weights transposed
((gates*H, in), what ``x_t W^T`` wants) and order the gates differently from ``nn``
(which follows PyTorch)::

    layer   nn's column blocks   ONNX's row blocks    biases B = [Wb | Rb]
    RNN     h                    h                    [bias | 0]
    LSTM    i, f, g, o           i, o, f, c (c = g)   [bias | 0]    (nn has one bias)
    GRU     r, z, n              z, r, h (h = n)      [bias_ih | bias_hh], linear_before_reset=1

``linear_before_reset=1`` is PyTorch's GRU: n = tanh(x W_in + b_in + r * (h W_hn + b_hn)).
The table is also in docs/interop.md ("ONNX").

Attention is decomposed into MatMul/Softmax nodes that follow the equations of
:class:`~nn.layers.attention.MultiHeadAttention` line by line (ONNX's ``Attention`` operator
needs opset 23).
"""

from __future__ import annotations

import math

import numpy as np

from ..layers import GRU, LSTM, RNN, MultiHeadAttention, TransformerEncoder, TransformerEncoderLayer
from ._onnx_graph import FLOAT, Graph, converts

# ---------------------------------------------------------------------------- recurrent


def onnx_gates(M: np.ndarray, order: list[int]) -> np.ndarray:
    """nn's (K, G*H) weight (or (G*H,) bias) with column blocks reordered into ONNX's gate
    order and transposed: (G*H, K), row block k = nn's block ``order[k]``."""
    blocks = np.split(M, len(order), axis=-1)
    return np.concatenate([blocks[k] for k in order], axis=-1).T


#: ONNX's gate order in terms of nn's blocks: LSTM i,o,f,c from i,f,g,o; GRU z,r,h from r,z,n
LSTM_ORDER, GRU_ORDER, RNN_ORDER = [0, 3, 1, 2], [1, 0, 2], [0]


def recurrent(g: Graph, layer: RNN | LSTM | GRU, x: str, op_type: str, order: list[int],
              B: np.ndarray, **attrs) -> str:
    """One ONNX recurrent node on the batch-first input x (N, T, I); returns y (N, T, H),
    or h_T (N, H) with ``return_sequences=False``."""
    W = onnx_gates(layer.weight_ih.data, order)[None]        # (1, G*H, I)
    R = onnx_gates(layer.weight_hh.data, order)[None]        # (1, G*H, H)
    xt = g.op("Transpose", x, perm=[1, 0, 2])                # (T, N, I): ONNX is time-major
    Y, Y_h = g.op_n(op_type, [xt, g.const(W, "W"), g.const(R, "R"), g.const(B[None], "B")],
                    2, hidden_size=layer.hidden_size, **attrs)
    if not layer.return_sequences:
        return g.op("Squeeze", Y_h, g.ints(0))               # (1, N, H) -> h_T (N, H)
    y = g.op("Squeeze", Y, g.ints(1))                        # (T, 1, N, H) -> (T, N, H)
    return g.op("Transpose", y, perm=[1, 0, 2])              # batch first (N, T, H)


@converts(RNN)
def rnn(g: Graph, layer: RNN, x: str, ex: np.ndarray) -> str:
    H = layer.hidden_size
    B = np.concatenate([layer.state_dict()["bias"], np.zeros(H)])
    return recurrent(g, layer, x, "RNN", RNN_ORDER, B,
                     activations=["Tanh" if layer.nonlinearity == "tanh" else "Relu"])


@converts(LSTM)
def lstm(g: Graph, layer: LSTM, x: str, ex: np.ndarray) -> str:
    H = layer.hidden_size
    B = np.concatenate([onnx_gates(layer.state_dict()["bias"], LSTM_ORDER), np.zeros(4 * H)])
    return recurrent(g, layer, x, "LSTM", LSTM_ORDER, B)


@converts(GRU)
def gru(g: Graph, layer: GRU, x: str, ex: np.ndarray) -> str:
    state = layer.state_dict()
    B = np.concatenate([onnx_gates(state["bias_ih"], GRU_ORDER),
                        onnx_gates(state["bias_hh"], GRU_ORDER)])
    return recurrent(g, layer, x, "GRU", GRU_ORDER, B, linear_before_reset=1)


# ---------------------------------------------------------------------------- attention


def masked_softmax(g: Graph, S: str) -> str:
    """nn's ``masked_softmax`` over the last axis: a row whose keys are all masked (-inf)
    gets weights 0, not NaN. m = max(max_j S, finfo.min); e = exp(S - m); P = e / max(sum e, 1)."""
    m = g.op("Max", g.reduce("ReduceMax", S, [-1]), g.const(np.finfo(FLOAT).min, "lowest"))
    e = g.op("Exp", g.op("Sub", S, m))
    return g.op("Div", e, g.op("Max", g.reduce("ReduceSum", e, [-1]), g.const(1.0, "one")))


@converts(MultiHeadAttention, mask=True)
def multi_head_attention(g: Graph, layer: MultiHeadAttention, x: str, ex: np.ndarray,
                         mask: str | None) -> str:
    T, E, H, d = ex.shape[1], layer.embed_dim, layer.num_heads, layer.head_dim

    def heads(a: str) -> str:                                # (N, T, E) -> (N, H, T, d)
        return g.op("Transpose", g.op("Reshape", a, g.ints(0, 0, H, d)), perm=[0, 2, 1, 3])

    Q = heads(g.convert(layer.q_proj, x, ex, "q_proj"))      # Q = x W_q + b_q
    K = heads(g.convert(layer.k_proj, x, ex, "k_proj"))      # K = x W_k + b_k
    V = heads(g.convert(layer.v_proj, x, ex, "v_proj"))      # V = x W_v + b_v
    Kt = g.op("Transpose", K, perm=[0, 1, 3, 2])
    S = g.op("Div", g.op("MatMul", Q, Kt), g.const(math.sqrt(d), "sqrt_d"))  # Q K^T / sqrt d
    if layer.causal:                                         # -inf at keys j > query i
        S = g.op("Add", S, g.const(np.triu(np.full((T, T), -np.inf), k=1), "causal"))
    if mask is not None:                                     # -inf at keys the mask hides
        hidden = g.op("Unsqueeze", mask, g.ints(1, 2))       # (N, 1, 1, T)
        S = g.op("Where", hidden, g.const(-np.inf, "minus_inf"), S)
    P = masked_softmax(g, S) if layer.causal or mask is not None \
        else g.op("Softmax", S, axis=-1)                     # P = softmax_j(S)
    C = g.op("Transpose", g.op("MatMul", P, V), perm=[0, 2, 1, 3])        # C = P V
    C = g.op("Reshape", C, g.ints(0, 0, E))                  # heads side by side (N, T, E)
    return g.convert(layer.out_proj, C, ex, "out_proj")      # y = C W_o + b_o


# ---------------------------------------------------------------------------- transformer


def feed_forward(g: Graph, layer: TransformerEncoderLayer, z: str, ex: np.ndarray) -> str:
    """ff(z) = linear2(dropout(activation(linear1(z)))), dropout the identity (eval)."""
    a = g.convert(layer.linear1, z, ex, "linear1")
    ex_a = layer.linear1.forward(ex)
    a = g.convert(layer.activation, a, ex_a, "activation")
    return g.convert(layer.linear2, a, ex_a, "linear2")


@converts(TransformerEncoderLayer, mask=True)
def transformer_encoder_layer(g: Graph, layer: TransformerEncoderLayer, x: str,
                              ex: np.ndarray, mask: str | None) -> str:
    # every sub-layer sees an (N, T, d_model) input, so ``ex`` describes each of them
    def sa(z: str) -> str:
        return g.convert(layer.self_attn, z, ex, "self_attn", mask)

    if layer.norm_first:
        # h = x + sa(norm1(x));  y = h + ff(norm2(h))
        h = g.op("Add", x, sa(g.convert(layer.norm1, x, ex, "norm1")))
        return g.op("Add", h, feed_forward(g, layer, g.convert(layer.norm2, h, ex, "norm2"), ex))
    # h = norm1(x + sa(x));  y = norm2(h + ff(h))
    h = g.convert(layer.norm1, g.op("Add", x, sa(x)), ex, "norm1")
    return g.convert(layer.norm2, g.op("Add", h, feed_forward(g, layer, h, ex)), ex, "norm2")


@converts(TransformerEncoder, mask=True)
def transformer_encoder(g: Graph, layer: TransformerEncoder, x: str, ex: np.ndarray,
                        mask: str | None) -> str:
    for k, sub in enumerate(layer.layers):                   # h_k = layer_k(h_{k-1}, mask)
        x = g.convert(sub, x, ex, f"layers.{k}", mask)
        ex = sub.forward(ex)
    if layer.norm is not None:
        x = g.convert(layer.norm, x, ex, "norm")             # y = norm(h_L)
    return x
