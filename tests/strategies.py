"""Hypothesis strategies shared by the layer, loss and gradcheck tests.

Values are bounded, finite and never tiny: under ``np.errstate(all="raise")`` (see
conftest.py) a product of two values below ~1e-154 would raise an underflow that says
nothing about the layer under test, so magnitudes below ``TINY`` are snapped to exactly 0.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

TINY = 1e-6


def _snap_tiny(v: float) -> float:
    return 0.0 if abs(v) < TINY else v


def finite_floats(lo: float = -3.0, hi: float = 3.0, width: int = 64) -> st.SearchStrategy:
    """Bounded finite floats: no NaN, no inf, no subnormals, no magnitudes in (0, TINY)."""
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False, width=width).map(_snap_tiny)


def shapes(min_dims: int = 1, max_dims: int = 3, min_side: int = 1,
           max_side: int = 4) -> st.SearchStrategy:
    """Small array shapes."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def arrays(shape, lo: float = -3.0, hi: float = 3.0, dtype=np.float64) -> st.SearchStrategy:
    """Arrays of ``shape`` (a tuple or a strategy of tuples) with bounded finite values."""
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return hnp.arrays(dtype, shape, elements=finite_floats(lo, hi, width=width))


def away_from_zero(x: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """x = sign(x) * (|x| + margin), with sign(0) = +1: keeps ReLU-like kinks out of reach."""
    return np.where(x >= 0, x + margin, x - margin)


@st.composite
def batched(draw, features: int | None = None, min_lead: int = 1, max_lead: int = 3,
            max_side: int = 4, max_features: int = 5, lo: float = -3.0, hi: float = 3.0,
            dtype=np.float64):
    """An array of shape (*leading, features), 1..max_lead leading dims."""
    lead = draw(shapes(min_dims=min_lead, max_dims=max_lead, max_side=max_side))
    f = features if features is not None else draw(st.integers(1, max_features))
    return draw(arrays(tuple(lead) + (f,), lo, hi, dtype))


@st.composite
def class_targets(draw, shape, num_classes: int, ignore_index: int | None = None):
    """Integer class indices of ``shape`` in [0, num_classes), optionally some ignored."""
    size = int(np.prod(shape, dtype=np.int64))
    choices = list(range(num_classes)) + ([ignore_index] if ignore_index is not None else [])
    flat = draw(st.lists(st.sampled_from(choices), min_size=size, max_size=size))
    return np.array(flat, dtype=np.int64).reshape(shape)


@st.composite
def probability_targets(draw, shape):
    """Rows (last axis) of non-negative numbers summing to 1."""
    raw = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0, allow_subnormal=False)
                          .map(_snap_tiny)))
    raw = raw + 0.05  # strictly positive rows, so every row can be normalised
    return raw / raw.sum(axis=-1, keepdims=True)


seeds = st.integers(min_value=0, max_value=2**31 - 1)
