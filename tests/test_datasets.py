"""Tests for nn.datasets: bundled digits, toy generators, the IDX reader (the downloading
loaders are tested in tests/test_datasets_download.py)."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nn
from nn.datasets import load_digits, make_moons, make_spirals, read_idx

# ---------------------------------------------------------------------- digits
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_load_digits_shapes_dtypes_and_counts():
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), DIGIT_COUNTS)
    assert x.min() == 0 and x.max() == 16
    np.testing.assert_array_equal(x, np.round(x))
    np.testing.assert_array_equal(y[:10], np.arange(10))      # file order of the UCI set
    imgs, y2 = load_digits(as_images=True, dtype=np.float64)
    assert imgs.shape == (1797, 1, 8, 8) and imgs.dtype == np.float64
    np.testing.assert_array_equal(imgs.reshape(1797, 64), x)
    np.testing.assert_array_equal(y, y2)


def test_load_digits_returns_fresh_arrays():
    x, y = load_digits()
    x[:] = -1
    y[:] = -1
    x2, y2 = load_digits()
    assert x2.min() == 0 and y2.min() == 0
    with pytest.raises(TypeError, match="load_digits"):
        load_digits(dtype=np.int32)


def test_digits_are_learnable_by_nearest_class_mean():
    # a sanity check that images and labels belong together: nearest class mean on a
    # held-out half scores far above chance (10%)
    x, y = load_digits(dtype=np.float64)
    x_tr, x_te, y_tr, y_te = nn.data.train_test_split(x, y, test_size=0.5, stratify=True,
                                                      rng=0)
    means = np.stack([x_tr[y_tr == k].mean(axis=0) for k in range(10)])
    dist = ((x_te[:, None, :] - means[None]) ** 2).sum(axis=-1)
    assert np.mean(dist.argmin(axis=1) == y_te) > 0.85


# ---------------------------------------------------------------------- generators
@pytest.mark.parametrize("make", [make_moons, make_spirals])
@given(n=st.integers(2, 300), seed=st.integers(0, 2**16))
def test_generators_shapes_balance_and_seed(make, n, seed):
    x, y = make(n_samples=n, rng=seed)
    assert x.shape == (n, 2) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y, minlength=2), [n // 2, n - n // 2])
    x2, y2 = make(n_samples=n, rng=seed)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize("make", [make_moons, make_spirals])
def test_generators_use_the_global_generator(make):
    nn.manual_seed(11)
    a = make(50)
    nn.manual_seed(11)
    b = make(50)
    c = make(50)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(b[0], c[0])
    x64, _ = make(10, dtype=np.float64)
    assert x64.dtype == np.float64


def test_moons_geometry_without_noise():
    x, y = make_moons(101, noise=0.0, rng=0, dtype=np.float64)
    upper, lower = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert upper[:, 1].min() >= -1e-12 and lower[:, 1].max() <= 0.5 + 1e-12


def test_spirals_geometry_without_noise():
    turns = 1.5
    x, y = make_spirals(200, noise=0.0, turns=turns, rng=0, dtype=np.float64)
    r = np.hypot(x[:, 0], x[:, 1])
    assert r.min() > 0 and r.max() == pytest.approx(1.0)
    theta = 2 * np.pi * turns * r + np.pi * y
    np.testing.assert_allclose(x, np.stack([r * np.cos(theta), r * np.sin(theta)], 1),
                               atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_samples": 1}, "n_samples"),
    ({"n_samples": 10.0}, "n_samples"),
    ({"noise": -0.1}, "noise"),
    ({"noise": float("nan")}, "noise"),
])
@pytest.mark.parametrize("make", [make_moons, make_spirals])
def test_generator_errors(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_spirals_turns_must_be_positive():
    with pytest.raises(ValueError, match="turns"):
        make_spirals(turns=0)
    with pytest.raises(TypeError, match="dtype"):
        make_moons(dtype=np.int64)


# ---------------------------------------------------------------------- IDX files
CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
         np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode an array in the IDX format (written here by hand, independently)."""
    header = bytes([0, 0, CODES[arr.dtype], arr.ndim])
    header += b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path, arr, compress=False):
    data = idx_bytes(arr)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
@given(arr=st.sampled_from(list(CODES)).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0,
                                                max_side=4))))
def test_read_idx_round_trip(tmp_path_factory, compress, arr):
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    write_idx(path, arr, compress)
    out = read_idx(path)
    assert out.shape == arr.shape and out.dtype == arr.dtype
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_read_idx_big_endian_layout(tmp_path):
    raw = bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    (tmp_path / "x").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), [[0x0102, -2]])
    (tmp_path / "x.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(str(tmp_path / "x.gz")), [[0x0102, -2]])


def test_read_idx_rejects_bad_files(tmp_path):
    good = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    cases = {
        "magic": (b"\x00\x01" + good[2:], "bad magic"),
        "code": (b"\x00\x00\x07\x02" + good[4:], "bad magic"),
        "short": (good[:3], "too short"),
        "header": (good[:9], "truncated"),
        "data": (good[:-1], "truncated"),
        "extra": (good + b"\x00", "longer"),
    }
    for name, (raw, match) in cases.items():
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(ValueError, match=f"read_idx.*{name}.*{match}"):
            read_idx(path)
    gz = tmp_path / "trunc.gz"
    gz.write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(gz)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing")
