"""Layers: property-based gradient checks, dtype, mutation, accumulation, values by hand,
Dropout semantics, input validation, and (optionally) agreement with PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, away_from_zero, batched, seeds, shapes

import nn
import optim

F64 = np.float64
F32 = np.float32


# ---------------------------------------------------------------------- factories
def activation_factories():
    """name -> (factory, needs inputs away from 0, min_dims)."""
    return {
        "ReLU": (nn.ReLU, True, 1),
        "LeakyReLU": (lambda: nn.LeakyReLU(0.1), True, 1),
        "LeakyReLU-default": (nn.LeakyReLU, True, 1),
        "Sigmoid": (nn.Sigmoid, False, 1),
        "Tanh": (nn.Tanh, False, 1),
        "GELU": (nn.GELU, False, 1),
        "Softmax(-1)": (nn.Softmax, False, 1),
        "Softmax(0)": (lambda: nn.Softmax(axis=0), False, 1),
        "LogSoftmax(-1)": (nn.LogSoftmax, False, 1),
        "LogSoftmax(0)": (lambda: nn.LogSoftmax(axis=0), False, 1),
        "Flatten": (nn.Flatten, False, 2),
    }


ACTIVATIONS = activation_factories()


def every_layer():
    """name -> (factory(dtype), input shape): one instance of every layer type."""
    return {
        "Linear": (lambda dt: nn.Linear(4, 3, rng=1, dtype=dt), (2, 4)),
        "Linear-3d": (lambda dt: nn.Linear(4, 3, rng=1, dtype=dt), (2, 3, 4)),
        "Linear-nobias": (lambda dt: nn.Linear(4, 3, bias=False, rng=1, dtype=dt), (2, 4)),
        "ReLU": (lambda dt: nn.ReLU(), (2, 4)),
        "LeakyReLU": (lambda dt: nn.LeakyReLU(0.1), (2, 4)),
        "Sigmoid": (lambda dt: nn.Sigmoid(), (2, 4)),
        "Tanh": (lambda dt: nn.Tanh(), (2, 4)),
        "GELU": (lambda dt: nn.GELU(), (2, 4)),
        "Softmax": (lambda dt: nn.Softmax(), (2, 4)),
        "Softmax0": (lambda dt: nn.Softmax(axis=0), (2, 4)),
        "LogSoftmax": (lambda dt: nn.LogSoftmax(), (2, 4)),
        "Flatten": (lambda dt: nn.Flatten(), (2, 3, 2)),
        "Dropout-train": (lambda dt: nn.Dropout(0.5, rng=3), (2, 4)),
        "Dropout-eval": (lambda dt: nn.Dropout(0.5, rng=3).eval(), (2, 4)),
        "Sequential": (lambda dt: nn.Sequential(nn.Linear(4, 5, rng=1, dtype=dt), nn.Tanh(),
                                                nn.Dropout(0.2, rng=2),
                                                nn.Linear(5, 3, rng=3, dtype=dt)), (2, 4)),
        "Residual": (lambda dt: nn.Residual(nn.Sequential(nn.Linear(4, 4, rng=1, dtype=dt),
                                                          nn.GELU())), (2, 4)),
    }


LAYERS = every_layer()


def sample_input(shape, dtype=F64, seed=10):
    """A deterministic input with no entry near 0 (ReLU kinks out of reach)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return away_from_zero(x, 0.1).astype(dtype)


# ---------------------------------------------------------------------- gradcheck properties
@given(data=st.data())
def test_linear_gradcheck_any_leading_dims(data):
    in_f = data.draw(st.integers(1, 5), label="in_features")
    out_f = data.draw(st.integers(1, 4), label="out_features")
    bias = data.draw(st.booleans(), label="bias")
    seed = data.draw(seeds, label="seed")
    x = data.draw(batched(features=in_f, min_lead=0, max_lead=3, max_side=3), label="x")
    layer = nn.Linear(in_f, out_f, bias=bias, rng=seed, dtype=F64)
    report = nn.assert_gradcheck(layer, x)
    names = [r.name for r in report.results]
    assert names == (["input", "weight", "bias"] if bias else ["input", "weight"])


@pytest.mark.parametrize("init", ["he", "he_normal", "kaiming", "kaiming_normal", "he_uniform",
                                  "kaiming_uniform", "xavier", "glorot", "xavier_uniform",
                                  "glorot_uniform", "xavier_normal", "glorot_normal", "torch"])
def test_linear_every_init_name(init):
    layer = nn.Linear(6, 5, init=init, rng=0)
    w, b = layer.weight.data, layer.bias.data
    assert w.shape == (6, 5) and b.shape == (5,)
    assert w.dtype == F32 and b.dtype == F32
    assert np.all(np.isfinite(w)) and np.unique(w).size == w.size  # random, not constant
    if init == "torch":
        bound = 1 / math.sqrt(6)
        assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
        assert np.any(b != 0)
    else:
        assert np.all(b == 0)
    if "uniform" in init or init in ("xavier", "glorot"):
        fan_in, fan_out = 6, 5
        bound = (math.sqrt(6 / 6) if "he" in init or "kaiming" in init
                 else math.sqrt(6 / (fan_in + fan_out)))
        assert np.all(np.abs(w) <= bound * (1 + 1e-6))
    nn.assert_gradcheck(layer, sample_input((3, 6)))


def test_linear_init_callable_and_unknown_name():
    seen = []

    def ones(w, rng):
        seen.append(isinstance(rng, np.random.Generator))
        w[...] = 1.0

    layer = nn.Linear(3, 2, init=ones)
    assert seen == [True]
    np.testing.assert_array_equal(layer.weight.data, np.ones((3, 2), F32))
    np.testing.assert_array_equal(layer.bias.data, np.zeros(2, F32))
    with pytest.raises(ValueError, match="unknown init 'nope'"):
        nn.Linear(3, 2, init="nope")


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(data=st.data())
def test_parameter_free_layers_gradcheck(name, data):
    factory, kinked, min_dims = ACTIVATIONS[name]
    x = data.draw(arrays(shapes(min_dims=min_dims, max_dims=3, max_side=4)), label="x")
    if kinked:
        x = away_from_zero(x, 0.1)
    report = nn.assert_gradcheck(factory(), x)
    assert report["input"].checked == x.size
    assert report["input"].kinks == 0


@given(x=arrays(shapes(min_dims=1, max_dims=3, max_side=4)),
       p=st.sampled_from([0.0, 0.1, 0.5, 0.9]), seed=seeds, training=st.booleans())
def test_dropout_gradcheck_train_and_eval(x, p, seed, training):
    layer = nn.Dropout(p, rng=seed).train(training)
    nn.assert_gradcheck(layer, x)


@given(x=batched(features=3, min_lead=1, max_lead=2, max_side=4), seed=seeds)
def test_sequential_gradcheck(x, seed):
    model = nn.Sequential(nn.Linear(3, 4, rng=seed, dtype=F64), nn.Tanh(),
                          nn.Dropout(0.3, rng=seed), nn.Linear(4, 4, rng=seed + 1, dtype=F64),
                          nn.GELU(), nn.Linear(4, 2, rng=seed + 2, dtype=F64), nn.LogSoftmax())
    report = nn.assert_gradcheck(model, x)
    assert [r.name for r in report.results] == ["input", "0.weight", "0.bias", "3.weight",
                                                "3.bias", "5.weight", "5.bias"]


@given(x=batched(features=3, min_lead=1, max_lead=3, max_side=3), seed=seeds)
def test_residual_gradcheck(x, seed):
    block = nn.Residual(nn.Sequential(nn.Linear(3, 5, rng=seed, dtype=F64), nn.Sigmoid(),
                                      nn.Linear(5, 3, rng=seed + 1, dtype=F64)))
    report = nn.assert_gradcheck(block, x)
    assert [r.name for r in report.results] == ["input", "layer.0.weight", "layer.0.bias",
                                                "layer.2.weight", "layer.2.bias"]


def test_flatten_then_linear_gradcheck():
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 2, rng=0, dtype=F64), nn.Softmax(axis=0))
    nn.assert_gradcheck(model, sample_input((3, 2, 3)))


# ------------------------------------------------------------ dtype, mutation, accumulation
@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("dtype", [F32, F64])
def test_dtype_in_equals_dtype_out(name, dtype):
    factory, shape = LAYERS[name]
    layer = factory(dtype)
    x = sample_input(shape, dtype)
    y = layer(x)
    assert isinstance(y, np.ndarray) and y.dtype == dtype
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx = layer.backward(g)
    assert dx.dtype == dtype and dx.shape == x.shape
    for pname, p in layer.named_parameters():
        assert p.data.dtype == dtype, pname
        assert p.grad.dtype == dtype, pname
        assert np.any(p.grad != 0), f"{pname} got no gradient"


@pytest.mark.parametrize("name", list(ACTIVATIONS) + ["Dropout"])
def test_parameter_free_layers_keep_float16(name):
    """Parameter-free layers keep any floating dtype (docs/architecture.md), float16
    included, although SciPy's expit and erf compute float16 in float64."""
    layer = nn.Dropout(0.5, rng=0) if name == "Dropout" else ACTIVATIONS[name][0]()
    x = np.linspace(-3, 3, 24).astype(np.float16).reshape(2, 3, 4)
    y = layer(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == np.float16 and dx.dtype == np.float16 and dx.shape == x.shape
    with np.errstate(under="ignore"):
        ref = ACTIVATIONS[name][0]()(x.astype(F64)) if name != "Dropout" else None
    if ref is not None:
        np.testing.assert_allclose(y.astype(F64), ref, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("name", list(LAYERS))
def test_forward_and_backward_never_mutate_their_arguments(name):
    factory, shape = LAYERS[name]
    layer = factory(F64)
    x = sample_input(shape)
    x_copy = x.copy()
    y = layer(x)
    g = np.random.default_rng(2).standard_normal(y.shape)
    g_copy = g.copy()
    dx = layer.backward(g)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(g, g_copy)
    # a second backward from the same cache gives the same answer (the cache is intact)
    layer.zero_grad()
    np.testing.assert_array_equal(layer.backward(g), dx)


@pytest.mark.parametrize("name", ["Linear", "Linear-3d", "Linear-nobias", "Residual"])
def test_two_backward_passes_accumulate_exactly_twice(name):
    factory, shape = LAYERS[name]
    layer = factory(F64)
    x = sample_input(shape)
    g = np.random.default_rng(3).standard_normal(layer(x).shape)
    layer.backward(g)
    once = {n: p.grad.copy() for n, p in layer.named_parameters()}
    grad_arrays = {n: p.grad for n, p in layer.named_parameters()}
    layer(x)
    layer.backward(g)
    for n, p in layer.named_parameters():
        np.testing.assert_array_equal(p.grad, 2 * once[n], err_msg=n)
        assert p.grad is grad_arrays[n], f"{n}.grad was re-bound instead of accumulated"


@pytest.mark.parametrize("name", ["Linear", "Linear-3d", "Linear-nobias", "Residual"])
def test_zero_grad_then_backward_gives_one_backwards_gradient(name):
    factory, shape = LAYERS[name]
    layer = factory(F64)
    x = sample_input(shape)
    g = np.random.default_rng(3).standard_normal(layer(x).shape)
    layer.backward(g)
    once = {n: p.grad.copy() for n, p in layer.named_parameters()}
    for _ in range(3):  # accumulate some junk, then zero and do one clean pass
        layer(x)
        layer.backward(g * 5)
    layer.zero_grad()
    for n, p in layer.named_parameters():
        np.testing.assert_array_equal(p.grad, 0, err_msg=n)
    layer.zero_grad()
    layer(x)
    layer.backward(g)
    layer(x)
    layer.backward(g)  # after zero_grad: the first pass may overwrite, the second must add
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[n], rtol=1e-14, atol=1e-15, err_msg=n)


def test_frozen_weight_keeps_a_zero_gradient_across_zero_grad():
    layer = nn.Linear(3, 2, rng=0, dtype=F64)
    layer.weight.requires_grad = False
    x = sample_input((4, 3))
    for _ in range(2):
        layer.zero_grad()
        layer(x)
        layer.backward(np.ones((4, 2)))
        np.testing.assert_array_equal(layer.weight.grad, 0)
        np.testing.assert_array_equal(layer.bias.grad, [4, 4])


def test_sequential_with_dropout_accumulates_twice_with_replayed_mask():
    model = nn.Sequential(nn.Linear(4, 6, rng=0, dtype=F64), nn.ReLU(), nn.Dropout(0.5, rng=7),
                          nn.Linear(6, 2, rng=1, dtype=F64))
    x = sample_input((5, 4))
    g = np.random.default_rng(3).standard_normal((5, 2))
    model(x)
    model.backward(g)
    once = [p.grad.copy() for p in model.parameters()]
    model.backward(g)  # same cache, same mask
    for p, g1 in zip(model.parameters(), once):
        np.testing.assert_array_equal(p.grad, 2 * g1)


@given(k=st.integers(2, 6), seed=seeds, label=st.integers(0, 2))
def test_k_copies_of_a_sample_give_that_samples_gradient(k, seed, label):
    model = nn.Sequential(nn.Linear(4, 5, rng=seed, dtype=F64), nn.Tanh(),
                          nn.Linear(5, 3, rng=seed + 1, dtype=F64))
    loss_fn = nn.CrossEntropyLoss()
    x1 = np.random.default_rng(seed).standard_normal((1, 4))
    t1 = np.array([label])
    l1 = loss_fn(model(x1), t1)
    dx1 = model.backward(loss_fn.backward())
    single = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    lk = loss_fn(model(np.repeat(x1, k, axis=0)), np.repeat(t1, k))
    dxk = model.backward(loss_fn.backward())
    assert lk == pytest.approx(l1, rel=1e-12)
    for p, g1 in zip(model.parameters(), single):
        np.testing.assert_allclose(p.grad, g1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dxk, np.repeat(dx1 / k, k, axis=0), rtol=1e-12, atol=1e-15)


def _train_a_few_steps(seed):
    nn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    data = np.random.default_rng(0)
    x = data.standard_normal((16, 4)).astype(F32)
    t = data.integers(0, 3, 16)
    for _ in range(4):
        opt.zero_grad()
        loss_fn(model(x), t)
        model.backward(loss_fn.backward())
        opt.step()
    return model.state_dict()


def test_same_seed_gives_bit_identical_trained_weights():
    a, b = _train_a_few_steps(5), _train_a_few_steps(5)
    c = _train_a_few_steps(6)
    assert list(a) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert a[key].dtype == F32
    assert any(not np.array_equal(a[key], c[key]) for key in a)


def test_linear_leading_dims_match_row_by_row():
    layer = nn.Linear(3, 2, rng=0, dtype=F64)
    x = sample_input((2, 4, 3))
    y = layer(x)
    assert y.shape == (2, 4, 2)
    for n in range(2):
        for t in range(4):
            np.testing.assert_allclose(y[n, t], x[n, t] @ layer.weight.data + layer.bias.data,
                                       rtol=1e-14)
    g = np.random.default_rng(1).standard_normal(y.shape)
    dx = layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, x.reshape(-1, 3).T @ g.reshape(-1, 2),
                               rtol=1e-13)
    np.testing.assert_allclose(layer.bias.grad, g.sum(axis=(0, 1)), rtol=1e-13)
    np.testing.assert_allclose(dx, g @ layer.weight.data.T, rtol=1e-13)


def test_linear_without_bias():
    layer = nn.Linear(3, 2, bias=False, rng=0, dtype=F64)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    x = sample_input((4, 3))
    np.testing.assert_array_equal(layer(x), x @ layer.weight.data)


# ---------------------------------------------------------------------- values by hand
def test_linear_values_by_hand():
    layer = nn.Linear(3, 2, dtype=F64)
    layer.weight.data[...] = [[1, 2], [3, 4], [5, 6]]
    layer.bias.data[...] = [0.5, -1]
    x = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    np.testing.assert_array_equal(layer(x), [[-3.5, -5.0], [5.5, 7.0]])
    dx = layer.backward(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_array_equal(layer.weight.grad, [[1, 2], [0, 1], [-1, 0]])
    np.testing.assert_array_equal(layer.bias.grad, [1, 1])
    np.testing.assert_array_equal(dx, [[1, 3, 5], [2, 4, 6]])


def test_relu_and_leaky_relu_by_hand():
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    g = np.array([1.0, 2.0, 3.0, 4.0])
    relu = nn.ReLU()
    np.testing.assert_array_equal(relu(x), [0, 0, 0.5, 3])
    np.testing.assert_array_equal(relu.backward(g), [0, 0, 3, 4])
    leaky = nn.LeakyReLU(0.2)
    np.testing.assert_allclose(leaky(x), [-0.4, -0.1, 0.5, 3.0], rtol=1e-15)
    np.testing.assert_allclose(leaky.backward(g), [0.2, 0.4, 3, 4], rtol=1e-15)
    assert nn.LeakyReLU()(np.array([-1.0]))[0] == pytest.approx(-0.01)
    # the derivative at exactly 0 is taken as 0, like PyTorch
    relu(np.array([0.0]))
    assert relu.backward(np.array([1.0]))[0] == 0.0


def test_sigmoid_and_tanh_by_hand():
    sig = nn.Sigmoid()
    np.testing.assert_allclose(sig(np.array([0.0, math.log(3), -math.log(3)])),
                               [0.5, 0.75, 0.25], rtol=1e-15)
    np.testing.assert_allclose(sig.backward(np.ones(3)), [0.25, 0.1875, 0.1875], rtol=1e-14)
    tanh = nn.Tanh()
    np.testing.assert_allclose(tanh(np.array([0.0, math.log(2)])), [0.0, 0.6], atol=1e-15)
    np.testing.assert_allclose(tanh.backward(np.array([2.0, 1.0])), [2.0, 0.64], rtol=1e-14)


def test_gelu_by_hand():
    gelu = nn.GELU()
    y = gelu(np.array([1.0, -1.0, 0.0]))
    np.testing.assert_allclose(y, [0.8413447460685429, -0.15865525393145707, 0.0],
                               rtol=1e-14, atol=0)
    # dy/dx = Phi(x) + x phi(x): Phi(1) + phi(1), Phi(-1) - phi(-1), Phi(0)
    phi1 = math.exp(-0.5) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(gelu.backward(np.ones(3)),
                               [0.8413447460685429 + phi1, 0.15865525393145707 - phi1, 0.5],
                               rtol=1e-13)


def test_softmax_by_hand():
    sm = nn.Softmax()
    y = sm(np.array([[1.0, 2.0, 3.0]]))
    expected = np.array([0.09003057317038046, 0.24472847105479767, 0.6652409557748219])
    np.testing.assert_allclose(y[0], expected, rtol=1e-14)
    dx = sm.backward(np.array([[1.0, 0.0, 0.0]]))
    # dx = y * (g - <g, y>) = y * (e_0 - y_0)
    np.testing.assert_allclose(dx[0], expected * (np.array([1, 0, 0]) - expected[0]), rtol=1e-13)
    assert dx.sum() == pytest.approx(0, abs=1e-15)
    # shift invariance and huge logits
    np.testing.assert_allclose(sm(np.array([[1001.0, 1002.0, 1003.0]]))[0], expected, rtol=1e-12)
    np.testing.assert_array_equal(sm(np.array([[1e4, 0.0, -1e4]])), [[1.0, 0.0, 0.0]])


def test_softmax_axis0_by_hand():
    y = nn.Softmax(axis=0)(np.array([[1.0, 1.0], [2.0, 3.0]]))
    np.testing.assert_allclose(y, [[0.2689414213699951, 0.11920292202211755],
                                   [0.7310585786300049, 0.8807970779778823]], rtol=1e-14)
    np.testing.assert_allclose(y.sum(axis=0), [1, 1], rtol=1e-15)


def test_log_softmax_by_hand():
    ls = nn.LogSoftmax()
    y = ls(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(y[0], [-2.4076059644443806, -1.4076059644443806,
                                      -0.4076059644443804], rtol=1e-14)
    dx = ls.backward(np.array([[0.0, 0.0, 1.0]]))
    p = np.exp(y[0])
    np.testing.assert_allclose(dx[0], np.array([0, 0, 1.0]) - p, rtol=1e-14)
    # no overflow, no log(0) at logits of 1e4
    big = ls(np.array([[1e4, 0.0, -1e4]]))
    np.testing.assert_array_equal(big, [[0.0, -1e4, -2e4]])


def test_flatten_and_residual_by_hand():
    x = np.arange(24, dtype=F64).reshape(2, 3, 4)
    flat = nn.Flatten()
    y = flat(x)
    np.testing.assert_array_equal(y, x.reshape(2, 12))
    np.testing.assert_array_equal(flat.backward(y * 2), x * 2)
    lin = nn.Linear(2, 2, dtype=F64)
    lin.weight.data[...] = [[2, 0], [0, 2]]
    lin.bias.data[...] = [1, -1]
    res = nn.Residual(lin)
    x = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(res(x), [[4.0, 5.0]])  # x + (2x + b)
    np.testing.assert_array_equal(res.backward(np.array([[1.0, 1.0]])), [[3.0, 3.0]])
    np.testing.assert_array_equal(lin.weight.grad, [[1, 1], [2, 2]])


# ---------------------------------------------------------------------- Dropout
def test_dropout_eval_is_identity():
    layer = nn.Dropout(0.7, rng=0).eval()
    x = sample_input((20, 30))
    y = layer(x)
    np.testing.assert_array_equal(y, x)
    assert y is not x
    g = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(g), g)


def test_dropout_p0_is_identity_in_training():
    layer = nn.Dropout(0.0, rng=0)
    x = sample_input((5, 6))
    np.testing.assert_array_equal(layer(x), x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_dropout_train_scales_kept_entries_and_reuses_mask(p, dtype):
    layer = nn.Dropout(p, rng=11)
    x = (1.0 + np.random.default_rng(0).random((200, 100))).astype(dtype)  # no zeros
    y = layer(x)
    assert y.dtype == dtype
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=4 * np.finfo(dtype).eps)
    dropped = 1 - kept.mean()
    assert abs(dropped - p) < 0.015  # 1e4 Bernoulli draws: std <= 0.005
    assert abs(y.mean() / x.mean() - 1) < 0.05  # inverted dropout keeps the mean
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    dx = layer.backward(g)
    np.testing.assert_array_equal(dx[~kept], 0)
    np.testing.assert_allclose(dx[kept], g[kept] / (1 - p), rtol=4 * np.finfo(dtype).eps)


def test_dropout_masks_are_fresh_each_call_and_reproducible_by_seed():
    x = np.ones((10, 10))
    layer = nn.Dropout(0.5, rng=4)
    m1, m2 = layer(x) != 0, layer(x) != 0
    assert not np.array_equal(m1, m2)
    np.testing.assert_array_equal(nn.Dropout(0.5, rng=4)(x), nn.Dropout(0.5, rng=4)(x))
    nn.manual_seed(9)
    a = nn.Dropout(0.5)(x)
    nn.manual_seed(9)
    b = nn.Dropout(0.5)(x)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan"), float("inf")])
def test_dropout_p_outside_unit_interval_raises(p):
    with pytest.raises(ValueError, match="Dropout"):
        nn.Dropout(p)


# ---------------------------------------------------------------------- bad input
def test_linear_integer_input_is_a_type_error_naming_layer_and_dtype():
    with pytest.raises(TypeError, match=r"Linear.*int64"):
        nn.Linear(3, 2)(np.ones((2, 3), dtype=np.int64))


def test_linear_wrong_last_dim_names_layer_and_shapes():
    with pytest.raises(ValueError) as info:
        nn.Linear(3, 2)(np.ones((2, 4), dtype=F32))
    msg = str(info.value)
    assert "Linear" in msg and "(..., 3)" in msg and "(2, 4)" in msg
    with pytest.raises(ValueError, match=r"Linear.*\(\.\.\., 3\).*\(5, 2, 7\)"):
        nn.Linear(3, 2)(np.ones((5, 2, 7), dtype=F32))


def test_linear_float64_input_into_float32_layer_is_a_type_error():
    with pytest.raises(TypeError, match=r"Linear.*float64.*float32"):
        nn.Linear(3, 2)(np.ones((2, 3), dtype=F64))


@pytest.mark.parametrize("name", list(LAYERS))
def test_wrong_grad_shape_in_backward_is_a_value_error(name):
    factory, shape = LAYERS[name]
    layer = factory(F64)
    y = layer(sample_input(shape))
    bad = np.ones(y.shape[:-1] + (y.shape[-1] + 1,))
    with pytest.raises(ValueError) as info:
        layer.backward(bad)
    msg = str(info.value)
    assert "backward" in msg and str(y.shape) in msg and str(bad.shape) in msg


@pytest.mark.parametrize("name", list(LAYERS))
def test_backward_before_forward_is_a_runtime_error(name):
    factory, shape = LAYERS[name]
    layer = factory(F64)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.ones(shape))


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax",
                                  "LogSoftmax", "Dropout-train"])
def test_integer_input_into_activation_names_the_layer(name):
    factory, shape = LAYERS[name]
    layer = factory(F64)
    with pytest.raises(TypeError, match=type(layer).__name__):
        layer(np.ones(shape, dtype=np.int32))


def test_other_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match="Softmax.*axis 2"):
        nn.Softmax(axis=2)(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Flatten.*\(3,\)"):
        nn.Flatten()(np.ones(3))
    with pytest.raises(ValueError, match=r"Residual.*\(2, 3\).*\(2, 4\)"):
        nn.Residual(nn.Linear(3, 4, dtype=F64))(np.ones((2, 3)))
    with pytest.raises(TypeError, match="Sequential"):
        nn.Sequential(nn.ReLU(), "not a layer")
    with pytest.raises(ValueError, match="Linear"):
        nn.Linear(0, 3)


def test_float64_grad_into_float32_layer_is_cast_not_promoted():
    layer = nn.Linear(3, 2, rng=0)
    layer(np.ones((4, 3), F32))
    dx = layer.backward(np.ones((4, 2), F64))
    assert dx.dtype == F32 and layer.weight.grad.dtype == F32


# ---------------------------------------------------------------------- against PyTorch
def _torch():
    return pytest.importorskip("torch")


def test_linear_matches_torch():
    torch = _torch()
    layer = nn.Linear(4, 3, rng=0, init="torch", dtype=F64)
    x = sample_input((2, 5, 4))
    g = np.random.default_rng(1).standard_normal((2, 5, 3))
    y = layer(x)
    dx = layer.backward(g)
    tl = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))
        tl.bias.copy_(torch.from_numpy(layer.bias.data))
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = tl(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(layer.weight.grad, tl.weight.grad.numpy().T, rtol=1e-13,
                               atol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, tl.bias.grad.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax(-1)",
                                  "Softmax(0)", "LogSoftmax(-1)", "LogSoftmax(0)"])
def test_activations_match_torch(name):
    torch = _torch()
    tf = torch.nn.functional
    reference = {
        "ReLU": tf.relu, "LeakyReLU": lambda t: tf.leaky_relu(t, 0.1),
        "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "GELU": lambda t: tf.gelu(t),
        "Softmax(-1)": lambda t: torch.softmax(t, -1), "Softmax(0)": lambda t: torch.softmax(t, 0),
        "LogSoftmax(-1)": lambda t: torch.log_softmax(t, -1),
        "LogSoftmax(0)": lambda t: torch.log_softmax(t, 0),
    }[name]
    layer = ACTIVATIONS[name][0]()
    x = sample_input((3, 5)) * 2
    g = np.random.default_rng(5).standard_normal(x.shape)
    y = layer(x)
    dx = layer.backward(g)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = reference(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------- underflow and 0-d input
def _underflow_case(name, factory, x):
    return pytest.param(factory, x, id=name)


@pytest.mark.parametrize("factory,x", [
    _underflow_case("Softmax-f32", nn.Softmax, np.array([[0.0, 0.5, -95.0]], F32)),
    _underflow_case("Softmax-f64", nn.Softmax, np.array([[0.0, 0.5, -720.0]])),
    _underflow_case("Softmax0-f64", lambda: nn.Softmax(axis=0), np.array([[0.0], [0.5], [-720.0]])),
    _underflow_case("LogSoftmax-f32", nn.LogSoftmax, np.array([[0.0, 0.5, -95.0]], F32)),
    _underflow_case("LogSoftmax-f64", nn.LogSoftmax, np.array([[0.0, 0.5, -720.0]])),
    _underflow_case("GELU-f32", nn.GELU, np.array([-13.5, 1.0], F32)),
    _underflow_case("GELU-f64", nn.GELU, np.array([-38.0, 1.0])),
    _underflow_case("Tanh-f32", nn.Tanh, np.array([1e-25, 1.0], F32)),
    _underflow_case("Tanh-f64", nn.Tanh, np.array([1e-200, 1.0])),
    _underflow_case("Sigmoid-f32", nn.Sigmoid, np.array([-95.0, 1.0], F32)),
    _underflow_case("Sigmoid-f64", nn.Sigmoid, np.array([-720.0, 1.0])),
])
def test_tiny_values_underflow_quietly_to_the_right_limit(factory, x):
    """A confident float32 classifier easily has logits 95 apart: softmax must not raise."""
    layer = factory()
    g = np.full(x.shape, 0.7, x.dtype)
    y = layer(x)  # conftest: np.errstate(all="raise") is active
    dx = layer.backward(g)
    assert y.dtype == x.dtype and dx.dtype == x.dtype
    with np.errstate(under="ignore"):
        ref = factory()
        y64 = ref(x.astype(F64))
        dx64 = ref.backward(g.astype(F64))
        eps = np.finfo(x.dtype).eps  # softmax's dx is 0 here up to one rounding of 0.7
        np.testing.assert_allclose(y, y64, rtol=1e-6, atol=1e-30)  # (isclose underflows)
        np.testing.assert_allclose(dx, dx64, rtol=1e-6, atol=4 * eps)


@pytest.mark.parametrize("factory", [
    pytest.param(nn.ReLU, id="ReLU"),
    pytest.param(nn.LeakyReLU, id="LeakyReLU"),
    pytest.param(nn.Sigmoid, id="Sigmoid"),
    pytest.param(nn.Tanh, id="Tanh"),
    pytest.param(nn.GELU, id="GELU"),
    pytest.param(lambda: nn.Dropout(0.5, rng=0), id="Dropout-train"),
    pytest.param(lambda: nn.Dropout(0.5, rng=0).eval(), id="Dropout-eval"),
])
def test_zero_dim_input_gives_ndarray_output_and_gradient(factory):
    layer = factory()
    y = layer(np.array(1.5))
    assert type(y) is np.ndarray and y.shape == ()
    dx = layer.backward(np.array(1.0))
    assert type(dx) is np.ndarray and dx.shape == ()


def test_residual_of_an_activation_on_a_zero_dim_input():
    np.testing.assert_array_equal(nn.Residual(nn.ReLU())(np.array(2.0)), 4.0)


def _torch_reference(torch, name):
    tf = torch.nn.functional
    return {
        "ReLU": tf.relu, "LeakyReLU": lambda t: tf.leaky_relu(t, 0.1),
        "LeakyReLU-default": tf.leaky_relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh,
        "GELU": tf.gelu, "Softmax(-1)": lambda t: torch.softmax(t, -1),
        "Softmax(0)": lambda t: torch.softmax(t, 0),
        "LogSoftmax(-1)": lambda t: torch.log_softmax(t, -1),
        "LogSoftmax(0)": lambda t: torch.log_softmax(t, 0),
        "Flatten": lambda t: t.reshape(t.shape[0], -1),
    }[name]


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(data=st.data())
def test_parameter_free_layers_match_torch_property(name, data):
    torch = _torch()
    factory, kinked, min_dims = ACTIVATIONS[name]
    x = data.draw(arrays(shapes(min_dims=min_dims, max_dims=3, max_side=4), lo=-20, hi=20))
    if kinked:
        x = away_from_zero(x, 0.1)
    layer = factory()
    y = layer(x)
    g = np.random.default_rng(0).standard_normal(y.shape)
    dx = layer.backward(g)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = _torch_reference(torch, name)(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_flatten_backward_keeps_a_channels_last_layout():
    x = np.arange(2 * 3 * 4 * 5, dtype=F64).reshape(2, 4, 5, 3).transpose(0, 3, 1, 2)
    layer = nn.Flatten()
    y = layer(x)
    np.testing.assert_array_equal(y, np.ascontiguousarray(x).reshape(2, -1))  # NCHW order
    g = np.random.default_rng(0).standard_normal(y.shape)
    dx = layer.backward(g)
    assert dx.shape == x.shape and dx.strides == x.strides
    np.testing.assert_array_equal(dx, g.reshape(x.shape))
    nn.assert_gradcheck(layer, np.ascontiguousarray(x))


def test_sequential_refuses_one_layer_object_twice():
    """A layer keeps the cache of its last forward: one object used twice would back-
    propagate its first use through the second use's input (wrong weight gradients)."""
    lin = nn.Linear(3, 3, rng=0, dtype=F64)
    with pytest.raises(ValueError, match=r"Sequential: Linear.*already in this Sequential.*"
                                         r"second\.weight = first\.weight"):
        nn.Sequential(lin, nn.Tanh(), lin)
    act = nn.Tanh()
    with pytest.raises(ValueError, match="Tanh"):
        nn.Sequential(nn.Linear(3, 3, rng=0), act, nn.Sequential(nn.Linear(3, 3, rng=1), act))

