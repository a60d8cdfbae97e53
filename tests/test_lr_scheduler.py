"""Learning-rate schedulers: closed forms worked in the test, PyTorch's sequences, state,
resume, argument checks, and use from ``nn.fit``.

Closed forms (η₀ = base lr, e = last_epoch), written out below in plain Python:
StepLR η₀γ^⌊e/s⌋; MultiStepLR η₀γ^#(milestones ≤ e); ExponentialLR η₀γ^e;
CosineAnnealingLR η_min + (η₀ - η_min)(1 + cos(πe/T))/2; LambdaLR η₀ f(e);
LinearLR η₀(s + (f - s) min(e, n)/n).
"""

import copy
import math
from bisect import bisect_right

import numpy as np
import pytest

import nn
import optim
from optim import lr_scheduler as S

BASE = (0.1, 0.01)  # two parameter groups with different learning rates


def make_opt(lib=optim, base=BASE):
    """An SGD optimizer over one parameter per group (ours, or torch's with lib=torch)."""
    if lib is optim:
        groups = [{"params": [nn.Parameter(np.zeros(2))], "lr": lr} for lr in base]
        return optim.SGD(groups, lr=base[0])
    groups = [{"params": [lib.nn.Parameter(lib.zeros(2))], "lr": lr} for lr in base]
    return lib.optim.SGD(groups, lr=base[0])


def sequence(sched, opt, n):
    """get_last_lr() after construction and after each of n steps (optimizer stepped first)."""
    out = [list(sched.get_last_lr())]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(list(sched.get_last_lr()))
    return np.array(out)


# ---------------------------------------------------------------------- closed forms
def closed_cosine(base, e, T, eta_min=0.0):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / T)) / 2


def closed_linear(base, e, s, f, n):
    return base * (s + (f - s) * min(e, n) / n)


CASES = {
    "step": (lambda M, o: M.StepLR(o, step_size=3, gamma=0.5),
             lambda b, e: b * 0.5 ** (e // 3)),
    "step1": (lambda M, o: M.StepLR(o, step_size=1, gamma=0.9),
              lambda b, e: b * 0.9 ** e),
    "multistep": (lambda M, o: M.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
                  lambda b, e: b * 0.3 ** bisect_right([2, 5, 5, 9], e)),
    "exponential": (lambda M, o: M.ExponentialLR(o, gamma=0.9),
                    lambda b, e: b * 0.9 ** e),
    "cosine": (lambda M, o: M.CosineAnnealingLR(o, T_max=10),
               lambda b, e: closed_cosine(b, e, 10)),
    "cosine-eta-min": (lambda M, o: M.CosineAnnealingLR(o, T_max=7, eta_min=1e-3),
                       lambda b, e: closed_cosine(b, e, 7, 1e-3)),
    "lambda": (lambda M, o: M.LambdaLR(o, lambda e: 1 / (1 + e)),
               lambda b, e: b / (1 + e)),
    "linear-default": (lambda M, o: M.LinearLR(o),
                       lambda b, e: closed_linear(b, e, 1 / 3, 1.0, 5)),
    "linear-warmup": (lambda M, o: M.LinearLR(o, start_factor=0.01, total_iters=4),
                      lambda b, e: closed_linear(b, e, 0.01, 1.0, 4)),
    "linear-decay": (lambda M, o: M.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                             total_iters=10),
                     lambda b, e: closed_linear(b, e, 1.0, 0.1, 10)),
    "warmup-cosine": (lambda M, o: M.SequentialLR(
                          o, [M.LinearLR(o, start_factor=0.1, total_iters=3),
                              M.CosineAnnealingLR(o, T_max=10)], milestones=[3]),
                      lambda b, e: (closed_linear(b, e, 0.1, 1.0, 3) if e < 3
                                    else closed_cosine(b, e - 3, 10))),
    "exp-then-step": (lambda M, o: M.SequentialLR(
                          o, [M.ExponentialLR(o, gamma=0.8),
                              M.StepLR(o, step_size=4, gamma=0.5)], milestones=[5]),
                      lambda b, e: b * 0.8 ** e if e < 5 else b * 0.5 ** ((e - 5) // 4)),
}
N_STEPS = 40  # past T_max: the cosine cases go down, up and down again


@pytest.mark.parametrize("name", sorted(CASES))
def test_sequence_matches_closed_form(name):
    build, closed = CASES[name]
    opt = make_opt()
    got = sequence(build(S, opt), opt, N_STEPS)
    expected = np.array([[closed(b, e) for b in BASE] for e in range(N_STEPS + 1)])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    # the optimizer's groups hold the same rates
    np.testing.assert_array_equal([g["lr"] for g in opt.param_groups], got[-1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_sequence_matches_torch(name):
    torch = pytest.importorskip("torch")
    build, _ = CASES[name]
    opt, topt = make_opt(), make_opt(torch)
    ours = sequence(build(S, opt), opt, N_STEPS)
    theirs = sequence(build(torch.optim.lr_scheduler, topt), topt, N_STEPS)
    np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=0)


def test_hand_values():
    opt = make_opt(base=(1.0,))
    assert sequence(S.StepLR(opt, 2, gamma=0.5), opt, 5)[:, 0].tolist() == \
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    opt = make_opt(base=(1.0,))
    got = sequence(S.LinearLR(opt, start_factor=0.25, total_iters=3), opt, 5)[:, 0]
    np.testing.assert_allclose(got, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0], rtol=1e-15)
    opt = make_opt(base=(1.0,))
    got = sequence(S.CosineAnnealingLR(opt, T_max=2), opt, 4)[:, 0]
    np.testing.assert_allclose(got, [1.0, 0.5, 0.0, 0.5, 1.0], atol=1e-15)
    opt = make_opt(base=(1.0,))
    got = sequence(S.MultiStepLR(opt, [1, 3, 3], gamma=0.1), opt, 4)[:, 0]
    np.testing.assert_allclose(got, [1.0, 0.1, 0.1, 0.001, 0.001], rtol=1e-14)


def test_lambda_per_group():
    opt = make_opt()
    sched = S.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: e + 1])
    got = sequence(sched, opt, 3)
    expected = [[0.1 * 0.5 ** e, 0.01 * (e + 1)] for e in range(4)]
    np.testing.assert_allclose(got, expected, rtol=1e-15)


def test_chained_schedulers_compose_like_torch():
    """Two schedulers on one optimizer: the recursive forms multiply their factors."""
    opt = make_opt()
    a, b = S.ExponentialLR(opt, gamma=0.9), S.StepLR(opt, step_size=2, gamma=0.5)
    got = [[g["lr"] for g in opt.param_groups]]
    for _ in range(8):
        opt.step()
        a.step()
        b.step()
        got.append(b.get_last_lr())
    expected = [[base * 0.9 ** e * 0.5 ** (e // 2) for base in BASE] for e in range(9)]
    np.testing.assert_allclose(got, expected, rtol=1e-13)


# ---------------------------------------------------------------------- ReduceLROnPlateau
def plateau_lrs(sched, metrics):
    out = []
    for m in metrics:
        sched.step(m)
        out.append(sched.get_last_lr()[0])
    return out


def test_plateau_by_hand():
    # threshold 0.1 rel: improving means < 0.9 best. patience 1, cooldown 1.
    # e1 best 10; e2 9.5 bad 1; e3 bad 2 > 1: lr 0.5, cooldown; e4 best 8 (cooldown ends);
    # e5 bad 1; e6 bad 2: lr 0.25, cooldown; e7 bad ignored (cooldown); e8 bad 1; e9 bad 2
    opt = make_opt(base=(1.0,))
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=1, threshold=0.1, cooldown=1)
    got = plateau_lrs(sched, [10, 9.5, 9.5, 8, 8, 8, 8, 8, 8])
    assert got == [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    assert sched.best == 8 and sched.last_epoch == 9


def test_plateau_min_lr_and_eps():
    # same metrics, min_lr 0.3: 0.5, then max(0.25, 0.3) = 0.3, then 0.3 stays (change <= eps)
    opt = make_opt(base=(1.0,))
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=1, threshold=0.1, cooldown=1,
                                min_lr=0.3)
    got = plateau_lrs(sched, [10, 9.5, 9.5, 8, 8, 8, 8, 8, 8])
    assert got == [1, 1, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3]


def test_plateau_max_mode_abs_threshold():
    # accuracy: improving means > best + 0.05; patience 0 reduces at the first bad epoch
    opt = make_opt(base=(1.0,))
    sched = S.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.05,
                                threshold_mode="abs")
    got = plateau_lrs(sched, [0.5, 0.6, 0.64, 0.7, 0.7])
    np.testing.assert_allclose(got, [1, 1, 0.1, 0.1, 0.01], rtol=1e-15)


PLATEAU_CONFIGS = [
    dict(),
    dict(patience=2, factor=0.5),
    dict(patience=0, cooldown=2, factor=0.5, threshold=0.05),
    dict(patience=1, threshold_mode="abs", threshold=0.01, min_lr=[1e-3, 1e-4]),
    dict(mode="max", patience=1, factor=0.3, min_lr=1e-3),
    dict(mode="max", threshold_mode="abs", threshold=0.02, patience=0, cooldown=1),
    dict(patience=0, factor=0.5, eps=1e-2),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CONFIGS, ids=str)
def test_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    metrics = [1 / (1 + 0.2 * e) + 0.05 * rng.standard_normal() for e in range(60)]
    opt, topt = make_opt(), make_opt(torch)
    ours = S.ReduceLROnPlateau(opt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    for m in metrics:
        opt.step()
        topt.step()
        ours.step(m)
        theirs.step(m)
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert ours.num_bad_epochs == theirs.num_bad_epochs
    assert ours.get_last_lr() != list(BASE)  # the configuration did reduce


# ---------------------------------------------------------------------- state and resume
RESUMABLE = {**{k: v[0] for k, v in CASES.items()},
             "plateau": lambda M, o: M.ReduceLROnPlateau(o, patience=1, factor=0.5,
                                                         cooldown=1)}


def drive(sched, opt, epochs, start=0):
    rng_metric = [1.0, 0.9, 0.95, 0.95, 0.97, 0.8, 0.85, 0.85, 0.9, 0.9, 0.9, 0.7, 0.75, 0.8]
    out = []
    for e in range(start, start + epochs):
        opt.step()
        if isinstance(sched, S.ReduceLROnPlateau):
            sched.step(rng_metric[e % len(rng_metric)])
        else:
            sched.step()
        out.append(sched.get_last_lr())
    return out


@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_resume_from_state_dict(name):
    build = RESUMABLE[name]
    opt = make_opt()
    straight = drive(build(S, opt), opt, 20)

    opt = make_opt()
    sched = build(S, opt)
    first = drive(sched, opt, 7)
    saved_opt, saved_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    del opt, sched
    opt2 = make_opt()
    sched2 = build(S, opt2)   # building writes the rates, so load the optimizer after it
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    rest = drive(sched2, opt2, 13, start=7)
    assert first + rest == straight


def test_state_dict_is_a_snapshot():
    opt = make_opt()
    sched = S.MultiStepLR(opt, milestones=[2, 4])
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 0
    sched.step()
    sched.milestones[7] = 1
    assert state["last_epoch"] == 0 and 7 not in state["milestones"]


class Halving:
    """A callable object with state: LambdaLR saves and restores its attributes."""

    def __init__(self):
        self.rate = 0.5

    def __call__(self, e):
        return self.rate ** e


def test_lambda_state_dict_keeps_callable_objects_state_and_skips_functions():
    opt = make_opt()
    obj = Halving()
    sched = S.LambdaLR(opt, [obj, lambda e: 1.0])
    obj.rate = 0.25
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.25}, None]
    opt2 = make_opt()
    obj2 = Halving()
    sched2 = S.LambdaLR(opt2, [obj2, lambda e: 1.0])
    sched2.load_state_dict(state)
    assert obj2.rate == 0.25 and sched2.last_epoch == sched.last_epoch


def test_initial_lr_and_base_lrs():
    opt = make_opt()
    first = S.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == list(BASE)
    assert first.base_lrs == list(BASE) and first.last_epoch == 0
    first.step()
    first.step()
    second = S.StepLR(opt, step_size=2)  # a second scheduler keeps the first's initial_lr
    assert second.base_lrs == list(BASE)
    np.testing.assert_allclose(second.get_last_lr(), [b * 0.25 for b in BASE], rtol=1e-15)


def test_resume_with_last_epoch_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(make_opt(), step_size=2, last_epoch=3)


@pytest.mark.parametrize("name", ["exponential", "cosine", "linear-warmup"])
def test_resume_with_last_epoch_matches_torch(name):
    """Rebuilding a scheduler with last_epoch=k over a restored optimizer, as torch does."""
    torch = pytest.importorskip("torch")
    build = CASES[name][0]

    def resumed(M, lib):
        opt = make_opt(lib)
        sched = build(M, opt)
        for _ in range(4):
            opt.step()
            sched.step()
        k = sched.last_epoch
        kwargs = {"optimizer": opt}
        del sched
        if name == "exponential":
            sched = M.ExponentialLR(gamma=0.9, last_epoch=k, **kwargs)
        elif name == "cosine":
            sched = M.CosineAnnealingLR(T_max=10, last_epoch=k, **kwargs)
        else:
            sched = M.LinearLR(start_factor=0.01, total_iters=4, last_epoch=k, **kwargs)
        return sequence(sched, opt, 8)

    np.testing.assert_allclose(resumed(S, optim), resumed(torch.optim.lr_scheduler, torch),
                               rtol=1e-14)


def test_get_last_lr_is_a_copy():
    opt = make_opt()
    sched = S.StepLR(opt, step_size=1)
    lrs = sched.get_last_lr()
    lrs[0] = 123.0
    assert sched.get_last_lr() == list(BASE)


# ---------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("build,cls,arg", [
    (lambda o: S.StepLR(o, step_size=0), "StepLR", "step_size"),
    (lambda o: S.StepLR(o, step_size=2, gamma=-0.1), "StepLR", "gamma"),
    (lambda o: S.MultiStepLR(o, milestones=[3, -1]), "MultiStepLR", "milestones"),
    (lambda o: S.ExponentialLR(o, gamma=0.0), "ExponentialLR", "gamma"),
    (lambda o: S.ExponentialLR(o, gamma=float("nan")), "ExponentialLR", "gamma"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), "CosineAnnealingLR", "T_max"),
    (lambda o: S.CosineAnnealingLR(o, T_max=5, eta_min=-1e-3), "CosineAnnealingLR",
     "eta_min"),
    (lambda o: S.LinearLR(o, start_factor=0.0), "LinearLR", "start_factor"),
    (lambda o: S.LinearLR(o, start_factor=1.5), "LinearLR", "start_factor"),
    (lambda o: S.LinearLR(o, end_factor=1.5), "LinearLR", "end_factor"),
    (lambda o: S.LinearLR(o, end_factor=-0.5), "LinearLR", "end_factor"),
    (lambda o: S.LinearLR(o, total_iters=0), "LinearLR", "total_iters"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), "LambdaLR", "lr_lambda"),
    (lambda o: S.StepLR(o, step_size=2, last_epoch=-2), "StepLR", "last_epoch"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], milestones=[]),
     "SequentialLR", "milestones"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), "ReduceLROnPlateau", "factor"),
    (lambda o: S.ReduceLROnPlateau(o, factor=-0.5), "ReduceLROnPlateau", "factor"),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), "ReduceLROnPlateau", "patience"),
    (lambda o: S.ReduceLROnPlateau(o, threshold=-1e-4), "ReduceLROnPlateau", "threshold"),
    (lambda o: S.ReduceLROnPlateau(o, cooldown=-1), "ReduceLROnPlateau", "cooldown"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=-1.0), "ReduceLROnPlateau", "min_lr"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.0]), "ReduceLROnPlateau", "min_lr"),
    (lambda o: S.ReduceLROnPlateau(o, eps=-1.0), "ReduceLROnPlateau", "eps"),
    (lambda o: S.ReduceLROnPlateau(o, mode="avg"), "ReduceLROnPlateau", "mode"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="pct"), "ReduceLROnPlateau",
     "threshold_mode"),
])
def test_bad_arguments_name_scheduler_and_argument(build, cls, arg):
    with pytest.raises(ValueError, match=rf"{cls}.*\b{arg}\b"):
        build(make_opt())


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="StepLR.*step_size"):
        S.StepLR(make_opt(), step_size=2.5)
    with pytest.raises(TypeError, match="Optimizer"):
        S.ExponentialLR(object(), gamma=0.9)
    with pytest.raises(TypeError, match="Optimizer"):
        S.ReduceLROnPlateau(object())
    opt = make_opt()
    with pytest.raises(TypeError, match="SequentialLR"):
        S.SequentialLR(opt, [S.ReduceLROnPlateau(opt)], milestones=[])


# ---------------------------------------------------------------------- from nn.fit
@pytest.fixture
def tiny():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 2, rng=1))
    return model, x, y


pytestmark_fit = pytest.mark.usefixtures("allow_underflow")


@pytestmark_fit
def test_fit_steps_the_scheduler_each_epoch(tiny):
    model, x, y = tiny
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    hist = nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=3, batch_size=8, verbose=0,
                  rng=0, callbacks=[nn.LearningRateScheduler(sched)])
    assert hist.history["lr"] == [0.1, 0.05, 0.025]
    assert opt.param_groups[0]["lr"] == 0.0125 and sched.last_epoch == 3


@pytestmark_fit
def test_fit_with_linear_warmup(tiny):
    model, x, y = tiny
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = S.LinearLR(opt, start_factor=0.25, total_iters=3)
    hist = nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=5, batch_size=8, verbose=0,
                  rng=0, callbacks=[nn.LearningRateScheduler(sched)])
    np.testing.assert_allclose(hist.history["lr"], [0.0025, 0.005, 0.0075, 0.01, 0.01],
                               rtol=1e-12)


@pytestmark_fit
def test_fit_with_reduce_on_plateau_monitors_val_loss(tiny):
    model, x, y = tiny
    opt = optim.SGD(model.parameters(), lr=0.1)
    # improving would need val_loss < 1% of the best: every epoch after the first is bad
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=0.99)
    hist = nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=4, batch_size=8, verbose=0,
                  rng=0, validation_data=(x[:8], y[:8]),
                  callbacks=[nn.LearningRateScheduler(sched)])
    assert hist.history["lr"] == [0.1, 0.1, 0.05, 0.025]
    assert sched.best == hist.history["val_loss"][0]


@pytestmark_fit
def test_fit_plateau_without_the_monitored_metric_says_so(tiny):
    model, x, y = tiny
    opt = optim.SGD(model.parameters(), lr=0.1)
    cb = nn.LearningRateScheduler(S.ReduceLROnPlateau(opt))
    with pytest.raises(KeyError, match="val_loss"):
        nn.fit(model, nn.CrossEntropyLoss(), opt, x, y, epochs=1, verbose=0, callbacks=[cb])
