"""ONNX converters of the feed-forward families: one small function per layer family.

Each writes the layer's eval-mode forward as ONNX operators, in the layer's own symbols
(see :mod:`nn.interop._onnx_graph` for the converter protocol). Weight layouts: ``nn``
stores ``Linear.weight`` as (in, out), so ``y = x W`` is ONNX ``MatMul(x, W)`` with the
weight as stored; ``Conv2d.weight`` (out, in, kh, kw) is already ONNX's ``Conv`` layout.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from onnx import TensorProto

from ..layers import (
    GELU,
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
    PositionalEncoding,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from ._onnx_graph import FLOAT, Graph, converts

# ---------------------------------------------------------------------------- dense


@converts(Linear)
def linear(g: Graph, layer: Linear, x: str, ex: np.ndarray) -> str:
    y = g.op("MatMul", x, g.const(layer.weight.data, "weight"))        # y = x W
    if layer.bias is not None:
        y = g.op("Add", y, g.const(layer.bias.data, "bias"))           #     + b
    return y


@converts(Flatten)
def flatten(g: Graph, layer: Flatten, x: str, ex: np.ndarray) -> str:
    return g.op("Flatten", x, axis=1)                                  # (N, d1 d2 ...)


@converts(Dropout)
def dropout(g: Graph, layer: Dropout, x: str, ex: np.ndarray) -> str:
    return g.op("Identity", x)                                         # eval: y = x


# ---------------------------------------------------------------------------- activations


@converts(ReLU)
def relu(g: Graph, layer: ReLU, x: str, ex: np.ndarray) -> str:
    return g.op("Relu", x)                                             # max(x, 0)


@converts(LeakyReLU)
def leaky_relu(g: Graph, layer: LeakyReLU, x: str, ex: np.ndarray) -> str:
    return g.op("LeakyRelu", x, alpha=layer.negative_slope)            # x if x > 0 else a x


@converts(Sigmoid)
def sigmoid(g: Graph, layer: Sigmoid, x: str, ex: np.ndarray) -> str:
    return g.op("Sigmoid", x)


@converts(Tanh)
def tanh(g: Graph, layer: Tanh, x: str, ex: np.ndarray) -> str:
    return g.op("Tanh", x)


@converts(GELU)
def gelu(g: Graph, layer: GELU, x: str, ex: np.ndarray) -> str:
    # Phi = (1 + erf(x / sqrt 2)) / 2;  y = x Phi  (ONNX's Gelu operator needs opset 20)
    erf = g.op("Erf", g.op("Div", x, g.const(math.sqrt(2.0), "sqrt2")))
    Phi = g.op("Mul", g.op("Add", erf, g.const(1.0, "one")), g.const(0.5, "half"))
    return g.op("Mul", x, Phi)


@converts(Softmax)
def softmax(g: Graph, layer: Softmax, x: str, ex: np.ndarray) -> str:
    return g.op("Softmax", x, axis=layer.axis)


@converts(LogSoftmax)
def log_softmax(g: Graph, layer: LogSoftmax, x: str, ex: np.ndarray) -> str:
    return g.op("LogSoftmax", x, axis=layer.axis)


# ---------------------------------------------------------------------------- conv, pooling
# One converter per family for every number of spatial axes n (Conv2d: n = 2; Conv1d: n = 1).
# ONNX writes pads as [begin of each axis..., end of each axis...].


def per_axis(value: int | tuple[int, ...], n: int) -> list[int]:
    """A window option (an int, or one int per axis) as a list of n ints."""
    return [int(value)] * n if isinstance(value, (int, np.integer)) else [int(v) for v in value]


def window(layer: Any, n: int) -> dict[str, list[int]]:
    """kernel_shape, strides and pads of a convolution or pooling layer over n axes."""
    pads = per_axis(layer.padding, n)
    return dict(kernel_shape=per_axis(layer.kernel_size, n), strides=per_axis(layer.stride, n),
                pads=pads + pads)


@converts(Conv2d, Conv1d)
def conv(g: Graph, layer: Any, x: str, ex: np.ndarray) -> str:
    # y[n, o, i...] = b[o] + sum_{c, a...} W[o, c, a...] x_pad[n, c, i s + a d ...]
    n = layer.weight.data.ndim - 2
    inputs = [x, g.const(layer.weight.data, "weight")]        # (out, in, k...): ONNX's layout
    if layer.bias is not None:
        inputs.append(g.const(layer.bias.data, "bias"))
    return g.op("Conv", *inputs, **window(layer, n), dilations=per_axis(layer.dilation, n))


@converts(MaxPool2d, MaxPool1d)
def max_pool(g: Graph, layer: Any, x: str, ex: np.ndarray) -> str:
    return g.op("MaxPool", x, **window(layer, ex.ndim - 2))   # padding never wins a window


@converts(AvgPool2d, AvgPool1d)
def avg_pool(g: Graph, layer: Any, x: str, ex: np.ndarray) -> str:
    # the zero padding counts in the divisor prod(kernel) (PyTorch's count_include_pad=True)
    return g.op("AveragePool", x, **window(layer, ex.ndim - 2), count_include_pad=1)


# ---------------------------------------------------------------------------- normalisation


@converts(BatchNorm1d, BatchNorm2d)
def batch_norm(g: Graph, layer: BatchNorm1d | BatchNorm2d, x: str, ex: np.ndarray) -> str:
    # eval: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta, per channel
    state, C = layer.state_dict(), layer.num_features
    gamma = state["weight"] if layer.weight is not None else np.ones(C)
    beta = state["bias"] if layer.bias is not None else np.zeros(C)
    return g.op("BatchNormalization", x, g.const(gamma, "weight"), g.const(beta, "bias"),
                g.const(state["running_mean"], "running_mean"),
                g.const(state["running_var"], "running_var"), epsilon=layer.eps)


@converts(LayerNorm)
def layer_norm(g: Graph, layer: LayerNorm, x: str, ex: np.ndarray) -> str:
    # y = (x - mu) / sqrt(var + eps) * gamma + beta over the last len(normalized_shape) dims
    shape = layer.normalized_shape
    gamma = layer.weight.data if layer.weight is not None else np.ones(shape)
    inputs = [x, g.const(gamma, "weight")]
    if layer.bias is not None:
        inputs.append(g.const(layer.bias.data, "bias"))
    return g.op("LayerNormalization", *inputs, axis=-len(shape), epsilon=layer.eps)


# ---------------------------------------------------------------------------- lookup, position


@converts(Embedding)
def embedding(g: Graph, layer: Embedding, x: str, ex: np.ndarray) -> str:
    if ex.dtype not in (np.int32, np.int64):
        x = g.op("Cast", x, to=TensorProto.INT64)          # Gather wants int32 or int64
    return g.op("Gather", g.const(layer.weight.data, "weight"), x, axis=0)   # y = W[idx]


@converts(PositionalEncoding)
def positional_encoding(g: Graph, layer: PositionalEncoding, x: str, ex: np.ndarray) -> str:
    T = ex.shape[-2]
    return g.op("Add", x, g.const(layer.table(FLOAT)[:T], "pe"))         # y = x + PE[:T]


# ---------------------------------------------------------------------------- containers


@converts(Sequential)
def sequential(g: Graph, layer: Sequential, x: str, ex: np.ndarray) -> str:
    for k, sub in enumerate(layer):                         # a_k = layer_k(a_{k-1})
        x = g.convert(sub, x, ex, str(k))
        ex = sub.forward(ex)                                # the next input's shape and dtype
    return x


@converts(Residual)
def residual(g: Graph, layer: Residual, x: str, ex: np.ndarray) -> str:
    return g.op("Add", x, g.convert(layer.layer, x, ex, "layer"))      # y = x + f(x)
