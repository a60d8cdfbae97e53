"""Tests for nn.data: mini-batches, splits, scalers, one-hot."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nn
from nn.data import (
    MinMaxScaler,
    StandardScaler,
    iterate_minibatches,
    one_hot,
    train_test_split,
    train_val_test_split,
)


# ---------------------------------------------------------------------- iterate_minibatches
@given(n=st.integers(0, 60), batch_size=st.integers(1, 70), shuffle=st.booleans(),
       drop_last=st.booleans(), seed=st.integers(0, 2**16))
def test_minibatches_partition_the_samples(n, batch_size, shuffle, drop_last, seed):
    x = np.arange(n * 3).reshape(n, 3)
    y = np.arange(n) * 10
    batches = list(iterate_minibatches(x, y, batch_size, shuffle=shuffle, rng=seed,
                                       drop_last=drop_last))
    sizes = [len(xb) for xb, _ in batches]
    full, rest = divmod(n, batch_size)
    expected = [batch_size] * full + ([rest] if rest and not drop_last else [])
    assert sizes == expected
    seen = np.concatenate([xb[:, 0] // 3 for xb, _ in batches]) if batches else np.array([])
    for xb, yb in batches:
        assert isinstance(xb, np.ndarray) and isinstance(yb, np.ndarray)
        np.testing.assert_array_equal(yb, xb[:, 0] // 3 * 10)    # x and y stay aligned
        assert np.all(np.diff(xb[:, 0]) > 0)                      # sorted within a batch
    # each sample at most once; all of them unless the last batch was dropped
    assert len(np.unique(seen)) == len(seen) == sum(sizes)
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(sum(sizes)))


def test_minibatches_without_y_yield_arrays():
    x = np.arange(10.0)
    batches = list(iterate_minibatches(x, batch_size=4, shuffle=False))
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_minibatches_shuffle_is_seeded_and_changes_per_epoch():
    x = np.arange(100)
    first = np.concatenate(list(iterate_minibatches(x, batch_size=100, rng=3)))
    again = np.concatenate(list(iterate_minibatches(x, batch_size=100, rng=3)))
    np.testing.assert_array_equal(first, again)
    gen = np.random.default_rng(3)
    e1 = [b.tolist() for b in iterate_minibatches(x, batch_size=10, rng=gen)]
    e2 = [b.tolist() for b in iterate_minibatches(x, batch_size=10, rng=gen)]
    assert e1 != e2
    nn.manual_seed(5)
    g1 = [b.tolist() for b in iterate_minibatches(x, batch_size=10)]
    nn.manual_seed(5)
    g2 = [b.tolist() for b in iterate_minibatches(x, batch_size=10)]
    assert g1 == g2                                       # rng=None -> global generator


def test_minibatches_on_memmap(tmp_path):
    data = np.arange(50 * 4, dtype=np.float32).reshape(50, 4)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                   shape=data.shape)
    mm[:] = data
    mm.flush()
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    labels = np.arange(50)
    got = list(iterate_minibatches(mm, labels, batch_size=8, rng=0))
    for xb, yb in got:
        assert type(xb) is np.ndarray
        np.testing.assert_array_equal(xb, data[yb])
    assert sorted(np.concatenate([yb for _, yb in got]).tolist()) == list(range(50))


class _Recording:
    """Array-like that accepts only slices or sorted index arrays, and records reads."""

    def __init__(self, n):
        self.data = np.arange(n)
        self.shape = (n,)
        self.reads = []

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        if isinstance(index, slice):
            self.reads.append(index.stop - index.start)
        else:
            index = np.asarray(index)
            assert np.all(np.diff(index) > 0), "unsorted index array"
            self.reads.append(len(index))
        return self.data[index]


@pytest.mark.parametrize("shuffle", [True, False])
def test_minibatches_read_only_one_batch_at_a_time(shuffle):
    x = _Recording(103)
    out = np.concatenate(list(iterate_minibatches(x, batch_size=10, shuffle=shuffle)))
    assert sorted(out.tolist()) == list(range(103))
    assert max(x.reads) == 10 and sum(x.reads) == 103


def test_minibatches_accepts_lists():
    batches = list(iterate_minibatches([[1, 2], [3, 4], [5, 6]], [0, 1, 0], batch_size=2,
                                       shuffle=False))
    np.testing.assert_array_equal(batches[0][0], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(batches[1][1], [0])


def test_minibatches_errors_are_raised_at_call_time():
    with pytest.raises(ValueError, match=r"iterate_minibatches.*\(5, 2\).*\(4,\)"):
        iterate_minibatches(np.zeros((5, 2)), np.zeros(4))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            iterate_minibatches(np.zeros((5, 2)), batch_size=bad)
    with pytest.raises(TypeError, match="iterate_minibatches"):
        iterate_minibatches(42)


# ---------------------------------------------------------------------- splits
def _check_partition(parts_x, parts_y, n):
    ids = np.concatenate([p[:, 0] for p in parts_x])
    assert sorted(ids.tolist()) == list(range(n))
    for px, py in zip(parts_x, parts_y, strict=True):
        np.testing.assert_array_equal(py, px[:, 0] % 7)


@given(n=st.integers(2, 80), frac=st.floats(0.01, 0.99), seed=st.integers(0, 1000))
def test_train_test_split_is_a_partition(n, frac, seed):
    x = np.stack([np.arange(n), -np.arange(n)], axis=1)
    y = np.arange(n) % 7
    n_test = int(np.floor(frac * n + 0.5))
    if n_test < 1 or n_test >= n:
        with pytest.raises(ValueError, match="train_test_split"):
            train_test_split(x, y, test_size=frac, rng=seed)
        return
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=frac, rng=seed)
    assert len(x_te) == len(y_te) == n_test and len(x_tr) == n - n_test
    _check_partition([x_tr, x_te], [y_tr, y_te], n)


@given(n=st.integers(3, 80), n_val=st.integers(1, 40), n_test=st.integers(1, 40),
       seed=st.integers(0, 1000))
def test_train_val_test_split_absolute_sizes(n, n_val, n_test, seed):
    x = np.stack([np.arange(n), np.zeros(n, dtype=int)], axis=1)
    y = np.arange(n) % 7
    if n_val + n_test >= n:
        with pytest.raises(ValueError, match="no training samples"):
            train_val_test_split(x, y, val_size=n_val, test_size=n_test, rng=seed)
        return
    x_tr, x_va, x_te, y_tr, y_va, y_te = train_val_test_split(
        x, y, val_size=n_val, test_size=n_test, rng=seed)
    assert (len(x_tr), len(x_va), len(x_te)) == (n - n_val - n_test, n_val, n_test)
    _check_partition([x_tr, x_va, x_te], [y_tr, y_va, y_te], n)


@given(sizes=st.lists(st.integers(10, 60), min_size=2, max_size=5),
       val=st.floats(0.05, 0.3), test=st.floats(0.05, 0.3), seed=st.integers(0, 1000))
def test_stratified_split_keeps_class_proportions(sizes, val, test, seed):
    y = np.repeat(np.arange(len(sizes)), sizes)
    n = len(y)
    x = np.stack([np.arange(n), y], axis=1)
    parts = train_val_test_split(x, y, val_size=val, test_size=test, stratify=True, rng=seed)
    x_tr, x_va, x_te, y_tr, y_va, y_te = parts
    ids = np.concatenate([x_tr[:, 0], x_va[:, 0], x_te[:, 0]])
    assert sorted(ids.tolist()) == list(range(n))
    for px, py in ((x_tr, y_tr), (x_va, y_va), (x_te, y_te)):
        np.testing.assert_array_equal(px[:, 1], py)
    assert len(x_va) == int(np.floor(val * n + 0.5))
    assert len(x_te) == int(np.floor(test * n + 0.5))
    counts = np.asarray(sizes)
    for part in (y_va, y_te):
        quota = len(part) * counts / n
        assert np.all(np.abs(np.bincount(part, minlength=len(sizes)) - quota) < 1)
    quota_tr = len(y_tr) * counts / n
    assert np.all(np.abs(np.bincount(y_tr, minlength=len(sizes)) - quota_tr) < 2)


def test_stratified_split_exact_on_digit_like_labels():
    y = np.repeat(np.arange(4), [50, 30, 10, 10])
    x = np.arange(100.0)[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=True, rng=0)
    np.testing.assert_array_equal(np.bincount(y_te), [10, 6, 2, 2])
    np.testing.assert_array_equal(np.bincount(y_tr), [40, 24, 8, 8])
    assert not np.all(np.diff(y_te) >= 0)               # parts are shuffled, not class-sorted


def test_stratify_accepts_one_hot_and_explicit_labels():
    y = np.repeat(np.arange(2), [30, 70])
    x = np.arange(100)[:, None]
    _, _, _, y_te = train_test_split(x, one_hot(y), test_size=10, stratify=True, rng=1)
    np.testing.assert_array_equal(y_te.sum(axis=0), [3, 7])
    _, x_te = train_test_split(x, None, test_size=10, stratify=y, rng=1)
    np.testing.assert_array_equal(np.bincount(y[x_te[:, 0]]), [3, 7])


def test_split_is_reproducible_and_accepts_memmap(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 3))
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = np.arange(40)
    a = train_test_split(x, y, test_size=0.25, rng=7)
    b = train_test_split(mm, y, test_size=0.25, rng=7)
    for u, v in zip(a, b, strict=True):
        assert type(v) is np.ndarray
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(a[0], x[a[2]])


@pytest.mark.parametrize("bad", [0, -1, 0.0, 1.0, 1.5, -0.2, True, "0.2", None, 100])
def test_split_rejects_bad_sizes(bad):
    x, y = np.zeros((100, 2)), np.zeros(100)
    with pytest.raises(ValueError, match="train_test_split"):
        train_test_split(x, y, test_size=bad)


def test_split_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"train_test_split.*\(10, 2\).*\(9,\)"):
        train_test_split(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="train_val_test_split.*no training"):
        train_val_test_split(np.zeros((10, 2)), np.zeros(10), val_size=0.5, test_size=0.5)
    with pytest.raises(ValueError, match="empty split"):
        train_test_split(np.zeros((3, 2)), np.zeros(3), test_size=0.1)
    with pytest.raises(ValueError, match="stratify"):
        train_test_split(np.zeros((10, 2)), np.zeros((10, 2, 2)), stratify=True)


# ---------------------------------------------------------------------- scalers
finite_rows = hnp.arrays(np.float64, st.tuples(st.integers(2, 20), st.integers(1, 5)),
                         elements=st.floats(-1e3, 1e3).map(lambda v: round(v, 6)))


@given(x=finite_rows)
def test_standard_scaler_round_trip(x):
    scaler = StandardScaler()
    z = scaler.fit_transform(x)
    back = scaler.inverse_transform(z)
    np.testing.assert_allclose(back, x, rtol=1e-9, atol=1e-9 * (1 + np.abs(x).max()))
    varying = x.max(axis=0) > x.min(axis=0)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-8)
    np.testing.assert_allclose(z[:, varying].std(axis=0), 1, rtol=1e-6)
    np.testing.assert_array_equal(z[:, ~varying], 0)


def test_standard_scaler_uses_train_statistics_and_keeps_dtype():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 2.0, size=(200, 3)).astype(np.float32)
    test = rng.normal(5.0, 2.0, size=(50, 3)).astype(np.float32)
    scaler = StandardScaler().fit(train)
    np.testing.assert_allclose(scaler.mean_, train.astype(np.float64).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.std_, train.astype(np.float64).std(axis=0), rtol=1e-6)
    z = scaler.transform(test)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, (test - scaler.mean_) / scaler.std_, rtol=1e-5, atol=1e-5)
    assert StandardScaler().fit_transform(np.arange(6).reshape(3, 2)).dtype == np.float32
    assert scaler.inverse_transform(z).dtype == np.float32


def test_standard_scaler_constant_feature_and_images():
    x = np.array([[1.0, 0.1], [2.0, 0.1], [3.0, 0.1]])
    scaler = StandardScaler().fit(x)
    assert scaler.std_[1] == 1.0
    np.testing.assert_array_equal(scaler.transform(x)[:, 1], 0.0)
    imgs = np.random.default_rng(1).uniform(0, 16, size=(10, 1, 4, 4)).astype(np.float32)
    z = StandardScaler().fit_transform(imgs)
    assert z.shape == imgs.shape and z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)


def test_standard_scaler_errors_and_state_dict():
    with pytest.raises(ValueError, match="not fitted"):
        StandardScaler().transform(np.zeros((2, 2)))
    scaler = StandardScaler().fit(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match=r"StandardScaler.transform.*\(3,\).*\(4, 2\)"):
        scaler.transform(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="StandardScaler.fit"):
        StandardScaler().fit(np.zeros((0, 3)))
    state = scaler.state_dict()
    other = StandardScaler().load_state_dict(state)
    x = np.ones((2, 3))
    np.testing.assert_array_equal(other.transform(x), scaler.transform(x))
    state["mean"][:] = 99                                    # a copy: scaler unchanged
    assert not np.any(scaler.mean_ == 99)
    with pytest.raises(ValueError, match="missing"):
        StandardScaler().load_state_dict({"mean": np.zeros(3)})


@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (2.0, 5.0)])
@given(x=finite_rows)
def test_min_max_scaler_range_and_round_trip(feature_range, x):
    lo, hi = feature_range
    scaler = MinMaxScaler(feature_range)
    z = scaler.fit_transform(x)
    varying = x.max(axis=0) > x.min(axis=0)
    np.testing.assert_allclose(z[:, varying].min(axis=0), lo, atol=1e-12)
    np.testing.assert_allclose(z[:, varying].max(axis=0), hi, atol=1e-9)
    np.testing.assert_array_equal(z[:, ~varying], lo)         # constants -> lower bound
    np.testing.assert_allclose(scaler.inverse_transform(z), x,
                               atol=1e-9 * (1 + np.abs(x).max()))


def test_min_max_scaler_float32_state_and_errors():
    x = np.array([[0, 10], [5, 20], [10, 30]], dtype=np.float32)
    scaler = MinMaxScaler((-1, 1)).fit(x)
    z = scaler.transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, [[-1, -1], [0, 0], [1, 1]])
    np.testing.assert_allclose(scaler.transform(np.array([[20, 0]], np.float32)), [[3, -2]])
    other = MinMaxScaler().load_state_dict(scaler.state_dict())
    assert other.feature_range == (-1.0, 1.0)
    np.testing.assert_array_equal(other.transform(x), z)
    assert MinMaxScaler().fit_transform(np.array([[0], [255]], dtype=np.uint8)).dtype == \
        np.float32
    for bad in [(1, 0), (0, 0), (0,), "ab", (0, np.inf)]:
        with pytest.raises(ValueError, match="feature_range"):
            MinMaxScaler(bad)
    with pytest.raises(ValueError, match="not fitted"):
        MinMaxScaler().inverse_transform(x)
    with pytest.raises(ValueError, match=r"MinMaxScaler.transform.*\(2,\)"):
        scaler.transform(np.zeros((2, 3)))


# ---------------------------------------------------------------------- one_hot
def test_one_hot_basic():
    out = one_hot([2, 0, 1])
    assert out.dtype == np.float32 and out.shape == (3, 3)
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    out = one_hot(np.array([[1, 3], [0, 0]]), num_classes=5, dtype=np.int64)
    assert out.shape == (2, 2, 5) and out.dtype == np.int64
    np.testing.assert_array_equal(out.argmax(-1), [[1, 3], [0, 0]])
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0])), [[0, 1], [1, 0]])
    assert one_hot(np.array([], dtype=int), num_classes=4).shape == (0, 4)


@given(labels=hnp.arrays(np.int64, hnp.array_shapes(max_dims=3, max_side=5),
                         elements=st.integers(0, 9)))
def test_one_hot_inverts_argmax(labels):
    out = one_hot(labels, num_classes=10)
    assert out.shape == labels.shape + (10,)
    np.testing.assert_array_equal(out.sum(axis=-1), 1)
    np.testing.assert_array_equal(out.argmax(axis=-1), labels)


@pytest.mark.parametrize("labels, kwargs, match", [
    ([0, -1], {}, "non-negative"),
    ([0, 3], {"num_classes": 3}, "< num_classes=3"),
    ([0.5, 1.0], {}, "integer"),
    (["a", "b"], {}, "integer"),
    ([], {}, "num_classes"),
    ([0, 1], {"num_classes": 0}, "num_classes"),
])
def test_one_hot_errors(labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        one_hot(labels, **kwargs)
