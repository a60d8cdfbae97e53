"""Optimizers: hand-computed steps, PyTorch's rules, per-parameter state, resume, flat buffers."""

import copy
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import optim

GRADS = [1.0, 2.0, -1.0]


def run(opt_factory, grads=GRADS, p0=1.0, rebind=False):
    """Apply len(grads) steps to one scalar parameter with the given gradients."""
    p = nn.Parameter(np.array([p0]))
    opt = opt_factory([p])
    out = []
    for g in grads:
        opt.zero_grad()
        if rebind:
            p.grad = np.array([g])  # a user re-binding the gradient array
        else:
            p.grad[...] = g
        opt.step()
        out.append(float(p.data[0]))
    return out


# ---------------------------------------------------------------------- SGD, by hand
def test_sgd_plain_by_hand():
    # p = p - lr g: 1 - 0.1 = 0.9; 0.9 - 0.2 = 0.7; 0.7 + 0.1 = 0.8
    assert run(lambda ps: optim.SGD(ps, lr=0.1)) == pytest.approx([0.9, 0.7, 0.8], abs=1e-15)


def test_sgd_momentum_by_hand():
    # b1 = 1, p = 0.9;  b2 = 0.9 + 2 = 2.9, p = 0.61;  b3 = 2.61 - 1 = 1.61, p = 0.449
    got = run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9))
    assert got == pytest.approx([0.9, 0.61, 0.449], abs=1e-14)


def test_sgd_nesterov_by_hand():
    # b1 = 1, g = 1 + 0.9 = 1.9, p = 0.81;  b2 = 2.9, g = 2 + 2.61 = 4.61, p = 0.349;
    # b3 = 1.61, g = -1 + 1.449 = 0.449, p = 0.3041
    got = run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True))
    assert got == pytest.approx([0.81, 0.349, 0.3041], abs=1e-14)


def test_sgd_weight_decay_by_hand():
    # g = g + 0.1 p: 1.1 -> 0.89;  2.089 -> 0.6811;  -0.93189 -> 0.774289
    got = run(lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.1))
    assert got == pytest.approx([0.89, 0.6811, 0.774289], abs=1e-14)


def test_sgd_dampening_by_hand():
    # first step b = g (no dampening), then b = 0.9 b + 0.5 g
    # b1 = 1, p = 0.9;  b2 = 1.9, p = 0.71;  b3 = 1.21, p = 0.589
    got = run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5))
    assert got == pytest.approx([0.9, 0.71, 0.589], abs=1e-14)


def test_momentum_equals_sgd_with_momentum_exactly():
    rng = np.random.default_rng(3)
    grads = rng.standard_normal((5, 7)).astype(np.float32)
    trajectories = []
    for factory in (lambda ps: optim.Momentum(ps, lr=0.03),
                    lambda ps: optim.SGD(ps, lr=0.03, momentum=0.9)):
        p = nn.Parameter(np.ones(7, dtype=np.float32))
        opt = factory([p])
        for g in grads:
            p.grad[...] = g
            opt.step()
        trajectories.append(p.data.copy())
    np.testing.assert_array_equal(*trajectories)


# ---------------------------------------------------------------------- Adam, by hand
def adam_reference(grads, lr, b1, b2, eps, wd=0.0, decoupled=False, amsgrad=False, p=1.0):
    """Adam written out on scalars: the corrected update of docs/errata.md."""
    m = v = vmax = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p *= 1 - lr * wd
        elif wd:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        vmax = max(vmax, v)
        v_hat = (vmax if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(p)
    return out


def test_adam_first_step_is_lr_times_sign():
    # t = 1: m_hat = g, v_hat = g^2, so p = 1 - 0.1 * 1 / (1 + 1e-8)
    got = run(lambda ps: optim.Adam(ps, lr=0.1), grads=[1.0])
    assert got[0] == pytest.approx(1 - 0.1 / (1 + 1e-8), abs=1e-15)


@pytest.mark.parametrize("kwargs", [
    dict(), dict(weight_decay=0.1), dict(amsgrad=True), dict(betas=(0.5, 0.9), eps=1e-3),
    dict(betas=(0.3, 0.99)),  # lerp's second branch (1 - beta1 >= 0.5)
])
def test_adam_three_steps_match_formula(kwargs):
    grads = [1.0, 2.0, -1.0, 0.5]
    b1, b2 = kwargs.get("betas", (0.9, 0.999))
    ref = adam_reference(grads, 0.1, b1, b2, kwargs.get("eps", 1e-8),
                         wd=kwargs.get("weight_decay", 0.0), amsgrad=kwargs.get("amsgrad", False))
    got = run(lambda ps: optim.Adam(ps, lr=0.1, **kwargs), grads=grads)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def test_amsgrad_differs_when_v_decreases():
    grads = [3.0, 0.1, 0.1]
    plain = run(lambda ps: optim.Adam(ps, lr=0.1, betas=(0.9, 0.5)), grads=grads)
    ams = run(lambda ps: optim.Adam(ps, lr=0.1, betas=(0.9, 0.5), amsgrad=True), grads=grads)
    assert plain[0] == ams[0] and plain[2] != ams[2]


def test_adamw_three_steps_match_formula():
    ref = adam_reference(GRADS, 0.1, 0.9, 0.999, 1e-8, wd=0.5, decoupled=True)
    got = run(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.5))
    np.testing.assert_allclose(got, ref, rtol=1e-13)


def test_adamw_without_decay_equals_adam_exactly():
    a = run(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.0))
    b = run(lambda ps: optim.Adam(ps, lr=0.1))
    assert a == b


def test_source_formula_for_adam_is_not_what_we_do():
    # The source's θ -= α m / ((1-β1^t)(1-β2^t)) would move by 0.1 * 0.1 / (0.1 * 0.001) = 100.
    got = run(lambda ps: optim.Adam(ps, lr=0.1), grads=[1.0])
    assert abs(1.0 - got[0]) == pytest.approx(0.1, rel=1e-6)


@pytest.mark.parametrize("factory", [
    lambda ps: optim.SGD(ps, lr=0.0, momentum=0.9, weight_decay=0.1),
    lambda ps: optim.Adam(ps, lr=0.0, weight_decay=0.1),
    lambda ps: optim.AdamW(ps, lr=0.0),
])
def test_lr_zero_changes_nothing(factory):
    assert run(factory) == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------------- against PyTorch
@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
])
def test_trajectory_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((4, 3))
    grads = rng.standard_normal((6, 4, 3))
    p = nn.Parameter(p0)
    ours = getattr(optim, name)([p], **kwargs)
    tp = torch.nn.Parameter(torch.tensor(p0))
    theirs = getattr(torch.optim, name)([tp], **kwargs)
    for g in grads:
        p.grad[...] = g
        ours.step()
        tp.grad = torch.tensor(g)
        theirs.step()
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------- state and structure
def test_two_parameters_of_same_shape_keep_separate_state():
    a, b = nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(3))
    opt = optim.SGD([a, b], lr=1.0, momentum=0.5)
    a.grad[...] = 1.0
    b.grad[...] = -2.0
    opt.step()
    opt.step()
    # a: b1 = 1, b2 = 1.5 -> a = -2.5;  b: b1 = -2, b2 = -3 -> b = 5
    np.testing.assert_allclose(a.data, -2.5)
    np.testing.assert_allclose(b.data, 5.0)
    assert not np.shares_memory(opt.state[a]["momentum_buffer"], opt.state[b]["momentum_buffer"])


def test_frozen_parameter_is_skipped():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    b.requires_grad = False
    opt = optim.Adam([a, b], lr=0.1)
    a.grad[...] = 1.0
    b.grad[...] = 1.0
    opt.step()
    assert np.all(a.data < 1) and np.all(b.data == 1)
    b.requires_grad = True  # unfreezing mid-training re-partitions; b starts its own history
    opt.step()
    assert np.all(b.data < 1)
    np.testing.assert_allclose(b.data, 1 - 0.1 / (1 + 1e-8))


def test_rebound_arrays_are_resynced():
    assert run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), rebind=True) == \
        pytest.approx([0.9, 0.61, 0.449], abs=1e-14)
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=1.0)
    p.grad[...] = 1.0
    opt.step()
    p.data = np.full(3, 5.0)  # a user replacing the value
    opt.step()
    np.testing.assert_allclose(p.data, 4.0)


def test_model_astype_after_optimizer_keeps_state():
    model = nn.Linear(3, 2, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.weight.grad[...] = 1.0
    opt.step()
    model.astype(np.float64)
    model.weight.grad[...] = 1.0
    opt.step()
    assert model.weight.data.dtype == np.float64
    assert opt.state[model.weight]["momentum_buffer"].dtype == np.float64
    np.testing.assert_allclose(opt.state[model.weight]["momentum_buffer"], 1.9)


def test_parameters_become_views_of_one_buffer():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.step()
    bases = {id(p.data.base) for p in model.parameters()}
    assert len(bases) == 1


def test_zero_grad_zeroes_all():
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters())
    model.weight.grad[...] = 3.0
    opt.step()
    model.bias.grad[...] = 2.0
    opt.zero_grad()
    assert all(np.all(p.grad == 0) for p in model.parameters())


def test_param_groups_have_their_own_lr():
    a, b = nn.Parameter(np.ones(1)), nn.Parameter(np.ones(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad[...] = b.grad[...] = 1.0
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.5)


def test_resume_from_state_dict_is_bit_identical():
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((8, 5, 3)).astype(np.float32)

    def make():
        p = nn.Parameter(np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3))
        return p, optim.Adam([p], lr=0.01, amsgrad=True)

    p, opt = make()
    for g in grads:
        p.grad[...] = g
        opt.step()
    straight = p.data.copy()

    p, opt = make()
    for g in grads[:3]:
        p.grad[...] = g
        opt.step()
    saved_state, saved_p = copy.deepcopy(opt.state_dict()), p.data.copy()
    p2, opt2 = make()
    p2.data[...] = saved_p
    opt2.load_state_dict(saved_state)
    for g in grads[3:]:
        p2.grad[...] = g
        opt2.step()
    np.testing.assert_array_equal(p2.data, straight)


def test_state_dict_shape_mismatch_is_refused():
    p = nn.Parameter(np.zeros(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad[...] = 1
    opt.step()
    state = opt.state_dict()
    q = nn.Parameter(np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        optim.SGD([q], lr=0.1, momentum=0.9).load_state_dict(state)


@pytest.mark.parametrize("factory,match", [
    (lambda ps: optim.SGD(ps, lr=-1), "lr"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5), "momentum"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "nesterov"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.9)), "betas"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "eps"),
    (lambda ps: optim.Adam(ps, lr=float("nan")), "lr"),
    (lambda ps: optim.SGD(ps, lr="0.1"), "lr"),
    (lambda ps: optim.SGD([], lr=0.1), "empty"),
])
def test_bad_hyper_parameters_are_refused(factory, match):
    with pytest.raises((ValueError, TypeError), match=match):
        factory([nn.Parameter(np.zeros(2))])


def test_duplicate_parameter_is_refused():
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([p, p], lr=0.1)


# ---------------------------------------------------------------------- convergence property
@given(st.integers(0, 10_000), st.sampled_from(["sgd", "momentum", "nesterov", "adam", "adamw"]))
def test_each_optimizer_lowers_a_convex_quadratic(seed, name):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((4, 4))
    H = A @ A.T + np.eye(4)  # positive definite
    target = rng.standard_normal(4)
    lr = 0.5 / np.linalg.eigvalsh(H).max()
    factories = {
        "sgd": lambda ps: optim.SGD(ps, lr=lr),
        "momentum": lambda ps: optim.SGD(ps, lr=lr, momentum=0.5),
        "nesterov": lambda ps: optim.SGD(ps, lr=lr, momentum=0.5, nesterov=True),
        "adam": lambda ps: optim.Adam(ps, lr=0.01),
        "adamw": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.0),
    }
    p = nn.Parameter(np.zeros(4))
    opt = factories[name]([p])

    def loss():
        d = p.data - target
        return 0.5 * d @ H @ d

    before = loss()
    for _ in range(20):
        opt.zero_grad()
        p.grad += H @ (p.data - target)
        opt.step()
    assert loss() < before


# ---------------------------------------------------------------------- clipping
def test_clip_grad_norm_scales_globally_and_returns_norm():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(1))
    a.grad[...] = [3.0, 0.0]
    b.grad[...] = [4.0]
    total = optim.clip_grad_norm([a, b], max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), [0.6, 0.0, 0.8], rtol=1e-6)
    assert optim.clip_grad_norm([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-6)


def test_clip_grad_value():
    a = nn.Parameter(np.zeros(3))
    a.grad[...] = [-3.0, 0.5, 2.0]
    optim.clip_grad_value([a], 1.0)
    np.testing.assert_array_equal(a.grad, [-1.0, 0.5, 1.0])


# ---------------------------------------------------------------------- zeroing and overwrite
def test_zero_grad_reads_as_zero_and_backward_overwrites():
    layer = nn.Linear(3, 2, rng=0, dtype=np.float64)
    opt = optim.SGD(layer.parameters(), lr=0.1)
    x = np.arange(6.0).reshape(2, 3)
    g = np.ones((2, 2))
    layer(x)
    layer.backward(g)
    opt.step()
    opt.zero_grad()
    assert np.all(layer.weight.grad_view() == 0) and layer.weight._zeroed  # zero, flag up
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, x.T @ g)  # written, not added to stale
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * x.T @ g)  # then accumulated


def test_unused_parameter_after_zero_grad_does_not_move():
    used, unused = nn.Linear(2, 2, rng=0), nn.Linear(2, 2, rng=1)
    params = list(used.parameters()) + list(unused.parameters())
    opt = optim.SGD(params, lr=0.1)
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    before = unused.weight.data.copy()
    opt.zero_grad()  # nobody reads or writes unused's gradient afterwards
    used(np.ones((1, 2), np.float32))
    used.backward(np.ones((1, 2), np.float32))
    opt.step()
    np.testing.assert_array_equal(unused.weight.data, before)


def test_optimizer_zero_grad_clears_packed_gradients_seen_through_references():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    opt = optim.Momentum(model.parameters(), lr=0.1)
    x = np.ones((2, 3), np.float32)
    before = model.state_dict()
    model(x)
    model.backward(np.ones((2, 2), np.float32))
    opt.step()  # packs the parameters into flat buffers
    fresh = model[0].weight.grad.copy()  # the same batch's gradient, from zero
    refs = [p.grad for p in model.parameters()]
    opt.zero_grad()
    for g in refs:
        assert np.all(g == 0)
    refs[0] += 1.0  # a contribution through a kept reference, then a read lowers the flag
    model[0].weight.grad  # noqa: B018
    model.load_state_dict(before)
    model(x)
    model.backward(np.ones((2, 2), np.float32))
    np.testing.assert_allclose(model[0].weight.grad, fresh + 1.0, rtol=1e-6)  # added to


# ---------------------------------------------------------------------- cache-sized chunks
CHUNKED_RULES = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "momentum-wd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    "nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "dampening": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3),
    "adam-amsgrad": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01, weight_decay=0.1),
}


def _chunked_run(rule, shapes, grads, chunk_bytes, monkeypatch, resync_at=None):
    """Parameters and optimizer state after len(grads) steps with the given chunk size."""
    monkeypatch.setattr(optim.optimizer, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(0)
    params = [nn.Parameter(rng.standard_normal(s)) for s in shapes]
    opt = CHUNKED_RULES[rule](params)
    for t, step_grads in enumerate(grads):
        opt.zero_grad()
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        if t == resync_at:
            params[0].data = params[0].data.copy()  # re-partition mid-run, state carried over
        opt.step()
    state = opt.state_dict()["state"]
    return [p.data.copy() for p in params], state


@pytest.mark.parametrize("rule", sorted(CHUNKED_RULES))
@given(shapes=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 7)), min_size=1, max_size=4),
       chunk_bytes=st.integers(8, 200), resync_at=st.sampled_from([None, 1, 2]),
       seed=st.integers(0, 2**16))
def test_chunked_update_is_bit_identical_to_one_pass(rule, shapes, chunk_bytes, resync_at,
                                                     seed):
    """An update runs chunk by chunk (optim.optimizer.CHUNK_BYTES per array, so that a chunk
    stays in cache); the rules are elementwise, so any chunking, including chunks that split
    a parameter and a short last chunk, gives the same bits as one pass over everything,
    through a re-partition too."""
    rng = np.random.default_rng(seed)
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(4)]
    with pytest.MonkeyPatch.context() as mp:
        ref_params, ref_state = _chunked_run(rule, shapes, grads, 1 << 30, mp, resync_at)
    with pytest.MonkeyPatch.context() as mp:
        params, state = _chunked_run(rule, shapes, grads, chunk_bytes, mp, resync_at)
    _assert_same_bits(params, ref_params, state, ref_state)


def _assert_same_bits(params, ref_params, state, ref_state):
    """Parameter values and state dicts (``state_dict()["state"]``) equal bit for bit, with
    equal dtypes."""
    for a, b in zip(params, ref_params):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert state.keys() == ref_state.keys()
    for i in state:
        assert state[i].keys() == ref_state[i].keys()
        for k in state[i]:
            np.testing.assert_array_equal(state[i][k], ref_state[i][k])


def test_rule_is_called_once_per_chunk_on_views_of_the_packed_arrays(monkeypatch):
    """The base class hands the rule plain 1-d arrays: consecutive CHUNK_BYTES slices of
    the packed values, gradients and state, which the rule updates in place; a state
    array the rule assigns lands in the parameter's state."""
    monkeypatch.setattr(optim.optimizer, "CHUNK_BYTES", 64)  # 8 float64 per chunk
    calls, starts = [], []

    class Spy(optim.SGD):
        def update(self, p, g, state, t, **hyper):
            calls.append((p.shape, g.shape, t, sorted(state), hyper))
            starts.append(p.__array_interface__["data"][0])  # address of the chunk's first value
            super().update(p, g, state, t, **hyper)

    a, b = nn.Parameter(np.zeros((3, 4))), nn.Parameter(np.zeros(8))
    opt = Spy([a, b], lr=np.float32(0.5), momentum=0.5)
    opt.fast = False  # the plain update at every step (update_fast would skip it at t = 2)
    for _ in range(2):
        a.grad[...] = np.arange(12.0).reshape(3, 4)
        b.grad[...] = 1.0
        opt.step()
    hyper = dict(lr=0.5, momentum=0.5, dampening=0.0, nesterov=False, weight_decay=0.0)
    assert calls == [((8,), (8,), 1, [], hyper), ((8,), (8,), 1, [], hyper),
                     ((4,), (4,), 1, [], hyper),
                     ((8,), (8,), 2, ["momentum_buffer"], hyper),
                     ((8,), (8,), 2, ["momentum_buffer"], hyper),
                     ((4,), (4,), 2, ["momentum_buffer"], hyper)]
    assert all(type(v) is float for v in calls[0][4].values() if not isinstance(v, bool))
    packed = a.data.base  # the values of a and b are views of one packed array
    assert packed is b.data.base and packed.size == 20
    first = packed.__array_interface__["data"][0]
    assert [(s - first) // 8 for s in starts[:3]] == [0, 8, 16]  # consecutive slices
    # b1 = g, b2 = 0.5 g + g;  p = -0.5 (g + 1.5 g)
    np.testing.assert_array_equal(opt.state[a]["momentum_buffer"],
                                  1.5 * np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(opt.state[b]["momentum_buffer"], np.full(8, 1.5))
    np.testing.assert_array_equal(a.data, -1.25 * np.arange(12.0).reshape(3, 4))
    buffers = {id(opt.state[p]["momentum_buffer"].base) for p in (a, b)}
    assert len(buffers) == 1  # one flat momentum buffer, each parameter's state a view of it


def test_load_state_dict_of_another_optimizer_class_is_refused():
    """Adam's groups carry betas/eps/amsgrad: loaded into SGD they would silently set its lr
    and leave foreign state. The hyper-parameter names tell the class apart."""
    model = nn.Linear(2, 2, rng=0)
    adam = optim.Adam(model.parameters(), lr=0.5)
    adam.step()
    sgd = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict.*\['amsgrad', 'betas', 'eps'\]"):
        sgd.load_state_dict(adam.state_dict())
    assert sgd.param_groups[0]["lr"] == 0.1 and not sgd.state  # nothing changed
    # a scheduler's "initial_lr" is not foreign
    optim.lr_scheduler.StepLR(sgd, step_size=1)
    sgd2 = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sgd2.load_state_dict(sgd.state_dict())
    assert sgd2.param_groups[0]["initial_lr"] == 0.1


@pytest.mark.parametrize("rule", ["adam", "momentum"])
def test_parameter_without_gradient_in_a_step_still_moves_as_torch_set_to_none_false(rule):
    """zero_grad sets gradients to zero (docs/api.md), PyTorch's set_to_none=False: a parameter
    used only in the first step keeps moving on its momentum / Adam moments afterwards
    (docs/math/optimizers.md, Deviations). Compared with PyTorch when it is installed."""
    make = {"adam": lambda ps: optim.Adam(ps, lr=0.1),
            "momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)}[rule]
    params = [nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3))]
    opt = make(params)
    trajectory = []
    for step in range(4):
        opt.zero_grad()
        params[0].grad[...] += 1.0
        if step == 0:
            params[1].grad[...] += 1.0  # used in the first step only
        opt.step()
        trajectory.append(params[1].data.copy())
    assert np.all(trajectory[3] < trajectory[1])  # still moving with g = 0
    if rule == "momentum":  # b = 1, 0.9, 0.81, 0.729: p = 1 - 0.1 (1 + 0.9 + 0.81 + 0.729)
        np.testing.assert_allclose(trajectory[3], 1 - 0.1 * 3.439, rtol=1e-14)
    try:
        import torch
    except ImportError:
        return
    tp = [torch.ones(3, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    topt = (torch.optim.Adam(tp, lr=0.1) if rule == "adam"
            else torch.optim.SGD(tp, lr=0.1, momentum=0.9))
    for step in range(4):
        topt.zero_grad(set_to_none=False)
        tp[0].grad = torch.ones(3, dtype=torch.float64)
        tp[1].grad = torch.full((3,), 1.0 if step == 0 else 0.0, dtype=torch.float64)
        topt.step()
        np.testing.assert_allclose(trajectory[step], tp[1].detach().numpy(), rtol=1e-12)


# ---------------------------------------------------------------------- fast forms
@st.composite
def _fast_case(draw):
    """A rule with a fast form, hyper-parameters that reach its fast and its plain branches."""
    rule = draw(st.sampled_from(["sgd", "adam", "adamw"]))
    lr = draw(st.floats(1e-4, 0.5))
    if rule == "sgd":
        momentum = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
        nesterov = momentum > 0 and draw(st.booleans())
        dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 0.0, 0.3]))
        wd = draw(st.sampled_from([0.0, 0.0, 0.01]))
        return rule, dict(lr=lr, momentum=momentum, nesterov=nesterov, dampening=dampening,
                          weight_decay=wd)
    betas = (draw(st.sampled_from([0.0, 0.3, 0.5, 0.9])), draw(st.sampled_from([0.5, 0.999])))
    return rule, dict(lr=lr, betas=betas, eps=draw(st.sampled_from([1e-8, 1e-3])),
                      weight_decay=draw(st.sampled_from([0.0, 0.0, 0.1])),
                      amsgrad=draw(st.booleans()))


@given(case=_fast_case(), dtype=st.sampled_from([np.float32, np.float64]),
       shapes=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 9)), min_size=1, max_size=3),
       chunk_bytes=st.sampled_from([64, 1 << 18]), seed=st.integers(0, 2**16))
def test_fast_forms_give_the_plain_update_bit_for_bit(case, dtype, shapes, chunk_bytes, seed):
    """``update_fast`` (SGD's heavy-ball momentum, Adam, AdamW) is the plain ``update``
    rewritten in place: the same bits, in float32 and float64, over any chunking."""
    rule, hyper = case
    make = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}[rule]
    rng = np.random.default_rng(seed)
    p0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[(rng.standard_normal(s) * 10.0 ** rng.uniform(-4, 1)).astype(dtype)
              for s in shapes] for _ in range(5)]
    results = []
    for fast in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(optim.optimizer, "CHUNK_BYTES", chunk_bytes)
            params = [nn.Parameter(v) for v in p0]
            opt = make(params, **hyper)
            opt.fast = fast
            for step_grads in grads:
                opt.zero_grad()
                for p, g in zip(params, step_grads):
                    p.add_grad(g)
                opt.step()
        results.append(([p.data.copy() for p in params], opt.state_dict()["state"]))
    (fast_p, fast_s), (plain_p, plain_s) = results
    assert all(a.dtype == dtype for a in fast_p)
    _assert_same_bits(fast_p, plain_p, fast_s, plain_s)


@pytest.mark.parametrize("rule,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Momentum", dict(lr=0.1)),
    ("Adam", dict(lr=0.1)),
    ("AdamW", dict(lr=0.1, weight_decay=0.1)),
])
def test_fast_form_is_what_runs_after_the_first_step(rule, kwargs):
    """Heavy-ball SGD, Adam and AdamW take their fast form from the second step on (the
    first step creates the state in the plain update); ``fast = False`` runs the plain
    update at every step."""
    calls = []

    class Spy(getattr(optim, rule)):
        def update(self, p, g, state, t, **hyper):
            calls.append(t)
            super().update(p, g, state, t, **hyper)

    p = nn.Parameter(np.ones(3))
    opt = Spy([p], **kwargs)
    p.grad[...] = 1.0
    for _ in range(3):
        opt.step()
    assert calls == [1]
    opt.fast = False
    for _ in range(2):
        opt.step()
    assert calls == [1, 4, 5]
