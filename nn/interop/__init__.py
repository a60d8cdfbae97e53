"""``nn.interop``: take a model elsewhere (docs/interop.md).

``to_torch(model)`` builds a ``torch.nn.Module`` computing the same function with copied
weights; ``from_torch(module)`` builds the ``nn`` model back; ``to_onnx(model, example_input,
path)`` writes an ONNX file. PyTorch, onnx and onnxruntime are optional dependencies
(``pip install 'readable-nn[interop]'``): imported by these functions, never by
``import nn``.
"""

from __future__ import annotations

from typing import Any

from ..layer import Layer


def to_torch(model: Layer) -> Any:
    """A ``torch.nn.Module`` computing what ``model`` computes, in its train/eval mode.

    Weights are copied (the two models do not share memory) in the model's dtype.
    Recurrent layers and attention come as subclasses of their torch classes whose
    ``forward`` returns what ``nn`` returns (one tensor). ``TypeError`` names a layer
    without a PyTorch counterpart and lists the supported ones. Mapping: docs/interop.md.
    """
    return _backend().to_torch(model)


def from_torch(module: Any) -> Layer:
    """The ``nn`` model of a ``torch.nn.Module`` built of supported modules.

    Parameters, running statistics, ``requires_grad`` and the train/eval mode are copied.
    ``TypeError`` names an unsupported module and lists the supported ones; ``ValueError``
    names a module's unsupported option (``bidirectional=True``, ``batch_first=False``,
    ``num_layers=2``, ...). ``from_torch(to_torch(m))`` has the ``state_dict`` of ``m``.
    """
    return _backend().from_torch(module)


def _backend() -> Any:
    try:
        import torch  # noqa: F401  (the optional dependency itself)
    except ImportError as exc:
        raise ImportError(
            "nn.interop.to_torch / from_torch need PyTorch, an optional dependency: "
            "pip install 'readable-nn[interop]'") from exc
    from . import _torch

    return _torch


# ONNX export: nn/interop/_onnx.py (imports onnx only when called)
from ._onnx import to_onnx  # noqa: E402

__all__ = ["to_torch", "from_torch", "to_onnx"]
