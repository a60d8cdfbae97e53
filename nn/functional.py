"""Shared numerics, written once and called by layers and losses.

All are overflow-free for inputs of any magnitude (logits of 1e4 included) and do not
trip ``np.errstate(all="raise")``: the only floating-point event they allow is the benign
underflow of a tiny result to 0 (``exp`` of a very negative number, a probability
divided by its row sum), which is silenced locally.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def logsumexp(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(x), axis)) computed as m + log(sum(exp(x - m))), m = max(x)."""
    m = x.max(axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        s = np.exp(x - m).sum(axis=axis, keepdims=True)
    out = np.log(s) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - logsumexp(x): exact in the log domain, never log(0)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        s = np.exp(shifted).sum(axis=axis, keepdims=True)
    shifted -= np.log(s)
    return shifted


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)); rows sum to 1."""
    e = x - x.max(axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        np.exp(e, out=e)
        e /= e.sum(axis=axis, keepdims=True)
    return e


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow (scipy.special.expit), dtype kept."""
    return keep_dtype(special.expit(x), x)


def erf(x: np.ndarray) -> np.ndarray:
    """erf(x) = 2/sqrt(pi) int_0^x exp(-t^2) dt (scipy.special.erf), dtype kept."""
    return keep_dtype(special.erf(x), x)


def keep_dtype(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``y`` in ``x``'s floating dtype. SciPy's special functions have no float16 loop and
    compute float16 in float64; the result goes back to the input's dtype."""
    return y if y.dtype == x.dtype else y.astype(x.dtype)


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for any x."""
    with np.errstate(under="ignore"):
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for any x."""
    with np.errstate(under="ignore"):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def same_layout(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A copy of ``a`` laid out in memory like ``like`` (same shape), e.g. channels-last.

    Elementwise NumPy operations on two arrays of different memory layouts run several
    times slower than on one layout; a layer returning a gradient to a layer that caches
    arrays in its own layout hands it back in that layout.
    """
    out = np.empty_like(like)  # order="K": like's strides
    out[...] = a
    return out


_ONES: dict[tuple[int, str], np.ndarray] = {}


def ones(n: int, dtype) -> np.ndarray:
    """A cached read-only vector of ``n`` ones (for sums written as BLAS products)."""
    dtype = np.dtype(dtype)
    key = (n, dtype.str)
    vec = _ONES.get(key)
    if vec is None:
        if len(_ONES) > 64:
            _ONES.clear()
        vec = _ONES[key] = np.ones(n, dtype=dtype)
        vec.flags.writeable = False
    return vec


def sum_axis0(g: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Sum over the rows of a 2-D ``g`` (M, K) -> (K,), as the product 1_M^T g.

    A BLAS matrix-vector product is 2-4x faster than ``g.sum(axis=0)`` for the shapes of a
    bias gradient (measured: 1.2 us against 5 us for a (32, 256) float32 ``g``).
    """
    return np.matmul(ones(g.shape[0], g.dtype), g, out=out)


def sum_last(a: np.ndarray) -> np.ndarray:
    """Sum over the last axis of a 2-D ``a`` (M, K) -> (M,), as the product a 1_K."""
    return np.matmul(a, ones(a.shape[-1], a.dtype))
