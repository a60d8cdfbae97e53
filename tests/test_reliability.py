"""The non-finite guard of ``nn.fit`` and training on data larger than memory allows."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

import nn
import optim
from nn._guard import NonFiniteGuard

pytestmark = pytest.mark.usefixtures("allow_underflow")


def data(n=64, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


class Snapshots(nn.Callback):
    """The model's state after every successful batch."""

    def __init__(self):
        self.states = []

    def on_batch_end(self, batch, logs):
        self.states.append(self.model.state_dict())


def assert_state(model, state):
    for k, v in model.state_dict().items():
        assert np.array_equal(v, state[k]), k


class Log(nn.Layer):
    """y = log(x): NaN for negative x (a layer that can go non-finite in forward)."""

    def forward(self, x):
        self._cache = x
        return np.log(x)

    def backward(self, grad_y):
        return grad_y / self._saved()


class BadBackward(nn.Layer):
    """Identity forward; backward returns NaN from call ``at`` on."""

    def __init__(self, at):
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, x):
        self._cache = x
        return x

    def backward(self, grad_y):
        self.calls += 1
        return grad_y * np.float32(np.nan) if self.calls >= self.at else grad_y


class BadParamGrad(nn.Layer):
    """y = x * w; from call ``at`` on its parameter gradient gets an inf."""

    def __init__(self, n, at):
        super().__init__()
        self.w = nn.Parameter(np.ones(n, np.float32))
        self.at, self.calls = at, 0

    def forward(self, x):
        self._cache = x
        return x * self.w.data

    def backward(self, grad_y):
        self.calls += 1
        x = self._saved()
        self.w.grad += (grad_y * x).sum(axis=0)
        if self.calls >= self.at:
            self.w.grad[0] = np.inf
        return grad_y * self.w.data


def fit(model, x, y, **kw):
    opt = kw.pop("optimizer", None) or optim.SGD(model.parameters(), lr=0.1)
    loss_fn = kw.pop("loss_fn", None) or nn.CrossEntropyLoss()
    args = dict(epochs=2, batch_size=16, verbose=0, shuffle=False, metrics=())
    args.update(kw)
    return nn.fit(model, loss_fn, opt, x, y, **args)


# ---------------------------------------------------------------------- the guard
def test_nan_in_the_data_names_epoch_batch_rows_and_keeps_last_weights():
    x, y = data()
    x[37, 2] = np.nan  # row 37: batch 2 of epoch 0 (batch size 16, no shuffling)
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=0))
    snaps = Snapshots()
    with pytest.raises(nn.NonFiniteError) as info:
        fit(model, x, y, callbacks=[snaps])
    err = info.value
    assert isinstance(err, FloatingPointError) and isinstance(err, ArithmeticError)
    assert (err.epoch, err.batch, err.where, err.layer) == (0, 2, "input", None)
    assert "epoch 0, batch 2" in str(err) and "[37]" in str(err)
    assert len(snaps.states) == 2
    assert_state(model, snaps.states[-1])  # the weights from before the failing batch
    assert all(np.isfinite(p.data).all() for p in model.parameters())


@pytest.mark.parametrize("errstate", ["raise", "ignore"])
def test_first_non_finite_layer_output_is_named(errstate):
    """Under np.errstate(invalid="raise") NumPy raises inside the layer; otherwise the
    NaN propagates to the loss. Both end as a NonFiniteError naming layer '1'."""
    x, y = data()
    x = np.abs(x) + 0.5
    model = nn.Sequential(nn.Linear(4, 4, rng=0), Log(), nn.Linear(4, 2, rng=0))
    with np.errstate(invalid=errstate, divide=errstate), pytest.raises(nn.NonFiniteError) as info:
        fit(model, x, y, optimizer=optim.SGD(model.parameters(), lr=0.5))
    err = info.value
    assert err.layer == "1" and err.where == "output"
    assert "layer '1' (Log())" in str(err)
    if errstate == "raise":
        assert isinstance(err.__cause__, FloatingPointError)
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_non_finite_input_gradient_is_named():
    x, y = data()
    model = nn.Sequential(nn.Linear(4, 4, rng=0), nn.Tanh(), BadBackward(at=3),
                          nn.Linear(4, 2, rng=0))
    snaps = Snapshots()
    with pytest.raises(nn.NonFiniteError) as info:
        fit(model, x, y, callbacks=[snaps])
    err = info.value
    assert (err.epoch, err.batch, err.layer, err.where) == (0, 2, "2", "input gradient")
    assert "non-finite gradient" in str(err) and "BadBackward" in str(err)
    assert_state(model, snaps.states[-1])


def test_non_finite_parameter_gradient_is_named():
    x, y = data()
    model = nn.Sequential(nn.Linear(4, 4, rng=0), nn.Sequential(nn.ReLU(), BadParamGrad(4, 6)),
                          nn.Linear(4, 2, rng=0))
    snaps = Snapshots()
    with pytest.raises(nn.NonFiniteError) as info:
        fit(model, x, y, callbacks=[snaps])
    err = info.value
    assert (err.epoch, err.batch) == (1, 1) and err.where == "parameter gradient"
    assert err.layer == "1.1" and "'1.1.w'" in str(err)  # nested Sequential: dotted name
    assert_state(model, snaps.states[-1])


def test_non_finite_loss_with_finite_outputs_is_named():
    x = np.ones((8, 2), np.float32)
    y = np.full((8, 2), 3e38, np.float32)  # (out - y)^2 overflows float32 in the loss
    model = nn.Sequential(nn.Linear(2, 2, rng=0))
    with np.errstate(over="ignore"), pytest.raises(nn.NonFiniteError) as info:
        fit(model, x, y, loss_fn=nn.MSELoss(), batch_size=4)
    assert info.value.where == "loss" and "MSELoss" in str(info.value)


def test_divergence_stops_with_finite_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.ones((3, 1), np.float32)
    model = nn.Sequential(nn.Linear(3, 8, rng=0), nn.ReLU(), nn.Linear(8, 1, rng=0))
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(nn.NonFiniteError) as info:
        fit(model, x, y, loss_fn=nn.MSELoss(), optimizer=optim.SGD(model.parameters(), lr=3.0),
            epochs=50, batch_size=8)
    assert "epoch" in str(info.value)
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_skip_batch_carries_on_and_restores_buffers():
    x, y = data(80)
    x[5, 0] = np.inf
    x[50, 1] = np.nan
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.Linear(8, 2, rng=0))
    seen = []

    class Spy(nn.Callback):
        def on_train_end(self, logs):
            seen.extend(self.trainer.skipped_batches)

    with pytest.warns(RuntimeWarning, match="batch skipped") as record:
        h = fit(model, x, y, on_nonfinite="skip_batch", callbacks=[Spy()], epochs=2)
    assert seen == [(0, 0), (0, 3), (1, 0), (1, 3)]
    assert len([w for w in record if "skipped" in str(w.message)]) == 4
    assert all(np.isfinite(v).all() for v in model.state_dict().values())  # running stats too
    assert all(np.isfinite(h.history["loss"]))


def test_skip_batch_when_every_batch_fails_logs_nan():
    x, y = data(32)
    x[:, 0] = np.nan
    model = nn.Sequential(nn.Linear(4, 2, rng=0))
    before = model.state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = fit(model, x, y, on_nonfinite="skip_batch", epochs=1)
    assert np.isnan(h.history["loss"][0])
    assert_state(model, before)


def test_the_diagnosis_consumes_no_random_numbers():
    """Locating the bad layer re-runs the batch with the same dropout masks and then puts
    the generators back where the batch left them: skipping a NaN batch leaves the random
    streams exactly as in a run without NaN."""
    x, y = data(64)
    bad = x.copy()
    bad[20, 0] = np.nan

    def run(inputs):
        nn.manual_seed(4)
        model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.Dropout(0.5, rng=9), nn.Dropout(0.3),
                              nn.Linear(8, 2, rng=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fit(model, inputs, y, on_nonfinite="skip_batch", shuffle=True, epochs=2)
        return model[1].rng.bit_generator.state, nn.get_rng().bit_generator.state

    assert run(bad) == run(x)


def test_guard_checks_are_cheap_on_the_normal_path(monkeypatch):
    """The layer-by-layer re-run happens only after a detection."""
    calls = []
    original = NonFiniteGuard._locate
    monkeypatch.setattr(NonFiniteGuard, "_locate",
                        lambda self, *a: calls.append(1) or original(self, *a))
    x, y = data()
    fit(nn.Sequential(nn.Linear(4, 2, rng=0)), x, y, epochs=3)
    assert calls == []


def test_skipped_batches_go_to_on_batch_skipped_and_the_warning_to_the_caller():
    x, y = data(64)
    x[20, 0] = np.nan  # batch 1 of each epoch
    calls = []

    class Spy(nn.Callback):
        def on_batch_end(self, batch, logs):
            calls.append(("end", batch))

        def on_batch_skipped(self, batch, logs):
            calls.append(("skipped", batch, np.isnan(logs["loss"])))

    with pytest.warns(RuntimeWarning, match="batch skipped") as record:
        fit(nn.Sequential(nn.Linear(4, 2, rng=0)), x, y, on_nonfinite="skip_batch",
            callbacks=[Spy()], epochs=1)
    assert calls == [("end", 0), ("skipped", 1, True), ("end", 2), ("end", 3)]
    assert record[0].filename == __file__  # points at the line that called nn.fit


def _guard(model, on_nonfinite):
    trainer = nn.training.Trainer(model, None, nn.History(), loss_fn=nn.CrossEntropyLoss(),
                                  epochs=4, n=16, batch_size=2, rng=np.random.default_rng(0))
    trainer.epoch, trainer.batch = 3, 7
    return NonFiniteGuard(model, nn.CrossEntropyLoss(), trainer, on_nonfinite), trainer


def _one_batch(model, guard, x, y):
    guard.before_batch()
    model.zero_grad()
    loss = guard.loss_fn(model.forward(x), y)
    if np.isfinite(loss):
        model.backward(guard.loss_fn.backward())
    return loss


def test_guard_passes_a_finite_batch_and_names_a_non_finite_one():
    x, y = data(8)
    model = nn.Sequential(nn.Linear(4, 4, rng=0), nn.Tanh(), BadBackward(at=2),
                          nn.Linear(4, 2, rng=0))
    guard, _ = _guard(model, "raise")
    assert guard.passed(_one_batch(model, guard, x, y), None)
    loss = _one_batch(model, guard, x, y)
    assert np.isfinite(loss) and not guard.passed(loss, None)
    with pytest.raises(nn.NonFiniteError) as info:
        guard.reject(x, y, slice(0, 8), loss, None)
    err = info.value
    assert (err.epoch, err.batch, err.layer, err.where) == (3, 7, "2", "input gradient")
    assert not guard.passed(1.0, FloatingPointError("overflow"))
    assert not guard.passed(float("nan"), None)


def test_guard_skip_records_the_batch_and_puts_buffers_and_generators_back():
    x, y = data(16)
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.BatchNorm1d(8), nn.Dropout(0.5, rng=2),
                          BadBackward(at=1), nn.Linear(8, 2, rng=0))
    guard, trainer = _guard(model, "skip_batch")
    stats, rng = model.state_dict()["1.running_mean"], model[2].rng
    state = rng.bit_generator.state
    loss = _one_batch(model, guard, x, y)
    after = rng.bit_generator.state
    assert not guard.passed(loss, None)
    with pytest.warns(RuntimeWarning, match="epoch 3, batch 7.*layer '3'.*batch skipped"):
        guard.reject(x, y, slice(0, 16), loss, None)
    assert trainer.skipped_batches == [(3, 7)]
    np.testing.assert_array_equal(model.state_dict()["1.running_mean"], stats)
    assert state != after and rng.bit_generator.state == after  # the batch's draws stay drawn


def test_nonfinite_error_does_not_hide_checkpoint(tmp_path):
    """A NonFiniteError leaves the last checkpoint (from before the bad batch) in place."""
    x, y = data()
    x[40, 0] = np.nan
    path = str(tmp_path / "c.npz")
    model = nn.Sequential(nn.Linear(4, 2, rng=0))
    snaps = Snapshots()
    with pytest.raises(nn.NonFiniteError):
        fit(model, x, y, checkpoint=path, checkpoint_every=1, callbacks=[snaps])
    fresh = nn.Sequential(nn.Linear(4, 2, rng=5))
    nn.load_checkpoint(fresh, path)
    assert_state(fresh, snaps.states[-1])


# ---------------------------------------------------------------------- large data
class Rows:
    """An indexable dataset that is not a NumPy array (like an h5py dataset): records the
    number of rows of every read."""

    def __init__(self, array):
        self.array, self.reads = array, []

    def __len__(self):
        return len(self.array)

    def __getitem__(self, index):
        out = np.asarray(self.array[index])
        self.reads.append(len(out))
        return out


def test_fit_evaluate_predict_read_one_batch_at_a_time():
    x, y = data(200, 4)
    xs, ys = Rows(x), Rows(y)
    model = nn.Sequential(nn.Linear(4, 2, rng=0))
    nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), xs, ys,
           epochs=2, batch_size=32, verbose=0, validation_data=(Rows(x), Rows(y)))
    assert max(xs.reads) == 32 and max(ys.reads) == 32 and sum(xs.reads) == 400
    xs.reads.clear()
    nn.evaluate(model, nn.CrossEntropyLoss(), xs, ys, batch_size=50)
    out = nn.predict(model, xs, batch_size=64)
    assert max(xs.reads) == 64 and out.shape == (200, 2)
    np.testing.assert_array_equal(out, nn.predict(model, x, batch_size=64))


def test_memmap_training_keeps_peak_memory_far_below_the_dataset(tmp_path):
    n, d, classes = 60_000, 64, 4
    xs = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="w+", shape=(n, d))
    ys = np.memmap(tmp_path / "y.i64", dtype=np.int64, mode="w+", shape=(n,))
    rng = np.random.default_rng(0)
    for lo in range(0, n, 10_000):  # fill in chunks: never the whole set in memory
        chunk = rng.standard_normal((10_000, d)).astype(np.float32)
        xs[lo:lo + 10_000] = chunk
        ys[lo:lo + 10_000] = (chunk[:, :classes] ** 2).argmax(axis=1)
    xs.flush()
    ys.flush()
    x = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="r", shape=(n, d))
    y = np.memmap(tmp_path / "y.i64", dtype=np.int64, mode="r", shape=(n,))
    dataset = x.nbytes + y.nbytes  # 15.8 MB
    model = nn.Sequential(nn.Linear(d, 32, rng=0), nn.ReLU(), nn.Linear(32, classes, rng=0))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    tracemalloc.start()
    try:
        h = nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=1, batch_size=512, verbose=0,
                   validation_data=(x[:5000], y[:5000]), rng=0)
        fit_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        res = nn.evaluate(model, nn.CrossEntropyLoss(), x, y, batch_size=1024)
        eval_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        out = nn.predict(model, x, batch_size=1024)
        predict_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert h.history["accuracy"][0] > 0.5 and res["accuracy"] > 0.5
    # measured: fit 1.0 MB (one batch and the epoch's int64 permutation, 8 bytes a
    # sample; the metrics keep a confusion matrix), evaluate 0.5 MB, predict the outputs
    # (0.96 MB) + 0.5 MB, for a 15.8 MB dataset
    assert fit_peak < dataset / 10, (fit_peak, dataset)
    assert eval_peak < dataset / 20, (eval_peak, dataset)
    assert predict_peak < out.nbytes + dataset / 20, (predict_peak, out.nbytes, dataset)


def test_metrics_from_the_confusion_matrix_equal_nn_metrics():
    """fit/evaluate keep a confusion matrix, not every label; the numbers are the same."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 5)).astype(np.float32)
    y = rng.integers(0, 5, 300)
    y[y == 3] = 4  # a class that is never a target
    model = nn.Sequential(nn.Linear(5, 6, rng=0))  # 6 outputs: a class never predicted, too
    names = ("accuracy", "precision", "recall", "f1")
    res = nn.evaluate(model, nn.CrossEntropyLoss(), x, y, batch_size=7, metrics=names)
    pred = nn.predict(model, x).argmax(axis=1)
    assert res["accuracy"] == nn.metrics.accuracy(y, pred)
    assert res["precision"] == nn.metrics.precision(y, pred, average="macro")
    assert res["recall"] == nn.metrics.recall(y, pred, average="macro")
    assert res["f1"] == nn.metrics.f1_score(y, pred, average="macro")


def test_lists_and_memmaps_give_the_same_result_as_arrays(tmp_path):
    x, y = data(48)
    m = np.memmap(tmp_path / "x", dtype=np.float32, mode="w+", shape=x.shape)
    m[:] = x

    def train(inputs):
        model = nn.Sequential(nn.Linear(4, 2, rng=0))
        fit(model, inputs, y, shuffle=True, rng=1)
        return model.state_dict()

    ref = train(x)
    for other in (m, x.tolist()):
        got = train(other)
        for k in ref:
            np.testing.assert_array_equal(ref[k], got[k])
