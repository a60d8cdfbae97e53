"""BatchNorm1d, BatchNorm2d and LayerNorm: property-based gradient checks (train mode through
the batch statistics, eval mode through the running ones), values by hand and against
PyTorch, the running-statistics rule, buffers, dtypes and errors.

Derivations: docs/math/normalization.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import arrays, seeds

import nn

F64 = np.float64
F32 = np.float32


def randomise_affine(layer, seed):
    """Give gamma and beta random values, so a check cannot pass by gamma = 1, beta = 0."""
    rng = np.random.default_rng(seed)
    if getattr(layer, "weight", None) is not None:
        layer.weight.data[...] = rng.uniform(0.5, 1.5, layer.weight.shape)
    if getattr(layer, "bias", None) is not None:
        layer.bias.data[...] = rng.uniform(-1.0, 1.0, layer.bias.shape)
    return layer


def bn_input_shapes(kind):
    """(N, C) / (N, C, L) for BatchNorm1d, (N, C, H, W) for BatchNorm2d, >= 2 values per C."""
    side = st.integers(1, 4)
    if kind == "1d":
        shape = st.one_of(st.tuples(st.integers(2, 6), st.integers(1, 4)),
                          st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(2, 4)))
    else:
        shape = st.tuples(st.integers(1, 3), st.integers(1, 3), side, st.integers(2, 4))
    return shape


def batchnorm(kind, C, **kwargs):
    return (nn.BatchNorm1d if kind == "1d" else nn.BatchNorm2d)(C, dtype=F64, **kwargs)


# ---------------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("kind", ["1d", "2d"])
@given(data=st.data())
def test_batchnorm_train_gradcheck_through_batch_statistics(kind, data):
    shape = data.draw(bn_input_shapes(kind), label="shape")
    x = data.draw(arrays(shape), label="x")
    seed = data.draw(seeds, label="seed")
    affine = data.draw(st.booleans(), label="affine")
    layer = randomise_affine(batchnorm(kind, shape[1], affine=affine), seed)
    report = nn.assert_gradcheck(layer, x, seed=seed)
    assert [r.name for r in report.results] == (["input", "weight", "bias"] if affine
                                                else ["input"])


@pytest.mark.parametrize("kind", ["1d", "2d"])
@given(data=st.data())
def test_batchnorm_eval_gradcheck_with_running_statistics(kind, data):
    shape = data.draw(bn_input_shapes(kind), label="shape")
    if data.draw(st.booleans(), label="batch of one"):
        shape = (1,) + tuple(shape[1:])    # eval mode accepts a single value per channel
    x = data.draw(arrays(shape), label="x")
    seed = data.draw(seeds, label="seed")
    layer = randomise_affine(batchnorm(kind, shape[1]), seed)
    rng = np.random.default_rng(seed)
    layer.running_mean[...] = rng.normal(size=shape[1])
    layer.running_var[...] = rng.uniform(0.2, 3.0, size=shape[1])
    layer.eval()
    nn.assert_gradcheck(layer, x, seed=seed)


@given(data=st.data())
def test_layernorm_gradcheck(data):
    lead = data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=2), label="leading")
    norm = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=2), label="normalized")
    affine = data.draw(st.booleans(), label="elementwise_affine")
    bias = data.draw(st.booleans(), label="bias")
    seed = data.draw(seeds, label="seed")
    x = data.draw(arrays(tuple(lead + norm)), label="x")
    arg = norm[0] if len(norm) == 1 and data.draw(st.booleans(), label="int") else tuple(norm)
    layer = randomise_affine(nn.LayerNorm(arg, elementwise_affine=affine, bias=bias,
                                          dtype=F64), seed)
    report = nn.assert_gradcheck(layer, x, seed=seed)
    expected = ["input"] + (["weight"] if affine else []) + (["bias"] if affine and bias else [])
    assert [r.name for r in report.results] == expected


def test_batchnorm_gradcheck_at_batch_4096():
    """Rounding noise grows with the batch; the default tolerances must still pass."""
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(4096, 3))
    layer = randomise_affine(nn.BatchNorm1d(3, dtype=F64), 2)
    nn.assert_gradcheck(layer, x, max_coords=12)


class _NoVariancePath(nn.BatchNorm1d):
    """A classic wrong backward: treats the variance as a constant."""

    def backward(self, grad_y):
        xhat, rstd, M, training, shape = self._saved()
        g = grad_y.reshape(xhat.shape)
        self.weight.grad += np.einsum("ncl,ncl->c", g, xhat)
        self.bias.grad += g.sum(axis=(0, 2))
        dx = (g - g.mean(axis=(0, 2), keepdims=True)) * (self.weight.data * rstd)[:, None]
        return dx.reshape(shape)


def test_gradcheck_catches_a_batchnorm_without_the_variance_path():
    x = np.random.default_rng(3).normal(size=(5, 3))
    report = nn.gradcheck(randomise_affine(_NoVariancePath(3, dtype=F64), 4), x)
    assert not report.passed and not report["input"].passed
    assert report["weight"].passed and report["bias"].passed


# ---------------------------------------------------------------------- values by hand
def test_layernorm_values_by_hand():
    layer = nn.LayerNorm(3, dtype=F64)
    layer.weight.data[...] = [1.0, 2.0, 0.5]
    layer.bias.data[...] = [0.0, 1.0, -1.0]
    x = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    y = layer(x)
    s = 1 / math.sqrt(2 / 3 + 1e-5)                  # row 1: mean 2, biased var 2/3
    np.testing.assert_allclose(y[0], [-s, 1.0, 0.5 * s - 1.0], rtol=1e-14)
    np.testing.assert_allclose(y[1], [0.0, 1.0, -1.0], atol=0)   # a constant row -> beta
    # backward of sum(y): dgamma = sum of xhat over rows, dbeta = row count
    layer.backward(np.ones_like(y))
    np.testing.assert_allclose(layer.weight.grad, [-s, 0.0, s], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(layer.bias.grad, [2.0, 2.0, 2.0])


def test_batchnorm_values_by_hand_train_and_eval():
    layer = nn.BatchNorm1d(2, momentum=0.5, dtype=F64)
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 16.0]])
    y = layer(x)
    # channel 0: mean 3, var 8/3; channel 1: mean 12, var 8
    np.testing.assert_allclose(y[:, 0], np.array([-2, 0, 2]) / math.sqrt(8 / 3 + 1e-5),
                               rtol=1e-14)
    np.testing.assert_allclose(y[:, 1], np.array([-2, -2, 4]) / math.sqrt(8 + 1e-5), rtol=1e-14)
    # running stats: half-way towards the batch mean and the *unbiased* variance (4 and 12)
    np.testing.assert_allclose(layer.running_mean, [1.5, 6.0], rtol=1e-15)
    np.testing.assert_allclose(layer.running_var, [0.5 + 0.5 * 4, 0.5 + 0.5 * 12], rtol=1e-15)
    layer.eval()
    y_eval = layer(np.array([[1.5, 6.0]]))
    np.testing.assert_allclose(y_eval, [[0.0, 0.0]], atol=1e-15)
    y_eval = layer(np.array([[1.5 + math.sqrt(2.5 + 1e-5), 6.0]]))
    np.testing.assert_allclose(y_eval, [[1.0, 0.0]], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kind", ["1d", "1d-seq", "2d"])
def test_running_statistics_follow_the_update_rule_over_several_steps(kind):
    rng = np.random.default_rng(0)
    shape = {"1d": (6, 3), "1d-seq": (4, 3, 5), "2d": (2, 3, 4, 5)}[kind]
    layer = (nn.BatchNorm2d if kind == "2d" else nn.BatchNorm1d)(3, momentum=0.2, dtype=F64)
    mean, var = np.zeros(3), np.ones(3)
    for step in range(6):
        x = rng.normal(loc=step, scale=1 + step, size=shape)
        layer(x)
        axes = tuple(i for i in range(x.ndim) if i != 1)
        m = x.size // 3
        mean = 0.8 * mean + 0.2 * x.mean(axis=axes)
        var = 0.8 * var + 0.2 * x.var(axis=axes) * m / (m - 1)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-13)
    np.testing.assert_allclose(layer.running_var, var, rtol=1e-13)
    # eval mode reads them and leaves them alone
    layer.eval()
    x = rng.normal(size=shape)
    y = layer(x)
    bshape = (1, 3) + (1,) * (x.ndim - 2)
    np.testing.assert_allclose(y, (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape)
                                                                        + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-13)


def test_train_mode_output_has_zero_mean_and_unit_variance_per_channel():
    x = np.random.default_rng(5).normal(3.0, 2.0, size=(8, 4, 3, 3))
    y = nn.BatchNorm2d(4, dtype=F64)(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-13)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)


# ---------------------------------------------------------------------- against PyTorch
def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (3, 3, 4, 5)])
def test_batchnorm_matches_torch_train_then_eval(shape):
    torch = _torch()
    rng = np.random.default_rng(7)
    C = shape[1]
    ours = randomise_affine((nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(
        C, momentum=0.3, dtype=F64), 8)
    ref = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(
        C, momentum=0.3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(ours.weight.data))
        ref.bias.copy_(torch.from_numpy(ours.bias.data))
    for mode in ("train", "train", "eval"):
        ours.train(mode == "train")
        ref.train(mode == "train")
        x = rng.normal(1.0, 2.0, size=shape)
        g = rng.normal(size=shape)
        ours.zero_grad()
        y = ours(x)
        dx = ours.backward(g)
        xt = torch.from_numpy(x).requires_grad_(True)
        ref.zero_grad()
        yt = ref(xt)
        yt.backward(torch.from_numpy(g))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(ours.bias.grad, ref.bias.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.running_mean, ref.running_mean.numpy(), rtol=1e-12,
                                   atol=1e-14)
        np.testing.assert_allclose(ours.running_var, ref.running_var.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape,normalized", [((4, 5), 5), ((2, 3, 4), (4,)),
                                              ((2, 3, 4), (3, 4))])
def test_layernorm_matches_torch(shape, normalized):
    torch = _torch()
    rng = np.random.default_rng(9)
    ours = randomise_affine(nn.LayerNorm(normalized, eps=1e-4, dtype=F64), 10)
    ref = torch.nn.LayerNorm(normalized, eps=1e-4).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(ours.weight.data))
        ref.bias.copy_(torch.from_numpy(ours.bias.data))
    x = rng.normal(2.0, 3.0, size=shape)
    g = rng.normal(size=shape)
    y = ours(x)
    dx = ours.backward(g)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.bias.grad, ref.bias.grad.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------- dtypes, layouts
@pytest.mark.parametrize("make,shape", [
    (lambda dt: nn.BatchNorm1d(3, dtype=dt), (4, 3)),
    (lambda dt: nn.BatchNorm1d(3, dtype=dt), (4, 3, 2)),
    (lambda dt: nn.BatchNorm2d(3, dtype=dt), (2, 3, 4, 4)),
    (lambda dt: nn.BatchNorm2d(3, dtype=dt).eval(), (2, 3, 4, 4)),
    (lambda dt: nn.LayerNorm((3, 4), dtype=dt), (2, 3, 4)),
    (lambda dt: nn.LayerNorm(4, elementwise_affine=False, dtype=dt), (2, 4)),
])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_dtype_in_equals_dtype_out_and_arguments_untouched(make, shape, dtype):
    layer = make(dtype)
    x = np.random.default_rng(0).normal(size=shape).astype(dtype)
    g = np.random.default_rng(1).normal(size=shape).astype(dtype)
    x0, g0 = x.copy(), g.copy()
    y = layer(x)
    dx = layer.backward(g)
    assert y.dtype == dtype and dx.dtype == dtype and y.shape == dx.shape == shape
    for p in layer.parameters():
        assert p.grad.dtype == dtype
    for _, b in layer.named_buffers():
        assert b.dtype == dtype
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)


def test_float32_agrees_with_float64():
    x = np.random.default_rng(0).normal(1.0, 2.0, size=(4, 3, 5, 5))
    g = np.random.default_rng(1).normal(size=x.shape)
    out = {}
    for dt in (F32, F64):
        layer = nn.BatchNorm2d(3, dtype=dt)
        out[dt] = (layer(x.astype(dt)), layer.backward(g.astype(dt)))
    for a, b in zip(out[F32], out[F64]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_batchnorm2d_accepts_channels_last_memory():
    """Convolutions here may return NCHW-shaped views of NHWC memory: same results."""
    rng = np.random.default_rng(2)
    nhwc = rng.normal(size=(2, 4, 5, 3))
    x = nhwc.transpose(0, 3, 1, 2)              # shape (2, 3, 4, 5), not C-contiguous
    g = rng.normal(size=(2, 4, 5, 3)).transpose(0, 3, 1, 2)
    a, b = nn.BatchNorm2d(3, dtype=F64), nn.BatchNorm2d(3, dtype=F64)
    np.testing.assert_allclose(a(x), b(np.ascontiguousarray(x)), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(a.backward(g), b.backward(np.ascontiguousarray(g)), rtol=1e-13,
                               atol=1e-14)


# ---------------------------------------------------------------------- contract
def test_buffers_are_in_state_dict_but_not_parameters():
    layer = nn.BatchNorm2d(3)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    state = layer.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var"}
    np.testing.assert_array_equal(state["running_var"], np.ones(3, F32))
    np.testing.assert_array_equal(state["running_mean"], np.zeros(3, F32))
    layer(np.random.default_rng(0).normal(size=(2, 3, 2, 2)).astype(F32))
    other = nn.BatchNorm2d(3)
    other.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(other.running_mean, layer.running_mean)
    np.testing.assert_array_equal(other.running_var, layer.running_var)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).astype(F64)
    assert model[1].running_var.dtype == F64
    assert "1.running_mean" in model.state_dict()


def test_layernorm_is_the_same_in_train_and_eval_mode():
    x = np.random.default_rng(0).normal(size=(3, 4))
    layer = randomise_affine(nn.LayerNorm(4, dtype=F64), 1)
    np.testing.assert_array_equal(layer(x), layer.eval()(x))


def test_backward_before_forward_is_a_clear_error():
    for layer in (nn.BatchNorm1d(2), nn.LayerNorm(2)):
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.zeros((2, 2), F32))


def test_input_grad_false_skips_dx_but_keeps_parameter_gradients():
    for layer in (nn.BatchNorm1d(3, dtype=F64), nn.LayerNorm(3, dtype=F64)):
        layer.set_input_grad(False)
        x = np.random.default_rng(0).normal(size=(4, 3))
        layer(x)
        assert layer.backward(np.ones((4, 3))) is None
        assert np.any(layer.bias.grad != 0)


@pytest.mark.parametrize("make,x,match", [
    (lambda: nn.BatchNorm2d(3), np.zeros((2, 3, 4), F32), r"BatchNorm2d\(3.*\(N, C, H, W\)"),
    (lambda: nn.BatchNorm2d(3), np.zeros((2, 4, 4, 4), F32), r"C=3.*\(2, 4, 4, 4\)"),
    (lambda: nn.BatchNorm1d(3), np.zeros((2, 3, 4, 4), F32), r"\(N, C\) or \(N, C, L\)"),
    (lambda: nn.BatchNorm1d(3), np.zeros((1, 3), F32), r"more than 1 value per channel"),
    (lambda: nn.BatchNorm2d(2), np.zeros((1, 2, 1, 1), F32), r"more than 1 value per channel"),
    (lambda: nn.LayerNorm((3, 4)), np.zeros((2, 4, 3), F32), r"LayerNorm.*\(\.\.\., 3, 4\).*"
                                                             r"\(2, 4, 3\)"),
])
def test_shape_errors_name_the_layer_and_the_shapes(make, x, match):
    with pytest.raises(ValueError, match=match):
        make()(x)


def test_dtype_mismatch_and_bad_arguments():
    with pytest.raises(TypeError, match="BatchNorm1d.*float64.*float32"):
        nn.BatchNorm1d(2)(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="LayerNorm"):
        nn.LayerNorm(2)(np.zeros((3, 2), dtype=np.int64))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_features"):
            nn.BatchNorm2d(bad)
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(2, momentum=1.5)
    for bad in ((), 2.5, None, float("nan"), (3, 0), "3"):
        with pytest.raises(ValueError, match="LayerNorm: normalized_shape"):
            nn.LayerNorm(bad)
    with pytest.raises(ValueError, match="eps"):
        nn.LayerNorm(3, eps=0)


def test_batchnorm_trains_a_small_network():
    """A Linear-BatchNorm-ReLU-Linear net fits a small separable problem."""
    import optim

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 8, rng=0, dtype=F64), nn.BatchNorm1d(8, dtype=F64),
                          nn.ReLU(), nn.Linear(8, 2, rng=1, dtype=F64))
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()
    model.eval()
    assert loss < 0.2
    assert np.mean(model(x).argmax(axis=1) == y) >= 0.95


def test_input_gradient_sums_to_zero_over_each_group():
    """Shifting a whole group leaves y unchanged, so dx is orthogonal to the all-ones
    vector of every group (docs/math/normalization.md)."""
    rng = np.random.default_rng(4)
    x, g = rng.normal(3.0, 2.0, size=(5, 3, 4, 2)), rng.normal(size=(5, 3, 4, 2))
    bn = randomise_affine(nn.BatchNorm2d(3, dtype=F64), 5)
    bn(x)
    np.testing.assert_allclose(bn.backward(g).sum(axis=(0, 2, 3)), 0, atol=1e-12)
    ln = randomise_affine(nn.LayerNorm((4, 2), dtype=F64), 6)
    ln(x)
    np.testing.assert_allclose(ln.backward(g).sum(axis=(2, 3)), 0, atol=1e-12)


def test_empty_batch():
    """Eval mode maps an empty batch to an empty output; train mode refuses it cleanly (no
    batch statistics), naming the layer; LayerNorm normalises per example, so it is fine."""
    for layer, x in ((nn.BatchNorm1d(3), np.zeros((0, 3), F32)),
                     (nn.BatchNorm2d(3), np.zeros((0, 3, 2, 2), F32))):
        with pytest.raises(ValueError, match=rf"{type(layer).__name__}.*more than 1 value"):
            layer(x)
        layer.eval()
        y = layer(x)
        assert y.shape == x.shape and layer.backward(y).shape == x.shape
    layer = nn.LayerNorm(3)
    assert layer.backward(layer(np.zeros((0, 3), F32))).shape == (0, 3)
