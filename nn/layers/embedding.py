"""Embedding: a lookup table of learned vectors, indexed by integer token ids.

::

    forward:   y[..., :] = W[idx[...], :]           idx int (...), W (num, dim), y (..., dim)
    backward:  dW[v, :] += sum over positions p with idx[p] == v of G[p, :]
               (no gradient for the integer input: backward returns None)

Written as a matrix product, with the one-hot matrix O (M, num) of the M = idx.size
flattened indices (O[p, v] = 1 when idx[p] == v), the forward is y = O W and the backward
is dW = O^T G: the gradient of a row is the sum of the upstream gradients of every
position that looked it up, so repeated indices accumulate.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .._config import get_rng, resolve_dtype
from ..layer import Layer, check_grad
from ..parameter import Parameter

#: Below this many one-hot entries (M * num), dW = O^T G as a dense GEMM is cheapest; above
#: it, the same product with O^T stored sparse (CSR, one nonzero per column). Measured on
#: 2 vCPUs, float32, dim 64: (num 60, M 1600) dense 0.20 ms, CSR 0.14 ms, np.add.at 1.8 ms;
#: (num 50, M 200) dense 0.01-0.02 ms, CSR 0.14-0.19 ms, np.add.at 0.04 ms; (num 5000, M 1600)
#: CSR 0.5 ms, np.add.at 1.9 ms, dense 10 ms. See docs/text.md.
DENSE_SCATTER_MAX = 1 << 16


class Embedding(Layer):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``; ``y = weight[idx]``.

    Shapes: ``idx`` an integer array of any shape (...), values in [0, num_embeddings);
    y ``(..., embedding_dim)``; ``weight`` ``(num_embeddings, embedding_dim)`` and its
    gradient of the same shape. ``forward`` caches ``idx``. ``backward(G)`` with G of y's
    shape adds ``dW = O^T G`` into ``weight.grad`` (O the one-hot matrix of the flattened
    indices, so a row looked up k times receives the sum of its k upstream gradients) and
    returns ``None``: there is no gradient with respect to integer indices.

    Parameters
    ----------
    num_embeddings, embedding_dim : int
        Table size (the vocabulary size) and vector size.
    rng : None, int or numpy.random.Generator
        The weight starts N(0, 1), like PyTorch's ``nn.Embedding``.
    padding_idx : int, optional
        A row that starts at zero and never receives a gradient (PyTorch's meaning), for the
        padding token of a batch of sequences of unequal length.
    dtype : floating dtype, optional
        The weight's dtype (default: ``nn.get_default_dtype()``). The output has this dtype.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, rng=None, *,
                 padding_idx: int | None = None, dtype=None):
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"Embedding: {name} must be a positive integer, got {value!r}")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= int(padding_idx) < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{self.num_embeddings} embeddings")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        dt = resolve_dtype(dtype)
        w = get_rng(rng).standard_normal((self.num_embeddings, self.embedding_dim)).astype(dt)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.weight = Parameter(w)

    @classmethod
    def from_pretrained(cls, weight: np.ndarray, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An Embedding holding a copy of ``weight`` (num, dim); frozen unless ``freeze=False``."""
        w = np.asarray(weight)
        if w.ndim != 2 or w.dtype.kind != "f":
            raise ValueError(f"Embedding.from_pretrained: expected a 2-D floating array "
                             f"(num_embeddings, embedding_dim), got {w.dtype} {w.shape}")
        layer = cls(w.shape[0], w.shape[1], rng=0, padding_idx=padding_idx, dtype=w.dtype)
        layer.weight.data[...] = w
        layer.weight.requires_grad = not freeze
        return layer

    def forward(self, idx: np.ndarray) -> np.ndarray:
        idx = self._check_indices(idx)
        self._cache = np.array(idx, copy=True)  # the caller may reuse its index array
        # y = W[idx]  (np.take along rows: one gather)
        return np.take(self.weight.data, idx, axis=0)

    def backward(self, grad_y: np.ndarray) -> None:
        idx = self._saved()
        W = self.weight.data
        shape = idx.shape + (self.embedding_dim,)
        grad_y = check_grad(self, grad_y, shape, W.dtype)
        if not self.weight.requires_grad:
            return None
        G = grad_y.reshape(-1, self.embedding_dim)                  # (M, dim)
        # dW += O^T G  (O the one-hot matrix of the flattened indices: a scatter-add of rows;
        # positions holding padding_idx get a zero in O, so that row receives nothing)
        self.weight.add_grad(
            onehot_t(idx.reshape(-1), self.num_embeddings, W.dtype, self.padding_idx) @ G)
        return None

    def _check_indices(self, idx) -> np.ndarray:
        if not isinstance(idx, np.ndarray):
            if isinstance(idx, (list, tuple, int, np.integer)):
                idx = np.asarray(idx)
            else:
                raise TypeError(f"{self.label()}: expected an integer numpy.ndarray of token "
                                f"ids, got {type(idx).__name__}")
        if idx.dtype.kind not in "iu":
            raise TypeError(f"{self.label()}: expected integer token ids, got dtype {idx.dtype} "
                            f"(shape {idx.shape}); cast with idx.astype(np.int64)")
        if idx.size:
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= self.num_embeddings:
                bad = lo if lo < 0 else hi
                raise ValueError(f"{self.label()}: index {bad} is out of range: valid token ids "
                                 f"are 0..{self.num_embeddings - 1} (input shape {idx.shape})")
        return idx

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}{pad}"


def onehot_t(flat: np.ndarray, num: int, dtype, padding_idx: int | None = None):
    """O^T (num, M) for the M indices ``flat``: ``O^T[v, p] = 1`` where ``flat[p] == v``
    (0 in row ``padding_idx``). A dense array for up to ``DENSE_SCATTER_MAX`` entries, else
    the same matrix in CSR form (row v lists the positions p with flat[p] == v), for which
    ``O^T @ G`` is a sparse product: the same numbers, without the num x M zeros."""
    M = flat.size
    if M * num <= DENSE_SCATTER_MAX:
        dense = np.zeros((num, M), dtype=dtype)
        dense[flat, np.arange(M)] = 1
        if padding_idx is not None:
            dense[padding_idx] = 0
        return dense
    order = np.argsort(flat, kind="stable")
    indptr = np.zeros(num + 1, dtype=np.intp)
    indptr[1:] = np.cumsum(np.bincount(flat, minlength=num))
    data = np.ones(M, dtype=dtype)
    if padding_idx is not None:
        data[indptr[padding_idx]:indptr[padding_idx + 1]] = 0
    return sparse.csr_matrix((data, order, indptr), shape=(num, M))
