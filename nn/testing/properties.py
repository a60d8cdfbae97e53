"""One-call property checks for layers, losses and optimizers, over hypothesis-generated cases.

``check_layer(factory, input_shapes)`` builds ``factory()`` for each generated case (after
``nn.manual_seed(seed)``, so weights and dropout masks are reproducible) and checks:

``gradients``
    first, ``backward`` must return an ndarray of the input's shape (the message says
    so when it returns None, a list, or another shape; a ValueError or TypeError raised
    inside ``backward`` gets a note listing the shape every gradient must have); then
    ``assert_gradcheck`` in float64 for the input and every parameter, with a random
    upstream gradient; a failure message is the gradcheck table.
``dtype``
    float32 in gives float32 out, float32 input gradient and float32 parameter gradients.
``no_mutation``
    ``forward`` leaves ``x`` untouched and ``backward`` leaves ``grad_y`` untouched.
``accumulation``
    two forward/backward passes with the same input leave exactly twice the parameter
    gradients of one (``backward`` adds, never assigns), and the same input gradient.
``determinism``
    the same seed gives bit-identical weights and outputs.
``batch_independence`` (only when ``batch_independent=True``)
    changing one row of the batch changes no other row of the output.

The check fails on the first property violated in the first failing case; hypothesis then
shrinks the case to the smallest one that still fails and re-raises its message.

Every case runs under ``np.errstate(under="ignore")``, the caller's other settings kept:
underflow to a subnormal or to 0 is benign (a GELU or sigmoid of a large negative input in
float32 is tiny, and the next matrix product underflows), while overflow, invalid and
divide stay trapped wherever the caller traps them (``np.errstate(all="raise")``).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from .._config import manual_seed
from ..gradcheck import assert_gradcheck
from ..layer import Layer
from ..losses import Loss
from . import strategies as nst

LAYER_PROPERTIES = ("gradients", "dtype", "no_mutation", "accumulation", "determinism",
                    "batch_independence")
LOSS_PROPERTIES = ("gradients", "dtype", "no_mutation", "determinism")


class PropertyFailure(AssertionError):
    """A property check failed; the message names the property, the tensor and the case."""


@dataclass
class PropertyReport:
    """What a check ran: the subject, the properties, the number of generated cases."""

    subject: str
    properties: tuple[str, ...]
    cases: int = 0
    first_gradcheck: object = None
    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{self.subject}: {len(self.properties)} properties x {self.cases} cases: PASS"
        return "\n".join([head, *(f"  {p}: PASS" for p in self.properties)])


def _fail(prop: str, subject: str, detail: str) -> PropertyFailure:
    return PropertyFailure(f"[{prop}] {subject}: {detail}")


def _label(obj) -> str:
    return obj.label() if isinstance(obj, Layer) else type(obj).__name__


def _build(factory: Callable, seed: int):
    manual_seed(seed)
    return factory()


def _replay(generators, states) -> None:
    for g, s in zip(generators, states):
        g.bit_generator.state = s


def worst_diff(a: np.ndarray, b: np.ndarray) -> str:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return f"shape {a.shape} != expected {b.shape}"
    err = np.abs(a - b)
    k = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    idx = tuple(int(i) for i in k)
    return f"worst index {idx}: got {a[k]:.10g}, expected {b[k]:.10g} (abs err {err[k]:.3e})"


def close_to(a, b, rtol: float = 1e-12) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-300)
    return bool(np.all(np.abs(a - b) <= rtol * scale))


def _underflow_is_benign(check: Callable) -> Callable:
    """``check`` run under ``np.errstate(under="ignore")`` (the module docstring says why)."""

    @functools.wraps(check)
    def run(*args, **kwargs):
        with np.errstate(under="ignore"):
            return check(*args, **kwargs)

    return run


def _upstream(shape, dtype, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------------- one case
@_underflow_is_benign
def check_layer_case(factory: Callable, x: np.ndarray, seed: int = 0, *,
                     properties: Sequence[str] | None = None, train: bool = True,
                     batch_independent: bool = False, max_coords: int | None = 64,
                     extra_checks: Iterable[Callable] = (), gradcheck_kwargs: dict | None = None):
    """Run the layer properties on one input ``x`` (float64); raise ``PropertyFailure``.

    Returns the gradcheck report of the case.
    """
    props = tuple(properties or LAYER_PROPERTIES)
    x = np.asarray(x, dtype=np.float64)

    def fresh():
        layer = _build(factory, seed)
        if not isinstance(layer, Layer):
            raise TypeError(f"check_layer: the factory returned {type(layer).__name__}, "
                            "not an nn.Layer")
        return layer.train(train)

    layer = fresh()
    subject = _label(layer)
    report = None
    if "gradients" in props:
        _check_backward_returns(fresh().astype(np.float64), x, seed, subject)
        try:
            report = assert_gradcheck(layer, x, seed=seed + 1, max_coords=max_coords,
                                      **(gradcheck_kwargs or {}))
        except AssertionError as exc:
            raise _fail("gradients", subject, f"input shape {x.shape}{exc}") from None
    for check in extra_checks:  # the exercise's own checks (forward formula, ...) come next
        check(fresh().astype(np.float64), x.copy())
    if "no_mutation" in props:
        _check_no_mutation(fresh().astype(np.float64), x, seed, subject)
    if "accumulation" in props:
        _check_accumulation(fresh().astype(np.float64), x, seed, subject)
    if "dtype" in props:
        _check_dtype(fresh(), x, seed, subject)
    if "determinism" in props:
        _check_determinism(fresh, x, subject)
    if batch_independent and "batch_independence" in props:
        _check_batch_independence(fresh().astype(np.float64), x, subject)
    return report


def _add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)``, also on Python 3.10 (no add_note: the list is set directly)."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # pragma: no cover - Python 3.10
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]


def _gradient_shapes(layer: Layer, x_shape: tuple, y_shape: tuple) -> str:
    """A hint for a shape error in ``backward``: the shape every gradient must have.

    e.g. ``hint: grad_y has the output's shape (4, 2); backward returns dx of the input's
    shape and adds into each parameter's .grad an array of that parameter's shape: dx (4, 3),
    self.weight.grad (3, 2), self.bias.grad (2,)``.
    """
    head = f"hint: grad_y has the output's shape {tuple(y_shape)}; backward returns dx of the "
    params = [f"self.{name}.grad {p.data.shape}" for name, p in layer.named_parameters()
              if p.requires_grad]
    if not params:
        return head + f"input's shape {tuple(x_shape)}"
    return (head + "input's shape and adds into each parameter's .grad an array of that "
            f"parameter's shape: {', '.join([f'dx {tuple(x_shape)}', *params])}")


def _check_backward_returns(layer: Layer, x: np.ndarray, seed: int, subject: str) -> None:
    """One forward and backward: ``backward`` returns an ndarray of ``x``'s shape.

    A ValueError or TypeError raised by ``backward`` (a broadcast or matmul shape error,
    most often) is re-raised with :func:`_gradient_shapes` as a note.
    """
    y = layer.forward(x.copy())
    g = _upstream(np.shape(y), np.float64, seed + 2)
    try:
        dx = layer.backward(g)
    except (ValueError, TypeError) as exc:
        _add_note(exc, _gradient_shapes(layer, x.shape, np.shape(y)))
        raise
    _check_returned(dx, x.shape, subject, "return dx",
                    "\n" + _gradient_shapes(layer, x.shape, np.shape(y)))


def _check_returned(dx, shape: tuple, subject: str, statement: str, hint: str = "") -> None:
    """What a backward returned is an ndarray of the input's shape, else a failure saying
    which of the three it is not."""
    if dx is None:
        raise _fail("gradients", subject, "backward returned None: it must return dL/dx, an "
                                          f"ndarray of the input's shape {shape} (a "
                                          f"missing `{statement}`?)")
    if not isinstance(dx, np.ndarray):
        raise _fail("gradients", subject, f"backward returned a {type(dx).__name__}, not a "
                                          f"NumPy array: return dL/dx as an ndarray of the "
                                          f"input's shape {shape}")
    if dx.shape != shape:
        raise _fail("gradients", subject,
                    f"backward returned a gradient of shape {dx.shape} for an input of shape "
                    f"{shape}: dL/dx must have the input's shape{hint}")


def _check_no_mutation(layer: Layer, x: np.ndarray, seed: int, subject: str) -> None:
    x_in = x.copy()
    y = layer.forward(x_in)
    if not np.array_equal(x_in, x):
        raise _fail("no_mutation", subject, "forward modified its input x in place")
    g = _upstream(np.shape(y), np.float64, seed + 2)
    g_in = g.copy()
    layer.backward(g_in)
    if not np.array_equal(g_in, g):
        raise _fail("no_mutation", subject, "backward modified its argument grad_y in place "
                                            "(allocate, or write into buffers the layer owns)")
    if not np.array_equal(x_in, x):
        raise _fail("no_mutation", subject, "backward modified the input x in place")


def _check_accumulation(layer: Layer, x: np.ndarray, seed: int, subject: str) -> None:
    gens = [g for _, g in layer.named_generators()]
    states = [g.bit_generator.state for g in gens]
    layer.zero_grad()
    y = layer.forward(x.copy())
    g = _upstream(np.shape(y), np.float64, seed + 2)
    dx1 = layer.backward(g.copy())
    once = {n: p.grad.copy() for n, p in layer.named_parameters() if p.requires_grad}
    _replay(gens, states)
    layer.forward(x.copy())
    dx2 = layer.backward(g.copy())
    for name, p in layer.named_parameters():
        if name in once and not close_to(p.grad, 2 * once[name]):
            raise _fail("accumulation", subject,
                        f"parameter {name!r}: after two backward passes the gradient is not "
                        f"twice that of one (backward must add into p.grad, not assign): "
                        f"{worst_diff(p.grad, 2 * once[name])}")
    if dx1 is not None and not close_to(dx2, dx1):
        raise _fail("accumulation", subject, "the input gradient of a second identical "
                                             f"pass differs from the first: {worst_diff(dx2, dx1)}")


def _check_dtype(layer: Layer, x: np.ndarray, seed: int, subject: str) -> None:
    layer = layer.astype(np.float32)
    y = layer.forward(x.astype(np.float32))
    if not isinstance(y, np.ndarray) or y.dtype != np.float32:
        raise _fail("dtype", subject, f"float32 input gave output of dtype "
                                      f"{getattr(y, 'dtype', type(y).__name__)}")
    dx = layer.backward(_upstream(y.shape, np.float32, seed + 2))
    if dx is not None and (not isinstance(dx, np.ndarray) or dx.dtype != np.float32):
        raise _fail("dtype", subject, f"float32 upstream gradient gave an input gradient of "
                                      f"dtype {getattr(dx, 'dtype', type(dx).__name__)}")
    for name, p in layer.named_parameters():
        if p.grad_view().dtype != np.float32 or p.data.dtype != np.float32:
            raise _fail("dtype", subject, f"parameter {name!r} became {p.data.dtype} with "
                                          f"gradient {p.grad_view().dtype} in a float32 layer")


def _check_determinism(fresh: Callable, x: np.ndarray, subject: str) -> None:
    a, b = fresh().astype(np.float64), None
    ya = a.forward(x.copy())
    b = fresh().astype(np.float64)
    yb = b.forward(x.copy())
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        if not np.array_equal(pa.data, pb.data):
            raise _fail("determinism", subject, f"parameter {name!r} differs between two "
                                                "layers built after the same seed")
    if not np.array_equal(ya, yb):
        raise _fail("determinism", subject, "two layers built after the same seed give "
                                            f"different outputs: {worst_diff(yb, ya)}")


def _check_batch_independence(layer: Layer, x: np.ndarray, subject: str) -> None:
    if x.ndim == 0 or x.shape[0] < 2:
        return
    gens = [g for _, g in layer.named_generators()]
    states = [g.bit_generator.state for g in gens]
    y = np.array(layer.forward(x.copy()), copy=True)
    x2 = x.copy()
    x2[-1] += 0.5
    _replay(gens, states)
    y2 = layer.forward(x2)
    if not close_to(y2[:-1], y[:-1]):
        raise _fail("batch_independence", subject, "changing the last row of the batch "
                    f"changed other rows: {worst_diff(y2[:-1], y[:-1])}")


# ----------------------------------------------------------------------------- hypothesis
def _run(test: Callable, strategies: dict, settings) -> None:
    wrapped = given(**strategies)(test)
    if settings is not None:
        wrapped = settings(wrapped)
    wrapped()


def check_layer(factory: Callable, input_shapes, *, lo: float = -3.0, hi: float = 3.0,
                nudge: Callable | None = None, properties: Sequence[str] | None = None,
                train: bool = True, batch_independent: bool = False,
                max_coords: int | None = 64, extra_checks: Iterable[Callable] = (),
                gradcheck_kwargs: dict | None = None,
                settings: hsettings | None = None) -> PropertyReport:
    """Check a layer's properties over generated inputs and seeds (see the module docstring).

    Parameters
    ----------
    factory : callable
        ``factory()`` returns a new layer: a class with no required arguments, or a lambda
        / ``functools.partial``. It runs after ``nn.manual_seed(seed)``.
    input_shapes : tuple or hypothesis strategy of tuples
        e.g. ``nn.testing.batch_shapes(last=3)`` or ``(4, 3)``.
    lo, hi, nudge :
        Value range of the inputs, and an optional deterministic nudge away from kinks
        (``nn.testing.away_from(0.0)``, ``nn.testing.distinct()``).
    properties : sequence of str, optional
        A subset of ``LAYER_PROPERTIES`` (default: all that apply).
    train : bool
        Check the layer in train mode (default) or eval mode.
    batch_independent : bool
        Declare that output row i depends only on input row i, and check it.
    extra_checks : callables ``check(layer, x)``
        Further assertions run on each case with a fresh float64 layer.
    settings : hypothesis.settings, optional
        Overrides the loaded profile (e.g. ``settings(max_examples=5)``).
    """
    if not isinstance(input_shapes, st.SearchStrategy):
        input_shapes = st.just(tuple(input_shapes))
    report = PropertyReport(getattr(factory, "__name__", repr(factory)),
                            tuple(p for p in (properties or LAYER_PROPERTIES)
                                  if p != "batch_independence" or batch_independent))

    def case(x, seed):
        if report.cases == 0:
            report.subject = _label(_build(factory, seed))
        check_layer_case(factory, x, seed, properties=properties, train=train,
                         batch_independent=batch_independent, max_coords=max_coords,
                         extra_checks=extra_checks, gradcheck_kwargs=gradcheck_kwargs)
        report.cases += 1

    _run(case, dict(x=nst.layer_inputs(input_shapes, lo, hi, nudge=nudge), seed=nst.seeds()),
         settings)
    return report


def layer_test(factory: Callable, input_shapes, **options):
    """Decorator form of :func:`check_layer` for a pytest test.

    The decorated function ``test(layer, x)`` is run on every generated case after the
    standard properties pass, with a fresh float64 layer, for any extra assertions; its
    body may be just ``pass``::

        @nn.testing.layer_test(lambda: MyLayer(3), nn.testing.batch_shapes(last=3))
        def test_my_layer(layer, x):
            assert layer(x).shape == x.shape
    """

    def decorate(fn: Callable) -> Callable:
        extra = tuple(options.pop("extra_checks", ())) + (fn,)

        def test() -> None:
            check_layer(factory, input_shapes, extra_checks=extra, **options)

        test.__name__, test.__qualname__ = fn.__name__, fn.__qualname__
        test.__doc__, test.__module__ = fn.__doc__, fn.__module__
        return test

    return decorate


# ----------------------------------------------------------------------------- losses
def _targets(kind, shape: tuple) -> st.SearchStrategy:
    if isinstance(kind, st.SearchStrategy):
        return kind
    if callable(kind):
        return kind(shape)
    if kind == "classes":
        return nst.class_targets(shape[:-1], shape[-1])
    if kind == "probabilities":
        return nst.probability_targets(shape)
    if kind == "unit":  # values in [0, 1], e.g. BCE targets
        return nst.arrays(shape, 0.0, 1.0)
    if kind == "sign":
        return st.lists(st.sampled_from([-1.0, 1.0]), min_size=int(np.prod(shape)),
                        max_size=int(np.prod(shape))).map(
            lambda v: np.array(v, dtype=np.float64).reshape(shape))
    if kind == "same":
        return nst.arrays(shape)
    raise ValueError(f"check_loss: unknown target kind {kind!r} (classes, probabilities, "
                     "unit, sign, same, a strategy, or a function of the input shape)")


@_underflow_is_benign
def check_loss_case(factory: Callable, x: np.ndarray, target, seed: int = 0, *,
                    properties: Sequence[str] | None = None, max_coords: int | None = 64,
                    extra_checks: Iterable[Callable] = ()):
    """Run the loss properties on one (input, target) pair; raise ``PropertyFailure``."""
    props = tuple(properties or LOSS_PROPERTIES)
    x = np.asarray(x, dtype=np.float64)
    loss = _build(factory, seed)
    if not isinstance(loss, Loss):
        raise TypeError(f"check_loss: the factory returned {type(loss).__name__}, not an "
                        "nn.Loss")
    subject = type(loss).__name__
    report = None
    if "gradients" in props:
        _check_loss_backward_returns(_build(factory, seed), x, target, subject)
        try:
            report = assert_gradcheck(loss, x, target=target, max_coords=max_coords)
        except AssertionError as exc:
            raise _fail("gradients", subject, f"input shape {x.shape}{exc}") from None
    if "no_mutation" in props:
        x_in, t_in = x.copy(), copy.deepcopy(target)
        _build(factory, seed).forward(x_in, t_in)
        if not np.array_equal(x_in, x) or not np.array_equal(np.asarray(t_in),
                                                             np.asarray(target)):
            raise _fail("no_mutation", subject, "forward modified its input or target")
    if "dtype" in props:
        fn = _build(factory, seed)
        value = fn.forward(x.astype(np.float32), target)
        g = fn.backward()
        if not isinstance(value, float):
            raise _fail("dtype", subject, f"forward must return a Python float, got "
                                          f"{type(value).__name__}")
        if not isinstance(g, np.ndarray) or g.dtype != np.float32 or g.shape != x.shape:
            raise _fail("dtype", subject, f"float32 logits of shape {x.shape} gave a gradient "
                                          f"{getattr(g, 'dtype', type(g).__name__)} of shape "
                                          f"{getattr(g, 'shape', None)}")
    if "determinism" in props:
        fn = _build(factory, seed)
        fn.forward(x, target)
        g1 = np.array(fn.backward(), copy=True)
        g2 = fn.backward()
        if not np.array_equal(g1, g2):
            raise _fail("determinism", subject, "calling backward() twice gives different "
                                                f"gradients: {worst_diff(g2, g1)}")
    for check in extra_checks:
        check(_build(factory, seed), x.copy(), target)
    return report


def _check_loss_backward_returns(loss: Loss, x: np.ndarray, target, subject: str) -> None:
    """``loss.backward()`` after a forward returns an ndarray of the input's shape."""
    loss.forward(x.copy(), copy.deepcopy(target))
    try:
        g = loss.backward()
    except (ValueError, TypeError) as exc:
        _add_note(exc, f"hint: backward() returns dL/dx, of the input's shape {x.shape}")
        raise
    _check_returned(g, x.shape, subject, "return")


def check_loss(factory: Callable, input_shapes, *, targets="classes", lo: float = -3.0,
               hi: float = 3.0, properties: Sequence[str] | None = None,
               max_coords: int | None = 64, extra_checks: Iterable[Callable] = (),
               settings: hsettings | None = None) -> PropertyReport:
    """Check a loss over generated inputs and targets.

    ``targets`` is ``"classes"`` (integer indices for the last axis), ``"probabilities"``,
    ``"unit"`` (values in [0, 1]), ``"sign"`` (±1), ``"same"`` (any floats of the input's
    shape), a strategy, or a function ``shape -> strategy``.
    """
    if not isinstance(input_shapes, st.SearchStrategy):
        input_shapes = st.just(tuple(input_shapes))
    report = PropertyReport(getattr(factory, "__name__", repr(factory)),
                            tuple(properties or LOSS_PROPERTIES))

    @st.composite
    def pairs(draw):
        x = draw(nst.layer_inputs(input_shapes, lo, hi))
        return x, draw(_targets(targets, x.shape))

    def case(pair, seed):
        if report.cases == 0:
            report.subject = repr(_build(factory, seed))
        check_loss_case(factory, pair[0], pair[1], seed, properties=properties,
                        max_coords=max_coords, extra_checks=extra_checks)
        report.cases += 1

    _run(case, dict(pair=pairs(), seed=nst.seeds()), settings)
    return report


# ----------------------------------------------------------------------------- optimizers
@_underflow_is_benign
def check_optimizer_case(factory: Callable, reference: Callable, shapes_: Sequence[tuple],
                         seed: int = 0, steps: int = 4, rtol: float = 1e-10) -> None:
    """Run ``factory(params)`` and ``reference(params)`` on the same gradients; compare.

    Both get fresh float64 Parameters with the same values; each step feeds the same
    random gradients. Raises ``PropertyFailure`` naming the step, the parameter and the
    worst index at the first disagreement.
    """
    from ..parameter import Parameter

    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in shapes_]
    grads = [[rng.standard_normal(s) for s in shapes_] for _ in range(steps)]
    mine = [Parameter(a) for a in init]
    ref = [Parameter(a) for a in init]
    opt, ref_opt = factory(mine), reference(ref)
    subject = type(opt).__name__
    for t in range(steps):
        for params, o in ((mine, opt), (ref, ref_opt)):
            o.zero_grad()
            for p, g in zip(params, grads[t]):
                p.grad[...] = g
            o.step()
        for i, (p, q) in enumerate(zip(mine, ref)):
            if not np.all(np.isfinite(p.data)):
                raise _fail("update", subject, f"step {t + 1}, parameter {i} (shape {p.shape}): "
                                               "non-finite values after the update")
            if not close_to(p.data, q.data, rtol):
                raise _fail("update", subject,
                            f"step {t + 1}, parameter {i} (shape {p.shape}) differs from "
                            f"{type(ref_opt).__name__}'s update: {worst_diff(p.data, q.data)}")


def check_optimizer(factory: Callable, reference: Callable, *, steps: int = 4,
                    rtol: float = 1e-10, settings: hsettings | None = None) -> PropertyReport:
    """Check an optimizer against a reference over generated parameter shapes and seeds.

    Two parameters of the same shape are always among them, so state shared between
    parameters (keyed by shape or name instead of by parameter) is caught.
    """
    from ..parameter import Parameter

    report = PropertyReport(getattr(factory, "__name__", repr(factory)), ("update",))
    shape_lists = st.lists(nst.shapes(max_dims=2, max_side=3), min_size=1, max_size=3).map(
        lambda s: [s[0], *s])  # the first shape twice

    def case(shapes_, seed):
        if report.cases == 0:
            report.subject = type(factory([Parameter(np.zeros(1))])).__name__
        check_optimizer_case(factory, reference, shapes_, seed, steps, rtol)
        report.cases += 1

    _run(case, dict(shapes_=shape_lists, seed=nst.seeds()), settings)
    return report


__all__ = ["check_layer", "check_layer_case", "check_loss", "check_loss_case",
           "check_optimizer", "check_optimizer_case", "layer_test", "PropertyFailure",
           "PropertyReport", "LAYER_PROPERTIES", "LOSS_PROPERTIES"]
