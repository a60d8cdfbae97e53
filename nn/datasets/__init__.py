"""Bundled datasets, toy generators and a local MNIST reader. Nothing is downloaded.

- :func:`load_digits` - the 8x8 handwritten digits (1,797 images, 10 classes), shipped
  inside the package as ``digits.npz``; see ``docs/datasets.md`` for provenance,
  licence (CC BY 4.0) and citation.
- :func:`make_moons`, :func:`make_spirals` - two-class 2-D point clouds for
  decision-boundary demos.
- :func:`read_idx`, :func:`load_mnist` - read MNIST-format IDX files (plain or gzip)
  that the user already has in a local folder.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .._config import get_rng
from .text import build_docs_corpus, load_corpus, make_grammar_corpus, make_sentiment

__all__ = ["load_digits", "make_moons", "make_spirals", "read_idx", "load_mnist"]
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


# ---------------------------------------------------------------------- IDX / MNIST
#: IDX type code -> big-endian numpy dtype (the format's third magic byte).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head != b"\x1f\x8b":              # gzip magic; decide by content, not name
            return fh.read()
        try:
            with gzip.GzipFile(fileobj=fh) as gz:
                return gz.read()
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"read_idx: {path} is not a valid gzip file ({err})") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST file format), plain or gzip-compressed.

    Layout: a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
    uint32 dimension sizes, then the data in C order, big-endian. Type codes:
    0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
    A gzip file is recognised by its content (magic bytes 1f 8b), whatever its name.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray
        Of shape given by the header and the corresponding dtype in native byte order
        (e.g. uint8 (60000, 28, 28) for MNIST training images).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        On a bad magic number, an unknown type code, or a file whose length does not
        match its header (truncated or with trailing bytes).
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"read_idx: {path} is too short ({len(raw)} bytes) to hold an IDX "
                         f"header")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_DTYPES:
        raise ValueError(f"read_idx: {path} has a bad magic number 0x{raw[:4].hex()}; expected "
                         f"0x0000TTDD with type TT in "
                         f"{{{', '.join(f'{c:02x}' for c in IDX_DTYPES)}}}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} is truncated: {len(raw)} bytes, the header of a "
                         f"{ndim}-d array needs {header}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"read_idx: {path} is {what}: {len(raw)} bytes, a {dtype} array of "
                         f"shape {shape} needs {expected}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(folder: Path, stem: str) -> Path | None:
    """The first existing variant of an MNIST file name: plain, .gz, or with a dot
    before ``idx`` (``train-images.idx3-ubyte``, as some mirrors name them)."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_mnist(folder: str | os.PathLike, kind: str = "train", as_images: bool = True,
               normalize: bool = True, dtype: Any = np.float32
               ) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST (or Fashion-MNIST, same format) from IDX files in a local folder.

    Looks in ``folder`` for ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte``
    (``kind="train"``, 60,000 images) or ``t10k-images-idx3-ubyte`` /
    ``t10k-labels-idx1-ubyte`` (``kind="test"``, 10,000 images), each optionally
    gzip-compressed with a ``.gz`` suffix. Nothing is downloaded.

    Parameters
    ----------
    folder : str or os.PathLike
    kind : {"train", "test"}
    as_images : bool
        ``True``: x of shape (N, 1, 28, 28) (NCHW); ``False``: (N, 784).
    normalize : bool
        ``True``: pixels divided by 255, in [0, 1]; ``False``: raw values 0..255.
    dtype : numpy dtype
        Dtype of x, float32 by default. With ``normalize=False`` an integer dtype
        such as ``np.uint8`` keeps the raw bytes (4x less memory).

    Returns
    -------
    x : ndarray, shape (N, 1, H, W) or (N, H*W)
    y : ndarray of int64, shape (N,)

    Raises
    ------
    FileNotFoundError
        Naming the folder and the expected file names, if they are absent.
    ValueError
        On a bad ``kind``, malformed files, or image and label counts that differ.
    """
    fn = "load_mnist"
    if kind not in _MNIST_FILES:
        raise ValueError(f"{fn}: kind must be 'train' or 'test', got {kind!r}")
    dt = np.dtype(dtype)
    if normalize and dt.kind != "f":
        raise TypeError(f"{fn}: normalize=True needs a floating dtype, got {dt}")
    folder = Path(folder)
    stems = _MNIST_FILES[kind]
    paths = [_find_idx(folder, stem) for stem in stems]
    if any(p is None for p in paths):
        missing = [stem for stem, p in zip(stems, paths, strict=True) if p is None]
        state = "exists" if folder.is_dir() else "does not exist"
        raise FileNotFoundError(
            f"{fn}: MNIST {kind} files not found in {folder} (the folder {state}); expected "
            f"{' and '.join(f'{s}[.gz]' for s in stems)}, missing {', '.join(missing)}. "
            "Download them yourself (nn never downloads) and pass their folder.")
    assert paths[0] is not None and paths[1] is not None  # both found (checked above)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{fn}: expected images of shape (N, H, W) and labels of shape (N,), "
                         f"got {images.shape} in {paths[0]} and {labels.shape} in {paths[1]}")
    if len(images) != len(labels):
        raise ValueError(f"{fn}: {len(images)} images in {paths[0]} but {len(labels)} labels "
                         f"in {paths[1]}")
    x = images.astype(dt)
    if normalize:
        x /= dt.type(255)
    x = x.reshape(len(x), 1, *images.shape[1:]) if as_images else x.reshape(len(x), -1)
    return x, labels.astype(np.int64)
