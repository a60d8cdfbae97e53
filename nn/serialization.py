"""Saving and loading a model's ``state_dict`` as ``.npz`` (no pickle, ever)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .layer import Layer

#: Stored under this key in every file: the format version.
FORMAT_KEY = "__nn_format_version__"
FORMAT_VERSION = 1


def save(model: Layer, path: str | os.PathLike) -> str:
    """Write ``model.state_dict()`` to ``path`` (an ``.npz``; the suffix is added if missing).

    The write is atomic: a temporary file in the same folder is renamed over ``path``, so an
    interrupted save leaves any previous file intact. Returns the path written.
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    state = model.state_dict()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{FORMAT_KEY: np.array(FORMAT_VERSION)}, **state)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load(model: Layer, path: str | os.PathLike, strict: bool = True) -> Layer:
    """Load a file written by :func:`save` into ``model`` (in place); returns the model.

    Loaded with ``allow_pickle=False``. A missing/unexpected key or a shape mismatch raises
    an error naming the key, and leaves the model unchanged.
    """
    with np.load(os.fspath(path), allow_pickle=False) as f:
        files = list(f.files)
        if FORMAT_KEY in files:
            version = int(f[FORMAT_KEY])
            if version != FORMAT_VERSION:
                raise ValueError(f"nn.load: {path} has format version {version}, "
                                 f"this library reads version {FORMAT_VERSION}")
        state = {k: f[k] for k in files if k != FORMAT_KEY}
    model.load_state_dict(state, strict=strict)
    return model
