"""One small mapping per layer family: ``export(layer, go)`` builds the torch module,
``load(module, go)`` the nn layer, and :data:`FAMILIES` lists them. A new family (Conv1d,
the 1-D pools) is one more pair of functions and one more ``Family`` line. The layouts
that differ are written next to their mapping and in docs/interop.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as TF

from ...layer import Layer
from ...layers import (
    GELU,
    GRU,
    LSTM,
    RNN,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool1d,
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
from .common import (
    DTYPES,
    Family,
    Go,
    Module,
    fill,
    fill_param,
    numpy_dtype,
    put,
    put_param,
    refuse,
    require,
    torch_dtype,
)
from .modules import (
    TorchGRU,
    TorchLSTM,
    TorchMultiheadAttention,
    TorchPositionalEncoding,
    TorchResidual,
    TorchRNN,
    TorchTransformerEncoder,
    TorchTransformerEncoderLayer,
)


# ---------------------------------------------------------------- Linear, Flatten, Dropout
def _linear_export(layer: Linear, go: Go) -> Module:
    m = torch.nn.Linear(layer.in_features, layer.out_features, layer.bias is not None,
                        dtype=torch_dtype(layer))
    put_param(m, "weight", layer.weight, transpose=True)        # torch: (out, in)
    put_param(m, "bias", layer.bias)
    return m


def _linear_load(m: torch.nn.Linear, go: Go) -> Layer:
    layer = Linear(m.in_features, m.out_features, m.bias is not None, dtype=numpy_dtype(m))
    fill_param(layer, "weight", m.weight, transpose=True)
    fill_param(layer, "bias", m.bias)
    return layer


def _flatten_load(m: torch.nn.Flatten, go: Go) -> Layer:
    if (m.start_dim, m.end_dim) != (1, -1):
        refuse(m, "start_dim, end_dim", (m.start_dim, m.end_dim), "(1, -1)")
    return Flatten()


# ---------------------------------------------------------------- activations
def _simple(nn_class: type[Layer], torch_class: type[Module]) -> Family:
    """A parameter-free family without options."""
    return Family(nn_class, (torch_class,), lambda layer, go: torch_class(),
                  lambda m, go: nn_class())


def _gelu_load(m: torch.nn.GELU, go: Go) -> Layer:
    require(m, approximate="none")
    return GELU()


def _axis_load(nn_class: Callable[..., Layer]) -> Callable[[Any, Go], Layer]:
    def load(m: Any, go: Go) -> Layer:
        if m.dim is None:
            refuse(m, "dim", None, "an explicit dim (torch's implicit choice is deprecated)")
        return nn_class(axis=m.dim)
    return load


# ---------------------------------------------------------------- convolution and pooling
def _conv_export(torch_class: type[Any]) -> Callable[[Any, Go], Module]:
    """Conv2d -> torch.nn.Conv2d, Conv1d -> torch.nn.Conv1d: the same arguments and the
    same weight layout, (out, in, *kernel)."""
    def export(layer: Conv1d | Conv2d, go: Go) -> Module:
        m = torch_class(layer.in_channels, layer.out_channels, layer.kernel_size,
                        layer.stride, layer.padding, layer.dilation,
                        bias=layer.bias is not None, dtype=torch_dtype(layer))
        put_param(m, "weight", layer.weight)                    # same (out, in, *kernel)
        put_param(m, "bias", layer.bias)
        return m
    return export


def _conv_padding(m: Any) -> Any:
    """torch's padding as numbers: "valid" is 0; "same" is symmetric when every
    dilation*(kernel-1) is even (what nn can do), refused otherwise."""
    if m.padding == "valid":
        return 0
    if m.padding == "same":
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        if any(t % 2 for t in total) or any(s != 1 for s in m.stride):
            refuse(m, "padding", "same", "'same' only when every dilation*(kernel_size-1) "
                    "is even (symmetric zero padding), or explicit numbers")
        return tuple(t // 2 for t in total)
    return m.padding


def _conv_load(nn_class: type[Conv1d] | type[Conv2d]) -> Callable[[Any, Go], Layer]:
    def load(m: Any, go: Go) -> Layer:
        require(m, groups=1, padding_mode="zeros")
        layer = nn_class(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                         _conv_padding(m), m.bias is not None, dtype=numpy_dtype(m),
                         dilation=m.dilation)
        fill_param(layer, "weight", m.weight)
        fill_param(layer, "bias", m.bias)
        return layer
    return load


def _pool_export(torch_class: type[Module]) -> Callable[[Any, Go], Module]:
    def export(layer: Any, go: Go) -> Module:
        return torch_class(layer.kernel_size, layer.stride, layer.padding)
    return export


def _maxpool_load(nn_class: type[MaxPool1d] | type[MaxPool2d]) -> Callable[[Any, Go], Layer]:
    def load(m: Any, go: Go) -> Layer:
        require(m, ceil_mode=False, return_indices=False)
        if m.dilation not in (1, (1,), (1, 1)):
            refuse(m, "dilation", m.dilation, "dilation=1")
        return nn_class(m.kernel_size, m.stride, m.padding)
    return load


def _avgpool_load(nn_class: type[AvgPool1d] | type[AvgPool2d]) -> Callable[[Any, Go], Layer]:
    def load(m: Any, go: Go) -> Layer:
        require(m, ceil_mode=False, count_include_pad=True,
                **({"divisor_override": None} if hasattr(m, "divisor_override") else {}))
        return nn_class(m.kernel_size, m.stride, m.padding)
    return load


# ---------------------------------------------------------------- normalization, Embedding
def _batchnorm_export(torch_class: type[Any]) -> Callable[[Any, Go], Module]:
    def export(layer: Any, go: Go) -> Module:
        m = torch_class(layer.num_features, layer.eps, layer.momentum,
                        affine=layer.weight is not None,
                        dtype=DTYPES[np.dtype(layer.running_mean.dtype)])
        put_param(m, "weight", layer.weight)
        put_param(m, "bias", layer.bias)
        put(m, "running_mean", layer.running_mean)
        put(m, "running_var", layer.running_var)
        return m
    return export


def _batchnorm_load(nn_class: type[Any]) -> Callable[[Any, Go], Layer]:
    def load(m: Any, go: Go) -> Layer:
        require(m, track_running_stats=True)
        if m.momentum is None:
            refuse(m, "momentum", None, "a number (an exponential moving average)")
        dtype = numpy_dtype(m)
        if dtype is None:                                # affine=False: the buffers' dtype
            dtype = m.running_mean.detach().cpu().numpy().dtype
        layer = nn_class(m.num_features, m.eps, m.momentum, m.affine, dtype=dtype)
        fill_param(layer, "weight", m.weight)
        fill_param(layer, "bias", m.bias)
        fill(layer, "running_mean", m.running_mean)
        fill(layer, "running_var", m.running_var)
        return layer
    return load


def _layernorm_export(layer: LayerNorm, go: Go) -> Module:
    m = torch.nn.LayerNorm(layer.normalized_shape, layer.eps, layer.weight is not None,
                           bias=layer.bias is not None, dtype=torch_dtype(layer))
    put_param(m, "weight", layer.weight)
    put_param(m, "bias", layer.bias)
    return m


def _layernorm_load(m: torch.nn.LayerNorm, go: Go) -> Layer:
    layer = LayerNorm(m.normalized_shape, m.eps, m.elementwise_affine, m.bias is not None,
                      dtype=numpy_dtype(m))
    fill_param(layer, "weight", m.weight)
    fill_param(layer, "bias", m.bias)
    return layer


def _embedding_export(layer: Embedding, go: Go) -> Module:
    m = torch.nn.Embedding(layer.num_embeddings, layer.embedding_dim, layer.padding_idx,
                           dtype=torch_dtype(layer))
    put_param(m, "weight", layer.weight)
    return m


def _embedding_load(m: torch.nn.Embedding, go: Go) -> Layer:
    require(m, max_norm=None, scale_grad_by_freq=False, sparse=False)
    layer = Embedding(m.num_embeddings, m.embedding_dim, padding_idx=m.padding_idx,
                      dtype=numpy_dtype(m))
    fill_param(layer, "weight", m.weight)
    return layer


# ---------------------------------------------------------------- recurrent
# nn: weight_ih (I, G*H), weight_hh (H, G*H), gate blocks in torch's order (LSTM i f g o,
# GRU r z n); torch: weight_ih_l0 (G*H, I), weight_hh_l0 (G*H, H). RNN and LSTM have one
# bias (b_ih + b_hh), GRU two (b_hn sits inside r * (...)).
_RECURRENT: dict[type[Layer], type[Module]] = {RNN: TorchRNN, LSTM: TorchLSTM, GRU: TorchGRU}


def _recurrent_export(layer: Any, go: Go) -> Module:
    extra = {"nonlinearity": layer.nonlinearity} if isinstance(layer, RNN) else {}
    m = _RECURRENT[type(layer)](layer.input_size, layer.hidden_size, batch_first=True,
                                dtype=torch_dtype(layer), **extra)
    m.return_sequences = layer.return_sequences
    put_param(m, "weight_ih_l0", layer.weight_ih, transpose=True)
    put_param(m, "weight_hh_l0", layer.weight_hh, transpose=True)
    if isinstance(layer, GRU):
        for name in ("bias_ih", "bias_hh"):
            put_param(m, f"{name}_l0", getattr(layer, name))
    else:                                                # one bias: b_ih = bias, b_hh = 0
        put_param(m, "bias_ih_l0", layer.bias)
        put(m, "bias_hh_l0", np.zeros_like(layer.bias.data), layer.bias.requires_grad)
    return m


def _recurrent_load(nn_class: type[Any]) -> Callable[[Any, Go], Layer]:
    def load(m: Any, go: Go) -> Layer:
        require(m, num_layers=1, bidirectional=False, batch_first=True, bias=True)
        if getattr(m, "proj_size", 0):
            refuse(m, "proj_size", m.proj_size, "proj_size=0")
        extra = {"nonlinearity": m.nonlinearity} if nn_class is RNN else {}
        layer = nn_class(m.input_size, m.hidden_size, return_sequences=getattr(
            m, "return_sequences", True), dtype=numpy_dtype(m), **extra)
        fill_param(layer, "weight_ih", m.weight_ih_l0, transpose=True)
        fill_param(layer, "weight_hh", m.weight_hh_l0, transpose=True)
        if nn_class is GRU:
            fill_param(layer, "bias_ih", m.bias_ih_l0)
            fill_param(layer, "bias_hh", m.bias_hh_l0)
        else:                                            # bias = b_ih + b_hh
            fill(layer, "bias", m.bias_ih_l0 + m.bias_hh_l0, m.bias_ih_l0.requires_grad)
        return layer
    return load


# ---------------------------------------------------------------- attention
# nn: q_proj, k_proj, v_proj, out_proj, each Linear(E, E) with weight (in, out); torch:
# in_proj_weight (3E, E) = [W_q^T; W_k^T; W_v^T], in_proj_bias (3E,) = [b_q, b_k, b_v],
# out_proj a Linear with weight W_o^T.
def _mha_export(layer: MultiHeadAttention, go: Go) -> Module:
    bias = layer.q_proj.bias is not None
    m = TorchMultiheadAttention(layer.embed_dim, layer.num_heads, layer.dropout, bias,
                                batch_first=True, dtype=torch_dtype(layer))
    m.causal = layer.causal
    projections = (layer.q_proj, layer.k_proj, layer.v_proj)
    put(m, "in_proj_weight", np.concatenate([p.weight.data.T for p in projections]),
        layer.q_proj.weight.requires_grad)
    if bias:
        biases = [p.bias for p in projections if p.bias is not None]
        put(m, "in_proj_bias", np.concatenate([b.data for b in biases]),
            biases[0].requires_grad)
    put_param(m.out_proj, "weight", layer.out_proj.weight, transpose=True)
    put_param(m.out_proj, "bias", layer.out_proj.bias)
    return m


def _mha_load(m: torch.nn.MultiheadAttention, go: Go) -> Layer:
    require(m, batch_first=True, add_zero_attn=False, kdim=m.embed_dim, vdim=m.embed_dim)
    if m.bias_k is not None:
        refuse(m, "add_bias_kv", True, "add_bias_kv=False")
    bias = m.in_proj_bias is not None
    if (m.out_proj.bias is not None) != bias:
        raise ValueError(f"from_torch: {type(m).__name__} has a bias in one projection only; "
                         "nn's bias covers all four")
    layer = MultiHeadAttention(m.embed_dim, m.num_heads, bias, getattr(m, "causal", False),
                               dropout=m.dropout, dtype=numpy_dtype(m))
    E = m.embed_dim
    for k, proj in enumerate((layer.q_proj, layer.k_proj, layer.v_proj)):
        w = m.in_proj_weight
        fill(proj, "weight", w[k * E:(k + 1) * E].T, w.requires_grad)
        if m.in_proj_bias is not None:
            b = m.in_proj_bias
            fill(proj, "bias", b[k * E:(k + 1) * E], b.requires_grad)
    fill_param(layer.out_proj, "weight", m.out_proj.weight, transpose=True)
    fill_param(layer.out_proj, "bias", m.out_proj.bias)
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
        dtype=torch_dtype(layer))
    m.self_attn = go(sa, "self_attn")
    for name in _ENCODER_PARTS:
        setattr(m, name, go(getattr(layer, name), name))
    return m


def _encoder_layer_load(m: torch.nn.TransformerEncoderLayer, go: Go) -> Layer:
    sa = go(m.self_attn, "self_attn")               # refuses batch_first=False, ...
    layer = TransformerEncoderLayer(
        m.linear1.in_features, sa.num_heads, m.linear1.out_features, m.dropout.p,
        sa.causal, m.norm_first, activation=_activation_load(m.activation, go),
        layer_norm_eps=m.norm1.eps, bias=m.linear1.bias is not None, dtype=numpy_dtype(m))
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


# the layer families (the nn.models ones are in models.FAMILIES)
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
    Family(Conv2d, (torch.nn.Conv2d,), _conv_export(torch.nn.Conv2d), _conv_load(Conv2d)),
    Family(MaxPool2d, (torch.nn.MaxPool2d,), _pool_export(torch.nn.MaxPool2d),
           _maxpool_load(MaxPool2d)),
    Family(AvgPool2d, (torch.nn.AvgPool2d,), _pool_export(torch.nn.AvgPool2d),
           _avgpool_load(AvgPool2d)),
    Family(Conv1d, (torch.nn.Conv1d,), _conv_export(torch.nn.Conv1d), _conv_load(Conv1d)),
    Family(MaxPool1d, (torch.nn.MaxPool1d,), _pool_export(torch.nn.MaxPool1d),
           _maxpool_load(MaxPool1d)),
    Family(AvgPool1d, (torch.nn.AvgPool1d,), _pool_export(torch.nn.AvgPool1d),
           _avgpool_load(AvgPool1d)),
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
]
