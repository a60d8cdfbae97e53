"""Tests for the downloading loaders (nn.datasets.vision, nn.datasets._download).

Nothing here touches the internet. A small HTTP server on 127.0.0.1 (a thread, port 0) serves
files in the real formats made by the tests: gzip-compressed IDX files like MNIST's and a
.tar.gz like CIFAR-10's binary version. The first part of a URL's path chooses how the
server misbehaves: ``/good/NAME`` serves the file, ``/missing/`` answers 404, ``/corrupt/``
serves the file with one byte changed, ``/drop/`` announces the full length and closes the
connection half-way, ``/slow/`` sends the headers and then nothing (until the test ends),
``/long/`` and ``/short/`` announce no length and send a few bytes too many or too few.
The loaders' tables of published checksums are replaced, through ``REGISTRY``, by the
checksums of these files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pathlib
import socket
import struct
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from nn.datasets import (
    DownloadError,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    vision,
)
from nn.datasets.vision import RemoteDataset, RemoteFile

MNIST_NAMES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
               "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
RECORD = 1 + 3 * 32 * 32


# ---------------------------------------------------------------------- files in the real formats
def idx_gz(arr: np.ndarray) -> bytes:
    """uint8 array -> gzip-compressed IDX bytes (magic 0x0000 08 ndim, big-endian sizes)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes(), mtime=0)


def fake_mnist(seed: int, n_train: int = 12, n_test: int = 6):
    """(files by name, arrays by split) of a small MNIST-format data set."""
    rng = np.random.default_rng(seed)
    files, arrays = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        images, labels = MNIST_NAMES[split]
        files[images], files[labels] = idx_gz(x), idx_gz(y)
        arrays[split] = (x, y)
    return files, arrays


def cifar_batch(rng: np.random.Generator, n: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """n CIFAR-10 binary records: label byte, then the R, G, B 32x32 planes."""
    x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=n, dtype=np.uint8)
    raw = b"".join(bytes([label]) + img.tobytes() for label, img in zip(y, x))
    return raw, x, y


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def fake_cifar(seed: int = 0):
    """(tarball bytes, batch bytes by member name, arrays by split)."""
    rng = np.random.default_rng(seed)
    members, arrays = {}, {}
    xs, ys = [], []
    for i in range(1, 6):
        raw, x, y = cifar_batch(rng, 2 + i)           # batches of different sizes
        members[f"cifar-10-batches-bin/data_batch_{i}.bin"] = raw
        xs.append(x)
        ys.append(y)
    arrays["train"] = (np.concatenate(xs), np.concatenate(ys))
    raw, x, y = cifar_batch(rng, 4)
    members["cifar-10-batches-bin/test_batch.bin"] = raw
    arrays["test"] = (x, y)
    members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\nautomobile\n"
    return tar_gz(members), members, arrays


def dataset(folder: str, files: dict[str, bytes], mirrors=()) -> RemoteDataset:
    """A registry entry whose published checksums are those of ``files``."""
    return RemoteDataset(folder, folder.upper(), tuple(
        RemoteFile(name, hashlib.sha256(data).hexdigest(), len(data))
        for name, data in files.items()), tuple(mirrors))


# ---------------------------------------------------------------------- the local server
class Server:
    """A threaded HTTP server on 127.0.0.1; ``files`` maps names to bytes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:   # keep the test output clean
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                mode, _, name = self.path.lstrip("/").partition("/")
                data = server.files.get(name)
                if mode == "missing" or data is None:
                    self.send_error(404, "Not Found")
                    return
                if mode == "corrupt":
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                if mode in ("long", "short"):          # no length announced; closes at the end
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(data + b"more" if mode == "long" else data[:-3])
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if mode == "slow":
                    server.release.wait(10)          # bounded: released at teardown
                    return
                if mode == "drop":
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def _no_proxy_short_timeout(monkeypatch):
    """Requests go straight to 127.0.0.1; a server silent for 10 s is given up on (the
    stalling server's own test shortens that to STALL_TIMEOUT)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(vision, "TIMEOUT", 10.0)


@pytest.fixture
def mnist(server, monkeypatch):
    """Fake MNIST files served at /good/ and registered with their checksums."""
    files, arrays = fake_mnist(0)
    server.files.update(files)
    monkeypatch.setitem(vision.REGISTRY, "mnist", dataset("mnist", files, [server.url("good")]))
    return files, arrays


def refused_url() -> str:
    """A 127.0.0.1 URL nobody listens on (the port was just free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------------- good downloads
def test_good_download_then_cache(server, mnist, tmp_path, capsys):
    files, arrays = mnist
    x, y = load_mnist(tmp_path, "train")
    assert x.dtype == np.uint8 and x.shape == (12, 28, 28)
    assert y.dtype == np.int64 and y.shape == (12,)
    np.testing.assert_array_equal(x, arrays["train"][0])
    np.testing.assert_array_equal(y, arrays["train"][1])
    assert leftovers(tmp_path / "mnist") == sorted(MNIST_NAMES["train"])
    for name in MNIST_NAMES["train"]:
        assert (tmp_path / "mnist" / name).read_bytes() == files[name]
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err   # the progress bar
    # the second call reads the cache: no request, even with only a dead mirror given
    before = len(server.requests)
    x2, y2 = load_mnist(tmp_path, "train", mirrors=[refused_url()], progress=False)
    assert len(server.requests) == before
    np.testing.assert_array_equal(x2, x)
    x[:] = 0                                                          # fresh arrays
    assert load_mnist(tmp_path, "train", progress=False)[0].any()
    xt, yt = load_mnist(tmp_path, split="test", progress=False)
    np.testing.assert_array_equal(xt, arrays["test"][0])
    np.testing.assert_array_equal(yt, arrays["test"][1])
    assert capsys.readouterr().err == ""                              # progress=False


def test_float_form_from_the_docs(mnist, tmp_path):
    x, _ = load_mnist(tmp_path, "test", progress=False)
    xf = x[:, None] / np.float32(255)
    assert xf.shape == (6, 1, 28, 28) and xf.dtype == np.float32
    assert xf[0, 0, 3, 5] == np.float32(x[0, 3, 5]) / np.float32(255)
    assert 0.0 <= xf.min() and xf.max() <= 1.0


def test_fashion_mnist_has_its_own_folder(server, mnist, tmp_path, monkeypatch):
    fashion_files, fashion = fake_mnist(1)
    # the same file names as MNIST's with other bytes, served under /good/fashion/
    server.files.update({f"fashion/{k}": v for k, v in fashion_files.items()})
    monkeypatch.setitem(vision.REGISTRY, "fashion_mnist", dataset(
        "fashion_mnist", fashion_files, [server.url("good") + "fashion/"]))
    xf, yf = load_fashion_mnist(tmp_path, "test", progress=False)
    xm, ym = load_mnist(tmp_path, "test", progress=False)
    np.testing.assert_array_equal(xf, fashion["test"][0])
    np.testing.assert_array_equal(yf, fashion["test"][1])
    np.testing.assert_array_equal(xm, mnist[1]["test"][0])
    assert leftovers(tmp_path / "fashion_mnist") == sorted(MNIST_NAMES["test"])
    assert leftovers(tmp_path / "mnist") == sorted(MNIST_NAMES["test"])


def test_cifar10_binary_records(server, tmp_path, monkeypatch):
    tarball, members, arrays = fake_cifar()
    server.files["cifar-10-binary.tar.gz"] = tarball
    monkeypatch.setitem(vision.REGISTRY, "cifar10", dataset(
        "cifar10", {"cifar-10-binary.tar.gz": tarball}, [server.url("good")]))
    x, y = load_cifar10(tmp_path, "train", progress=False)
    assert x.dtype == np.uint8 and x.shape == (3 + 4 + 5 + 6 + 7, 3, 32, 32)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(x, arrays["train"][0])
    np.testing.assert_array_equal(y, arrays["train"][1])
    # by hand: record 0 of test_batch.bin is [label, R plane, G plane, B plane], row-major
    raw = members["cifar-10-batches-bin/test_batch.bin"]
    xt, yt = load_cifar10(tmp_path, "test", progress=False)
    assert yt[0] == raw[0] and xt.shape == (4, 3, 32, 32)
    for c, r, col in [(0, 0, 0), (1, 5, 7), (2, 31, 31), (0, 31, 0)]:
        assert xt[0, c, r, col] == raw[1 + c * 1024 + r * 32 + col]
    assert xt[1, 2, 0, 1] == raw[RECORD + 1 + 2 * 1024 + 1]
    assert leftovers(tmp_path / "cifar10") == ["cifar-10-binary.tar.gz"]   # never extracted


# ---------------------------------------------------------------------- failing mirrors
#: The time-out while the stalling server is tried: short, yet long enough for the good
#: server of the same test to answer on a busy machine.
STALL_TIMEOUT = 1.5
FAILURES = {                       # mirror -> what the error says went wrong there
    "missing": "HTTP error 404",
    "corrupt": "checksum mismatch",
    "drop": "transfer cut short: received",
    "slow": f"timed out after {STALL_TIMEOUT:g} s",
    "refused": "could not connect",
    "long": "the server sends more than the",
    "short": "transfer cut short: received",
}


def mirror(server, mode: str) -> str:
    return refused_url() if mode == "refused" else server.url(mode)


@pytest.mark.parametrize("mode", sorted(FAILURES))
def test_failed_mirror_moves_on_and_leaves_nothing(server, mnist, tmp_path, mode,
                                                  monkeypatch):
    monkeypatch.setattr(vision, "TIMEOUT", STALL_TIMEOUT)
    bad = mirror(server, mode)
    folder = tmp_path / "mnist"
    # alone, the mirror fails: the error names the URL and what went wrong, nothing stays
    with pytest.raises(DownloadError) as info:
        load_mnist(tmp_path, "test", mirrors=[bad], progress=False)
    message = str(info.value)
    assert f"{bad}t10k-images-idx3-ubyte.gz: {FAILURES[mode]}" in message
    assert leftovers(folder) == []
    # followed by a good one, the download succeeds from the good one
    x, _ = load_mnist(tmp_path, "test", mirrors=[bad, server.url("good")], progress=False)
    np.testing.assert_array_equal(x, mnist[1]["test"][0])
    assert leftovers(folder) == sorted(MNIST_NAMES["test"])


def test_all_mirrors_fail_error_lists_each_url_reason_and_folder(server, mnist, tmp_path):
    modes = ["missing", "corrupt", "refused", "drop"]
    urls = [mirror(server, m) for m in modes]
    with pytest.raises(DownloadError) as info:
        load_mnist(tmp_path / "cache", "train", mirrors=urls, progress=False)
    message = str(info.value)
    assert message.startswith("load_mnist: could not download the MNIST file "
                              "train-images-idx3-ubyte.gz")
    lines = [line.strip() for line in message.splitlines()]
    tried = [line for line in lines if line.startswith("http://")]
    assert len(tried) == 4
    for line, url, mode in zip(tried, urls, modes):
        assert line.startswith(f"{url}train-images-idx3-ubyte.gz: {FAILURES[mode]}")
    folder = tmp_path / "cache" / "mnist"
    assert f"in {folder}" in message                   # where to put the file by hand
    assert mnist[0] and vision.REGISTRY["mnist"].files[0].sha256 in message
    assert leftovers(folder) == []
    assert isinstance(info.value, OSError)


def test_wrong_announced_length_is_a_mirror_failure(server, mnist, tmp_path, monkeypatch):
    files, _ = mnist
    entry = vision.REGISTRY["mnist"]
    wrong = tuple(RemoteFile(f.name, f.sha256, f.size + 1) for f in entry.files)
    monkeypatch.setitem(vision.REGISTRY, "mnist", RemoteDataset("mnist", "MNIST", wrong,
                                                                entry.mirrors))
    with pytest.raises(DownloadError, match="announces .* bytes, the published file has"):
        load_mnist(tmp_path, "test", progress=False)
    assert leftovers(tmp_path / "mnist") == []


def test_download_false_names_the_missing_file(mnist, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, "test", download=False)
    message = str(info.value)
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in message
    assert "download=False" in message


# ---------------------------------------------------------------------- cached files
def put(folder: pathlib.Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def raises_naming(path: pathlib.Path, match: str, load, *args, **kwargs) -> str:
    """``load(*args, **kwargs)`` raises a ValueError matching ``match`` and naming ``path``."""
    with pytest.raises(ValueError, match=match) as info:
        load(*args, **kwargs)
    assert str(path) in str(info.value)
    return str(info.value)


def test_verify_checks_files_already_present(mnist, tmp_path):
    other, arrays = fake_mnist(7)                      # valid files, but not the published
    put(tmp_path / "mnist", other)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    message = raises_naming(path, "does not match the published", load_mnist, tmp_path, "test")
    assert "verify=False" in message
    assert path.read_bytes() == other[path.name]       # left as it was, not re-downloaded
    x, y = load_mnist(tmp_path, "test", verify=False)  # used as they are
    np.testing.assert_array_equal(x, arrays["test"][0])
    np.testing.assert_array_equal(y, arrays["test"][1])


def test_truncated_cached_file(mnist, tmp_path):
    files, _ = mnist
    put(tmp_path / "mnist", files)
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(files[path.name][:-7])
    raises_naming(path, "does not match the published", load_mnist, tmp_path, "test")
    raises_naming(path, "load_mnist: .*gzip", load_mnist, tmp_path, "test", verify=False)
    # an uncompressed IDX cut short: the reader names the file and the byte counts
    path.write_bytes(gzip.decompress(files[path.name])[:-2])
    raises_naming(path, "truncated", load_mnist, tmp_path, "test", verify=False)


def test_labels_and_images_of_different_lengths(server, tmp_path, monkeypatch):
    files, _ = fake_mnist(3)
    files["t10k-labels-idx1-ubyte.gz"] = idx_gz(np.zeros(5, dtype=np.uint8))   # 6 images
    server.files.update({f"mismatch/{k}": v for k, v in files.items()})
    monkeypatch.setitem(vision.REGISTRY, "mnist",
                        dataset("mnist", files, [server.url("good") + "mismatch"]))
    with pytest.raises(ValueError) as info:
        load_mnist(tmp_path, "test", progress=False)
    folder = tmp_path / "mnist"
    assert (f"{folder / 't10k-images-idx3-ubyte.gz'} holds 6 images but "
            f"{folder / 't10k-labels-idx1-ubyte.gz'} holds 5 labels") in str(info.value)


def test_images_of_the_wrong_shape_or_labels_out_of_range(mnist, tmp_path):
    folder = tmp_path / "mnist"
    put(folder, {"t10k-images-idx3-ubyte.gz": idx_gz(np.zeros((6, 8, 8), np.uint8)),
                 "t10k-labels-idx1-ubyte.gz": idx_gz(np.zeros(6, np.uint8))})
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz holds a uint8 array of "
                                         r"shape \(6, 8, 8\)"):
        load_mnist(tmp_path, "test", verify=False)
    put(folder, {"t10k-images-idx3-ubyte.gz": idx_gz(np.zeros((6, 28, 28), np.uint8)),
                 "t10k-labels-idx1-ubyte.gz": idx_gz(np.full(6, 10, np.uint8))})
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz holds the label 10"):
        load_mnist(tmp_path, "test", verify=False)


# ---------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("load", [load_mnist, load_fashion_mnist, load_cifar10])
def test_wrong_split_and_mirrors(load, tmp_path):
    for split in ("validation", "Train", None):
        with pytest.raises(ValueError, match=f"{load.__name__}: split must be 'train' or "
                                             "'test'"):
            load(tmp_path, split)
    with pytest.raises(ValueError, match="mirrors must be None or a non-empty list"):
        load(tmp_path, "test", mirrors="http://127.0.0.1:1/")
    with pytest.raises(ValueError, match="mirrors"):
        load(tmp_path, "test", mirrors=[])
    assert leftovers(tmp_path) == []


def test_a_file_where_the_folder_should_be(mnist, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        load_mnist(blocker, "test")
    assert str(blocker) in str(info.value) and "is a file" in str(info.value)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "mnist").write_text("x")     # the dataset's own folder is a file
    with pytest.raises(NotADirectoryError, match="mnist is a file"):
        load_mnist(tmp_path / "root", "test")


def test_a_folder_without_permission(mnist, tmp_path, monkeypatch):
    """As root (CI) no folder refuses a write, so the refusal is the operating system's
    error raised where it would be: creating the folder, then creating the temporary file."""
    from nn.datasets import _download

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr(pathlib.Path, "mkdir", denied)
        with pytest.raises(PermissionError, match="load_mnist: cannot create the MNIST folder "
                                                  f"{tmp_path / 'mnist'}: Permission denied"):
            load_mnist(tmp_path, "test")
    with monkeypatch.context() as m:
        m.setattr(_download, "create_temp", denied)
        with pytest.raises(PermissionError, match=f"load_mnist: cannot write into "
                                                  f"{tmp_path / 'mnist'}: Permission denied"):
            load_mnist(tmp_path, "test")              # not a mirror failure: raised at once
    assert leftovers(tmp_path / "mnist") == []


def test_a_really_denied_folder(mnist, tmp_path):
    """A real denied folder: read-only for a normal user; for root (CI), who may write into
    any folder, a folder inside /sys, where even root may not create one."""
    if os.geteuid() == 0:
        with pytest.raises(PermissionError, match="cannot create the MNIST folder /sys/mnist"):
            load_mnist("/sys", "test", progress=False)
        return
    folder = tmp_path / "mnist"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OSError, match=f"cannot write into {folder}"):
            load_mnist(tmp_path, "test", progress=False)
    finally:
        folder.chmod(0o700)


# ---------------------------------------------------------------------- paths
class PathLike:
    def __init__(self, path) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def test_root_expands_tilde_accepts_pathlike_and_defaults(mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NN_DATA", raising=False)
    _, y = load_mnist("~/data", "test", progress=False)
    assert leftovers(tmp_path / "data" / "mnist") == sorted(MNIST_NAMES["test"])
    _, y2 = load_mnist(PathLike(tmp_path / "data"), "test", mirrors=[refused_url()])
    np.testing.assert_array_equal(y, y2)
    load_mnist(None, "test", progress=False)           # ~/.cache/nn
    assert leftovers(tmp_path / ".cache" / "nn" / "mnist") == sorted(MNIST_NAMES["test"])
    monkeypatch.setenv("NN_DATA", "~/elsewhere")       # $NN_DATA wins, ~ expanded
    load_mnist(split="test", progress=False)
    assert leftovers(tmp_path / "elsewhere" / "mnist") == sorted(MNIST_NAMES["test"])


def test_read_idx_and_build_docs_corpus_expand_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "a.idx").write_bytes(gzip.decompress(idx_gz(np.arange(3, dtype=np.uint8))))
    np.testing.assert_array_equal(read_idx("~/a.idx"), [0, 1, 2])
    np.testing.assert_array_equal(read_idx(PathLike(tmp_path / "a.idx")), [0, 1, 2])
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.md").write_text("# hi\n")
    text = nn.datasets.build_docs_corpus("~", out="~/corpus.txt")
    assert "<<< docs/x.md >>>" in text
    assert (tmp_path / "corpus.txt").read_text() == text


def test_mirror_base_with_or_without_trailing_slash(server, mnist, tmp_path):
    base = server.url("good").rstrip("/")
    load_mnist(tmp_path, "test", mirrors=[base], progress=False)
    assert server.requests[-1] == "/good/t10k-labels-idx1-ubyte.gz"


# ---------------------------------------------------------------------- CIFAR-10 cache
@pytest.fixture
def cifar(tmp_path, monkeypatch):
    tarball, members, arrays = fake_cifar(5)
    monkeypatch.setitem(vision.REGISTRY, "cifar10", dataset(
        "cifar10", {"cifar-10-binary.tar.gz": tarball}, [refused_url()]))
    return tarball, members, arrays


def test_cifar10_extracted_batches_only_without_verify(cifar, tmp_path):
    _, members, arrays = cifar
    put(tmp_path / "cifar10", {k: v for k, v in members.items()})
    x, y = load_cifar10(tmp_path, "test", verify=False)
    np.testing.assert_array_equal(x, arrays["test"][0])
    np.testing.assert_array_equal(y, arrays["test"][1])
    with pytest.raises(FileNotFoundError, match="extracted files are read only with "
                                                "verify=False"):
        load_cifar10(tmp_path, "test", download=False)
    with pytest.raises(DownloadError, match="cifar-10-binary.tar.gz"):   # verify: the tarball
        load_cifar10(tmp_path, "test", progress=False)
    batch = tmp_path / "cifar10" / "cifar-10-batches-bin" / "test_batch.bin"
    batch.write_bytes(members["cifar-10-batches-bin/test_batch.bin"][:-100])
    raises_naming(batch, "not a whole number of 3073-byte records", load_cifar10, tmp_path,
                  "test", verify=False)


def test_cifar10_corrupt_or_wrong_tarball(cifar, tmp_path):
    tarball, members, _ = cifar
    path = tmp_path / "cifar10" / "cifar-10-binary.tar.gz"
    put(path.parent, {path.name: tarball[: len(tarball) // 2]})
    raises_naming(path, "does not match the published", load_cifar10, tmp_path, "test")
    raises_naming(path, "not a readable .tar.gz archive", load_cifar10, tmp_path, "test",
                  verify=False)
    path.write_bytes(tar_gz({"cifar-10-batches-py/test_batch": b"\x80\x04pickle"}))
    with pytest.raises(ValueError, match="has no cifar-10-batches-bin/test_batch.bin: it is "
                                         "not the CIFAR-10 binary version"):
        load_cifar10(tmp_path, "test", verify=False)
    bad = dict(members)
    bad["cifar-10-batches-bin/test_batch.bin"] = bytes([11]) + bytes(RECORD - 1)
    path.write_bytes(tar_gz(bad))
    with pytest.raises(ValueError, match="test_batch.bin holds the label 11"):
        load_cifar10(tmp_path, "test", verify=False)


@given(sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_cifar10_record_layout(sizes, seed):
    """Any batches of records: image i, channel c, row r, column k is byte
    1 + c*1024 + r*32 + k of record i, its label byte 0; batches concatenate in order."""
    rng = np.random.default_rng(seed)
    batches = [cifar_batch(rng, n) for n in sizes]
    x, y = vision._cifar_arrays("load_cifar10", [(f"b{i}", raw) for i, (raw, _, _)
                                                 in enumerate(batches)])
    records = np.frombuffer(b"".join(raw for raw, _, _ in batches), np.uint8).reshape(-1, RECORD)
    i, c, r, k = (int(rng.integers(0, m)) for m in (len(records), 3, 32, 32))
    assert x[i, c, r, k] == records[i, 1 + c * 1024 + r * 32 + k]
    np.testing.assert_array_equal(y, records[:, 0])
    np.testing.assert_array_equal(x, np.concatenate([b[1] for b in batches]))
    assert x.dtype == np.uint8 and y.dtype == np.int64 and x.flags.writeable


def test_nothing_is_unpickled_or_extracted(cifar, tmp_path, monkeypatch):
    import pickle

    tarball, _, _ = cifar
    put(tmp_path / "cifar10", {"cifar-10-binary.tar.gz": tarball})

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(tarfile.TarFile, "extractall", refuse)
    monkeypatch.setattr(tarfile.TarFile, "extract", refuse)
    x, _ = load_cifar10(tmp_path, "train")
    assert x.shape == (25, 3, 32, 32)
    assert leftovers(tmp_path / "cifar10") == ["cifar-10-binary.tar.gz"]


# ---------------------------------------------------------------------- the published tables
def test_registry_holds_the_published_files():
    expected = {
        "mnist": ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
        "fashion_mnist": ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
        "cifar10": ["cifar-10-binary.tar.gz"],
    }
    for key, names in expected.items():
        entry = vision.REGISTRY[key]
        assert entry.folder == key and [f.name for f in entry.files] == names
        assert entry.mirrors and all(m.startswith(("https://", "http://"))
                                     for m in entry.mirrors)
        for f in entry.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.size > 0
    # MNIST's page lists these sizes; CIFAR-10's binary tarball is 170052171 bytes
    assert [f.size for f in vision.REGISTRY["mnist"].files] == [9912422, 28881, 1648877, 4542]
    assert vision.REGISTRY["cifar10"].files[0].size == 170052171
    with pytest.raises(KeyError, match="MNIST has no file 'nope'"):
        vision.REGISTRY["mnist"].file("nope")


# ---------------------------------------------------------------------- --dataset mnist
def run_cli(argv: list[str], capsys) -> str:
    """``python -m nn ARGV`` in this process, BLAS on one thread (the machine is shared)."""
    from nn.__main__ import main
    from nn.jobs.common import blas_threads

    with blas_threads(1):
        assert main(argv) == 0
    return capsys.readouterr().out


def test_cnn_job_trains_on_mnist_from_the_server_then_the_cache(server, tmp_path, monkeypatch,
                                                               capsys):
    files, _ = fake_mnist(4, n_train=48, n_test=16)
    server.files.update({f"job/{k}": v for k, v in files.items()})
    monkeypatch.setitem(vision.REGISTRY, "mnist",
                        dataset("mnist", files, [server.url("good") + "job"]))
    monkeypatch.setenv("NN_DATA", str(tmp_path / "cache"))
    weights = tmp_path / "w.npz"
    out = run_cli(["--model", "cnn", "--dataset", "mnist", "--epochs", "1", "--verbose", "0",
                   "--hidden", "8", "--save", str(weights)], capsys)
    assert "test accuracy" in out
    assert leftovers(tmp_path / "cache" / "mnist") == sorted(files)
    # the network saw 1x28x28 images: Conv 3x3 -> 32x26x26 -> Linear(21632, hidden)
    with np.load(weights) as saved:
        assert saved["0.weight"].shape == (32, 1, 3, 3)
        assert saved["3.weight"].shape == (32 * 26 * 26, 8)
    # a second run reads the cache: the server is not asked again
    before = len(server.requests)
    run_cli(["--model", "cnn", "--dataset", "mnist", "--epochs", "1", "--verbose", "0",
             "--hidden", "8"], capsys)
    assert len(server.requests) == before


def test_dataset_option_errors(tmp_path, monkeypatch):
    from nn.__main__ import main

    with pytest.raises(SystemExit, match="--dataset mnist is not available for --model mlp; "
                                         "it is for --model cnn"):
        main(["--model", "mlp", "--dataset", "mnist"])
    monkeypatch.setenv("NN_DATA", str(tmp_path))
    monkeypatch.setitem(vision.REGISTRY, "mnist", dataset(
        "mnist", fake_mnist(0)[0], [refused_url()]))
    with pytest.raises(SystemExit) as info:
        main(["--model", "cnn", "--dataset", "mnist", "--verbose", "0"])
    message = str(info.value)
    assert message.startswith("python -m nn: load_mnist: could not download the MNIST file")
    assert f"in {tmp_path / 'mnist'}" in message


@pytest.mark.parametrize("load", [load_mnist, load_fashion_mnist, load_cifar10])
def test_signature_is_the_contracts(load):
    """SPEC: ``load(root=None, split="train", *, download=True, mirrors=None, verify=True)``;
    ``progress=True`` is this implementation's extra keyword."""
    import inspect

    params = inspect.signature(load).parameters
    got = [(p.name, p.kind, p.default) for p in params.values()]
    pos, kw = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
    assert got == [("root", pos, None), ("split", pos, "train"), ("download", kw, True),
                   ("mirrors", kw, None), ("verify", kw, True), ("progress", kw, True)]
