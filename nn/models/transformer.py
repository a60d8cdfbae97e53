"""The source documents' Transformer: a small encoder classifier and a causal character LM.

The source documents describe a Transformer as *input projection -> multi-head attention ->
feed-forward -> softmax output*. Both models below are that pipeline, with PyTorch's encoder
layer (attention and feed-forward, each with a residual connection and LayerNorm)::

    classifier:  tokens (N, T) --Embedding--> or features (N, T, F) --Linear-->   (input projection)
                 + PositionalEncoding -> TransformerEncoder (num_layers x
                 [self-attention -> feed-forward]) -> pool over T -> Linear -> logits (N, C)
    language model (decoder-only, causal):
                 tokens (N, T) -> Embedding + PositionalEncoding -> causal pre-norm
                 TransformerEncoder + final LayerNorm -> Linear -> logits (N, T, V)

The softmax of the output is taken by ``nn.CrossEntropyLoss`` (in the log domain, for
stability) during training, and by ``predict_proba`` / ``generate`` otherwise.

Builders: :func:`transformer_classifier`, :func:`transformer_language_model`, and
:func:`transformer` (``kind="classifier"`` or ``"lm"``) which forwards to them.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._config import get_rng
from ..layer import Layer, check_grad, inner_grad
from ..layers import (
    Embedding,
    LayerNorm,
    Linear,
    PositionalEncoding,
    TransformerEncoder,
    TransformerEncoderLayer,
)


def _encoder(d_model, nhead, num_layers, dim_feedforward, dropout, causal, norm_first,
             activation, gen, dtype) -> TransformerEncoder:
    def make():
        return TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, causal,
                                       norm_first, activation=activation, rng=gen, dtype=dtype)
    final = LayerNorm(d_model, dtype=dtype) if norm_first else None
    return TransformerEncoder(make, num_layers, norm=final)


class TransformerClassifier(Layer):
    """Sequence classifier: input projection, positional encoding, encoder, pooling, head.

    Shapes: ``x`` int tokens ``(N, T)`` (with ``vocab_size``) or floats ``(N, T, in_features)``
    (with ``in_features``) -> logits ``(N, num_classes)``. ``forward(x, mask=None)``: the
    optional key-padding mask ``(N, T)``, True = padding, is passed to every attention layer
    and excluded from the mean pooling.

    Forward::

        e = embed(x)  or  input_proj(x)           (N, T, d)
        h = encoder(pos(e), mask)                 (N, T, d)
        z = mean over unmasked t of h[:, t]   (pooling="mean")   or   h[:, 0]   ("first")
        logits = head(z)                          (N, C)

    Backward: ``dz = head.backward(g)``; spread to ``dh`` (``dz / count`` at every unmasked
    position for the mean, ``dz`` at position 0 for "first"); then encoder, positional
    encoding and the input projection in reverse (the embedding returns no input gradient).
    Caches the pooling weights.
    """

    def __init__(self, num_classes: int, *, vocab_size: int | None = None,
                 in_features: int | None = None, d_model: int = 32, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 64, dropout: float = 0.0,
                 max_len: int = 512, pooling: str = "mean", norm_first: bool = False,
                 activation: str = "relu", rng=None, dtype=None):
        super().__init__()
        if (vocab_size is None) == (in_features is None):
            raise ValueError("TransformerClassifier: give exactly one of vocab_size (integer "
                             "tokens) and in_features (float features)")
        if pooling not in ("mean", "first"):
            raise ValueError(f"TransformerClassifier: pooling must be 'mean' or 'first', "
                             f"got {pooling!r}")
        gen = get_rng(rng)
        self.pooling = pooling
        if vocab_size is not None:
            self.embed = Embedding(vocab_size, d_model, rng=gen, dtype=dtype)
        elif in_features is not None:  # exactly one of the two is given (checked above)
            self.input_proj = Linear(in_features, d_model, init="xavier", rng=gen, dtype=dtype)
        self.pos = PositionalEncoding(d_model, max_len)
        self.encoder = _encoder(d_model, nhead, num_layers, dim_feedforward, dropout, False,
                                norm_first, activation, gen, dtype)
        self.head = Linear(d_model, num_classes, init="xavier", rng=gen, dtype=dtype)

    @property
    def _input(self) -> Layer:
        return self.embed if hasattr(self, "embed") else self.input_proj

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        h = self.encoder.forward(self.pos.forward(self._input.forward(x)), mask)
        N, T, _ = h.shape
        if self.pooling == "first":
            w = None
            z = h[:, 0]
        else:
            # w[n, t] = 1 / (number of unmasked positions of n) at unmasked t, else 0
            keep = np.ones((N, T), h.dtype) if mask is None else (~mask).astype(h.dtype)
            w = keep / np.maximum(keep.sum(axis=1, keepdims=True), 1)
            z = np.matmul(w[:, None, :], h)[:, 0]
        self._cache = (h.shape, h.dtype, w)
        return self.head.forward(z)

    def backward(self, grad_y: np.ndarray) -> np.ndarray | None:
        shape, dtype, w = self._saved()
        dz = inner_grad(self.head.backward(grad_y))
        if w is None:
            dh = np.zeros(shape, dtype)
            dh[:, 0] = dz
        else:
            # dh[n, t] = w[n, t] * dz[n]
            dh = w[:, :, None] * dz[:, None, :]
        return self._input.backward(self.pos.backward(self.encoder.backward(dh)))

    def predict_proba(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (softmax of the logits), in eval mode."""
        was = self.training
        self.eval()
        try:
            return F.softmax(self.forward(x, mask), axis=-1)
        finally:
            self.train(was)


class TransformerLanguageModel(Layer):
    """Decoder-only (causal) language model over a vocabulary of ``vocab_size`` tokens.

    Shapes: tokens ``(N, T)`` int, ``T <= max_len`` -> logits ``(N, T, vocab_size)``: row t
    scores the token at t + 1 and depends only on tokens 0..t. Train with
    ``nn.CrossEntropyLoss()(logits, targets)``, targets = the tokens shifted by one.

    Forward::

        h = encoder(pos(embed(x)))       causal pre-norm layers, final LayerNorm
        logits = head(h)

    Backward runs the same chain in reverse (the embedding returns no input gradient).
    """

    def __init__(self, vocab_size: int, *, d_model: int = 64, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 256, dropout: float = 0.1,
                 max_len: int = 512, activation: str = "gelu", rng=None, dtype=None):
        super().__init__()
        gen = get_rng(rng)
        self.vocab_size = int(vocab_size)
        self.max_len = int(max_len)
        self.embed = Embedding(vocab_size, d_model, rng=gen, dtype=dtype)
        self.pos = PositionalEncoding(d_model, max_len)
        self.encoder = _encoder(d_model, nhead, num_layers, dim_feedforward, dropout, True,
                                True, activation, gen, dtype)
        self.head = Linear(d_model, vocab_size, init="xavier", rng=gen, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = self.encoder.forward(self.pos.forward(self.embed.forward(x)))
        self._cache = h.shape
        return self.head.forward(h.reshape(-1, h.shape[-1])).reshape(h.shape[:2] + (-1,))

    def backward(self, grad_y: np.ndarray) -> None:
        shape = self._saved()
        g = check_grad(self, grad_y, shape[:2] + (self.vocab_size,), self.head.weight.dtype)
        dh = inner_grad(self.head.backward(g.reshape(-1, self.vocab_size))).reshape(shape)
        return self.embed.backward(self.pos.backward(self.encoder.backward(dh)))

    def generate(self, prompt, length: int, *, temperature: float = 1.0, rng=None,
                 context: int | None = None) -> np.ndarray:
        """Sample ``length`` tokens after ``prompt`` (a 1-D int array), in eval mode.

        Each step runs the model on the last ``context`` (default ``max_len``) tokens and
        samples from softmax(logits[-1] / temperature); ``temperature=0`` takes the argmax.
        Returns the prompt followed by the sampled tokens.
        """
        gen = get_rng(rng)
        seq = [int(t) for t in np.asarray(prompt).reshape(-1)]
        if not seq:
            raise ValueError("generate: the prompt must hold at least one token")
        context = self.max_len if context is None else min(int(context), self.max_len)
        was = self.training
        self.eval()
        try:
            for _ in range(int(length)):
                window = np.array(seq[-context:], dtype=np.int64)[None]
                logits = self.forward(window)[0, -1].astype(np.float64)
                if temperature == 0:
                    seq.append(int(np.argmax(logits)))
                    continue
                p = F.softmax(logits / temperature)
                seq.append(int(gen.choice(self.vocab_size, p=p / p.sum())))
        finally:
            self.train(was)
        return np.array(seq, dtype=np.int64)


def transformer_classifier(num_classes: int, **kwargs) -> TransformerClassifier:
    """A small encoder classifier; see :class:`TransformerClassifier` for the arguments.

    Defaults: d_model 32, 4 heads, 2 post-norm layers, feed-forward 64, no dropout, mean
    pooling. Give ``vocab_size=`` for integer tokens or ``in_features=`` for features.
    """
    return TransformerClassifier(num_classes, **kwargs)


def transformer_language_model(vocab_size: int, **kwargs) -> TransformerLanguageModel:
    """A small causal character LM; see :class:`TransformerLanguageModel` for the arguments.

    Defaults: d_model 64, 4 heads, 2 pre-norm causal layers with GELU, feed-forward 256,
    dropout 0.1, final LayerNorm.
    """
    return TransformerLanguageModel(vocab_size, **kwargs)


def transformer(kind: str = "classifier", **kwargs) -> Layer:
    """``kind="classifier"`` -> :func:`transformer_classifier` (needs ``num_classes`` and
    ``vocab_size`` or ``in_features``); ``kind="lm"`` -> :func:`transformer_language_model`
    (needs ``vocab_size``). Other keyword arguments go to the builder."""
    if kind == "classifier":
        return transformer_classifier(**kwargs)
    if kind in ("lm", "language_model"):
        return transformer_language_model(**kwargs)
    raise ValueError(f"transformer: kind must be 'classifier' or 'lm', got {kind!r}")
