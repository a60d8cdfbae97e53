"""fit / evaluate / predict, callbacks, History, persistence, models, the command line."""

import importlib.util
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

import nn
import optim


@pytest.fixture(scope="module")
def digits():
    x, y = nn.datasets.load_digits()
    x_tr, x_te, y_tr, y_te = nn.data.train_test_split(x, y, test_size=0.2, stratify=True, rng=0)
    scaler = nn.data.StandardScaler().fit(x_tr)
    return scaler.transform(x_tr), y_tr, scaler.transform(x_te), y_te


pytestmark = pytest.mark.usefixtures("allow_underflow")


def small_model(seed=0):
    return nn.Sequential(nn.Linear(64, 32, rng=seed), nn.ReLU(), nn.Linear(32, 10, rng=seed))


def test_mlp_reaches_095_on_digits(digits):
    x_tr, y_tr, x_te, y_te = digits
    model = nn.models.mlp(64, 128, 10, rng=0)
    assert [type(layer).__name__ for layer in model] == ["Linear", "ReLU", "Linear"]
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = nn.fit(model, nn.CrossEntropyLoss(), opt, x_tr, y_tr, epochs=15, verbose=0, rng=0)
    result = nn.evaluate(model, nn.CrossEntropyLoss(), x_te, y_te)
    assert result["accuracy"] >= 0.95
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_default_mlp_is_the_source_documents_one():
    model = nn.models.mlp()
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(784, 128), (128,), (128, 10), (10,)]


def test_history_keys_and_lengths(digits):
    x_tr, y_tr, x_te, y_te = digits
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    h = nn.fit(model, nn.CrossEntropyLoss(), opt, x_tr, y_tr, epochs=3, batch_size=64,
               validation_data=(x_te, y_te), metrics=("accuracy", "f1"), verbose=0)
    assert set(h.history) == {"loss", "accuracy", "f1", "val_loss", "val_accuracy", "val_f1"}
    assert all(len(v) == 3 for v in h.history.values())
    assert h.epoch == [0, 1, 2]


def test_fit_modes_and_restores(digits):
    x_tr, y_tr, x_te, y_te = digits
    modes = []

    class Spy(nn.Layer):
        def forward(self, x):
            modes.append(self.training)
            return x

        def backward(self, g):
            return g

    model = nn.Sequential(Spy(), nn.Linear(64, 10))
    model.eval()
    nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x_tr[:64],
           y_tr[:64], epochs=1, batch_size=32, validation_data=(x_te[:10], y_te[:10]), verbose=0)
    assert modes == [True, True, False]
    assert model.training is False  # the mode it found
    assert model.input_grad is True  # the input-gradient skip is undone


def test_evaluate_matches_direct_computation(digits):
    x_tr, y_tr, _, _ = digits
    model = small_model()
    loss_fn = nn.CrossEntropyLoss()
    res = nn.evaluate(model, loss_fn, x_tr, y_tr, batch_size=100)
    out = nn.predict(model, x_tr, batch_size=77)
    assert out.shape == (len(x_tr), 10) and out.dtype == np.float32
    assert res["loss"] == pytest.approx(loss_fn(out, y_tr), rel=1e-5)
    assert res["accuracy"] == pytest.approx(float(np.mean(out.argmax(1) == y_tr)))



@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_evaluate_loss_does_not_depend_on_the_batch_size(digits, reduction):
    """The reported loss is the loss of all the data at once: the mean over the samples
    ("mean") or their total ("sum"), never an average of per-batch sums."""
    x_tr, y_tr, _, _ = digits
    x, y = x_tr[:250], y_tr[:250]
    model = small_model()
    loss_fn = nn.CrossEntropyLoss(reduction=reduction)
    whole = loss_fn(model(x), y)
    for batch_size in (7, 100, 250, 1000):
        got = nn.evaluate(model, loss_fn, x, y, batch_size=batch_size, metrics=())["loss"]
        assert got == pytest.approx(whole, rel=1e-5), batch_size


def test_fit_history_loss_with_sum_reduction_is_the_epoch_total(digits):
    x_tr, y_tr, _, _ = digits
    x, y = x_tr[:96], y_tr[:96]
    model = small_model()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    hist = nn.fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.0), x, y, epochs=1,
                  batch_size=32, verbose=0, validation_data=(x, y))
    whole = loss_fn(model(x), y)  # lr 0: the weights never moved
    assert hist.history["loss"][0] == pytest.approx(whole, rel=1e-5)
    assert hist.history["val_loss"][0] == pytest.approx(whole, rel=1e-5)


def test_predict_rejects_a_single_unbatched_sample(digits):
    x_tr, _, _, _ = digits
    model = small_model()
    with pytest.raises(ValueError, match=r"predict: the model returned shape \(10,\) for a batch "
                                         r"of shape \(64,\).*x\[None\]"):
        nn.predict(model, x_tr[0])
    assert nn.predict(model, x_tr[0][None]).shape == (1, 10)

def test_same_seed_same_weights(digits):
    x_tr, y_tr, _, _ = digits

    def train():
        nn.manual_seed(7)
        model = nn.models.mlp(64, 16, 10, dropout=0.2)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        nn.fit(model, nn.CrossEntropyLoss(), opt, x_tr[:300], y_tr[:300], epochs=2, verbose=0)
        return model.state_dict()

    a, b = train(), train()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_float64_data_is_cast_to_model_dtype(digits):
    x_tr, y_tr, _, _ = digits
    model = small_model()
    nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
           x_tr[:64].astype(np.float64), y_tr[:64], epochs=1, verbose=0)
    assert model[0].weight.dtype == np.float32


def test_early_stopping_restores_best_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 2, rng=0))
    # a huge learning rate makes validation loss bounce, so stopping triggers
    opt = optim.SGD(model.parameters(), lr=50.0)
    stop = nn.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    snapshots = []

    class Snap(nn.Callback):
        def on_epoch_end(self, epoch, logs):
            snapshots.append((logs["val_loss"], self.model.state_dict()))

    h = nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=30, batch_size=8,
               validation_data=(x, y), callbacks=[Snap(), stop], verbose=0)
    best_loss, best_state = min(snapshots, key=lambda s: s[0])
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, best_state[k])
    assert len(h.epoch) <= 30


def test_early_stopping_restores_even_when_epochs_run_out():
    x = np.eye(4, dtype=np.float32)
    y = np.arange(4)
    model = nn.Sequential(nn.Linear(4, 4, rng=0))
    stop = nn.EarlyStopping(monitor="loss", patience=100, restore_best_weights=True)
    nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), x, y,
           epochs=3, verbose=0, callbacks=[stop])
    assert stop.best_epoch == 2 and stop.stopped_epoch is None


def test_early_stopping_unknown_monitor_is_clear():
    x = np.eye(4, dtype=np.float32)
    model = nn.Sequential(nn.Linear(4, 4, rng=0))
    with pytest.raises(KeyError, match="val_loss"):
        nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x,
               np.arange(4), epochs=2, verbose=0, callbacks=[nn.EarlyStopping()])


def test_learning_rate_schedule_hook():
    x = np.eye(4, dtype=np.float32)
    model = nn.Sequential(nn.Linear(4, 4, rng=0))
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = nn.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    h = nn.fit(model, nn.CrossEntropyLoss(), opt, x, np.arange(4), epochs=3, verbose=0,
               callbacks=[sched])
    assert h.history["lr"] == [1.0, 0.5, 0.25]
    assert opt.param_groups[0]["lr"] == 0.125


def test_scheduler_object_is_stepped():
    class Halve:
        def __init__(self, opt):
            self.opt, self.calls = opt, 0

        def step(self):
            self.calls += 1
            for g in self.opt.param_groups:
                g["lr"] /= 2

    x = np.eye(4, dtype=np.float32)
    model = nn.Sequential(nn.Linear(4, 4, rng=0))
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = Halve(opt)
    nn.fit(model, nn.CrossEntropyLoss(), opt, x, np.arange(4), epochs=2, verbose=0,
           callbacks=[nn.LearningRateScheduler(sched)])
    assert sched.calls == 2 and opt.param_groups[0]["lr"] == 0.25


def test_binary_metrics_with_bce_with_logits():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)[:, None]
    model = nn.Sequential(nn.Linear(2, 1, rng=0))
    h = nn.fit(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=0.05), x, y,
               epochs=20, verbose=0, metrics=("accuracy", "auc"))
    assert h.history["accuracy"][-1] > 0.95 and h.history["auc"][-1] > 0.98


def test_regression_without_metrics():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    model = nn.Sequential(nn.Linear(3, 1, rng=0))
    h = nn.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=30,
               verbose=0, metrics=())
    assert h.history["loss"][-1] < 1e-3


def test_sequence_outputs_and_ignore_index():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5, 3)).astype(np.float32)
    y = (x[..., 0] > 0).astype(np.int64)
    y[:, -1] = -100  # padded positions
    model = nn.Sequential(nn.Linear(3, 2, rng=0))
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    nn.fit(model, loss_fn, optim.Adam(model.parameters(), lr=0.05), x, y, epochs=20, verbose=0)
    res = nn.evaluate(model, loss_fn, x, y)
    assert res["accuracy"] > 0.9


@pytest.mark.parametrize("kwargs,match", [
    (dict(epochs=-1), "epochs"), (dict(batch_size=0), "batch_size"),
    (dict(validation_data=(np.zeros((2, 4)),)), "validation_data"),
])
def test_fit_bad_arguments(kwargs, match):
    model = nn.Sequential(nn.Linear(4, 2))
    args = dict(epochs=1, verbose=0)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
               np.zeros((4, 4), np.float32), np.zeros(4, np.int64), **args)


def test_fit_length_mismatch_and_empty():
    model = nn.Sequential(nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="samples"):
        nn.fit(model, nn.CrossEntropyLoss(), opt, np.zeros((4, 4), np.float32),
               np.zeros(3, np.int64), verbose=0)
    with pytest.raises(ValueError, match="empty"):
        nn.fit(model, nn.CrossEntropyLoss(), opt, np.zeros((0, 4), np.float32),
               np.zeros(0, np.int64), verbose=0)


def test_progress_bar_output(capsys):
    x = np.eye(4, dtype=np.float32)
    model = nn.Sequential(nn.Linear(4, 4, rng=0))
    nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, np.arange(4),
           epochs=2, batch_size=2, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err and "loss" in err
    nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, np.arange(4),
           epochs=1, verbose=2)
    assert "Epoch 1/1 - loss:" in capsys.readouterr().err


def test_history_plot(tmp_path):
    pytest.importorskip("matplotlib")
    h = nn.History()
    for e in range(3):
        h.append(e, {"loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1), "accuracy": 0.5 + e / 10})
    path = h.plot(str(tmp_path / "curves.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_history_plot_draws_one_panel_per_metric_with_a_stub_matplotlib(monkeypatch, tmp_path):
    """What History.plot asks of matplotlib, checked without it installed: one panel per
    training metric (lr left out), its validation curve beside it, saved to the path."""
    import types

    drawn = {}

    class Axes:
        def __init__(self):
            self.lines, self.title = [], None

        def plot(self, xs, ys, label):
            self.lines.append((list(xs), list(ys), label))

        def set_title(self, title):
            self.title = title

        def set_xlabel(self, label): ...
        def legend(self): ...
        def grid(self, alpha): ...

    class Figure:
        def tight_layout(self): ...

        def savefig(self, path, dpi):
            drawn["path"] = path

    def subplots(rows, cols, figsize, squeeze):
        drawn["axes"] = [Axes() for _ in range(cols)]
        return Figure(), np.array([drawn["axes"]], dtype=object)

    pyplot = types.SimpleNamespace(subplots=subplots, close=lambda fig: None)
    mpl = types.ModuleType("matplotlib")
    mpl.use = lambda backend: drawn.setdefault("backend", backend)
    mpl.pyplot = pyplot
    monkeypatch.setitem(sys.modules, "matplotlib", mpl)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    h = nn.History()
    for e in range(2):
        h.append(e, {"loss": 1.0 - e / 4, "accuracy": 0.5 + e / 4, "val_loss": 1.2, "lr": 0.1})
    out = str(tmp_path / "curves.png")
    assert h.plot(out) == out and drawn["path"] == out and drawn["backend"] == "Agg"
    loss, acc = drawn["axes"]
    assert (loss.title, acc.title) == ("loss", "accuracy")
    assert loss.lines == [([1, 2], [1.0, 0.75], "train loss"), ([1, 2], [1.2, 1.2],
                                                                "validation loss")]
    assert acc.lines == [([1, 2], [0.5, 0.75], "train accuracy")]


def test_history_plot_without_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    h = nn.History()
    h.append(0, {"loss": 1.0})
    with pytest.raises(ImportError, match=r"pip install 'readable-nn\[plot\]'"):
        h.plot("curves.png")


# ---------------------------------------------------------------------- callbacks
class Recorder(nn.Callback):
    """Every hook call, in order; adds ``seen`` to the epoch's logs."""

    def __init__(self, calls):
        self.calls = calls

    def on_train_begin(self, logs):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs):
        self.calls.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch, logs):
        self.calls.append(f"batch_end {batch} {sorted(logs)}")

    def on_batch_skipped(self, batch, logs):
        self.calls.append(f"batch_skipped {batch}")

    def on_epoch_end(self, epoch, logs):
        self.calls.append(f"epoch_end {epoch} {sorted(logs)}")
        logs["seen"] = float(epoch)

    def on_train_end(self, logs):
        self.calls.append(f"train_end {sorted(logs)}")


def test_hooks_run_in_order_and_fits_own_callbacks_see_the_users_logs(capsys):
    """The user's callbacks run first, in their order; History, the checkpoint and the
    progress line come after them and see what they added to the logs."""
    x, y = np.eye(4, dtype=np.float32), np.arange(4)
    model = nn.Sequential(nn.Linear(4, 4, rng=0))
    calls, other = [], []
    h = nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
               epochs=2, batch_size=3, validation_data=(x, y), verbose=2,
               callbacks=[Recorder(calls), Recorder(other)])
    logs = "['accuracy', 'loss', 'val_accuracy', 'val_loss']"
    epoch = ["batch_end 0 ['loss']", "batch_end 1 ['loss']"]
    assert calls == ["train_begin", "epoch_begin 0", *epoch, f"epoch_end 0 {logs}",
                     "epoch_begin 1", *epoch, f"epoch_end 1 {logs}",
                     "train_end ['accuracy', 'loss', 'seen', 'val_accuracy', 'val_loss']"]
    assert other[4] == "epoch_end 0 ['accuracy', 'loss', 'seen', 'val_accuracy', 'val_loss']"
    assert h.history["seen"] == [0.0, 1.0] and h.epoch == [0, 1]
    assert "seen: 1.0000" in capsys.readouterr().err


def test_history_is_the_callback_that_records_the_logs():
    h = nn.History()
    assert isinstance(h, nn.Callback)
    h.on_epoch_end(0, {"loss": 2.0, "lr": 0.1})
    h.on_epoch_end(1, {"loss": np.float32(1.5), "lr": 0.1})
    assert h.history == {"loss": [2.0, 1.5], "lr": [0.1, 0.1]} and h.epoch == [0, 1]
    assert all(type(v) is float for v in h.history["loss"])


def test_callbacks_without_on_batch_skipped_still_work():
    """on_batch_skipped is optional for a duck-typed callback (it is new)."""
    class Plain:
        def __init__(self):
            self.batches = 0

        def on_train_begin(self, logs): ...
        def on_epoch_begin(self, epoch, logs): ...
        def on_epoch_end(self, epoch, logs): ...
        def on_train_end(self, logs): ...
        def state_dict(self): return None

        def on_batch_end(self, batch, logs):
            self.batches += 1

    x, y = np.eye(4, dtype=np.float32), np.arange(4)
    x[0, 0] = np.nan
    model = nn.Sequential(nn.Linear(4, 4, rng=0))
    plain = Plain()
    with pytest.warns(RuntimeWarning, match="batch skipped"):
        nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
               epochs=1, batch_size=2, shuffle=False, verbose=0, on_nonfinite="skip_batch",
               callbacks=[plain])
    assert plain.batches == 1


def make_trainer(n=10, batch_size=4, epochs=3, shuffle=True, seed=0):
    model = nn.Sequential(nn.Linear(2, 2, rng=0))
    return nn.training.Trainer(model, optim.SGD(model.parameters(), lr=0.1), nn.History(),
                               epochs=epochs, n=n, batch_size=batch_size, shuffle=shuffle,
                               rng=np.random.default_rng(seed), metrics=("accuracy",),
                               loss_fn=nn.CrossEntropyLoss())


def test_trainer_draws_one_order_per_epoch_and_covers_every_sample():
    t = make_trainer()
    assert t.n_batches == 3
    reference = np.random.default_rng(0)
    for epoch in t.epochs_to_run():
        rows = [np.asarray(r) for _, r in t.batches()]
        order = reference.permutation(10)
        np.testing.assert_array_equal(t.order, order)
        for k, r in enumerate(rows):  # each batch is its slice of the order, sorted
            np.testing.assert_array_equal(r, np.sort(order[4 * k:4 * k + 4]))
        assert t.epoch == epoch and t.batch == 2 and t.first_batch == 0
    assert t.order is None and t.metrics.weight == 0  # dropped once the epoch is over
    plain = make_trainer(shuffle=False)
    next(plain.epochs_to_run())
    assert [r for _, r in plain.batches()] == [slice(0, 4), slice(4, 8), slice(8, 10)]


def test_trainer_stops_when_asked_and_resumes_mid_epoch():
    t = make_trainer(epochs=5)
    epochs = []
    for epoch in t.epochs_to_run():
        epochs.append(epoch)
        list(t.batches())
        t.stop_training = epoch == 1
    assert epochs == [0, 1]
    resumed = make_trainer(epochs=3)
    order = np.arange(10)[::-1]
    snapshot = {"loss_sum": 6.0, "weight": 4.0, "classy": True, "seen": True,
                "confusion": np.array([[2, 1], [0, 1]]), "true": None, "scores": None}
    resumed.resume_at(1, 2, order, snapshot)
    runs = []
    for epoch in resumed.epochs_to_run():
        runs.append((epoch, resumed.first_batch, [(b, np.asarray(r).tolist())
                                                  for b, r in resumed.batches()]))
        if epoch == 1:
            assert resumed.metrics.loss() == 1.5  # the running loss came back
    assert runs[0] == (1, 2, [(2, [0, 1])])  # order[8:10], sorted
    assert [(e, first, len(b)) for e, first, b in runs[1:]] == [(2, 0, 3)]


def test_trainer_logs_nan_only_when_every_batch_was_skipped():
    t = make_trainer(n=4, batch_size=2, epochs=1)
    next(t.epochs_to_run())
    for b, _ in t.batches():
        t.skipped_batches.append((0, b))
    assert np.isnan(t.train_logs()["loss"])


def test_progress_bar_counts_batches_from_where_the_epoch_starts():
    pytest.importorskip("tqdm")
    t = make_trainer(n=10, batch_size=2, epochs=2)
    t.resume_at(0, 3, np.arange(10), {"loss_sum": 0.0, "weight": 0.0, "classy": True,
                                      "seen": False, "confusion": None, "true": None,
                                      "scores": None})
    bar = nn.callbacks.ProgressBar(verbose=1)
    bar.trainer = t
    epoch = next(t.epochs_to_run())
    bar.on_epoch_begin(epoch, {})
    assert bar.bar.n == 3 and bar.bar.total == 5
    for b, _ in t.batches():
        bar.on_batch_end(b, {"loss": 1.0}) if b != 4 else bar.on_batch_skipped(b, {})
    assert bar.bar.n == 5
    bar.on_train_end({})  # an exception ended the epoch: the bar is closed
    assert bar.bar is None


def test_the_loop_in_docs_architecture_is_the_loop_of_fit():
    """docs/architecture.md shows fit's loop verbatim; this keeps the two in step."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "architecture.md"), encoding="utf-8") as f:
        doc = f.read()
    start = doc.index("```python\nfor epoch in trainer.epochs_to_run():") + len("```python\n")
    shown = doc[start:doc.index("```", start)].rstrip("\n").split("\n")
    source = inspect.getsource(nn.training.fit).split("\n")
    first = next(i for i, line in enumerate(source)
                 if line.strip().startswith("for epoch in trainer.epochs_to_run():"))
    indent = len(source[first]) - len(source[first].lstrip())
    assert [line[indent:] for line in source[first:first + len(shown)]] == shown
    assert source[first + len(shown)].strip() == "finally:"  # the whole loop is shown


# ---------------------------------------------------------------------- persistence
def test_save_load_round_trip(tmp_path):
    a = small_model(1)
    b = small_model(2)
    path = nn.save(a, tmp_path / "model")
    assert path.endswith(".npz") and os.path.exists(path)
    nn.load(b, path)
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v, b.state_dict()[k])
    with np.load(path, allow_pickle=False) as f:
        assert "0.weight" in f.files


def test_load_mismatch_names_key_and_changes_nothing(tmp_path):
    path = nn.save(nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)),
                   tmp_path / "m.npz")
    target = small_model(3)
    before = target.state_dict()
    with pytest.raises(ValueError, match="0.weight"):
        nn.load(target, path)
    for k, v in target.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    other = nn.Sequential(nn.Linear(64, 16))
    with pytest.raises(KeyError, match="2.weight"):
        nn.load(other, path)


# ---------------------------------------------------------------------- command line
def test_cli_main_job_reaches_096(tmp_path):
    weights, plot = tmp_path / "w.npz", tmp_path / "c.png"
    has_mpl = importlib.util.find_spec("matplotlib") is not None
    cmd = [sys.executable, "-m", "nn", "--verbose", "0", "--save", str(weights)]
    proc = subprocess.run(cmd + (["--plot", str(plot)] if has_mpl else []),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    acc = float(proc.stdout.split("test accuracy")[1].split()[0])
    assert acc >= 0.96
    assert weights.exists()
    if has_mpl:
        assert plot.stat().st_size > 0


def test_cli_plot_without_matplotlib_fails_before_training(monkeypatch, capsys):
    from nn.__main__ import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(SystemExit, match="matplotlib"):
        main(["--plot", "x.png", "--epochs", "1", "--verbose", "0"])
    assert "test accuracy" not in capsys.readouterr().out


def test_cli_help_lists_options():
    proc = subprocess.run([sys.executable, "-m", "nn", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    for word in ("--model", "--optimizer", "--lr", "--epochs", "--batch-size", "--seed",
                 "--save", "--plot", "sub-commands", "train"):
        assert word in proc.stdout


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_cli_other_optimizers(opt):
    from nn.__main__ import main

    assert main(["train", "--optimizer", opt, "--epochs", "3", "--verbose", "0"]) == 0
