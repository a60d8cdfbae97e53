"""PyTorch both ways: one small mapping per layer family, in a registry.

A :class:`Family` pairs an ``nn`` class with the torch classes it maps to and from, and two
functions: ``export(layer, go) -> torch module`` and ``load(module, go) -> nn layer``
(``go`` converts a child and names it in error messages). Adding a family is appending one
``Family`` to :data:`FAMILIES`. The layouts that differ are written in docs/interop.md:

* ``Linear`` and the recurrent weights are stored (in, out) here, (out, in) in torch: transposed;
* RNN and LSTM have one bias here, ``b_ih`` and ``b_hh`` in torch: exported as
  ``bias_ih = bias, bias_hh = 0``, imported as their sum;
* attention has four (E, E) projections here, a packed ``in_proj_weight`` (3E, E) there;
* recurrent layers, attention and the encoder layers come as subclasses of their torch
  classes whose ``forward`` returns what ``nn`` returns.

This module imports torch at the top: ``nn.interop`` imports it only when called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as TF

from ..layer import Layer
from ..layers import (
    GELU,
    GRU,
    LSTM,
    RNN,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    MultiHeadAttention,
    PositionalEncoding,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from ..models.recurrent import RecurrentLanguageModel, TextClassifier
from ..models.transformer import TransformerClassifier, TransformerLanguageModel
from ..parameter import Parameter

Module = torch.nn.Module
Tensor = torch.Tensor


# ============================================================================ torch modules
# What nn computes but torch spells differently: subclasses of the torch classes (so state
# dicts, optimizers and DistributedDataParallel see ordinary torch modules) whose forward
# takes and returns what nn's does.

class _ReturnsLikeNN:
    """``forward(x, state=None)`` of a batch-first one-layer recurrent module, returning
    ``y (N, T, H)``, or ``y[:, -1]`` with ``return_sequences=False``; ``state`` and
    ``self.state`` (the final state, detached) are ``(N, H)`` (a pair for LSTM), as in nn."""

    return_sequences: bool = True
    state: Any = None

    def forward(self, x: Tensor, state: Any = None) -> Tensor:
        y, final = super().forward(x, self._torch_state(x, state))  # type: ignore[misc]
        self.state = self._nn_state(final)
        return y if self.return_sequences else y[:, -1]

    def _torch_state(self, x: Tensor, state: Any) -> Any:
        return None if state is None else state[None]          # (N, H) -> (1, N, H)

    def _nn_state(self, final: Any) -> Any:
        return final[0].detach()


class TorchRNN(_ReturnsLikeNN, torch.nn.RNN):  # type: ignore[misc]  # forward: nn's
    """``torch.nn.RNN`` (batch first, one layer) returning what :class:`nn.RNN` returns."""


class TorchGRU(_ReturnsLikeNN, torch.nn.GRU):  # type: ignore[misc]  # forward: nn's
    """``torch.nn.GRU`` (batch first, one layer) returning what :class:`nn.GRU` returns."""


class TorchLSTM(_ReturnsLikeNN, torch.nn.LSTM):  # type: ignore[misc]  # forward: nn's
    """``torch.nn.LSTM`` (batch first, one layer) returning what :class:`nn.LSTM` returns;
    the state is the pair ``(h, c)``, either of them None for zeros."""

    def _torch_state(self, x: Tensor, state: Any) -> Any:
        if state is None:
            return None
        zeros = x.new_zeros(x.shape[0], self.hidden_size)
        h, c = (zeros if s is None else s for s in state)
        return h[None], c[None]

    def _nn_state(self, final: Any) -> Any:
        return final[0][0].detach(), final[1][0].detach()


class TorchMultiheadAttention(torch.nn.MultiheadAttention):
    """``torch.nn.MultiheadAttention`` used for self-attention as :class:`nn.MultiHeadAttention`:
    ``forward(x, mask=None)`` with x ``(N, T, E)`` and the key-padding mask ``(N, T)``
    (True = ignore), ``causal`` a flag of the module, one tensor returned.

    A query that sees no key at all (every key padded or in its future) gets ``out_proj``'s
    bias as its output, as in nn, where torch alone gives NaN: its row of the mask is
    cleared (so the softmax stays finite) and its output replaced (so no gradient reaches
    its scores)."""

    causal: bool = False

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        T = x.shape[1]
        blocked = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1) if self.causal \
            else None
        if mask is None:
            return super().forward(x, x, x, need_weights=False, attn_mask=blocked)[0]
        if mask.shape != x.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(f"{type(self).__name__}: expected a boolean key-padding mask of "
                             f"shape {tuple(x.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}")
        blocked = mask[:, None, :] if blocked is None else blocked | mask[:, None, :]
        blocked = blocked.expand(x.shape[0], T, T)
        dead = blocked.all(-1, keepdim=True)                    # (N, T, 1): no visible key
        blocked = (blocked & ~dead).repeat_interleave(self.num_heads, 0)
        y = super().forward(x, x, x, need_weights=False, attn_mask=blocked)[0]
        b = self.out_proj.bias
        return torch.where(dead, b if b is not None else torch.zeros_like(y), y)


class TorchTransformerEncoderLayer(torch.nn.TransformerEncoderLayer):
    """``torch.nn.TransformerEncoderLayer`` (batch first) computing what
    :class:`nn.TransformerEncoderLayer` computes: ``forward(x, mask=None)``, self-attention
    a :class:`TorchMultiheadAttention` (so ``causal`` is its flag), the equations of
    ``nn.layers.transformer`` written out (torch's fused fast path is not used)."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        def sa(z: Tensor) -> Tensor:
            return self.dropout1(self.self_attn(z, mask))

        def ff(z: Tensor) -> Tensor:
            return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(z)))))

        if self.norm_first:
            h = x + sa(self.norm1(x))                       # h = x + drop1(sa(norm1(x)))
            return h + ff(self.norm2(h))                    # y = h + drop2(ff(norm2(h)))
        h = self.norm1(x + sa(x))                           # h = norm1(x + drop1(sa(x)))
        return self.norm2(h + ff(h))                        # y = norm2(h + drop2(ff(h)))


class TorchTransformerEncoder(torch.nn.TransformerEncoder):
    """``torch.nn.TransformerEncoder``: ``forward(x, mask=None)`` runs the layers, then
    ``norm`` (no nested-tensor fast path, so padded positions are computed as in nn)."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        for layer in self.layers:
            x = layer(x, mask) if mask is not None else layer(x)
        return x if self.norm is None else self.norm(x)


class TorchPositionalEncoding(Module):
    """``y = dropout(x + pe[:T])``: nn's sinusoidal table as a (non-persistent) buffer."""

    pe: Tensor

    def __init__(self, table: np.ndarray, dropout: float = 0.0):
        super().__init__()
        self.d_model, self.max_len = table.shape[1], table.shape[0]
        self.register_buffer("pe", torch.from_numpy(np.array(table, np.float64)),
                             persistent=False)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        T = x.shape[-2]
        if T > self.max_len or x.shape[-1] != self.d_model:
            raise ValueError(f"{type(self).__name__}: expected (..., T <= {self.max_len}, "
                             f"{self.d_model}), got {tuple(x.shape)}")
        return self.dropout(x + self.pe[:T].to(x.dtype))


class TorchResidual(Module):
    """``y = x + layer(x)``."""

    def __init__(self, layer: Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return x + self.layer(x)


# The example systems of nn.models: each a shell whose children (the converted sub-layers,
# named as in nn) are assigned by to_torch; forward is the model's, in the same symbols.
class TorchTransformerClassifier(Module):
    """:class:`nn.models.transformer.TransformerClassifier`: ``forward(x, mask=None)``,
    children ``embed`` (or ``input_proj``), ``pos``, ``encoder``, ``head``."""

    embed: Any
    input_proj: Any
    pos: Any
    encoder: Any
    head: Any

    def __init__(self, pooling: str):
        super().__init__()
        self.pooling = pooling

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        e = self.embed(x) if hasattr(self, "embed") else self.input_proj(x)
        h = self.encoder(self.pos(e), mask)                     # (N, T, d)
        if self.pooling == "first":
            return self.head(h[:, 0])
        keep = torch.ones_like(h[..., 0]) if mask is None else (~mask).to(h.dtype)
        w = keep / keep.sum(1, keepdim=True).clamp_min(1)       # 1/count at unmasked t
        return self.head(torch.matmul(w[:, None, :], h)[:, 0])  # z = sum_t w_t h_t


class TorchTransformerLanguageModel(Module):
    """:class:`nn.models.transformer.TransformerLanguageModel`: logits = head(encoder(pos(
    embed(x)))), children ``embed``, ``pos``, ``encoder``, ``head``."""

    embed: Any
    pos: Any
    encoder: Any
    head: Any

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(self.pos(self.embed(x))))


class TorchRecurrentLanguageModel(Module):
    """:class:`nn.models.recurrent.RecurrentLanguageModel`: ``forward(ids, state=None)``,
    children ``embedding``, ``rnn``, ``dropout`` (when the model has one), ``output``;
    ``state`` is the recurrent layer's final state."""

    embedding: Any
    rnn: Any
    dropout: Any
    output: Any

    @property
    def state(self) -> Any:
        return self.rnn.state

    def forward(self, ids: Tensor, state: Any = None) -> Tensor:
        h = self.rnn(self.embedding(ids), state)
        if hasattr(self, "dropout"):
            h = self.dropout(h)
        return self.output(h)


class TorchTextClassifier(Module):
    """:class:`nn.models.recurrent.TextClassifier`: the embeddings' mean over the tokens
    that are not ``pad_id``, then ``out(dropout(tanh(fc(.))))``."""

    embedding: Any
    fc: Any
    tanh: Any
    dropout: Any
    out: Any

    def __init__(self, pad_id: int):
        super().__init__()
        self.pad_id = pad_id

    def forward(self, ids: Tensor) -> Tensor:
        E = self.embedding(ids)                                  # (N, T, D)
        m = (ids != self.pad_id).to(E.dtype)
        w = m / m.sum(1, keepdim=True).clamp_min(1)              # m_nt / L_n
        p = torch.matmul(w[:, None, :], E)[:, 0]                 # p_n = sum_t w_nt E_nt
        return self.out(self.dropout(self.tanh(self.fc(p))))


# ============================================================================ copying
_DTYPES: dict[np.dtype, torch.dtype] = {
    np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64}


def _torch_dtype(layer: Layer) -> torch.dtype | None:
    """The torch dtype of the layer's parameters (None for a layer without parameters)."""
    dt = layer.dtype
    return None if dt is None else _DTYPES[np.dtype(dt)]


def _numpy_dtype(module: Module) -> np.dtype | None:
    for p in module.parameters():
        for dt, tdt in _DTYPES.items():
            if p.dtype == tdt:
                return dt
        raise ValueError(f"from_torch: {type(module).__name__} has parameters of dtype "
                         f"{p.dtype}; nn supports {sorted(str(d) for d in _DTYPES)}")
    return None


def _put(module: Module, name: str, value: np.ndarray, requires_grad: bool = True) -> None:
    """Copy ``value`` into the torch parameter or buffer ``module.<name>`` (same shape)."""
    target = getattr(module, name)
    if tuple(target.shape) != value.shape:
        raise ValueError(f"to_torch: {type(module).__name__}.{name} has shape "
                         f"{tuple(target.shape)}, the nn array {value.shape}")
    with torch.no_grad():
        target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    if isinstance(target, torch.nn.Parameter):
        target.requires_grad_(requires_grad)


def _put_param(module: Module, name: str, p: Parameter | None, transpose: bool = False) -> None:
    if p is not None:
        _put(module, name, p.data.T if transpose else p.data, p.requires_grad)


def _array(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _fill(layer: Layer, name: str, value: Tensor | np.ndarray,
          requires_grad: bool | None = None) -> None:
    """Copy ``value`` into the nn parameter or buffer ``layer.<name>`` (same shape)."""
    target = getattr(layer, name)
    array = target.data if isinstance(target, Parameter) else target
    value = _array(value) if isinstance(value, Tensor) else value
    if array.shape != value.shape:
        raise ValueError(f"from_torch: {type(layer).__name__}.{name} has shape {array.shape}, "
                         f"the torch tensor {value.shape}")
    array[...] = value
    if isinstance(target, Parameter) and requires_grad is not None:
        target.requires_grad = requires_grad


def _fill_param(layer: Layer, name: str, t: Tensor | None,
                transpose: bool = False) -> None:
    if t is not None:
        _fill(layer, name, t.T if transpose else t, t.requires_grad)


def _refuse(module: Module, option: str, value: Any, supported: str) -> None:
    raise ValueError(f"from_torch: {type(module).__name__}({option}={value!r}) is not "
                     f"supported: nn supports {supported}")


def _require(module: Module, **expected: Any) -> None:
    """Refuse any option whose value is not the expected one."""
    for option, want in expected.items():
        value = getattr(module, option)
        if value != want:
            _refuse(module, option, value, f"{option}={want!r}")


class Go:
    """Converts children (``go(child, "name")``), keeps the path for error messages and
    the (nn layer, torch module) pairs whose train/eval mode is copied at the end."""

    def __init__(self, convert: Callable[[Any, Go], Any]):
        self._convert = convert
        self.path: list[str] = []
        self.pairs: list[tuple[Layer, Module]] = []

    def __call__(self, item: Any, name: str) -> Any:
        self.path.append(name)
        try:
            return self._convert(item, self)
        finally:
            self.path.pop()

    def where(self) -> str:
        return f" (at {'.'.join(self.path)!r})" if self.path else ""


# ============================================================================ families
class Family(NamedTuple):
    """One layer family: the nn class, the torch classes it maps to (the first is the one
    ``to_torch`` builds) and from, and the two conversions."""

    layer: type[Layer]
    modules: tuple[type[Module], ...]
    export: Callable[[Any, Go], Module]
    load: Callable[[Any, Go], Layer]


# ---------------------------------------------------------------- Linear, Flatten, Dropout
def _linear_export(layer: Linear, go: Go) -> Module:
    m = torch.nn.Linear(layer.in_features, layer.out_features, layer.bias is not None,
                        dtype=_torch_dtype(layer))
    _put_param(m, "weight", layer.weight, transpose=True)        # torch: (out, in)
    _put_param(m, "bias", layer.bias)
    return m


def _linear_load(m: torch.nn.Linear, go: Go) -> Layer:
    layer = Linear(m.in_features, m.out_features, m.bias is not None, dtype=_numpy_dtype(m))
    _fill_param(layer, "weight", m.weight, transpose=True)
    _fill_param(layer, "bias", m.bias)
    return layer


def _flatten_load(m: torch.nn.Flatten, go: Go) -> Layer:
    if (m.start_dim, m.end_dim) != (1, -1):
        _refuse(m, "start_dim, end_dim", (m.start_dim, m.end_dim), "(1, -1)")
    return Flatten()


# ---------------------------------------------------------------- activations
def _simple(nn_class: type[Layer], torch_class: type[Module]) -> Family:
    """A parameter-free family without options."""
    return Family(nn_class, (torch_class,), lambda layer, go: torch_class(),
                  lambda m, go: nn_class())


def _gelu_load(m: torch.nn.GELU, go: Go) -> Layer:
    _require(m, approximate="none")
    return GELU()


def _axis_load(nn_class: Callable[..., Layer]) -> Callable[[Any, Go], Layer]:
    def load(m: Any, go: Go) -> Layer:
        if m.dim is None:
            _refuse(m, "dim", None, "an explicit dim (torch's implicit choice is deprecated)")
        return nn_class(axis=m.dim)
    return load


# ---------------------------------------------------------------- convolution and pooling
def _conv2d_export(layer: Conv2d, go: Go) -> Module:
    m = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                        layer.stride, layer.padding, layer.dilation, bias=layer.bias is not None,
                        dtype=_torch_dtype(layer))
    _put_param(m, "weight", layer.weight)                        # same (out, in, kh, kw)
    _put_param(m, "bias", layer.bias)
    return m


def _conv_padding(m: Any) -> Any:
    """torch's padding as numbers: "valid" is 0; "same" is symmetric when every
    dilation*(kernel-1) is even (what nn can do), refused otherwise."""
    if m.padding == "valid":
        return 0
    if m.padding == "same":
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        if any(t % 2 for t in total) or any(s != 1 for s in m.stride):
            _refuse(m, "padding", "same", "'same' only when every dilation*(kernel_size-1) "
                    "is even (symmetric zero padding), or explicit numbers")
        return tuple(t // 2 for t in total)
    return m.padding


def _conv2d_load(m: torch.nn.Conv2d, go: Go) -> Layer:
    _require(m, groups=1, padding_mode="zeros")
    layer = Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, _conv_padding(m),
                   m.bias is not None, dtype=_numpy_dtype(m), dilation=m.dilation)
    _fill_param(layer, "weight", m.weight)
    _fill_param(layer, "bias", m.bias)
    return layer


def _pool_export(torch_class: type[Module]) -> Callable[[Any, Go], Module]:
    def export(layer: Any, go: Go) -> Module:
        return torch_class(layer.kernel_size, layer.stride, layer.padding)
    return export


def _maxpool2d_load(m: torch.nn.MaxPool2d, go: Go) -> Layer:
    _require(m, ceil_mode=False, return_indices=False)
    if m.dilation not in (1, (1, 1)):
        _refuse(m, "dilation", m.dilation, "dilation=1")
    return MaxPool2d(m.kernel_size, m.stride, m.padding)


def _avgpool2d_load(m: torch.nn.AvgPool2d, go: Go) -> Layer:
    _require(m, ceil_mode=False, count_include_pad=True, divisor_override=None)
    return AvgPool2d(m.kernel_size, m.stride, m.padding)


# ---------------------------------------------------------------- normalization, Embedding
def _batchnorm_export(torch_class: type[Any]) -> Callable[[Any, Go], Module]:
    def export(layer: Any, go: Go) -> Module:
        m = torch_class(layer.num_features, layer.eps, layer.momentum,
                        affine=layer.weight is not None,
                        dtype=_DTYPES[np.dtype(layer.running_mean.dtype)])
        _put_param(m, "weight", layer.weight)
        _put_param(m, "bias", layer.bias)
        _put(m, "running_mean", layer.running_mean)
        _put(m, "running_var", layer.running_var)
        return m
    return export


def _batchnorm_load(nn_class: type[Any]) -> Callable[[Any, Go], Layer]:
    def load(m: Any, go: Go) -> Layer:
        _require(m, track_running_stats=True)
        if m.momentum is None:
            _refuse(m, "momentum", None, "a number (an exponential moving average)")
        dtype = _numpy_dtype(m)
        if dtype is None:                                # affine=False: the buffers' dtype
            dtype = m.running_mean.detach().cpu().numpy().dtype
        layer = nn_class(m.num_features, m.eps, m.momentum, m.affine, dtype=dtype)
        _fill_param(layer, "weight", m.weight)
        _fill_param(layer, "bias", m.bias)
        _fill(layer, "running_mean", m.running_mean)
        _fill(layer, "running_var", m.running_var)
        return layer
    return load


def _layernorm_export(layer: LayerNorm, go: Go) -> Module:
    m = torch.nn.LayerNorm(layer.normalized_shape, layer.eps, layer.weight is not None,
                           bias=layer.bias is not None, dtype=_torch_dtype(layer))
    _put_param(m, "weight", layer.weight)
    _put_param(m, "bias", layer.bias)
    return m


def _layernorm_load(m: torch.nn.LayerNorm, go: Go) -> Layer:
    layer = LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine, m.bias is not None,
                      dtype=_numpy_dtype(m))
    _fill_param(layer, "weight", m.weight)
    _fill_param(layer, "bias", m.bias)
    return layer


def _embedding_export(layer: Embedding, go: Go) -> Module:
    m = torch.nn.Embedding(layer.num_embeddings, layer.embedding_dim, layer.padding_idx,
                           dtype=_torch_dtype(layer))
    _put_param(m, "weight", layer.weight)
    return m


def _embedding_load(m: torch.nn.Embedding, go: Go) -> Layer:
    _require(m, max_norm=None, scale_grad_by_freq=False, sparse=False)
    layer = Embedding(m.num_embeddings, m.embedding_dim, padding_idx=m.padding_idx,
                      dtype=_numpy_dtype(m))
    _fill_param(layer, "weight", m.weight)
    return layer


# ---------------------------------------------------------------- recurrent
# nn: weight_ih (I, G*H), weight_hh (H, G*H), gate blocks in torch's order (LSTM i f g o,
# GRU r z n); torch: weight_ih_l0 (G*H, I), weight_hh_l0 (G*H, H). RNN and LSTM have one
# bias (b_ih + b_hh), GRU two (b_hn sits inside r * (...)).
_RECURRENT: dict[type[Layer], type[Module]] = {RNN: TorchRNN, LSTM: TorchLSTM, GRU: TorchGRU}


def _recurrent_export(layer: Any, go: Go) -> Module:
    extra = {"nonlinearity": layer.nonlinearity} if isinstance(layer, RNN) else {}
    m = _RECURRENT[type(layer)](layer.input_size, layer.hidden_size, batch_first=True,
                                dtype=_torch_dtype(layer), **extra)
    m.return_sequences = layer.return_sequences
    _put_param(m, "weight_ih_l0", layer.weight_ih, transpose=True)
    _put_param(m, "weight_hh_l0", layer.weight_hh, transpose=True)
    if isinstance(layer, GRU):
        for name in ("bias_ih", "bias_hh"):
            _put_param(m, f"{name}_l0", getattr(layer, name))
    else:                                                # one bias: b_ih = bias, b_hh = 0
        _put_param(m, "bias_ih_l0", layer.bias)
        _put(m, "bias_hh_l0", np.zeros_like(layer.bias.data), layer.bias.requires_grad)
    return m


def _recurrent_load(nn_class: type[Any]) -> Callable[[Any, Go], Layer]:
    def load(m: Any, go: Go) -> Layer:
        _require(m, num_layers=1, bidirectional=False, batch_first=True, bias=True)
        if getattr(m, "proj_size", 0):
            _refuse(m, "proj_size", m.proj_size, "proj_size=0")
        extra = {"nonlinearity": m.nonlinearity} if nn_class is RNN else {}
        layer = nn_class(m.input_size, m.hidden_size, return_sequences=getattr(
            m, "return_sequences", True), dtype=_numpy_dtype(m), **extra)
        _fill_param(layer, "weight_ih", m.weight_ih_l0, transpose=True)
        _fill_param(layer, "weight_hh", m.weight_hh_l0, transpose=True)
        if nn_class is GRU:
            _fill_param(layer, "bias_ih", m.bias_ih_l0)
            _fill_param(layer, "bias_hh", m.bias_hh_l0)
        else:                                            # bias = b_ih + b_hh
            _fill(layer, "bias", m.bias_ih_l0 + m.bias_hh_l0, m.bias_ih_l0.requires_grad)
        return layer
    return load


# ---------------------------------------------------------------- attention
# nn: q_proj, k_proj, v_proj, out_proj, each Linear(E, E) with weight (in, out); torch:
# in_proj_weight (3E, E) = [W_q^T; W_k^T; W_v^T], in_proj_bias (3E,) = [b_q, b_k, b_v],
# out_proj a Linear with weight W_o^T.
def _mha_export(layer: MultiHeadAttention, go: Go) -> Module:
    bias = layer.q_proj.bias is not None
    m = TorchMultiheadAttention(layer.embed_dim, layer.num_heads, layer.dropout, bias,
                                batch_first=True, dtype=_torch_dtype(layer))
    m.causal = layer.causal
    projections = (layer.q_proj, layer.k_proj, layer.v_proj)
    _put(m, "in_proj_weight", np.concatenate([p.weight.data.T for p in projections]),
         layer.q_proj.weight.requires_grad)
    if bias:
        biases = [p.bias for p in projections if p.bias is not None]
        _put(m, "in_proj_bias", np.concatenate([b.data for b in biases]),
             biases[0].requires_grad)
    _put_param(m.out_proj, "weight", layer.out_proj.weight, transpose=True)
    _put_param(m.out_proj, "bias", layer.out_proj.bias)
    return m


def _mha_load(m: torch.nn.MultiheadAttention, go: Go) -> Layer:
    _require(m, batch_first=True, add_zero_attn=False, kdim=m.embed_dim, vdim=m.embed_dim)
    if m.bias_k is not None:
        _refuse(m, "add_bias_kv", True, "add_bias_kv=False")
    bias = m.in_proj_bias is not None
    if (m.out_proj.bias is not None) != bias:
        raise ValueError(f"from_torch: {type(m).__name__} has a bias in one projection only; "
                         "nn's bias covers all four")
    layer = MultiHeadAttention(m.embed_dim, m.num_heads, bias, getattr(m, "causal", False),
                               dropout=m.dropout, dtype=_numpy_dtype(m))
    E = m.embed_dim
    for k, proj in enumerate((layer.q_proj, layer.k_proj, layer.v_proj)):
        w = m.in_proj_weight
        _fill(proj, "weight", w[k * E:(k + 1) * E].T, w.requires_grad)
        if m.in_proj_bias is not None:
            b = m.in_proj_bias
            _fill(proj, "bias", b[k * E:(k + 1) * E], b.requires_grad)
    _fill_param(layer.out_proj, "weight", m.out_proj.weight, transpose=True)
    _fill_param(layer.out_proj, "bias", m.out_proj.bias)
    return layer


def _pe_export(layer: PositionalEncoding, go: Go) -> Module:
    return TorchPositionalEncoding(layer.table(np.float64), layer.dropout.p)


def _pe_load(m: TorchPositionalEncoding, go: Go) -> Layer:
    return PositionalEncoding(m.d_model, m.max_len, dropout=m.dropout.p)


# ---------------------------------------------------------------- transformer
def _activation_export(activation: Layer, go: Go) -> Any:
    """"relu" / "gelu" for torch's fused choices, else the converted layer."""
    if type(activation) is ReLU:
        return "relu"
    if type(activation) is GELU:
        return "gelu"
    return go(activation, "activation")


def _activation_load(activation: Any, go: Go) -> Layer:
    if activation is TF.relu:
        return ReLU()
    if activation is TF.gelu:
        return GELU()
    if isinstance(activation, Module):
        return go(activation, "activation")
    raise TypeError(f"from_torch: TransformerEncoderLayer activation {activation!r} is not "
                    "supported: relu, gelu or a supported module")


_ENCODER_PARTS = ("linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2")


def _encoder_layer_export(layer: TransformerEncoderLayer, go: Go) -> Module:
    sa = layer.self_attn
    m = TorchTransformerEncoderLayer(
        layer.d_model, sa.num_heads, layer.linear1.out_features, layer.dropout.p,
        _activation_export(layer.activation, go), layer.norm1.eps, batch_first=True,
        norm_first=layer.norm_first, bias=layer.linear1.bias is not None,
        dtype=_torch_dtype(layer))
    m.self_attn = go(sa, "self_attn")
    for name in _ENCODER_PARTS:
        setattr(m, name, go(getattr(layer, name), name))
    return m


def _encoder_layer_load(m: torch.nn.TransformerEncoderLayer, go: Go) -> Layer:
    sa = go(m.self_attn, "self_attn")               # refuses batch_first=False, ...
    layer = TransformerEncoderLayer(
        m.linear1.in_features, sa.num_heads, m.linear1.out_features, m.dropout.p,
        sa.causal, m.norm_first, activation=_activation_load(m.activation, go),
        layer_norm_eps=m.norm1.eps, bias=m.linear1.bias is not None, dtype=_numpy_dtype(m))
    layer.self_attn = sa
    for name in _ENCODER_PARTS:
        setattr(layer, name, go(getattr(m, name), name))
    return layer


def _encoder_export(layer: TransformerEncoder, go: Go) -> Module:
    layers = [go(child, f"layers.{i}") for i, child in enumerate(layer.layers)]
    norm = None if layer.norm is None else go(layer.norm, "norm")
    m = TorchTransformerEncoder(layers[0], len(layers), norm, enable_nested_tensor=False)
    m.layers = torch.nn.ModuleList(layers)                 # the converted ones, not copies
    return m


def _encoder_load(m: torch.nn.TransformerEncoder, go: Go) -> Layer:
    layers = iter([go(child, f"layers.{i}") for i, child in enumerate(m.layers)])
    norm = None if m.norm is None else go(m.norm, "norm")
    return TransformerEncoder(lambda: next(layers), len(m.layers), norm)


# ---------------------------------------------------------------- containers
def _sequential_export(layer: Sequential, go: Go) -> Module:
    return torch.nn.Sequential(*(go(child, str(i)) for i, child in enumerate(layer)))


def _sequential_load(m: torch.nn.Sequential, go: Go) -> Layer:
    return Sequential(*(go(child, name) for name, child in m.named_children()))


def _residual_export(layer: Residual, go: Go) -> Module:
    return TorchResidual(go(layer.layer, "layer"))


def _residual_load(m: TorchResidual, go: Go) -> Layer:
    return Residual(go(m.layer, "layer"))


# ---------------------------------------------------------------- nn.models
# A model comes over child by child: the shell's children are the converted sub-layers
# (same names); from_torch builds the nn model with the same sizes, then puts the
# converted children in place of the fresh ones.
_MODEL_CHILDREN = ("embed", "input_proj", "embedding", "pos", "encoder", "rnn", "fc",
                   "tanh", "dropout", "head", "output", "out")


def _children_over(source: Any, target: Any, go: Go) -> Any:
    """Convert every child of ``source`` named in _MODEL_CHILDREN into ``target``."""
    for name in _MODEL_CHILDREN:
        child = getattr(source, name, None)
        if isinstance(child, (Layer, Module)):
            setattr(target, name, go(child, name))
    return target


def _shell_export(make: Callable[[Any], Module]) -> Callable[[Any, Go], Module]:
    return lambda layer, go: _children_over(layer, make(layer), go)


def _transformer_classifier_load(m: Any, go: Go) -> Layer:
    inp = m.embed if hasattr(m, "embed") else m.input_proj
    sizes = ({"vocab_size": inp.num_embeddings} if hasattr(m, "embed")
             else {"in_features": inp.in_features})
    d = m.head.in_features
    shell = TransformerClassifier(m.head.out_features, d_model=d, nhead=1, num_layers=1,
                                  dim_feedforward=1, max_len=m.pos.max_len,
                                  pooling=m.pooling, dtype=_numpy_dtype(m), **sizes)
    return _children_over(m, shell, go)


def _transformer_lm_load(m: Any, go: Go) -> Layer:
    shell = TransformerLanguageModel(m.head.out_features, d_model=m.head.in_features, nhead=1,
                                     num_layers=1, dim_feedforward=1, max_len=m.pos.max_len,
                                     dtype=_numpy_dtype(m))
    return _children_over(m, shell, go)


def _recurrent_lm_load(m: Any, go: Go) -> Layer:
    cell = {TorchLSTM: "lstm", TorchGRU: "gru", TorchRNN: "rnn"}.get(type(m.rnn), "lstm")
    dropout = m.dropout.p if hasattr(m, "dropout") else 0.0
    shell = RecurrentLanguageModel(m.output.out_features, m.rnn.input_size,
                                   m.rnn.hidden_size, cell=cell, dropout=dropout,
                                   dtype=_numpy_dtype(m))
    return _children_over(m, shell, go)


def _text_classifier_load(m: Any, go: Go) -> Layer:
    shell = TextClassifier(m.embedding.num_embeddings, m.embedding.embedding_dim,
                           m.fc.out_features, m.out.out_features, dropout=m.dropout.p,
                           pad_id=m.pad_id, dtype=_numpy_dtype(m))
    return _children_over(m, shell, go)


# ---------------------------------------------------------------- the registry
FAMILIES: list[Family] = [
    Family(Linear, (torch.nn.Linear,), _linear_export, _linear_load),
    Family(Flatten, (torch.nn.Flatten,), lambda layer, go: torch.nn.Flatten(), _flatten_load),
    Family(Dropout, (torch.nn.Dropout,), lambda layer, go: torch.nn.Dropout(layer.p),
           lambda m, go: Dropout(m.p)),
    _simple(ReLU, torch.nn.ReLU),
    _simple(Sigmoid, torch.nn.Sigmoid),
    _simple(Tanh, torch.nn.Tanh),
    Family(GELU, (torch.nn.GELU,), lambda layer, go: torch.nn.GELU(), _gelu_load),
    Family(LeakyReLU, (torch.nn.LeakyReLU,),
           lambda layer, go: torch.nn.LeakyReLU(layer.negative_slope),
           lambda m, go: LeakyReLU(m.negative_slope)),
    Family(Softmax, (torch.nn.Softmax,), lambda layer, go: torch.nn.Softmax(layer.axis),
           _axis_load(Softmax)),
    Family(LogSoftmax, (torch.nn.LogSoftmax,), lambda layer, go: torch.nn.LogSoftmax(layer.axis),
           _axis_load(LogSoftmax)),
    Family(Conv2d, (torch.nn.Conv2d,), _conv2d_export, _conv2d_load),
    Family(MaxPool2d, (torch.nn.MaxPool2d,), _pool_export(torch.nn.MaxPool2d), _maxpool2d_load),
    Family(AvgPool2d, (torch.nn.AvgPool2d,), _pool_export(torch.nn.AvgPool2d), _avgpool2d_load),
    Family(BatchNorm1d, (torch.nn.BatchNorm1d,), _batchnorm_export(torch.nn.BatchNorm1d),
           _batchnorm_load(BatchNorm1d)),
    Family(BatchNorm2d, (torch.nn.BatchNorm2d,), _batchnorm_export(torch.nn.BatchNorm2d),
           _batchnorm_load(BatchNorm2d)),
    Family(LayerNorm, (torch.nn.LayerNorm,), _layernorm_export, _layernorm_load),
    Family(Embedding, (torch.nn.Embedding,), _embedding_export, _embedding_load),
    Family(RNN, (TorchRNN, torch.nn.RNN), _recurrent_export, _recurrent_load(RNN)),
    Family(LSTM, (TorchLSTM, torch.nn.LSTM), _recurrent_export, _recurrent_load(LSTM)),
    Family(GRU, (TorchGRU, torch.nn.GRU), _recurrent_export, _recurrent_load(GRU)),
    Family(MultiHeadAttention, (TorchMultiheadAttention, torch.nn.MultiheadAttention),
           _mha_export, _mha_load),
    Family(PositionalEncoding, (TorchPositionalEncoding,), _pe_export, _pe_load),
    Family(TransformerEncoderLayer,
           (TorchTransformerEncoderLayer, torch.nn.TransformerEncoderLayer),
           _encoder_layer_export, _encoder_layer_load),
    Family(TransformerEncoder, (TorchTransformerEncoder, torch.nn.TransformerEncoder),
           _encoder_export, _encoder_load),
    Family(Sequential, (torch.nn.Sequential,), _sequential_export, _sequential_load),
    Family(Residual, (TorchResidual,), _residual_export, _residual_load),
    Family(TransformerClassifier, (TorchTransformerClassifier,),
           _shell_export(lambda layer: TorchTransformerClassifier(layer.pooling)),
           _transformer_classifier_load),
    Family(TransformerLanguageModel, (TorchTransformerLanguageModel,),
           _shell_export(lambda layer: TorchTransformerLanguageModel()), _transformer_lm_load),
    Family(RecurrentLanguageModel, (TorchRecurrentLanguageModel,),
           _shell_export(lambda layer: TorchRecurrentLanguageModel()), _recurrent_lm_load),
    Family(TextClassifier, (TorchTextClassifier,),
           _shell_export(lambda layer: TorchTextClassifier(layer.pad_id)), _text_classifier_load),
]


def _supported(names: list[str]) -> str:
    """The names, torch's own classes (``torch.nn.X``) first, each group sorted."""
    return ", ".join(sorted(set(names), key=lambda n: (not n.startswith("torch."), n)))


# ============================================================================ entry points
def _export_one(layer: Any, go: Go) -> Module:
    families = {f.layer: f for f in FAMILIES}
    family = families.get(type(layer))
    if family is None:
        raise TypeError(
            f"to_torch: {type(layer).__name__} has no PyTorch mapping{go.where()}; "
            f"supported nn layers: {_supported([f.layer.__name__ for f in families.values()])}")
    module = family.export(layer, go)
    go.pairs.append((layer, module))
    return module


def _torch_name(cls: type) -> str:
    """``torch.nn.LSTM`` for torch's classes, ``TorchLSTM`` for this module's."""
    return f"torch.nn.{cls.__name__}" if cls.__module__.startswith("torch.") else cls.__name__


class UnsupportedOption(ValueError):
    """An unsupported option, its message naming the module, the option and where it is."""


def _load_one(module: Any, go: Go) -> Layer:
    families = {m: f for f in FAMILIES for m in f.modules}
    family = families.get(type(module))
    if family is None:
        raise TypeError(
            f"from_torch: {_torch_name(type(module))} is not supported{go.where()}; supported "
            f"torch modules: {_supported([_torch_name(m) for m in families])}")
    try:
        layer = family.load(module, go)
    except UnsupportedOption:
        raise
    except ValueError as exc:                   # the innermost module names where it sits
        raise UnsupportedOption(f"{exc}{go.where()}") from exc
    go.pairs.append((layer, module))
    return layer


def to_torch(model: Layer) -> Module:
    if not isinstance(model, Layer):
        raise TypeError(f"to_torch: expected an nn.Layer, got {type(model).__name__}")
    go = Go(_export_one)
    module = _export_one(model, go)
    for layer, m in reversed(go.pairs):         # parents before children: each keeps its mode
        m.train(layer.training)
    return module


def from_torch(module: Module) -> Layer:
    if not isinstance(module, Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    if isinstance(module, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        module = module.module                  # the model inside the (data-parallel) wrapper
    go = Go(_load_one)
    layer = _load_one(module, go)
    for lay, m in reversed(go.pairs):
        lay.train(m.training)
    return layer
