"""PyTorch both ways: one small mapping per layer family, in a registry.

A :class:`Family` pairs an ``nn`` class with the torch classes it maps to and from, and two
functions: ``export(layer, go) -> torch module`` and ``load(module, go) -> nn layer``
(``go`` converts a child and names it in error messages). Adding a family is appending one
``Family`` to ``layers.FAMILIES``. The layouts that differ are written in docs/interop.md:

* ``Linear`` and the recurrent weights are stored (in, out) here, (out, in) in torch: transposed;
* RNN and LSTM have one bias here, ``b_ih`` and ``b_hh`` in torch: exported as
  ``bias_ih = bias, bias_hh = 0``, imported as their sum;
* attention has four (E, E) projections here, a packed ``in_proj_weight`` (3E, E) there;
* recurrent layers, attention and the encoder layers come as subclasses of their torch
  classes whose ``forward`` returns what ``nn`` returns.

The package: ``common`` (copying, refusing, :class:`Family`), ``modules`` (the torch side
of what torch spells differently), ``layers`` (one mapping per layer family) and
``models`` (the example systems); this file walks a model through the registry. It
imports torch at the top: ``nn.interop`` imports it only when called.
"""

from __future__ import annotations

from typing import Any

import torch

from ...layer import Layer
from . import layers, models
from .common import Family, Go, Module
from .models import (
    TorchRecurrentLanguageModel,
    TorchTextClassifier,
    TorchTransformerClassifier,
    TorchTransformerLanguageModel,
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

__all__ = ["to_torch", "from_torch", "UnsupportedOption", "Family", "TorchRNN", "TorchLSTM",
           "TorchGRU", "TorchMultiheadAttention", "TorchTransformerEncoderLayer",
           "TorchTransformerEncoder", "TorchPositionalEncoding", "TorchResidual",
           "TorchTransformerClassifier", "TorchTransformerLanguageModel",
           "TorchRecurrentLanguageModel", "TorchTextClassifier"]


def families() -> list[Family]:
    """Every registered family: the layers', then the models'."""
    return layers.FAMILIES + models.FAMILIES


def _supported(names: list[str]) -> str:
    """The names, torch's own classes (``torch.nn.X``) first, each group sorted."""
    return ", ".join(sorted(set(names), key=lambda n: (not n.startswith("torch."), n)))


# ============================================================================ entry points
def _export_one(layer: Any, go: Go) -> Module:
    by_layer = {f.layer: f for f in families()}
    family = by_layer.get(type(layer))
    if family is None:
        raise TypeError(
            f"to_torch: {type(layer).__name__} has no PyTorch mapping{go.where()}; "
            f"supported nn layers: {_supported([f.layer.__name__ for f in by_layer.values()])}")
    module = family.export(layer, go)
    go.pairs.append((layer, module))
    return module


def _torch_name(cls: type) -> str:
    """``torch.nn.LSTM`` for torch's classes, ``TorchLSTM`` for this module's."""
    return f"torch.nn.{cls.__name__}" if cls.__module__.startswith("torch.") else cls.__name__


class UnsupportedOption(ValueError):
    """An unsupported option, its message naming the module, the option and where it is."""


def _load_one(module: Any, go: Go) -> Layer:
    by_module = {m: f for f in families() for m in f.modules}
    family = by_module.get(type(module))
    if family is None:
        raise TypeError(
            f"from_torch: {_torch_name(type(module))} is not supported{go.where()}; supported "
            f"torch modules: {_supported([_torch_name(m) for m in by_module])}")
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
