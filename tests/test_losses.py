"""Losses: property-based gradient checks for every loss and reduction, values by hand,
overflow-free numerics at logits of 1e4, dtype, input validation, and PyTorch agreement."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import arrays, class_targets, probability_targets, shapes

import nn

F32 = np.float32
F64 = np.float64
REDUCTIONS = ["mean", "sum"]


# ---------------------------------------------------------------------- gradcheck properties
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_mse_gradcheck(reduction, data):
    shape = data.draw(shapes(min_dims=1, max_dims=3), label="shape")
    x = data.draw(arrays(shape), label="x")
    t = data.draw(arrays(shape), label="t")
    nn.assert_gradcheck(nn.MSELoss(reduction=reduction), x, target=t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("ignore_index", [None, -100, 0])
@given(data=st.data())
def test_cross_entropy_index_targets_gradcheck(reduction, label_smoothing, ignore_index, data):
    lead = data.draw(shapes(min_dims=1, max_dims=2, max_side=4), label="lead")  # (N,) or (N, T)
    C = data.draw(st.integers(1, 5), label="C")
    x = data.draw(arrays(tuple(lead) + (C,), lo=-5, hi=5), label="logits")
    t = data.draw(class_targets(tuple(lead), C, ignore_index), label="target")
    loss = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing,
                               ignore_index=ignore_index)
    nn.assert_gradcheck(loss, x, target=t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@given(data=st.data())
def test_cross_entropy_probability_targets_gradcheck(reduction, label_smoothing, data):
    shape = data.draw(shapes(min_dims=2, max_dims=3, max_side=4), label="shape")
    x = data.draw(arrays(shape, lo=-5, hi=5), label="logits")
    t = data.draw(probability_targets(shape), label="target")
    loss = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing)
    nn.assert_gradcheck(loss, x, target=t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_bce_gradcheck(reduction, data):
    shape = data.draw(shapes(min_dims=1, max_dims=3), label="shape")
    x = data.draw(arrays(shape, lo=0.05, hi=0.95), label="probabilities")
    t = data.draw(arrays(shape, lo=0.0, hi=1.0), label="target")
    nn.assert_gradcheck(nn.BCELoss(reduction=reduction), x, target=t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_pos_weight", [False, True])
@given(data=st.data())
def test_bce_with_logits_gradcheck(reduction, with_pos_weight, data):
    shape = data.draw(shapes(min_dims=1, max_dims=3), label="shape")
    x = data.draw(arrays(shape, lo=-8, hi=8), label="logits")
    t = data.draw(arrays(shape, lo=0.0, hi=1.0), label="target")
    pos_weight = None
    if with_pos_weight:
        pos_weight = data.draw(arrays((shape[-1],), lo=0.1, hi=5.0), label="pos_weight")
    loss = nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pos_weight)
    nn.assert_gradcheck(loss, x, target=t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_hinge_multiclass_gradcheck(reduction, data):
    N = data.draw(st.integers(1, 4), label="N")
    C = data.draw(st.integers(2, 5), label="C")
    x = data.draw(arrays((N, C)), label="scores")
    t = data.draw(class_targets((N,), C), label="target")
    report = nn.assert_gradcheck(nn.HingeLoss(reduction=reduction), x, target=t)
    assert report["input"].checked == N * C


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data())
def test_hinge_binary_gradcheck(reduction, data):
    shape = data.draw(shapes(min_dims=1, max_dims=2), label="shape")
    x = data.draw(arrays(shape), label="scores")
    signs = data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=x.size, max_size=x.size))
    t = np.array(signs).reshape(shape)
    nn.assert_gradcheck(nn.HingeLoss(reduction=reduction), x, target=t)


# ---------------------------------------------------------------------- values by hand
def test_mse_by_hand():
    x, t = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0])
    mean, total = nn.MSELoss(), nn.MSELoss(reduction="sum")
    assert mean(x, t) == pytest.approx(5 / 3, rel=1e-15)
    np.testing.assert_allclose(mean.backward(), [0, 2 / 3, 4 / 3], rtol=1e-15)
    assert total(x, t) == 5.0
    np.testing.assert_array_equal(total.backward(), [0, 2, 4])
    assert isinstance(mean(x, t), float)


def test_cross_entropy_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    t = np.array([2, 1])
    lse = math.log(math.e + math.e**2 + math.e**3)
    row0, row1 = lse - 3, math.log(3)
    ce = nn.CrossEntropyLoss()
    assert ce(x, t) == pytest.approx((row0 + row1) / 2, rel=1e-14)
    p0 = np.exp(x[0] - lse)
    np.testing.assert_allclose(ce.backward(), [(p0 - [0, 0, 1]) / 2, ([1 / 3] * 3 - np.array(
        [0, 1, 0])) / 2], rtol=1e-14, atol=1e-16)
    assert nn.CrossEntropyLoss(reduction="sum")(x, t) == pytest.approx(row0 + row1, rel=1e-14)
    # label smoothing 0.3: L = 0.7 * (-log p_y) + 0.1 * sum_c (-log p_c)
    logp0 = x[0] - lse
    expected = 0.7 * -logp0[2] + 0.1 * -logp0.sum()
    assert nn.CrossEntropyLoss(label_smoothing=0.3)(x[:1], t[:1]) == pytest.approx(expected,
                                                                                    rel=1e-14)
    # probability targets: one-hot probabilities give the index-target loss
    onehot = np.eye(3)[t]
    assert ce(x, onehot) == pytest.approx((row0 + row1) / 2, rel=1e-14)
    # (N, T, C) with (N, T) targets: mean over N*T positions
    x3 = np.stack([x, x[::-1]])  # (2, 2, 3)
    t3 = np.array([[2, 1], [1, 2]])
    assert ce(x3, t3) == pytest.approx((row0 + row1) / 2, rel=1e-14)


def test_cross_entropy_ignore_index_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [5.0, -5.0, 0.0]])
    t = np.array([2, -100, 1])
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    lse0 = math.log(math.e + math.e**2 + math.e**3)
    lse2 = math.log(math.exp(5) + math.exp(-5) + 1)
    assert ce(x, t) == pytest.approx((lse0 - 3 + lse2 + 5) / 2, rel=1e-14)
    g = ce.backward()
    np.testing.assert_array_equal(g[1], 0)
    assert ce.last_count == 2
    np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-15)


def test_cross_entropy_all_ignored_is_zero():
    for reduction in REDUCTIONS:
        ce = nn.CrossEntropyLoss(ignore_index=-100, reduction=reduction)
        x = np.random.default_rng(0).standard_normal((3, 4))
        assert ce(x, np.full(3, -100)) == 0.0
        g = ce.backward()
        assert g.shape == x.shape
        np.testing.assert_array_equal(g, 0)


def test_bce_by_hand():
    bce = nn.BCELoss()
    assert bce(np.array([0.5, 0.5]), np.array([1.0, 0.0])) == pytest.approx(math.log(2), rel=1e-15)
    np.testing.assert_allclose(bce.backward(), [-1.0, 1.0], rtol=1e-15)  # (x - t)/(x(1-x))/2
    assert bce(np.array([0.8]), np.array([0.25])) == pytest.approx(
        -(0.25 * math.log(0.8) + 0.75 * math.log(0.2)), rel=1e-14)
    # log clamped at -100, like PyTorch: x = 0, t = 1 gives 100, not inf
    assert bce(np.array([0.0]), np.array([1.0])) == pytest.approx(100.0)
    assert np.isfinite(bce.backward()).all()


def test_bce_with_logits_by_hand():
    loss = nn.BCEWithLogitsLoss()
    assert loss(np.array([0.0, 0.0]), np.array([1.0, 0.0])) == pytest.approx(math.log(2))
    np.testing.assert_allclose(loss.backward(), [-0.25, 0.25], rtol=1e-15)
    x, t = np.array([2.0]), np.array([0.3])
    s = 1 / (1 + math.exp(-2))
    assert loss(x, t) == pytest.approx(-(0.3 * math.log(s) + 0.7 * math.log(1 - s)), rel=1e-14)
    np.testing.assert_allclose(loss.backward(), [s - 0.3], rtol=1e-14)
    weighted = nn.BCEWithLogitsLoss(pos_weight=np.array([3.0, 1.0]))
    assert weighted(np.zeros((1, 2)), np.array([[1.0, 1.0]])) == pytest.approx(2 * math.log(2))
    np.testing.assert_allclose(weighted.backward(), [[-0.75, -0.25]], rtol=1e-15)


def test_hinge_multiclass_by_hand():
    # the CS231n example: per-row losses 2.9, 0, 12.9
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    t = np.array([0, 1, 2])
    hinge = nn.HingeLoss()
    assert hinge(scores, t) == pytest.approx((2.9 + 0 + 12.9) / 3, rel=1e-14)
    expected = np.array([[-1, 1, 0], [0, 0, 0], [1, 1, -2]]) / 3
    np.testing.assert_allclose(hinge.backward(), expected, rtol=1e-15)
    assert nn.HingeLoss(reduction="sum")(scores, t) == pytest.approx(15.8, rel=1e-14)
    assert nn.HingeLoss(margin=0.0)(scores, t) == pytest.approx((1.9 + 0 + 10.9) / 3, rel=1e-14)


def test_hinge_binary_by_hand():
    s, t = np.array([0.5, -2.0, 2.0, 3.0]), np.array([1, 1, -1, 1])
    hinge = nn.HingeLoss()
    assert hinge(s, t) == pytest.approx((0.5 + 3 + 3 + 0) / 4, rel=1e-15)
    np.testing.assert_array_equal(hinge.backward(), np.array([-1, -1, 1, 0]) / 4)


def test_backward_scales_by_upstream_and_is_repeatable():
    x = np.random.default_rng(0).standard_normal((4, 3))
    t = np.array([0, 2, 1, 1])
    for loss in [nn.CrossEntropyLoss(), nn.HingeLoss(), nn.CrossEntropyLoss(label_smoothing=0.1)]:
        loss(x, t)
        g1 = loss.backward()
        np.testing.assert_array_equal(loss.backward(), g1)  # the cache is not consumed
        np.testing.assert_allclose(loss.backward(2.5), 2.5 * g1, rtol=1e-15)
    for loss in [nn.MSELoss(), nn.BCEWithLogitsLoss()]:
        loss(x, np.abs(np.tanh(x)))
        g1 = loss.backward()
        np.testing.assert_array_equal(loss.backward(), g1)


def _factor_cases():
    """(id, loss factory, x, target) for every loss and target kind, float64, inputs away
    from kinks (hinge margins) and from the clamps (BCE)."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((5, 4))
    idx = np.array([0, 3, 1, 1, 2])
    probs = rng.random((5, 4))
    probs /= probs.sum(axis=1, keepdims=True)
    seq = rng.standard_normal((2, 3, 4))
    seq_idx = np.array([[0, 3, 1], [2, 2, -100]])
    signs = np.where(rng.random((5, 4)) < 0.5, -1.0, 1.0)
    return [
        ("mse", lambda r: nn.MSELoss(reduction=r), x, rng.standard_normal((5, 4))),
        ("ce-index", lambda r: nn.CrossEntropyLoss(reduction=r), x, idx),
        ("ce-smooth-ignore", lambda r: nn.CrossEntropyLoss(
            reduction=r, label_smoothing=0.2, ignore_index=-100), seq, seq_idx),
        ("ce-probs", lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.1), x, probs),
        ("bce", lambda r: nn.BCELoss(reduction=r), rng.uniform(0.05, 0.95, (5, 4)),
         rng.random((5, 4))),
        ("bce-logits", lambda r: nn.BCEWithLogitsLoss(reduction=r), x, rng.random((5, 4))),
        ("bce-logits-pos-weight", lambda r: nn.BCEWithLogitsLoss(
            reduction=r, pos_weight=np.array([0.5, 1.0, 2.0, 3.0])), x, rng.random((5, 4))),
        ("hinge-multi", lambda r: nn.HingeLoss(reduction=r), x, idx),
        ("hinge-binary", lambda r: nn.HingeLoss(reduction=r), 0.8 * x, signs),
    ]


_FACTOR_CASES = _factor_cases()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("factor", [0.0, 1.0, 2.0, 0.5, -3.0, 0.3])
@pytest.mark.parametrize("case", _FACTOR_CASES, ids=[c[0] for c in _FACTOR_CASES])
def test_backward_factor_scales_the_gradient(case, factor, reduction):
    """backward(f) is f * backward(1) and the finite-difference gradient of f * L, for
    every loss and reduction, including f = 0 and f = 2 (a shortcut that treats a special
    value of f wrongly is caught here; gradcheck's random upstream scalar would miss it)."""
    _, make, x, target = case
    loss = make(reduction)
    loss(x, target)
    g1 = loss.backward()
    np.testing.assert_array_equal(loss.backward(1.0), g1)
    g = loss.backward(factor)
    assert g.shape == x.shape and g.dtype == x.dtype
    if factor in (0.0, 1.0, 2.0, 0.5):  # powers of two (and 0): the product is exact
        np.testing.assert_array_equal(g, factor * g1)
    else:
        np.testing.assert_allclose(g, factor * g1, rtol=1e-15, atol=0)
    if factor == 0.0:
        assert not np.any(g)
    np.testing.assert_array_equal(loss.backward(np.float64(factor)), g)  # a NumPy scalar
    probe = make(reduction)  # a second instance: each call of forward replaces the cache
    numeric = nn.numerical_gradient(lambda z: factor * probe(z, target), x)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


def test_backward_factor_on_a_float32_loss_keeps_float32():
    loss = nn.CrossEntropyLoss()
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(F32)
    loss(x, np.array([0, 1, 2, 2, 1, 0]))
    for factor in (0.0, 2.0, 0.5):
        g = loss.backward(factor)
        assert g.dtype == F32
        np.testing.assert_array_equal(g, F32(factor) * loss.backward())


def test_forward_does_not_mutate_input_or_target():
    x = np.random.default_rng(0).standard_normal((4, 3))
    cases = [(nn.CrossEntropyLoss(label_smoothing=0.1), np.array([0, 2, 1, 1])),
             (nn.CrossEntropyLoss(), np.full((4, 3), 1 / 3)), (nn.MSELoss(), np.ones((4, 3))),
             (nn.BCEWithLogitsLoss(pos_weight=np.ones(3)), np.ones((4, 3))),
             (nn.HingeLoss(), np.array([0, 2, 1, 1])), (nn.HingeLoss(), -np.ones((4, 3)))]
    for loss, t in cases:
        xc, tc = x.copy(), t.copy()
        loss(x, t)
        loss.backward()
        np.testing.assert_array_equal(x, xc)
        np.testing.assert_array_equal(t, tc)


# ---------------------------------------------------------------------- numerics, dtype
def _big_logit_cases():
    idx = np.array([2, 0])
    probs = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    binary = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    return [
        ("ce", nn.CrossEntropyLoss(), idx),
        ("ce-smooth", nn.CrossEntropyLoss(label_smoothing=0.1), idx),
        ("ce-ignore", nn.CrossEntropyLoss(ignore_index=0), idx),
        ("ce-probs", nn.CrossEntropyLoss(), probs),
        ("ce-probs-smooth", nn.CrossEntropyLoss(label_smoothing=0.1), probs),
        ("bce-logits", nn.BCEWithLogitsLoss(), binary),
        ("bce-logits-pw", nn.BCEWithLogitsLoss(pos_weight=np.array([2.0, 3.0, 0.5])), binary),
        ("hinge", nn.HingeLoss(), idx),
    ]


@pytest.mark.parametrize("case", range(len(_big_logit_cases())))
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("magnitude", [1e4, -1e4])
def test_logits_of_magnitude_1e4_are_finite_without_warning(case, dtype, magnitude):
    name, loss, t = _big_logit_cases()[case]
    x = (magnitude * np.array([[1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(x, t)
        g = loss.backward()
    assert math.isfinite(value), name
    assert g.dtype == dtype and g.shape == x.shape
    assert np.all(np.isfinite(g)), name


def test_cross_entropy_at_1e4_has_the_exact_limit():
    x = np.array([[1e4, 0.0, -1e4]])
    ce = nn.CrossEntropyLoss()
    assert ce(x, np.array([0])) == 0.0
    np.testing.assert_array_equal(ce.backward(), [[0.0, 0.0, 0.0]])
    assert ce(x, np.array([2])) == 2e4
    np.testing.assert_array_equal(ce.backward(), [[1.0, 0.0, -1.0]])
    bce = nn.BCEWithLogitsLoss()
    assert bce(np.array([-1e4]), np.array([1.0])) == 1e4
    np.testing.assert_array_equal(bce.backward(), [-1.0])


def _float32_cases():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(F32)
    idx = np.array([0, 2, 1, 1])
    return [
        (nn.MSELoss(), x, rng.standard_normal((4, 3))),
        (nn.CrossEntropyLoss(), x, idx),
        (nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=1), x, idx),
        (nn.CrossEntropyLoss(), x, np.full((4, 3), 1 / 3)),
        (nn.BCELoss(), 1 / (1 + np.exp(-x)), rng.random((4, 3))),
        (nn.BCEWithLogitsLoss(pos_weight=np.array([1.0, 2.0, 3.0])), x, rng.random((4, 3))),
        (nn.HingeLoss(), x, idx),
        (nn.HingeLoss(), x, np.sign(rng.standard_normal((4, 3)))),
    ]


@pytest.mark.parametrize("case", range(len(_float32_cases())))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_float32_input_gives_float32_grad(case, reduction):
    loss, x, t = _float32_cases()[case]
    loss.reduction = reduction
    value = loss(x, t)
    assert isinstance(value, float)
    g = loss.backward()
    assert g.dtype == F32 and g.shape == x.shape
    # the float32 gradient agrees with the float64 one
    loss(x.astype(F64), t)
    np.testing.assert_allclose(g, loss.backward(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- bad input
def test_nan_targets_are_rejected():
    x = np.zeros((2, 3))
    nan = np.full((2, 3), np.nan)
    for loss in [nn.MSELoss(), nn.BCELoss(), nn.BCEWithLogitsLoss(), nn.CrossEntropyLoss(),
                 nn.HingeLoss()]:
        with pytest.raises(ValueError, match=type(loss).__name__ + ".*NaN"):
            loss(x + 0.5, nan)


@pytest.mark.parametrize("bad", [3, -1, 100])
def test_out_of_range_class_index(bad):
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss.*3 classes.*\(2, 3\)"):
        nn.CrossEntropyLoss()(x, np.array([0, bad]))
    with pytest.raises(ValueError, match=r"HingeLoss.*3 classes.*\(2, 3\)"):
        nn.HingeLoss()(x, np.array([0, bad]))


def test_ignore_index_is_exempt_from_the_range_check():
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    assert math.isfinite(ce(np.zeros((2, 3)), np.array([-100, 1])))
    with pytest.raises(ValueError, match="out of range"):
        ce(np.zeros((2, 3)), np.array([-100, -1]))


@pytest.mark.parametrize("loss", [nn.MSELoss(), nn.BCELoss(), nn.BCEWithLogitsLoss()],
                         ids=lambda loss: type(loss).__name__)
@pytest.mark.parametrize("target_shape", [(4, 1), (1, 3), (3,), (4, 3, 1), (12,)])
def test_wrong_target_shape_is_not_broadcast(loss, target_shape):
    x = np.full((4, 3), 0.5)
    with pytest.raises(ValueError) as info:
        loss(x, np.full(target_shape, 0.5))
    msg = str(info.value)
    assert type(loss).__name__ in msg and str(target_shape) in msg and "(4, 3)" in msg


def test_cross_entropy_target_shape_errors_name_the_shapes():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss.*\(4, 1\).*\(4, 3\)"):
        nn.CrossEntropyLoss()(x, np.zeros((4, 1), dtype=int))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss.*\(4,\).*\(4, 3\)"):
        nn.CrossEntropyLoss()(x, np.zeros(4))  # float class indices
    with pytest.raises(ValueError, match=r"CrossEntropyLoss.*\(2, 3\)"):
        nn.CrossEntropyLoss()(x, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss.*\(3,\)"):
        nn.CrossEntropyLoss()(np.zeros(3), np.array([0]))
    with pytest.raises(TypeError, match="CrossEntropyLoss"):
        nn.CrossEntropyLoss()(x, np.array(["a", "b", "c", "d"]))


def test_hinge_target_errors():
    x = np.zeros((4, 3))
    with pytest.raises(TypeError, match="HingeLoss.*integer"):
        nn.HingeLoss()(x, np.zeros(4))  # float class indices
    with pytest.raises(ValueError, match=r"HingeLoss.*\(4, 3\).*\(4, 1\)"):
        nn.HingeLoss()(x, np.zeros((4, 1), dtype=int))
    with pytest.raises(ValueError, match="HingeLoss.*-1 or \\+1"):
        nn.HingeLoss()(x, np.zeros((4, 3)))
    # one score column with +/-1 class "indices": a binary problem in the wrong shape
    with pytest.raises(ValueError, match=r"out of range for 1 classes.*binary hinge.*same shape"):
        nn.HingeLoss()(np.zeros((4, 1)), np.array([1, -1, 1, -1]))


def test_other_input_errors():
    with pytest.raises(TypeError, match="MSELoss"):
        nn.MSELoss()(np.zeros(3, dtype=int), np.zeros(3))
    with pytest.raises(TypeError, match="MSELoss"):
        nn.MSELoss()([0.0, 1.0], np.zeros(2))
    with pytest.raises(ValueError, match="BCELoss.*probabilities"):
        nn.BCELoss()(np.array([1.5]), np.array([1.0]))
    with pytest.raises(ValueError, match="BCELoss.*target"):
        nn.BCELoss()(np.array([0.5]), np.array([2.0]))
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="none_such")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="margin"):
        nn.HingeLoss(margin=-1.0)
    with pytest.raises(RuntimeError, match="forward"):
        nn.MSELoss().backward()


# ---------------------------------------------------------------------- against PyTorch
def _torch():
    return pytest.importorskip("torch")


def _torch_value_and_grad(torch, fn, x):
    tx = torch.from_numpy(x).requires_grad_(True)
    out = fn(tx)
    out.backward()
    return float(out.detach()), tx.grad.numpy()


def _compare(ours, x, t, theirs_fn, rtol=1e-12, scale=1.0):
    torch = _torch()
    value = ours(x, t)
    grad = ours.backward()
    tv, tg = _torch_value_and_grad(torch, theirs_fn, x)
    assert value == pytest.approx(tv * scale, rel=rtol, abs=1e-14)
    np.testing.assert_allclose(grad, tg * scale, rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("ignore_index", [None, 1])
def test_cross_entropy_matches_torch(reduction, label_smoothing, ignore_index):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)) * 3
    t = np.array([0, 1, 2, 3, 1, 2])
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    torch_kwargs = dict(kwargs, ignore_index=-100 if ignore_index is None else ignore_index)
    ours = nn.CrossEntropyLoss(ignore_index=ignore_index, **kwargs)
    _compare(ours, x, t, lambda tx: tf.cross_entropy(tx, torch.from_numpy(t), **torch_kwargs))
    # (N, T, C) logits with (N, T) targets; torch wants the class dim second
    x3 = rng.standard_normal((2, 3, 4)) * 3
    t3 = np.array([[0, 1, 3], [1, 1, 2]])
    _compare(ours, x3, t3, lambda tx: tf.cross_entropy(tx.permute(0, 2, 1),
                                                       torch.from_numpy(t3), **torch_kwargs))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
def test_cross_entropy_probability_targets_match_torch(reduction, label_smoothing):
    torch = _torch()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4)) * 3
    t = rng.dirichlet(np.ones(4), size=5)
    ours = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing)
    _compare(ours, x, t, lambda tx: torch.nn.functional.cross_entropy(
        tx, torch.from_numpy(t), reduction=reduction, label_smoothing=label_smoothing))
    # (N, T, C) probabilities: mean over the N*T positions; ignore_index does not apply to
    # probability targets (torch refuses the combination; ours ignores the argument)
    x3 = rng.standard_normal((2, 3, 4)) * 3
    t3 = rng.dirichlet(np.ones(4), size=(2, 3))
    ours = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing,
                               ignore_index=1)
    _compare(ours, x3, t3, lambda tx: torch.nn.functional.cross_entropy(
        tx.permute(0, 2, 1), torch.from_numpy(t3).permute(0, 2, 1), reduction=reduction,
        label_smoothing=label_smoothing))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_and_mse_match_torch(reduction):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(2)
    p = rng.uniform(0.02, 0.98, (4, 3))
    t = rng.random((4, 3))
    _compare(nn.BCELoss(reduction=reduction), p, t,
             lambda tx: tf.binary_cross_entropy(tx, torch.from_numpy(t), reduction=reduction))
    x = rng.standard_normal((4, 3)) * 4
    _compare(nn.MSELoss(reduction=reduction), x, t,
             lambda tx: tf.mse_loss(tx, torch.from_numpy(t), reduction=reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, [0.5, 2.0, 4.0]])
def test_bce_with_logits_matches_torch(reduction, pos_weight):
    torch = _torch()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3)) * 4
    t = rng.random((5, 3))
    pw = None if pos_weight is None else np.array(pos_weight)
    ours = nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pw)
    _compare(ours, x, t, lambda tx: torch.nn.functional.binary_cross_entropy_with_logits(
        tx, torch.from_numpy(t), reduction=reduction,
        pos_weight=None if pw is None else torch.from_numpy(pw)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_hinge_multiclass_is_torch_multimargin_times_C(reduction, margin):
    # HingeLoss is the CS231n form: it does NOT divide by C, torch's MultiMarginLoss does
    torch = _torch()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 5))
    t = rng.integers(0, 5, 6)
    _compare(nn.HingeLoss(reduction=reduction, margin=margin), x, t,
             lambda tx: torch.nn.functional.multi_margin_loss(
                 tx, torch.from_numpy(t), margin=margin, reduction=reduction), scale=5.0)


@given(data=st.data())
def test_cross_entropy_matches_torch_property(data):
    torch = _torch()
    lead = data.draw(shapes(min_dims=1, max_dims=2, max_side=4), label="lead")
    C = data.draw(st.integers(1, 5), label="C")
    x = data.draw(arrays(tuple(lead) + (C,), lo=-20, hi=20), label="logits")
    ignore = data.draw(st.sampled_from([None, -100, 0]), label="ignore_index")
    smoothing = data.draw(st.sampled_from([0.0, 0.05, 0.5]), label="label_smoothing")
    reduction = data.draw(st.sampled_from(REDUCTIONS), label="reduction")
    t = data.draw(class_targets(tuple(lead), C, ignore), label="target")
    # every position ignored: torch gives NaN for "mean", we give 0.0 (tested above)
    assume(not (reduction == "mean" and ignore is not None and np.all(t == ignore)))
    ours = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing,
                               ignore_index=ignore)
    tt = torch.from_numpy(t)

    def theirs(tx):
        if tx.dim() == 3:
            tx = tx.permute(0, 2, 1)
        return torch.nn.functional.cross_entropy(
            tx, tt, reduction=reduction, label_smoothing=smoothing,
            ignore_index=-100 if ignore is None else ignore)

    _compare(ours, x, t, theirs, rtol=1e-10)


@given(data=st.data())
def test_bce_with_logits_matches_torch_property(data):
    torch = _torch()
    shape = data.draw(shapes(min_dims=1, max_dims=3), label="shape")
    x = data.draw(arrays(shape, lo=-40, hi=40), label="logits")
    t = data.draw(arrays(shape, lo=0.0, hi=1.0), label="target")
    pw = data.draw(st.none() | arrays((shape[-1],), lo=0.1, hi=5.0), label="pos_weight")
    reduction = data.draw(st.sampled_from(REDUCTIONS), label="reduction")
    ours = nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pw)
    _compare(ours, x, t, lambda tx: torch.nn.functional.binary_cross_entropy_with_logits(
        tx, torch.from_numpy(t), reduction=reduction,
        pos_weight=None if pw is None else torch.from_numpy(pw)), rtol=1e-10)
