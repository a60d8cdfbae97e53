"""The source documents' recurrent and text example systems.

* :func:`lstm_language_model` - Embedding -> LSTM -> Linear over the vocabulary, trained
  with cross-entropy and Adam on next-token pairs; :meth:`RecurrentLanguageModel.generate`
  (or :func:`generate` / :func:`generate_text`) samples text with a temperature.
* :func:`text_classifier` - Embedding -> mean over time (mask-aware) -> Linear -> tanh ->
  Dropout -> Linear(2).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._config import get_rng
from ..layer import Layer, check_grad, inner_grad
from ..layers import GRU, LSTM, RNN, Dropout, Embedding, Linear, Tanh
from ..text import CharTokenizer

_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


# ---------------------------------------------------------------------- language model
class RecurrentLanguageModel(Layer):
    """Embedding -> recurrent layer -> [Dropout] -> Linear: next-token logits.

    Shapes: token ids ``(N, T)`` int -> logits ``(N, T, vocab_size)``; row t scores the
    token at t + 1 and depends on tokens 0..t only. Train with
    ``nn.CrossEntropyLoss()(logits, targets)`` (``ignore_index=pad_id`` for padded batches),
    targets = the ids shifted by one (:func:`nn.text.next_token_pairs`).

    Forward (``forward(ids, state=None)``; the recurrent state carries over between calls
    only when passed back in, e.g. ``model(ids2, state=model.state)``)::

        e = embedding(ids)       (N, T, embed_dim)
        h = rnn(e, state)        (N, T, hidden_size);  model.state = rnn.state
        logits = output(dropout(h))

    Backward runs the chain in reverse and returns None (token ids have no gradient).

    Sub-layers: ``embedding`` (:class:`nn.Embedding`), ``rnn`` (:class:`nn.LSTM` by default),
    ``dropout`` (only when ``dropout > 0``) and ``output`` (:class:`nn.Linear`).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 256, *,
                 cell: str = "lstm", dropout: float = 0.0, rng=None, dtype=None):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"RecurrentLanguageModel: cell must be one of {sorted(_CELLS)}, "
                             f"got {cell!r}")
        gen = get_rng(rng)
        self.vocab_size = int(vocab_size)
        self.embedding = Embedding(vocab_size, embed_dim, rng=gen, dtype=dtype)
        self.rnn = _CELLS[cell](embed_dim, hidden_size, rng=gen, dtype=dtype)
        if dropout:
            self.dropout = Dropout(dropout, rng=gen)
        self.output = Linear(hidden_size, vocab_size, init="xavier", rng=gen, dtype=dtype)

    @property
    def state(self):
        """The recurrent layer's final state after the last forward."""
        return self.rnn.state

    def forward(self, ids: np.ndarray, state=None) -> np.ndarray:
        h = self.rnn.forward(self.embedding.forward(ids), state=state)
        if hasattr(self, "dropout"):
            h = self.dropout.forward(h)
        self._cache = h.shape
        return self.output.forward(h)

    def backward(self, grad_y: np.ndarray) -> None:
        shape = self._saved()
        g = check_grad(self, grad_y, shape[:-1] + (self.vocab_size,), self.output.weight.dtype)
        g = inner_grad(self.output.backward(g))
        if hasattr(self, "dropout"):
            g = self.dropout.backward(g)
        return self.embedding.backward(self.rnn.backward(g))

    def generate(self, prompt, length: int, *, temperature: float = 1.0, rng=None,
                 top_k: int | None = None) -> np.ndarray:
        """Sample ``length`` tokens after ``prompt`` (a 1-D int array), in eval mode.

        The prompt is read once; then each new token is fed alone with the recurrent state
        carried over, so a step costs the same however long the text already is. Tokens
        are drawn from softmax(logits / temperature) (restricted to the ``top_k`` most
        likely when given); ``temperature=0`` takes the argmax. Returns the prompt followed
        by the sampled tokens (int64).
        """
        seq = [int(t) for t in np.asarray(prompt).reshape(-1)]
        if not seq:
            raise ValueError("generate: the prompt must hold at least one token")
        gen = get_rng(rng)
        was = self.training
        self.eval()
        try:
            logits = self.forward(np.array([seq], dtype=np.int64))[0, -1]
            for _ in range(int(length)):
                token = sample_next(logits, temperature, gen, top_k)
                seq.append(token)
                logits = self.forward(np.array([[token]], dtype=np.int64),
                                      state=self.state)[0, -1]
        finally:
            self.train(was)
        return np.array(seq, dtype=np.int64)


def sample_next(logits: np.ndarray, temperature: float = 1.0, rng=None,
                top_k: int | None = None) -> int:
    """One token id drawn from softmax(logits / temperature) over a 1-D ``logits``.

    ``temperature`` < 1 sharpens the distribution (more likely, more repetitive text), > 1
    flattens it; 0 returns the argmax. ``top_k`` keeps only the k largest logits.
    """
    if temperature < 0:
        raise ValueError(f"sample_next: temperature must be >= 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature == 0:
        return int(np.argmax(z))
    if top_k is not None and 0 < top_k < z.size:
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    with np.errstate(under="ignore"):
        p = F.softmax(z / temperature)
    return int(get_rng(rng).choice(z.size, p=p / p.sum()))


def generate(model: Layer, prompt, length: int, *, temperature: float = 1.0, rng=None,
             **kwargs) -> np.ndarray:
    """``model.generate(prompt, length, temperature=..., rng=...)`` for any language model
    with a ``generate`` method (:class:`RecurrentLanguageModel`, the transformer one)."""
    if not hasattr(model, "generate"):
        raise TypeError(f"generate: {type(model).__name__} has no generate method")
    return model.generate(prompt, length, temperature=temperature, rng=rng, **kwargs)


def generate_text(model: Layer, vocab, prompt: str, length: int = 200, *,
                  temperature: float = 1.0, rng=None, tokenizer=None, **kwargs) -> str:
    """Text in, text out: tokenise ``prompt`` (characters by default), encode it with
    ``vocab``, sample ``length`` tokens, decode and join them (prompt included)."""
    tokenizer = CharTokenizer() if tokenizer is None else tokenizer
    ids = vocab.encode(tokenizer.tokenize(prompt))
    out = generate(model, ids, length, temperature=temperature, rng=rng, **kwargs)
    return tokenizer.detokenize(vocab.decode(out, skip_specials=True))


def stream_perplexity(model: RecurrentLanguageModel, ids, seq_len: int = 64,
                      batch_size: int = 16) -> float:
    """exp(mean next-token cross-entropy) of a recurrent language model over a token stream.

    The stream is cut into ``batch_size`` contiguous pieces read side by side, ``seq_len``
    tokens at a time, with each piece's recurrent state carried from one window to the next
    (``model(x, state=model.state)``), so every prediction sees all of its piece before it.
    Runs in eval mode; each token but the first of a piece is predicted once.
    """
    from ..losses import CrossEntropyLoss

    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    B = max(1, min(int(batch_size), (len(ids) - 1) // 2))
    per = (len(ids) - 1) // B
    if per < 1:
        raise ValueError(f"stream_perplexity: a stream of {len(ids)} tokens is too short")
    x = ids[:B * per].reshape(B, per)
    y = ids[1:B * per + 1].reshape(B, per)
    loss_fn = CrossEntropyLoss(reduction="sum")
    total, state = 0.0, None
    was = model.training
    model.eval()
    try:
        for s in range(0, per, seq_len):
            total += loss_fn(model.forward(x[:, s:s + seq_len], state=state), y[:, s:s + seq_len])
            state = model.state
    finally:
        model.train(was)
    return float(np.exp(total / y.size))


def lstm_language_model(vocab_size: int, embed_dim: int = 64, hidden_size: int = 256, *,
                        dropout: float = 0.0, cell: str = "lstm", rng=None,
                        dtype=None) -> RecurrentLanguageModel:
    """The source documents' language model: Embedding -> LSTM -> Linear(vocab_size).

    Train with ``nn.CrossEntropyLoss`` on (N, T, vocab) logits, ``optim.Adam`` and gradient
    clipping (``optim.clip_grad_norm``); sample with ``model.generate`` or
    :func:`generate_text`. ``cell="gru"`` or ``"rnn"`` swaps the recurrent layer.
    See :class:`RecurrentLanguageModel`.
    """
    return RecurrentLanguageModel(vocab_size, embed_dim, hidden_size, cell=cell,
                                  dropout=dropout, rng=rng, dtype=dtype)


# ---------------------------------------------------------------------- classifier
class TextClassifier(Layer):
    """Embedding -> mask-aware mean over time -> Linear -> tanh -> Dropout -> Linear.

    Shapes: token ids ``(N, T)`` int, right- or left-padded with ``pad_id`` -> logits
    ``(N, num_classes)``.

    Forward, with the mask m_nt = [ids_nt != pad_id] and L_n = max(sum_t m_nt, 1)::

        E = embedding(ids)                      (N, T, D)
        p_n = sum_t m_nt E_nt / L_n             (N, D): the mean over the real tokens only
        logits = out(dropout(tanh(fc(p))))

    The mean ignores padding, so a review pooled in a batch padded to 40 tokens gives the
    same vector as alone (an all-padding row pools to 0). Backward::

        dp = fc.backward(tanh.backward(dropout.backward(out.backward(G))))
        dE_nt = m_nt / L_n * dp_n               (zero at padded positions)

    and ``embedding.backward(dE)`` (the padding row never gets a gradient). Caches the
    pooling weights m / L.

    Pooling by a mean is order-free: the model sees which words occur (and how often), not
    where, which is enough when word choice decides the class (the bundled
    :func:`nn.datasets.make_sentiment`: a negation word flips an adjective's polarity, an
    interaction the tanh layer can learn).
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden: int = 32,
                 num_classes: int = 2, *, dropout: float = 0.2, pad_id: int = 0, rng=None,
                 dtype=None):
        super().__init__()
        gen = get_rng(rng)
        self.pad_id = int(pad_id)
        self.embedding = Embedding(vocab_size, embed_dim, rng=gen, padding_idx=pad_id,
                                   dtype=dtype)
        self.fc = Linear(embed_dim, hidden, init="xavier", rng=gen, dtype=dtype)
        self.tanh = Tanh()
        self.dropout = Dropout(dropout, rng=gen)
        self.out = Linear(hidden, num_classes, init="xavier", rng=gen, dtype=dtype)

    def pool(self, ids: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean over real tokens (N, D), pooling weights m / L (N, T))."""
        if ids.ndim != 2:
            raise ValueError(f"{self.label()}: expected token ids of shape (N, T), "
                             f"got {ids.shape}")
        mask = ids != self.pad_id
        weights = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        weights = weights.astype(E.dtype)
        # p_n = sum_t w_nt E_nt  (a batched (1, T) @ (T, D) product)
        return np.matmul(weights[:, None, :], E)[:, 0, :], weights

    def forward(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        E = self.embedding.forward(ids)
        pooled, weights = self.pool(ids, E)
        self._cache = weights
        h = self.dropout.forward(self.tanh.forward(self.fc.forward(pooled)))
        return self.out.forward(h)

    def backward(self, grad_y: np.ndarray) -> None:
        weights = self._saved()
        dp = inner_grad(self.fc.backward(self.tanh.backward(self.dropout.backward(inner_grad(
            self.out.backward(grad_y))))))
        # dE_nt = w_nt dp_n
        dE = weights[:, :, None] * dp[:, None, :]
        return self.embedding.backward(dE)

    def extra_repr(self) -> str:
        return f"pad_id={self.pad_id}"


def text_classifier(vocab_size: int, embed_dim: int = 32, hidden: int = 32,
                    num_classes: int = 2, *, dropout: float = 0.2, pad_id: int = 0, rng=None,
                    dtype=None) -> TextClassifier:
    """The source documents' text classifier: Embedding -> Linear -> tanh -> Dropout ->
    Linear(2), with the token embeddings mean-pooled over time between Embedding and the
    first Linear. The mean is mask-aware: positions holding ``pad_id`` are left out of
    both the sum and the count (and the padding embedding row stays zero), so padding
    never changes a prediction. See :class:`TextClassifier`.
    """
    return TextClassifier(vocab_size, embed_dim, hidden, num_classes, dropout=dropout,
                          pad_id=pad_id, rng=rng, dtype=dtype)
