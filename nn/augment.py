"""Data augmentation: random, seeded changes of a batch, applied by ``nn.fit(transform=...)``.

A transform maps a batch ``x`` (N, ...) to a new array of the same shape and dtype
(:class:`RandomCrop` changes the size to the one asked for); labels are never seen, so they
stay as they are. Each sample gets its own random draw. Nothing is done in place and only
the batch is touched, so the data set itself may be a read-only ``np.memmap``.

Layouts: images are (N, C, H, W) or (N, H, W), their last two axes the height and width;
sequences are (N, L) or (N, C, L), time on ``axis`` (the last by default; ``axis=1`` for the
(N, T, features) input of a recurrent layer).

Randomness. ``t(x, rng)`` draws from ``rng`` (``None``: nn's global generator, an int: a
fresh generator with that seed). Inside ``nn.fit`` the generator of a batch is derived from
the transform's ``seed`` and the batch's position, ``t.batch_rng(epoch, batch)``, so the
same seed gives the same augmented batches in every run, and a run resumed from a
checkpoint draws exactly what the uninterrupted run drew: nothing needs saving.
:class:`Compose` chains transforms, passing one generator along the chain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from ._config import get_rng

__all__ = ["Transform", "Compose", "RandomCrop", "RandomShift", "RandomHorizontalFlip",
           "RandomRotation", "GaussianNoise", "RandomCrop1d", "RandomShift1d"]


def _int(name: str, what: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: {what} must be an integer >= {low}, got {value!r}")
    return int(value)


def _number(name: str, what: str, value: Any, low: float, high: float = math.inf) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not (low <= v <= high):
        raise ValueError(f"{name}: {what} must be a number in [{low}, {high}], got {value!r}")
    return v


class Transform:
    """Base class: ``apply(x, rng)`` changes a batch; ``__call__`` checks and calls it.

    Parameters
    ----------
    seed : int, optional
        The seed of the generators ``nn.fit`` derives per batch (:meth:`batch_rng`).
        ``None`` draws one from nn's global generator at construction, so
        ``nn.manual_seed`` before building the transform fixes it too.
    """

    min_ndim = 2               # axes a batch needs at least, described by layout
    layout = "(N, ...)"
    floating_only = False      # True: integer batches are refused

    def __init__(self, *, seed: int | None = None):
        if seed is None:
            seed = int(get_rng(None).integers(2**63))
        self.seed = _int(type(self).__name__, "seed", seed, 0)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | int | None = None
                 ) -> np.ndarray:
        """The transformed batch: a new array, same dtype (and shape, except for crops)."""
        name = type(self).__name__
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: expected a numpy array batch, got {type(x).__name__}")
        if x.ndim < self.min_ndim or len(x) == 0:
            raise ValueError(f"{name}: expected a non-empty batch with at least "
                             f"{self.min_ndim} axes {self.layout}, got shape {x.shape}")
        if self.floating_only and x.dtype.kind != "f":
            raise TypeError(f"{name}: needs a floating batch, got dtype {x.dtype} (scale "
                            f"integer images to floats first, e.g. x / 255)")
        return self.apply(x, get_rng(rng))

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The change itself, on a checked batch; ``rng`` is a Generator. Subclasses write it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement apply")

    def batch_rng(self, epoch: int, batch: int) -> np.random.Generator:
        """The generator of batch ``batch`` of epoch ``epoch``: a function of ``seed``,
        ``epoch`` and ``batch`` only (NumPy's ``SeedSequence`` with that spawn key)."""
        return np.random.default_rng(np.random.SeedSequence(self.seed,
                                                            spawn_key=(epoch, batch)))

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                          if k not in ("seed", "transforms"))
        return f"{type(self).__name__}({extra})"


class Compose(Transform):
    """Apply ``transforms`` in order, all drawing from the one generator given to the call:
    ``Compose([RandomShift(2), GaussianNoise(0.1)], seed=0)``. Inside ``fit`` only this
    object's ``seed`` counts (the members' own seeds are not used)."""

    min_ndim = 1

    def __init__(self, transforms: Sequence[Transform], *, seed: int | None = None):
        transforms = list(transforms)
        bad = [type(t).__name__ for t in transforms if not isinstance(t, Transform)]
        if not transforms or bad:
            raise TypeError(f"Compose: expected a non-empty list of nn.data transforms, got "
                            f"{bad or 'an empty list'}")
        super().__init__(seed=seed)
        self.transforms = transforms

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r}, seed={self.seed})"


# ---------------------------------------------------------------------- windows
def _window(x: np.ndarray, axis: int, start: np.ndarray, length: int, pad: int,
            fill: float) -> np.ndarray:
    """For every sample n, the ``length`` entries from ``start[n]`` on along ``axis`` of
    ``x`` padded with ``pad`` entries equal to ``fill`` on each side of that axis."""
    if pad:
        widths = [(0, 0)] * x.ndim
        widths[axis] = (pad, pad)
        x = np.pad(x, widths, constant_values=fill)
    shape = [1] * x.ndim
    shape[0], shape[axis] = len(x), length
    index = start[:, None] + np.arange(length)          # (N, length), per sample
    return np.take_along_axis(x, index.reshape(shape), axis=axis)


def _pair(name: str, what: str, value: Any, low: int) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}: {what} must be an int or a pair (h, w), got {value!r}")
        return _int(name, what, value[0], low), _int(name, what, value[1], low)
    v = _int(name, what, value, low)
    return v, v


class RandomCrop(Transform):
    """Images: pad the height and width with ``padding`` values ``fill`` on every side, then
    cut a ``size`` = (h, w) window at a random place, for each image its own.
    Output (N, C, h, w) or (N, h, w)."""

    min_ndim = 3
    layout = "(N, C, H, W) or (N, H, W)"

    def __init__(self, size: int | tuple[int, int], padding: int = 0, fill: float = 0.0, *,
                 seed: int | None = None):
        super().__init__(seed=seed)
        self.size = _pair("RandomCrop", "size", size, 1)
        self.padding = _int("RandomCrop", "padding", padding, 0)
        self.fill = fill

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        (h, w), p, (H, W) = self.size, self.padding, x.shape[-2:]
        if h > H + 2 * p or w > W + 2 * p:
            raise ValueError(f"RandomCrop: size {self.size} is larger than the images "
                             f"{H}x{W} padded by {p} (batch shape {x.shape})")
        top = rng.integers(0, H + 2 * p - h + 1, size=len(x))
        left = rng.integers(0, W + 2 * p - w + 1, size=len(x))
        x = _window(x, -2, top, h, p, self.fill)
        return _window(x, -1, left, w, p, self.fill)


class RandomShift(Transform):
    """Images: move each image by whole pixels, up to ``max_shift`` in each direction
    (uniform in -max_shift..max_shift, rows and columns drawn apart), filling the uncovered
    border with ``fill``. The same as ``RandomCrop((H, W), padding=max_shift)``."""

    min_ndim = 3
    layout = "(N, C, H, W) or (N, H, W)"

    def __init__(self, max_shift: int, fill: float = 0.0, *, seed: int | None = None):
        super().__init__(seed=seed)
        self.max_shift = _int("RandomShift", "max_shift", max_shift, 0)
        self.fill = fill

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s, (H, W) = self.max_shift, x.shape[-2:]
        x = _window(x, -2, rng.integers(0, 2 * s + 1, size=len(x)), H, s, self.fill)
        return _window(x, -1, rng.integers(0, 2 * s + 1, size=len(x)), W, s, self.fill)


class RandomHorizontalFlip(Transform):
    """Images: mirror each image left-right (its last axis) with probability ``p``."""

    min_ndim = 3
    layout = "(N, C, H, W) or (N, H, W)"

    def __init__(self, p: float = 0.5, *, seed: int | None = None):
        super().__init__(seed=seed)
        self.p = _number("RandomHorizontalFlip", "p", p, 0.0, 1.0)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flip = (rng.random(len(x)) < self.p).reshape((-1,) + (1,) * (x.ndim - 1))
        return np.where(flip, x[..., ::-1], x)


class RandomRotation(Transform):
    """Images: rotate each image about its centre by an angle drawn uniformly in
    [-degrees, degrees], with bilinear interpolation; pixels from outside are ``fill``.

    The value at output pixel (i, j) is read at (i', j') = c + R(-angle) ((i, j) - c),
    c = ((H - 1) / 2, (W - 1) / 2), by ``scipy.ndimage.map_coordinates(order=1)``.
    Floating images only.
    """

    min_ndim = 3
    layout = "(N, C, H, W) or (N, H, W)"
    floating_only = True

    def __init__(self, degrees: float, fill: float = 0.0, *, seed: int | None = None):
        super().__init__(seed=seed)
        self.degrees = _number("RandomRotation", "degrees", degrees, 0.0, 180.0)
        self.fill = fill

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        H, W = x.shape[-2:]
        planes = x.reshape(-1, H, W)                        # (M, H, W), M = N * C
        angle = np.deg2rad(rng.uniform(-self.degrees, self.degrees, size=len(x)))
        angle = np.repeat(angle, len(planes) // len(x))[:, None, None]   # per plane
        cos, sin = np.cos(angle), np.sin(angle)
        i = np.arange(H)[:, None] - (H - 1) / 2             # rows and columns about the
        j = np.arange(W)[None, :] - (W - 1) / 2             # centre, broadcast (H, W)
        src_i = cos * i + sin * j + (H - 1) / 2             # (M, H, W): R(-angle) (i, j)
        src_j = -sin * i + cos * j + (W - 1) / 2
        plane = np.broadcast_to(np.arange(len(planes))[:, None, None], src_i.shape)
        out = ndimage.map_coordinates(planes, [plane, src_i, src_j], order=1,
                                      mode="constant", cval=self.fill)
        return out.reshape(x.shape).astype(x.dtype, copy=False)


class GaussianNoise(Transform):
    """Any batch: add independent N(0, std^2) noise to every value. Floating input only."""

    min_ndim = 1
    floating_only = True

    def __init__(self, std: float, *, seed: int | None = None):
        super().__init__(seed=seed)
        self.std = _number("GaussianNoise", "std", std, 0.0)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = rng.standard_normal(x.shape, dtype=x.dtype)
        return x + x.dtype.type(self.std) * noise


# ---------------------------------------------------------------------- sequences
class _Sequence1d(Transform):
    layout = "(N, L) or (N, C, L), time on axis"

    def __init__(self, axis: int, seed: int | None):
        super().__init__(seed=seed)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis == 0:
            raise ValueError(f"{type(self).__name__}: axis must be the time axis of a batch "
                             f"(not 0, the sample axis), got {axis!r}")
        self.axis = int(axis)

    def _axis(self, x: np.ndarray) -> int:
        if not -x.ndim < self.axis < x.ndim:
            raise ValueError(f"{type(self).__name__}: axis {self.axis} is not a time axis of "
                             f"a batch of shape {x.shape}")
        return self.axis % x.ndim


class RandomShift1d(_Sequence1d):
    """Sequences: move each sequence along ``axis`` by up to ``max_shift`` steps either
    way, filling the uncovered end with ``fill``."""

    def __init__(self, max_shift: int, fill: float = 0.0, *, axis: int = -1,
                 seed: int | None = None):
        super().__init__(axis, seed)
        self.max_shift = _int("RandomShift1d", "max_shift", max_shift, 0)
        self.fill = fill

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        axis, s = self._axis(x), self.max_shift
        start = rng.integers(0, 2 * s + 1, size=len(x))
        return _window(x, axis, start, x.shape[axis], s, self.fill)


class RandomCrop1d(_Sequence1d):
    """Sequences: pad ``axis`` with ``padding`` values ``fill`` at both ends, then cut a
    window of ``size`` steps at a random place, for each sequence its own."""

    def __init__(self, size: int, padding: int = 0, fill: float = 0.0, *, axis: int = -1,
                 seed: int | None = None):
        super().__init__(axis, seed)
        self.size = _int("RandomCrop1d", "size", size, 1)
        self.padding = _int("RandomCrop1d", "padding", padding, 0)
        self.fill = fill

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        axis, p = self._axis(x), self.padding
        L = x.shape[axis]
        if self.size > L + 2 * p:
            raise ValueError(f"RandomCrop1d: size {self.size} is longer than the sequences "
                             f"({L} steps, padded by {p}; batch shape {x.shape})")
        start = rng.integers(0, L + 2 * p - self.size + 1, size=len(x))
        return _window(x, axis, start, self.size, p, self.fill)
