"""Global settings: the default parameter dtype and the global random generator.

Every random choice in the framework draws from a :class:`numpy.random.Generator`.
Constructors take ``rng=None | int | Generator``; ``None`` means the one global
generator below, which :func:`manual_seed` re-seeds *in place* (so layers that hold a
reference to it see the new seed).
"""

from __future__ import annotations

import numpy as np

#: Seed of the global generator at import time. Like PyTorch, a fresh process is
#: deterministic until the user seeds it differently.
DEFAULT_SEED = 0

_default_dtype: np.dtype = np.dtype(np.float32)
_global_rng: np.random.Generator = np.random.default_rng(DEFAULT_SEED)

RngLike = "None | int | np.random.Generator"


def set_default_dtype(dtype) -> None:
    """Set the dtype of newly created parameters (float32 or float64)."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dt}")
    _default_dtype = dt


def get_default_dtype() -> np.dtype:
    """The dtype newly created parameters get when no ``dtype=`` is passed."""
    return _default_dtype


def resolve_dtype(dtype) -> np.dtype:
    """``None`` -> the default dtype; otherwise a floating dtype, checked."""
    if dtype is None:
        return _default_dtype
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"parameters must have a floating dtype, got {dt}")
    return dt


def manual_seed(seed: int) -> np.random.Generator:
    """Re-seed the global generator in place and return it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative integer, got {seed!r}")
    _global_rng.bit_generator.state = np.random.PCG64(int(seed)).state
    return _global_rng


def global_rng() -> np.random.Generator:
    """The global generator used when ``rng=None``."""
    return _global_rng


def get_rng(rng=None) -> np.random.Generator:
    """Turn ``None | int | Generator`` into a Generator (``None`` -> the global one)."""
    if rng is None:
        return _global_rng
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError("rng must be None, an int seed or a numpy.random.Generator, "
                    f"got {type(rng).__name__}")
