"""Bundled datasets, toy generators, and MNIST, Fashion-MNIST and CIFAR-10 downloaded on demand.

- :func:`load_digits` - the 8x8 handwritten digits (1,797 images, 10 classes), shipped
  inside the package as ``digits.npz``; see ``docs/datasets.md`` for provenance,
  licence (CC BY 4.0) and citation.
- :func:`make_moons`, :func:`make_spirals` - two-class 2-D point clouds for
  decision-boundary demos.
- :func:`load_mnist`, :func:`load_fashion_mnist`, :func:`load_cifar10` - the classic
  image sets, downloaded once into a cache folder and checked against their published
  SHA-256 (:mod:`nn.datasets.vision`); :func:`read_idx` reads one IDX file.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .._config import get_rng
from .idx import read_idx
from .text import build_docs_corpus, load_corpus, make_grammar_corpus, make_sentiment
from .vision import DownloadError, load_cifar10, load_fashion_mnist, load_mnist

__all__ = ["load_digits", "make_moons", "make_spirals", "read_idx", "load_mnist"]
__all__ += ["load_fashion_mnist", "load_cifar10", "DownloadError"]
__all__ += ["load_corpus", "make_grammar_corpus", "make_sentiment", "build_docs_corpus"]


# ---------------------------------------------------------------------- helpers
def _float_dtype(fn: str, dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{fn}: dtype must be a floating dtype, got {dt}")
    return dt


def _n_samples(fn: str, n_samples: Any) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < 2:
        raise ValueError(f"{fn}: n_samples must be an integer >= 2, got {n_samples!r}")
    return int(n_samples)


def _noise(fn: str, noise: Any) -> float:
    try:
        value = float(noise)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: noise must be a non-negative number, got {noise!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{fn}: noise must be a non-negative number, got {noise!r}")
    return value


def _finish(points: np.ndarray, labels: np.ndarray, noise: float, gen: np.random.Generator,
            dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Add N(0, noise^2) jitter, shuffle the samples, cast."""
    if noise > 0:
        points = points + gen.normal(0.0, noise, size=points.shape)
    perm = gen.permutation(len(labels))
    return points[perm].astype(dtype), labels[perm].astype(np.int64)


# ---------------------------------------------------------------------- digits
@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    with resources.files(__name__).joinpath("digits.npz").open("rb") as fh, \
            np.load(fh) as data:
        images, labels = data["images"], data["labels"]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits(as_images: bool = False, dtype: Any = np.float32
                ) -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits: 1,797 grey-level images of the digits 0-9.

    Each image is a 32x32 bitmap of a handwritten digit reduced to 8x8 by counting
    the "on" pixels in each 4x4 block, so pixels are integers 0..16 (returned as
    given, not rescaled: use :class:`nn.data.StandardScaler` or divide by 16). This is
    the test partition of the UCI "Optical Recognition of Handwritten Digits" data
    (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0); see ``docs/datasets.md``.

    Parameters
    ----------
    as_images : bool
        ``False``: x of shape (1797, 64), row-major pixels. ``True``: NCHW images
        of shape (1797, 1, 8, 8), ready for ``nn.Conv2d``.
    dtype : numpy floating dtype
        Dtype of x (float32 by default).

    Returns
    -------
    x : ndarray, shape (1797, 64) or (1797, 1, 8, 8), values 0..16
    y : ndarray of int64, shape (1797,), labels 0..9 (about 180 per class)
    """
    dt = _float_dtype("load_digits", dtype)
    images, labels = _digits_arrays()
    x = images.astype(dt)
    x = x.reshape(len(x), 1, 8, 8) if as_images else x.reshape(len(x), 64)
    return x, labels.astype(np.int64)


# ---------------------------------------------------------------------- generators
def make_moons(n_samples: int = 200, noise: float = 0.1,
               rng: None | int | np.random.Generator = None, dtype: Any = np.float32
               ) -> tuple[np.ndarray, np.ndarray]:
    r"""Two interleaved half circles, one per class.

    Class 0 is the upper arc :math:`(\cos t, \sin t)`, class 1 the lower arc
    :math:`(1 - \cos t, \tfrac12 - \sin t)`, with :math:`t` evenly spaced in
    :math:`[0, \pi]`; isotropic Gaussian noise of standard deviation ``noise`` is
    added and the samples are shuffled. The classes are not linearly separable.

    Parameters
    ----------
    n_samples : int
        Total points N >= 2; class 0 gets ``N // 2``, class 1 the rest.
    noise : float
        Standard deviation of the added Gaussian noise (0 for exact arcs).
    rng : None, int or numpy.random.Generator
        Source of noise and shuffling; ``None`` is the global generator.
    dtype : numpy floating dtype

    Returns
    -------
    x : ndarray, shape (N, 2)
    y : ndarray of int64, shape (N,), labels in {0, 1}
    """
    fn = "make_moons"
    n = _n_samples(fn, n_samples)
    sigma = _noise(fn, noise)
    dt = _float_dtype(fn, dtype)
    gen = get_rng(rng)
    n0 = n // 2
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n - n0)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    points = np.concatenate([upper, lower])
    labels = np.concatenate([np.zeros(n0), np.ones(n - n0)])
    return _finish(points, labels, sigma, gen, dt)


def make_spirals(n_samples: int = 200, noise: float = 0.1, turns: float = 1.5,
                 rng: None | int | np.random.Generator = None, dtype: Any = np.float32
                 ) -> tuple[np.ndarray, np.ndarray]:
    r"""Two interleaved Archimedean spirals, one per class.

    Along each arm the radius grows linearly, :math:`r \in (0, 1]`, while the angle
    turns :math:`\theta = 2\pi \cdot \text{turns} \cdot r + k\pi` for class
    :math:`k \in \{0, 1\}`; the point is :math:`r(\cos\theta, \sin\theta)` plus
    Gaussian noise of standard deviation ``noise``, and the samples are shuffled.
    The two arms are half a turn apart, so neighbouring arms of different classes
    are :math:`1 / (2\,\text{turns})` apart radially: more turns or more noise make
    the problem harder.

    Parameters
    ----------
    n_samples : int
        Total points N >= 2; class 0 gets ``N // 2``, class 1 the rest.
    noise : float
        Standard deviation of the added Gaussian noise.
    turns : float
        Number of full revolutions of each arm (> 0).
    rng : None, int or numpy.random.Generator
    dtype : numpy floating dtype

    Returns
    -------
    x : ndarray, shape (N, 2), within about [-1, 1]^2 before noise
    y : ndarray of int64, shape (N,), labels in {0, 1}
    """
    fn = "make_spirals"
    n = _n_samples(fn, n_samples)
    sigma = _noise(fn, noise)
    dt = _float_dtype(fn, dtype)
    try:
        turns_f = float(turns)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: turns must be a positive number, got {turns!r}") from None
    if not (math.isfinite(turns_f) and turns_f > 0):
        raise ValueError(f"{fn}: turns must be a positive number, got {turns!r}")
    gen = get_rng(rng)
    n0 = n // 2
    arms = []
    for k, count in enumerate((n0, n - n0)):
        r = np.arange(1, count + 1) / count          # (0, 1], no point at the centre
        theta = 2.0 * np.pi * turns_f * r + k * np.pi
        arms.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
    points = np.concatenate(arms)
    labels = np.concatenate([np.zeros(n0), np.ones(n - n0)])
    return _finish(points, labels, sigma, gen, dt)
