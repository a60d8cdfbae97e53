"""The training loop: ``fit``, ``evaluate``, ``predict``, ``History`` and callbacks.

One training step is, in order::

    optimizer.zero_grad()
    out  = model.forward(xb)           # train mode: dropout on, batch statistics used
    loss = loss_fn(out, yb)            # a float; the batch mean divides by N here, once
    model.backward(loss_fn.backward()) # accumulates into every Parameter.grad
    optimizer.step()                   # reads Parameter.grad, updates Parameter.data

``fit`` switches the model to train mode for training and to eval mode for validation,
and leaves it in the mode it found it in.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from . import metrics as _metrics
from ._config import get_rng
from .data import iterate_minibatches
from .layer import Layer
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss, Loss

_MAXIMISE = ("acc", "auc", "f1", "precision", "recall")


# ---------------------------------------------------------------------- history
class History:
    """Per-epoch logs: ``history["loss"]``, ``history["val_accuracy"]``, ...; ``epoch`` list."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def plot(self, path: str) -> str:
        """Save loss and metric curves (train and validation) as a PNG; needs matplotlib."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("History.plot needs matplotlib: pip install 'nn-from-scratch[plot]'"
                              ) from exc
        names = [k for k in self.history if not k.startswith("val_") and k != "lr"]
        fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for ax, name in zip(axes[0], names):
            ax.plot(epochs, self.history[name], label=f"train {name}")
            if f"val_{name}" in self.history:
                ax.plot(epochs, self.history[f"val_{name}"], label=f"validation {name}")
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.legend()
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


# ---------------------------------------------------------------------- callbacks
class Callback:
    """Base class. ``fit`` sets ``self.model``, ``self.optimizer`` and ``self.trainer``
    (whose ``stop_training`` flag a callback may set) before ``on_train_begin``."""

    model: Layer
    optimizer: object
    trainer: Trainer

    def on_train_begin(self, logs: dict) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict) -> None: ...
    def on_batch_end(self, batch: int, logs: dict) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...
    def on_train_end(self, logs: dict) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row.

    ``mode="auto"`` maximises names containing acc/auc/f1/precision/recall and minimises
    the rest. With ``restore_best_weights=True`` the weights of the best epoch are put back
    at the end of training, whatever ended it (this callback, the last epoch, another
    callback, or an exception such as KeyboardInterrupt).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if patience < 0 or min_delta < 0:
            raise ValueError("EarlyStopping: patience and min_delta must be >= 0")
        self.monitor = monitor
        self.min_delta = float(min_delta)
        self.patience = int(patience)
        if mode == "auto":
            mode = "max" if any(s in monitor for s in _MAXIMISE) else "min"
        self.mode = mode
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs):
        self.wait = 0
        self.best = -math.inf if self.mode == "max" else math.inf
        self.best_epoch: int | None = None
        self.best_weights: dict | None = None
        self.stopped_epoch: int | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: monitored quantity {self.monitor!r} is not in the logs "
                           f"(available: {sorted(logs)})")
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)


class LearningRateScheduler(Callback):
    """The learning-rate schedule hook of ``fit``, called at the end of every epoch.

    ``schedule`` is either a scheduler object with a ``step()`` method (as in
    ``optim.lr_scheduler``; with ``monitor`` its ``step(logs[monitor])`` is called, for
    ReduceLROnPlateau), or a function ``schedule(epoch, lr) -> new_lr`` applied to every
    parameter group (``epoch`` counts finished epochs, from 1). The learning rate in force
    during each epoch is logged as ``lr``. A schedule that needs a metric
    (``ReduceLROnPlateau``) monitors ``"val_loss"`` unless ``monitor`` says otherwise.
    """

    def __init__(self, schedule, monitor: str | None = None):
        if not (hasattr(schedule, "step") or callable(schedule)):
            raise TypeError("LearningRateScheduler: schedule must have step() or be callable")
        if monitor is None and getattr(schedule, "needs_metric", False):
            monitor = "val_loss"
        self.schedule = schedule
        self.monitor = monitor

    def on_epoch_end(self, epoch, logs):
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        if hasattr(self.schedule, "step"):
            if self.monitor is not None:
                if self.monitor not in logs:
                    raise KeyError(f"LearningRateScheduler: monitored quantity {self.monitor!r}"
                                   f" is not in the logs (available: {sorted(logs)})")
                self.schedule.step(logs[self.monitor])
            else:
                self.schedule.step()
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = float(self.schedule(epoch + 1, group["lr"]))


class Trainer:
    """The state ``fit`` shares with callbacks."""

    def __init__(self, model, optimizer, history):
        self.model, self.optimizer, self.history = model, optimizer, history
        self.stop_training = False


# ---------------------------------------------------------------------- metrics plumbing
def _class_outputs(outputs: np.ndarray, targets: np.ndarray, loss_fn: Loss):
    """(true labels, predicted labels, positive scores or None) from one batch, or None
    when the outputs are not class scores (regression)."""
    t = np.asarray(targets)
    if isinstance(loss_fn, CrossEntropyLoss) or (outputs.ndim >= 2 and outputs.shape[-1] > 1
                                                 and not isinstance(loss_fn, HingeLoss | BCELoss
                                                                    | BCEWithLogitsLoss)):
        C = outputs.shape[-1]
        pred = outputs.reshape(-1, C).argmax(axis=1)
        true = (t.reshape(-1, C).argmax(axis=1) if t.dtype.kind == "f" and t.shape == outputs.shape
                else t.reshape(-1))
        scores = None
        if C == 2:
            z = outputs.reshape(-1, 2)
            scores = z[:, 1] - z[:, 0]
        ignore = getattr(loss_fn, "ignore_index", None)
        if ignore is not None and t.dtype.kind in "iu":
            keep = true != ignore
            pred, true = pred[keep], true[keep]
            scores = None if scores is None else scores[keep]
        if t.dtype.kind == "f" and t.shape != outputs.shape:
            return None
        return true, pred, scores
    if isinstance(loss_fn, HingeLoss) and outputs.shape == t.shape:
        return (t.reshape(-1) > 0).astype(np.int64), (outputs.reshape(-1) > 0).astype(np.int64), \
            outputs.reshape(-1)
    if isinstance(loss_fn, HingeLoss):
        return t.reshape(-1), outputs.argmax(axis=1), None
    if isinstance(loss_fn, BCEWithLogitsLoss | BCELoss):
        threshold = 0.0 if isinstance(loss_fn, BCEWithLogitsLoss) else 0.5
        return (t.reshape(-1) > 0.5).astype(np.int64), \
            (outputs.reshape(-1) > threshold).astype(np.int64), outputs.reshape(-1)
    return None


_METRICS: dict[str, Callable] = {
    "accuracy": lambda t, p, s: _metrics.accuracy(t, p),
    "acc": lambda t, p, s: _metrics.accuracy(t, p),
    "precision": lambda t, p, s: _metrics.precision(t, p, average="macro"),
    "recall": lambda t, p, s: _metrics.recall(t, p, average="macro"),
    "f1": lambda t, p, s: _metrics.f1_score(t, p, average="macro"),
    "auc": lambda t, p, s: _metrics.roc_auc(t, s),
    "roc_auc": lambda t, p, s: _metrics.roc_auc(t, s),
}


class _MetricState:
    """Accumulates a running loss and the labels needed for the epoch's metrics."""

    def __init__(self, names: Sequence[str], loss_fn: Loss):
        for name in names:
            if name not in _METRICS:
                raise ValueError(f"unknown metric {name!r}; available: {sorted(_METRICS)}")
        self.names, self.loss_fn = list(names), loss_fn
        self.loss_sum = self.weight = 0.0
        self.true: list[np.ndarray] = []
        self.pred: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.classy = True

    def update(self, loss: float, outputs: np.ndarray, targets) -> None:
        w = float(getattr(self.loss_fn, "last_count", 1) or 0) \
            if self.loss_fn.reduction == "mean" else 1.0
        self.loss_sum += loss * w
        self.weight += w
        if not self.names or not self.classy:
            return
        got = _class_outputs(outputs, targets, self.loss_fn)
        if got is None:
            self.classy = False
            warnings.warn(f"metrics {self.names} need class outputs; they are not computed for "
                          f"{type(self.loss_fn).__name__} with outputs of shape {outputs.shape}",
                          stacklevel=4)
            return
        true, pred, scores = got
        self.true.append(true)
        self.pred.append(pred)
        if scores is not None:
            self.scores.append(scores)

    def result(self, prefix: str = "") -> dict[str, float]:
        logs = {f"{prefix}loss": self.loss_sum / self.weight if self.weight else 0.0}
        if self.names and self.classy and self.true:
            t, p = np.concatenate(self.true), np.concatenate(self.pred)
            s = np.concatenate(self.scores) if self.scores else None
            for name in self.names:
                if name in ("auc", "roc_auc") and s is None:
                    raise ValueError("the 'auc' metric needs binary outputs")
                logs[f"{prefix}{name}"] = float(_METRICS[name](t, p, s))
        return logs


# ---------------------------------------------------------------------- checks
def _check_data(fn: str, x, y=None) -> int:
    if not hasattr(x, "__len__") or not hasattr(x, "__getitem__"):
        raise TypeError(f"{fn}: x must be an indexable array-like, got {type(x).__name__}")
    n = len(x)
    if n == 0:
        raise ValueError(f"{fn}: x is empty (shape {getattr(x, 'shape', None)})")
    if y is not None and len(y) != n:
        raise ValueError(f"{fn}: x has {n} samples but y has {len(y)} "
                         f"(shapes {getattr(x, 'shape', None)} and {getattr(y, 'shape', None)})")
    return n


def _check_positive_int(fn: str, name: str, value, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
            value < (0 if allow_zero else 1):
        raise ValueError(f"{fn}: {name} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"integer, got {value!r}")
    return int(value)


def _as_model_dtype(xb, dtype):
    xb = np.asarray(xb)
    if dtype is not None and xb.dtype.kind == "f" and xb.dtype != dtype:
        return xb.astype(dtype)
    return xb


def _progress(total: int, desc: str, verbose: int):
    if verbose != 1:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", mininterval=0.1, leave=True,
                file=sys.stderr, dynamic_ncols=True)


def _fmt(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


# ---------------------------------------------------------------------- fit / evaluate / predict
def fit(model: Layer, loss_fn: Loss, optimizer, x_train, y_train, epochs: int = 10,
        batch_size: int = 32, validation_data: tuple | None = None,
        metrics: Sequence[str] = ("accuracy",), shuffle: bool = True, rng=None,
        callbacks: Iterable[Callback] = (), verbose: int = 1) -> History:
    """Train ``model`` with mini-batches; return a :class:`History`.

    Parameters
    ----------
    x_train, y_train : array-like
        Any indexable arrays (``np.memmap`` included), read batch by batch. Floating inputs
        are cast to the model's parameter dtype per batch; integer inputs (token ids) are
        passed as they are.
    validation_data : (x_val, y_val), optional
        Evaluated after every epoch in eval mode; logged as ``val_loss``, ``val_<metric>``.
    metrics : names among accuracy, precision, recall, f1 (macro averages), auc (binary).
    shuffle, rng : the order of samples is reshuffled every epoch from ``rng``
        (``None``: the global generator, see ``nn.manual_seed``).
    callbacks : e.g. :class:`EarlyStopping`, :class:`LearningRateScheduler`.
    verbose : 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
    """
    n = _check_data("fit", x_train, y_train)
    epochs = _check_positive_int("fit", "epochs", epochs, allow_zero=True)
    batch_size = _check_positive_int("fit", "batch_size", batch_size)
    if not isinstance(loss_fn, Loss):
        raise TypeError(f"fit: loss_fn must be an nn loss, got {type(loss_fn).__name__}")
    if validation_data is not None:
        if len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
        _check_data("fit (validation_data)", *validation_data)
    gen = get_rng(rng)
    dtype = model.dtype
    callbacks = list(callbacks)
    history = History()
    trainer = Trainer(model, optimizer, history)
    for cb in callbacks:
        cb.model, cb.optimizer, cb.trainer = model, optimizer, trainer
    was_training = model.training
    old_input_grad = model.set_input_grad(False)  # nothing uses dL/dx_train
    n_batches = -(-n // batch_size)
    logs: dict[str, float] = {}
    try:
        for cb in callbacks:
            cb.on_train_begin(logs)
        for epoch in range(epochs):
            logs = {}
            for cb in callbacks:
                cb.on_epoch_begin(epoch, logs)
            model.train()
            state = _MetricState(metrics, loss_fn)
            bar = _progress(n_batches, f"Epoch {epoch + 1}/{epochs}", verbose)
            start = last = time.perf_counter()
            for b, (xb, yb) in enumerate(iterate_minibatches(x_train, y_train, batch_size,
                                                             shuffle=shuffle, rng=gen)):
                xb = _as_model_dtype(xb, dtype)
                optimizer.zero_grad()
                out = model.forward(xb)
                loss = loss_fn(out, yb)
                model.backward(loss_fn.backward())
                optimizer.step()
                state.update(loss, out, yb)
                for cb in callbacks:
                    cb.on_batch_end(b, {"loss": loss})
                if bar is not None:
                    bar.update(1)
                    now = time.perf_counter()
                    if now - last > 0.2:
                        bar.set_postfix(loss=f"{state.loss_sum / max(state.weight, 1e-12):.4f}",
                                        refresh=False)
                        last = now
            logs.update(state.result())
            if validation_data is not None:
                logs.update(evaluate(model, loss_fn, *validation_data,
                                     batch_size=max(batch_size, 256), metrics=metrics,
                                     prefix="val_"))
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            history.append(epoch, logs)
            if bar is not None:
                bar.set_postfix_str(_fmt(logs), refresh=True)
                bar.close()
            elif verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - {_fmt(logs)} - "
                      f"{time.perf_counter() - start:.1f}s", file=sys.stderr)
            if trainer.stop_training:
                break
    finally:
        model.set_input_grad(old_input_grad)
        for cb in callbacks:
            cb.on_train_end(logs)
        model.train(was_training)
    return history


def evaluate(model: Layer, loss_fn: Loss, x, y, batch_size: int = 256,
             metrics: Sequence[str] = ("accuracy",), prefix: str = "") -> dict[str, float]:
    """Loss and metrics over ``(x, y)`` in eval mode, batch by batch; returns a dict."""
    _check_data("evaluate", x, y)
    batch_size = _check_positive_int("evaluate", "batch_size", batch_size)
    dtype = model.dtype
    was_training = model.training
    model.eval()
    try:
        state = _MetricState(metrics, loss_fn)
        for xb, yb in iterate_minibatches(x, y, batch_size, shuffle=False):
            out = model.forward(_as_model_dtype(xb, dtype))
            state.update(loss_fn(out, yb), out, yb)
    finally:
        model.train(was_training)
    return state.result(prefix)


def predict(model: Layer, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for every sample of ``x`` (eval mode, batch by batch)."""
    _check_data("predict", x)
    batch_size = _check_positive_int("predict", "batch_size", batch_size)
    dtype = model.dtype
    was_training = model.training
    model.eval()
    try:
        outs = [model.forward(_as_model_dtype(xb, dtype))
                for xb in iterate_minibatches(x, None, batch_size, shuffle=False)]
    finally:
        model.train(was_training)
    return np.concatenate(outs, axis=0)
