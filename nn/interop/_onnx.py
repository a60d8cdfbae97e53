"""``to_onnx``: export a model to an ONNX file that onnxruntime runs with the model's output.

The graph is built with the ``onnx`` package's own helpers (``onnx.helper``,
``onnx.numpy_helper``), one small converter per layer family (``_onnx_layers.py``,
``_onnx_sequence.py``, registered in ``_onnx_graph.py``). ``onnx`` is imported only when
``to_onnx`` is called: ``import nn`` never needs it.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from typing import Any

import numpy as np

from .._version import __version__
from ..layer import Layer
from ..layers import BatchNorm1d, BatchNorm2d, Dropout

#: The ONNX opset written when ``opset=None``: 17 is the first with ``LayerNormalization``
#: and is run by every onnxruntime since 1.12.
DEFAULT_OPSET = 17
#: The lowest opset the converters can write (LayerNormalization).
MIN_OPSET = 17

INSTALL_HINT = "pip install 'readable-nn[onnx]'"


def to_onnx(model: Layer, example_input: Any, path: str | os.PathLike[str], *,
            opset: int | None = None) -> str:
    """Write ``model`` as an ONNX file at ``path``; returns the path written (``~`` expanded).

    The graph computes ``model``'s **eval-mode** output whatever its mode: Dropout is the
    identity and BatchNorm uses its running statistics (a model in training mode with a
    Dropout of p > 0 or a BatchNorm gets a ``UserWarning`` saying so; the model itself is
    not changed). Its input ``"input"`` and output
    ``"output"`` have a dynamic batch axis (the first), the other axes the sizes of
    ``example_input``. Every floating tensor is float32 (onnxruntime's CPU kernels for
    Conv, AveragePool, LSTM, GRU, RNN and Erf are float32 only), so a float64 model is
    exported with its weights rounded to float32.

    Parameters
    ----------
    model : nn.Layer
        Built of the supported families (Linear, the activations, Flatten, Dropout,
        Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d/2d, LayerNorm, Embedding, RNN, LSTM, GRU,
        MultiHeadAttention, PositionalEncoding, TransformerEncoderLayer/Encoder, Residual,
        Sequential) and the models of :mod:`nn.models`; any other layer raises
        ``TypeError`` naming it and listing the supported ones.
    example_input : ndarray, or a pair (x, key_padding_mask)
        An input the model accepts (its values are not stored). For a model whose
        ``forward(x, mask)`` takes a key-padding mask (MultiHeadAttention,
        TransformerEncoderLayer, TransformerEncoder, nn.models' TransformerClassifier) a
        pair ``(x, mask)`` with ``mask`` a boolean (N, T) array adds a second graph input
        ``"key_padding_mask"``.
    path : str or os.PathLike
        Where to write. The file is written to a temporary file in the same folder and moved
        into place once complete: when the export fails nothing is written at ``path``.
    opset : int, optional
        The ONNX opset (default :data:`DEFAULT_OPSET` = 17; at least 17, at most what the
        installed ``onnx`` knows).

    Raises
    ------
    ImportError
        Without the ``onnx`` package (``pip install 'readable-nn[onnx]'``).
    TypeError
        An unsupported layer (the message lists the supported ones), a bad example input.
    ValueError
        An opset out of range.
    """
    try:
        import onnx
    except ImportError as err:
        raise ImportError(f"nn.interop.to_onnx needs the onnx package: {INSTALL_HINT}") \
            from err
    from . import _onnx_layers, _onnx_models, _onnx_sequence  # noqa: F401  (the converters)
    from ._onnx_graph import FLOAT, TAKES_MASK, Graph

    if not isinstance(model, Layer):
        raise TypeError(f"to_onnx: expected an nn.Layer, got {type(model).__name__}")
    opset = _check_opset(opset, onnx.defs.onnx_opset_version())
    x, mask = _split_example(model, example_input, TAKES_MASK)
    target = os.path.abspath(os.path.expanduser(os.fspath(path)))

    moded = _train_mode_layers(model)
    if moded:
        warnings.warn(
            f"to_onnx: {model.label()} is in training mode; the ONNX graph computes its "
            f"eval-mode output (the contract of nn.interop): Dropout is the identity and "
            f"BatchNorm normalises with its running statistics, not the batch's (layers "
            f"concerned: {', '.join(moded)}). The model is not changed; call model.eval() "
            f"before exporting to silence this warning.", UserWarning, stacklevel=2)
    frozen = copy.deepcopy(model).eval()          # the model keeps its mode and caches
    y = frozen(x, mask) if mask is not None else frozen(x)

    g = Graph(opset)
    out = g.convert(frozen, "input", x, mask="key_padding_mask" if mask is not None else None)
    g.nodes.append(onnx.helper.make_node("Identity", [out], ["output"], name="output"))
    inputs = [_value_info(onnx, "input", x, FLOAT)]
    if mask is not None:
        inputs.append(_value_info(onnx, "key_padding_mask", mask, FLOAT))
    graph = onnx.helper.make_graph(g.nodes, "readable-nn", inputs,
                                   [_value_info(onnx, "output", y, FLOAT)], g.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="readable-nn",
                                   producer_version=__version__)
    # the oldest IR version that can hold this opset, so older runtimes read the file too
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets, ignore_unknown=True)
    onnx.checker.check_model(proto, full_check=True)
    _write_atomically(target, proto.SerializeToString())
    return target


def _train_mode_layers(model: Layer) -> list[str]:
    """The layers whose training mode computes something else than eval mode: Dropout with
    p > 0 (also inside attention and positional encoding) and BatchNorm, as 'path (Class)'."""
    return [f"{name or 'the model'} ({type(m).__name__})" for name, m in model.named_modules()
            if m.training and (isinstance(m, Dropout) and m.p > 0
                               or isinstance(m, (BatchNorm1d, BatchNorm2d)))]


def _check_opset(opset: int | None, newest: int) -> int:
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"to_onnx: opset must be an int from {MIN_OPSET} (LayerNormalization) "
                         f"to {newest} (the newest the installed onnx knows), got {opset!r}")
    return int(opset)


def _split_example(model: Layer, example: Any, takes_mask: set[type]
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, mask) from ``example_input``: an array, or a pair (x, key-padding mask)."""
    mask = None
    if isinstance(example, (tuple, list)):
        if len(example) != 2 or type(model) not in takes_mask:
            raise TypeError(
                f"to_onnx: example_input may be a pair (x, key_padding_mask) only for a model "
                f"whose forward takes a mask ({', '.join(sorted(c.__name__ for c in takes_mask))}"
                f"); got a {type(example).__name__} of {len(example)} for {model.label()}")
        example, mask = example
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError(f"to_onnx: the key-padding mask must be a boolean ndarray "
                            f"(N, T), got {getattr(mask, 'dtype', type(mask).__name__)}")
    if not isinstance(example, np.ndarray) or example.ndim < 1 \
            or example.dtype.kind not in "fiu":
        raise TypeError(f"to_onnx: example_input must be a numeric ndarray whose first axis "
                        f"is the batch, got {type(example).__name__} "
                        f"{getattr(example, 'shape', '')}")
    return example, mask


def _value_info(onnx: Any, name: str, example: np.ndarray, floating: np.dtype) -> Any:
    """A graph input/output like ``example`` with a dynamic first (batch) axis ``N``."""
    dtype = floating if example.dtype.kind == "f" else example.dtype
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    return onnx.helper.make_tensor_value_info(name, elem, ["N", *example.shape[1:]])


def _write_atomically(target: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``target``, then rename it into place:
    ``target`` is either the complete new file or untouched."""
    folder = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
