"""Callbacks: what ``nn.fit`` calls around its loop, and the state it shares with them.

A callback subclasses :class:`Callback` and overrides the hooks it needs. ``fit`` calls,
on every callback in the order of the list::

    on_train_begin(logs)                    once, before the first epoch
    on_epoch_begin(epoch, logs)             epoch counts from 0
    on_batch_end(batch, logs)               after each optimizer step; logs = {"loss": ...}
    on_batch_skipped(batch, logs)           instead, for a batch on_nonfinite="skip_batch" skipped
    on_epoch_end(epoch, logs)               logs = the epoch's loss, metrics, val_*
    on_train_end(logs)                      always, also when an exception ends training

The list is the user's callbacks followed by ``fit``'s own: :class:`History` (records
the logs), the checkpoint writer of ``checkpoint=`` (``nn.checkpoint.BackupAndRestore``)
and :class:`ProgressBar` (``verbose``). So a user's ``on_epoch_end`` may add to the logs
(``LearningRateScheduler`` adds ``lr``) and the History, the checkpoint and the printed
line all see it. Every callback can read ``self.model``, ``self.optimizer`` and
``self.trainer`` (:class:`Trainer`: where training is; set ``stop_training`` to stop).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ._running_metrics import RunningMetrics
from .data import batch_indices
from .layer import Layer
from .losses import Loss

_MAXIMISE = ("acc", "auc", "f1", "precision", "recall")


class Callback:
    """Base class. ``fit`` sets ``self.model``, ``self.optimizer`` and ``self.trainer``
    (whose ``stop_training`` flag a callback may set) before ``on_train_begin``."""

    model: Layer
    optimizer: Any  # what fit was given: step() and zero_grad() (an optim.Optimizer)
    trainer: Trainer

    def on_train_begin(self, logs: dict) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict) -> None: ...
    def on_batch_end(self, batch: int, logs: dict) -> None: ...
    def on_batch_skipped(self, batch: int, logs: dict) -> None: ...
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


class CallbackList:
    """Calls each hook on every callback, in the order of the list."""

    def __init__(self, callbacks: Iterable[Callback], model: Layer, optimizer,
                 trainer: Trainer):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.model, cb.optimizer, cb.trainer = model, optimizer, trainer

    def on_train_begin(self, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_batch_end(self, batch: int, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs)

    def on_batch_skipped(self, batch: int, logs: dict) -> None:
        for cb in self.callbacks:
            hook = getattr(cb, "on_batch_skipped", None)  # optional for duck-typed callbacks
            if hook is not None:
                hook(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)


class Trainer:
    """Where training is: the state ``fit`` shares with callbacks.

    Set by ``fit``: ``model``, ``optimizer``, ``history``, ``callbacks`` (the user's),
    ``epochs`` (the total), ``n`` (samples), ``batch_size``, ``n_batches``, ``shuffle``,
    ``rng`` (the generator of the sample order).

    Position: ``epoch``, ``batch`` (0-based, the batch being trained), ``first_batch``
    (where this epoch starts: 0, or where a resumed run left it), ``order`` (this epoch's
    sample order, ``None`` without shuffling), ``metrics`` (this epoch's running loss and
    metrics, a ``RunningMetrics``); ``start_epoch``, ``start_batch``: where this call of
    ``fit`` starts (0, 0 unless resumed).

    ``stop_training``: set it to end training after the current epoch.
    ``skipped_batches``: ``(epoch, batch)`` of every batch skipped by
    ``on_nonfinite="skip_batch"``.
    """

    def __init__(self, model: Layer, optimizer, history: History, *, loss_fn: Loss,
                 epochs: int, n: int, batch_size: int, rng: np.random.Generator,
                 shuffle: bool = True, metrics: Sequence[str] = (),
                 callbacks: Iterable[Callback] = ()):
        self.model, self.optimizer, self.history = model, optimizer, history
        self.callbacks = list(callbacks)
        self.epochs, self.n, self.batch_size = epochs, n, batch_size
        self.n_batches = -(-n // batch_size)
        self.shuffle, self.rng = shuffle, rng
        self.metric_names, self.loss_fn = list(metrics), loss_fn
        self.stop_training = False
        self.skipped_batches: list[tuple[int, int]] = []
        self.epoch = self.batch = self.first_batch = 0
        self.order: np.ndarray | None = None
        self.metrics = RunningMetrics(self.metric_names, loss_fn)
        self.start_epoch, self.start_batch = 0, 0
        self._resumed_metrics: dict | None = None
        self._skipped_before = 0

    def resume_at(self, epoch: int, batch: int, order: np.ndarray | None,
                  metrics: dict | None) -> None:
        """Continue from ``epoch``, ``batch``; mid-epoch (``batch > 0``) with that epoch's
        sample ``order`` and running ``metrics`` (a ``RunningMetrics.snapshot()``)."""
        self.start_epoch, self.start_batch = epoch, batch
        self.order, self._resumed_metrics = (order, metrics) if batch else (None, None)

    def epochs_to_run(self) -> Iterator[int]:
        """The epochs still to train, until ``stop_training`` is set."""
        for epoch in range(self.start_epoch, self.epochs):
            if self.stop_training:
                return
            self.epoch = epoch
            self.first_batch = self.start_batch if epoch == self.start_epoch else 0
            yield epoch
            self.order = None  # the epoch is over: its arrays can go
            self.metrics = RunningMetrics(self.metric_names, self.loss_fn)

    def batches(self) -> Iterator[tuple[int, np.ndarray | slice]]:
        """``(batch, rows)`` of this epoch: draws its sample order (or takes the resumed
        one) and starts its running metrics."""
        self.metrics = RunningMetrics(self.metric_names, self.loss_fn)
        if self.first_batch and self._resumed_metrics is not None:
            self.metrics.restore(self._resumed_metrics)
        else:
            self.order = self.rng.permutation(self.n) if self.shuffle else None
        self._skipped_before = len(self.skipped_batches)
        rows = batch_indices(self.n, self.batch_size, self.order, self.first_batch)
        for batch, index in enumerate(rows, start=self.first_batch):
            self.batch = batch
            yield batch, index

    def train_logs(self) -> dict[str, float]:
        """The epoch's training loss and metrics; the loss is NaN when every batch of the
        epoch was skipped."""
        skipped = len(self.skipped_batches) - self._skipped_before
        all_skipped = skipped >= self.n_batches - self.first_batch and not self.metrics.weight
        return self.metrics.result(empty=math.nan if all_skipped else 0.0)


# ---------------------------------------------------------------------- History
class History(Callback):
    """Per-epoch logs: ``history["loss"]``, ``history["val_accuracy"]``, ...; ``epoch`` list.

    ``fit`` returns one, having recorded every epoch's logs in ``on_epoch_end``.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.append(epoch, logs)

    def plot(self, path: str) -> str:
        """Save loss and metric curves (train and validation) as a PNG; needs matplotlib."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("History.plot needs matplotlib: pip install 'readable-nn[plot]'"
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


# ---------------------------------------------------------------------- the user's callbacks
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


# ---------------------------------------------------------------------- progress
def format_logs(logs: dict[str, float]) -> str:
    """``"loss: 0.1234 - accuracy: 0.9500"``."""
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class ProgressBar(Callback):
    """What ``fit(verbose=...)`` prints to stderr (Keras's ProgbarLogger).

    ``verbose=1``: a tqdm bar per epoch, the running loss as its postfix (at most every
    0.2 s) and the epoch's logs when it closes. ``verbose=2``: one line per epoch,
    ``Epoch 3/10 - loss: ... - 1.2s``.
    """

    def __init__(self, verbose: int = 1):
        self.verbose = verbose
        self.bar = None

    def on_epoch_begin(self, epoch, logs):
        self.start = self.last = time.perf_counter()
        if self.verbose == 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.trainer.n_batches, desc=f"Epoch {epoch + 1}/"
                            f"{self.trainer.epochs}", unit="batch", mininterval=0.1,
                            leave=True, file=sys.stderr, dynamic_ncols=True,
                            initial=self.trainer.first_batch)

    def on_batch_end(self, batch, logs):
        if self.bar is None:
            return
        self.bar.update(1)
        now, running = time.perf_counter(), self.trainer.metrics
        if now - self.last > 0.2 and running.weight:
            self.bar.set_postfix(loss=f"{running.loss():.4f}", refresh=False)
            self.last = now

    def on_batch_skipped(self, batch, logs):
        self.on_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs):
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=True)
            self.on_train_end(logs)
        elif self.verbose == 2:
            print(f"Epoch {epoch + 1}/{self.trainer.epochs} - {format_logs(logs)} - "
                  f"{time.perf_counter() - self.start:.1f}s", file=sys.stderr)

    def on_train_end(self, logs):
        if self.bar is not None:  # closes the bar of an epoch an exception ended
            self.bar.close()
            self.bar = None
