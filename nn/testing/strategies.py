"""Hypothesis strategies for layer tests: shapes, bounded values, seeds, kink-free inputs.

Every value strategy draws bounded, finite floats with no NaN, no infinity, no subnormal
and no magnitude below ``TINY`` (snapped to exactly 0): in a test of your own run under
``np.errstate(all="raise")``, a product of two tiny numbers would raise an underflow that
says nothing about the layer (the property checks themselves ignore underflow).

Kinks (ReLU at 0, ties in a max) are kept out of reach by a *deterministic nudge* of the
drawn array (:func:`away_from`, :func:`distinct`), not by ``assume``: every drawn example
is used, and shrinking still works because the nudge is a pure function of the draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

TINY = 1e-6


def _snap_tiny(v: float) -> float:
    return 0.0 if abs(v) < TINY else v


def finite_floats(lo: float = -3.0, hi: float = 3.0,
                  width: Literal[16, 32, 64] = 64) -> st.SearchStrategy:
    """Floats in ``[lo, hi]``: no NaN, no infinity, no subnormals, nothing in (0, TINY)."""
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False, width=width).map(_snap_tiny)


def seeds() -> st.SearchStrategy[int]:
    """Seeds for weights, dropout masks and upstream gradients."""
    return st.integers(min_value=0, max_value=2**31 - 1)


def shapes(min_dims: int = 1, max_dims: int = 3, min_side: int = 1,
           max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """Small array shapes (any rank in ``[min_dims, max_dims]``)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def batch_shapes(last: int | None = None, *, min_lead: int = 1, max_lead: int = 2,
                 max_side: int = 4, max_last: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes ``(*leading, last)`` with 1..``max_lead`` leading dims.

    ``last`` fixes the feature dimension (``in_features`` of a Linear); ``None`` draws it.
    """
    lead = shapes(min_dims=min_lead, max_dims=max_lead, max_side=max_side)
    feat = st.just(int(last)) if last is not None else st.integers(1, max_last)
    return st.tuples(lead, feat).map(lambda t: tuple(t[0]) + (t[1],))


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def image_shapes(channels: int | None = None, *, kernel_size=1, stride=1, padding=0,
                 dilation=1, min_batch: int = 1, max_batch: int = 3, max_channels: int = 3,
                 max_extra: int = 4) -> st.SearchStrategy[tuple[int, int, int, int]]:
    """NCHW shapes whose padded image fits the (dilated) kernel at least once.

    ``H = max(1, d (k - 1) + 1 - 2 p) + extra`` with ``extra`` in ``[0, max_extra]``, per
    axis, so the output is never empty; ``channels`` fixes C (``in_channels``).
    """
    kh, kw = _pair(kernel_size)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    _pair(stride)  # validated for symmetry with the layer's arguments
    min_h = max(1, dh * (kh - 1) + 1 - 2 * ph)
    min_w = max(1, dw * (kw - 1) + 1 - 2 * pw)
    c = st.just(int(channels)) if channels is not None else st.integers(1, max_channels)
    batch = st.integers(min_batch, max(min_batch, max_batch))
    return st.tuples(batch, c, st.integers(min_h, min_h + max_extra),
                     st.integers(min_w, min_w + max_extra))


def sequence_shapes(channels: int | None = None, *, kernel_size: int = 1, stride: int = 1,
                    padding: int = 0, dilation: int = 1, min_batch: int = 1,
                    max_batch: int = 3, max_channels: int = 3, max_extra: int = 6
                    ) -> st.SearchStrategy[tuple[int, int, int]]:
    """(N, C, L) shapes whose padded sequence fits the (dilated) kernel at least once.

    ``L = max(1, d (k - 1) + 1 - 2 p) + extra`` with ``extra`` in ``[0, max_extra]``, so the
    output is never empty; ``channels`` fixes C (``in_channels``). The 1-D counterpart of
    :func:`image_shapes`, for Conv1d and the 1-D pooling layers.
    """
    if stride < 1:
        raise ValueError(f"sequence_shapes: stride must be positive, got {stride}")
    min_l = max(1, dilation * (kernel_size - 1) + 1 - 2 * padding)
    c = st.just(int(channels)) if channels is not None else st.integers(1, max_channels)
    batch = st.integers(min_batch, max(min_batch, max_batch))
    return st.tuples(batch, c, st.integers(min_l, min_l + max_extra))


def arrays(shape, lo: float = -3.0, hi: float = 3.0, dtype=np.float64,
           nudge: Callable[[np.ndarray], np.ndarray] | None = None) -> st.SearchStrategy:
    """Arrays of ``shape`` (a tuple or a strategy of tuples) with bounded finite values.

    ``nudge`` (e.g. ``away_from(0.0)``) is applied to each drawn array.
    """
    width: Literal[32, 64] = 32 if np.dtype(dtype) == np.float32 else 64
    strat = hnp.arrays(np.dtype(dtype), shape, elements=finite_floats(lo, hi, width=width))
    return strat.map(nudge) if nudge is not None else strat


def away_from(points: float | Sequence[float] = 0.0,
              margin: float = 0.05) -> Callable[[np.ndarray], np.ndarray]:
    """A nudge that moves every value closer than ``margin`` to a kink point out to
    ``point ± margin`` (to the side it was on; exactly at the point: ``+``)."""
    pts = np.atleast_1d(np.asarray(points, dtype=np.float64))

    def nudge(x: np.ndarray) -> np.ndarray:
        out = np.array(x, copy=True)
        for p in pts:
            near = np.abs(out - p) < margin
            out[near] = np.where(out[near] >= p, p + margin, p - margin)
        return out

    nudge.__name__ = f"away_from({pts.tolist()}, margin={margin})"
    return nudge


def distinct(gap: float = 0.05) -> Callable[[np.ndarray], np.ndarray]:
    """A nudge that makes all values distinct, at least ``gap`` apart, keeping their order.

    Adds ``gap * rank`` to each value (rank in the sorted order, ties broken by position):
    consecutive values then differ by at least ``gap``, so a max or a sort has one clear
    winner per window. The range grows by ``gap * (size - 1)``.
    """

    def nudge(x: np.ndarray) -> np.ndarray:
        flat = np.asarray(x, dtype=np.float64).reshape(-1)
        if flat.size == 0:
            return np.array(x, copy=True)
        order = np.argsort(flat, kind="stable")
        ranks = np.empty(flat.size)
        ranks[order] = np.arange(flat.size)
        out = flat + gap * ranks  # strictly increasing along the sorted order
        return out.reshape(np.shape(x)).astype(np.asarray(x).dtype)

    nudge.__name__ = f"distinct(gap={gap})"
    return nudge


@st.composite
def layer_inputs(draw, shape, lo: float = -3.0, hi: float = 3.0, dtype=np.float64,
                 nudge: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """One input array: ``shape`` is a tuple or a strategy of tuples."""
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    return draw(arrays(tuple(shape), lo, hi, dtype, nudge))


@st.composite
def class_targets(draw, shape, num_classes: int,
                  ignore_index: int | None = None) -> np.ndarray:
    """Integer class indices of ``shape`` in ``[0, num_classes)``, some ``ignore_index``."""
    size = int(np.prod(shape, dtype=np.int64))
    choices = list(range(num_classes)) + ([ignore_index] if ignore_index is not None else [])
    flat = draw(st.lists(st.sampled_from(choices), min_size=size, max_size=size))
    return np.array(flat, dtype=np.int64).reshape(shape)


@st.composite
def probability_targets(draw, shape) -> np.ndarray:
    """Rows (last axis) of positive numbers summing to 1."""
    raw = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0, allow_subnormal=False)
                          .map(_snap_tiny)))
    raw = raw + 0.05
    return raw / raw.sum(axis=-1, keepdims=True)
