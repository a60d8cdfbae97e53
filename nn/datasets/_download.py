"""Fetching a dataset's files into the cache: mirrors in order, SHA-256, atomic writes.

The loaders in :mod:`nn.datasets.vision` describe each dataset as a :class:`RemoteDataset`
(its folder name, its files with their published SHA-256 and size, its mirrors) and call
:func:`fetch_file` for each file they need. For one file, ``fetch_file``:

1. uses the file in ``folder`` if it is there (after comparing its SHA-256 with the
   published one when ``verify`` is true: a mismatch is an error naming the file, never a
   silent re-download over what the user put there);
2. otherwise, with ``download`` true, tries the mirrors in order. Each attempt streams the
   response into a temporary file in ``folder`` (``.NAME.XXXXXXXXXXXX.tmp``) while hashing
   it, and moves it into place with ``os.replace`` only after the byte count and the
   SHA-256 matched. A 404 or other HTTP error, a refused or lost connection, a time-out, a
   transfer cut short or a checksum mismatch removes the temporary file and moves on to
   the next mirror;
3. when every mirror failed, raises :class:`DownloadError` naming the dataset, each URL
   with what went wrong there, and the folder where the files can be put by hand.

Only the standard library's ``urllib`` is used, so ``http://``, ``https://`` and
``file://`` mirrors work, with the proxy settings of the environment.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .._version import __version__
from ..serialization import create_temp, fsync_folder

#: Bytes read from the network (and hashed) at a time.
CHUNK = 1 << 16


class DownloadError(OSError):
    """Every mirror failed for a dataset file. The message names the dataset, each URL
    tried with what went wrong there, and the folder where the file can be put by hand."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name on every mirror, its SHA-256 (hex) and size in bytes."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class RemoteDataset:
    """A dataset's sub-folder of the cache (``folder``), the name shown in messages
    (``title``), its files, and the base URLs of its mirrors, tried in order."""

    folder: str
    title: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]

    def file(self, name: str) -> RemoteFile:
        """The entry for the file called ``name``."""
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"{self.title} has no file {name!r}")


class _MirrorFailed(Exception):
    """One attempt at one URL failed; the message says what went wrong."""


def cache_root(root: str | os.PathLike | None) -> Path:
    """The cache folder: ``root`` if given, else ``$NN_DATA``, else ``~/.cache/nn``
    (``~`` expanded in each)."""
    if root is None:
        root = os.environ.get("NN_DATA") or os.path.join("~", ".cache", "nn")
    return Path(os.fspath(root)).expanduser()


def dataset_folder(fn: str, dataset: RemoteDataset, root: str | os.PathLike | None) -> Path:
    """``root/<dataset.folder>``; an error naming the folder if a file stands in its way."""
    folder = cache_root(root) / dataset.folder
    for part in (folder, *folder.parents):
        if part.exists() and not part.is_dir():
            raise NotADirectoryError(f"{fn}: cannot use {folder} as the {dataset.title} "
                                     f"folder: {part} is a file, not a folder")
    return folder


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_url(base: str, name: str) -> str:
    """A mirror's base URL, ``/``, and the file name (a trailing slash on the base is ignored)."""
    return base.rstrip("/") + "/" + name


def check_cached(fn: str, dataset: RemoteDataset, expected: RemoteFile, path: Path) -> None:
    """Compare a file already in the cache with its published SHA-256."""
    got = sha256_of(path)
    if got != expected.sha256:
        size = path.stat().st_size
        raise ValueError(
            f"{fn}: {path} does not match the published {dataset.title} file: its SHA-256 is "
            f"{got} ({size} bytes), expected {expected.sha256} ({expected.size} bytes). It is "
            "corrupt, truncated or another file: delete it to download it again, or pass "
            "verify=False to use it as it is.")


def fetch_file(fn: str, dataset: RemoteDataset, name: str, folder: Path, *,
               mirrors: tuple[str, ...] | None, verify: bool, download: bool,
               timeout: float, progress: bool) -> Path:
    """The path of ``folder/name``, downloaded first if it is missing (see the module's
    docstring for the steps). ``fn`` names the calling loader in every message."""
    expected = dataset.file(name)
    path = folder / name
    if path.is_file():
        if verify:
            check_cached(fn, dataset, expected, path)
        return path
    bases = tuple(dataset.mirrors if mirrors is None else mirrors)
    if not download:
        raise FileNotFoundError(
            f"{fn}: {path} is missing and download=False. Put the {dataset.title} file "
            f"{name} in {folder} by hand (from {_listed(bases, name)}), or pass download=True.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise type(err)(f"{fn}: cannot create the {dataset.title} folder {folder}: "
                        f"{err.strerror or err}") from err
    failures = []
    for base in bases:
        url = file_url(base, name)
        try:
            _download(fn, url, expected, path, timeout, progress)
            return path
        except _MirrorFailed as err:
            failures.append(f"  {url}: {err}")
    raise DownloadError(
        f"{fn}: could not download the {dataset.title} file {name}; every mirror failed:\n"
        + "\n".join(failures)
        + f"\nNo partial file was left behind. To install it by hand, put {name} (SHA-256 "
        f"{expected.sha256}) in {folder}.")


def _listed(bases: tuple[str, ...], name: str) -> str:
    return ", ".join(file_url(b, name) for b in bases) or "any copy of it"


def _download(fn: str, url: str, expected: RemoteFile, path: Path, timeout: float,
              progress: bool) -> None:
    """Stream ``url`` into a temporary file beside ``path``; move it to ``path`` only if
    its size and SHA-256 are the published ones. Any failure removes the temporary file
    and raises :class:`_MirrorFailed`; a folder that refuses the temporary file raises its
    ``OSError`` at once."""
    folder = str(path.parent)
    try:
        fd, tmp = create_temp(folder, path.name)
    except OSError as err:
        raise type(err)(f"{fn}: cannot write into {folder}: {err.strerror or err}") from err
    try:
        with os.fdopen(fd, "wb") as out:
            digest, received = _stream(url, expected, out, timeout, progress)
            out.flush()
            os.fsync(out.fileno())
        if received < expected.size:
            raise _MirrorFailed(f"transfer cut short: received {received} of "
                                f"{expected.size} bytes")
        if digest != expected.sha256:
            raise _MirrorFailed(f"checksum mismatch: SHA-256 {digest}, expected "
                                f"{expected.sha256}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    fsync_folder(folder)


def _stream(url: str, expected: RemoteFile, out, timeout: float,
            progress: bool) -> tuple[str, int]:
    """Copy the response body into ``out``; return its SHA-256 and its length. Every
    failure, of the network or of the disk, is a :class:`_MirrorFailed` saying what
    happened (a full disk fails at each mirror in turn, and the error lists it for each)."""
    digest = hashlib.sha256()
    received = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"readable-nn/{__version__}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            if announced is not None and announced.strip().isdigit() \
                    and int(announced) != expected.size:
                raise _MirrorFailed(f"the server announces {int(announced)} bytes, the "
                                    f"published file has {expected.size}")
            # imported here: in a notebook without ipywidgets, importing tqdm.auto warns,
            # and `import nn` must not
            from tqdm.auto import tqdm
            with tqdm(total=expected.size, desc=expected.name, unit="B", unit_scale=True,
                      unit_divisor=1024, file=sys.stderr, disable=not progress,
                      leave=False) as bar:
                while chunk := response.read(CHUNK):
                    received += len(chunk)
                    if received > expected.size:
                        raise _MirrorFailed(f"the server sends more than the {expected.size} "
                                            "bytes of the published file")
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        err.close()
        raise _MirrorFailed(f"HTTP error {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, TimeoutError):
            raise _MirrorFailed(f"timed out after {timeout:g} s") from None
        raise _MirrorFailed(f"could not connect: {reason}") from None
    except TimeoutError:
        raise _MirrorFailed(f"timed out after {timeout:g} s (received {received} of "
                            f"{expected.size} bytes)") from None
    except http.client.IncompleteRead as err:
        got = received + len(err.partial)
        raise _MirrorFailed(f"transfer cut short: received {got} of {expected.size} "
                            "bytes") from None
    except ValueError as err:  # urllib's "unknown url type"
        raise _MirrorFailed(f"not a usable URL ({err})") from None
    except (http.client.HTTPException, OSError) as err:  # a reset, TLS, a full disk, ...
        raise _MirrorFailed(f"failed after {received} of {expected.size} bytes "
                            f"({type(err).__name__}: {err})") from None
    return digest.hexdigest(), received
