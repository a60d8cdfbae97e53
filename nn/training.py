"""The training loop: ``fit``, ``evaluate``, ``predict``.

One training step is, in order::

    optimizer.zero_grad()
    out  = model.forward(xb)           # train mode: dropout on, batch statistics used
    loss = loss_fn(out, yb)            # a float; the batch mean divides by N here, once
    model.backward(loss_fn.backward()) # accumulates into every Parameter.grad
    optimizer.step()                   # reads Parameter.grad, updates Parameter.data

``fit`` runs it for every batch of every epoch and leaves the rest to collaborators:
the callbacks (:mod:`nn.callbacks`: History, the progress bar, the user's; the
checkpoint writer ``nn.checkpoint.BackupAndRestore``), the loop's position
(:class:`nn.callbacks.Trainer`: epochs, sample order, resume point, running metrics) and
the non-finite guard (``nn._guard.NonFiniteGuard``). It switches the model to train mode
for training and to eval mode for validation, and leaves it in the mode it found it in.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

import numpy as np

from ._config import get_rng
from ._guard import NonFiniteError, NonFiniteGuard
from ._running_metrics import RunningMetrics, check_metrics
from .callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ProgressBar,
    Trainer,
)
from .checkpoint import BackupAndRestore
from .data import as_indexable, iterate_minibatches
from .layer import Layer
from .losses import Loss

__all__ = ["fit", "evaluate", "predict", "History", "Callback", "EarlyStopping",
           "LearningRateScheduler", "Trainer", "NonFiniteError"]


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
    callbacks : e.g. :class:`EarlyStopping`, :class:`LearningRateScheduler`; their hooks
        run before fit's own callbacks (History, checkpoint, progress bar), see
        :mod:`nn.callbacks`.
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
    n, epochs, batch_size, metrics, verbose, callbacks = _check_fit_arguments(
        model, loss_fn, optimizer, x_train, y_train, epochs, batch_size, validation_data,
        metrics, verbose, callbacks, checkpoint, resume, checkpoint_every, on_nonfinite)
    x_train = as_indexable("fit", "x_train", x_train)
    y_train = as_indexable("fit", "y_train", y_train)
    history = History()
    trainer = Trainer(model, optimizer, history, callbacks=callbacks, epochs=epochs, n=n,
                      batch_size=batch_size, shuffle=shuffle, rng=get_rng(rng), metrics=metrics,
                      loss_fn=loss_fn)
    backup = [] if checkpoint is None else [
        BackupAndRestore(checkpoint, resume, checkpoint_every, verbose)]
    progress = [ProgressBar(verbose)] if verbose else []
    hooks = CallbackList([*callbacks, history, *backup, *progress], model, optimizer, trainer)
    guard = NonFiniteGuard(model, loss_fn, trainer, on_nonfinite)
    dtype, was_training = model.dtype, model.training
    old_input_grad = model.set_input_grad(False)  # nothing uses dL/dx_train
    logs: dict[str, float] = {}
    try:
        hooks.on_train_begin(logs)                  # a resumed run is restored here
        for epoch in trainer.epochs_to_run():       # until the last, or stop_training
            logs = {}
            hooks.on_epoch_begin(epoch, logs)
            model.train()
            for batch, rows in trainer.batches():   # this epoch's order, from where it stands
                xb, yb = _as_model_dtype(x_train[rows], dtype), np.asarray(y_train[rows])
                guard.before_batch()
                optimizer.zero_grad()
                loss, error = math.nan, None
                try:
                    out = model.forward(xb)
                    loss = loss_fn(out, yb)
                    if math.isfinite(loss):
                        model.backward(loss_fn.backward())
                except FloatingPointError as exc:   # raised under np.errstate(...="raise")
                    if "underflow" in str(exc):
                        raise                       # harmless, and not a non-finite value
                    error = exc
                if guard.passed(loss, error):       # finite loss and gradients
                    optimizer.step()
                    trainer.metrics.update(loss, out, yb)
                    hooks.on_batch_end(batch, {"loss": loss})
                else:                               # raises NonFiniteError, or skips
                    guard.reject(xb, yb, rows, loss, error)
                    hooks.on_batch_skipped(batch, {"loss": loss})
            logs.update(trainer.train_logs())
            if validation_data is not None:
                x_val, y_val = validation_data
                logs.update(evaluate(model, loss_fn, x_val, y_val, batch_size=max(batch_size, 256),
                                     metrics=metrics, prefix="val_"))
            hooks.on_epoch_end(epoch, logs)         # the user's, then History, checkpoint, bar
    finally:
        model.set_input_grad(old_input_grad)
        hooks.on_train_end(logs)
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
    metrics = check_metrics("evaluate", metrics, loss_fn)
    dtype = model.dtype
    was_training = model.training
    model.eval()
    try:
        state = RunningMetrics(metrics, loss_fn)
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
    assert result is not None  # x has at least one sample (_check_data)
    return result


# ---------------------------------------------------------------------- checks
def _check_fit_arguments(model, loss_fn, optimizer, x_train, y_train, epochs, batch_size,
                         validation_data, metrics, verbose, callbacks, checkpoint, resume,
                         checkpoint_every, on_nonfinite):
    """Validate fit's arguments; return ``(n, epochs, batch_size, metrics, verbose,
    callbacks)``, normalised."""
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
    metrics = check_metrics(fn, metrics, loss_fn)
    verbose = _check_verbose(fn, verbose)
    if on_nonfinite not in ("raise", "skip_batch"):
        raise ValueError(f"fit: on_nonfinite must be 'raise' or 'skip_batch', got "
                         f"{on_nonfinite!r}")
    if checkpoint is None and (resume or checkpoint_every is not None):
        raise ValueError("fit: resume and checkpoint_every need checkpoint=PATH")
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"fit: checkpoint must be a path, got {type(checkpoint).__name__}")
    if checkpoint_every is not None:
        _check_positive_int(fn, "checkpoint_every", checkpoint_every)
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
    return n, epochs, batch_size, metrics, verbose, callbacks


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


def _check_verbose(fn: str, verbose) -> int:
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"{fn}: verbose must be 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _as_model_dtype(xb, dtype):
    xb = np.asarray(xb)
    if dtype is not None and xb.dtype.kind == "f" and xb.dtype != dtype:
        return xb.astype(dtype)
    return xb


