"""The gradient checker itself: it must fail on wrong backward passes (and say where),
pass correct layers at large batch sizes, tell kinks from failures, subsample with
max_coords, replay stochastic layers, and report its fields."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import arrays, batched, seeds

import nn

F64 = np.float64


# ---------------------------------------------------------------------- layers under test
class MatMul(nn.Layer):
    """y = x @ W with a configurable (possibly wrong) backward."""

    def __init__(self, w, bug=None):
        super().__init__()
        self.weight = nn.Parameter(np.asarray(w, dtype=F64))
        self.bug = bug

    def forward(self, x):
        self._cache = x
        return x @ self.weight.data

    def backward(self, g):
        x, W = self._saved(), self.weight.data
        if self.bug == "dW operand order":  # G^T X: (out, in), only the right shape if square
            self.weight.grad += g.T @ x
        elif self.bug == "dW reshape instead of transpose":
            self.weight.grad += (g.T @ x).reshape(W.shape)
        else:
            self.weight.grad += x.T @ g
        if self.bug == "dx missing transpose":
            return g @ W
        return g @ W.T


class SignFlip(nn.Layer):
    """Wrap a layer and flip the sign of one coordinate of one of its gradients."""

    def __init__(self, inner, tensor="input", index=0):
        super().__init__()
        self.inner = inner
        self.tensor = tensor
        self.index = index

    def forward(self, x):
        self._cache = True
        return self.inner.forward(x)

    def backward(self, g):
        self._saved()
        params = {f"inner.{n}": p for n, p in self.inner.named_parameters()}
        before = None if self.tensor == "input" else params[self.tensor].grad.copy()
        dx = self.inner.backward(g)
        if self.tensor == "input":
            dx = dx.copy()
            dx.flat[self.index] *= -1
        else:
            p = params[self.tensor]
            delta = p.grad - before
            p.grad.flat[self.index] -= 2 * delta.flat[self.index]
        return dx


class MeanSquared(nn.Layer):
    """A mean loss against a fixed target, as a layer with a 0-d output."""

    def __init__(self, target, forget_1_over_n=False):
        super().__init__()
        self.target = target
        self.forget = forget_1_over_n

    def forward(self, x):
        self._cache = x - self.target
        return np.array(np.mean(self._cache ** 2))

    def backward(self, g):
        d = self._saved()
        grad = 2 * d * g
        return grad if self.forget else grad / d.size


class Square(nn.Layer):
    """y = x^2, smooth everywhere; backward may flip the sign of coordinate 0."""

    def __init__(self, flip=False):
        super().__init__()
        self.flip = flip

    def forward(self, x):
        self._cache = x
        return x * x

    def backward(self, g):
        dx = 2 * self._saved() * g
        if self.flip:
            dx.flat[0] *= -1
        return dx


class TinyBatchNorm(nn.Layer):
    """Training-mode batch normalisation over axis 0 (enough to exercise big batches)."""

    def __init__(self, features, eps=1e-5, bug=False):
        super().__init__()
        self.weight = nn.Parameter(np.linspace(0.5, 1.5, features))
        self.bias = nn.Parameter(np.linspace(-0.2, 0.2, features))
        self.eps = eps
        self.bug = bug

    def forward(self, x):
        mu = x.mean(axis=0)
        std = np.sqrt(x.var(axis=0) + self.eps)
        xhat = (x - mu) / std
        self._cache = (xhat, std)
        return self.weight.data * xhat + self.bias.data

    def backward(self, g):
        xhat, std = self._saved()
        N = g.shape[0]
        self.weight.grad += (g * xhat).sum(axis=0)
        self.bias.grad += g.sum(axis=0)
        dxhat = g * self.weight.data
        # dx = (N*dxhat - dxhat.sum(0) - xhat*(dxhat*xhat).sum(0)) / (N*std)
        last = 0 if self.bug else xhat * (dxhat * xhat).sum(axis=0)
        return (N * dxhat - dxhat.sum(axis=0) - last) / (N * std)


class BadMSE(nn.MSELoss):
    """MSELoss whose backward forgets the 1/N of the mean."""

    def backward(self, grad=1.0):
        cache, _scale, shape, _dtype = self._cache
        return self._grad(cache).reshape(shape) * grad


def rand(shape, seed=10):
    return np.random.default_rng(seed).standard_normal(shape)


def index_text(index):
    return str(tuple(int(i) for i in index))


# ---------------------------------------------------------------------- wrong backward fails
def test_correct_matmul_passes():
    report = nn.assert_gradcheck(MatMul(rand((3, 3), 1)), rand((3, 3)))
    assert report.passed
    assert [r.name for r in report.results] == ["input", "weight"]


def test_missing_transpose_in_input_gradient_fails_and_names_input():
    report = nn.gradcheck(MatMul(rand((3, 3), 1), bug="dx missing transpose"), rand((4, 3)))
    assert not report.passed
    assert not report["input"].passed and report["weight"].passed
    text = str(report)
    assert "FAILED" in text and re.search(r"^input .*FAIL", text, re.M)
    assert index_text(report["input"].worst_index) in text


def test_wrong_operand_order_for_square_weight_gradient_fails_and_names_weight():
    # x (3, 3) and W (3, 3): G^T X has the right shape but is the transpose of X^T G
    # (x must differ from gradcheck's upstream G, which is drawn from seed 0 like rand(.., 0))
    x = rand((3, 3), 2)
    report = nn.gradcheck(MatMul(rand((3, 3), 1), bug="dW operand order"), x)
    assert report["input"].passed and not report["weight"].passed
    with pytest.raises(AssertionError) as info:
        nn.assert_gradcheck(MatMul(rand((3, 3), 1), bug="dW operand order"), x)
    msg = str(info.value)
    assert re.search(r"^weight .*FAIL", msg, re.M)
    assert index_text(report["weight"].worst_index) in msg


def test_reshape_instead_of_transpose_for_non_square_weight_fails():
    # W (3, 2): (G^T X) is (2, 3); reshaping it to (3, 2) keeps the shape, scrambles values
    report = nn.gradcheck(MatMul(rand((3, 2), 1), bug="dW reshape instead of transpose"),
                          rand((5, 3)))
    assert report["input"].passed and not report["weight"].passed
    assert report["weight"].failures >= 1


@pytest.mark.parametrize("n", [2, 7, 64])
def test_missing_one_over_n_in_a_mean_loss_fails(n):
    x, t = rand((n, 3)), rand((n, 3), 1)
    assert nn.gradcheck(MeanSquared(t), x).passed
    report = nn.gradcheck(MeanSquared(t, forget_1_over_n=True), x)
    assert not report.passed and report["input"].failures == x.size
    bad = nn.gradcheck(BadMSE(), x, target=t)
    assert not bad.passed
    assert nn.gradcheck(nn.MSELoss(), x, target=t).passed


def test_missing_one_over_n_is_invisible_at_n_equal_1():
    # a sanity check on the test above: with one element the two coincide
    assert nn.gradcheck(MeanSquared(rand((1,)), forget_1_over_n=True), rand((1,))).passed


@pytest.mark.parametrize("index", [(0, 0), (1, 2), (3, 1)])
def test_one_wrong_sign_in_the_input_gradient_fails_at_that_index(index):
    x = rand((4, 3))
    layer = SignFlip(nn.Linear(3, 3, rng=0, dtype=F64), "input",
                     int(np.ravel_multi_index(index, x.shape)))
    report = nn.gradcheck(layer, x)
    r = report["input"]
    assert not r.passed and r.failures == 1
    assert tuple(int(i) for i in r.worst_index) == index
    assert r.analytic == pytest.approx(-r.numeric, rel=1e-6)
    assert all(report[name].passed for name in ("inner.weight", "inner.bias"))
    with pytest.raises(AssertionError, match=re.escape(str(index))):
        nn.assert_gradcheck(layer, x)


@pytest.mark.parametrize("tensor,index", [("inner.weight", (2, 1)), ("inner.bias", (0,))])
def test_one_wrong_sign_in_a_parameter_gradient_fails_at_that_index(tensor, index):
    inner = nn.Linear(3, 2, rng=0, dtype=F64)
    shape = dict(inner.named_parameters())[tensor.split(".", 1)[1]].shape
    layer = SignFlip(inner, tensor, int(np.ravel_multi_index(index, shape)))
    report = nn.gradcheck(layer, rand((5, 3)))
    assert report["input"].passed
    r = report[tensor]
    assert not r.passed and r.failures == 1
    assert tuple(int(i) for i in r.worst_index) == index
    with pytest.raises(AssertionError) as info:
        nn.assert_gradcheck(layer, rand((5, 3)))
    assert re.search(rf"^{re.escape(tensor)} .*{re.escape(str(index))}.*FAIL", str(info.value),
                     re.M)


@given(x=batched(min_lead=1, max_lead=2, max_side=4, max_features=4), out=st.integers(1, 4),
       seed=seeds, data=st.data())
def test_any_single_sign_flip_is_caught(x, out, seed, data):
    inner = nn.Linear(x.shape[-1], out, rng=seed, dtype=F64)
    k = data.draw(st.integers(0, x.size - 1), label="k")
    G = np.random.default_rng(0).standard_normal(x.shape[:-1] + (out,))  # gradcheck's G
    true = G @ inner.weight.data.T
    assume(abs(true.flat[k]) > 1e-3)
    report = nn.gradcheck(SignFlip(inner, "input", k), x)
    assert not report.passed
    assert int(np.ravel_multi_index(report["input"].worst_index, x.shape)) == k


# ---------------------------------------------------------------------- large batches
def test_softmax_over_the_batch_axis_passes_at_batch_4096():
    x = rand((4096, 3))
    report = nn.assert_gradcheck(nn.Softmax(axis=0), x, max_coords=64)
    assert report["input"].checked == 64 and report["input"].total == x.size


def test_batch_norm_passes_at_batch_4096():
    x = 3 * rand((4096, 3)) + 1
    report = nn.assert_gradcheck(TinyBatchNorm(3), x, max_coords=64)
    assert [r.name for r in report.results] == ["input", "weight", "bias"]
    assert report["input"].checked == 64
    assert report["weight"].checked == 3 and report["bias"].checked == 3


def test_batch_norm_with_a_wrong_term_fails_at_batch_4096():
    report = nn.gradcheck(TinyBatchNorm(3, bug=True), 3 * rand((4096, 3)) + 1, max_coords=64)
    assert not report["input"].passed
    assert report["weight"].passed and report["bias"].passed


@given(x=arrays((6, 3)), seed=seeds)
def test_batch_norm_gradcheck_property(x, seed):
    x = x + np.arange(6)[:, None]  # no constant column: variance well away from 0
    nn.assert_gradcheck(TinyBatchNorm(3), x, seed=seed)


# ---------------------------------------------------------------------- kinks
def test_relu_exactly_at_zero_is_a_kink_not_a_failure():
    x = np.array([[0.0, 1.0, -1.0, 0.0], [2.0, 0.0, -0.5, 0.3]])
    report = nn.assert_gradcheck(nn.ReLU(), x)
    r = report["input"]
    assert r.passed and r.kinks == 3 and r.failures == 0
    assert r.checked == 8
    report = nn.assert_gradcheck(nn.LeakyReLU(0.1), x)
    assert report["input"].kinks == 3


def test_a_gradient_outside_the_one_sided_slopes_at_a_kink_still_fails():
    class BadReLU(nn.ReLU):
        def _backward(self, g, y):
            return g * np.where(y > 0, 1.0, np.where(y == 0, 3.0, 0.0))  # 3 at 0: outside [0, 1]

    x = np.array([[0.0, 1.0, 2.0]])
    report = nn.gradcheck(BadReLU(), x)
    assert not report.passed and report["input"].failures == 1
    assert tuple(report["input"].worst_index) == (0, 0)


def test_smooth_layers_report_no_kinks():
    x = rand((3, 4))
    for layer in [nn.Tanh(), nn.Sigmoid(), nn.GELU(), nn.Softmax(), Square()]:
        assert nn.assert_gradcheck(layer, x)["input"].kinks == 0


def test_wrong_sign_near_a_stationary_point_of_a_smooth_layer_fails():
    x = np.array([1e-7, 0.5, -0.3])  # y = x^2 is smooth; its gradient there is 2e-7 * G
    report = nn.gradcheck(Square(flip=True), x)
    assert report["input"].kinks == 0
    assert not report.passed


# ---------------------------------------------------------------------- max_coords, stochastic
def test_max_coords_limits_the_coordinates_checked():
    layer = nn.Linear(20, 10, rng=0, dtype=F64)
    x = rand((30, 20))
    report = nn.assert_gradcheck(layer, x, max_coords=7)
    assert report["input"].checked == 7 and report["input"].total == 600
    assert report["weight"].checked == 7 and report["weight"].total == 200
    assert report["bias"].checked == 7 and report["bias"].total == 10
    assert "7/600" in str(report)
    full = nn.gradcheck(layer, x[:2], max_coords=1000)
    assert full["input"].checked == full["input"].total == 40


def test_max_coords_subset_depends_on_seed_and_catches_a_flip_when_it_covers_it():
    x = rand((4, 3))
    layer = SignFlip(nn.Linear(3, 3, rng=0, dtype=F64), "input", 5)
    assert not nn.gradcheck(layer, x, max_coords=x.size).passed
    outcomes = {nn.gradcheck(layer, x, max_coords=2, seed=s).passed for s in range(12)}
    assert outcomes == {True, False}  # some subsets miss coordinate 5, some contain it


def test_dropout_passes_thanks_to_the_replayed_generator():
    layer = nn.Dropout(0.5, rng=3)
    before = layer.rng.bit_generator.state
    report = nn.assert_gradcheck(layer, rand((6, 5)))
    assert report["input"].checked == 30
    assert layer.rng.bit_generator.state == before  # the original layer's generator is untouched
    model = nn.Sequential(nn.Linear(5, 6, rng=0), nn.Tanh(), nn.Dropout(0.3), nn.Linear(6, 2))
    nn.assert_gradcheck(model, rand((4, 5)))


def test_gradcheck_leaves_the_original_layer_untouched():
    layer = nn.Linear(3, 2, rng=0)  # float32
    w = layer.weight.data.copy()
    nn.assert_gradcheck(layer, rand((4, 3)).astype(np.float32))
    assert layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, w)
    np.testing.assert_array_equal(layer.weight.grad, 0)


class KwargsProbe(nn.Layer):
    """y = x * scale[0]; appends the keyword arguments of every forward call to ``log`` (a
    list outside the layer, so that gradcheck's deep copy writes to it too)."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def forward(self, x, scale=(), mask=None, index=None, label=None):
        self.log.append({"scale": scale, "mask": mask, "index": index, "label": label})
        self._cache = scale[0]
        return x * scale[0]

    def backward(self, g):
        return g * self._saved()

    def __deepcopy__(self, memo):  # copy everything but the log
        clone = KwargsProbe(self.log)
        memo[id(self)] = clone
        return clone


def test_forward_kwargs_floating_arrays_follow_the_float64_copy():
    rng = np.random.default_rng(4)
    # the reported case: a float32 LSTM given a float32 initial state (h0, c0)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    h0, c0 = (rng.standard_normal((2, 4)).astype(np.float32) for _ in range(2))
    lstm = nn.LSTM(3, 4, rng=0)
    report = nn.assert_gradcheck(lstm, x, forward_kwargs={"state": (h0, c0)})
    assert report.results[0].name == "input" and len(report.results) == 4
    assert lstm.weight_ih.dtype == np.float32 and h0.dtype == c0.dtype == np.float32
    assert not np.allclose(lstm.forward(x, state=(h0, c0)), lstm.forward(x))  # state is used
    # a boolean key-padding mask stays boolean (attention rejects any other dtype)
    attn = nn.MultiHeadAttention(4, 2, rng=0)
    xa = rng.standard_normal((2, 3, 4)).astype(np.float32)
    mask = np.array([[False, False, True], [False, False, False]])
    report = nn.assert_gradcheck(attn, xa, forward_kwargs={"mask": mask})
    assert mask.dtype == np.bool_ and report["input"].checked == xa.size


def test_forward_kwargs_are_cast_like_x_and_never_aliased():
    log = []
    scale = np.array([1.5, -2.0], dtype=np.float32)
    mask = np.array([[True, False]])
    index = np.array([0, 2], dtype=np.int64)
    kwargs = {"scale": [scale], "mask": mask, "index": (index,), "label": "name"}
    report = nn.assert_gradcheck(KwargsProbe(log), rand((3, 2)), forward_kwargs=kwargs)
    assert report["input"].checked == 6
    assert len(log) == 1 + 2 * 6  # the analytic pass and two per coordinate
    for call in log:
        # floats, also inside lists and tuples, are float64 copies ...
        assert type(call["scale"]) is list and call["scale"][0].dtype == F64
        assert call["scale"][0] is not scale
        np.testing.assert_array_equal(call["scale"][0], scale.astype(F64))
        # ... boolean and integer arrays keep their dtype, other values pass as they are
        assert call["mask"].dtype == np.bool_
        np.testing.assert_array_equal(call["mask"], mask)
        assert type(call["index"]) is tuple and call["index"][0].dtype == np.int64
        np.testing.assert_array_equal(call["index"][0], index)
        assert call["label"] == "name"
    # the caller's arguments are untouched
    assert kwargs["scale"][0] is scale and scale.dtype == np.float32
    np.testing.assert_array_equal(scale, np.array([1.5, -2.0], dtype=np.float32))
    with pytest.raises(TypeError, match="gradcheck: forward_kwargs must be a dict"):
        nn.gradcheck(KwargsProbe(log), rand((3, 2)), forward_kwargs=[("scale", scale)])


def test_frozen_parameters_are_not_checked():
    layer = nn.Linear(3, 2, rng=0, dtype=F64)
    layer.weight.requires_grad = False
    report = nn.assert_gradcheck(layer, rand((4, 3)))
    assert [r.name for r in report.results] == ["input", "bias"]


def test_losses_are_checked_with_a_target():
    x, t = rand((4, 3)), np.array([0, 2, 1, 1])
    report = nn.assert_gradcheck(nn.CrossEntropyLoss(), x, target=t)
    assert [r.name for r in report.results] == ["input"]
    assert "CrossEntropyLoss" in str(report)
    with pytest.raises(ValueError, match="target"):
        nn.gradcheck(nn.CrossEntropyLoss(), x)
    with pytest.raises(TypeError, match="Layer or a Loss"):
        nn.gradcheck(lambda z: z, x)


def test_zero_atol_on_a_zero_gradient_does_not_crash():
    report = nn.gradcheck(nn.ReLU(), -np.ones((2, 3)), atol=0.0)
    assert report.passed


# ---------------------------------------------------------------------- numerical_gradient, report
def test_numerical_gradient_of_a_quadratic():
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((4, 4)), rng.standard_normal(4)
    x = rng.standard_normal(4)
    x_copy = x.copy()

    def f(z):
        return 0.5 * z @ A @ z + b @ z

    g = nn.numerical_gradient(f, x)
    np.testing.assert_allclose(g, 0.5 * (A + A.T) @ x + b, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(x, x_copy)
    # any shape; a float32 point is evaluated in float64
    X = rng.standard_normal((2, 3)).astype(np.float32)
    G = nn.numerical_gradient(lambda z: np.sum(z ** 2) + 3 * z[1, 2], X)
    assert G.shape == (2, 3) and G.dtype == F64
    expected = 2 * X.astype(F64)
    expected[1, 2] += 3
    np.testing.assert_allclose(G, expected, rtol=1e-7, atol=1e-9)


def test_report_fields():
    layer = nn.Linear(3, 2, rng=0, dtype=F64)
    report = nn.gradcheck(layer, rand((4, 3)), eps=1e-5, rtol=1e-4, atol=1e-7, max_coords=5)
    assert isinstance(report, nn.GradcheckReport)
    assert report.passed is True
    assert (report.eps, report.rtol, report.atol) == (1e-5, 1e-4, 1e-7)
    r = report["input"]
    assert (r.checked, r.total, r.shape) == (5, 12, (4, 3))
    assert r.kinks == 0 and r.failures == 0 and r.passed
    assert len(r.worst_index) == 2 and 0 <= r.worst_index[0] < 4 and 0 <= r.worst_index[1] < 3
    assert r.max_abs_err <= r.tolerance and r.max_rel_err < 1e-4
    assert report["bias"].checked == report["bias"].total == 2
    text = str(report)
    assert "PASSED" in text and "5/12" in text and "weight" in text and "bias" in text
    assert "Linear" in text
    with pytest.raises(KeyError):
        report["nope"]
    # assert_gradcheck returns the same kind of report when it passes
    assert nn.assert_gradcheck(layer, rand((4, 3))).passed
