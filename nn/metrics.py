r"""Classification metrics: accuracy, confusion matrix, precision, recall, F1, ROC-AUC.

Labels are non-negative integer class indices 0..C-1. Wherever a function takes
predictions ``y_pred``, it accepts either labels of the same shape as ``y_true`` or
scores (logits or probabilities) with one extra trailing class axis, shape
``y_true.shape + (C,)``, which are turned into labels with ``argmax`` over that axis.
``y_true`` may also be one-hot (or probability) targets of the same shape as float
scores; both are then reduced with ``argmax``.

For class k, with TP_k, FP_k, FN_k the true positives, false positives and false
negatives read off the confusion matrix M (rows true, columns predicted),

.. math::

    TP_k = M_{kk}, \quad FP_k = \sum_i M_{ik} - M_{kk}, \quad FN_k = \sum_j M_{kj} - M_{kk}

    P_k = \frac{TP_k}{TP_k + FP_k}, \quad R_k = \frac{TP_k}{TP_k + FN_k}, \quad
    F1_k = \frac{2 P_k R_k}{P_k + R_k} = \frac{2\,TP_k}{2\,TP_k + FP_k + FN_k}

**Zero division.** A ratio whose denominator is 0 (a class never predicted, for
precision; never present, for recall; both, for F1) is defined as 0.0, silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import as_int_labels

__all__ = [
    "accuracy",
    "confusion_matrix",
    "precision",
    "recall",
    "f1_score",
    "precision_recall_f1",
    "roc_auc",
    "classification_report",
]

_AVERAGES = ("macro", "micro", "weighted", "binary", None)


# ---------------------------------------------------------------------- shared checks
def _label_pair(fn: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flattened int64 (true, predicted) labels of equal length, scores argmax-ed."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if p.ndim == t.ndim + 1:
        if p.shape[-1] == 1:
            raise ValueError(f"{fn}: y_pred of shape {p.shape} has a single score column; "
                             f"threshold it into labels of shape {t.shape} first")
        p = p.argmax(axis=-1)
    elif p.ndim == t.ndim >= 2 and p.shape == t.shape and t.dtype.kind == "f" \
            and p.dtype.kind == "f":
        t, p = t.argmax(axis=-1), p.argmax(axis=-1)   # one-hot targets, scores
    if t.shape != p.shape:
        raise ValueError(f"{fn}: y_true has shape {t.shape} but y_pred has shape {p.shape}; "
                         f"expected labels of the same shape or scores of shape "
                         f"{t.shape + ('C',)}")
    if t.size == 0:
        raise ValueError(f"{fn}: y_true and y_pred are empty (shape {t.shape})")
    return (as_int_labels(fn, "y_true", t).reshape(-1),
            as_int_labels(fn, "y_pred", p).reshape(-1))


def _n_classes(fn: str, t: np.ndarray, p: np.ndarray, num_classes: int | None) -> int:
    top = int(max(t.max(), p.max())) + 1
    if num_classes is None:
        return top
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"{fn}: num_classes must be a positive integer, got {num_classes!r}")
    if top > num_classes:
        raise ValueError(f"{fn}: labels must be < num_classes={num_classes}, got label "
                         f"{top - 1}")
    return int(num_classes)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0.0 where den == 0 (the zero-division convention)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


# ---------------------------------------------------------------------- metrics
def accuracy(y_true: Any, y_pred: Any) -> float:
    r"""Fraction of correct predictions.

    .. math:: \mathrm{acc} = \frac1N \sum_i [\hat y_i = y_i]

    Parameters
    ----------
    y_true : array-like of int, shape S
    y_pred : array-like, shape S (labels) or S + (C,) (scores, argmax-ed)

    Returns
    -------
    float in [0, 1]
    """
    t, p = _label_pair("accuracy", y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    r"""Counts of (true, predicted) label pairs.

    .. math:: M_{kj} = \#\{i : y_i = k,\ \hat y_i = j\}

    Parameters
    ----------
    y_true : array-like of int, shape S
    y_pred : array-like, shape S (labels) or S + (C,) (scores, argmax-ed)
    num_classes : int, optional
        C; defaults to ``max(y_true.max(), y_pred.max()) + 1``.

    Returns
    -------
    ndarray of int64, shape (C, C)
        Rows are true classes, columns predicted classes; the diagonal counts the
        correct predictions and row k sums to the support of class k.
    """
    fn = "confusion_matrix"
    t, p = _label_pair(fn, y_true, y_pred)
    C = _n_classes(fn, t, p, num_classes)
    return np.bincount(t * C + p, minlength=C * C).reshape(C, C).astype(np.int64)


def _counts(fn: str, y_true: Any, y_pred: Any, num_classes: int | None):
    """(tp, fp, fn, support, present) per class, from the confusion matrix."""
    t, p = _label_pair(fn, y_true, y_pred)
    C = _n_classes(fn, t, p, num_classes)
    M = np.bincount(t * C + p, minlength=C * C).reshape(C, C)
    tp = np.diag(M).astype(np.int64)
    fp = M.sum(axis=0) - tp
    fn_ = M.sum(axis=1) - tp
    support = M.sum(axis=1)
    present = (support > 0) | (M.sum(axis=0) > 0)
    return tp, fp, fn_, support, present


def _average(fn: str, per_class: np.ndarray, micro: np.ndarray, support: np.ndarray,
             present: np.ndarray, average: str | None) -> float | np.ndarray:
    if average is None:
        return per_class
    if average == "micro":
        return float(micro)
    if average == "macro":
        return float(per_class[present].mean())
    if average == "weighted":
        total = support.sum()
        return float((per_class * support).sum() / total) if total else 0.0
    if average == "binary":
        if len(per_class) > 2:
            raise ValueError(f"{fn}: average='binary' needs labels in {{0, 1}}, got "
                             f"{len(per_class)} classes; use 'macro', 'micro' or None")
        return float(per_class[1]) if len(per_class) == 2 else 0.0
    raise ValueError(f"{fn}: average must be one of {_AVERAGES}, got {average!r}")


def _check_average(fn: str, average: Any) -> None:
    if average not in _AVERAGES:
        raise ValueError(f"{fn}: average must be one of {_AVERAGES}, got {average!r}")


def precision(y_true: Any, y_pred: Any, average: str | None = "macro",
              num_classes: int | None = None) -> float | np.ndarray:
    r"""Precision: of the samples predicted as class k, the fraction that are k.

    .. math:: P_k = \frac{TP_k}{TP_k + FP_k}, \qquad
              P_{micro} = \frac{\sum_k TP_k}{\sum_k (TP_k + FP_k)}

    Parameters
    ----------
    y_true : array-like of int, shape S
    y_pred : array-like, shape S (labels) or S + (C,) (scores, argmax-ed)
    average : {"macro", "micro", "weighted", "binary", None}
        ``None``: the per-class array :math:`P_k`, shape (C,). ``"macro"``: the
        unweighted mean of :math:`P_k` over the classes that occur in ``y_true`` or
        ``y_pred`` (a class absent from both has no defined score and is left out).
        ``"micro"``: from the pooled counts; for single-label data it equals the
        accuracy. ``"weighted"``: mean of :math:`P_k` weighted by the support
        (number of true samples) of each class. ``"binary"``: :math:`P_1` for labels
        in {0, 1}.
    num_classes : int, optional
        C; defaults to ``max label + 1``.

    Returns
    -------
    float, or ndarray of float64 of shape (C,) when ``average is None``
        A class never predicted has :math:`P_k = 0` (zero-division convention).
    """
    fn = "precision"
    _check_average(fn, average)
    tp, fp, _, support, present = _counts(fn, y_true, y_pred, num_classes)
    per_class = _safe_div(tp, tp + fp)
    micro = _safe_div(tp.sum(), tp.sum() + fp.sum())
    return _average(fn, per_class, micro, support, present, average)


def recall(y_true: Any, y_pred: Any, average: str | None = "macro",
           num_classes: int | None = None) -> float | np.ndarray:
    r"""Recall (sensitivity): of the samples of class k, the fraction predicted as k.

    .. math:: R_k = \frac{TP_k}{TP_k + FN_k}, \qquad
              R_{micro} = \frac{\sum_k TP_k}{\sum_k (TP_k + FN_k)}

    Parameters and averaging as in :func:`precision`. A class absent from
    ``y_true`` has :math:`R_k = 0` (zero-division convention).
    """
    fn = "recall"
    _check_average(fn, average)
    tp, _, fn_, support, present = _counts(fn, y_true, y_pred, num_classes)
    per_class = _safe_div(tp, tp + fn_)
    micro = _safe_div(tp.sum(), tp.sum() + fn_.sum())
    return _average(fn, per_class, micro, support, present, average)


def f1_score(y_true: Any, y_pred: Any, average: str | None = "macro",
             num_classes: int | None = None) -> float | np.ndarray:
    r"""F1 score: the harmonic mean of precision and recall.

    .. math:: F1_k = \frac{2 P_k R_k}{P_k + R_k} = \frac{2\,TP_k}{2\,TP_k + FP_k + FN_k},
              \qquad F1_{micro} = \frac{2 \sum_k TP_k}{\sum_k (2\,TP_k + FP_k + FN_k)}

    ``"macro"`` is the mean of the per-class :math:`F1_k` (not the F1 of the macro
    precision and recall). Parameters and averaging as in :func:`precision`; a
    class with :math:`TP_k + FP_k + FN_k = 0` has :math:`F1_k = 0`.
    """
    fn = "f1_score"
    _check_average(fn, average)
    tp, fp, fn_, support, present = _counts(fn, y_true, y_pred, num_classes)
    per_class = _safe_div(2 * tp, 2 * tp + fp + fn_)
    micro = _safe_div(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn_.sum())
    return _average(fn, per_class, micro, support, present, average)


def precision_recall_f1(y_true: Any, y_pred: Any, num_classes: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 (float64) and support (int64), each shape (C,)."""
    fn = "precision_recall_f1"
    tp, fp, fn_, support, _ = _counts(fn, y_true, y_pred, num_classes)
    return (_safe_div(tp, tp + fp), _safe_div(tp, tp + fn_),
            _safe_div(2 * tp, 2 * tp + fp + fn_), support.astype(np.int64))


def roc_auc(y_true: Any, scores: Any) -> float:
    r"""Area under the ROC curve of a binary classifier.

    Computed as the normalised Mann-Whitney U statistic: the probability that a
    random positive sample scores higher than a random negative one, ties counting
    one half,

    .. math:: \mathrm{AUC} = \frac{1}{n_+ n_-} \sum_{i \in +} \sum_{j \in -}
              \big([s_i > s_j] + \tfrac12 [s_i = s_j]\big)
              = \frac{\sum_{i \in +} r_i - n_+(n_+ + 1)/2}{n_+ n_-}

    where :math:`r_i` is the rank of :math:`s_i` among all N scores (1 = smallest;
    tied scores get the average of their ranks). O(N log N).

    Parameters
    ----------
    y_true : array-like, shape (N,)
        Binary labels: {0, 1}, {-1, 1} or bool; 1 (True) is the positive class.
    scores : array-like, shape (N,), (N, 1) or (N, 2)
        Any score that grows with the belief in the positive class (probability,
        logit, margin). For (N, 2) class scores the column of class 1 is used.

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ValueError
        If only one class is present in ``y_true`` (the AUC is undefined), labels are
        not binary, shapes differ, or scores contain NaN.
    """
    from scipy.stats import rankdata

    fn = "roc_auc"
    t = np.asarray(y_true)
    s = np.asarray(scores)
    if s.ndim == 2 and s.shape[1] in (1, 2):
        s = s[:, -1]
    if t.ndim != 1 or s.shape != t.shape:
        raise ValueError(f"{fn}: expected y_true of shape (N,) and scores of shape (N,), "
                         f"(N, 1) or (N, 2); got y_true {t.shape} and scores "
                         f"{np.shape(scores)}")
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: scores must be numeric, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if np.any(np.isnan(s)):
        raise ValueError(f"{fn}: scores of shape {s.shape} contain NaN")
    if t.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: y_true must hold binary labels, got dtype {t.dtype}")
    values = set(np.unique(t).tolist())
    if not (values <= {0, 1} or values <= {-1, 1}):
        raise ValueError(f"{fn}: y_true must hold binary labels in {{0, 1}} or {{-1, 1}}, got "
                         f"values {sorted(values)[:10]}")
    positive = t == 1
    n_pos = int(positive.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"{fn}: ROC AUC is undefined when only one class is present in "
                         f"y_true (shape {t.shape}: {n_pos} positive, {n_neg} negative)")
    ranks = rankdata(s)  # average ranks for ties
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def classification_report(y_true: Any, y_pred: Any, num_classes: int | None = None,
                          target_names: list[str] | None = None, digits: int = 3) -> str:
    """A text table of per-class precision, recall, F1 and support, with averages.

    Parameters
    ----------
    y_true, y_pred, num_classes
        As in :func:`precision`.
    target_names : list of str, optional
        Display names of the C classes (default: the class indices).
    digits : int
        Decimals shown.

    Returns
    -------
    str
        One row per class, then accuracy, macro average (over present classes) and
        support-weighted average.
    """
    fn = "classification_report"
    P, R, F, support = precision_recall_f1(y_true, y_pred, num_classes)
    C = len(support)
    names = [str(k) for k in range(C)] if target_names is None else [str(n) for n in
                                                                      target_names]
    if len(names) != C:
        raise ValueError(f"{fn}: got {len(names)} target_names for {C} classes")
    t, p = _label_pair(fn, y_true, y_pred)
    present = (support > 0) | (np.bincount(p, minlength=C)[:C] > 0)
    total = int(support.sum())
    width = max(12, *(len(n) for n in names))
    head = f"{'':>{width}} {'precision':>10} {'recall':>10} {'f1-score':>10} {'support':>10}"
    lines = [head, ""]

    def row(name: str, values: tuple[float, ...], count: int) -> str:
        cells = " ".join(f"{v:>10.{digits}f}" for v in values)
        return f"{name:>{width}} {cells} {count:>10d}"

    for k in range(C):
        lines.append(row(names[k], (P[k], R[k], F[k]), int(support[k])))
    lines.append("")
    acc = float(np.mean(t == p))
    lines.append(f"{'accuracy':>{width}} {'':>10} {'':>10} {acc:>10.{digits}f} {total:>10d}")
    lines.append(row("macro avg", (P[present].mean(), R[present].mean(), F[present].mean()),
                     total))
    w = support / total
    lines.append(row("weighted avg", ((P * w).sum(), (R * w).sum(), (F * w).sum()), total))
    return "\n".join(lines) + "\n"
