"""Gradient checking against central finite differences.

``gradcheck(layer, x)`` checks the analytic gradients of a float64 copy of ``layer`` for
the input and every trainable parameter. The scalar checked is

    f(x, θ) = sum(forward(x) * G),      G ~ N(0, 1) drawn from ``seed``

so ``backward(G)`` must return ∂f/∂x and accumulate ∂f/∂θ. A random G (never all ones)
keeps softmax and normalisation checks from being vacuous.

Numeric derivative of coordinate k (the outputs are subtracted *before* the sum, so the
rounding of the untouched outputs cancels exactly)::

    n_k = sum((y(+eps e_k) - y(-eps e_k)) * G) / (2 eps)

Tolerance of coordinate k (docs/gradcheck.md explains the choice)::

    |a_k - n_k| <= atol + rtol * max(|a_k|, |n_k|) + noise_k
    noise_k = 4 * eps_64 * sum_changed(|G| (|y+| + |y-|)) / (2 eps)

``noise_k`` bounds the rounding error of the difference quotient: it grows with the number
of outputs a coordinate moves (all N*C of them for a normalisation over a batch of N), which
is why a fixed atol fails correct layers at large batch sizes while this does not.

A coordinate where the one-sided differences disagree (a kink: ReLU at 0, max ties)
and the analytic value lies between them is reported as a kink, not as a failure.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .layer import Layer
from .losses import Loss

EPS64 = float(np.finfo(np.float64).eps)

#: Default step and tolerances, chosen in docs/gradcheck.md.
DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-8


@dataclass
class TensorCheck:
    """The result for one tensor (the input or one parameter)."""

    name: str
    shape: tuple
    checked: int
    total: int
    kinks: int
    max_abs_err: float
    max_rel_err: float
    worst_index: tuple | None
    analytic: float
    numeric: float
    tolerance: float
    passed: bool
    failures: int = 0


@dataclass
class GradcheckReport:
    """Per-tensor results; ``passed`` is True when every tensor passed."""

    layer: str
    results: list[TensorCheck] = field(default_factory=list)
    eps: float = DEFAULT_EPS
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def __getitem__(self, name: str) -> TensorCheck:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def __str__(self) -> str:
        head = ("tensor", "shape", "checked", "kinks", "max abs err", "max rel err",
                "worst index", "analytic", "numeric", "tol", "status")
        rows = [head]
        for r in self.results:
            worst = "-" if r.worst_index is None else str(tuple(int(i) for i in r.worst_index))
            status = "PASS" if r.passed else f"FAIL ({r.failures} coords)"
            rows.append((r.name, str(tuple(r.shape)), f"{r.checked}/{r.total}", str(r.kinks),
                         f"{r.max_abs_err:.3e}", f"{r.max_rel_err:.3e}", worst,
                         f"{r.analytic:.6g}", f"{r.numeric:.6g}", f"{r.tolerance:.2e}", status))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = [f"gradcheck of {self.layer}: {'PASSED' if self.passed else 'FAILED'} "
                 f"(eps={self.eps:g}, tol = atol {self.atol:g} + rtol {self.rtol:g}*|value| "
                 "+ rounding noise)"]
        for i, row in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __repr__ = __str__


class _LossLayer(Layer):
    """Adapter: a loss with a fixed target, seen as a layer with a 0-d output."""

    def __init__(self, loss: Loss, target):
        super().__init__()
        self.loss = loss
        self.target = target

    def forward(self, x):
        return np.array(self.loss(x, self.target), dtype=x.dtype)

    def backward(self, grad_y):
        return self.loss.backward(float(grad_y))

    def label(self) -> str:
        return repr(self.loss)


def _to_float64(value):
    """A C-contiguous float64 copy of a floating ndarray, recursing into tuples and lists
    (an LSTM's ``state=(h0, c0)``); other arrays (boolean masks, integer indices) are copied
    with their dtype; anything else is returned as it is. The model runs in float64, so its
    floating inputs must too, and the caller's arrays are never perturbed or aliased."""
    if isinstance(value, np.ndarray):
        return np.array(value, dtype=np.float64 if value.dtype.kind == "f" else value.dtype,
                        order="C")
    if isinstance(value, (tuple, list)):
        items = [_to_float64(v) for v in value]
        if hasattr(value, "_fields"):  # a namedtuple takes its fields as arguments
            return type(value)(*items)
        return type(value)(items)
    return value


def gradcheck(layer, x, *, target=None, eps: float = DEFAULT_EPS, rtol: float = DEFAULT_RTOL,
              atol: float = DEFAULT_ATOL, seed: int = 0, max_coords: int | None = None,
              check_input: bool = True, forward_kwargs: dict | None = None) -> GradcheckReport:
    """Check ``layer``'s backward against central differences; return a report.

    Parameters
    ----------
    layer : Layer or Loss
        Copied and converted to float64; the original is untouched. A ``Loss`` needs
        ``target=``.
    x : ndarray
        The input (floating; an integer input, as for Embedding, is not checked itself).
    eps, rtol, atol : float
        Finite-difference step and tolerances (see the module docstring).
    seed : int
        Seeds the upstream gradient G and the choice of coordinates.
    max_coords : int, optional
        Check at most this many randomly chosen coordinates per tensor.
    forward_kwargs : dict, optional
        Extra keyword arguments for ``forward`` (e.g. ``mask=``, ``state=``). Floating
        arrays in it, also inside tuples and lists, are passed as float64 copies like x;
        boolean and integer arrays keep their dtype. They are held fixed (not checked).
    """
    if isinstance(layer, Loss):
        if target is None:
            raise ValueError("gradcheck: checking a loss needs target=")
        layer = _LossLayer(copy.deepcopy(layer), target)
    if not isinstance(layer, Layer):
        raise TypeError(f"gradcheck: expected a Layer or a Loss, got {type(layer).__name__}")
    if forward_kwargs is not None and not isinstance(forward_kwargs, Mapping):
        raise TypeError(f"gradcheck: forward_kwargs must be a dict of keyword arguments, got "
                        f"{type(forward_kwargs).__name__}")
    kwargs = {k: _to_float64(v) for k, v in (forward_kwargs or {}).items()}
    model = copy.deepcopy(layer).astype(np.float64)
    x64 = _to_float64(np.asarray(x))
    generators = [g for _, g in model.named_generators()]  # replayed before each run
    states = [g.bit_generator.state for g in generators]

    def run() -> np.ndarray:
        for g, s in zip(generators, states):
            g.bit_generator.state = s
        return np.array(model.forward(x64, **kwargs), dtype=np.float64, copy=True)

    model.zero_grad()
    y0 = run()
    rng = np.random.default_rng(seed)
    G = rng.standard_normal(y0.shape)
    dx = model.backward(G.copy())

    tensors: list[tuple[str, np.ndarray, np.ndarray]] = []
    if check_input and x64.dtype.kind == "f":
        if dx is None or np.shape(dx) != x64.shape:
            raise ValueError(f"gradcheck: backward of {layer.label()} returned a gradient of "
                             f"shape {np.shape(dx)} for an input of shape {x64.shape}")
        tensors.append(("input", x64, np.asarray(dx, dtype=np.float64)))
    for name, p in model.named_parameters():
        if p.requires_grad:
            tensors.append((name, p.data, p.grad.copy()))

    report = GradcheckReport(layer.label(), eps=eps, rtol=rtol, atol=atol)
    for name, array, analytic in tensors:
        report.results.append(
            _check_tensor(name, array, analytic, run, y0, G, eps, rtol, atol, rng, max_coords)
        )
    return report


def _check_tensor(name, array, analytic, run, y0, G, eps, rtol, atol, rng, max_coords):
    size = array.size
    if max_coords is not None and size > max_coords:
        coords = np.sort(rng.choice(size, size=max_coords, replace=False))
    else:
        coords = np.arange(size)
    flat = array.reshape(-1)  # a view: perturbing it perturbs the tensor in place
    if not np.shares_memory(flat, array):
        raise RuntimeError(f"gradcheck: tensor {name!r} is not contiguous; cannot perturb it")
    worst: tuple[float, tuple | None, float, float, float] = (-1.0, None, 0.0, 0.0, 0.0)
    # (err / tol, index, a, n, tol) of the worst coordinate so far
    max_abs = max_rel = 0.0
    kinks = failures = 0
    for k in coords:
        orig = flat[k]
        flat[k] = orig + eps
        up = flat[k] - orig  # the steps actually taken (eps is not exact next to large values)
        y_plus = run()
        flat[k] = orig - eps
        down = orig - flat[k]
        y_minus = run()
        flat[k] = orig
        d = y_plus - y_minus
        changed = d != 0
        n = float(np.sum(d * G)) / (up + down)
        a = float(analytic.flat[k])
        noise = 4 * EPS64 * float(np.sum(np.abs(G[changed]) * (np.abs(y_plus[changed])
                                                                + np.abs(y_minus[changed]))))
        noise /= 2 * eps
        tol = atol + rtol * max(abs(a), abs(n)) + noise
        err = abs(a - n)
        if err > tol:
            if _is_kink(flat, k, a, tol, noise, eps, run, y0, G, y_plus, y_minus, up, down):
                kinks += 1
                continue
            failures += 1
        max_abs = max(max_abs, err)
        max_rel = max(max_rel, err / max(abs(a), abs(n), 1e-300) if err else 0.0)
        ratio = err / tol if tol > 0 else (np.inf if err else 0.0)
        if ratio > worst[0]:
            worst = (ratio, np.unravel_index(int(k), array.shape), a, n, tol)
    _, index, a, n, tol = worst
    return TensorCheck(name=name, shape=array.shape, checked=len(coords), total=size, kinks=kinks,
                       max_abs_err=max_abs, max_rel_err=max_rel, worst_index=index, analytic=a,
                       numeric=n, tolerance=tol, passed=failures == 0, failures=failures)


def _is_kink(flat, k, a, tol, noise, eps, run, y0, G, y_plus, y_minus, up, down) -> bool:
    """Does coordinate k fail only because f is not differentiable within eps of it?

    The gap between the one-sided slopes is f''·eps for a smooth f (it shrinks with the
    step) but a jump that does not shrink at a kink. So the slopes are measured again with
    a step ten times smaller: a kink keeps its gap there and the analytic value lies between
    the slopes; a kink between eps/10 and eps away disappears, and the small-step central
    difference then agrees with the analytic value. Anything else is a wrong gradient.
    """
    fwd = float(np.sum((y_plus - y0) * G)) / up
    bwd = float(np.sum((y0 - y_minus) * G)) / down
    gap = abs(fwd - bwd)
    if gap <= tol:
        return False
    orig = flat[k]
    flat[k] = orig + eps / 10
    up2 = flat[k] - orig
    fwd2 = float(np.sum((run() - y0) * G)) / up2
    flat[k] = orig - eps / 10
    down2 = orig - flat[k]
    bwd2 = float(np.sum((y0 - run()) * G)) / down2
    flat[k] = orig
    tol2 = tol + 9 * noise  # rounding noise grows as the step shrinks
    if abs(a - 0.5 * (fwd2 + bwd2)) <= tol2:
        return True
    return abs(fwd2 - bwd2) > 0.5 * gap and min(fwd2, bwd2) - tol2 <= a <= max(fwd2, bwd2) + tol2


def assert_gradcheck(layer, x, **kwargs) -> GradcheckReport:
    """Like :func:`gradcheck`, but raise ``AssertionError`` with the report table on failure."""
    report = gradcheck(layer, x, **kwargs)
    if not report.passed:
        raise AssertionError("\n" + str(report))
    return report


def numerical_gradient(f, x: np.ndarray, eps: float = DEFAULT_EPS) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f`` at ``x`` (float64).

    ``(f(x + eps e_k) - f(x - eps e_k)) / (2 eps)`` for every coordinate k; ``x`` is not
    modified (a float64 copy is perturbed).
    """
    x64 = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x64)
    flat, gflat = x64.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + eps
        f_plus = float(f(x64))
        flat[k] = orig - eps
        f_minus = float(f(x64))
        flat[k] = orig
        gflat[k] = (f_plus - f_minus) / (2 * eps)
    return grad
