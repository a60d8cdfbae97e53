"""Data augmentation (nn/augment.py, exported by nn.data) and ``nn.fit(transform=...)``.

Each transform against values computed by hand (explicit loops over samples and pixels) or,
for the rotation, against ``scipy.ndimage.rotate``; shapes and dtypes kept over
hypothesis-generated batches; determinism by seed; composition; inputs never written (a
read-only memmap works); inside ``fit``: labels untouched, one batch at a time, and a run
interrupted and resumed from its checkpoint is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

import nn
import optim
from nn.data import (
    Compose,
    GaussianNoise,
    RandomCrop,
    RandomCrop1d,
    RandomHorizontalFlip,
    RandomRotation,
    RandomShift,
    RandomShift1d,
)

pytestmark = pytest.mark.usefixtures("allow_underflow")


def _images(n=5, c=2, h=6, w=7, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)


def _at(x, n, idx, fill):
    """x[n][idx] when every index is inside x[n], else ``fill`` (a hand-written lookup)."""
    inside = all(0 <= i < s for i, s in zip(idx, x.shape[1:]))
    return x[n][idx] if inside else fill


# ---------------------------------------------------------------------- hand-computed values
def test_random_shift_moves_each_image_by_its_own_draw():
    x = _images(n=4, h=5, w=6)
    out = RandomShift(2, fill=-7.0)(x, rng=3)
    g = np.random.default_rng(3)                   # the draws, in the transform's order
    dy, dx = g.integers(0, 5, size=4) - 2, g.integers(0, 5, size=4) - 2
    assert (dy != 0).any() and (dx != 0).any()
    for n in range(4):
        for c in range(2):
            for i in range(5):
                for j in range(6):
                    want = _at(x, n, (c, i + dy[n], j + dx[n]), -7.0)
                    assert out[n, c, i, j] == want


def test_random_crop_cuts_a_window_of_the_padded_image():
    x = _images(n=3, c=1, h=4, w=5, dtype=np.float64)
    out = RandomCrop((3, 4), padding=1)(x, rng=8)
    assert out.shape == (3, 1, 3, 4)
    g = np.random.default_rng(8)
    top, left = g.integers(0, 4 + 2 - 3 + 1, size=3), g.integers(0, 5 + 2 - 4 + 1, size=3)
    for n in range(3):
        for i in range(3):
            for j in range(4):
                want = _at(x, n, (0, top[n] + i - 1, left[n] + j - 1), 0.0)
                assert out[n, 0, i, j] == want
    # an int size is a square; (N, H, W) images work too
    assert RandomCrop(2)(x[:, 0], rng=0).shape == (3, 2, 2)


def test_horizontal_flip_mirrors_the_drawn_images_only():
    x = _images(n=40, c=1, h=3, w=4)
    out = RandomHorizontalFlip(0.5)(x, rng=1)
    flipped = np.random.default_rng(1).random(40) < 0.5
    for n in range(40):
        assert np.array_equal(out[n], x[n, :, :, ::-1] if flipped[n] else x[n])
    assert 5 < flipped.sum() < 35
    assert np.array_equal(RandomHorizontalFlip(1.0)(x, rng=0), x[..., ::-1])
    assert np.array_equal(RandomHorizontalFlip(0.0)(x, rng=0), x)


def test_rotation_matches_scipy_rotate_and_zero_degrees_is_identity():
    x = _images(n=3, c=2, h=9, w=9, dtype=np.float64)
    out = RandomRotation(30)(x, rng=4)
    angle = np.random.default_rng(4).uniform(-30, 30, size=3)
    for n in range(3):
        for c in range(2):
            # scipy turns the (row, column) plane the same way for a positive angle
            want = ndimage.rotate(x[n, c], angle[n], reshape=False, order=1, mode="constant",
                                  cval=0.0)
            np.testing.assert_allclose(out[n, c], want, atol=1e-12)
    np.testing.assert_allclose(RandomRotation(0)(x, rng=0), x, atol=1e-12)


def test_gaussian_noise_adds_noise_of_the_asked_deviation():
    x = np.full((200, 50), 3.0, dtype=np.float32)
    out = GaussianNoise(0.5)(x, rng=2)
    want = x + np.float32(0.5) * np.random.default_rng(2).standard_normal(x.shape,
                                                                          dtype=np.float32)
    assert np.array_equal(out, want)
    assert abs((out - 3).std() - 0.5) < 0.01 and abs((out - 3).mean()) < 0.01


def test_sequence_shift_and_crop_along_the_time_axis():
    x = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)
    out = RandomShift1d(3)(x, rng=5)
    d = np.random.default_rng(5).integers(0, 7, size=4) - 3
    for n in range(4):
        for t in range(10):
            assert out[n, t] == _at(x, n, (t + d[n],), 0.0)
    crop = RandomCrop1d(6, padding=2)(x, rng=6)
    start = np.random.default_rng(6).integers(0, 10 + 4 - 6 + 1, size=4)
    for n in range(4):
        for t in range(6):
            assert crop[n, t] == _at(x, n, (start[n] + t - 2,), 0.0)
    # (N, T, features), time on axis 1: every feature moves together
    seq = np.random.default_rng(1).standard_normal((4, 10, 3))
    moved = RandomShift1d(3, axis=1)(seq, rng=5)
    for n in range(4):
        for t in range(10):
            assert np.array_equal(moved[n, t], seq[n, t + d[n]] if 0 <= t + d[n] < 10
                                  else np.zeros(3))


# ---------------------------------------------------------------------- properties
TRANSFORMS = {
    "shift": lambda: RandomShift(2),
    "crop": lambda: RandomCrop(3, padding=1),
    "flip": lambda: RandomHorizontalFlip(),
    "rotate": lambda: RandomRotation(15),
    "noise": lambda: GaussianNoise(0.1),
    "shift1d": lambda: RandomShift1d(2),
    "crop1d": lambda: RandomCrop1d(3, padding=1),
    "compose": lambda: Compose([RandomShift(1), RandomHorizontalFlip(), GaussianNoise(0.1)]),
}


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(TRANSFORMS)), n=st.integers(1, 4), c=st.integers(1, 3),
       h=st.integers(3, 7), w=st.integers(3, 7), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_shape_dtype_kept_deterministic_and_input_untouched(name, n, c, h, w, dtype, seed):
    t = TRANSFORMS[name]()
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)
    x.setflags(write=False)                          # a write would raise
    out = t(x, rng=seed)
    want = {"crop": (n, c, 3, 3), "crop1d": (n, c, h, 3)}.get(name, x.shape)
    assert out.shape == want and out.dtype == x.dtype
    assert np.array_equal(out, t(x, rng=seed))       # same seed, same result
    assert np.array_equal(out, t(x, rng=np.random.default_rng(seed)))
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("t", [RandomShift(1), RandomCrop(3, padding=1),
                               RandomHorizontalFlip(), RandomShift1d(1)])
def test_integer_images_keep_their_dtype(t):
    x = np.random.default_rng(0).integers(0, 256, (6, 1, 5, 5)).astype(np.uint8)
    out = t(x, rng=0)
    assert out.dtype == np.uint8 and set(np.unique(out)) <= set(np.unique(x)) | {0}


def test_different_seeds_give_different_batches():
    x = _images(n=8)
    for t in (RandomShift(2), RandomRotation(20), GaussianNoise(0.1), RandomShift1d(2)):
        assert not np.array_equal(t(x, rng=0), t(x, rng=1)), t


def test_compose_chains_its_members_on_one_generator():
    x = _images()
    a, b = RandomShift(1), GaussianNoise(0.2)
    both = Compose([a, b], seed=9)
    g = np.random.default_rng(0)
    want = b(a(x, g), g)
    assert np.array_equal(both(x, rng=0), want)
    g = both.batch_rng(2, 3)
    assert np.array_equal(both(x, both.batch_rng(2, 3)), b(a(x, g), g))


def test_batch_rng_depends_on_seed_epoch_and_batch_only():
    t = RandomShift(1, seed=123)
    draw = [t.batch_rng(e, b).integers(2**62) for e, b in ((0, 0), (0, 1), (1, 0))]
    assert len(set(draw)) == 3
    assert RandomShift(1, seed=123).batch_rng(0, 1).integers(2**62) == draw[1]
    assert RandomShift(1, seed=124).batch_rng(0, 1).integers(2**62) != draw[1]
    nn.manual_seed(5)
    s1 = RandomShift(1).seed
    nn.manual_seed(5)
    assert RandomShift(1).seed == s1                 # seed=None: from nn's global generator


def test_works_on_a_read_only_memmap_batch(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, _images(n=20))
    mm = np.load(path, mmap_mode="r")
    out = RandomShift(1)(mm[3:9], rng=0)
    assert out.shape == (6, 2, 6, 7) and isinstance(out, np.ndarray)
    assert np.array_equal(mm, _images(n=20))


@pytest.mark.parametrize("make, x, match", [
    (lambda: RandomShift(1), np.zeros((4, 5)), r"RandomShift: .*at least 3 axes.*\(4, 5\)"),
    (lambda: GaussianNoise(0.1), np.zeros((4, 5), np.uint8), "GaussianNoise: needs a floating"),
    (lambda: RandomRotation(5), np.zeros((2, 4, 4), np.int64), "RandomRotation: needs a float"),
    (lambda: RandomCrop(9), np.zeros((2, 1, 4, 4)), r"RandomCrop: size \(9, 9\) is larger"),
    (lambda: RandomCrop1d(9), np.zeros((2, 4)), "RandomCrop1d: size 9 is longer"),
    (lambda: RandomShift1d(1, axis=3), np.zeros((2, 4)), "RandomShift1d: axis 3 is not"),
    (lambda: RandomShift(1), np.zeros((0, 1, 3, 3)), "RandomShift: expected a non-empty"),
    (lambda: RandomShift(1), [[[1.0]]], "RandomShift: expected a numpy array"),
])
def test_bad_batches_are_named(make, x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()(x, rng=0)


@pytest.mark.parametrize("make, match", [
    (lambda: RandomShift(-1), "RandomShift: max_shift must be an integer >= 0"),
    (lambda: RandomHorizontalFlip(1.5), r"RandomHorizontalFlip: p must be a number in"),
    (lambda: GaussianNoise(-0.1), "GaussianNoise: std must be"),
    (lambda: RandomCrop((2, 2, 2)), "RandomCrop: size must be an int or a pair"),
    (lambda: RandomShift1d(1, axis=0), "RandomShift1d: axis must be the time axis"),
    (lambda: Compose([]), "Compose: expected a non-empty list"),
    (lambda: Compose([lambda x: x]), "Compose: expected a non-empty list"),
    (lambda: RandomShift(1, seed=-3), "RandomShift: seed must be an integer >= 0"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


# ---------------------------------------------------------------------- inside fit
class _Recorder(nn.Layer):
    """Linear layer that keeps every batch it is given in train mode."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(8, 3, rng=0)
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x.copy())
        return self.inner.forward(x.reshape(len(x), -1))

    def backward(self, grad_y):
        return self.inner.backward(grad_y)


class _RecordingLoss(nn.CrossEntropyLoss):
    def __init__(self):
        super().__init__()
        self.targets = []

    def forward(self, logits, target):
        self.targets.append(np.array(target, copy=True))
        return super().forward(logits, target)


def test_fit_feeds_transformed_batches_and_untouched_labels(tmp_path):
    data = np.random.default_rng(0).standard_normal((20, 2, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", data)
    x = np.load(tmp_path / "x.npy", mmap_mode="r")     # read-only memmap, read per batch
    y = np.arange(20) % 3
    t = Compose([RandomShift1d(1), GaussianNoise(0.1)], seed=4)
    model, loss = _Recorder(), _RecordingLoss()
    nn.fit(model, loss, optim.SGD(model.parameters(), lr=0.1), x, y, epochs=2, batch_size=8,
           shuffle=False, verbose=0, transform=t)
    assert len(model.seen) == 6 and max(len(b) for b in model.seen) == 8
    for k, seen in enumerate(model.seen):
        epoch, batch = divmod(k, 3)
        rows = slice(8 * batch, 8 * batch + 8)
        assert np.array_equal(seen, t(data[rows], t.batch_rng(epoch, batch)))
        assert np.array_equal(loss.targets[k], y[rows])
    assert not np.array_equal(model.seen[0], data[:8])
    assert not np.array_equal(model.seen[0], model.seen[3])   # epoch 2 draws anew
    assert np.array_equal(x, data)


def test_fit_refuses_a_plain_function_as_transform():
    model = nn.Linear(4, 2)
    with pytest.raises(TypeError, match="fit: transform must be an nn.data transform"):
        nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
               np.zeros((4, 4), np.float32), np.zeros(4, np.int64), verbose=0,
               transform=lambda x, rng: x)


class _Interrupt(nn.Callback):
    def __init__(self, after):
        self.after, self.count = after, 0

    def on_batch_end(self, batch, logs):
        self.count += 1
        if self.count == self.after:
            raise KeyboardInterrupt


def _augmented_run(path=None, stop_after=None, transform=True):
    """One fit on fresh objects (as a new process would build them)."""
    nn.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Dropout(0.2), nn.Linear(3 * 6 * 6, 4))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    g = np.random.default_rng(0)
    x, y = g.standard_normal((50, 1, 6, 6)).astype(np.float32), g.integers(0, 4, 50)
    t = Compose([RandomShift(1), RandomRotation(10), GaussianNoise(0.1)]) if transform \
        else None
    extra = dict(checkpoint=path, resume=True, checkpoint_every=1) if path else {}
    callbacks = [_Interrupt(stop_after)] if stop_after else []
    nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=3, batch_size=16, rng=1,
           verbose=0, callbacks=callbacks, transform=t, **extra)
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("stop_after", [2, 6])
def test_resume_with_a_transform_is_bit_identical(tmp_path, stop_after):
    ref = _augmented_run()
    path = str(tmp_path / "run.npz")
    with pytest.raises(KeyboardInterrupt):
        _augmented_run(path, stop_after=stop_after)
    resumed = _augmented_run(path)
    assert ref.keys() == resumed.keys()
    for k in ref:
        assert np.array_equal(ref[k], resumed[k]), k
    plain = _augmented_run(transform=False)
    assert any(not np.array_equal(ref[k], plain[k]) for k in ref)   # it did augment


def test_cnn_job_with_augment_trains_reproducibly_and_differs():
    import argparse

    from nn.__main__ import train
    from nn.jobs import load_job

    def run(augment):
        args = argparse.Namespace(model="cnn", seed=0, save=None, plot=None, verbose=0,
                                  augment=augment, **{**load_job("cnn").DEFAULTS, "epochs": 2})
        return train(args)

    plain, aug = run(False), run(True)
    assert aug == run(True) and aug != plain and aug["accuracy"] > 0.5
