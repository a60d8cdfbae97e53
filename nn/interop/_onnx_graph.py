"""The ONNX graph builder behind :func:`nn.interop.to_onnx`, and its registry of converters.

A *converter* turns one layer family into ONNX nodes. It is a small function::

    @converts(Linear)
    def linear(g: Graph, layer: Linear, x: str, ex: np.ndarray) -> str:
        y = g.op("MatMul", x, g.const(layer.weight.data, "weight"))     # y = x W
        ...
        return y

``x`` is the name of the ONNX value holding the layer's input, ``ex`` an array with the
input's shape and dtype (converters read only its shape and dtype: a sequence length, an
index dtype), and the return value is the name of the output. ``g.op`` adds one node and
returns the name of its output; ``g.const`` adds a constant (an initializer) named after
the layer's path in the model (``0.weight``, ``2.self_attn.q_proj.weight``...). Containers
call ``g.convert(sub_layer, x, ex, name)`` for each sub-layer. Converters registered with
``mask=True`` also take the key-padding mask (the name of a boolean (N, T) graph input,
or ``None``).

This module imports ``onnx``; it is loaded by ``to_onnx`` only, never by ``import nn``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

from ..layer import Layer

#: The element type of the exported graph: onnxruntime has no float64 kernels for Conv,
#: AveragePool, RNN, LSTM, GRU or Erf, so every floating tensor is stored as float32.
FLOAT = np.dtype(np.float32)

#: ``{layer class: converter}``; exact classes (a subclass may compute something else).
CONVERTERS: dict[type, Callable[..., str]] = {}
#: The classes whose ``forward(x, mask)`` takes a key-padding mask.
TAKES_MASK: set[type] = set()


def converts(*classes: type, mask: bool = False) -> Callable[[Callable[..., str]],
                                                              Callable[..., str]]:
    """Register the decorated function as the ONNX converter of ``classes``."""
    def register(fn: Callable[..., str]) -> Callable[..., str]:
        for cls in classes:
            CONVERTERS[cls] = fn
            if mask:
                TAKES_MASK.add(cls)
        return fn
    return register


def supported() -> list[str]:
    """The names of the layer classes that have a converter, sorted."""
    return sorted(cls.__name__ for cls in CONVERTERS)


class UnsupportedLayerError(TypeError):
    """A layer that ``to_onnx`` has no converter for (the message lists the supported ones)."""


class Graph:
    """The nodes and constants of one ONNX graph, added layer by layer."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._scope: list[str] = []
        self._taken: set[str] = set()

    # ------------------------------------------------------------------ names
    def fresh(self, hint: str) -> str:
        """A new value name: ``hint`` inside the current layer path, made unique."""
        base = ".".join(self._scope + [hint])
        name, k = base, 1
        while name in self._taken:
            name, k = f"{base}_{k}", k + 1
        self._taken.add(name)
        return name

    # ------------------------------------------------------------------ nodes
    def const(self, value: Any, hint: str = "const") -> str:
        """A constant tensor (an initializer); floating values are stored as float32."""
        array = np.array(value, dtype=FLOAT if np.asarray(value).dtype.kind == "f" else None,
                         order="C")                      # a copy, C order; 0-d stays 0-d
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def ints(self, *values: int) -> str:
        """A constant int64 vector (axes, shapes), as operators' int inputs want."""
        return self.const(np.array(values, dtype=np.int64), "axes")

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        """Add one ``op_type`` node; returns the name of its (first) output."""
        return self.op_n(op_type, list(inputs), 1, **attrs)[0]

    def op_n(self, op_type: str, inputs: list[str], n_outputs: int, **attrs: Any) -> list[str]:
        """Add one node with ``n_outputs`` outputs; returns their names. An empty input
        name ``""`` leaves an optional input out."""
        outputs = [self.fresh(op_type[0].lower() + op_type[1:]) for _ in range(n_outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=outputs[0], **attrs))
        return outputs

    def reduce(self, op_type: str, x: str, axes: list[int], keepdims: int = 1) -> str:
        """``ReduceMax``/``ReduceSum``/... over ``axes``: an input since opset 18 (13 for
        ReduceSum), an attribute before."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, x, self.ints(*axes), keepdims=keepdims)
        return self.op(op_type, x, axes=axes, keepdims=keepdims)

    # ------------------------------------------------------------------ layers
    def convert(self, layer: Layer, x: str, ex: np.ndarray, name: str = "",
                mask: str | None = None) -> str:
        """The ONNX nodes computing ``layer`` (eval mode) on the value ``x``; ``name`` is
        the layer's attribute name in its parent (the prefix of its constants' names)."""
        converter = CONVERTERS.get(type(layer))
        if converter is None:
            raise UnsupportedLayerError(
                f"to_onnx: no ONNX export for {layer.label()} (class "
                f"{type(layer).__module__}.{type(layer).__qualname__}"
                f"{' at ' + repr('.'.join(self._scope + [name])) if self._scope or name else ''}"
                f"); supported layers: {', '.join(supported())}")
        if name:
            self._scope.append(name)
        try:
            if type(layer) in TAKES_MASK:
                return converter(self, layer, x, ex, mask)
            if mask is not None:
                raise TypeError(f"to_onnx: {layer.label()} takes no key-padding mask")
            return converter(self, layer, x, ex)
        finally:
            if name:
                self._scope.pop()
