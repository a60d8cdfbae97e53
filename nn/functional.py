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
    """l = x - logsumexp(x) = (x - m) - log(sum(exp(x - m))), m = max(x): never log(0)."""
    z = x - x.max(axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x - m) / sum(exp(x - m)), m = max(x); rows sum to 1."""
    z = x - x.max(axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        e = np.exp(z)
        return e / e.sum(axis=axis, keepdims=True)


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
    """A cached read-only vector of ``n`` ones: a sum written as the BLAS product 1^T G.

    Used where a measured whole-step benchmark shows the product beats ``G.sum(axis=0)``
    by more than 5% (see docs/architecture.md); Linear's bias gradient does not (0.3-0.5%
    of an MLP step) and is written as the plain sum."""
    dtype = np.dtype(dtype)
    key = (n, dtype.str)
    vec = _ONES.get(key)
    if vec is None:
        if len(_ONES) > 64:
            _ONES.clear()
        vec = _ONES[key] = np.ones(n, dtype=dtype)
        vec.flags.writeable = False
    return vec
