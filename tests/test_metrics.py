"""Tests for nn.metrics against hand-computed cases and brute-force definitions."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nn.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    f1_score,
    precision,
    precision_recall_f1,
    recall,
    roc_auc,
)


@st.composite
def label_pairs(draw, max_classes=5, max_n=40):
    C = draw(st.integers(1, max_classes))
    n = draw(st.integers(1, max_n))
    labels = st.lists(st.integers(0, C - 1), min_size=n, max_size=n)
    return np.array(draw(labels)), np.array(draw(labels))


# ---------------------------------------------------------------------- brute force
def _brute_counts(t, p, k):
    tp = sum(1 for a, b in zip(t, p, strict=True) if a == k and b == k)
    fp = sum(1 for a, b in zip(t, p, strict=True) if a != k and b == k)
    fn = sum(1 for a, b in zip(t, p, strict=True) if a == k and b != k)
    return tp, fp, fn


def _ratio(a, b):
    return a / b if b else 0.0


def _brute_per_class(t, p):
    C = max(max(t), max(p)) + 1
    P, R, F = [], [], []
    for k in range(C):
        tp, fp, fn = _brute_counts(t, p, k)
        pk, rk = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        P.append(pk)
        R.append(rk)
        F.append(_ratio(2 * pk * rk, pk + rk))
    present = [k in set(t) | set(p) for k in range(C)]
    return np.array(P), np.array(R), np.array(F), np.array(present)


def _brute_auc(y, s):
    pos = [si for yi, si in zip(y, s, strict=True) if yi == 1]
    neg = [si for yi, si in zip(y, s, strict=True) if yi != 1]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


# ---------------------------------------------------------------------- hand-computed
def test_small_multiclass_case_by_hand():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 0, 2]
    M = confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(M, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert M.dtype == np.int64
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    # class 0: TP 1, FP 1, FN 1; class 1: TP 2, FP 1, FN 0; class 2: TP 1, FP 0, FN 1
    np.testing.assert_allclose(precision(y_true, y_pred, average=None), [1 / 2, 2 / 3, 1])
    np.testing.assert_allclose(recall(y_true, y_pred, average=None), [1 / 2, 1, 1 / 2])
    np.testing.assert_allclose(f1_score(y_true, y_pred, average=None), [1 / 2, 4 / 5, 2 / 3])
    assert precision(y_true, y_pred) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert recall(y_true, y_pred) == pytest.approx(2 / 3)
    assert f1_score(y_true, y_pred) == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    for fn in (precision, recall, f1_score):
        assert fn(y_true, y_pred, average="micro") == pytest.approx(4 / 6)
    # weighted by support 2, 2, 2 == macro here
    assert recall(y_true, y_pred, average="weighted") == pytest.approx(2 / 3)


def test_binary_average_and_zero_division():
    y_true = [0, 0, 1, 1]
    y_pred = [0, 0, 0, 0]               # class 1 never predicted: P_1 = 0/0 -> 0
    assert precision(y_true, y_pred, average="binary") == 0.0
    assert recall(y_true, y_pred, average="binary") == 0.0
    assert f1_score(y_true, y_pred, average="binary") == 0.0
    np.testing.assert_allclose(precision(y_true, y_pred, average=None), [0.5, 0.0])
    np.testing.assert_allclose(recall(y_true, y_pred, average=None), [1.0, 0.0])
    assert precision([1, 0, 1], [1, 0, 0], average="binary") == 1.0
    assert recall([1, 0, 1], [1, 0, 0], average="binary") == 0.5
    with pytest.raises(ValueError, match="binary"):
        precision([0, 1, 2], [0, 1, 2], average="binary")


def test_macro_skips_classes_absent_from_both():
    # class 1 appears nowhere: it is left out of the macro mean, reported as 0 per class
    y_true, y_pred = [0, 2, 2], [0, 2, 0]
    np.testing.assert_allclose(recall(y_true, y_pred, average=None), [1.0, 0.0, 0.5])
    assert recall(y_true, y_pred) == pytest.approx(0.75)
    assert confusion_matrix(y_true, y_pred, num_classes=4).shape == (4, 4)


def test_scores_are_argmaxed():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], dtype=np.float32)
    assert accuracy([1, 0, 0], scores) == pytest.approx(2 / 3)
    np.testing.assert_array_equal(confusion_matrix([1, 0, 0], scores), [[1, 1], [0, 1]])
    one_hot_true = np.eye(2)[[1, 0, 0]]
    assert accuracy(one_hot_true, scores) == pytest.approx(2 / 3)
    seq_scores = np.zeros((2, 3, 4))
    seq_scores[..., 2] = 1.0
    assert accuracy(np.full((2, 3), 2), seq_scores) == 1.0


@pytest.mark.parametrize("call, match", [
    (lambda: accuracy([0, 1], [0, 1, 1]), r"accuracy.*\(2,\).*\(3,\)"),
    (lambda: accuracy([], []), "empty"),
    (lambda: accuracy([0, 1], np.zeros((2, 1))), "single score column"),
    (lambda: precision([0, -1], [0, 1]), "non-negative"),
    (lambda: recall([0.5, 1], [0, 1]), "integer"),
    (lambda: f1_score([0, 1], [0, 1], average="samples"), "average"),
    (lambda: confusion_matrix([0, 3], [0, 1], num_classes=3), "num_classes=3"),
    (lambda: confusion_matrix([0, 1], [0, 1], num_classes=0), "num_classes"),
])
def test_metric_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------- brute-force properties
@given(label_pairs())
def test_confusion_matrix_counts_pairs(pair):
    t, p = pair
    M = confusion_matrix(t, p)
    C = max(t.max(), p.max()) + 1
    assert M.shape == (C, C) and M.sum() == len(t)
    for k in range(C):
        for j in range(C):
            assert M[k, j] == np.sum((t == k) & (p == j))
    assert accuracy(t, p) == pytest.approx(np.trace(M) / len(t))


@given(label_pairs())
def test_precision_recall_f1_match_definitions(pair):
    t, p = pair
    P, R, F, present = _brute_per_class(t.tolist(), p.tolist())
    np.testing.assert_allclose(precision(t, p, average=None), P)
    np.testing.assert_allclose(recall(t, p, average=None), R)
    np.testing.assert_allclose(f1_score(t, p, average=None), F)
    assert precision(t, p) == pytest.approx(P[present].mean())
    assert recall(t, p) == pytest.approx(R[present].mean())
    assert f1_score(t, p) == pytest.approx(F[present].mean())
    acc = np.mean(t == p)
    for fn in (precision, recall, f1_score):
        assert fn(t, p, average="micro") == pytest.approx(acc)
    support = np.bincount(t, minlength=len(P))
    assert recall(t, p, average="weighted") == pytest.approx((R * support).sum() / len(t))
    P2, R2, F2, S2 = precision_recall_f1(t, p)
    np.testing.assert_allclose(P2, P)
    np.testing.assert_array_equal(S2, support)


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-3, 3)), min_size=2, max_size=40))
def test_roc_auc_matches_pairwise_count(rows):
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=np.float64) / 2   # small ints: many ties
    if y.min() == y.max():
        with pytest.raises(ValueError, match="one class"):
            roc_auc(y, s)
        return
    assert roc_auc(y, s) == pytest.approx(_brute_auc(y, s), abs=1e-12)
    assert roc_auc(y, -s) == pytest.approx(1 - _brute_auc(y, s), abs=1e-12)
    assert roc_auc(2 * y - 1, s) == pytest.approx(_brute_auc(y, s), abs=1e-12)


def test_roc_auc_cases():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.2, 0.9]) == 1.0
    assert roc_auc([True, False], [0.5, 0.5]) == 0.5
    two_col = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]], dtype=np.float32)
    assert roc_auc([0, 1, 1], two_col) == 1.0
    assert roc_auc([0, 1, 1], two_col[:, 1:]) == 1.0
    with pytest.raises(ValueError, match="one class"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        roc_auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match=r"roc_auc.*\(3,\)"):
        roc_auc([0, 1, 1], [0.1, 0.2])


def test_classification_report_layout():
    text = classification_report([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 2],
                                 target_names=["zero", "one", "two"], digits=2)
    lines = text.splitlines()
    assert "precision" in lines[0] and "support" in lines[0]
    assert any(line.split()[:4] == ["one", "0.67", "1.00", "0.80"] for line in lines)
    assert any(line.split()[:2] == ["accuracy", "0.67"] for line in lines)
    assert "macro avg" in text and "weighted avg" in text
    with pytest.raises(ValueError, match="target_names"):
        classification_report([0, 1], [0, 1], target_names=["a"])
