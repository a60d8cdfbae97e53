"""Transformer encoder layer (PyTorch's layout) and a stack of them.

TransformerEncoderLayer, with sa = self-attention, ff = linear2(dropout(act(linear1(.)))),
drop1/drop2 = dropout1/dropout2::

    post-norm (norm_first=False, the original Transformer):
        h = norm1(x + drop1(sa(x)))
        y = norm2(h + drop2(ff(h)))
    pre-norm (norm_first=True, GPT-style):
        h = x + drop1(sa(norm1(x)))
        y = h + drop2(ff(norm2(h)))

Backward follows the same data flow in reverse; at each residual the gradient is the sum
of the skip path and the branch. Derivation and diagram: docs/math/attention.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from .._config import get_rng
from ..layer import Layer, check_grad, check_positive, inner_grad
from .activation import GELU, ReLU
from .attention import MultiHeadAttention
from .container import Sequential
from .dropout import Dropout
from .linear import Linear
from .normalization import LayerNorm

_ACTIVATIONS = {"relu": ReLU, "gelu": GELU}


def _drop_forward(drop: Dropout, x: np.ndarray) -> tuple[np.ndarray, bool]:
    """Apply ``drop`` only when it does something (train mode, p > 0): no identity copies."""
    if drop.training and drop.p > 0:
        return drop.forward(x), True
    return x, False


class TransformerEncoderLayer(Layer):
    """Self-attention and a position-wise feed-forward block, with residuals and LayerNorm.

    Shapes: x ``(N, T, d_model)`` -> y ``(N, T, d_model)``; optional key-padding ``mask``
    ``(N, T)``, True = ignore (see :class:`MultiHeadAttention`). Sub-layers, named as in
    PyTorch so that state dicts map one to one: ``self_attn`` (MultiHeadAttention with
    attention dropout ``dropout``), ``linear1`` (d_model -> dim_feedforward), ``dropout``,
    ``linear2`` (dim_feedforward -> d_model), ``norm1``, ``norm2`` (LayerNorm(d_model)),
    ``dropout1``, ``dropout2``, ``activation``.

    Forward (``ff(z) = linear2(dropout(activation(linear1(z))))``)::

        post-norm:  h = norm1(x + dropout1(self_attn(x)));   y = norm2(h + dropout2(ff(h)))
        pre-norm:   h = x + dropout1(self_attn(norm1(x)));   y = h + dropout2(ff(norm2(h)))

    Backward (g = grad_y; ``B.backward`` is a sub-layer's vector-Jacobian product)::

        post-norm:  gr = norm2.backward(g);   gh = gr + ff.backward(dropout2.backward(gr))
                    gs = norm1.backward(gh);  dx = gs + self_attn.backward(dropout1.backward(gs))
        pre-norm:   gh = g + norm2.backward(ff.backward(dropout2.backward(g)))
                    dx = gh + norm1.backward(self_attn.backward(dropout1.backward(gh)))

    Every sub-layer caches its own input; this layer caches only which dropouts were
    active. The feed-forward block runs on the (N*T, d_model) view of its input (one GEMM).

    Parameters
    ----------
    activation : "relu", "gelu" or a Layer, keyword-only
        The feed-forward non-linearity (PyTorch's default "relu"; "gelu" is the exact GELU).
    layer_norm_eps : float, keyword-only
    rng, dtype
        Generator for the weights and every dropout mask; parameter dtype.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, causal: bool = False, norm_first: bool = False, *,
                 activation="relu", layer_norm_eps: float = 1e-5, bias: bool = True, rng=None,
                 dtype=None):
        super().__init__()
        check_positive("TransformerEncoderLayer", d_model=d_model, nhead=nhead,
                        dim_feedforward=dim_feedforward)
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"TransformerEncoderLayer: activation must be 'relu', 'gelu' "
                                 f"or a Layer, got {activation!r}")
            activation = _ACTIVATIONS[activation]()
        elif not isinstance(activation, Layer):
            raise TypeError("TransformerEncoderLayer: activation must be 'relu', 'gelu' or a "
                            f"Layer, got {type(activation).__name__}")
        gen = get_rng(rng)
        self.d_model = int(d_model)
        self.norm_first = bool(norm_first)
        self.self_attn = MultiHeadAttention(d_model, nhead, bias, causal, dropout=dropout,
                                            rng=gen, dtype=dtype)
        init = "he" if isinstance(activation, (ReLU, GELU)) else "xavier"
        self.linear1 = Linear(d_model, dim_feedforward, bias, init=init, rng=gen, dtype=dtype)
        self.dropout = Dropout(dropout, rng=gen)
        self.linear2 = Linear(dim_feedforward, d_model, bias, init="xavier", rng=gen,
                              dtype=dtype)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=gen)
        self.dropout2 = Dropout(dropout, rng=gen)
        self.activation = activation

    @property
    def causal(self) -> bool:
        return self.self_attn.causal

    # ------------------------------------------------------------------ feed-forward block
    def _ff_forward(self, z: np.ndarray) -> tuple[np.ndarray, bool]:
        """linear2(dropout(activation(linear1(z)))) on the (N*T, d_model) view."""
        a = self.activation.forward(self.linear1.forward(z.reshape(-1, self.d_model)))
        a, active = _drop_forward(self.dropout, a)
        return self.linear2.forward(a).reshape(z.shape), active

    def _ff_backward(self, g: np.ndarray, active: bool) -> np.ndarray:
        ga = inner_grad(self.linear2.backward(g.reshape(-1, self.d_model)))
        if active:
            ga = self.dropout.backward(ga)
        return inner_grad(self.linear1.backward(self.activation.backward(ga))).reshape(g.shape)

    # ------------------------------------------------------------------ forward / backward
    def forward(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        if self.norm_first:
            # h = x + drop1(sa(norm1(x)));  y = h + drop2(ff(norm2(h)))
            a, act1 = _drop_forward(self.dropout1, self.self_attn.forward(self.norm1.forward(x),
                                                                          mask))
            h = x + a
            f, act_ff = self._ff_forward(self.norm2.forward(h))
            f, act2 = _drop_forward(self.dropout2, f)
            y = h + f
        else:
            # h = norm1(x + drop1(sa(x)));  y = norm2(h + drop2(ff(h)))
            a, act1 = _drop_forward(self.dropout1, self.self_attn.forward(x, mask))
            h = self.norm1.forward(x + a)
            f, act_ff = self._ff_forward(h)
            f, act2 = _drop_forward(self.dropout2, f)
            y = self.norm2.forward(h + f)
        self._cache = (x.shape, x.dtype, act1, act_ff, act2)
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        shape, dtype, act1, act_ff, act2 = self._saved()
        g = check_grad(self, grad_y, shape, dtype)
        drop1 = self.dropout1.backward if act1 else _identity
        drop2 = self.dropout2.backward if act2 else _identity
        if self.norm_first:
            # gh = g + norm2'(ff'(drop2'(g)))
            gh = g + self.norm2.backward(self._ff_backward(drop2(g), act_ff))
            # dx = gh + norm1'(sa'(drop1'(gh)))
            return gh + self.norm1.backward(inner_grad(self.self_attn.backward(drop1(gh))))
        # gr = norm2'(g);  gh = gr + ff'(drop2'(gr))
        gr = inner_grad(self.norm2.backward(g))
        gh = gr + self._ff_backward(drop2(gr), act_ff)
        # gs = norm1'(gh);  dx = gs + sa'(drop1'(gs))
        gs = inner_grad(self.norm1.backward(gh))
        return gs + self.self_attn.backward(drop1(gs))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, nhead={self.self_attn.num_heads}, " \
               f"norm_first={self.norm_first}"


def _identity(g: np.ndarray) -> np.ndarray:
    return g


class TransformerEncoder(Layer):
    """A stack of ``num_layers`` encoder layers, optionally followed by a final ``norm``.

    ``TransformerEncoder(encoder_layer, num_layers, norm=None)``:

    * ``encoder_layer`` a layer (e.g. a :class:`TransformerEncoderLayer`): it is copied
      ``num_layers`` times, so every layer starts from the same weights, as in PyTorch. The
      copies share the original's random generators (their dropout masks differ).
    * ``encoder_layer`` a zero-argument callable returning a layer: called ``num_layers``
      times, so each layer gets its own initialisation, e.g.
      ``TransformerEncoder(lambda: TransformerEncoderLayer(64, 4, 128, rng=gen), 2)``.

    Shapes: x ``(N, T, d_model)`` -> y ``(N, T, d_model)``; ``forward(x, mask=None)`` passes
    the key-padding mask to every layer. Sub-layers ``layers.0``, ``layers.1``, ... and
    ``norm`` (PyTorch's names). Pre-norm stacks (``norm_first=True``) usually end with a
    final ``norm=LayerNorm(d_model)``.

    forward: ``h_0 = x, h_k = layer_k(h_{k-1}, mask), y = norm(h_L)``; backward runs the
    layers' backward in reverse. Caches nothing itself.
    """

    def __init__(self, encoder_layer: Layer | Callable[[], Layer], num_layers: int,
                 norm: Layer | None = None):
        super().__init__()
        check_positive("TransformerEncoder", num_layers=num_layers)
        if isinstance(encoder_layer, Layer):
            shared = {id(g): g for _, g in encoder_layer.named_generators()}
            made = [copy.deepcopy(encoder_layer, memo=dict(shared)) for _ in range(num_layers)]
        elif callable(encoder_layer):
            made = [encoder_layer() for _ in range(num_layers)]
            bad = [type(m).__name__ for m in made if not isinstance(m, Layer)]
            if bad:
                raise TypeError(f"TransformerEncoder: the factory must return Layers, got {bad}")
        else:
            raise TypeError("TransformerEncoder: encoder_layer must be a Layer or a callable "
                            f"returning one, got {type(encoder_layer).__name__}")
        self.layers = Sequential(*made)
        self.norm = norm
        self.num_layers = int(num_layers)

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        for layer in self.layers:
            x = layer(x, mask) if mask is not None else layer(x)
        if self.norm is not None:
            x = self.norm.forward(x)
        self._cache = True
        return x

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        self._saved()
        g = grad_y
        if self.norm is not None:
            g = self.norm.backward(g)
        for layer in reversed(list(self.layers)):
            g = layer.backward(g)
        return g

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}"
