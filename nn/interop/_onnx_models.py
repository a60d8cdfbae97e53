"""ONNX converters of the ready-made models of :mod:`nn.models` that are classes of their own
(the others are ``Sequential``s): the example systems export like any layer.

Each is its sub-layers' converters chained as in the model's ``forward``, plus the
mask-aware mean over time of the two classifiers, written once in :func:`masked_mean`.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ..models.recurrent import RecurrentLanguageModel, TextClassifier
from ..models.transformer import TransformerClassifier, TransformerLanguageModel
from ._onnx_graph import Graph, converts


def masked_mean(g: Graph, keep: str, h: str) -> str:
    """p_n = sum_t w_nt h_nt with w = keep / max(sum_t keep, 1): the mean of h (N, T, D)
    over the kept positions (keep (N, T) of 0 and 1); an all-dropped row gives 0."""
    w = g.op("Div", keep, g.op("Max", g.reduce("ReduceSum", keep, [1]), g.const(1.0, "one")))
    p = g.op("MatMul", g.op("Unsqueeze", w, g.ints(1)), h)      # (N, 1, T) @ (N, T, D)
    return g.op("Squeeze", p, g.ints(1))                        # (N, D)


@converts(RecurrentLanguageModel)
def recurrent_language_model(g: Graph, model: RecurrentLanguageModel, x: str,
                             ex: np.ndarray) -> str:
    # logits = output(dropout(rnn(embedding(ids)))), dropout the identity (eval)
    e, ex_e = g.convert(model.embedding, x, ex, "embedding"), model.embedding.forward(ex)
    h, ex_h = g.convert(model.rnn, e, ex_e, "rnn"), model.rnn.forward(ex_e)
    return g.convert(model.output, h, ex_h, "output")


@converts(TextClassifier)
def text_classifier(g: Graph, model: TextClassifier, x: str, ex: np.ndarray) -> str:
    # logits = out(dropout(tanh(fc(p)))), p the mean of the embeddings of the real tokens
    E, ex_E = g.convert(model.embedding, x, ex, "embedding"), model.embedding.forward(ex)
    ids = x if ex.dtype == np.int64 else g.op("Cast", x, to=TensorProto.INT64)
    is_pad = g.op("Equal", ids, g.const(np.array(model.pad_id, np.int64), "pad_id"))
    keep = g.op("Cast", g.op("Not", is_pad), to=TensorProto.FLOAT)     # m = [ids != pad_id]
    p, ex_p = masked_mean(g, keep, E), ex_E.mean(axis=1)               # p = sum_t m E / L
    h, ex_h = g.convert(model.fc, p, ex_p, "fc"), model.fc.forward(ex_p)
    h = g.convert(model.tanh, h, ex_h, "tanh")                         # dropout: identity
    return g.convert(model.out, h, ex_h, "out")


@converts(TransformerClassifier, mask=True)
def transformer_classifier(g: Graph, model: TransformerClassifier, x: str, ex: np.ndarray,
                           mask: str | None) -> str:
    name = "embed" if hasattr(model, "embed") else "input_proj"
    e, ex_e = g.convert(model._input, x, ex, name), model._input.forward(ex)
    h = g.convert(model.encoder, g.convert(model.pos, e, ex_e, "pos"), ex_e, "encoder", mask)
    if model.pooling == "first":
        z = g.op("Gather", h, g.const(np.array(0, np.int64), "first"), axis=1)   # h[:, 0]
    elif mask is None:
        z = g.reduce("ReduceMean", h, [1], keepdims=0)                 # mean over t
    else:
        keep = g.op("Cast", g.op("Not", mask), to=TensorProto.FLOAT)   # unmasked positions
        z = masked_mean(g, keep, h)
    return g.convert(model.head, z, ex_e[:, 0], "head")


@converts(TransformerLanguageModel)
def transformer_language_model(g: Graph, model: TransformerLanguageModel, x: str,
                               ex: np.ndarray) -> str:
    # logits = head(encoder(pos(embed(x))))
    e, ex_e = g.convert(model.embed, x, ex, "embed"), model.embed.forward(ex)
    h = g.convert(model.encoder, g.convert(model.pos, e, ex_e, "pos"), ex_e, "encoder")
    return g.convert(model.head, h, ex_e, "head")
