"""Checkpoints: round trips, the file format, all-or-nothing loading, atomic writes, and
resuming ``nn.fit`` bit-identically, including after a SIGKILL at a random batch."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import nn
import optim
from nn.serialization import META_KEY
from optim import lr_scheduler

pytestmark = pytest.mark.usefixtures("allow_underflow")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_model(seed=0):
    return nn.Sequential(nn.Linear(6, 16, rng=seed), nn.ReLU(), nn.Dropout(0.25, rng=seed + 1),
                         nn.BatchNorm1d(16), nn.Linear(16, 3, rng=seed), nn.Dropout(0.1))


def make_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)


def train_steps(model, opt, x, y, steps, sched=None):
    loss_fn = nn.CrossEntropyLoss()
    for i in range(steps):
        xb, yb = x[i % 4 * 16:(i % 4 + 1) * 16], y[i % 4 * 16:(i % 4 + 1) * 16]
        opt.zero_grad()
        loss_fn(model.forward(xb), yb)
        model.backward(loss_fn.backward())
        opt.step()
        if sched is not None:
            sched.step()


def snapshot(model, opt=None):
    out = {f"model/{k}": v for k, v in model.state_dict().items()}
    if opt is not None:
        for i, st in opt.state_dict()["state"].items():
            for k, v in st.items():
                out[f"opt/{i}/{k}"] = np.asarray(v)
        out["opt/lr"] = np.asarray([g["lr"] for g in opt.param_groups])
    out["rng"] = np.asarray(json.dumps(nn.get_rng().bit_generator.state))
    return out


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=0.05),
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: optim.Momentum(ps, lr=0.05),
    lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=1e-2),
    lambda ps: optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
    lambda ps: optim.Adagrad(ps, lr=1e-2, lr_decay=0.01),
]
SCHEDULERS = [
    lambda o: lr_scheduler.StepLR(o, 2, gamma=0.5),
    lambda o: lr_scheduler.MultiStepLR(o, [1, 3, 3], gamma=0.5),
    lambda o: lr_scheduler.ExponentialLR(o, 0.9),
    lambda o: lr_scheduler.CosineAnnealingLR(o, 5, eta_min=1e-4),
    lambda o: lr_scheduler.LinearLR(o, 0.5, 1.0, 4),
    lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.9 ** e),
    lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, 0.5, 1.0, 2),
                                            lr_scheduler.ExponentialLR(o, 0.8)], [2]),
    lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0),
]


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("make_opt", OPTIMIZERS)
def test_resume_by_hand_is_bit_identical(tmp_path, make_opt):
    """train 5 steps | save | train 4 more  ==  load into fresh objects | train 4 more."""
    x, y = make_data()
    nn.manual_seed(1)
    model = make_model()
    opt = make_opt(model.parameters())
    train_steps(model, opt, x, y, 5)
    path = nn.save_checkpoint(model, tmp_path / "c.npz", opt, epoch=5)
    train_steps(model, opt, x, y, 4)
    expected = snapshot(model, opt)

    nn.manual_seed(99)  # a different global state, overwritten by the checkpoint
    model2 = make_model(seed=7)
    opt2 = make_opt(model2.parameters())
    ck = nn.load_checkpoint(model2, path, opt2)
    assert ck.epoch == 5 and ck.history is None and ck.extra is None
    train_steps(model2, opt2, x, y, 4)
    assert_same(snapshot(model2, opt2), expected)


@pytest.mark.parametrize("make_sched", SCHEDULERS)
def test_scheduler_round_trip(tmp_path, make_sched):
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = make_sched(opt)

    def step(s, i):
        s.step(1.0 + i % 2) if isinstance(s, lr_scheduler.ReduceLROnPlateau) else s.step()

    for i in range(3):
        step(sched, i)
    path = nn.save_checkpoint(model, tmp_path / "c.npz", opt, sched)
    expected = []
    for i in range(3, 7):
        step(sched, i)
        expected.append(opt.param_groups[0]["lr"])
    model2 = make_model()
    opt2 = optim.SGD(model2.parameters(), lr=0.1)
    sched2 = make_sched(opt2)
    nn.load_checkpoint(model2, path, opt2, sched2)
    got = []
    for i in range(3, 7):
        step(sched2, i)
        got.append(opt2.param_groups[0]["lr"])
    assert got == expected


def test_history_extra_and_generators_round_trip(tmp_path):
    h = nn.History()
    h.append(0, {"loss": 1.5, "val_loss": float("nan"), "accuracy": 0.25})
    h.append(1, {"loss": 0.5, "val_loss": float("inf"), "accuracy": 1 / 3})
    extra = {"note": "hi", "tuple": (1, 2.5, None), "array": np.arange(6).reshape(2, 3),
             3: [True, {"nested": np.float32(0.5)}], "inf": -float("inf")}
    model = make_model()
    path = nn.save_checkpoint(model, tmp_path / "c.npz", epoch=2, history=h, extra=extra)
    state = snapshot(model)
    model[2].rng.random(5)  # advance the layer's own generator and the global one
    nn.get_rng().random(5)
    ck = nn.load_checkpoint(model, path)
    assert_same(snapshot(model), state)
    assert ck.history.epoch == [0, 1] and list(ck.history.history) == ["loss", "val_loss",
                                                                       "accuracy"]
    assert ck.history.history["accuracy"] == [0.25, 1 / 3]
    assert np.isnan(ck.history.history["val_loss"][0])
    assert ck.extra["tuple"] == (1, 2.5, None) and ck.extra[3][0] is True
    assert np.array_equal(ck.extra["array"], extra["array"])
    assert ck.extra[3][1]["nested"] == np.float32(0.5)
    assert ck.extra[3][1]["nested"].dtype == np.float32
    assert ck.extra["inf"] == -float("inf")
    fresh = make_model(seed=5)
    nn.load_checkpoint(fresh, path)
    assert fresh[2].rng.bit_generator.state == model[2].rng.bit_generator.state


def test_extra_rejects_objects_without_writing(tmp_path):
    model = make_model()
    with pytest.raises(nn.CheckpointError, match="extra/f"):
        nn.save_checkpoint(model, tmp_path / "c.npz", extra={"f": lambda: 1})
    with pytest.raises(nn.CheckpointError, match="object"):
        nn.save_checkpoint(model, tmp_path / "c.npz", extra={"a": np.array([None])})
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------------- the file format
def test_file_format_is_versioned_npz_with_json_metadata(tmp_path):
    model = make_model()
    opt = optim.Adam(model.parameters())
    train_steps(model, opt, *make_data(), 1)
    path = nn.save_checkpoint(model, tmp_path / "c.npz", opt, epoch=1)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    assert int(arrays["__nn_format_version__"]) == 1
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    del arrays["__nn_format_version__"]
    assert meta["format_version"] == 1 and meta["kind"] == "checkpoint"
    assert set(meta["tensors"]) == set(arrays)
    for name, info in meta["tensors"].items():
        assert tuple(info["shape"]) == arrays[name].shape
        assert np.dtype(info["dtype"]) == arrays[name].dtype
    assert "model/0.weight" in arrays and "model/3.running_var" in arrays
    assert "optimizer/state/0/exp_avg" in arrays  # nested optimizer state, flattened
    assert all(a.dtype.kind in "biuf" for a in arrays.values())
    assert meta["optimizer"]["class"] == "Adam" and meta["epoch"] == 1
    assert meta["rng"]["global"]["bit_generator"] == "PCG64"
    assert meta["rng"]["2.rng"]["bit_generator"] == "PCG64"  # the Dropout's own generator


def test_nn_save_writes_metadata_and_nn_load_reads_checkpoints(tmp_path):
    a, b = make_model(1), make_model(2)
    path = nn.save(a, tmp_path / "m")
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(f[META_KEY].tobytes())
    assert meta["tensors"]["0.weight"] == {"shape": [6, 16], "dtype": "<f4"}
    ck = nn.save_checkpoint(a, tmp_path / "c.npz")
    nn.load(b, ck)
    assert_same(snapshot(a), snapshot(b))
    with pytest.raises(nn.CheckpointError, match="model file"):
        nn.load_checkpoint(b, path)


# ---------------------------------------------------------------------- argument order
SAVE_LOAD = {
    "nn.save": lambda model, path: nn.save(model, path),
    "nn.load": lambda model, path: nn.load(model, path),
    "nn.save_checkpoint": lambda model, path: nn.save_checkpoint(model, path),
    "nn.load_checkpoint": lambda model, path: nn.load_checkpoint(model, path),
}


@pytest.mark.parametrize("name", sorted(SAVE_LOAD))
@pytest.mark.parametrize("as_path", [str, os.fspath, lambda p: p], ids=["str", "fspath", "Path"])
def test_swapped_model_and_path_is_a_clear_type_error(tmp_path, name, as_path):
    """All four take (model, path); (path, model) says so, and writes or loads nothing."""
    model = make_model()
    path = tmp_path / "m.npz"
    nn.save_checkpoint(model, path)  # a file to load, in both formats nn.load reads
    before = snapshot(model)
    with pytest.raises(TypeError) as info:
        SAVE_LOAD[name](as_path(path), model)
    text = str(info.value)
    assert text.startswith(name + ":"), text
    assert "(model, path)" in text and "Sequential" in text and repr(as_path(path)) in text
    assert f"call {name}(model, path)" in text
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]
    assert_same(snapshot(model), before)


@pytest.mark.parametrize("name", sorted(SAVE_LOAD))
def test_a_model_that_is_not_a_layer_or_a_path_that_is_not_a_path(tmp_path, name):
    with pytest.raises(TypeError, match=rf"{name}: model must be an nn.Layer, got dict"):
        SAVE_LOAD[name]({}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match=rf"{name}: path must be a str or os.PathLike, got int"):
        SAVE_LOAD[name](make_model(), 3)


def test_the_order_is_model_then_path_for_all_four(tmp_path):
    a, b = make_model(1), make_model(2)
    nn.load(b, nn.save(a, tmp_path / "m"))
    assert_same(snapshot(b), snapshot(a))
    c = make_model(3)
    nn.load_checkpoint(c, nn.save_checkpoint(a, tmp_path / "c.npz"))
    assert_same(snapshot(c), snapshot(a))


# ---------------------------------------------------------------------- bad files
def _edit_meta(path, out, edit):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays[META_KEY].tobytes())
    edit(meta, arrays)
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(out, **arrays)
    return out


def _bad_files(tmp_path, good):
    """name -> (path of a broken file, expected words in the message)."""
    cases = {}
    data = open(good, "rb").read()
    for frac in (0.3, 0.9):
        p = tmp_path / f"trunc{frac}.npz"
        p.write_bytes(data[:int(len(data) * frac)])
        cases[f"truncated-{frac}"] = (p, "truncated")
    p = tmp_path / "garbage.npz"
    p.write_bytes(b"this is not a zip file at all" * 10)
    cases["garbage"] = (p, "not an .npz")
    p = tmp_path / "pickled.npz"
    with np.load(good, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(p, **arrays, evil=np.array([{"a": 1}], dtype=object))  # pickled object array
    cases["pickled-object"] = (p, "pickled")
    p = tmp_path / "npy.npz"
    np.save(p, np.zeros(3))
    os.replace(str(p) + ".npy", p)
    cases["plain-npy"] = (p, ".npy")
    p = tmp_path / "version.npz"
    with np.load(good, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["__nn_format_version__"] = np.array(2)
    np.savez(p, **arrays)
    cases["other-version"] = (p, "version 2")
    cases["other-meta-version"] = (_edit_meta(good, tmp_path / "mv.npz",
                                              lambda m, a: m.update(format_version=7)),
                                   "version 7")
    cases["meta-shape-lies"] = (_edit_meta(good, tmp_path / "ms.npz",
                                           lambda m, a: m["tensors"]["model/0.bias"].update(
                                               shape=[17])), "model/0.bias")
    cases["tensor-missing"] = (_edit_meta(good, tmp_path / "tm.npz",
                                          lambda m, a: a.pop("model/4.weight")), "model/4.weight")
    cases["bad-json"] = (tmp_path / "json.npz", "metadata")
    arrays_j = dict(arrays)
    arrays_j["__nn_format_version__"] = np.array(1)
    arrays_j[META_KEY] = np.frombuffer(b"{not json", dtype=np.uint8)
    np.savez(tmp_path / "json.npz", **arrays_j)
    cases["missing-file"] = (tmp_path / "nope.npz", "no such file")
    (tmp_path / "folder.npz").mkdir()
    cases["directory"] = (tmp_path / "folder.npz", "is a directory")
    other = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    cases["missing-keys"] = (nn.save_checkpoint(other, tmp_path / "keys.npz"), "3.running_mean")
    wide = nn.Sequential(nn.Linear(6, 17), nn.ReLU(), nn.Dropout(0.2), nn.BatchNorm1d(17),
                         nn.Linear(17, 3), nn.Dropout(0.1))
    cases["shapes"] = (nn.save_checkpoint(wide, tmp_path / "shape.npz"), "0.weight")
    return cases


def _stateful_objects():
    nn.manual_seed(3)
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = lr_scheduler.StepLR(opt, 2)
    train_steps(model, opt, *make_data(), 3, sched)
    return model, opt, sched


def _state_of(model, opt, sched):
    s = snapshot(model, opt)
    s["sched"] = np.asarray(json.dumps(sched.state_dict(), default=str))
    s["dropout"] = np.asarray(json.dumps(model[2].rng.bit_generator.state))
    return s


def test_every_bad_file_is_one_clear_error_and_changes_nothing(tmp_path):
    model, opt, sched = _stateful_objects()
    good = nn.save_checkpoint(model, tmp_path / "good.npz", opt, sched, epoch=3)
    cases = _bad_files(tmp_path, good)
    train_steps(model, opt, *make_data(), 2, sched)  # move away from the saved state
    before = _state_of(model, opt, sched)
    for name, (path, words) in cases.items():
        with pytest.raises(nn.CheckpointError) as info:
            nn.load_checkpoint(model, path, opt, sched)
        assert isinstance(info.value, ValueError)
        assert words in str(info.value), (name, str(info.value))
        assert os.fspath(path) in str(info.value) or name == "missing-file", name
        assert_same(_state_of(model, opt, sched), before)
        if name not in ("missing-keys",):
            with pytest.raises(nn.CheckpointError):
                nn.load(model, path)
        assert_same(_state_of(model, opt, sched), before)
    nn.load_checkpoint(model, good, opt, sched)  # and the good file still loads


@pytest.mark.parametrize("case", ["optimizer-class", "optimizer-params", "no-optimizer",
                                  "scheduler-class", "scheduler-layout", "bad-lr",
                                  "generator-missing", "opt-state-shape"])
def test_mismatched_objects_are_rejected_before_anything_changes(tmp_path, case):
    model, opt, sched = _stateful_objects()
    kwargs = {"optimizer": opt, "scheduler": sched}
    if case == "no-optimizer":
        kwargs = {}
    path = nn.save_checkpoint(model, tmp_path / "c.npz", **kwargs)
    if case == "bad-lr":
        path = _edit_meta(path, tmp_path / "lr.npz", lambda m, a: m["optimizer"]["state"][
            "param_groups"][0].update(lr=-1.0))
    if case == "generator-missing":
        path = _edit_meta(path, tmp_path / "g.npz", lambda m, a: m["rng"].pop("2.rng"))
    if case == "opt-state-shape":
        def edit(m, a):
            a["optimizer/state/0/exp_avg"] = np.zeros((2, 2), np.float32)
            m["tensors"]["optimizer/state/0/exp_avg"]["shape"] = [2, 2]
        path = _edit_meta(path, tmp_path / "s.npz", edit)
    train_steps(model, opt, *make_data(), 2, sched)
    before = _state_of(model, opt, sched)
    target_opt, target_sched = opt, sched
    if case == "optimizer-class":
        target_opt = optim.SGD(model.parameters(), lr=0.1)
    if case == "optimizer-params":
        target_opt = optim.Adam(list(model.parameters())[:2])
    if case == "scheduler-class":
        target_sched = lr_scheduler.ExponentialLR(opt, 0.5)
    if case == "scheduler-layout":
        target_sched = lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 2),
                                                       lr_scheduler.StepLR(opt, 3)], [2])
    before = _state_of(model, opt, sched)
    with pytest.raises(nn.CheckpointError) as info:
        nn.load_checkpoint(model, path, target_opt, target_sched)
    words = {"optimizer-class": "SGD", "optimizer-params": "parameters",
             "no-optimizer": "no optimizer", "scheduler-class": "ExponentialLR",
             "scheduler-layout": "scheduler", "bad-lr": "lr", "generator-missing": "2.rng",
             "opt-state-shape": "shape"}[case]
    assert words in str(info.value)
    if case != "scheduler-layout":
        assert_same(_state_of(model, opt, sched), before)


# ---------------------------------------------------------------------- atomic writes
def test_a_crash_during_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model, opt, sched = _stateful_objects()
    path = tmp_path / "c.npz"
    nn.save_checkpoint(model, path, opt, epoch=1)
    original = path.read_bytes()
    train_steps(model, opt, *make_data(), 1)

    def half_write(file, **arrays):  # write some bytes, then "crash"
        file.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt("killed during save")

    monkeypatch.setattr(np, "savez", half_write)
    with pytest.raises(KeyboardInterrupt):
        nn.save_checkpoint(model, path, opt, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == ["c.npz"]  # the temporary file is gone

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        nn.save_checkpoint(model, path, opt, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == original and sorted(os.listdir(tmp_path)) == ["c.npz"]
    assert nn.load_checkpoint(model, path, opt).epoch == 1


def test_save_fsyncs_before_renaming(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"),
                                                     real_replace(a, b))[1])
    nn.save_checkpoint(make_model(), tmp_path / "c.npz")
    assert calls[:2] == ["fsync", "replace"]


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002], ids=oct)
def test_saved_files_get_the_mode_open_would_give(tmp_path, umask):
    # mkstemp's 0o600 must not leak through the rename: 0o666 & ~umask, as np.savez gives
    old_umask = os.umask(umask)
    try:
        with open(tmp_path / "reference", "w"):
            pass
        model = nn.save(make_model(), tmp_path / "model")
        ckpt = nn.save_checkpoint(make_model(), tmp_path / "c.ckpt")
        fitted = tmp_path / "fit.npz"
        _fit_run(str(fitted), epochs=1)
    finally:
        os.umask(old_umask)
    assert _mode(tmp_path / "reference") == 0o666 & ~umask
    for path in (model, ckpt, fitted):
        assert _mode(path) == 0o666 & ~umask, (path, oct(_mode(path)))
    assert sorted(os.listdir(tmp_path)) == ["c.ckpt", "fit.npz", "model.npz", "reference"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_replacing_a_file_keeps_its_mode(tmp_path):
    # as open(path, "w") does: a file made private (or shared) stays so when saved over
    old_umask = os.umask(0o022)
    try:
        for mode in (0o600, 0o664):
            model_path = nn.save(make_model(), tmp_path / "m.npz")
            ckpt_path = nn.save_checkpoint(make_model(), tmp_path / "c.npz", epoch=1)
            os.chmod(model_path, mode)
            os.chmod(ckpt_path, mode)
            nn.save(make_model(), model_path)
            nn.save_checkpoint(make_model(), ckpt_path, epoch=2)
            assert _mode(model_path) == _mode(ckpt_path) == mode, oct(mode)
            assert nn.load_checkpoint(make_model(), ckpt_path).epoch == 2
    finally:
        os.umask(old_umask)


def test_loading_a_directory_is_a_checkpoint_error_naming_it(tmp_path):
    model = make_model()
    before = snapshot(model)
    folder = tmp_path / "run"
    folder.mkdir()
    for load in (lambda p: nn.load(model, p), lambda p: nn.load_checkpoint(model, p)):
        with pytest.raises(nn.CheckpointError, match="is a directory") as info:
            load(folder)
        assert repr(os.fspath(folder)) in str(info.value)
        assert isinstance(info.value.__cause__, OSError)  # the OS error is chained
        with pytest.raises(nn.CheckpointError, match="no such file") as info:
            load(tmp_path / "missing.npz")
        assert isinstance(info.value.__cause__, FileNotFoundError)
        assert_same(snapshot(model), before)
    # nn.save(model, "run") wrote "run.npz": nn.load(model, "run") reads it even though a
    # folder "run" exists (the suffix rule of nn.save)
    saved = nn.save(make_model(seed=5), folder)
    assert saved == os.fspath(folder) + ".npz"
    nn.load(model, folder)
    assert_same(snapshot(model), snapshot(make_model(seed=5)))


# ---------------------------------------------------------------------- fit: resume in-process
class _Interrupt(nn.Callback):
    """Raise KeyboardInterrupt after a given number of batches (a Ctrl-C)."""

    def __init__(self, after):
        self.after, self.count = after, 0

    def on_batch_end(self, batch, logs):
        self.count += 1
        if self.count == self.after:
            raise KeyboardInterrupt


def _fit_run(path, epochs=4, extra_callbacks=(), checkpoint_every=None, resume=True,
             sched_cls=True):
    """One fit call on fresh objects built from a fixed seed (as a new process would)."""
    nn.manual_seed(11)
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    callbacks = [nn.EarlyStopping(monitor="val_loss", patience=50, restore_best_weights=True)]
    if sched_cls:
        callbacks.append(nn.LearningRateScheduler(lr_scheduler.StepLR(opt, 1, gamma=0.7)))
    x, y = make_data(90)
    kw = dict(checkpoint=path, resume=resume, checkpoint_every=checkpoint_every) if path else {}
    h = nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=epochs, batch_size=16,
               validation_data=make_data(30, seed=1), metrics=("accuracy", "f1"), rng=5,
               callbacks=callbacks + list(extra_callbacks), verbose=0, **kw)
    return model, opt, h


@pytest.mark.parametrize("every", [None, 1, 4])
@pytest.mark.parametrize("stop_after", [3, 8, 14])
def test_fit_resume_after_interrupt_is_bit_identical(tmp_path, every, stop_after):
    ref_model, ref_opt, ref_h = _fit_run(None)
    path = str(tmp_path / "run.npz")
    with pytest.raises(KeyboardInterrupt):
        _fit_run(path, extra_callbacks=[_Interrupt(stop_after)], checkpoint_every=every)
    model, opt, h = _fit_run(path, checkpoint_every=every)
    assert_same(snapshot(model, opt), snapshot(ref_model, ref_opt))
    assert h.history == ref_h.history and h.epoch == ref_h.epoch


def test_fit_resume_of_a_finished_run_trains_no_more(tmp_path):
    path = str(tmp_path / "run.npz")
    model, opt, h = _fit_run(path, epochs=2)
    again, opt2, h2 = _fit_run(path, epochs=2)
    assert_same(snapshot(again, opt2), snapshot(model, opt))
    assert h2.history == h.history
    more, _, h3 = _fit_run(path, epochs=3)  # a larger epochs continues the run
    assert len(h3.epoch) == 3 and h3.history["loss"][:2] == h.history["loss"]


def test_fit_resume_refuses_a_different_setup(tmp_path):
    path = str(tmp_path / "run.npz")
    _fit_run(path, epochs=1)
    model = make_model()
    before = snapshot(model)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x, y = make_data(90)
    with pytest.raises(nn.CheckpointError, match="batch_size"):
        nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=2, batch_size=8, verbose=0,
               checkpoint=path, resume=True)
    with pytest.raises(nn.CheckpointError, match="callbacks"):
        nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=2, batch_size=16, verbose=0,
               checkpoint=path, resume=True)
    with pytest.raises(nn.CheckpointError, match="SGD"):
        nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
               epochs=2, batch_size=16, verbose=0, checkpoint=path, resume=True,
               callbacks=[nn.EarlyStopping(patience=50),
                          nn.LearningRateScheduler(lr_scheduler.StepLR(opt, 1))])
    assert_same(snapshot(model), before)


def test_fit_without_resume_starts_over_and_overwrites(tmp_path):
    path = str(tmp_path / "run.npz")
    _fit_run(path, epochs=2)
    model, opt, h = _fit_run(path, epochs=1, resume=False)
    ck = nn.load_checkpoint(make_model(), path)
    assert ck.epoch == 1 and ck.history.history == h.history


def _record_writes(monkeypatch):
    """Record ``(epoch, batch)`` of every checkpoint fit writes (and still write it)."""
    writes = []
    real = nn.checkpoint.write_checkpoint

    def spy(model, path, *args, fit=None, **kwargs):
        writes.append((fit["epoch"], fit["batch"]))
        return real(model, path, *args, fit=fit, **kwargs)

    monkeypatch.setattr(nn.checkpoint, "write_checkpoint", spy)
    return writes


def test_backup_writes_after_every_n_batches_and_every_epoch(tmp_path, monkeypatch):
    """90 samples in batches of 16: 6 batches an epoch. With checkpoint_every=4 the
    writes come after batch 4 of each epoch and at each epoch's end, skipped batches
    counted like the others; the last batch of an epoch is left to the epoch's write."""
    writes = _record_writes(monkeypatch)
    x, y = make_data(90)
    x[3 * 16, 0] = np.nan  # batch 3 of every epoch (no shuffling) is skipped
    model = make_model()
    with pytest.warns(RuntimeWarning, match="batch skipped"):
        nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
               epochs=2, batch_size=16, shuffle=False, verbose=0, on_nonfinite="skip_batch",
               checkpoint=str(tmp_path / "c.npz"), checkpoint_every=4)
    assert writes == [(0, 4), (1, 0), (1, 4), (2, 0)]
    writes.clear()
    nn.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x[:32], y[:32],
           epochs=2, batch_size=16, verbose=0, checkpoint=str(tmp_path / "d.npz"),
           checkpoint_every=1)
    assert writes == [(0, 1), (1, 0), (1, 1), (2, 0)]


def test_backup_restores_in_on_train_begin_after_the_users_callbacks(tmp_path, capsys):
    """The user's on_train_begin runs first; then the checkpoint is restored (the
    callback's state included), and with verbose the resumed position is printed."""
    path = str(tmp_path / "run.npz")
    with pytest.raises(KeyboardInterrupt):
        _fit_run(path, extra_callbacks=[_Interrupt(11)], checkpoint_every=4)
    seen = []

    class Peek(nn.Callback):
        def on_train_begin(self, logs):
            seen.append(("begin", self.trainer.start_epoch, self.trainer.start_batch))

        def on_epoch_begin(self, epoch, logs):
            seen.append(("epoch", epoch, self.trainer.first_batch))

    nn.manual_seed(11)
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    stopper = nn.EarlyStopping(monitor="val_loss", patience=50, restore_best_weights=True)
    sched = nn.LearningRateScheduler(lr_scheduler.StepLR(opt, 1, gamma=0.7))
    nn.fit(model, nn.CrossEntropyLoss(), opt, *make_data(90), epochs=4, batch_size=16,
           validation_data=make_data(30, seed=1), metrics=("accuracy", "f1"), rng=5,
           callbacks=[stopper, sched, Peek()], verbose=2, checkpoint=path, resume=True,
           checkpoint_every=4)
    # 6 batches an epoch; the 11th batch (index 4 of epoch 1) was interrupted after the
    # write that follows 4 batches of epoch 1: the run resumes at epoch 1, batch 4
    assert seen[0] == ("begin", 0, 0)
    assert seen[1:] == [("epoch", 1, 4), ("epoch", 2, 0), ("epoch", 3, 0)]
    assert stopper.best_epoch is not None  # its state came back from the checkpoint
    assert "Resumed from" in capsys.readouterr().err


# ---------------------------------------------------------------------- fit: SIGKILL
CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import nn, optim
    from optim import lr_scheduler

    path, out, every, pause = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    every = None if every == "none" else int(every)
    np.seterr(under="ignore")

    class Beat(nn.Callback):
        def on_epoch_begin(self, epoch, logs):
            self.epoch = epoch
        def on_batch_end(self, batch, logs):
            print(f"batch {self.epoch} {batch}", flush=True)
            time.sleep(pause)

    nn.manual_seed(3)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3),
                          nn.BatchNorm1d(32), nn.Linear(32, 4), nn.Dropout(0.1, rng=7))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((240, 8)).astype(np.float32)
    y = (np.abs(x[:, :4]).argmax(axis=1)).astype(np.int64)
    callbacks = [nn.LearningRateScheduler(lr_scheduler.StepLR(opt, 2, gamma=0.5)),
                 nn.EarlyStopping(monitor="loss", patience=100), Beat()]
    h = nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=4, batch_size=16,
               metrics=("accuracy",), callbacks=callbacks, verbose=0, rng=None,
               checkpoint=path, resume=True, checkpoint_every=every)
    nn.save_checkpoint(model, out, opt, history=h)
    print("done", flush=True)
""")


def _child(tmp_path, name, every, pause, resume_path=None):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    ckpt = resume_path or str(tmp_path / f"{name}.ckpt.npz")
    out = str(tmp_path / f"{name}.final.npz")
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, str(script), ckpt, out, every, str(pause)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=str(tmp_path)), ckpt, out


def _final_state(out):
    with np.load(out, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop(META_KEY).tobytes())
    return arrays, meta


@pytest.mark.parametrize("every", ["1", "none"])
def test_sigkill_at_a_random_batch_then_resume_is_bit_identical(tmp_path, every):
    """A run killed with SIGKILL at a random batch (possibly during a checkpoint write) and
    resumed ends with the same weights, optimizer state, generators and History, bit for
    bit, as an uninterrupted run."""
    batches = 4 * 15
    seed = random.SystemRandom().randrange(2**32)
    kill_at = random.Random(seed).randrange(16 if every == "none" else 3, batches - 2)
    ref, _, ref_out = _child(tmp_path, "ref", every, 0.0)
    victim, ckpt, _ = _child(tmp_path, "victim", every, 0.01)
    seen = -1
    for line in victim.stdout:
        if line.startswith("batch"):
            e, b = map(int, line.split()[1:])
            seen = e * 15 + b
            if seen >= kill_at:
                victim.send_signal(signal.SIGKILL)
                break
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL, (seed, victim.stderr.read())
    assert os.path.exists(ckpt), f"no checkpoint after batch {seen} (seed {seed})"
    like_the_child = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3),
                                   nn.BatchNorm1d(32), nn.Linear(32, 4), nn.Dropout(0.1, rng=7))
    saved = nn.load_checkpoint(like_the_child, ckpt, restore_rng=False)
    assert saved.epoch < 4
    resumed, _, out = _child(tmp_path, "resumed", every, 0.0, resume_path=ckpt)
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert "done" in stdout
    ref_stdout, ref_stderr = ref.communicate(timeout=120)
    assert ref.returncode == 0, ref_stderr
    a, meta_a = _final_state(ref_out)
    b, meta_b = _final_state(out)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{k} differs (kill at batch {seen}, seed {seed})"
    assert meta_a["history"] == meta_b["history"]
    assert meta_a["rng"] == meta_b["rng"]
    # nothing is left but the checkpoint itself and perhaps the temporary file of a save
    # that the kill interrupted (never renamed, so never read)
    leftovers = [f for f in os.listdir(tmp_path) if f.startswith(".victim")]
    assert len(leftovers) <= 1


def test_checkpoint_folder_is_created_and_file_is_a_zip(tmp_path):
    path = tmp_path / "sub" / "dir" / "c.npz"
    nn.save_checkpoint(make_model(), path)
    assert zipfile.is_zipfile(path)


def test_model_and_checkpoint_paths_expand_the_home_folder(tmp_path, monkeypatch):
    """``nn.save("~/m.npz")`` writes into the home folder, like every path argument of nn."""
    monkeypatch.setenv("HOME", str(tmp_path))
    model = nn.Sequential(nn.Linear(3, 2, rng=np.random.default_rng(0)))
    opt = optim.SGD(model.parameters(), lr=0.1)
    written = nn.save(model, "~/m.npz")
    assert written == str(tmp_path / "m.npz") and (tmp_path / "m.npz").is_file()
    other = nn.Sequential(nn.Linear(3, 2, rng=np.random.default_rng(1)))
    nn.load(other, "~/m.npz")
    np.testing.assert_array_equal(other[0].weight.data, model[0].weight.data)
    nn.save_checkpoint(model, "~/c.npz", opt)
    assert (tmp_path / "c.npz").is_file()
    nn.load_checkpoint(other, "~/c.npz", opt)
