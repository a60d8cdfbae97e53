"""Saving and loading a model's ``state_dict`` as ``.npz`` (no pickle, ever).

File format (version 1), shared with :mod:`nn.checkpoint`:

* one array per tensor, stored under the tensor's name (``"0.weight"``), readable with a
  plain ``np.load(path, allow_pickle=False)``;
* ``__nn_format_version__``: a 0-d integer array, the format version;
* ``__nn_meta__``: JSON text stored as a ``uint8`` array (UTF-8 bytes), listing every
  tensor's name, shape and dtype (and, in a checkpoint, everything that is not an array).

Reading never unpickles anything (``allow_pickle=False``), checks the version, checks each
tensor against the metadata and the model, and only then assigns: a failed load changes
nothing. Every problem with the file is a :class:`CheckpointError` (a ``ValueError``)
naming the file and the problem. Writes are atomic (:func:`atomic_write`).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import zipfile
from collections.abc import Callable

import numpy as np

from .layer import Layer

#: Stored under this key in every file: the format version.
FORMAT_KEY = "__nn_format_version__"
#: Stored under this key: JSON metadata (UTF-8 bytes in a uint8 array).
META_KEY = "__nn_meta__"
#: Names a tensor cannot have: the entries above, and np.savez's own argument names (a
#: tensor named "allow_pickle" would be taken for the flag and silently left out).
_RESERVED = (FORMAT_KEY, META_KEY, "file", "allow_pickle")
FORMAT_VERSION = 1
#: dtype kinds a file may hold: booleans, integers, unsigned integers, floats.
ALLOWED_KINDS = "biuf"


class CheckpointError(ValueError):
    """A model or checkpoint file that cannot be loaded: truncated or corrupt, another
    format version, pickled objects, or tensors whose names, shapes or dtypes do not match.
    The message names the file and the problem; nothing was changed by the failed load."""


class CheckpointKeyError(CheckpointError, KeyError):
    """Missing or unexpected tensor names (also a ``KeyError``, as ``load_state_dict``'s)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return Exception.__str__(self)


# ---------------------------------------------------------------------- writing
def atomic_write(path: str | os.PathLike, write: Callable) -> str:
    """Call ``write(file)`` on a temporary file in ``path``'s folder, then rename it over
    ``path``: the file is flushed and fsync'ed first, and the folder is fsync'ed after the
    rename, so a crash at any moment leaves either the old file or the new one, whole.
    On an exception the temporary file is removed and ``path`` is untouched.

    The file gets the permissions ``open(path, "w")`` would give it: a new file
    ``0o666 & ~umask``, a replaced file keeps the mode of the file it replaces (see
    :func:`create_temp`).
    """
    path = os.path.expanduser(os.fspath(path))
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = create_temp(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                old = os.stat(path)
            except OSError:  # no file there yet: keep the umask-derived mode
                old = None
            if old is not None and stat.S_ISREG(old.st_mode):
                os.chmod(tmp, old.st_mode & 0o777)  # its permission bits, as open() keeps
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_folder(folder)
    return path


def create_temp(folder: str, base: str) -> tuple[int, str]:
    """Create ``folder/.BASE.XXXXXXXXXXXX.tmp`` exclusively; return ``(fd, path)``.

    Not ``tempfile.mkstemp``: it creates the file with mode 0o600, which the rename would
    carry over to the destination. The file is created with mode 0o666 instead and the
    kernel applies the process umask (and a folder's default ACL) exactly as it does for
    ``open(path, "w")``; the umask is never read, so no global state is changed, even for
    a moment (the ``os.umask`` round trip would race with other threads creating files).
    ``O_EXCL`` (with ``O_NOFOLLOW`` where it exists) makes the creation safe, as mkstemp's.
    """
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_BINARY", 0))
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    raise FileExistsError(f"atomic_write: could not create a temporary file for {base!r} "
                          f"in {folder!r}: 100 random names were all taken")


def fsync_folder(folder: str) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform dependent
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover - platform dependent
        pass
    finally:
        os.close(dfd)


def tensor_meta(arrays: dict[str, np.ndarray]) -> dict[str, dict]:
    """``{name: {"shape": [...], "dtype": "<f4"}}`` for the metadata."""
    return {name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in arrays.items()}


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> str:
    """Write ``arrays`` plus the version and the JSON ``meta`` (which gets ``"tensors"``)."""
    for name, a in arrays.items():
        if name in _RESERVED:
            raise ValueError(f"the tensor name {name!r} is reserved")
        if a.dtype.kind not in ALLOWED_KINDS:
            raise TypeError(f"cannot save tensor {name!r} of dtype {a.dtype} (no pickle: "
                            "only boolean, integer and floating arrays are stored)")
    meta = {**meta, "format_version": FORMAT_VERSION, "tensors": tensor_meta(arrays)}
    text = json.dumps(meta, allow_nan=False).encode("utf-8")
    payload: dict[str, np.ndarray] = {
        FORMAT_KEY: np.array(FORMAT_VERSION, dtype=np.int64),
        META_KEY: np.frombuffer(text, dtype=np.uint8), **arrays}
    return atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **payload))


# ---------------------------------------------------------------------- reading
def read_npz(path: str | os.PathLike, what: str = "nn.load") -> tuple[dict, dict]:
    """``(arrays, meta)`` from a file written by :func:`write_npz`, fully validated.

    Raises :class:`CheckpointError` for a missing, unreadable, truncated or corrupt file
    or a directory (an ``OSError`` is chained as the cause), pickled
    (object) arrays, another format version, or tensors that disagree with the metadata.
    ``meta`` is ``{}`` for a version-1 file written before metadata existed.
    """
    path = os.path.expanduser(os.fspath(path))
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:  # missing, a directory, no permission, an I/O error, ...
        if isinstance(exc, FileNotFoundError):
            problem = "no such file"
        elif os.path.isdir(path):  # IsADirectoryError on POSIX, PermissionError on Windows
            problem = "is a directory, not a file"
        else:
            problem = "cannot be read"
        raise CheckpointError(f"{what}: {path!r}: {problem} ({type(exc).__name__}: "
                              f"{exc.strerror or exc})") from exc
    if magic.startswith(b"\x93NUMPY"):
        raise CheckpointError(f"{what}: {path} is a single .npy array, not an .npz archive")
    if not magic.startswith(b"PK"):
        raise CheckpointError(f"{what}: {path} is not an .npz archive (it does not start like "
                              "a zip file; it is never unpickled)")
    try:
        with np.load(path, allow_pickle=False) as f:
            raw = {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as exc:
        text = str(exc)
        if "pickle" in text or "Object arrays" in text:
            raise CheckpointError(f"{what}: {path} contains pickled objects (an object array); "
                                  "they are never loaded, since unpickling can run code") from exc
        raise CheckpointError(f"{what}: {path} is not a readable .npz file (truncated or "
                              f"corrupt: {type(exc).__name__}: {exc})") from exc
    if FORMAT_KEY not in raw:
        raise CheckpointError(f"{what}: {path} has no {FORMAT_KEY!r} entry: not a file written "
                              "by nn.save or nn.save_checkpoint")
    version = raw.pop(FORMAT_KEY)
    if version.shape != () or version.dtype.kind not in "iu":
        raise CheckpointError(f"{what}: {path} has a malformed format version {version!r}")
    if int(version) != FORMAT_VERSION:
        raise CheckpointError(f"{what}: {path} has format version {int(version)}; this "
                              f"library reads version {FORMAT_VERSION}")
    meta: dict = {}
    if META_KEY in raw:
        blob = raw.pop(META_KEY)
        try:
            if blob.dtype != np.uint8 or blob.ndim != 1:
                raise ValueError(f"expected a 1-d uint8 array, got {blob.dtype} {blob.shape}")
            meta = json.loads(blob.tobytes().decode("utf-8"))
            if not isinstance(meta, dict) or not isinstance(meta.get("tensors"), dict):
                raise ValueError("no tensor table")
        except (ValueError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{what}: {path} has unreadable metadata ({exc})") from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{what}: {path} metadata says format version "
                                  f"{meta.get('format_version')!r}; this library reads "
                                  f"version {FORMAT_VERSION}")
        _check_tensors(path, what, raw, meta["tensors"])
    for name, a in raw.items():
        if a.dtype.kind not in ALLOWED_KINDS:
            raise CheckpointError(f"{what}: {path}: tensor {name!r} has unsupported dtype "
                                  f"{a.dtype}")
    return raw, meta


def _check_tensors(path: str, what: str, arrays: dict, table: dict) -> None:
    missing = sorted(set(table) - set(arrays))
    extra = sorted(set(arrays) - set(table))
    if missing or extra:
        raise CheckpointError(f"{what}: {path} does not match its own metadata: tensors "
                              f"listed but missing {missing}, present but unlisted {extra}")
    for name, info in table.items():
        a = arrays[name]
        try:
            shape, dtype = tuple(info["shape"]), np.dtype(info["dtype"])
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{what}: {path}: malformed metadata for tensor {name!r}"
                                  ) from exc
        if a.shape != shape or a.dtype != dtype:
            raise CheckpointError(f"{what}: {path}: tensor {name!r} is {a.dtype} {a.shape} but "
                                  f"the metadata records {dtype} {shape}")


def check_model_state(model: Layer, state: dict[str, np.ndarray], path: str, what: str,
                      strict: bool = True) -> None:
    """Validate ``state`` against ``model`` (names, shapes, numeric dtypes) without
    assigning anything; raise :class:`CheckpointError` naming the first problem."""
    targets = model.state_dict()
    missing = [k for k in targets if k not in state]
    unexpected = [k for k in state if k not in targets]
    if strict and (missing or unexpected):
        raise CheckpointKeyError(f"{what}: {path} does not match the model "
                                 f"({type(model).__name__}): missing keys {missing}, "
                                 f"unexpected keys {unexpected}")
    for key, target in targets.items():
        if key not in state:
            continue
        value = state[key]
        if value.dtype.kind not in "fiub":
            raise CheckpointError(f"{what}: {path}: {key!r} has non-numeric dtype {value.dtype}")
        if value.shape != target.shape:
            raise CheckpointError(f"{what}: {path}: {key!r} has shape {value.shape}, the model "
                                  f"expects {target.shape}")


# ---------------------------------------------------------------------- model files
def check_model_and_path(fn: str, model: Layer, path: str | os.PathLike) -> str:
    """``path`` as a str with ``~`` expanded, after checking that ``fn`` got ``(model, path)``
    in that order.

    ``nn.save``, ``nn.load``, ``nn.save_checkpoint`` and ``nn.load_checkpoint`` all take
    ``(model, path, ...)``; the other order is a ``TypeError`` that says so.
    """
    if not isinstance(model, Layer):
        if isinstance(path, Layer):
            raise TypeError(f"{fn}: the arguments are in the order (model, path), got the path "
                            f"{model!r} first and a {type(path).__name__} second; call "
                            f"{fn}(model, path)")
        raise TypeError(f"{fn}: model must be an nn.Layer, got {type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got {type(path).__name__}")
    return os.path.expanduser(os.fspath(path))


def save(model: Layer, path: str | os.PathLike) -> str:
    """Write ``model.state_dict()`` to ``path`` (an ``.npz``; ``".npz"`` is appended unless
    ``path`` already ends in it: ``"model.bin"`` is written as ``"model.bin.npz"``).

    The write is atomic: a temporary file in the same folder is fsync'ed and renamed over
    ``path``, so an interrupted save leaves any previous file intact. Returns the path.
    ``nn.save(path, model)`` is a ``TypeError`` saying the order is ``(model, path)``.
    """
    path = check_model_and_path("nn.save", model, path)
    if not path.endswith(".npz"):
        path += ".npz"
    return write_npz(path, model.state_dict(), {"kind": "model"})


def load(model: Layer, path: str | os.PathLike, strict: bool = True) -> Layer:
    """Load a file written by :func:`save` (or a checkpoint) into ``model``; returns it.

    ``path`` is the one given to :func:`save`: when it is not a file but ``path + ".npz"``
    is (save added the suffix), that file is read.

    Loaded with ``allow_pickle=False``. A truncated file, another format version, pickled
    objects, or a missing/unexpected key or shape mismatch raises :class:`CheckpointError`
    naming the problem (:class:`CheckpointKeyError`, also a ``KeyError``, for names), and
    leaves the model unchanged. ``nn.load(path, model)`` is a ``TypeError`` saying the
    order is ``(model, path)``.
    """
    path = check_model_and_path("nn.load", model, path)
    if not os.path.isfile(path) and os.path.isfile(path + ".npz"):
        path += ".npz"  # save() added the suffix: the same path round-trips
    arrays, meta = read_npz(path, "nn.load")
    if meta.get("kind") == "checkpoint":
        prefix = "model/"
        arrays = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    check_model_state(model, arrays, path, "nn.load", strict=strict)
    model.load_state_dict(arrays, strict=strict)
    return model
