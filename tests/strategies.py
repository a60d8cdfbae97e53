"""Strategies for this project's own tests: the kit's (``nn.testing.strategies``), plus two
shorthands the older tests use. ``seeds`` here is a strategy object, not a function."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from nn.testing.strategies import (  # noqa: F401 - re-exported for the tests
    TINY,
    arrays,
    class_targets,
    finite_floats,
    probability_targets,
    shapes,
)
from nn.testing.strategies import seeds as _seeds

seeds = _seeds()


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
