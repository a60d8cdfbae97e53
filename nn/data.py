"""Data helpers: mini-batches, train/validation/test splits, scaling, one-hot labels, and
the data-augmentation transforms of :mod:`nn.augment` (``nn.data.RandomShift``, ...).

Every random choice (shuffling, split membership) draws from a
:class:`numpy.random.Generator` obtained with :func:`nn._config.get_rng`, so
``rng=None`` uses the global generator that :func:`nn.manual_seed` resets, an ``int``
seeds a fresh generator, and a ``Generator`` is used as given.

Arrays are indexed along their first axis (the sample axis). Nothing here copies a
whole dataset just to read part of it: :func:`iterate_minibatches` reads each batch
with a slice or a *sorted* index array, which is what ``np.memmap`` (and h5py-like
datasets) read efficiently.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._config import get_default_dtype, get_rng
from .augment import (
    Compose,
    GaussianNoise,
    RandomCrop,
    RandomCrop1d,
    RandomHorizontalFlip,
    RandomRotation,
    RandomShift,
    RandomShift1d,
    Transform,
)

__all__ = [
    "iterate_minibatches",
    "train_test_split",
    "train_val_test_split",
    "StandardScaler",
    "MinMaxScaler",
    "one_hot",
]
# data augmentation (nn/augment.py), applied per batch by fit(transform=...)
__all__ += ["Transform", "Compose", "RandomCrop", "RandomShift", "RandomHorizontalFlip",
            "RandomRotation", "GaussianNoise", "RandomCrop1d", "RandomShift1d"]


# ---------------------------------------------------------------------- shared checks
def _shape(a: Any) -> Any:
    """The shape of ``a`` for error messages (its length when it has no shape)."""
    shape = getattr(a, "shape", None)
    if shape is not None:
        return tuple(shape)
    try:
        return (len(a),)
    except TypeError:
        return type(a).__name__


def as_indexable(fn: str, name: str, a: Any) -> Any:
    """Return ``a`` ready for first-axis indexing with slices and index arrays (``fn`` and
    ``name`` name the caller and the argument in error messages).

    Arrays (``np.ndarray``, ``np.memmap``) and other objects with a ``shape`` are used
    as they are; Python lists and tuples are converted once with ``np.asarray``.
    """
    if isinstance(a, np.ndarray) or hasattr(a, "shape"):
        if len(a.shape) == 0:
            raise ValueError(f"{fn}: {name} must have a sample axis, got a 0-d array")
        return a
    if isinstance(a, (list, tuple)):
        arr = np.asarray(a)
        if arr.ndim == 0:
            raise ValueError(f"{fn}: {name} must have a sample axis, got shape ()")
        return arr
    if not hasattr(a, "__len__") or not hasattr(a, "__getitem__"):
        raise TypeError(f"{fn}: {name} must be an indexable array-like, got {type(a).__name__}")
    return a


def _check_same_length(fn: str, x: Any, y: Any) -> int:
    n = len(x)
    if y is not None and len(y) != n:
        raise ValueError(f"{fn}: x and y must have the same number of samples, got x of shape "
                         f"{_shape(x)} and y of shape {_shape(y)}")
    return n


def _positive_int(fn: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive integer, got {value!r}")
    return int(value)


def as_int_labels(fn: str, name: str, labels: Any) -> np.ndarray:
    """``labels`` as an int64 array of non-negative class indices.

    Integer and boolean arrays are accepted; float arrays only when every value is a
    whole number (e.g. labels read from a CSV file). Anything else is a ValueError.
    """
    arr = np.asarray(labels)
    if arr.dtype.kind in "iub":
        out = arr.astype(np.int64)
    elif arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{fn}: {name} must hold integer class labels, got non-integer "
                             f"values in an array of shape {arr.shape} and dtype {arr.dtype}")
        out = arr.astype(np.int64)
    else:
        raise ValueError(f"{fn}: {name} must hold integer class labels, got dtype {arr.dtype} "
                         f"(shape {arr.shape})")
    if out.size and out.min() < 0:
        raise ValueError(f"{fn}: {name} must be non-negative class indices, got minimum "
                         f"{out.min()} (shape {arr.shape})")
    return out


# ---------------------------------------------------------------------- mini-batches
def iterate_minibatches(x: Any, y: Any = None, batch_size: int = 32, shuffle: bool = True,
                        rng: None | int | np.random.Generator = None,
                        drop_last: bool = False) -> Iterator[Any]:
    """Iterate over ``(x, y)`` in mini-batches along the first axis.

    Parameters
    ----------
    x : array-like, shape (N, ...)
        Any indexable array-like with a first (sample) axis: ``np.ndarray``,
        ``np.memmap``, or an object supporting slices and integer index arrays.
        Lists and tuples are converted to an array once.
    y : array-like, shape (N, ...), optional
        Targets, indexed exactly like ``x``. When ``None`` only ``xb`` is yielded.
    batch_size : int
        Samples per batch; the last batch is smaller when ``N % batch_size != 0``
        unless ``drop_last`` is true.
    shuffle : bool
        Draw a random permutation of the samples (one per call). Without shuffling the
        batches are contiguous slices, in order.
    rng : None, int or numpy.random.Generator
        Source of the permutation; ``None`` is the global generator. Pass one
        ``Generator`` across epochs to get a new order each epoch (an ``int`` gives the
        same order every call).
    drop_last : bool
        Skip the final batch when it is smaller than ``batch_size``.

    Yields
    ------
    (xb, yb) or xb
        ``xb`` of shape (B, ...) and ``yb`` of shape (B, ...), B <= batch_size, as
        ``np.ndarray``. With shuffling each batch is read with a sorted index array, so
        the samples inside one batch are in increasing index order (the batch's
        *membership* is random); sorted reads are what memory-mapped files read fast.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` differ in length or ``batch_size`` is not a positive int.
    """
    fn = "iterate_minibatches"
    x = as_indexable(fn, "x", x)
    y = None if y is None else as_indexable(fn, "y", y)
    n = _check_same_length(fn, x, y)
    batch_size = _positive_int(fn, "batch_size", batch_size)
    # Draw the permutation now (not lazily) so the generator advances at call time.
    order = get_rng(rng).permutation(n) if shuffle else None
    return _minibatches(x, y, n, batch_size, order, drop_last)


def batch_indices(n: int, batch_size: int, order: np.ndarray | None = None, start: int = 0,
                  drop_last: bool = False) -> Iterator[Any]:
    """The index of each mini-batch of ``n`` samples, from batch number ``start`` on.

    Without ``order`` a batch is a ``slice``; with a permutation ``order`` it is the
    *sorted* array ``order[k*batch_size:(k+1)*batch_size]`` (sorted reads are what
    memory-mapped files read fast). ``nn.fit`` uses ``start`` to resume mid-epoch.
    """
    stop = n - n % batch_size if drop_last else n
    for lo in range(start * batch_size, stop, batch_size):
        hi = min(lo + batch_size, n)
        yield slice(lo, hi) if order is None else np.sort(order[lo:hi])


def _minibatches(x: Any, y: Any, n: int, batch_size: int, order: np.ndarray | None,
                 drop_last: bool) -> Iterator[Any]:
    for index in batch_indices(n, batch_size, order, 0, drop_last):
        xb = np.asarray(x[index])
        if y is None:
            yield xb
        else:
            yield xb, np.asarray(y[index])


# ---------------------------------------------------------------------- splits
def _split_count(fn: str, name: str, size: Any, n: int) -> int:
    """Turn a fraction in (0, 1) or an absolute count into a number of samples."""
    if isinstance(size, bool):
        raise ValueError(f"{fn}: {name} must be a float in (0, 1) or a positive int, got {size!r}")
    if isinstance(size, (int, np.integer)):
        count = int(size)
        if count < 1:
            raise ValueError(f"{fn}: {name} must be a positive int or a float in (0, 1), "
                             f"got {size!r}")
        return count
    if isinstance(size, (float, np.floating)):
        if not 0.0 < float(size) < 1.0:
            raise ValueError(f"{fn}: {name} as a fraction must lie in (0, 1), got {size!r}")
        # round to nearest (half up); floor(f*n + 0.5) avoids 0.1*30 -> 3.0000000000000004
        count = int(math.floor(float(size) * n + 0.5))
        if count < 1:
            raise ValueError(f"{fn}: {name}={size!r} of {n} samples gives an empty split; "
                             f"use a larger fraction or an absolute count")
        return count
    raise ValueError(f"{fn}: {name} must be a float in (0, 1) or a positive int, "
                     f"got {type(size).__name__} {size!r}")


def _apportion(total: int, weights: np.ndarray, capacity: np.ndarray,
               gen: np.random.Generator) -> np.ndarray:
    """Integers c_k <= capacity_k summing to ``total``, proportional to ``weights``.

    Largest-remainder (Hamilton) rounding: each part gets floor(quota), then the
    leftover units go to the largest fractional remainders (ties broken at random),
    skipping parts that are full. Requires ``total <= capacity.sum()``.
    """
    quota = total * weights / weights.sum()
    counts = np.minimum(np.floor(quota).astype(np.int64), capacity)
    remainder = quota - counts
    tiebreak = gen.random(len(weights))
    while counts.sum() < total:
        room = counts < capacity
        # priority: largest remainder first, random among ties; full parts last
        keys = np.lexsort((tiebreak, np.where(room, -remainder, np.inf)))
        missing = total - int(counts.sum())
        take = keys[:missing][room[keys[:missing]]]
        counts[take] += 1
        remainder[take] -= 1.0
    return counts


def _stratify_labels(fn: str, stratify: Any, y: Any, n: int) -> np.ndarray:
    """The class label of each sample used for stratification."""
    if stratify is True:
        if y is None:
            raise ValueError(f"{fn}: stratify=True needs y")
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] > 1:  # one-hot or probability targets
            labels = labels.argmax(axis=1)
        elif labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise ValueError(f"{fn}: stratify=True needs class labels y of shape (N,) or "
                             f"one-hot (N, C), got y of shape {labels.shape}")
    else:
        labels = np.asarray(stratify)
        if labels.shape != (n,):
            raise ValueError(f"{fn}: stratify labels must have shape ({n},), got {labels.shape}")
    return labels


def _split_indices(fn: str, n: int, sizes: list[tuple[str, Any]], stratify: Any, y: Any,
                   rng: None | int | np.random.Generator) -> list[np.ndarray]:
    """Index arrays ``[train, *held_out]`` partitioning ``range(n)``."""
    counts = [_split_count(fn, name, size, n) for name, size in sizes]
    n_train = n - sum(counts)
    if n_train < 1:
        pairs = zip(sizes, counts, strict=True)
        detail = ", ".join(f"{name}={size!r} -> {c}" for (name, size), c in pairs)
        raise ValueError(f"{fn}: the held-out splits ({detail}) leave no training samples out "
                         f"of {n}")
    gen = get_rng(rng)
    if isinstance(stratify, (bool, np.bool_)):
        stratify = bool(stratify)
    if stratify is False or stratify is None:
        perm = gen.permutation(n)
        bounds = np.cumsum([0, *counts])
        held = [perm[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return [perm[bounds[-1]:], *held]

    labels = _stratify_labels(fn, stratify, y, n)
    classes, inverse, class_sizes = np.unique(labels, return_inverse=True, return_counts=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(classes))]
    # per class: how many samples go to each held-out split (columns), rest -> train
    per_class = np.zeros((len(classes), len(counts)), dtype=np.int64)
    left = class_sizes.astype(np.int64).copy()
    for j, total in enumerate(counts):
        per_class[:, j] = _apportion(total, class_sizes.astype(np.float64), left, gen)
        left -= per_class[:, j]
    parts: list[list[np.ndarray]] = [[] for _ in range(len(counts) + 1)]
    for k, idx in enumerate(members):
        idx = gen.permutation(idx)
        bounds = np.cumsum([0, *per_class[k]])
        for j in range(len(counts)):
            parts[j + 1].append(idx[bounds[j]:bounds[j + 1]])
        parts[0].append(idx[bounds[-1]:])
    return [gen.permutation(np.concatenate(p)) for p in parts]


def _take(a: Any, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` of ``a``, read in sorted order then put back in ``idx`` order."""
    order = np.argsort(idx, kind="stable")
    rows = np.asarray(a[idx[order]])
    out = np.empty_like(rows)
    out[order] = rows
    return out


def train_test_split(x: Any, y: Any, test_size: float | int = 0.2, stratify: Any = False,
                     rng: None | int | np.random.Generator = None) -> tuple[np.ndarray, ...]:
    """Randomly split ``(x, y)`` into a training and a test part.

    Parameters
    ----------
    x : array-like, shape (N, ...)
    y : array-like, shape (N, ...) or None
        Targets. ``None`` splits ``x`` alone.
    test_size : float or int
        A fraction in (0, 1) of the N samples (rounded to the nearest count) or an
        absolute number of test samples >= 1. The training part must stay non-empty.
    stratify : bool or array-like of shape (N,)
        ``True`` keeps the class proportions of ``y`` (labels of shape (N,), or the
        argmax of one-hot (N, C) targets) in both parts; an array gives the labels to
        stratify on explicitly. Each class is split separately, with per-class
        test counts apportioned by largest remainder so that they add up to exactly
        the requested test size, then each part is shuffled.
    rng : None, int or numpy.random.Generator
        Source of randomness; ``None`` is the global generator.

    Returns
    -------
    (x_train, x_test, y_train, y_test), or (x_train, x_test) when ``y`` is None
        Arrays in shuffled order.

    Raises
    ------
    ValueError
        On mismatched lengths, a size outside (0, 1) / below 1, or sizes that leave
        a part empty.
    """
    fn = "train_test_split"
    x = as_indexable(fn, "x", x)
    y = None if y is None else as_indexable(fn, "y", y)
    n = _check_same_length(fn, x, y)
    train, test = _split_indices(fn, n, [("test_size", test_size)], stratify, y, rng)
    out = [_take(x, train), _take(x, test)]
    if y is not None:
        out += [_take(y, train), _take(y, test)]
    return tuple(out)


def train_val_test_split(x: Any, y: Any, val_size: float | int = 0.1,
                         test_size: float | int = 0.1, stratify: Any = False,
                         rng: None | int | np.random.Generator = None) -> tuple[np.ndarray, ...]:
    """Randomly split ``(x, y)`` into training, validation and test parts.

    Parameters
    ----------
    x : array-like, shape (N, ...)
    y : array-like, shape (N, ...) or None
    val_size, test_size : float or int
        Each a fraction in (0, 1) of all N samples or an absolute count >= 1; the
        training part gets what is left and must be non-empty.
    stratify : bool or array-like of shape (N,)
        As in :func:`train_test_split`: every part keeps the class proportions.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    (x_train, x_val, x_test, y_train, y_val, y_test), or (x_train, x_val, x_test)
    when ``y`` is None.

    Raises
    ------
    ValueError
        On mismatched lengths or bad sizes.
    """
    fn = "train_val_test_split"
    x = as_indexable(fn, "x", x)
    y = None if y is None else as_indexable(fn, "y", y)
    n = _check_same_length(fn, x, y)
    train, val, test = _split_indices(fn, n, [("val_size", val_size), ("test_size", test_size)],
                                      stratify, y, rng)
    out = [_take(x, train), _take(x, val), _take(x, test)]
    if y is not None:
        out += [_take(y, train), _take(y, val), _take(y, test)]
    return tuple(out)


# ---------------------------------------------------------------------- scalers
def _scaler_input(fn: str, x: Any, n_features: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise ValueError(f"{fn}: expected an array of shape (N, ...) with N >= 1, got shape "
                         f"{arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: expected a numeric array, got dtype {arr.dtype}")
    if n_features is not None and arr.shape[1:] != n_features:
        raise ValueError(f"{fn}: the scaler was fitted on samples of shape {n_features}, got "
                         f"an array of shape {arr.shape} (expected (N, "
                         f"{', '.join(map(str, n_features))}))")
    return arr


def _out_dtype(arr: np.ndarray) -> np.dtype:
    """Floating inputs keep their dtype; integers and bools become the default dtype."""
    return arr.dtype if arr.dtype.kind == "f" else get_default_dtype()


def _check_finite(fn: str, arr: np.ndarray) -> None:
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{fn}: x of shape {arr.shape} contains NaN or infinite values")


class StandardScaler:
    r"""Standardise features to zero mean and unit variance.

    ``fit`` computes, over the sample axis 0 of the *training* data only,

    .. math:: \mu_j = \frac1N \sum_i x_{ij}, \qquad
              \sigma_j = \sqrt{\frac1N \sum_i (x_{ij} - \mu_j)^2}

    (population standard deviation), with :math:`\sigma_j := 1` for features that are
    constant in the training data (so they map to 0 rather than dividing by zero).
    ``transform`` returns :math:`(x - \mu) / \sigma` and ``inverse_transform``
    :math:`z \sigma + \mu`. Every axis but the first is a feature axis, so images
    (N, C, H, W) are standardised per pixel.

    Statistics are accumulated in float64 and stored as float64 in ``mean_`` and
    ``std_`` (shape ``x.shape[1:]``); transforms are computed in the input's dtype
    (float32 stays float32; integer input gives the default dtype, float32 unless
    :func:`nn.set_default_dtype` changed it).
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def fit(self, x: Any) -> StandardScaler:
        """Compute ``mean_`` and ``std_`` from ``x`` (N, ...); returns ``self``."""
        arr = _scaler_input("StandardScaler.fit", x)
        _check_finite("StandardScaler.fit", arr)
        with np.errstate(under="ignore"):          # underflow of tiny values is harmless
            mean = arr.mean(axis=0, dtype=np.float64)
            std = np.sqrt(np.mean(np.square(arr - mean), axis=0, dtype=np.float64))
        constant = np.max(arr, axis=0) == np.min(arr, axis=0)
        # a constant feature gets its exact value as mean (so it maps to exactly 0) and std 1
        self.mean_ = np.where(constant, arr[0], mean).astype(np.float64)
        self.std_ = np.where(constant, 1.0, std)
        return self

    def _fitted(self, fn: str) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.std_ is None:
            raise ValueError(f"StandardScaler.{fn}: the scaler is not fitted; call fit(x_train) "
                             "first")
        return self.mean_, self.std_

    def transform(self, x: Any) -> np.ndarray:
        """Return ``(x - mean_) / std_`` in ``x``'s floating dtype."""
        mean, std = self._fitted("transform")
        arr = _scaler_input("StandardScaler.transform", x, mean.shape)
        dt = _out_dtype(arr)
        with np.errstate(under="ignore"):
            return (arr.astype(dt, copy=False) - mean.astype(dt)) / std.astype(dt)

    def fit_transform(self, x: Any) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z: Any) -> np.ndarray:
        """Return ``z * std_ + mean_``: undo :meth:`transform`."""
        mean, std = self._fitted("inverse_transform")
        arr = _scaler_input("StandardScaler.inverse_transform", z, mean.shape)
        dt = _out_dtype(arr)
        with np.errstate(under="ignore"):
            return arr.astype(dt, copy=False) * std.astype(dt) + mean.astype(dt)

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"mean": ..., "std": ...}`` (copies), e.g. to save next to a model's weights."""
        mean, std = self._fitted("state_dict")
        return {"mean": mean.copy(), "std": std.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> StandardScaler:
        """Restore the statistics from :meth:`state_dict`; returns ``self``."""
        missing = {"mean", "std"} - set(state)
        if missing:
            raise ValueError(f"StandardScaler.load_state_dict: missing keys {sorted(missing)}")
        mean = np.asarray(state["mean"], dtype=np.float64)
        std = np.asarray(state["std"], dtype=np.float64)
        if mean.shape != std.shape:
            raise ValueError(f"StandardScaler.load_state_dict: mean has shape {mean.shape} but "
                             f"std has shape {std.shape}")
        if np.any(std <= 0) or not np.all(np.isfinite(std)):
            raise ValueError("StandardScaler.load_state_dict: std must be positive and finite")
        self.mean_, self.std_ = mean.copy(), std.copy()
        return self

    def __repr__(self) -> str:
        fitted = "unfitted" if self.mean_ is None else f"features={self.mean_.shape}"
        return f"StandardScaler({fitted})"


class MinMaxScaler:
    r"""Rescale each feature linearly to ``feature_range`` (default [0, 1]).

    With :math:`m_j, M_j` the minimum and maximum of feature j over the training data
    and :math:`[a, b]` the feature range,

    .. math:: x'_{ij} = a + (x_{ij} - m_j)\,\frac{b - a}{M_j - m_j}

    so training data lands in [a, b] (new data may fall outside). A feature constant
    in the training data (:math:`M_j = m_j`) uses :math:`M_j - m_j := 1`, so its
    training value maps to the lower bound ``a``. ``feature_range=(-1, 1)`` gives
    the symmetric normalisation. ``inverse_transform`` undoes the map exactly (up to
    rounding). Dtype rules as for :class:`StandardScaler`.

    Attributes
    ----------
    data_min_, data_max_ : ndarray of float64, shape ``x.shape[1:]``
    feature_range : tuple of two floats
    """

    def __init__(self, feature_range: tuple[float, float] = (0, 1)) -> None:
        try:
            lo, hi = (float(v) for v in feature_range)
        except (TypeError, ValueError):
            raise ValueError(f"MinMaxScaler: feature_range must be a pair (min, max), got "
                             f"{feature_range!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"MinMaxScaler: feature_range must satisfy min < max (finite), got "
                             f"{feature_range!r}")
        self.feature_range = (lo, hi)
        self.data_min_: np.ndarray | None = None
        self.data_max_: np.ndarray | None = None

    def fit(self, x: Any) -> MinMaxScaler:
        """Compute ``data_min_`` and ``data_max_`` from ``x`` (N, ...); returns ``self``."""
        arr = _scaler_input("MinMaxScaler.fit", x)
        _check_finite("MinMaxScaler.fit", arr)
        self.data_min_ = np.min(arr, axis=0).astype(np.float64)
        self.data_max_ = np.max(arr, axis=0).astype(np.float64)
        return self

    def _fitted(self, fn: str) -> tuple[np.ndarray, np.ndarray]:
        """(data_min_, scale) with scale = (b - a) / (M - m), range 1 for constants."""
        if self.data_min_ is None or self.data_max_ is None:
            raise ValueError(f"MinMaxScaler.{fn}: the scaler is not fitted; call fit(x_train) "
                             "first")
        span = self.data_max_ - self.data_min_
        span = np.where(span == 0, 1.0, span)
        lo, hi = self.feature_range
        return self.data_min_, (hi - lo) / span

    def transform(self, x: Any) -> np.ndarray:
        """Return ``a + (x - data_min_) * scale`` in ``x``'s floating dtype."""
        dmin, scale = self._fitted("transform")
        arr = _scaler_input("MinMaxScaler.transform", x, dmin.shape)
        dt = _out_dtype(arr)
        lo = np.asarray(self.feature_range[0], dtype=dt)
        with np.errstate(under="ignore"):
            return (arr.astype(dt, copy=False) - dmin.astype(dt)) * scale.astype(dt) + lo

    def fit_transform(self, x: Any) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z: Any) -> np.ndarray:
        """Return ``(z - a) / scale + data_min_``: undo :meth:`transform`."""
        dmin, scale = self._fitted("inverse_transform")
        arr = _scaler_input("MinMaxScaler.inverse_transform", z, dmin.shape)
        dt = _out_dtype(arr)
        lo = np.asarray(self.feature_range[0], dtype=dt)
        with np.errstate(under="ignore"):
            return (arr.astype(dt, copy=False) - lo) / scale.astype(dt) + dmin.astype(dt)

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"data_min", "data_max", "feature_range"}`` as arrays (copies)."""
        dmin, _ = self._fitted("state_dict")
        assert self.data_max_ is not None  # _fitted raised otherwise
        return {"data_min": dmin.copy(), "data_max": self.data_max_.copy(),
                "feature_range": np.array(self.feature_range, dtype=np.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> MinMaxScaler:
        """Restore from :meth:`state_dict`; returns ``self``."""
        missing = {"data_min", "data_max", "feature_range"} - set(state)
        if missing:
            raise ValueError(f"MinMaxScaler.load_state_dict: missing keys {sorted(missing)}")
        dmin = np.asarray(state["data_min"], dtype=np.float64)
        dmax = np.asarray(state["data_max"], dtype=np.float64)
        if dmin.shape != dmax.shape:
            raise ValueError(f"MinMaxScaler.load_state_dict: data_min has shape {dmin.shape} "
                             f"but data_max has shape {dmax.shape}")
        if np.any(dmax < dmin):
            raise ValueError("MinMaxScaler.load_state_dict: data_max must be >= data_min")
        checked = MinMaxScaler(tuple(np.asarray(state["feature_range"]).tolist()))
        self.feature_range = checked.feature_range
        self.data_min_, self.data_max_ = dmin.copy(), dmax.copy()
        return self

    def __repr__(self) -> str:
        fitted = "unfitted" if self.data_min_ is None else f"features={self.data_min_.shape}"
        return f"MinMaxScaler(feature_range={self.feature_range}, {fitted})"


# ---------------------------------------------------------------------- one-hot
def one_hot(labels: Any, num_classes: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """Encode integer class labels as one-hot vectors.

    Parameters
    ----------
    labels : array-like of int, any shape S
        Class indices in ``[0, num_classes)``. Float arrays are accepted only when
        every value is a whole number.
    num_classes : int, optional
        Number of classes C; defaults to ``labels.max() + 1``.
    dtype : numpy dtype
        Dtype of the result (float32 by default).

    Returns
    -------
    ndarray of shape S + (C,)
        ``out[..., k] = 1`` where ``labels == k``, else 0.

    Raises
    ------
    ValueError
        For non-integer or negative labels, labels >= ``num_classes``, or empty
        labels without ``num_classes``.
    """
    fn = "one_hot"
    arr = as_int_labels(fn, "labels", labels)
    if num_classes is None:
        if arr.size == 0:
            raise ValueError(f"{fn}: cannot infer num_classes from empty labels of shape "
                             f"{arr.shape}; pass num_classes")
        num_classes = int(arr.max()) + 1
    else:
        num_classes = _positive_int(fn, "num_classes", num_classes)
        if arr.size and arr.max() >= num_classes:
            raise ValueError(f"{fn}: labels must be < num_classes={num_classes}, got maximum "
                             f"{arr.max()} (labels of shape {arr.shape})")
    out = np.zeros((*arr.shape, num_classes), dtype=dtype)
    np.put_along_axis(out, arr[..., None], 1, axis=-1)
    return out
