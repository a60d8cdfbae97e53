"""MNIST-1D (Greydanus 2020, "Scaling down deep learning"), generated on this machine.

Each sample is one of ten hand-made 1-D templates of 12 points (the "digits"), padded,
stretched, scaled, translated, given correlated and white noise, sheared and resampled to
40 points; the whole set is then centred and scaled to unit standard deviation. The
generator is the ``mnist1d`` package's own (``mnist1d.data.make_dataset``, an optional
extra: ``pip install 'readable-nn[mnist1d]'``); nothing is downloaded. Its default recipe
gives 5,000 sequences split 4,000 train / 1,000 test, with seed 42.

The package seeds NumPy's and Python's *global* generators (``np.random.seed``); this
module saves both states before generating and puts them back afterwards, so calling
:func:`load_mnist1d` changes no random stream of the caller.
"""

from __future__ import annotations

import functools
import importlib
import os
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_mnist1d"]

DEFAULT_SEED = 42            # the mnist1d package's default recipe
N_TRAIN, N_TEST, LENGTH = 4000, 1000, 40
_INSTALL = "pip install 'readable-nn[mnist1d]'"
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_mnist1d(root: str | os.PathLike | None = None, split: str = "train", *,
                 seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST-1D sequences of one split: ``x`` float32 (N, 40), ``y`` int64 (N,).

    The training and test sequences come from one generated set of 5,000 (the package's
    80/20 split), so a seed gives disjoint train and test splits.

    Parameters
    ----------
    root : path, optional
        A cache folder: the generated arrays of both splits are kept in
        ``root/mnist1d/mnist1d_seed<seed>.npz`` (written atomically) and read from there
        next time; paths expand ``~``. ``None``: generate in memory (about a second, once
        per process and seed), nothing written.
    split : "train" (4,000 sequences) or "test" (1,000).
    seed : the generator's seed; the default, 42, is the ``mnist1d`` package's, so the
        same call always returns the same data.
    """
    fn = "load_mnist1d"
    if split not in ("train", "test"):
        raise ValueError(f"{fn}: split must be 'train' or 'test', got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
            not 0 <= seed < 2**32:
        raise ValueError(f"{fn}: seed must be an integer in [0, 2**32), got {seed!r}")
    seed = int(seed)
    if root is None:
        arrays = _generated(seed)
    else:
        folder = Path(os.path.expanduser(os.fspath(root))) / "mnist1d"
        path = folder / f"mnist1d_seed{seed}.npz"
        if path.exists():
            arrays = _read_cache(path)
        else:
            arrays = _generated(seed)
            _write_atomically(folder, path, arrays)
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    return x.copy(), y.copy()


@functools.lru_cache(maxsize=2)
def _generated(seed: int) -> dict[str, np.ndarray]:
    """:func:`_generate`, remembered for this process (read-only arrays: callers copy)."""
    arrays = _generate(seed)
    for a in arrays.values():
        a.setflags(write=False)
    return arrays


def _generate(seed: int) -> dict[str, np.ndarray]:
    """Run the package's generator with its default recipe and ``seed``; restore the global
    random states it seeds."""
    try:
        generator = importlib.import_module("mnist1d.data")
    except ImportError as exc:
        raise ImportError(f"load_mnist1d generates MNIST-1D with the mnist1d package, which "
                          f"is not installed: {_INSTALL}") from exc
    args = generator.get_dataset_args()
    args.seed = seed
    # the package draws from NumPy's legacy global generator: put its state back after
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        data = generator.make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    arrays = {"x_train": data["x"], "y_train": data["y"],
              "x_test": data["x_test"], "y_test": data["y_test"]}
    return _checked(arrays, f"the mnist1d package's generator (seed {seed})")


def _checked(arrays: dict[str, Any], where: str) -> dict[str, np.ndarray]:
    """Cast to float32 / int64 and check the recipe's shapes; ``where`` names the source."""
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        if x.shape != (n, LENGTH) or y.shape != (n,):
            raise ValueError(f"load_mnist1d: {where} holds {split} arrays of shapes {x.shape} "
                             f"and {y.shape}, expected ({n}, {LENGTH}) and ({n},)")
        if not np.isfinite(x).all() or y.min() < 0 or y.max() > 9:
            raise ValueError(f"load_mnist1d: {where} holds non-finite sequences or labels "
                             f"outside 0..9 in its {split} split")
        out[f"x_{split}"], out[f"y_{split}"] = x.astype(np.float32), y.astype(np.int64)
    return out


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in _KEYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"load_mnist1d: the cached file {path} is unreadable or incomplete "
                         f"({type(exc).__name__}: {exc}); delete it and it will be generated "
                         f"again") from exc
    return _checked(arrays, f"the cached file {path}")


def _write_atomically(folder: Path, path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file in ``folder``, then move it into place."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".mnist1d-", suffix=".npz.part", dir=folder)
    except OSError as exc:
        raise OSError(f"load_mnist1d: cannot write the cache folder {folder} ({exc}); pass "
                      f"another root, or root=None to keep the data in memory only") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, x_train=arrays["x_train"], y_train=arrays["y_train"],
                     x_test=arrays["x_test"], y_test=arrays["y_test"])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
