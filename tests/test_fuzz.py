"""Bad input everywhere: every layer, loss, optimizer, scheduler and ``nn.fit``.

The contract (docs/reliability.md): for wrong ranks, sizes and dtypes (integers, booleans,
objects, complex), non-arrays, NaN/inf values, empty batches and bad hyper-parameters, the
only exceptions that escape are ``ValueError`` or ``TypeError`` whose message names the
layer (or loss, optimizer, argument). Never an IndexError, AttributeError or a broadcast
error from deep inside NumPy, and never a silent acceptance of a non-numeric input or of
an invalid hyper-parameter. ``backward`` before ``forward`` may also be a RuntimeError
(the contract in docs/api.md), naming the layer. NaN/inf *values* in a floating input
propagate (as in PyTorch): a layer may return NaN, it must not crash; ``nn.fit`` turns them
into :class:`nn.NonFiniteError`. NaN targets of a loss are a ValueError.

The layers are taken from what ``nn`` exports when the tests are collected, so a new layer
is fuzzed as soon as it lands: ``SPECS`` below holds the constructor arguments and a valid
input shape of the known ones; for any other the arguments and input are inferred from the
constructor's signature (``infer_spec``), and ``test_every_layer_has_a_spec`` fails if that
is impossible.

Each probe runs twice: once as a deterministic case (``test_layer_probe[...]``, where a
known bug of a layer owned by someone else is a strict xfail naming the escaping exception),
and inside a hypothesis test that draws the probe, the batch size, the values and the
positions of NaNs (known bugs excluded there, so one bug is reported once).
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import optim
from optim import lr_scheduler

ALLOWED = (ValueError, TypeError)


# ---------------------------------------------------------------------- layer specs
@dataclass
class Spec:
    cls: type
    kwargs: dict                      # valid constructor arguments
    shape: tuple                      # a valid input shape, batch first
    hyper: dict = field(default_factory=dict)   # argument -> kind of bad values
    ids: int | None = None            # integer token ids in [0, ids) instead of floats
    build: object = None              # build(**kwargs) when cls(**kwargs) is not enough

    def make(self, **overrides):
        kwargs = {**self.kwargs, **overrides}
        return self.build(**kwargs) if self.build else self.cls(**kwargs)


def _encoder(**kw):
    return nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, rng=0), **kw)


_SPEC_ARGS = {
    "Linear": (dict(in_features=4, out_features=3), (2, 4),
               {"in_features": "size", "out_features": "size", "dtype": "dtype",
                "rng": "rng", "init": "choice"}),
    "Flatten": ({}, (2, 3, 2), {}),
    "ReLU": ({}, (2, 3), {}),
    "Sigmoid": ({}, (2, 3), {}),
    "Tanh": ({}, (2, 3), {}),
    "GELU": ({}, (2, 3), {}),
    "LeakyReLU": (dict(negative_slope=0.1), (2, 3), {"negative_slope": "real"}),
    "Softmax": (dict(axis=-1), (2, 3), {"axis": "int"}),
    "LogSoftmax": (dict(axis=-1), (2, 3), {"axis": "int"}),
    "Dropout": (dict(p=0.5), (2, 3), {"p": "prob", "rng": "rng"}),
    "Conv2d": (dict(in_channels=2, out_channels=3, kernel_size=2), (2, 2, 5, 5),
               {"in_channels": "size", "out_channels": "size", "kernel_size": "pair",
                "stride": "pair", "padding": "pair0", "dilation": "pair", "dtype": "dtype"}),
    "MaxPool2d": (dict(kernel_size=2), (2, 2, 4, 4),
                  {"kernel_size": "pair", "stride": "pair", "padding": "pair0"}),
    "AvgPool2d": (dict(kernel_size=2), (2, 2, 4, 4),
                  {"kernel_size": "pair", "stride": "pair", "padding": "pair0"}),
    "Conv1d": (dict(in_channels=2, out_channels=3, kernel_size=2), (2, 2, 5),
               {"in_channels": "size", "out_channels": "size", "kernel_size": "single",
                "stride": "single", "padding": "single0", "dilation": "single",
                "dtype": "dtype"}),
    "MaxPool1d": (dict(kernel_size=2), (2, 2, 5),
                  {"kernel_size": "single", "stride": "single", "padding": "single0"}),
    "AvgPool1d": (dict(kernel_size=2), (2, 2, 5),
                  {"kernel_size": "single", "stride": "single", "padding": "single0"}),
    "BatchNorm1d": (dict(num_features=3), (4, 3),
                    {"num_features": "size", "eps": "eps", "momentum": "unit"}),
    "BatchNorm2d": (dict(num_features=2), (2, 2, 3, 3),
                    {"num_features": "size", "eps": "eps", "momentum": "unit"}),
    "LayerNorm": (dict(normalized_shape=3), (2, 3), {"normalized_shape": "size", "eps": "eps"}),
    "Embedding": (dict(num_embeddings=5, embedding_dim=3), (2, 4),
                  {"num_embeddings": "size", "embedding_dim": "size"}),
    "RNN": (dict(input_size=3, hidden_size=4), (2, 5, 3),
            {"input_size": "size", "hidden_size": "size", "nonlinearity": "choice"}),
    "LSTM": (dict(input_size=3, hidden_size=4), (2, 5, 3),
             {"input_size": "size", "hidden_size": "size"}),
    "GRU": (dict(input_size=3, hidden_size=4), (2, 5, 3),
            {"input_size": "size", "hidden_size": "size"}),
    "MultiHeadAttention": (dict(embed_dim=4, num_heads=2), (2, 3, 4),
                           {"embed_dim": "size", "num_heads": "size", "dropout": "prob"}),
    "PositionalEncoding": (dict(d_model=4, max_len=16), (2, 5, 4),
                           {"d_model": "size", "max_len": "size", "dropout": "prob"}),
    "TransformerEncoderLayer": (dict(d_model=4, nhead=2, dim_feedforward=8, dropout=0.1),
                                (2, 3, 4),
                                {"d_model": "size", "nhead": "size", "dim_feedforward": "size",
                                 "dropout": "prob", "layer_norm_eps": "eps",
                                 "activation": "choice"}),
}
_BUILDERS = {
    "Sequential": (lambda: nn.Sequential(nn.Linear(4, 3, rng=0), nn.ReLU()), (2, 4)),
    "Residual": (lambda: nn.Residual(nn.Linear(4, 4, rng=0)), (2, 4)),
    "TransformerEncoder": (_encoder, (2, 3, 4)),
}
_IDS = {"Embedding": 5}


def exported_layers() -> list[str]:
    """Every concrete Layer class ``nn`` exports (read at collection time)."""
    names = []
    for name in sorted(set(getattr(nn, "__all__", [])) | set(dir(nn))):
        obj = getattr(nn, name, None)
        if inspect.isclass(obj) and issubclass(obj, nn.Layer) and obj is not nn.Layer \
                and not inspect.isabstract(obj) and not name.startswith("_"):
            names.append(name)
    return names


_SIZE_WORDS = ("feature", "size", "dim", "channel", "model", "embed", "num", "len", "hidden")


def infer_spec(name: str) -> Spec | None:
    """Constructor arguments and an input for a layer without an entry in SPECS: required
    arguments are filled from their names (sizes 4, heads 2, kernels 2), and the first of
    a few usual input shapes that the layer accepts is used."""
    cls = getattr(nn, name)
    kwargs, hyper = {}, {}
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty:
            continue
        low = p.name.lower()
        if "head" in low:
            kwargs[p.name] = 2
        elif "kernel" in low:
            kwargs[p.name] = 2
        elif any(w in low for w in _SIZE_WORDS):
            kwargs[p.name] = 4
        else:
            return None
        hyper[p.name] = "size"
    for shape in ((2, 4), (2, 3, 4), (2, 4, 5, 5)):
        for ids in (None, 4):
            spec = Spec(cls, kwargs, shape, hyper, ids=ids)
            try:
                with np.errstate(all="ignore"):
                    spec.make().forward(valid_input(spec, np.random.default_rng(0)))
                return spec
            except Exception:  # noqa: BLE001 - trying candidates
                continue
    return None


def _spec(name: str) -> Spec | None:
    if name in _SPEC_ARGS:
        kwargs, shape, hyper = _SPEC_ARGS[name]
        return Spec(getattr(nn, name), kwargs, shape, hyper, ids=_IDS.get(name))
    if name in _BUILDERS:
        build, shape = _BUILDERS[name]
        return Spec(getattr(nn, name), {}, shape, {}, build=lambda **kw: build(**kw))
    return infer_spec(name)


LAYERS = exported_layers()
SPECS = {name: _spec(name) for name in LAYERS}
if "TransformerEncoder" in SPECS and SPECS["TransformerEncoder"] is not None:
    SPECS["TransformerEncoder"].build = _encoder
    SPECS["TransformerEncoder"].kwargs = {"num_layers": 2}
    SPECS["TransformerEncoder"].hyper = {"num_layers": "size"}


def valid_input(spec: Spec, rng, batch: int | None = None, scale: float = 1.0) -> np.ndarray:
    shape = spec.shape if batch is None else (batch,) + spec.shape[1:]
    if spec.ids is not None:
        return rng.integers(0, spec.ids, size=shape)
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------------- contract checks
def _names(obj) -> set[str]:
    names = {type(obj).__name__}
    if isinstance(obj, nn.Layer):
        names |= {type(m).__name__ for m in obj.modules()}
    return names


def check_clean(exc: BaseException, obj, *args: str) -> None:
    """``exc`` is a ValueError/TypeError whose message names ``obj`` (or one of ``args``)."""
    assert isinstance(exc, ALLOWED), f"{type(exc).__name__} escaped: {exc}"
    msg = str(exc)
    assert any(n in msg for n in _names(obj) | set(args)), \
        f"the message does not name {sorted(_names(obj) | set(args))}: {msg!r}"


def call(fn, obj, *, must_raise: bool = False, names=(), extra_allowed=()):
    """Run ``fn()``: a clean error is checked and returns None; another exception fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = fn()
    except extra_allowed as exc:
        assert any(n in str(exc) for n in _names(obj) | set(names)), str(exc)
        return None
    except ALLOWED as exc:
        check_clean(exc, obj, *names)
        return None
    assert not must_raise, f"{type(obj).__name__} silently accepted a bad input"
    return out


# ---------------------------------------------------------------------- forward/backward probes
def _cast(dtype):
    def probe(x, rng):
        if dtype is object:
            return x.astype(object)
        with np.errstate(under="ignore", over="ignore"):  # the cast itself may round to 0/inf
            return x.astype(dtype)
    return probe


def _nonfinite(value):
    def probe(x, rng):
        x = np.array(x, copy=True)
        if x.size:
            x.reshape(-1)[rng.integers(0, x.size, size=max(1, x.size // 4))] = value
        return x
    return probe


def _grow(axis):
    def probe(x, rng):
        if x.ndim <= abs(axis) - (axis < 0) or (axis > 0 and x.ndim <= axis):
            return None
        shape = list(x.shape)
        shape[axis] += 1
        return rng.standard_normal(shape).astype(x.dtype) if x.dtype.kind == "f" \
            else rng.integers(0, 2, size=shape)
    return probe


def _first(x):
    """``x[0]``, or an array of that shape when the batch is empty."""
    return x[0].copy() if len(x) else np.zeros(x.shape[1:], x.dtype)


#: name -> (make bad input from a valid x, must it raise?, for float or id inputs or both)
FORWARD_PROBES = {
    "rank+1": (lambda x, rng: x[None], False, "both"),
    "rank-1": (lambda x, rng: _first(x), False, "both"),
    "rank0": (lambda x, rng: np.asarray(x.reshape(-1)[0] if x.size else x.dtype.type(0)), False,
              "both"),
    "last+1": (_grow(-1), False, "float"),
    "axis1+1": (_grow(1), False, "float"),
    "empty": (lambda x, rng: x[:0], False, "both"),
    "int64": (_cast(np.int64), True, "float"),
    "int32": (_cast(np.int32), True, "float"),
    "bool": (_cast(np.bool_), True, "both"),
    "object": (_cast(object), True, "both"),
    "complex": (_cast(np.complex128), True, "both"),
    "float16": (_cast(np.float16), False, "float"),
    "float64": (_cast(np.float64), False, "float"),
    "float32-ids": (_cast(np.float32), True, "ids"),
    "id-too-big": (lambda x, rng: np.full_like(x, 10**6), True, "ids"),
    "id-negative": (lambda x, rng: np.full_like(x, -1), True, "ids"),
    "list": (lambda x, rng: x.tolist(), False, "both"),
    "none": (lambda x, rng: None, True, "both"),
    "string": (lambda x, rng: "abc", True, "both"),
    "nan": (_nonfinite(np.nan), False, "float"),
    "inf": (_nonfinite(np.inf), False, "float"),
    "-inf": (_nonfinite(-np.inf), False, "float"),
    "huge": (lambda x, rng: x * np.float32(1e30), False, "float"),
}

#: name -> (make a bad upstream gradient from the output y, must it raise?)
BACKWARD_PROBES = {
    "g-last+1": (lambda y, rng: np.zeros(y.shape[:-1] + (y.shape[-1] + 1,), y.dtype)
                 if y.ndim else np.zeros(2, y.dtype), True),
    "g-rank+1": (lambda y, rng: y[None].copy(), True),
    "g-rank-1": (lambda y, rng: y.reshape(-1)[:0] if y.ndim == 0 else _first(y), True),
    "g-object": (lambda y, rng: y.astype(object), True),
    "g-complex": (lambda y, rng: y.astype(np.complex128), True),
    "g-none": (lambda y, rng: None, True),
    "g-list": (lambda y, rng: y.tolist(), False),
    "g-int": (lambda y, rng: np.ones(y.shape, np.int64), False),
    "g-float64": (lambda y, rng: y.astype(np.float64), False),
    "g-nan": (_nonfinite(np.nan), False),
}

#: Known bad-input bugs in layers owned by other sessions: (layer, probe) -> reason.
#: Each is a strict xfail in test_layer_probe and excluded from the hypothesis run.
KNOWN_BUGS: dict[tuple[str, str], str] = {}  # (layer, probe) -> reason; none open now


def extra_args(spec: Spec) -> list[str]:
    """Names of ``forward``'s arguments after the input (``mask``, ``state``)."""
    params = list(inspect.signature(spec.cls.forward).parameters)[2:]
    return [p for p in params if p not in ("args", "kwargs")]


#: bad values for an optional argument of forward (a mask, an initial state)
ARG_PROBES = {
    "string": lambda x: "abc",
    "shape": lambda x: np.zeros(7, np.float32),
    "object": lambda x: np.zeros(7, object),
    "bool-shape": lambda x: np.ones((1, 7, 7, 7), bool),
}


def _strided(x):
    """A non-contiguous view with the values of ``x``."""
    if x.ndim == 0:
        return x
    return np.repeat(x, 2, axis=-1)[..., ::2]


class _Subclass(np.ndarray):
    """An ndarray subclass standing for ``np.memmap`` (which needs a file)."""


def applicable(spec: Spec, probe: str) -> bool:
    if probe.startswith("arg:"):
        return probe.split(":")[1] in extra_args(spec)
    if probe in BACKWARD_PROBES or probe in ("backward-first", "strided", "subclass"):
        return True
    kind = FORWARD_PROBES[probe][2]
    return kind == "both" or (kind == "ids") == (spec.ids is not None)


def run_probe(name: str, probe: str, rng, batch: int | None = None) -> None:
    spec = SPECS[name]
    layer = spec.make()
    x = valid_input(spec, rng, batch)
    if probe == "backward-first":
        g = np.ones(1, np.float32)
        call(lambda: layer.backward(g), layer, extra_allowed=(RuntimeError,))
        return
    if probe == "strided":  # a non-contiguous view must give the same output (eval mode)
        layer.eval()
        y = call(lambda: layer.forward(np.ascontiguousarray(x)), layer)
        if y is not None:
            np.testing.assert_allclose(layer.forward(_strided(x)), y, rtol=1e-5, atol=1e-6)
        return
    if probe == "subclass":  # np.memmap & co.: the same results, returned as plain arrays
        layer.eval()
        y = call(lambda: layer.forward(np.array(x)), layer)
        if y is not None:
            g = rng.standard_normal(y.shape).astype(y.dtype)
            dx = layer.backward(g)
            ys = layer.forward(np.array(x).view(_Subclass))
            dxs = layer.backward(g.view(_Subclass))
            assert type(ys) is np.ndarray, type(ys)
            np.testing.assert_array_equal(ys, y)
            if dx is not None:
                assert type(dxs) is np.ndarray, type(dxs)
                np.testing.assert_array_equal(dxs, dx)
        return
    if probe.startswith("arg:"):
        _, arg, kind = probe.split(":")
        bad = ARG_PROBES[kind](x)
        with np.errstate(all="ignore"):
            call(lambda: layer.forward(x, **{arg: bad}), layer, must_raise=True, names=(arg,))
        return
    if probe in FORWARD_PROBES:
        make, must, _ = FORWARD_PROBES[probe]
        bad = make(x, rng)
        if bad is None and probe not in ("none",):
            return
        if isinstance(bad, np.ndarray) and bad.dtype.kind == "f" and bad.dtype != x.dtype:
            must = False
        if probe.startswith("id-") and x.size == 0:
            must = False  # no value to be out of range
        with np.errstate(all="ignore"):
            y = call(lambda: layer.forward(bad), layer, must_raise=must)
            if isinstance(y, np.ndarray) and isinstance(bad, np.ndarray):
                call(lambda: layer.backward(np.ones_like(y)), layer)
        return
    make, must = BACKWARD_PROBES[probe]
    y = call(lambda: layer.forward(x), layer)  # an empty batch may be refused, cleanly
    if y is None:
        return
    bad = make(y, rng)
    with np.errstate(all="ignore"):
        call(lambda: layer.backward(bad), layer, must_raise=must)


ALL_PROBES = list(FORWARD_PROBES) + list(BACKWARD_PROBES) + [
    "backward-first", "strided", "subclass"] + [
    f"arg:{arg}:{kind}" for arg in ("mask", "state") for kind in ARG_PROBES]


def _layer_cases():
    for name in LAYERS:
        spec = SPECS[name]
        if spec is None:
            continue
        for probe in ALL_PROBES:
            if not applicable(spec, probe):
                continue
            reason = KNOWN_BUGS.get((name, probe))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(name, probe, marks=marks, id=f"{name}-{probe}")


def test_every_layer_has_a_spec():
    missing = [name for name in LAYERS if SPECS[name] is None]
    assert not missing, (f"no fuzz spec for {missing}: add constructor arguments and an input "
                         "shape to _SPEC_ARGS in tests/test_fuzz.py")
    assert len(LAYERS) >= 20


@pytest.mark.parametrize("name,probe", list(_layer_cases()))
def test_layer_probe(name, probe):
    run_probe(name, probe, np.random.default_rng(0))


@pytest.mark.parametrize("name", [n for n in LAYERS if SPECS[n] is not None])
@given(data=st.data())
def test_layer_fuzz(name, data):
    spec = SPECS[name]
    probes = [p for p in ALL_PROBES if applicable(spec, p) and (name, p) not in KNOWN_BUGS]
    probe = data.draw(st.sampled_from(probes), label="probe")
    empty_ok = (name, "empty") not in KNOWN_BUGS
    batch = data.draw(st.integers(0 if empty_ok else 1, 3), label="batch")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    nn.manual_seed(seed)
    run_probe(name, probe, np.random.default_rng(seed), batch)


# ---------------------------------------------------------------------- hyper-parameters
BAD_VALUES = {
    "size": [0, -1, 2.5, "3", None, True, math.nan],
    "pair": [0, -1, 2.5, (0, 1), (1, 2, 3), "2", None],
    "pair0": [-1, 1.5, (-1, 0), "0", None],
    "single": [0, -1, 2.5, True, (1, 2), (0,), "2", None],
    "single0": [-1, 1.5, (0, 1), (-1,), "0", None],
    "prob": [-0.1, 1.0, 1.5, math.nan, "0.5", None],
    "eps": [0.0, -1e-5, math.nan, math.inf, "1e-5", None],
    "unit": [-0.1, 1.5, math.nan, "0.1", None],
    "real": [math.nan, math.inf, "0.1", None],
    "int": [1.5, "0", None],
    "choice": ["no-such-choice", 3, None],
    "dtype": [np.int32, "int64", complex, object],
    "rng": ["seed", 1.5, np.random.RandomState(0)],
}
#: Values that are valid for a particular argument although its kind lists them.
VALID_EXCEPTIONS = {("MaxPool2d", "stride", None), ("AvgPool2d", "stride", None),
                    ("MaxPool1d", "stride", None), ("AvgPool1d", "stride", None)}


def _hyper_cases():
    for name in LAYERS:
        spec = SPECS[name]
        if spec is None:
            continue
        for arg, kind in spec.hyper.items():
            for value in BAD_VALUES[kind]:
                if (name, arg, value) in VALID_EXCEPTIONS:
                    continue
                reason = KNOWN_BUGS.get((name, f"{arg}={value!r}"))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(name, arg, value, marks=marks, id=f"{name}-{arg}={value!r}")


@pytest.mark.parametrize("name,arg,value", list(_hyper_cases()))
def test_layer_bad_hyperparameter(name, arg, value):
    spec = SPECS[name]
    with pytest.raises(ALLOWED) as info:
        spec.make(**{arg: value})
    check_clean(info.value, spec.cls(**spec.kwargs) if not spec.build else spec.make(), arg)


def test_containers_reject_non_layers():
    for make in (lambda: nn.Sequential(nn.Linear(2, 2), 3), lambda: nn.Residual("x"),
                 lambda: nn.Sequential(None)):
        with pytest.raises(TypeError, match="Sequential|Residual"):
            make()


# ---------------------------------------------------------------------- losses
@dataclass
class LossSpec:
    cls: type
    kwargs: dict
    make_input: object
    make_target: object
    target_kind: str          # "classes" or "float"
    hyper: dict = field(default_factory=dict)


def _logits(rng, n=3, c=4):
    return rng.standard_normal((n, c)).astype(np.float32)


LOSSES = {
    "MSELoss": LossSpec(nn.MSELoss, {}, lambda r: _logits(r, 3, 2),
                        lambda r, x: r.standard_normal(x.shape).astype(np.float32), "float",
                        {"reduction": "choice"}),
    "CrossEntropyLoss": LossSpec(nn.CrossEntropyLoss, {}, _logits,
                                 lambda r, x: r.integers(0, x.shape[-1], x.shape[:-1]),
                                 "classes", {"reduction": "choice", "label_smoothing": "unit",
                                             "ignore_index": "int"}),
    "BCELoss": LossSpec(nn.BCELoss, {}, lambda r: r.uniform(0.1, 0.9, (3, 2)).astype(np.float32),
                        lambda r, x: r.uniform(0, 1, x.shape).astype(np.float32), "float",
                        {"reduction": "choice"}),
    "BCEWithLogitsLoss": LossSpec(nn.BCEWithLogitsLoss, {}, lambda r: _logits(r, 3, 2),
                                  lambda r, x: r.uniform(0, 1, x.shape).astype(np.float32),
                                  "float", {"reduction": "choice", "pos_weight": "weights"}),
    "HingeLoss": LossSpec(nn.HingeLoss, {}, _logits,
                          lambda r, x: r.integers(0, x.shape[-1], x.shape[:-1]), "classes",
                          {"reduction": "choice", "margin": "nonneg"}),
}
LOSS_BAD_VALUES = {**BAD_VALUES, "nonneg": [-1.0, math.nan, math.inf, "1", None],
                   "weights": ["x", np.array(["a"]), np.array([1 + 1j]), -1.0],
                   "choice": ["avg", None, 3], "int": [1.5, "0"]}


def test_every_loss_is_fuzzed():
    exported = {n for n in dir(nn) if inspect.isclass(getattr(nn, n))
                and issubclass(getattr(nn, n), nn.Loss) and n != "Loss"}
    assert exported <= set(LOSSES), f"add {exported - set(LOSSES)} to LOSSES in test_fuzz.py"


def _target_probes(spec: LossSpec):
    probes = {
        "t-shape+1": (lambda t: np.concatenate([t, t[:1]]), True),
        "t-rank+1": (lambda t: t[..., None], True),
        "t-object": (lambda t: t.astype(object), True),
        "t-complex": (lambda t: t.astype(np.complex128), True),
        "t-string": (lambda t: np.full(t.shape, "a"), True),
        "t-none": (lambda t: None, True),
    }
    if spec.target_kind == "float":
        probes["t-nan"] = (_nonfinite(np.nan), True)
        probes["t-inf"] = (_nonfinite(np.inf), True)
    else:
        probes["t-too-big"] = (lambda t: np.full_like(t, 100), True)
        probes["t-negative"] = (lambda t: np.full_like(t, -1), True)
        probes["t-float"] = (lambda t: t.astype(np.float32) + 0.5, True)
    return probes


_INPUT_PROBES = {
    "x-int": (lambda x: x.astype(np.int64), True),
    "x-bool": (lambda x: x > 0, True),
    "x-object": (lambda x: x.astype(object), True),
    "x-complex": (lambda x: x.astype(np.complex128), True),
    "x-list": (lambda x: x.tolist(), True),
    "x-none": (lambda x: None, True),
    "x-empty": (lambda x: x[:0], False),
    "x-rank-1": (lambda x: x[0], True),
    "x-nan": (_nonfinite(np.nan), False),
    "x-inf": (_nonfinite(np.inf), False),
}


def _wrap(f):
    return (lambda v, rng: f(v)) if f.__code__.co_argcount == 1 else f


def run_loss_probe(name: str, probe: str, rng) -> None:
    spec = LOSSES[name]
    loss = spec.cls(**spec.kwargs)
    x = spec.make_input(rng)
    t = spec.make_target(rng, x)
    if probe == "backward-first":
        call(lambda: loss.backward(), loss, extra_allowed=(RuntimeError,))
        return
    if probe in _INPUT_PROBES:
        make, must = _INPUT_PROBES[probe]
        bad = _wrap(make)(x, rng)
        if probe == "x-rank-1" and name in ("MSELoss", "BCELoss", "BCEWithLogitsLoss"):
            t, must = t[0], False  # a matching target: any shape is fine for elementwise losses
        if probe == "x-empty":
            t = t[:0]
        with np.errstate(all="ignore"):
            value = call(lambda: loss(bad, t), loss, must_raise=must)
            if value is not None:
                call(lambda: loss.backward(), loss)
        return
    make, must = _target_probes(spec)[probe]
    bad = _wrap(make)(t, rng)
    with np.errstate(all="ignore"):
        call(lambda: loss(x, bad), loss, must_raise=must)


def _loss_cases():
    for name, spec in LOSSES.items():
        for probe in list(_INPUT_PROBES) + list(_target_probes(spec)) + ["backward-first"]:
            yield pytest.param(name, probe, id=f"{name}-{probe}")


@pytest.mark.parametrize("name,probe", list(_loss_cases()))
def test_loss_probe(name, probe):
    run_loss_probe(name, probe, np.random.default_rng(0))


@pytest.mark.parametrize("name", list(LOSSES))
@given(data=st.data())
def test_loss_fuzz(name, data):
    spec = LOSSES[name]
    probe = data.draw(st.sampled_from(list(_INPUT_PROBES) + list(_target_probes(spec))))
    run_loss_probe(name, probe, np.random.default_rng(data.draw(st.integers(0, 2**31 - 1))))


def _loss_hyper_cases():
    for name, spec in LOSSES.items():
        for arg, kind in spec.hyper.items():
            for value in LOSS_BAD_VALUES[kind]:
                yield pytest.param(name, arg, value, id=f"{name}-{arg}={value!r}")


@pytest.mark.parametrize("name,arg,value", list(_loss_hyper_cases()))
def test_loss_bad_hyperparameter(name, arg, value):
    spec = LOSSES[name]
    with pytest.raises(ALLOWED) as info:
        spec.cls(**{**spec.kwargs, arg: value})
    check_clean(info.value, spec.cls(), arg)


# ---------------------------------------------------------------------- optimizers, schedulers
def _params():
    return nn.Linear(3, 2, rng=0).parameters()


OPTIMIZERS = {
    "SGD": {"lr": "lr", "momentum": "nonneg", "dampening": "unit", "weight_decay": "nonneg"},
    "Momentum": {"lr": "lr", "momentum": "nonneg", "weight_decay": "nonneg"},
    "Adam": {"lr": "lr", "betas": "betas", "eps": "nonneg", "weight_decay": "nonneg"},
    "AdamW": {"lr": "lr", "betas": "betas", "eps": "nonneg", "weight_decay": "nonneg"},
    "RMSprop": {"lr": "lr", "alpha": "unit_open", "eps": "nonneg", "weight_decay": "nonneg",
                "momentum": "nonneg"},
    "Adagrad": {"lr": "lr", "lr_decay": "nonneg", "weight_decay": "nonneg",
                "initial_accumulator_value": "nonneg", "eps": "nonneg"},
}
OPT_BAD_VALUES = {
    "lr": [-0.1, math.nan, math.inf, "0.1", None, True, [0.1]],
    "nonneg": [-0.1, math.nan, math.inf, "x", None],
    "unit": [-0.1, 1.5, math.nan, "x"],
    "unit_open": [-0.1, 1.0, math.nan, "x"],
    "betas": [(0.9,), (1.0, 0.999), (-0.1, 0.9), (0.9, 1.5), "ab", None, (math.nan, 0.9), 0.9],
}


def test_every_optimizer_is_fuzzed():
    exported = {n for n in optim.__all__ if inspect.isclass(getattr(optim, n))
                and issubclass(getattr(optim, n), optim.Optimizer) and n != "Optimizer"}
    assert exported <= set(OPTIMIZERS), f"add {exported - set(OPTIMIZERS)} to OPTIMIZERS"


def _opt_cases():
    for name, hyper in OPTIMIZERS.items():
        for arg, kind in hyper.items():
            for value in OPT_BAD_VALUES[kind]:
                yield pytest.param(name, arg, value, id=f"{name}-{arg}={value!r}")


@pytest.mark.parametrize("name,arg,value", list(_opt_cases()))
def test_optimizer_bad_hyperparameter(name, arg, value):
    cls = getattr(optim, name)
    with pytest.raises(ALLOWED) as info:
        cls(_params(), **{arg: value})
    check_clean(info.value, cls(_params()), arg)


BAD_PARAMS = {
    "empty": lambda: [],
    "none": lambda: None,
    "one-parameter": lambda: nn.Parameter(np.zeros(3)),
    "arrays": lambda: [np.zeros(3)],
    "numbers": lambda: [1, 2],
    "string": lambda: "abc",
    "group-without-params": lambda: [{"lr": 0.1}],
    "duplicate": lambda: [nn.Parameter(np.zeros(3))] * 2,
    "unknown-group-option": lambda: [{"params": list(_params()), "bogus": 1}],
    "int": lambda: 3,
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("case", list(BAD_PARAMS))
def test_optimizer_bad_params(name, case):
    cls = getattr(optim, name)
    with pytest.raises(ALLOWED) as info:
        cls(BAD_PARAMS[case]())
    check_clean(info.value, cls(_params()), "params")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@given(data=st.data())
def test_optimizer_fuzz(name, data):
    """Random combinations of valid and invalid hyper-parameters: valid ones construct and
    step; any invalid one gives a clean error."""
    hyper = OPTIMIZERS[name]
    kwargs = {}
    for arg, kind in hyper.items():
        if data.draw(st.booleans(), label=f"bad {arg}"):
            kwargs[arg] = data.draw(st.sampled_from(OPT_BAD_VALUES[kind]), label=arg)
    cls = getattr(optim, name)
    try:
        opt = cls(_params(), **kwargs)
    except ALLOWED as exc:
        check_clean(exc, cls(_params()), *kwargs)
        return
    assert not kwargs, f"{name} accepted {kwargs}"
    opt.step()


def _opt():
    return optim.SGD(_params(), lr=0.1)


def _same(o):
    """``o`` when it is an optimizer (the schedulers chained by SequentialLR share it)."""
    return o if isinstance(o, optim.Optimizer) else _opt()


SCHEDULERS = {
    "StepLR": (lambda o, **k: lr_scheduler.StepLR(o, **{"step_size": 2, **k}),
               {"step_size": [0, -1, 1.5, "2", None], "gamma": [-0.1, math.nan, "x"],
                "last_epoch": [-2, 1.5, "x"]}),
    "MultiStepLR": (lambda o, **k: lr_scheduler.MultiStepLR(o, **{"milestones": [2], **k}),
                    {"milestones": [[-1], "x", [1.5], None, 3],
                     "gamma": [-0.1, math.nan, "x"]}),
    "ExponentialLR": (lambda o, **k: lr_scheduler.ExponentialLR(o, **{"gamma": 0.9, **k}),
                      {"gamma": [-0.1, math.nan, "x", None]}),
    "CosineAnnealingLR": (lambda o, **k: lr_scheduler.CosineAnnealingLR(o, **{"T_max": 5, **k}),
                          {"T_max": [0, -1, 1.5, "5", None], "eta_min": [-0.1, math.nan, "x"]}),
    "LinearLR": (lambda o, **k: lr_scheduler.LinearLR(o, **k),
                 {"start_factor": [0.0, -1.0, 1.5, math.nan, "x"],
                  "end_factor": [-1.0, 1.5, math.nan, "x"], "total_iters": [0, -1, 1.5, "x"]}),
    "LambdaLR": (lambda o, **k: lr_scheduler.LambdaLR(o, **{"lr_lambda": lambda e: 1.0, **k}),
                 {"lr_lambda": ["x", None, 3, [lambda e: 1.0] * 2]}),
    "ReduceLROnPlateau": (lambda o, **k: lr_scheduler.ReduceLROnPlateau(o, **k),
                          {"mode": ["x", None], "factor": [1.0, -0.1, math.nan, "x"],
                           "patience": [-1, 1.5, "x"], "threshold": [-1.0, math.nan],
                           "threshold_mode": ["x"], "cooldown": [-1, 1.5],
                           "min_lr": [-1.0, [0.0, 0.0], "x"], "eps": [-1.0, math.nan]}),
    "SequentialLR": (lambda o, **k: lr_scheduler.SequentialLR(o, **{
        "schedulers": [lr_scheduler.StepLR(_same(o), 2), lr_scheduler.StepLR(_same(o), 3)],
        "milestones": [2], **k}),
        {"schedulers": [[], "x", None, [3]], "milestones": [[], [2, 3], "x", [-1]]}),
}


def test_every_scheduler_is_fuzzed():
    exported = {n for n in lr_scheduler.__all__ if n != "LRScheduler"}
    assert exported <= set(SCHEDULERS), f"add {exported - set(SCHEDULERS)} to SCHEDULERS"


def _sched_cases():
    for name, (_, bad) in SCHEDULERS.items():
        for arg, values in bad.items():
            for value in values:
                yield pytest.param(name, arg, value, id=f"{name}-{arg}={value!r}")


@pytest.mark.parametrize("name,arg,value", list(_sched_cases()))
def test_scheduler_bad_argument(name, arg, value):
    make = SCHEDULERS[name][0]
    with pytest.raises(ALLOWED) as info:
        make(_opt(), **{arg: value})
    check_clean(info.value, make(_opt()), arg)


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_rejects_non_optimizer(name):
    make = SCHEDULERS[name][0]
    with pytest.raises(ALLOWED) as info:
        make("not an optimizer")
    check_clean(info.value, make(_opt()), "optimizer")


# ---------------------------------------------------------------------- fit
def _fit_data(rng, n=8):
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


def _fit(x, y, **kw):
    model = nn.Sequential(nn.Linear(4, 3, rng=0))
    args = dict(epochs=1, batch_size=4, verbose=0)
    args.update(kw)
    opt = args.pop("optimizer", None) or optim.SGD(model.parameters(), lr=0.1)
    loss = args.pop("loss_fn", None) or nn.CrossEntropyLoss()
    model = args.pop("model", model)
    return nn.fit(model, loss, opt, x, y, **args)


FIT_PROBES = {
    # name: (function of (x, y) -> kwargs for _fit, allowed non-clean error type or None)
    "x-none": lambda x, y: dict(x=None),
    "x-int-scalar": lambda x, y: dict(x=3),
    "x-string": lambda x, y: dict(x="abcdefgh"),
    "x-dict": lambda x, y: dict(x={i: r for i, r in enumerate(x)}),
    "x-0d": lambda x, y: dict(x=np.float32(1.0)),
    "x-empty": lambda x, y: dict(x=x[:0], y=y[:0]),
    "x-wrong-width": lambda x, y: dict(x=np.zeros((len(x), 5), np.float32)),
    "x-wrong-rank": lambda x, y: dict(x=x[:, :, None]),
    "x-int": lambda x, y: dict(x=x.astype(np.int64)),
    "x-bool": lambda x, y: dict(x=x > 0),
    "x-object": lambda x, y: dict(x=x.astype(object)),
    "x-complex": lambda x, y: dict(x=x.astype(np.complex64)),
    "x-strings": lambda x, y: dict(x=np.full(x.shape, "a")),
    "y-short": lambda x, y: dict(y=y[:-1]),
    "y-none": lambda x, y: dict(y=None),
    "y-object": lambda x, y: dict(y=y.astype(object)),
    "y-complex": lambda x, y: dict(y=y.astype(np.complex64)),
    "y-strings": lambda x, y: dict(y=np.full(y.shape, "a")),
    "y-out-of-range": lambda x, y: dict(y=np.full_like(y, 7)),
    "y-negative": lambda x, y: dict(y=np.full_like(y, -1)),
    "y-nan-float": lambda x, y: dict(y=np.full((len(y), 3), np.nan, np.float32)),
    "y-wrong-rank": lambda x, y: dict(y=y[:, None, None]),
    "batch_size=0": lambda x, y: dict(batch_size=0),
    "batch_size=-1": lambda x, y: dict(batch_size=-1),
    "batch_size=1.5": lambda x, y: dict(batch_size=1.5),
    "batch_size=True": lambda x, y: dict(batch_size=True),
    "batch_size='4'": lambda x, y: dict(batch_size="4"),
    "epochs=-1": lambda x, y: dict(epochs=-1),
    "epochs=1.5": lambda x, y: dict(epochs=1.5),
    "epochs=None": lambda x, y: dict(epochs=None),
    "validation_data=x": lambda x, y: dict(validation_data=x),
    "validation_data=triple": lambda x, y: dict(validation_data=(x, y, y)),
    "validation_data=mismatch": lambda x, y: dict(validation_data=(x, y[:-1])),
    "validation_data=wide": lambda x, y: dict(validation_data=(np.zeros((2, 5), np.float32),
                                                               y[:2])),
    "metrics=bogus": lambda x, y: dict(metrics=("bogus",)),
    "metrics=3": lambda x, y: dict(metrics=3),
    "metrics=[3]": lambda x, y: dict(metrics=[3]),
    "rng=str": lambda x, y: dict(rng="seed"),
    "callbacks=[3]": lambda x, y: dict(callbacks=[3]),
    "callbacks=3": lambda x, y: dict(callbacks=3),
    "verbose=5": lambda x, y: dict(verbose=5),
    "on_nonfinite=x": lambda x, y: dict(on_nonfinite="ignore"),
    "checkpoint=3": lambda x, y: dict(checkpoint=3),
    "resume-without-checkpoint": lambda x, y: dict(resume=True),
    "checkpoint_every=0": lambda x, y: dict(checkpoint_every=0, checkpoint="unused.npz"),
    "loss_fn=str": lambda x, y: dict(loss_fn="mse"),
    "optimizer=str": lambda x, y: dict(optimizer="adam"),
    "model=str": lambda x, y: dict(model="mlp"),
    "x-nan": lambda x, y: dict(x=np.where(np.arange(len(x))[:, None] == 3, np.nan, x)),
    "x-inf": lambda x, y: dict(x=np.where(np.arange(len(x))[:, None] == 5, np.inf, x)),
}
_FIT_NAMES = ("fit", "Linear", "Sequential", "CrossEntropyLoss", "x", "y", "batch_size",
              "epochs", "validation_data", "metric", "rng", "callbacks", "verbose",
              "on_nonfinite", "checkpoint", "resume", "loss_fn", "optimizer", "model")


def run_fit_probe(probe: str, rng, tmp_path) -> None:
    x, y = _fit_data(rng)
    kw = FIT_PROBES[probe](x, y)
    if kw.get("checkpoint") == "unused.npz":
        kw["checkpoint"] = str(tmp_path / "unused.npz")
    x, y = kw.pop("x", x), kw.pop("y", y)
    try:
        with np.errstate(all="ignore", under="ignore"):
            _fit(x, y, **kw)
    except nn.NonFiniteError as exc:
        assert probe in ("x-nan", "x-inf"), f"{probe}: unexpected {exc}"
        assert "epoch 0" in str(exc) and "batch" in str(exc) and "input" in str(exc)
        return
    except ALLOWED as exc:
        assert any(n in str(exc) for n in _FIT_NAMES), f"{probe}: unclear message {exc}"
        return
    raise AssertionError(f"fit accepted the bad input {probe!r}")


@pytest.mark.parametrize("probe", list(FIT_PROBES))
def test_fit_probe(probe, tmp_path):
    run_fit_probe(probe, np.random.default_rng(0), tmp_path)


@given(data=st.data())
def test_fit_fuzz(data, tmp_path_factory):
    probe = data.draw(st.sampled_from(list(FIT_PROBES)), label="probe")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    run_fit_probe(probe, np.random.default_rng(seed), tmp_path_factory.mktemp("fit"))


@pytest.mark.parametrize("fn", ["evaluate", "predict"])
@pytest.mark.parametrize("probe", ["x-none", "x-string", "x-empty", "x-wrong-width", "x-object",
                                   "y-short", "batch_size=0", "batch_size=1.5", "metrics=bogus"])
def test_evaluate_predict_probe(fn, probe):
    x, y = _fit_data(np.random.default_rng(0))
    kw = FIT_PROBES[probe](x, y)
    x, y = kw.pop("x", x), kw.pop("y", y)
    model = nn.Sequential(nn.Linear(4, 3, rng=0))
    if fn == "predict":
        if probe.startswith("y-") or probe.startswith("metrics"):
            return
        call_ = lambda: nn.predict(model, x, **kw)  # noqa: E731
    else:
        call_ = lambda: nn.evaluate(model, nn.CrossEntropyLoss(), x, y, **kw)  # noqa: E731
    with pytest.raises(ALLOWED) as info:
        call_()
    assert any(n in str(info.value) for n in _FIT_NAMES + ("evaluate", "predict"))


# ---------------------------------------------------------------------- the harness itself
class _Leaky(nn.Layer):
    """A layer with the classic bugs: no input checks (an IndexError escapes)."""

    def forward(self, x):
        self._cache = x
        return x[:, 3] * 2.0

    def backward(self, grad_y):
        return grad_y


def test_harness_catches_an_escaping_exception():
    SPECS["_Leaky"] = Spec(_Leaky, {}, (2, 4))
    try:
        with pytest.raises((AssertionError, IndexError)):
            run_probe("_Leaky", "rank-1", np.random.default_rng(0))   # x[:, 3] on 1-d x
        with pytest.raises(AssertionError, match="silently accepted"):
            run_probe("_Leaky", "complex", np.random.default_rng(0))  # no dtype check
    finally:
        del SPECS["_Leaky"]
