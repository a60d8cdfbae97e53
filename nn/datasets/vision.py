"""MNIST, Fashion-MNIST and CIFAR-10, downloaded once into a cache folder and checked.

``load_mnist``, ``load_fashion_mnist`` and ``load_cifar10`` return ``(x, y)``: x the images
as uint8 (MNIST-like (N, 28, 28), CIFAR-10 (N, 3, 32, 32)), y the labels as int64 (N,).
Their files live in ``root/<name>/`` (``mnist``, ``fashion_mnist``, ``cifar10``), where
``root`` is the cache folder: ``$NN_DATA`` if set, else ``~/.cache/nn``. How a file gets
there (mirrors, SHA-256, atomic writes, errors) is :mod:`nn.datasets._download`.

:data:`REGISTRY` holds each dataset's files with their published SHA-256 and size, and its
mirrors. The loaders look their dataset up there at every call, so a test serving small
files of its own (or a user with a private copy of different files) replaces one entry,
e.g. ``monkeypatch.setitem(nn.datasets.vision.REGISTRY, "mnist", RemoteDataset(...))``.
:data:`TIMEOUT` is the network time-out in seconds, read at every call too.

Where the checksums come from. They could not be computed here (this machine has no
internet access). They are the values that public code verifying these exact downloads
records, identical across many independent projects, among them torchvision's prototype
dataset definitions (SHA-256 tables for MNIST and Fashion-MNIST); the MD5s of torchvision's
classic loaders and of the datasets' pages are a different hash and are not used. The sizes
are the published ones: MNIST's page lists 9912422, 28881, 1648877 and 4542 bytes; the
CIFAR-10 binary tarball is 170052171 bytes (MD5 c32a1d4ab5d03f1284b67883e8d87530 on its
page), and its SHA-256 is recorded beside that size and MD5.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ._download import (
    DownloadError,
    RemoteDataset,
    RemoteFile,
    dataset_folder,
    fetch_file,
)
from .idx import read_idx

__all__ = ["load_mnist", "load_fashion_mnist", "load_cifar10", "DownloadError", "REGISTRY",
           "TIMEOUT", "RemoteDataset", "RemoteFile"]

#: Seconds to wait for a server to answer or to send the next bytes before giving up on
#: that mirror (urllib's per-operation socket time-out, not a limit on the whole transfer).
TIMEOUT = 60.0

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_CIFAR_TARBALL = "cifar-10-binary.tar.gz"
_CIFAR_FOLDER = "cifar-10-batches-bin"
_CIFAR_MEMBERS = {
    "train": tuple(f"{_CIFAR_FOLDER}/data_batch_{i}.bin" for i in range(1, 6)),
    "test": (f"{_CIFAR_FOLDER}/test_batch.bin",),
}
#: One CIFAR-10 binary record: a label byte, then 1024 red, 1024 green, 1024 blue pixels.
_CIFAR_RECORD = 1 + 3 * 32 * 32

#: Folder name -> the dataset's files (published SHA-256 and size) and mirrors, in order.
REGISTRY: dict[str, RemoteDataset] = {
    "mnist": RemoteDataset("mnist", "MNIST", (
        RemoteFile("train-images-idx3-ubyte.gz",
                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        RemoteFile("train-labels-idx1-ubyte.gz",
                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        RemoteFile("t10k-images-idx3-ubyte.gz",
                   "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        RemoteFile("t10k-labels-idx1-ubyte.gz",
                   "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    ), (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",      # torchvision's copy
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's copy
        "http://yann.lecun.com/exdb/mnist/",                    # the original page
    )),
    "fashion_mnist": RemoteDataset("fashion_mnist", "Fashion-MNIST", (
        RemoteFile("train-images-idx3-ubyte.gz",
                   "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                   26421880),
        RemoteFile("train-labels-idx1-ubyte.gz",
                   "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        RemoteFile("t10k-images-idx3-ubyte.gz",
                   "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        RemoteFile("t10k-labels-idx1-ubyte.gz",
                   "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    ), (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's own
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras' copy
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    )),
    "cifar10": RemoteDataset("cifar10", "CIFAR-10", (
        RemoteFile(_CIFAR_TARBALL,
                   "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                   170052171),
    ), (
        "https://www.cs.toronto.edu/~kriz/",                    # the authors' page
    )),
}

Root = str | os.PathLike | None
Mirrors = list[str] | tuple[str, ...] | None


# ---------------------------------------------------------------------- checks
def _check_split(fn: str, split: object) -> str:
    if not isinstance(split, str) or split not in ("train", "test"):
        raise ValueError(f"{fn}: split must be 'train' or 'test', got {split!r}")
    return split


def _check_mirrors(fn: str, mirrors: object) -> tuple[str, ...] | None:
    if mirrors is None:
        return None
    if isinstance(mirrors, (str, bytes)) or not isinstance(mirrors, (list, tuple)) \
            or not mirrors or not all(isinstance(m, str) and m for m in mirrors):
        raise ValueError(f"{fn}: mirrors must be None or a non-empty list of base URLs "
                         f"(strings), got {mirrors!r}")
    return tuple(mirrors)


def _fetch(fn: str, key: str, root: Root, names: tuple[str, ...], download: bool,
           mirrors: Mirrors, verify: bool, progress: bool) -> list[Path]:
    """The local paths of ``names`` of dataset ``key``, each downloaded if missing."""
    dataset = REGISTRY[key]
    bases = _check_mirrors(fn, mirrors)
    folder = dataset_folder(fn, dataset, root)
    return [fetch_file(fn, dataset, name, folder, mirrors=bases, verify=verify,
                       download=download, timeout=TIMEOUT, progress=progress)
            for name in names]


# ---------------------------------------------------------------------- MNIST-like
def _load_idx_pair(fn: str, key: str, root: Root, split: str, download: bool,
                   mirrors: Mirrors, verify: bool, progress: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    split = _check_split(fn, split)
    images_path, labels_path = _fetch(fn, key, root, _MNIST_FILES[split], download, mirrors,
                                      verify, progress)
    try:
        images, labels = read_idx(images_path), read_idx(labels_path)
    except ValueError as err:
        raise ValueError(f"{fn}: {err}; delete the file to download it again") from err
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or images.ndim != 3:
        raise ValueError(f"{fn}: {images_path} holds a {images.dtype} array of shape "
                         f"{images.shape}, not uint8 images of shape (N, 28, 28)")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{fn}: {labels_path} holds a {labels.dtype} array of shape "
                         f"{labels.shape}, not uint8 labels of shape (N,)")
    if len(images) != len(labels):
        raise ValueError(f"{fn}: {images_path} holds {len(images)} images but {labels_path} "
                         f"holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{fn}: {labels_path} holds the label {labels.max()}; labels are "
                         "0..9")
    return images, labels.astype(np.int64)


def load_mnist(root: Root = None, split: str = "train", *, download: bool = True,
               mirrors: Mirrors = None, verify: bool = True, progress: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """MNIST handwritten digits (LeCun, Cortes, Burges): 60,000 train / 10,000 test images.

    The four gzip-compressed IDX files live in ``root/mnist/``; a missing one is
    downloaded (``download=True``) from the first mirror that delivers it whole, with the
    published SHA-256, and only then moved into place. For the float form used for training,
    (N, 1, 28, 28) in [0, 1]: ``x[:, None] / 255`` (``np.float32(255)`` keeps float32).

    Parameters
    ----------
    root : str, os.PathLike or None
        The cache folder (``~`` expanded); ``None`` is ``$NN_DATA``, else ``~/.cache/nn``.
    split : {"train", "test"}
    download : bool
        Download missing files; ``False`` raises ``FileNotFoundError`` for a missing file.
    mirrors : list of str or None
        Base URLs tried in order (each serves ``train-images-idx3-ubyte.gz``, ...);
        ``None`` is the built-in list, ``REGISTRY["mnist"].mirrors``.
    verify : bool
        Check files already present against their published SHA-256 (a mismatch is an
        error naming the file). A fresh download is always checked.
    progress : bool
        Show a download progress bar on stderr.

    Returns
    -------
    x : ndarray of uint8, shape (N, 28, 28), pixels 0..255 (N = 60,000 or 10,000: 47 MB
        for the training set)
    y : ndarray of int64, shape (N,), labels 0..9

    Raises
    ------
    DownloadError
        Every mirror failed: the message lists each URL with what went wrong there and the
        folder where the file can be put by hand.
    ValueError
        A wrong ``split`` or ``mirrors``; a cached file whose SHA-256 differs (``verify``),
        that is truncated or malformed, or image and label files of different lengths.
    FileNotFoundError, OSError
        A missing file with ``download=False``; a cache folder that cannot be created.
    """
    return _load_idx_pair("load_mnist", "mnist", root, split, download, mirrors, verify,
                          progress)


def load_fashion_mnist(root: Root = None, split: str = "train", *, download: bool = True,
                       mirrors: Mirrors = None, verify: bool = True, progress: bool = True
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Xiao, Rasul, Vollgraf, 2017): Zalando's article images, MNIST's format.

    Ten classes: 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt,
    7 sneaker, 8 bag, 9 ankle boot. The files share MNIST's names and live in
    ``root/fashion_mnist/``, so the two never mix. Parameters, returns and errors as
    :func:`load_mnist` (built-in mirrors: ``REGISTRY["fashion_mnist"].mirrors``).
    """
    return _load_idx_pair("load_fashion_mnist", "fashion_mnist", root, split, download,
                          mirrors, verify, progress)


# ---------------------------------------------------------------------- CIFAR-10
def load_cifar10(root: Root = None, split: str = "train", *, download: bool = True,
                 mirrors: Mirrors = None, verify: bool = True, progress: bool = True
                 ) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 (Krizhevsky, 2009): 32x32 colour images in 10 classes, 50,000 / 10,000.

    Read from the *binary* version, ``cifar-10-binary.tar.gz`` in ``root/cifar10/``: the
    tarball is opened and its batch files ``cifar-10-batches-bin/data_batch_1.bin`` ..
    ``data_batch_5.bin`` (train) or ``test_batch.bin`` (test) are read as bytes, never
    extracted to disk and never unpickled (the pickled Python version is not used). Each
    record is one label byte and 3072 pixel bytes: the red, green and blue 32x32 planes.
    The published checksum is of the tarball, so already-extracted batch files in
    ``root/cifar10/cifar-10-batches-bin/`` are read, as they are, only with
    ``verify=False`` and no tarball present.

    Classes: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse,
    8 ship, 9 truck. Parameters and errors as :func:`load_mnist`.

    Returns
    -------
    x : ndarray of uint8, shape (N, 3, 32, 32) (NCHW), pixels 0..255
    y : ndarray of int64, shape (N,), labels 0..9
    """
    fn = "load_cifar10"
    split = _check_split(fn, split)
    members = _CIFAR_MEMBERS[split]
    folder = dataset_folder(fn, REGISTRY["cifar10"], root)
    loose = [folder / m for m in members]
    if not (folder / _CIFAR_TARBALL).is_file() and all(p.is_file() for p in loose):
        if not verify:
            return _cifar_arrays(fn, [(str(p), p.read_bytes()) for p in loose])
        if not download:
            raise FileNotFoundError(
                f"{fn}: {folder} has the extracted batches but not {_CIFAR_TARBALL}; the "
                "published checksum is of the tarball, so extracted files are read only with "
                "verify=False")
    (tarball,) = _fetch(fn, "cifar10", root, (_CIFAR_TARBALL,), download, mirrors, verify,
                        progress)
    return _cifar_arrays(fn, _tar_members(fn, tarball, members))


def _tar_members(fn: str, path: Path, names: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """``(where, bytes)`` of the regular files ``names`` in a .tar.gz, in one pass."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name in names and member.isfile():
                    fh = tar.extractfile(member)
                    if fh is not None:
                        found[name] = fh.read()
                if len(found) == len(names):
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{fn}: {path} is not a readable .tar.gz archive ({err}): it is "
                         "corrupt or truncated; delete it to download it again") from err
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"{fn}: {path} has no {', '.join(missing)}: it is not the CIFAR-10 "
                         "binary version")
    return [(f"{path}:{n}", found[n]) for n in names]


def _cifar_arrays(fn: str, batches: list[tuple[str, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """Split CIFAR-10 binary records into uint8 images (N, 3, 32, 32) and int64 labels."""
    xs, ys = [], []
    for where, raw in batches:
        if not raw or len(raw) % _CIFAR_RECORD:
            raise ValueError(f"{fn}: {where} holds {len(raw)} bytes, not a whole number of "
                             f"{_CIFAR_RECORD}-byte records (a label byte and 3x32x32 "
                             "pixels): it is truncated or not a CIFAR-10 batch")
        records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
        labels = records[:, 0]
        if labels.max() > 9:
            raise ValueError(f"{fn}: {where} holds the label {labels.max()}; labels are 0..9")
        xs.append(records[:, 1:].reshape(-1, 3, 32, 32))
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)
