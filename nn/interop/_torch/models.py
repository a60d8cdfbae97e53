"""The example systems of ``nn.models`` (TransformerClassifier, TransformerLanguageModel,
RecurrentLanguageModel, TextClassifier): a torch shell per model whose children are the
converted sub-layers, named as in nn, and whose ``forward`` is the model's, in the same
symbols. ``mlp``, ``cnn`` and ``lenet`` are Sequentials and need nothing here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...layer import Layer
from ...models.recurrent import RecurrentLanguageModel, TextClassifier
from ...models.transformer import TransformerClassifier, TransformerLanguageModel
from .common import Family, Go, Module, numpy_dtype
from .modules import TorchGRU, TorchLSTM, TorchRNN

Tensor = torch.Tensor


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
                                  pooling=m.pooling, dtype=numpy_dtype(m), **sizes)
    return _children_over(m, shell, go)


def _transformer_lm_load(m: Any, go: Go) -> Layer:
    shell = TransformerLanguageModel(m.head.out_features, d_model=m.head.in_features, nhead=1,
                                     num_layers=1, dim_feedforward=1, max_len=m.pos.max_len,
                                     dtype=numpy_dtype(m))
    return _children_over(m, shell, go)


def _recurrent_lm_load(m: Any, go: Go) -> Layer:
    cell = {TorchLSTM: "lstm", TorchGRU: "gru", TorchRNN: "rnn"}.get(type(m.rnn), "lstm")
    dropout = m.dropout.p if hasattr(m, "dropout") else 0.0
    shell = RecurrentLanguageModel(m.output.out_features, m.rnn.input_size,
                                   m.rnn.hidden_size, cell=cell, dropout=dropout,
                                   dtype=numpy_dtype(m))
    return _children_over(m, shell, go)


def _text_classifier_load(m: Any, go: Go) -> Layer:
    shell = TextClassifier(m.embedding.num_embeddings, m.embedding.embedding_dim,
                           m.fc.out_features, m.out.out_features, dropout=m.dropout.p,
                           pad_id=m.pad_id, dtype=numpy_dtype(m))
    return _children_over(m, shell, go)


FAMILIES: list[Family] = [
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
