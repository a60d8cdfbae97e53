"""Core machinery: Parameter, Layer registration and traversal, state_dict round trips,
astype/train/eval/zero_grad, containers, summary, default dtype, seeding, initialisers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nn
import optim

F32 = np.float32
F64 = np.float64


# ---------------------------------------------------------------------- helpers
class Affine(nn.Layer):
    """A user layer: parameters and a sub-layer assigned as attributes, in a chosen order."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3))
        self.inner = nn.Linear(3, 3, rng=0, dtype=F64)
        self.shift = nn.Parameter(np.zeros(3))
        self.note = "not registered"
        self._private = np.zeros(2)

    def forward(self, x):
        self._cache = x
        return self.inner.forward(x * self.scale.data) + self.shift.data

    def backward(self, g):
        x = self._saved()
        self.shift.grad += g.reshape(-1, 3).sum(axis=0)
        gi = self.inner.backward(g)
        self.scale.grad += (gi * x).reshape(-1, 3).sum(axis=0)
        return gi * self.scale.data


class WithBuffer(nn.Layer):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.arange(3.0, dtype=F32))
        self.register_buffer("running_mean", np.zeros(3, dtype=F32))
        self.register_buffer("count", np.zeros((), dtype=np.int64))

    def forward(self, x):
        return x * self.weight.data


def mlp(seed=0, dtype=F32):
    return nn.Sequential(nn.Linear(4, 5, rng=seed, dtype=dtype), nn.ReLU(),
                         nn.Linear(5, 3, rng=seed + 1, dtype=dtype))


# ---------------------------------------------------------------------- Parameter
@pytest.mark.parametrize("dtype", [F32, F64])
def test_parameter_basics(dtype):
    src = np.arange(6, dtype=dtype).reshape(2, 3)
    p = nn.Parameter(src)
    assert p.shape == (2, 3) and p.dtype == dtype and p.size == 6
    assert p.grad.shape == (2, 3) and p.grad.dtype == dtype
    np.testing.assert_array_equal(p.grad, 0)
    assert p.requires_grad is True
    assert nn.Parameter(src, requires_grad=False).requires_grad is False
    src[0, 0] = 100  # the parameter owns a copy
    assert p.data[0, 0] == 0
    assert not np.shares_memory(p.data, p.grad)


def test_parameter_from_list_and_bad_dtype():
    assert nn.Parameter([1.0, 2.0]).dtype == F64
    with pytest.raises(TypeError, match="Parameter"):
        nn.Parameter(np.arange(3))


def test_parameter_zero_grad_and_astype():
    p = nn.Parameter(np.ones(3, dtype=F32))
    grad = p.grad
    grad += 5
    p.zero_grad()
    assert p.grad is grad and np.all(grad == 0)
    assert p.astype(F64) is p
    assert p.data.dtype == F64 and p.grad.dtype == F64
    with pytest.raises(TypeError):
        p.astype(np.int32)


def test_frozen_parameter_gets_no_gradient_and_is_not_updated():
    layer = nn.Linear(3, 2, rng=0, dtype=F64)
    layer.weight.requires_grad = False
    w = layer.weight.data.copy()
    opt = optim.SGD(layer.parameters(), lr=0.5)
    layer(np.ones((4, 3)))
    layer.backward(np.ones((4, 2)))
    np.testing.assert_array_equal(layer.weight.grad, 0)
    np.testing.assert_array_equal(layer.bias.grad, [4, 4])
    opt.step()
    np.testing.assert_array_equal(layer.weight.data, w)
    np.testing.assert_array_equal(layer.bias.data, [-2, -2])
    assert layer.num_parameters() == 8 and layer.num_parameters(trainable_only=True) == 2


# ---------------------------------------------------------------------- registration, traversal
def test_user_subclass_registers_parameters_and_layers_in_definition_order():
    layer = Affine()
    names = [n for n, _ in layer.named_parameters()]
    assert names == ["scale", "shift", "inner.weight", "inner.bias"]
    assert [n for n, _ in layer.named_children()] == ["inner"]
    assert list(layer.children()) == [layer.inner]
    assert len(list(layer.parameters())) == 4
    assert "note" not in names and "_private" not in names
    nn.assert_gradcheck(layer, np.random.default_rng(10).standard_normal((2, 3)))


def test_reassigning_and_deleting_attributes_updates_the_registry():
    layer = Affine()
    layer.shift = None
    assert [n for n, _ in layer.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    layer.shift = nn.Parameter(np.zeros(3))
    del layer.scale
    assert [n for n, _ in layer.named_parameters()] == ["shift", "inner.weight", "inner.bias"]
    layer.inner = nn.Parameter(np.zeros(1))  # a sub-layer replaced by a parameter
    assert [n for n, _ in layer.named_parameters()] == ["shift", "inner"]
    assert list(layer.children()) == []


def test_assigning_before_super_init_is_a_clear_error():
    class Forgetful(nn.Layer):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="super"):
        Forgetful()


def test_named_parameters_use_dotted_names():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Sequential(nn.Linear(5, 5), nn.Tanh()),
                          nn.Residual(nn.Linear(5, 5)))
    assert [n for n, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.0.weight", "2.0.bias", "3.layer.weight", "3.layer.bias"]
    assert list(model.state_dict()) == [n for n, _ in model.named_parameters()]
    assert [n for n, _ in model.named_modules()] == ["", "0", "1", "2", "2.0", "2.1", "3",
                                                     "3.layer"]


def test_shared_parameter_and_shared_layer_are_listed_once():
    a = nn.Linear(3, 3, rng=0)
    b = nn.Linear(3, 3, rng=1)
    b.weight = a.weight  # tied weights
    model = nn.Sequential(a, nn.Tanh(), b)
    params = list(model.parameters())
    assert len(params) == 3 and len({id(p) for p in params}) == 3
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.bias"]
    assert model.num_parameters() == 9 + 3 + 3
    holder = nn.Layer()  # one sub-layer under two names: its parameters are listed once
    holder.first, holder.again = a, a
    assert len(list(holder.parameters())) == 2
    with pytest.raises(ValueError, match="already in this Sequential"):
        nn.Sequential(a, nn.ReLU(), a)  # one object used twice would get wrong gradients
    # tied weights: the gradient of the shared array is the sum over both uses
    report = nn.assert_gradcheck(model, np.random.default_rng(10).standard_normal((4, 3)))
    assert [r.name for r in report.results] == ["input", "0.weight", "0.bias", "2.bias"]
    model.astype(F64)
    x, g = np.ones((2, 3)), np.random.default_rng(1).standard_normal((2, 3))
    for _ in range(2):  # the second round goes through zero_grad's fast path
        model.zero_grad()
        h = np.tanh(x @ a.weight.data + a.bias.data)
        model(x)
        model.backward(g)
        g_h = (g @ a.weight.data.T) * (1 - h * h)
        np.testing.assert_allclose(a.weight.grad, h.T @ g + x.T @ g_h, rtol=1e-12)


def test_buffers_are_in_state_dict_but_not_parameters():
    layer = WithBuffer()
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert [n for n, _ in layer.named_buffers()] == ["running_mean", "count"]
    assert list(layer.state_dict()) == ["weight", "running_mean", "count"]
    model = nn.Sequential(nn.Linear(3, 3), layer)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.running_mean",
                                        "1.count"]
    with pytest.raises(TypeError, match="buffer"):
        layer.register_buffer("bad", [1, 2, 3])


# ---------------------------------------------------------------------- state_dict
def test_state_dict_returns_copies():
    model = nn.Sequential(mlp(), WithBuffer())
    state = model.state_dict()
    before = {k: v.copy() for k, v in state.items()}
    for value in state.values():
        value[...] = 7
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    for (name, p), key in zip(model.named_parameters(), state):
        assert name == key and not np.shares_memory(p.data, state[key])


def test_load_state_dict_round_trip():
    src, dst = mlp(seed=0), mlp(seed=5)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(F32)
    assert not np.array_equal(src(x), dst(x))
    state = src.state_dict()
    result = dst.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(src(x), dst(x))
    state["0.weight"][...] = 0  # no aliasing with the loaded dict
    assert np.any(dst[0].weight.data != 0)


def test_load_state_dict_casts_to_the_parameter_dtype_in_place():
    model = mlp()
    w = model[0].weight.data
    state = {k: v.astype(F64) + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert model[0].weight.data is w and w.dtype == F32
    np.testing.assert_allclose(w, state["0.weight"], rtol=1e-6)


def test_load_state_dict_loads_buffers():
    layer = WithBuffer()
    layer.load_state_dict({"weight": np.ones(3), "running_mean": np.full(3, 2.0),
                           "count": np.array(5)})
    np.testing.assert_array_equal(layer.running_mean, [2, 2, 2])
    assert layer.count == 5


def test_load_state_dict_strict_errors_name_the_keys():
    model = mlp()
    state = model.state_dict()
    missing = dict(state)
    del missing["2.bias"]
    with pytest.raises(KeyError, match=r"2\.bias"):
        model.load_state_dict(missing)
    extra = dict(state, **{"9.weight": np.zeros(1)})
    with pytest.raises(KeyError, match=r"9\.weight"):
        model.load_state_dict(extra)
    result = model.load_state_dict(dict(missing, **{"9.weight": np.zeros(1)}), strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["9.weight"]


def test_load_state_dict_shape_mismatch_names_the_key_even_when_not_strict():
    model = mlp()
    state = model.state_dict()
    state["2.weight"] = np.zeros((3, 5))
    for strict in (True, False):
        with pytest.raises(ValueError, match=r"2\.weight.*\(5, 3\).*\(3, 5\)"):
            model.load_state_dict(state, strict=strict)


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("bad", ["shape", "missing", "dtype"])
def test_a_failing_load_changes_nothing(strict, bad):
    model = nn.Sequential(mlp(), WithBuffer())
    before = model.state_dict()
    state = {k: v + 1 for k, v in before.items()}  # every value differs
    if bad == "shape":
        state["1.running_mean"] = np.zeros(4)  # the last key is the bad one
    elif bad == "missing":
        del state["1.count"]
    else:
        state["1.running_mean"] = np.array(["a", "b", "c"])
    if bad == "missing" and not strict:
        model.load_state_dict(state, strict=False)  # allowed: loads what is there
        return
    with pytest.raises((KeyError, ValueError, TypeError)):
        model.load_state_dict(state, strict=strict)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


# ---------------------------------------------------------------------- astype, modes, zero_grad
def test_astype_is_recursive_over_params_grads_and_buffers():
    model = nn.Sequential(mlp(), nn.Residual(nn.Linear(3, 3)), WithBuffer())
    assert model.astype(F64) is model
    for name, p in model.named_parameters():
        assert p.data.dtype == F64 and p.grad.dtype == F64, name
    buffers = dict(model.named_buffers())
    assert buffers["2.running_mean"].dtype == F64
    assert buffers["2.count"].dtype == np.int64  # integer buffers are left alone
    assert model.dtype == F64
    x = np.ones((2, 4))
    y = model[0](x)
    assert y.dtype == F64
    model.astype(F32)
    assert all(p.dtype == F32 for p in model.parameters())
    with pytest.raises(TypeError, match="astype"):
        model.astype(np.int32)


def test_train_and_eval_are_recursive_and_return_self():
    inner = nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 2))
    model = nn.Sequential(nn.Linear(2, 2), nn.Residual(inner))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    assert model.train(False) is model and not inner[0].training


def test_zero_grad_zeroes_every_gradient_in_place():
    model = mlp(dtype=F64)
    model(np.ones((2, 4)))
    model.backward(np.ones((2, 3)))
    grads = [p.grad for p in model.parameters()]
    assert any(np.any(g != 0) for g in grads)
    model.zero_grad()
    for p, g in zip(model.parameters(), grads):
        assert p.grad is g and np.all(g == 0)


# ---------------------------------------------------------------------- containers
def test_sequential_indexing_slicing_len_iter_append():
    layers = [nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.Softmax()]
    seq = nn.Sequential(*layers)
    assert len(seq) == 4 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[-1]
    head = seq[1:3]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert head[0] is layers[1] and head[1] is layers[2]
    assert [n for n, _ in head.named_parameters()] == ["1.weight", "1.bias"]
    assert head[1].weight is layers[2].weight  # slices share the layers
    extra = nn.Tanh()
    assert seq.append(extra) is seq
    assert len(seq) == 5 and seq[4] is extra
    assert nn.Sequential(layers[:2])[1] is layers[1]  # a list is accepted too
    with pytest.raises(IndexError):
        seq[10]


def test_sequential_forward_backward_chains_the_layers():
    seq = mlp(dtype=F64)
    x = np.random.default_rng(0).standard_normal((3, 4))
    h = np.maximum(x @ seq[0].weight.data + seq[0].bias.data, 0)
    np.testing.assert_allclose(seq(x), h @ seq[2].weight.data + seq[2].bias.data, rtol=1e-14)
    empty = nn.Sequential()
    np.testing.assert_array_equal(empty(x), x)
    assert len(empty) == 0


def test_set_input_grad_skips_only_the_first_layers_input_gradient():
    seq = mlp(dtype=F64)
    x, g = np.ones((2, 4)), np.ones((2, 3))
    seq(x)
    seq.backward(g)
    expected = [p.grad.copy() for p in seq.parameters()]
    seq.zero_grad()
    assert seq.set_input_grad(False) is True
    assert seq[0].input_grad is False and seq[2].input_grad is True
    seq(x)
    assert seq.backward(g) is None
    for p, e in zip(seq.parameters(), expected):
        np.testing.assert_allclose(p.grad, e, rtol=1e-14)
    assert seq.set_input_grad(True) is False
    seq(x)
    assert seq.backward(g).shape == (2, 4)
    seq[2].set_input_grad(False)  # a middle layer that returns no gradient is an error
    seq(x)
    with pytest.raises(RuntimeError, match="no input gradient"):
        seq.backward(g)


def test_residual():
    lin = nn.Linear(3, 3, rng=0, dtype=F64)
    res = nn.Residual(lin)
    assert [n for n, _ in res.named_parameters()] == ["layer.weight", "layer.bias"]
    x = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_allclose(res(x), x + lin(x), rtol=1e-15)
    g = np.ones((2, 3))
    lin.zero_grad()
    res(x)
    dx = res.backward(g)
    np.testing.assert_allclose(dx, g + g @ lin.weight.data.T, rtol=1e-14)
    with pytest.raises(TypeError, match="Residual"):
        nn.Residual(np.eye(3))


def test_repr_shows_children():
    text = repr(nn.Sequential(nn.Linear(4, 2), nn.ReLU()))
    assert "Sequential(" in text and "(0): Linear(in_features=4, out_features=2" in text
    assert "(1): ReLU()" in text


# ---------------------------------------------------------------------- summary
def test_summary_lists_layers_output_shapes_and_total():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3),
                          nn.Softmax())
    model.train()
    printed = []
    text = nn.summary(model, (4,), print_fn=printed.append)
    assert printed == [text]
    for name in ["Linear", "ReLU", "Dropout", "Softmax"]:
        assert name in text
    assert "(N, 8)" in text and "(N, 3)" in text
    total = 4 * 8 + 8 + 8 * 3 + 3
    assert total == 67 == model.num_parameters()
    assert "total parameters: 67" in text
    assert all(m.training for m in model.modules())  # the mode is restored
    assert model.summary((4,), print_fn=None) == text


def test_summary_of_a_float64_model_and_nested_containers():
    model = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(6, 2, dtype=F64), nn.Tanh()))
    text = nn.summary(model, (2, 3), print_fn=None)
    assert "1.0" in text and "Flatten" in text and "(N, 6)" in text and "(N, 2)" in text
    assert "total parameters: 14" in text


# ---------------------------------------------------------------------- dtype, seeding
def test_set_default_dtype_float64_makes_float64_parameters():
    assert nn.get_default_dtype() == F32
    assert nn.Linear(2, 2).weight.dtype == F32
    try:
        nn.set_default_dtype(np.float64)
        assert nn.get_default_dtype() == F64
        layer = nn.Linear(2, 2)
        assert layer.weight.dtype == F64 and layer.bias.dtype == F64
        assert layer.weight.grad.dtype == F64
        assert nn.Linear(2, 2, dtype=F32).weight.dtype == F32  # explicit dtype wins
    finally:
        nn.set_default_dtype(np.float32)
    assert nn.Linear(2, 2).weight.dtype == F32
    with pytest.raises(TypeError):
        nn.set_default_dtype(np.int32)
    assert nn.get_default_dtype() == F32


def test_manual_seed_makes_initialisation_reproducible():
    nn.manual_seed(42)
    a = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2))
    nn.manual_seed(42)
    b = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2))
    nn.manual_seed(43)
    c = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2))
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(),
                               c.state_dict().values()):
        np.testing.assert_array_equal(va, vb, err_msg=k)
        if k.endswith("weight"):
            assert not np.array_equal(va, vc)
    # the second layer differs from the first: the global stream advances
    assert not np.array_equal(a[0].weight.data[:2, :2], a[1].weight.data[:2, :2])


def test_manual_seed_reseeds_in_place_and_rng_arguments():
    g = nn.manual_seed(1)
    assert g is nn.get_rng() is nn.get_rng(None)
    first = g.random()
    nn.manual_seed(1)
    assert nn.get_rng().random() == first
    own = np.random.default_rng(0)
    assert nn.get_rng(own) is own
    np.testing.assert_array_equal(nn.get_rng(7).random(3), np.random.default_rng(7).random(3))
    np.testing.assert_array_equal(nn.Linear(3, 2, rng=7).weight.data,
                                  nn.Linear(3, 2, rng=7).weight.data)
    with pytest.raises(ValueError):
        nn.manual_seed(-1)
    with pytest.raises(TypeError):
        nn.get_rng("seed")


# ---------------------------------------------------------------------- initialisers
@pytest.mark.parametrize("fn,expected_var", [
    (nn.init.kaiming_normal_, lambda fi, fo: 2 / fi),
    (nn.init.kaiming_uniform_, lambda fi, fo: 2 / fi),
    (nn.init.xavier_normal_, lambda fi, fo: 2 / (fi + fo)),
    (nn.init.xavier_uniform_, lambda fi, fo: 2 / (fi + fo)),
])
@pytest.mark.parametrize("shape,layout,fans", [((400, 300), "in_out", (400, 300)),
                                                ((64, 32, 3, 3), "out_in", (288, 576))])
def test_initialiser_variance(fn, expected_var, shape, layout, fans):
    w = np.empty(shape, dtype=F64)
    out = fn(w, layout=layout, rng=0)
    assert out is w
    assert nn.init.fans(shape, layout) == fans
    var = expected_var(*fans)
    # 1e5+ samples: the sample variance is within ~1% (uniform) to ~1.3% (normal), 3 sigma
    assert w.var() == pytest.approx(var, rel=0.05)
    assert abs(w.mean()) < 4 * math.sqrt(var / w.size)
    if "uniform" in fn.__name__:
        bound = math.sqrt(3 * var)
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


def test_zeros_constant_and_torch_default():
    w = np.ones((3, 4), dtype=F32)
    assert nn.init.zeros_(w) is w and np.all(w == 0)
    nn.init.constant_(w, 0.25)
    assert np.all(w == 0.25) and w.dtype == F32
    wt, b = np.empty((100, 50)), np.empty(50)
    nn.init.torch_default_(wt, b, rng=0)
    assert np.abs(wt).max() <= 0.1 and np.abs(b).max() <= 0.1
    assert wt.var() == pytest.approx(0.01 / 3, rel=0.05)
    with pytest.raises(ValueError):
        nn.init.fans((5,))


def test_he_init_of_a_linear_layer_has_the_he_variance():
    layer = nn.Linear(500, 400, rng=0)
    assert layer.weight.data.var() == pytest.approx(2 / 500, rel=0.05)
    layer = nn.Linear(500, 400, init="xavier", rng=0)
    assert layer.weight.data.var() == pytest.approx(2 / 900, rel=0.05)


# ---------------------------------------------------------------------- zeroing through references
class KeepsItsGradBuffer(nn.Layer):
    """y = x * w; backward accumulates into a reference to w.grad kept since __init__
    ("write into buffers the layer owns")."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.ones(3))
        self._dw = self.w.grad

    def forward(self, x):
        self._cache = x
        return x * self.w.data

    def backward(self, g):
        x = self._saved()
        self._dw += (g * x).reshape(-1, 3).sum(axis=0)  # dw = sum over rows of g * x
        return g * self.w.data


def test_zero_grad_is_visible_through_a_reference_taken_before():
    model = mlp(dtype=F64)
    model(np.ones((2, 4)))
    model.backward(np.ones((2, 3)))
    grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    for g in grads:
        np.testing.assert_array_equal(g, 0)


def test_a_layer_accumulating_into_its_own_grad_buffer_survives_zero_grad():
    layer = KeepsItsGradBuffer()
    x = np.arange(6.0).reshape(2, 3)
    layer(x)
    layer.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(layer.w.grad, [3, 5, 7])
    layer.zero_grad()
    layer(x)
    layer.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(layer.w.grad, [3, 5, 7])


def test_deferred_fill_is_invisible():
    """A gradient never handed out is filled only when read; every reader sees zeros."""
    layer = nn.Linear(3, 2, rng=0, dtype=F64)
    layer(np.ones((2, 3)))
    layer.backward(np.ones((2, 2)))  # written through grad_buffer: not handed out
    w = layer.weight
    assert not w._exposed and np.any(w.grad_view() != 0)
    layer.zero_grad()
    assert w._stale  # marked, not yet filled
    np.testing.assert_array_equal(w.grad_view(), 0)
    layer.zero_grad()
    assert w.astype(np.float32).grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, 0)
    assert w._exposed  # read through .grad: from now on zero_grad fills at once
    ref = w.grad
    ref += 5.0
    layer.zero_grad()
    assert not w._stale
    np.testing.assert_array_equal(ref, 0)


def test_assigning_a_gradient_checks_shape_and_dtype():
    """docs/api.md (Parameter): ``.grad`` is an ndarray of the parameter's shape and dtype.
    A re-bound gradient of another shape would be broadcast by the update, one of another
    dtype would change the arithmetic: both are refused at assignment, naming the parameter."""
    p = nn.Parameter(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*got shape \(1, 3\)"):
        p.grad = np.ones((1, 3), np.float32)
    with pytest.raises(TypeError, match=r"dtype float32.*got shape \(2, 3\), dtype float64"):
        p.grad = np.ones((2, 3))
    with pytest.raises(TypeError, match=r"got list"):
        p.grad = [[1.0] * 3] * 2
    g = np.ones((2, 3), np.float32)
    p.grad = g
    assert p.grad is g
