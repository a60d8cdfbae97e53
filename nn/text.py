"""Text tools: tokenisers, a vocabulary, padded batches and language-modelling pairs.

The path from text to the integer arrays that :class:`nn.Embedding` reads::

    tokens = nn.text.word_tokenize("The cat sat.")          # ['the', 'cat', 'sat', '.']
    vocab = nn.text.Vocabulary.build([tokens], min_freq=1)   # '<pad>' = 0, '<unk>' = 1, ...
    ids = vocab.encode(tokens)                               # int64 array
    batch = nn.text.pad_sequences([ids, ids[:2]])            # (2, 4), padded with 0 at the end
    x, y = nn.text.next_token_pairs(ids, seq_len=2)          # y is x shifted by one token

Padding id 0 is what ``nn.CrossEntropyLoss(ignore_index=vocab.pad_id)`` skips and what
``nn.Embedding(..., padding_idx=vocab.pad_id)`` keeps at zero (see docs/text.md).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import DTypeLike

from ._config import get_rng

__all__ = ["char_tokenize", "word_tokenize", "detokenize_words", "CharTokenizer",
           "WordTokenizer", "Vocabulary", "pad_sequences", "padding_mask", "next_token_pairs",
           "shifted_pairs", "random_windows", "unigram_perplexity", "PAD", "UNK"]

PAD = "<pad>"
UNK = "<unk>"

_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(".,;:!?)]}%'")
_NO_SPACE_AFTER = set("([{")


# ---------------------------------------------------------------------- tokenisers
def char_tokenize(text: str) -> list[str]:
    """Every character is a token (spaces and newlines included)."""
    return list(text)


def word_tokenize(text: str, lower: bool = True) -> list[str]:
    """Words (letters, digits, underscores, inner apostrophes: ``don't``) and single
    punctuation marks; whitespace separates tokens and is dropped."""
    return _WORD.findall(text.lower() if lower else text)


def detokenize_words(tokens: Iterable[str]) -> str:
    """Join word tokens with spaces, without a space before closing punctuation or after
    an opening bracket: ``['the', 'end', '.']`` -> ``'the end.'``."""
    out: list[str] = []
    glue = True
    for tok in tokens:
        if out and not glue and tok not in _NO_SPACE_BEFORE:
            out.append(" ")
        out.append(tok)
        glue = tok in _NO_SPACE_AFTER
    return "".join(out)


class CharTokenizer:
    """``tokenize(text)`` -> characters; ``detokenize(tokens)`` -> ``"".join(tokens)``."""

    level = "char"

    def tokenize(self, text: str) -> list[str]:
        return char_tokenize(text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return "".join(tokens)

    def __repr__(self) -> str:
        return "CharTokenizer()"


class WordTokenizer:
    """``tokenize(text)`` -> words and punctuation (lower-cased unless ``lower=False``);
    ``detokenize(tokens)`` joins them back with :func:`detokenize_words`."""

    level = "word"

    def __init__(self, lower: bool = True):
        self.lower = bool(lower)

    def tokenize(self, text: str) -> list[str]:
        return word_tokenize(text, lower=self.lower)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return detokenize_words(tokens)

    def __repr__(self) -> str:
        return f"WordTokenizer(lower={self.lower})"


# ---------------------------------------------------------------------- vocabulary
class Vocabulary:
    """A two-way map between tokens and integer ids.

    The special tokens come first: by default ``'<pad>'`` (id 0, for padding) and
    ``'<unk>'`` (id 1, what every unknown token encodes to). Then the corpus tokens in
    order of decreasing count (ties broken by the token itself, so that the same corpus
    always gives the same ids).

    Parameters
    ----------
    tokens : iterable of str
        The non-special tokens, in id order (duplicates and specials are skipped).
    specials : sequence of str
        Tokens given the first ids. Must contain ``unk`` if unknown tokens are to be
        encoded; ``pad`` is optional.
    """

    def __init__(self, tokens: Iterable[str] = (), specials: Sequence[str] = (PAD, UNK),
                 pad: str | None = PAD, unk: str | None = UNK):
        self.itos: list[str] = []
        self.stoi: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        for tok in list(specials) + list(tokens):
            if not isinstance(tok, str):
                raise TypeError(f"Vocabulary: tokens must be strings, got {type(tok).__name__}")
            if tok not in self.stoi:
                self.stoi[tok] = len(self.itos)
                self.itos.append(tok)
        self.specials = tuple(specials)
        for name, given in (("pad", pad), ("unk", unk)):
            if given is not None and given not in self.specials:
                raise ValueError(f"Vocabulary: {name} token {given!r} must be one of the specials "
                                 f"{self.specials}")
        self.pad = pad
        self.unk = unk

    @classmethod
    def build(cls, corpus: Iterable[Iterable[str]] | Iterable[str], min_freq: int = 1,
              max_size: int | None = None, specials: Sequence[str] = (PAD, UNK),
              pad: str | None = PAD, unk: str | None = UNK) -> Vocabulary:
        """Count tokens and keep those seen at least ``min_freq`` times.

        ``corpus`` is either one token list (e.g. ``char_tokenize(text)``) or an iterable
        of token lists (one per document or sentence). ``max_size`` caps the total size,
        specials included, keeping the most frequent tokens.
        """
        counter: Counter = Counter()
        for item in corpus:
            if isinstance(item, str):
                counter[item] += 1
            else:
                counter.update(item)
        if min_freq < 1:
            raise ValueError(f"Vocabulary.build: min_freq must be >= 1, got {min_freq}")
        kept = sorted((t for t, c in counter.items() if c >= min_freq and t not in specials),
                      key=lambda t: (-counter[t], t))
        if max_size is not None:
            if max_size < len(specials):
                raise ValueError(f"Vocabulary.build: max_size {max_size} is smaller than the "
                                 f"{len(specials)} special tokens")
            kept = kept[:max_size - len(specials)]
        vocab = cls(kept, specials=specials, pad=pad, unk=unk)
        vocab.counts = {t: counter[t] for t in kept}
        return vocab

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token`` (the unknown id if it is not in the vocabulary)."""
        idx = self.stoi.get(token)
        if idx is None:
            if self.unk is None:
                raise KeyError(f"Vocabulary: unknown token {token!r} and no unk token")
            return self.stoi[self.unk]
        return idx

    @property
    def pad_id(self) -> int | None:
        return None if self.pad is None else self.stoi[self.pad]

    @property
    def unk_id(self) -> int | None:
        return None if self.unk is None else self.stoi[self.unk]

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Token ids as an int64 array; unknown tokens get ``unk_id``."""
        stoi = self.stoi
        unk = self.unk_id
        if unk is None:
            ids = [self[t] for t in tokens]
        else:
            ids = [stoi.get(t, unk) for t in tokens]
        return np.array(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int], skip_specials: bool = False) -> list[str]:
        """Tokens for ``ids``; with ``skip_specials`` the special tokens are left out."""
        out = []
        n = len(self.itos)
        for i in np.asarray(ids).reshape(-1).tolist():
            if not 0 <= i < n:
                raise ValueError(f"Vocabulary.decode: id {i} is out of range for a vocabulary "
                                 f"of {n} tokens")
            tok = self.itos[i]
            if skip_specials and tok in self.specials:
                continue
            out.append(tok)
        return out

    # ------------------------------------------------------------------ saving
    def to_json(self) -> str:
        return json.dumps({"itos": self.itos, "specials": list(self.specials), "pad": self.pad,
                           "unk": self.unk})

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        d = json.loads(text)
        n = len(d["specials"])
        if d["itos"][:n] != d["specials"]:
            raise ValueError("Vocabulary.from_json: the first tokens must be the specials")
        return cls(d["itos"][n:], specials=d["specials"], pad=d["pad"], unk=d["unk"])

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos and \
            self.specials == other.specials and (self.pad, self.unk) == (other.pad, other.unk)

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, specials={self.specials})"


# ---------------------------------------------------------------------- batches
def pad_sequences(sequences: Sequence[Sequence[int] | np.ndarray], max_len: int | None = None,
                  pad_id: int = 0, padding: str = "post", truncating: str = "post",
                  dtype: DTypeLike = np.int64) -> np.ndarray:
    """Stack integer sequences of unequal length into an ``(N, max_len)`` array.

    Parameters
    ----------
    sequences : sequence of (sequences of int or 1-d integer arrays)
        The rows, e.g. ``[vocab.encode(t) for t in texts]``.
    max_len : int, optional
        Length of every row (default: the longest sequence). Longer sequences are cut.
    pad_id : int
        Fill value (``vocab.pad_id``).
    padding : {"post", "pre"}
        Pad at the end (default; what a left-to-right recurrent model wants, since the
        padding then comes after every real token) or at the start.
    truncating : {"post", "pre"}
        Cut the end (keep the first ``max_len`` tokens) or the start (keep the last ones).
    dtype : numpy dtype
        Of the result, ``(len(sequences), max_len)``.
    """
    for name, value in (("padding", padding), ("truncating", truncating)):
        if value not in ("post", "pre"):
            raise ValueError(f"pad_sequences: {name} must be 'post' or 'pre', got {value!r}")
    seqs = [np.asarray(s).reshape(-1) for s in sequences]
    for s in seqs:
        if s.size and s.dtype.kind not in "iu":
            raise TypeError(f"pad_sequences: sequences must hold integers, got dtype {s.dtype}")
    if max_len is None:
        max_len = max((len(s) for s in seqs), default=0)
    if max_len < 0:
        raise ValueError(f"pad_sequences: max_len must be >= 0, got {max_len}")
    out = np.full((len(seqs), max_len), pad_id, dtype=dtype)
    for row, s in zip(out, seqs):
        s = s[:max_len] if truncating == "post" else s[max(len(s) - max_len, 0):]
        if len(s):
            if padding == "post":
                row[:len(s)] = s
            else:
                row[max_len - len(s):] = s
    return out


def padding_mask(ids: np.ndarray, pad_id: int = 0) -> np.ndarray:
    """Boolean array of ``ids``' shape: True at real tokens, False at padding."""
    return np.asarray(ids) != pad_id


def next_token_pairs(ids: Sequence[int] | np.ndarray, seq_len: int, stride: int | None = None,
                     offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Language-modelling pairs from one long token stream.

    Windows of ``seq_len`` tokens start at ``offset``, ``offset + stride``, ... (stride
    defaults to ``seq_len``: non-overlapping windows); each input window ``x[k]`` is paired
    with the same window shifted by one token, ``y[k]``, so ``y[k, t]`` is the token that
    follows ``x[k, t]``. Returns ``x, y`` of shape ``(K, seq_len)``, int64.
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if seq_len < 1:
        raise ValueError(f"next_token_pairs: seq_len must be >= 1, got {seq_len}")
    stride = seq_len if stride is None else int(stride)
    if stride < 1 or offset < 0:
        raise ValueError(f"next_token_pairs: stride must be >= 1 and offset >= 0, got "
                         f"{stride} and {offset}")
    last = len(ids) - seq_len - 1          # the last valid window start
    if last < offset:
        raise ValueError(f"next_token_pairs: a stream of {len(ids)} tokens is too short for "
                         f"one window of {seq_len} + 1 tokens at offset {offset}")
    starts = np.arange(offset, last + 1, stride)
    idx = starts[:, None] + np.arange(seq_len)
    return ids[idx], ids[idx + 1]


def shifted_pairs(sequences: Sequence[Sequence[int] | np.ndarray], pad_id: int = 0,
                  max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Language-modelling pairs from separate sequences (sentences), padded at the end.

    ``x`` holds each sequence without its last token, ``y`` without its first, both padded
    with ``pad_id`` to a common length (at most ``max_len``). Train with
    ``CrossEntropyLoss(ignore_index=pad_id)``: the padded positions then contribute nothing.
    """
    xs = [np.asarray(s)[:-1] for s in sequences]
    ys = [np.asarray(s)[1:] for s in sequences]
    return (pad_sequences(xs, max_len, pad_id=pad_id),
            pad_sequences(ys, max_len, pad_id=pad_id))


def random_windows(ids: Sequence[int] | np.ndarray, seq_len: int, count: int,
                   rng=None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` next-token pairs at random positions of the stream (for epochs that each
    see different windows)."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    last = len(ids) - seq_len - 1
    if last < 0:
        raise ValueError(f"random_windows: a stream of {len(ids)} tokens is too short for "
                         f"windows of {seq_len} + 1 tokens")
    starts = get_rng(rng).integers(0, last + 1, size=count)
    idx = starts[:, None] + np.arange(seq_len)
    return ids[idx], ids[idx + 1]



def unigram_perplexity(train_ids: Sequence[int], eval_ids: Sequence[int],
                       vocab_size: int, smoothing: float = 1.0) -> float:
    """Perplexity of the unigram baseline: every token predicted by its training frequency.

    p(v) = (count_train(v) + smoothing) / (len(train) + smoothing * vocab_size) (add-one by
    default, so unseen tokens keep a finite cost); the result is exp(-mean log p(token))
    over ``eval_ids``. A language model has learned something beyond token frequencies only
    when its perplexity is well below this.
    """
    train = np.asarray(train_ids, dtype=np.int64).reshape(-1)
    ev = np.asarray(eval_ids, dtype=np.int64).reshape(-1)
    if ev.size == 0:
        raise ValueError("unigram_perplexity: eval_ids is empty")
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + smoothing
    log_p = np.log(counts) - np.log(counts.sum())
    return float(np.exp(-log_p[ev].mean()))
