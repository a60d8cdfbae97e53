"""RMSprop and Adagrad: hand-worked steps, PyTorch trajectories, equivalences, state, resume.

Expected values are worked from the update formulas written out in this file (scalars,
plain Python), never by calling the code under test. The rules (docs/math/optimizers.md):

RMSprop:  g += λp;  v = αv + (1-α)g²;  ḡ = ḡ + (1-α)(g-ḡ);  d = √v + ε  (centered √(v-ḡ²) + ε);
          b = μb + g/d, p -= lr b  (μ > 0)  or  p -= lr g/d.
Adagrad:  g += λp;  clr = lr / (1 + (t-1) lr_decay);  s += g²;  p -= clr g / (√s + ε).
"""

import copy
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import optim

GRADS = [1.0, 2.0, -1.0]


def run(opt_factory, grads=GRADS, p0=1.0):
    """Apply len(grads) steps to one scalar float64 parameter; the values after each."""
    p = nn.Parameter(np.array([p0]))
    opt = opt_factory([p])
    out = []
    for g in grads:
        opt.zero_grad()
        p.grad[...] = g
        opt.step()
        out.append(float(p.data[0]))
    return out


# ---------------------------------------------------------------------- scalar references
def rmsprop_reference(grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                      centered=False, p=1.0):
    v = gbar = b = 0.0
    out = []
    for g in grads:
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            gbar = alpha * gbar + (1 - alpha) * g
            d = math.sqrt(v - gbar * gbar) + eps
        else:
            d = math.sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / d
            p = p - lr * b
        else:
            p = p - lr * g / d
        out.append(p)
    return out


def adagrad_reference(grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                      initial_accumulator_value=0.0, eps=1e-10, p=1.0):
    s = initial_accumulator_value
    out = []
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (math.sqrt(s) + eps)
        out.append(p)
    return out


# ---------------------------------------------------------------------- RMSprop by hand
def test_rmsprop_by_hand():
    # α = 0.5, ε = 0: v = 0.5, 0.25 + 2 = 2.25, 1.125 + 0.5 = 1.625
    p1 = 1 - 0.1 * 1 / math.sqrt(0.5)
    p2 = p1 - 0.1 * 2 / 1.5
    p3 = p2 + 0.1 * 1 / math.sqrt(1.625)
    got = run(lambda ps: optim.RMSprop(ps, lr=0.1, alpha=0.5, eps=0.0))
    np.testing.assert_allclose(got, [p1, p2, p3], rtol=1e-14)
    assert got[0] == pytest.approx(0.858578643762690, abs=1e-14)


def test_rmsprop_eps_is_outside_the_square_root():
    # one step, g = 1, α = 0.5, ε = 0.5: d = √0.5 + 0.5 (inside would be √1 = 1)
    got = run(lambda ps: optim.RMSprop(ps, lr=0.1, alpha=0.5, eps=0.5), grads=[1.0])
    assert got[0] == pytest.approx(1 - 0.1 / (math.sqrt(0.5) + 0.5), abs=1e-15)
    assert got[0] != pytest.approx(1 - 0.1 / math.sqrt(0.5 + 0.5), abs=1e-6)


def test_rmsprop_centered_by_hand():
    # ḡ = 0.5, 1.25, 0.125;  v as above;  d = √(v - ḡ²)
    p1 = 1 - 0.1 * 1 / math.sqrt(0.5 - 0.25)  # = 0.8
    p2 = p1 - 0.1 * 2 / math.sqrt(2.25 - 1.5625)
    p3 = p2 + 0.1 * 1 / math.sqrt(1.625 - 0.015625)
    got = run(lambda ps: optim.RMSprop(ps, lr=0.1, alpha=0.5, eps=0.0, centered=True))
    np.testing.assert_allclose(got, [p1, p2, p3], rtol=1e-14)
    assert got[0] == pytest.approx(0.8, abs=1e-15)


def test_rmsprop_momentum_by_hand():
    b1 = 1 / math.sqrt(0.5)
    b2 = 0.9 * b1 + 2 / 1.5
    b3 = 0.9 * b2 - 1 / math.sqrt(1.625)
    p1 = 1 - 0.1 * b1
    p2 = p1 - 0.1 * b2
    p3 = p2 - 0.1 * b3
    got = run(lambda ps: optim.RMSprop(ps, lr=0.1, alpha=0.5, eps=0.0, momentum=0.9))
    np.testing.assert_allclose(got, [p1, p2, p3], rtol=1e-14)


def test_rmsprop_weight_decay_by_hand():
    # λ = 0.5: g1 = 1 + 0.5 = 1.5, v1 = 1.125, p1 = 1 - 0.1 * 1.5 / √1.125
    p1 = 1 - 0.1 * 1.5 / math.sqrt(1.125)
    g2 = 2 + 0.5 * p1
    v2 = 0.5 * 1.125 + 0.5 * g2 * g2
    p2 = p1 - 0.1 * g2 / math.sqrt(v2)
    g3 = -1 + 0.5 * p2
    v3 = 0.5 * v2 + 0.5 * g3 * g3
    p3 = p2 - 0.1 * g3 / math.sqrt(v3)
    got = run(lambda ps: optim.RMSprop(ps, lr=0.1, alpha=0.5, eps=0.0, weight_decay=0.5))
    np.testing.assert_allclose(got, [p1, p2, p3], rtol=1e-14)


RMSPROP_OPTIONS = [
    dict(lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=mu, centered=c)
    for lr, alpha, eps, wd, mu, c in itertools.product(
        [0.01], [0.99, 0.5, 0.0], [1e-8, 0.1], [0.0, 0.1], [0.0, 0.9], [False, True])
    if not (alpha == 0.0 and c)  # α = 0 centered: v - ḡ² = 0, division by ε only
]


@pytest.mark.parametrize("kwargs", RMSPROP_OPTIONS, ids=str)
def test_rmsprop_every_option_matches_formula(kwargs):
    grads = [1.0, 2.0, -1.0, 0.5, -3.0]
    got = run(lambda ps: optim.RMSprop(ps, **kwargs), grads=grads)
    np.testing.assert_allclose(got, rmsprop_reference(grads, **kwargs), rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------- Adagrad by hand
def test_adagrad_by_hand():
    # s = 1, 5, 6;  ε = 0
    p1 = 1 - 0.1 * 1 / 1.0  # = 0.9
    p2 = p1 - 0.1 * 2 / math.sqrt(5)
    p3 = p2 + 0.1 * 1 / math.sqrt(6)
    got = run(lambda ps: optim.Adagrad(ps, lr=0.1, eps=0.0))
    np.testing.assert_allclose(got, [p1, p2, p3], rtol=1e-14)
    assert got[0] == pytest.approx(0.9, abs=1e-15)


def test_adagrad_lr_decay_by_hand():
    # clr = 0.1 / (1 + (t - 1) 0.5) = 0.1, 0.1/1.5, 0.1/2
    p1 = 1 - 0.1 * 1 / 1.0
    p2 = p1 - (0.1 / 1.5) * 2 / math.sqrt(5)
    p3 = p2 + (0.1 / 2.0) * 1 / math.sqrt(6)
    got = run(lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.5, eps=0.0))
    np.testing.assert_allclose(got, [p1, p2, p3], rtol=1e-14)


def test_adagrad_initial_accumulator_by_hand():
    # s starts at 1: s = 2, 6, 7
    p1 = 1 - 0.1 * 1 / math.sqrt(2)
    p2 = p1 - 0.1 * 2 / math.sqrt(6)
    p3 = p2 + 0.1 * 1 / math.sqrt(7)
    got = run(lambda ps: optim.Adagrad(ps, lr=0.1, initial_accumulator_value=1.0, eps=0.0))
    np.testing.assert_allclose(got, [p1, p2, p3], rtol=1e-14)


def test_adagrad_weight_decay_and_eps_by_hand():
    # λ = 0.5, ε = 0.5: g1 = 1.5, s1 = 2.25, p1 = 1 - 0.1 * 1.5 / (1.5 + 0.5) = 0.925
    p1 = 0.925
    g2 = 2 + 0.5 * p1
    s2 = 2.25 + g2 * g2
    p2 = p1 - 0.1 * g2 / (math.sqrt(s2) + 0.5)
    g3 = -1 + 0.5 * p2
    s3 = s2 + g3 * g3
    p3 = p2 - 0.1 * g3 / (math.sqrt(s3) + 0.5)
    got = run(lambda ps: optim.Adagrad(ps, lr=0.1, weight_decay=0.5, eps=0.5))
    np.testing.assert_allclose(got, [p1, p2, p3], rtol=1e-14)


ADAGRAD_OPTIONS = [
    dict(lr=0.1, lr_decay=d, weight_decay=wd, initial_accumulator_value=a, eps=eps)
    for d, wd, a, eps in itertools.product([0.0, 0.1], [0.0, 0.1], [0.0, 0.5], [1e-10, 0.1])
]


@pytest.mark.parametrize("kwargs", ADAGRAD_OPTIONS, ids=str)
def test_adagrad_every_option_matches_formula(kwargs):
    grads = [1.0, 2.0, -1.0, 0.5, -3.0]
    got = run(lambda ps: optim.Adagrad(ps, **kwargs), grads=grads)
    np.testing.assert_allclose(got, adagrad_reference(grads, **kwargs), rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------- against PyTorch
def torch_trajectory_check(name, kwargs, steps=8):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((4, 3))
    q0 = rng.standard_normal(5)
    grads = rng.standard_normal((steps, 4, 3))
    hgrads = rng.standard_normal((steps, 5))
    p, q = nn.Parameter(p0), nn.Parameter(q0)
    # two groups: the second with half the learning rate
    ours = getattr(optim, name)([{"params": [p]}, {"params": [q], "lr": kwargs["lr"] / 2}],
                                **kwargs)
    tp, tq = torch.nn.Parameter(torch.tensor(p0)), torch.nn.Parameter(torch.tensor(q0))
    theirs = getattr(torch.optim, name)([{"params": [tp]},
                                         {"params": [tq], "lr": kwargs["lr"] / 2}], **kwargs)
    for g, h in zip(grads, hgrads):
        p.grad[...] = g
        q.grad[...] = h
        ours.step()
        tp.grad, tq.grad = torch.tensor(g), torch.tensor(h)
        theirs.step()
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(q.data, tq.detach().numpy(), rtol=1e-12, atol=1e-14)


TORCH_RMSPROP = [
    dict(lr=0.01, alpha=alpha, eps=eps, weight_decay=wd, momentum=mu, centered=c)
    for alpha, eps, wd, mu, c in itertools.product(
        [0.99, 0.5], [1e-8, 1e-3], [0.0, 0.1], [0.0, 0.9], [False, True])
]


@pytest.mark.parametrize("kwargs", TORCH_RMSPROP, ids=str)
def test_rmsprop_matches_torch(kwargs):
    torch_trajectory_check("RMSprop", kwargs)


@pytest.mark.parametrize("kwargs", ADAGRAD_OPTIONS, ids=str)
def test_adagrad_matches_torch(kwargs):
    torch_trajectory_check("Adagrad", kwargs)


def test_defaults_match_torch():
    torch = pytest.importorskip("torch")
    p = nn.Parameter(np.zeros(2))
    tp = torch.nn.Parameter(torch.zeros(2))
    for name, keys in [("RMSprop", ("lr", "alpha", "eps", "weight_decay", "momentum",
                                    "centered")),
                       ("Adagrad", ("lr", "lr_decay", "weight_decay",
                                    "initial_accumulator_value", "eps"))]:
        ours = getattr(optim, name)([p]).defaults
        theirs = getattr(torch.optim, name)([tp]).defaults
        assert {k: ours[k] for k in keys} == {k: theirs[k] for k in keys}


# ---------------------------------------------------------------------- equivalences
ALL_RULES = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3)),
    ("Adam", dict(lr=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.1, weight_decay=0.3)),
] + [("RMSprop", k) for k in RMSPROP_OPTIONS] + [("Adagrad", k) for k in ADAGRAD_OPTIONS]


@pytest.mark.parametrize("name,kwargs", ALL_RULES, ids=str)
def test_lr_zero_changes_nothing(name, kwargs):
    kwargs = {**kwargs, "lr": 0.0}
    assert run(lambda ps: getattr(optim, name)(ps, **kwargs)) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.1, momentum=0.9, centered=True)),
    ("RMSprop", dict(lr=0.1, alpha=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.2, initial_accumulator_value=0.1)),
])
def test_l2_weight_decay_is_gradient_plus_lambda_p_exactly(name, kwargs):
    """weight_decay=λ gives the same bits as weight_decay=0 fed the gradient g + λ p."""
    rng = np.random.default_rng(5)
    grads = rng.standard_normal((6, 7))
    lam = 0.3
    a, b = nn.Parameter(np.linspace(-1, 1, 7)), nn.Parameter(np.linspace(-1, 1, 7))
    opt_a = getattr(optim, name)([a], weight_decay=lam, **kwargs)
    opt_b = getattr(optim, name)([b], **kwargs)
    for g in grads:
        a.grad[...] = g
        b.grad[...] = g + b.data * lam
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_rmsprop_with_alpha_zero_is_sign_sgd_exactly():
    """α = 0, ε = 0: v = g², d = |g|, so p -= lr sign(g): SGD fed sign(g), bit for bit."""
    rng = np.random.default_rng(6)
    grads = rng.standard_normal((5, 9)).astype(np.float32)
    a, b = nn.Parameter(np.ones(9, np.float32)), nn.Parameter(np.ones(9, np.float32))
    opt_a = optim.RMSprop([a], lr=0.05, alpha=0.0, eps=0.0)
    opt_b = optim.SGD([b], lr=0.05)
    for g in grads:
        a.grad[...] = g
        b.grad[...] = np.sign(g)
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_adagrad_first_step_is_lr_times_sign():
    # s = g², so p = p - lr g / |g| at t = 1 (ε = 0)
    got = run(lambda ps: optim.Adagrad(ps, lr=0.25, eps=0.0), grads=[-7.0])
    assert got == [1.25]


# ---------------------------------------------------------------------- convex quadratics
RULE_FACTORIES = {
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-3),
    "rmsprop-centered": lambda ps: optim.RMSprop(ps, lr=1e-3, centered=True),
    "rmsprop-momentum": lambda ps: optim.RMSprop(ps, lr=1e-4, momentum=0.9),
    "rmsprop-all": lambda ps: optim.RMSprop(ps, lr=1e-4, momentum=0.5, centered=True,
                                            weight_decay=1e-3, alpha=0.9),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=1e-2),
    "adagrad-all": lambda ps: optim.Adagrad(ps, lr=1e-2, lr_decay=0.1, weight_decay=1e-3,
                                            initial_accumulator_value=0.1),
}


@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(RULE_FACTORIES)))
def test_each_rule_lowers_a_convex_quadratic(seed, name):
    """L(p) = ½ (p - c)ᵀ H (p - c), H positive definite; a small step lowers L."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((4, 4))
    H = A @ A.T + np.eye(4)
    c = rng.uniform(0.5, 2.0, 4) * rng.choice([-1.0, 1.0], 4)
    p = nn.Parameter(np.zeros(4))
    opt = RULE_FACTORIES[name]([p])

    def loss():
        d = p.data - c
        return 0.5 * d @ H @ d

    before = loss()
    for _ in range(10):
        opt.zero_grad()
        p.grad += H @ (p.data - c)
        opt.step()
    assert loss() < before


# ---------------------------------------------------------------------- state and structure
@pytest.mark.parametrize("name,kwargs,ref", [
    ("RMSprop", dict(lr=0.1, alpha=0.5, momentum=0.9, centered=True), rmsprop_reference),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1), adagrad_reference),
])
def test_two_parameters_of_same_shape_keep_separate_state(name, kwargs, ref):
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3))
    opt = getattr(optim, name)([a, b], **kwargs)
    ga, gb = [1.0, 2.0, -1.0], [-3.0, 0.5, 0.5]
    for x, y in zip(ga, gb):
        a.grad[...] = x
        b.grad[...] = y
        opt.step()
    np.testing.assert_allclose(a.data, ref(ga, **kwargs)[-1], rtol=1e-13)
    np.testing.assert_allclose(b.data, ref(gb, **kwargs)[-1], rtol=1e-13)
    for key, arr in opt.state[a].items():
        if isinstance(arr, np.ndarray):
            assert not np.shares_memory(arr, opt.state[b][key])


def test_state_names_follow_torch():
    a = nn.Parameter(np.ones(2))
    opt = optim.RMSprop([a], momentum=0.9, centered=True)
    a.grad[...] = 1.0
    opt.step()
    assert set(opt.state[a]) >= {"square_avg", "grad_avg", "momentum_buffer"}
    assert opt.state_dict()["state"][0]["step"] == 1
    b = nn.Parameter(np.ones(2))
    opt = optim.RMSprop([b])
    b.grad[...] = 1.0
    opt.step()
    assert "momentum_buffer" not in opt.state[b] and "grad_avg" not in opt.state[b]
    c = nn.Parameter(np.ones(2))
    opt = optim.Adagrad([c], initial_accumulator_value=0.5)
    c.grad[...] = 2.0
    opt.step()
    np.testing.assert_array_equal(opt.state[c]["sum"], 4.5)


@pytest.mark.parametrize("factory", [
    lambda ps: optim.RMSprop(ps, lr=0.1, momentum=0.9, centered=True),
    lambda ps: optim.Adagrad(ps, lr=0.1),
])
def test_frozen_parameter_is_skipped(factory):
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    b.requires_grad = False
    opt = factory([a, b])
    for _ in range(3):
        a.grad[...] = 1.0
        b.grad[...] = 1.0
        opt.step()
    assert np.all(a.data < 1)
    np.testing.assert_array_equal(b.data, 1.0)
    assert b not in opt.state


@pytest.mark.parametrize("name,kwargs", [
    ("RMSprop", dict(momentum=0.9)), ("RMSprop", dict(centered=True)), ("Adagrad", {}),
])
def test_param_groups_have_their_own_hyper_parameters(name, kwargs):
    """Each group steps exactly as an optimizer holding that group alone would."""
    rng = np.random.default_rng(2)
    grads = rng.standard_normal((4, 2, 3))
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3))
    ra, rb = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3))
    cls = getattr(optim, name)
    opt = cls([{"params": [a]}, {"params": [b], "lr": 0.5, "weight_decay": 0.1}],
              lr=0.01, **kwargs)
    alone_a = cls([ra], lr=0.01, **kwargs)
    alone_b = cls([rb], lr=0.5, weight_decay=0.1, **kwargs)
    for g in grads:
        a.grad[...], b.grad[...] = g
        ra.grad[...], rb.grad[...] = g
        opt.step()
        alone_a.step()
        alone_b.step()
    np.testing.assert_array_equal(a.data, ra.data)
    np.testing.assert_array_equal(b.data, rb.data)
    assert not np.allclose(a.data, b.data)


@pytest.mark.parametrize("factory", [
    lambda ps: optim.RMSprop(ps, lr=1e-2),
    lambda ps: optim.RMSprop(ps, lr=1e-2, momentum=0.9, centered=True, weight_decay=1e-3),
    lambda ps: optim.Adagrad(ps, lr=1e-1, lr_decay=1e-2, initial_accumulator_value=0.1),
])
def test_resume_from_state_dict_is_bit_identical(factory):
    """Stop after k steps, save model and optimizer, rebuild, load, continue: same bits."""
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((8, 6, 3)).astype(np.float32)
    ys = rng.standard_normal((8, 6, 2)).astype(np.float32)
    loss_fn = nn.MSELoss()

    def make():
        model = nn.Sequential(nn.Linear(3, 5, rng=1), nn.Tanh(), nn.Linear(5, 2, rng=2))
        return model, factory(model.parameters())

    def train(model, opt, batches):
        for x, y in batches:
            opt.zero_grad()
            loss_fn(model(x), y)
            model.backward(loss_fn.backward())
            opt.step()

    batches = list(zip(xs, ys))
    model, opt = make()
    train(model, opt, batches)
    straight = model.state_dict()

    model, opt = make()
    train(model, opt, batches[:3])
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    del model, opt
    model2, opt2 = make()
    model2.load_state_dict(saved_model)
    opt2.load_state_dict(saved_opt)
    train(model2, opt2, batches[3:])
    resumed = model2.state_dict()
    assert straight.keys() == resumed.keys()
    for k in straight:
        assert resumed[k].dtype == np.float32
        np.testing.assert_array_equal(resumed[k], straight[k])


@pytest.mark.parametrize("factory", [
    lambda ps: optim.RMSprop(ps, momentum=0.9, centered=True),
    lambda ps: optim.Adagrad(ps),
])
def test_float32_stays_float32(factory):
    p = nn.Parameter(np.ones(4, np.float32))
    opt = factory([p])
    p.grad[...] = 0.5
    opt.step()
    assert p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values()
               if isinstance(v, np.ndarray))


@pytest.mark.parametrize("factory", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, amsgrad=True),
    lambda ps: optim.AdamW(ps),
    lambda ps: optim.RMSprop(ps, alpha=0.5, momentum=0.5, centered=True),
    lambda ps: optim.RMSprop(ps),
    lambda ps: optim.Adagrad(ps),
])
def test_tiny_and_vanishing_gradients_do_not_trap(factory):
    """Under errstate(all="raise"): g² of a 1e-25 float32 gradient is subnormal, and buffers
    decay through the subnormals while a gradient stays zero (a rare token's embedding row)."""
    p = nn.Parameter(np.ones(3, np.float32))
    opt = factory([p])
    for g in [1e-25, 1e-30, 0.0, 1e-3] + [0.0] * 1000:
        p.grad[...] = g
        opt.step()
    assert np.all(np.isfinite(p.data))
    with pytest.raises(FloatingPointError):  # other float errors still reach the caller
        np.float32(1e30) * np.float32(1e30)


# ---------------------------------------------------------------------- hyper-parameters
@pytest.mark.parametrize("cls,kwargs,arg", [
    ("RMSprop", dict(lr=-1.0), "lr"),
    ("RMSprop", dict(alpha=1.0), "alpha"),
    ("RMSprop", dict(alpha=-0.1), "alpha"),
    ("RMSprop", dict(eps=-1e-8), "eps"),
    ("RMSprop", dict(momentum=-0.1), "momentum"),
    ("RMSprop", dict(weight_decay=-1e-4), "weight_decay"),
    ("RMSprop", dict(lr=float("inf")), "lr"),
    ("Adagrad", dict(lr=-1.0), "lr"),
    ("Adagrad", dict(lr_decay=-0.1), "lr_decay"),
    ("Adagrad", dict(eps=-1e-10), "eps"),
    ("Adagrad", dict(weight_decay=-1.0), "weight_decay"),
    ("Adagrad", dict(initial_accumulator_value=-0.5), "initial_accumulator_value"),
])
def test_bad_hyper_parameters_name_optimizer_and_argument(cls, kwargs, arg):
    with pytest.raises(ValueError, match=rf"{cls}.*\b{arg}\b"):
        getattr(optim, cls)([nn.Parameter(np.zeros(2))], **kwargs)
    # the same check applies to a parameter group's own value
    with pytest.raises(ValueError, match=rf"{cls}.*\b{arg}\b"):
        getattr(optim, cls)([{"params": [nn.Parameter(np.zeros(2))], **kwargs}])


def test_non_numeric_hyper_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="RMSprop.*alpha"):
        optim.RMSprop([nn.Parameter(np.zeros(2))], alpha="0.9")
    with pytest.raises(TypeError, match="unknown"):
        optim.Adagrad([{"params": [nn.Parameter(np.zeros(2))], "betas": (0.9, 0.99)}])
