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
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from . import metrics as _metrics
from ._config import get_rng, global_rng
from .data import _indexable, batch_indices, iterate_minibatches
from .layer import Layer
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss, Loss
from .serialization import CheckpointError

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

    def state_dict(self):
        """What a checkpoint must hold to resume this callback (``None``: nothing).

        ``nn.fit(checkpoint=...)`` stores it (arrays, numbers, strings, lists, dicts) and
        ``load_state_dict`` gets it back after ``on_train_begin`` when resuming. A callback
        that keeps state across epochs should implement both.
        """
        return None

    def load_state_dict(self, state) -> None:
        """Restore what :meth:`state_dict` returned."""


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

    _STATE = ("wait", "best", "best_epoch", "best_weights", "stopped_epoch")

    def state_dict(self):
        return {k: getattr(self, k, None) for k in self._STATE}

    def load_state_dict(self, state) -> None:
        for k in self._STATE:
            setattr(self, k, state[k])


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

    def state_dict(self):
        """The schedule's own state (a scheduler object's ``state_dict()``), if it has one."""
        if hasattr(self.schedule, "state_dict"):
            return {"schedule": self.schedule.state_dict()}
        return None

    def load_state_dict(self, state) -> None:
        if state is not None:
            self.schedule.load_state_dict(state["schedule"])


class Trainer:
    """The state ``fit`` shares with callbacks.

    ``stop_training``: set it to end training after the current epoch.
    ``skipped_batches``: ``(epoch, batch)`` of every batch skipped by
    ``on_nonfinite="skip_batch"``.
    """

    def __init__(self, model, optimizer, history):
        self.model, self.optimizer, self.history = model, optimizer, history
        self.stop_training = False
        self.skipped_batches: list[tuple[int, int]] = []


class NonFiniteError(FloatingPointError):
    """``nn.fit`` met a NaN or infinite loss or gradient (or a floating-point error).

    A ``FloatingPointError`` (hence an ``ArithmeticError``), like the errors NumPy raises
    under ``np.errstate(all="raise")``. Attributes: ``epoch`` and ``batch`` (0-based),
    ``layer`` (the dotted name of the first layer whose output or gradient went non-finite,
    ``None`` when it is the input data or the loss), ``where`` (``"input"``, ``"output"``,
    ``"loss"``, ``"loss gradient"``, ``"parameter gradient"``, ``"input gradient"`` or
    ``"unknown"``). The model keeps the weights it had before the failing batch.
    """

    def __init__(self, message: str, *, epoch: int, batch: int, layer: str | None = None,
                 where: str = "unknown"):
        super().__init__(message)
        self.epoch, self.batch, self.layer, self.where = epoch, batch, layer, where


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
    """Accumulates the running loss and what the epoch's metrics need.

    Accuracy, precision, recall and F1 are all functions of the confusion matrix, so that
    is what is kept: memory O(classes²), not O(samples), whatever the dataset size. Only
    the AUC needs every sample's score and label; they are kept when it is asked for.
    """

    def __init__(self, names: Sequence[str], loss_fn: Loss):
        for name in names:
            if name not in _METRICS:
                raise ValueError(f"unknown metric {name!r}; available: {sorted(_METRICS)}")
        self.names, self.loss_fn = list(names), loss_fn
        self.loss_sum = self.weight = 0.0
        self.seen = False                      # a batch with class outputs was counted
        self.confusion: np.ndarray | None = None
        self.needs_scores = any(n in ("auc", "roc_auc") for n in self.names)
        self.true: list[np.ndarray] = []       # only with an AUC metric
        self.scores: list[np.ndarray] = []
        self.classy = True

    def update(self, loss: float, outputs: np.ndarray, targets) -> None:
        # "mean": weighted by the elements that counted, so the result is the mean over the
        # whole data; "sum": the sum over the whole data. Either way, the value the loss
        # gives on all the data at once, whatever the batch size.
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
        self.seen = True
        if true.size:
            self._add(_metrics.confusion_matrix(true, pred))
        if self.needs_scores:
            self.true.append(true)
            if scores is not None:
                self.scores.append(scores)

    def loss(self, empty: float = 0.0) -> float:
        """The loss so far: the mean over the counted elements ("mean") or the total
        ("sum")."""
        if not self.weight:
            return empty
        return self.loss_sum / self.weight if self.loss_fn.reduction == "mean" \
            else self.loss_sum

    def _add(self, m: np.ndarray) -> None:
        old = self.confusion
        if old is None:
            self.confusion = m.copy()
            return
        if len(m) > len(old):
            self.confusion = np.zeros_like(m)
            self.confusion[:len(old), :len(old)] = old
        self.confusion[:len(m), :len(m)] += m

    def snapshot(self) -> dict:
        """Everything accumulated so far (for a mid-epoch checkpoint)."""
        def cat(parts):
            return np.concatenate(parts) if parts else None

        return {"loss_sum": self.loss_sum, "weight": self.weight, "classy": self.classy,
                "seen": self.seen, "confusion": self.confusion, "true": cat(self.true),
                "scores": cat(self.scores)}

    def restore(self, snap: dict) -> None:
        self.loss_sum, self.weight = float(snap["loss_sum"]), float(snap["weight"])
        self.classy, self.seen = bool(snap["classy"]), bool(snap["seen"])
        self.confusion = snap["confusion"]
        self.true, self.scores = ([] if snap[k] is None else [snap[k]] for k in ("true", "scores"))

    def _from_confusion(self, name: str) -> float:
        """accuracy / macro precision, recall, F1 exactly as nn.metrics computes them."""
        M = self.confusion
        if name in ("accuracy", "acc"):
            return float(np.trace(M)) / float(M.sum())
        tp = np.diag(M)
        fp, fn_ = M.sum(axis=0) - tp, M.sum(axis=1) - tp
        present = (M.sum(axis=1) > 0) | (M.sum(axis=0) > 0)
        num, den = {"precision": (tp, tp + fp), "recall": (tp, tp + fn_),
                    "f1": (2 * tp, 2 * tp + fp + fn_)}[name]
        return float(_metrics._safe_div(num, den)[present].mean())

    def result(self, prefix: str = "", empty: float = 0.0) -> dict[str, float]:
        logs = {f"{prefix}loss": self.loss(empty)}
        if self.names and self.classy and self.seen:
            t = np.concatenate(self.true) if self.true else np.zeros(0, np.int64)
            s = np.concatenate(self.scores) if self.scores else None
            for name in self.names:
                if name in ("auc", "roc_auc"):
                    if s is None:
                        raise ValueError("the 'auc' metric needs binary outputs")
                    logs[f"{prefix}{name}"] = float(_METRICS[name](t, None, s))
                elif self.confusion is None:  # every position ignored: as nn.metrics does
                    empty_labels = np.zeros(0, np.int64)
                    logs[f"{prefix}{name}"] = float(_METRICS[name](empty_labels, empty_labels,
                                                                   None))
                else:
                    logs[f"{prefix}{name}"] = self._from_confusion(name)
        return logs


# ---------------------------------------------------------------------- checks
def _check_data(fn: str, x, y=None) -> int:
    for name, a in (("x", x), ("y", y)):
        if a is None and name == "y":
            continue
        if isinstance(a, (str, bytes, dict)) or not hasattr(a, "__len__") \
                or not hasattr(a, "__getitem__"):
            raise TypeError(f"{fn}: {name} must be an indexable array-like (ndarray, memmap, "
                            f"list, ...), got {type(a).__name__}")
        if getattr(a, "shape", None) == ():
            raise ValueError(f"{fn}: {name} must have a sample axis, got a 0-d array")
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


def _check_metrics(fn: str, metrics, loss_fn: Loss) -> list[str]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    if metrics is None:
        metrics = ()
    try:
        metrics = list(metrics)
    except TypeError:
        raise TypeError(f"{fn}: metrics must be a sequence of metric names, got "
                        f"{type(metrics).__name__}") from None
    for m in metrics:
        if not isinstance(m, str):
            raise TypeError(f"{fn}: metrics must be names (str), got {m!r}")
    _MetricState(metrics, loss_fn)  # unknown names: ValueError listing the available ones
    return metrics


def _check_verbose(fn: str, verbose) -> int:
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"{fn}: verbose must be 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _as_model_dtype(xb, dtype):
    xb = np.asarray(xb)
    if dtype is not None and xb.dtype.kind == "f" and xb.dtype != dtype:
        return xb.astype(dtype)
    return xb


def _progress(total: int, desc: str, verbose: int, initial: int = 0):
    if verbose != 1:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", mininterval=0.1, leave=True,
                file=sys.stderr, dynamic_ncols=True, initial=initial)


def _fmt(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


# ---------------------------------------------------------------------- non-finite guard
def _finite(a) -> bool:
    return not isinstance(a, np.ndarray) or a.dtype.kind not in "fc" or bool(np.isfinite(a).all())


def _units(model: Layer, prefix: str = ""):
    """``(dotted name, layer)`` for the chain of layers ``model`` applies in order: the
    leaves of (nested) Sequentials, or the model itself when it is not a Sequential."""
    from .layers.container import Sequential

    if isinstance(model, Sequential):
        for i, layer in enumerate(model):
            yield from _units(layer, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, model


def _describe(name: str, layer: Layer) -> str:
    return f"layer {name!r} ({layer.label()})" if name else f"the model ({layer.label()})"


class _Guard:
    """The non-finite guard of ``fit``.

    Normal path, per batch: ``math.isfinite(loss)``, one ``np.isfinite(g).all()`` per
    trainable parameter's gradient, a copy of the (small) floating buffers, and, when a
    layer holds a random generator, its state. Only after a detection does it re-run the
    batch layer by layer to find the first non-finite output or gradient.
    """

    def __init__(self, model: Layer, loss_fn: Loss):
        from .checkpoint import model_generators

        self.model, self.loss_fn = model, loss_fn
        self.params = [p for p in model.parameters() if p.requires_grad]
        self._plan: list[np.ndarray] | None = None
        self._plan_grads: list[np.ndarray] = []
        self.buffers = [(layer, name) for layer in model.modules()
                        for name in layer._buffer_names
                        if layer.__dict__[name].dtype.kind == "f"]
        uses_global = any(v is global_rng() for m in model.modules() for v in vars(m).values())
        self.gens = list(model_generators(model).values()) + ([global_rng()] if uses_global
                                                              else [])

    def snapshot(self):
        bufs = [layer.__dict__[name].copy() for layer, name in self.buffers] \
            if self.buffers else None
        states = [g.bit_generator.state for g in self.gens] if self.gens else None
        return bufs, states

    def grads_finite(self) -> bool:
        """All trainable gradients finite? One ``np.isfinite(...).all()`` per contiguous
        buffer: the optimizer packs the gradients into flat buffers, and a buffer whose
        every element is some parameter's gradient is checked in one pass."""
        fresh = self._plan is None
        for p, g in zip(self.params, self._plan_grads):
            # grad_view applies a deferred zero fill, so the memory holds the zeros
            fresh = fresh or p.grad_view() is not g
        if fresh:
            grads = [p.grad_view() for p in self.params]
            self._plan, self._plan_grads = self._make_plan(grads), grads
        for a in self._plan:
            if not np.isfinite(a).all():
                return False
        return True

    @staticmethod
    def _make_plan(grads: list[np.ndarray]) -> list[np.ndarray]:
        by_owner: dict[int, list[np.ndarray]] = {}
        owners: dict[int, np.ndarray] = {}
        for g in grads:
            base = g.base
            if isinstance(base, np.ndarray) and base.ndim == 1 and base.flags.c_contiguous:
                by_owner.setdefault(id(base), []).append(g)
                owners[id(base)] = base
            else:
                by_owner.setdefault(id(g), []).append(g)
                owners[id(g)] = g
        plan = []
        for key, members in by_owner.items():
            owner = owners[key]
            if owner is not members[0] and sum(g.size for g in members) == owner.size:
                plan.append(owner)   # the parameters' gradients tile the buffer
            else:
                plan.extend(members)
        return plan

    def locate(self, snap, xb, yb, rows) -> tuple[str, str | None, str]:
        """Re-run the batch layer by layer with the same random draws; return
        ``(where, layer name, description)``, then put the model's buffers and the
        generators back as they were before this batch / after its draws."""
        bufs, states = snap
        after = [g.bit_generator.state for g in self.gens]
        try:
            if states is not None:
                for g, st in zip(self.gens, states):
                    g.bit_generator.state = st
            return self._locate(xb, yb, rows)
        except Exception as exc:  # the diagnosis must never hide the original problem
            return "unknown", None, f"(re-running the batch raised {type(exc).__name__}: {exc})"
        finally:
            if bufs is not None:
                for (layer, name), saved in zip(self.buffers, bufs):
                    object.__setattr__(layer, name, saved)
            for g, st in zip(self.gens, after):
                g.bit_generator.state = st
            self.model.zero_grad()

    def _locate(self, xb, yb, rows):
        if not _finite(xb):
            bad = ~np.isfinite(xb.reshape(len(xb), -1)).all(axis=1)
            where = np.asarray(rows)[bad] if not isinstance(rows, slice) else \
                np.arange(rows.start, rows.stop)[bad]
            return "input", None, (f"the input batch x contains NaN or inf (dataset rows "
                                   f"{where[:5].tolist()}{' ...' if len(where) > 5 else ''})")
        units = list(_units(self.model))
        a = xb
        for name, layer in units:
            try:
                a = layer.forward(a)
            except FloatingPointError as exc:
                return "output", name, f"the forward pass of {_describe(name, layer)} raised " \
                                       f"FloatingPointError ({exc})"
            if not _finite(a):
                return "output", name, f"the output of {_describe(name, layer)} is non-finite " \
                                       "(its input was finite)"
        loss_name = type(self.loss_fn).__name__
        try:
            loss = self.loss_fn(a, yb)
        except FloatingPointError as exc:
            return "loss", None, f"{loss_name} raised FloatingPointError ({exc})"
        if not math.isfinite(loss):
            return "loss", None, f"{loss_name} is {loss} although the model's output is finite"
        self.model.zero_grad()
        g = self.loss_fn.backward()
        if not _finite(g):
            return "loss gradient", None, f"the gradient of {loss_name} is non-finite"
        for name, layer in reversed(units):
            if g is None:
                break
            try:
                g = layer.backward(g)
            except FloatingPointError as exc:
                return "input gradient", name, f"the backward pass of {_describe(name, layer)} " \
                                               f"raised FloatingPointError ({exc})"
            for pname, p in layer.named_parameters():
                if p.requires_grad and not _finite(p.grad_view()):
                    full = f"{name}.{pname}" if name else pname
                    return "parameter gradient", name, (f"the gradient of parameter {full!r} of "
                                                        f"{_describe(name, layer)} is non-finite")
            if not _finite(g):
                return "input gradient", name, f"the input gradient returned by " \
                                               f"{_describe(name, layer)} is non-finite"
        return "unknown", None, "the non-finite value did not reappear when the batch was re-run " \
                                "layer by layer"


# ---------------------------------------------------------------------- checkpoints in fit
_SHUFFLE_GEN = "fit.shuffle"


def _fit_resume(path, model, optimizer, callbacks, gen, n, batch_size, shuffle, history,
                trainer, verbose):
    """Restore a checkpoint written by ``fit``; return ``(epoch, batch, order, metric
    snapshot)`` to continue from. All-or-nothing (see nn.checkpoint.restore)."""
    from .checkpoint import _check_structure, restore

    what = "nn.fit(resume=True)"
    out = {}

    def check(meta, arrays):
        f = meta.get("fit")
        if not isinstance(f, dict):
            raise CheckpointError(f"{what}: {path} was not written by nn.fit (it has no "
                                  "training-loop state); use nn.load_checkpoint")
        for key, value in (("n", n), ("batch_size", batch_size), ("shuffle", bool(shuffle))):
            if f.get(key) != value:
                raise CheckpointError(f"{what}: {path} was written with {key}={f.get(key)!r}, "
                                      f"this call has {key}={value!r}")
        order = f.get("order")
        if shuffle and f["batch"] and (not isinstance(order, np.ndarray) or order.shape != (n,)):
            raise CheckpointError(f"{what}: {path} has no valid sample order for epoch "
                                  f"{f['epoch']}")
        saved_cbs = f.get("callbacks", [])
        stateful = [cb for cb in callbacks if cb.state_dict() is not None]
        if [c["class"] for c in saved_cbs] != [type(cb).__name__ for cb in stateful]:
            raise CheckpointError(f"{what}: {path} holds the state of the callbacks "
                                  f"{[c['class'] for c in saved_cbs]}, this call has the "
                                  f"stateful callbacks {[type(cb).__name__ for cb in stateful]}")
        for i, (cb, saved) in enumerate(zip(stateful, saved_cbs)):
            if saved["class"] != type(cb).__name__:
                raise CheckpointError(f"{what}: {path}: callback {i} was a {saved['class']}, "
                                      f"now a {type(cb).__name__}")
            _check_structure(saved["state"], cb.state_dict(), f"{what}: {path}: callback {i}")
        from .checkpoint import _history_from

        try:
            saved_history = _history_from(meta.get("history"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{what}: {path}: malformed history ({exc!r})") from exc

        def apply():
            for cb, saved in zip(stateful, saved_cbs):
                cb.load_state_dict(saved["state"])
            if saved_history is not None:
                history.history, history.epoch = saved_history.history, saved_history.epoch
            trainer.stop_training = bool(f.get("stopped", False))
            trainer.skipped_batches = [tuple(b) for b in f.get("skipped", [])]
            out.update(f)

        return apply

    restore(path, model, optimizer, generators={_SHUFFLE_GEN: gen}, what=what, check=check)
    if verbose:
        print(f"Resumed from {path} at epoch {out['epoch'] + 1}, batch {out['batch']}",
              file=sys.stderr)
    order = out.get("order") if out["batch"] else None
    return int(out["epoch"]), int(out["batch"]), order, out.get("metric_state")


# ---------------------------------------------------------------------- fit / evaluate / predict
def fit(model: Layer, loss_fn: Loss, optimizer, x_train, y_train, epochs: int = 10,
        batch_size: int = 32, validation_data: tuple | None = None,
        metrics: Sequence[str] = ("accuracy",), shuffle: bool = True, rng=None,
        callbacks: Iterable[Callback] = (), verbose: int = 1, *,
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        checkpoint_every: int | None = None, on_nonfinite: str = "raise") -> History:
    """Train ``model`` with mini-batches; return a :class:`History`.

    The logged ``loss`` of an epoch is over all its samples, whatever the batch size: the
    mean over every counted element with ``reduction="mean"`` (batches weighted by their
    counts), the total with ``"sum"`` (the training loss with the weights of each batch's
    own step; ``val_loss`` with the epoch's final weights).

    Parameters
    ----------
    x_train, y_train : array-like
        Any indexable arrays (``np.memmap`` included), read batch by batch: only one batch
        is in memory at a time. Floating inputs are cast to the model's parameter dtype per
        batch; integer inputs (token ids) are passed as they are.
    epochs : the total number of epochs (a resumed run continues up to it).
    validation_data : (x_val, y_val), optional
        Evaluated after every epoch in eval mode; logged as ``val_loss``, ``val_<metric>``.
    metrics : names among accuracy, precision, recall, f1 (macro averages), auc (binary).
    shuffle, rng : the order of samples is reshuffled every epoch from ``rng``
        (``None``: the global generator, see ``nn.manual_seed``).
    callbacks : e.g. :class:`EarlyStopping`, :class:`LearningRateScheduler`.
    verbose : 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
    checkpoint : path, optional
        Write a checkpoint there (atomically) at the end of every epoch, and every
        ``checkpoint_every`` batches if given: model, optimizer, random generators (global,
        shuffling, the layers' own), History, callback states (scheduler, early stopping)
        and, mid-epoch, the epoch's sample order, the batch reached and the running metrics.
    resume : bool
        With ``checkpoint``: if the file exists, restore it and continue where it stopped.
        The final weights are bit-identical to those of an uninterrupted run.
    on_nonfinite : "raise" or "skip_batch"
        A NaN/inf loss or gradient (or a floating-point error raised under
        ``np.errstate``) stops training with :class:`NonFiniteError` naming the epoch, the
        batch and the first layer whose output or gradient went non-finite, the model left
        at its weights from before that batch; ``"skip_batch"`` warns, restores the
        layers' buffers, skips the update and carries on.
    """
    fn = "fit"
    if not isinstance(model, Layer):
        raise TypeError(f"fit: model must be an nn.Layer, got {type(model).__name__}")
    n = _check_data(fn, x_train, y_train)
    epochs = _check_positive_int(fn, "epochs", epochs, allow_zero=True)
    batch_size = _check_positive_int(fn, "batch_size", batch_size)
    if not isinstance(loss_fn, Loss):
        raise TypeError(f"fit: loss_fn must be an nn loss, got {type(loss_fn).__name__}")
    if not (callable(getattr(optimizer, "step", None))
            and callable(getattr(optimizer, "zero_grad", None))):
        raise TypeError(f"fit: optimizer must have step() and zero_grad() (an optim "
                        f"optimizer), got {type(optimizer).__name__}")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
        _check_data("fit (validation_data)", *validation_data)
    metrics = _check_metrics(fn, metrics, loss_fn)
    verbose = _check_verbose(fn, verbose)
    if on_nonfinite not in ("raise", "skip_batch"):
        raise ValueError(f"fit: on_nonfinite must be 'raise' or 'skip_batch', got "
                         f"{on_nonfinite!r}")
    if checkpoint is None and (resume or checkpoint_every is not None):
        raise ValueError("fit: resume and checkpoint_every need checkpoint=PATH")
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"fit: checkpoint must be a path, got {type(checkpoint).__name__}")
    if checkpoint_every is not None:
        checkpoint_every = _check_positive_int(fn, "checkpoint_every", checkpoint_every)
    if callbacks is None:
        callbacks = ()
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"fit: callbacks must be a list of nn.Callback, got "
                        f"{type(callbacks).__name__}")
    callbacks = list(callbacks)
    for cb in callbacks:
        missing = [m for m in ("on_train_begin", "on_epoch_begin", "on_batch_end",
                               "on_epoch_end", "on_train_end", "state_dict")
                   if not callable(getattr(cb, m, None))]
        if missing:
            raise TypeError(f"fit: callbacks must be nn.Callback instances; "
                            f"{type(cb).__name__} lacks {missing}")
    x_train = _indexable(fn, "x_train", x_train)
    y_train = _indexable(fn, "y_train", y_train)
    gen = get_rng(rng)
    dtype = model.dtype
    history = History()
    trainer = Trainer(model, optimizer, history)
    for cb in callbacks:
        cb.model, cb.optimizer, cb.trainer = model, optimizer, trainer
    guard = _Guard(model, loss_fn)
    was_training = model.training
    old_input_grad = model.set_input_grad(False)  # nothing uses dL/dx_train
    n_batches = -(-n // batch_size)
    logs: dict[str, float] = {}

    def save(epoch_next: int, batch_next: int, order, state) -> None:
        from .checkpoint import write_checkpoint

        mid = batch_next > 0
        write_checkpoint(
            checkpoint, model, optimizer, epoch=epoch_next, history=history,
            generators={_SHUFFLE_GEN: gen},
            fit={"epoch": epoch_next, "batch": batch_next, "epochs": epochs, "n": n,
                 "batch_size": batch_size, "shuffle": bool(shuffle),
                 "order": order if mid else None,
                 "metric_state": state.snapshot() if mid else None,
                 "stopped": bool(trainer.stop_training),
                 "skipped": [list(b) for b in trainer.skipped_batches],
                 "callbacks": [{"class": type(cb).__name__, "state": st} for cb in callbacks
                               if (st := cb.state_dict()) is not None]})

    bar = None
    try:
        for cb in callbacks:
            cb.on_train_begin(logs)
        start_epoch, start_batch, saved_order, saved_metrics = 0, 0, None, None
        if checkpoint is not None and resume and os.path.exists(checkpoint):
            start_epoch, start_batch, saved_order, saved_metrics = _fit_resume(
                checkpoint, model, optimizer, callbacks, gen, n, batch_size, shuffle, history,
                trainer, verbose)
        for epoch in range(start_epoch, epochs):
            if trainer.stop_training:
                break
            logs = {}
            for cb in callbacks:
                cb.on_epoch_begin(epoch, logs)
            model.train()
            state = _MetricState(metrics, loss_fn)
            first = 0
            if epoch == start_epoch and start_batch:
                first, order = start_batch, saved_order
                state.restore(saved_metrics)
            else:
                order = gen.permutation(n) if shuffle else None
            bar = _progress(n_batches, f"Epoch {epoch + 1}/{epochs}", verbose, first)
            start = last = time.perf_counter()
            skipped_before = len(trainer.skipped_batches)
            for b, index in enumerate(batch_indices(n, batch_size, order, first), start=first):
                xb = _as_model_dtype(x_train[index], dtype)
                yb = np.asarray(y_train[index])
                snap = guard.snapshot()
                optimizer.zero_grad()
                problem = None
                try:
                    out = model.forward(xb)
                    loss = loss_fn(out, yb)
                    ok = math.isfinite(loss)
                    if ok:
                        model.backward(loss_fn.backward())
                        ok = guard.grads_finite()
                except FloatingPointError as exc:
                    if "underflow" in str(exc):
                        raise
                    ok, problem = False, exc
                if not ok:
                    where, layer, text = guard.locate(snap, xb, yb, index)
                    what = (f"floating-point error ({problem})" if problem is not None
                            else f"non-finite loss ({loss})" if not math.isfinite(loss)
                            else "non-finite gradient")
                    message = (f"nn.fit: {what} in epoch {epoch}, batch {b} (0-based): first "
                               f"non-finite value: {text}")
                    if on_nonfinite == "raise":
                        raise NonFiniteError(
                            message + "; the model keeps its weights from before this batch",
                            epoch=epoch, batch=b, layer=layer, where=where) from problem
                    trainer.skipped_batches.append((epoch, b))
                    warnings.warn(message + "; batch skipped", RuntimeWarning, stacklevel=2)
                else:
                    optimizer.step()
                    state.update(loss, out, yb)
                    for cb in callbacks:
                        cb.on_batch_end(b, {"loss": loss})
                if checkpoint is not None and checkpoint_every is not None \
                        and (b + 1) % checkpoint_every == 0 and b + 1 < n_batches:
                    save(epoch, b + 1, order, state)
                if bar is not None:
                    bar.update(1)
                    now = time.perf_counter()
                    if now - last > 0.2 and state.weight:
                        bar.set_postfix(loss=f"{state.loss():.4f}",
                                        refresh=False)
                        last = now
            all_skipped = len(trainer.skipped_batches) - skipped_before >= n_batches - first \
                and not state.weight
            logs.update(state.result(empty=math.nan if all_skipped else 0.0))
            if validation_data is not None:
                logs.update(evaluate(model, loss_fn, *validation_data,
                                     batch_size=max(batch_size, 256), metrics=metrics,
                                     prefix="val_"))
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            history.append(epoch, logs)
            if checkpoint is not None:
                save(epoch + 1, 0, None, state)
            if bar is not None:
                bar.set_postfix_str(_fmt(logs), refresh=True)
                bar.close()
                bar = None
            elif verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - {_fmt(logs)} - "
                      f"{time.perf_counter() - start:.1f}s", file=sys.stderr)
    finally:
        if bar is not None:  # an exception ended the epoch
            bar.close()
        model.set_input_grad(old_input_grad)
        for cb in callbacks:
            cb.on_train_end(logs)
        model.train(was_training)
    return history


def evaluate(model: Layer, loss_fn: Loss, x, y, batch_size: int = 256,
             metrics: Sequence[str] = ("accuracy",), prefix: str = "") -> dict[str, float]:
    """Loss and metrics over ``(x, y)`` in eval mode, batch by batch; returns a dict.

    ``x``, ``y``: any indexable arrays (``np.memmap`` included); one batch is read at a time.
    The loss is what ``loss_fn`` gives on all of ``(x, y)`` at once, whatever the batch size:
    the mean over every counted element with ``reduction="mean"``, the total with "sum".
    """
    _check_data("evaluate", x, y)
    batch_size = _check_positive_int("evaluate", "batch_size", batch_size)
    if not isinstance(loss_fn, Loss):
        raise TypeError(f"evaluate: loss_fn must be an nn loss, got {type(loss_fn).__name__}")
    metrics = _check_metrics("evaluate", metrics, loss_fn)
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
    """The model's outputs for every sample of ``x`` (eval mode, batch by batch).

    ``x``: any indexable array (``np.memmap`` included); one batch is read at a time, and
    the outputs are written into one preallocated array.
    """
    n = _check_data("predict", x)
    batch_size = _check_positive_int("predict", "batch_size", batch_size)
    dtype = model.dtype
    was_training = model.training
    model.eval()
    result = None
    try:
        lo = 0
        for xb in iterate_minibatches(x, None, batch_size, shuffle=False):
            out = np.asarray(model.forward(_as_model_dtype(xb, dtype)))
            if out.ndim == 0 or len(out) != len(xb):
                raise ValueError(
                    f"predict: the model returned shape {out.shape} for a batch of shape "
                    f"{np.shape(xb)}, not one output per sample (predict takes a batch: "
                    f"for a single sample x, pass x[None])")
            if result is None:
                result = np.empty((n,) + out.shape[1:], dtype=out.dtype)
            result[lo:lo + len(out)] = out
            lo += len(out)
    finally:
        model.train(was_training)
    return result
