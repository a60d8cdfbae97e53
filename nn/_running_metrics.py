"""The running loss and metrics of one epoch of ``fit`` or one pass of ``evaluate``:
:class:`RunningMetrics`, fed batch by batch, and the check of the metric names."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from . import metrics as _metrics
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss, Loss


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


class RunningMetrics:
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
        total = self.confusion
        if total is None:
            total = np.zeros_like(m)
        elif len(m) > len(total):  # a class seen for the first time
            grown = np.zeros_like(m)
            grown[:len(total), :len(total)] = total
            total = grown
        total[:len(m), :len(m)] += m
        self.confusion = total

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

    @staticmethod
    def _from_confusion(M: np.ndarray, name: str) -> float:
        """accuracy / macro precision, recall, F1 exactly as nn.metrics computes them."""
        if name in ("accuracy", "acc"):
            return float(np.trace(M)) / float(M.sum())
        tp = np.diag(M)
        fp, fn_ = M.sum(axis=0) - tp, M.sum(axis=1) - tp
        present = (M.sum(axis=1) > 0) | (M.sum(axis=0) > 0)
        num, den = {"precision": (tp, tp + fp), "recall": (tp, tp + fn_),
                    "f1": (2 * tp, 2 * tp + fp + fn_)}[name]
        ratio = np.zeros(num.shape, dtype=np.float64)  # 0.0 where den == 0, as nn.metrics
        np.divide(num, den, out=ratio, where=den != 0)
        return float(ratio[present].mean())

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
                    logs[f"{prefix}{name}"] = self._from_confusion(self.confusion, name)
        return logs


def check_metrics(fn: str, metrics, loss_fn: Loss) -> list[str]:
    """``metrics`` as a list of known metric names (a clear error naming ``fn`` if not)."""
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
    RunningMetrics(metrics, loss_fn)  # unknown names: ValueError listing the available ones
    return metrics
