"""The graded exercises of docs/exercises/: what each one checks, beyond the gradients.

A skeleton file names its exercise with a module variable ``EXERCISE = "linear"``;
``python -m nn check FILE:CLASS`` then takes the exercise's input shape, constructor
arguments and extra checks from here (command-line options override them). Each extra
check raises ``PropertyFailure`` with a message naming the tensor that is wrong.

A layer exercise may list ``variants``: more (input shape, argument changes) graded after
the main configuration, so that code written for one configuration only (a crop
``dxp[:, :, p:-p, p:-p]``, empty when p = 0; a buffer sized for the windows of one stride)
fails. ``--args`` or ``--input-shape`` replaces them all by the one configuration given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .properties import PropertyFailure, close_to, worst_diff
from .strategies import distinct


@dataclass
class Exercise:
    """One exercise: the kind of object graded and how."""

    name: str
    kind: str  # "layer", "loss" or "optimizer"
    input_shape: tuple = ()
    args: dict = field(default_factory=dict)
    targets: str = "classes"
    reference: str | None = None  # for optimizers: "optim.Adam"
    extra_checks: tuple[Callable, ...] = ()
    batch_independent: bool = False
    nudge: Callable[[np.ndarray], np.ndarray] | None = None  # applied to every input x
    # more configurations, graded after the main one: (input shape, changes to args)
    variants: tuple[tuple[tuple, dict], ...] = ()

    def configurations(self) -> list[tuple[tuple, dict]]:
        """``[(input shape, constructor arguments), ...]``, the main configuration first."""
        return [(self.input_shape, dict(self.args))] + [
            (shape, {**self.args, **changes}) for shape, changes in self.variants]


def _forward_equals(formula: Callable[[Callable, np.ndarray], np.ndarray], what: str):
    def check(layer, x):
        y = layer.forward(x)
        expected = formula(layer, x)
        if not close_to(y, expected, 1e-10):
            raise PropertyFailure(f"[forward] {type(layer).__name__}: the output y is not "
                                  f"{what}: {worst_diff(y, expected)}")

    check.__name__ = f"forward is {what}"
    return check


def _linear_formula(layer, x):
    y = x @ layer.weight.data
    return y + layer.bias.data if getattr(layer, "bias", None) is not None else y


def _dropout_forward(layer, x):
    """Inverted dropout: every output is 0 or x / (1 - p), about a fraction p are dropped,
    and eval mode is the identity."""
    name = type(layer).__name__
    p = float(layer.p)
    big = np.linspace(0.5, 1.5, 20000).reshape(200, 100)
    y = layer.forward(big)
    kept = y != 0
    scaled = big / (1.0 - p)
    if not np.allclose(y[kept], scaled[kept], rtol=1e-12, atol=0):
        raise PropertyFailure(f"[forward] {name}: kept entries must be x / (1 - p) (inverted "
                              f"dropout, p = {p}): {worst_diff(y[kept], scaled[kept])}")
    dropped = 1.0 - kept.mean()
    sigma = np.sqrt(p * (1 - p) / big.size)
    if abs(dropped - p) > 6 * sigma + 1e-12:
        raise PropertyFailure(f"[forward] {name}: dropped a fraction {dropped:.4f} of the "
                              f"entries, expected p = {p} (p is the probability of dropping)")
    layer.eval()
    y_eval = layer.forward(x)
    if not np.array_equal(y_eval, x):
        raise PropertyFailure(f"[forward] {name}: in eval mode the output must equal the "
                              f"input: {worst_diff(y_eval, x)}")
    g = np.linspace(-1.0, 1.0, x.size).reshape(x.shape)
    dx = layer.backward(g)
    if not np.array_equal(dx, g):
        raise PropertyFailure(f"[backward] {name}: in eval mode dx must equal grad_y: "
                              f"{worst_diff(dx, g)}")
    layer.train()


def _cross_entropy_value(loss, x, target):
    from ..losses import CrossEntropyLoss

    got = loss.forward(x, target)
    expected = CrossEntropyLoss()(x, target)
    if not np.isclose(got, expected, rtol=1e-10, atol=1e-12):
        raise PropertyFailure(f"[forward] {type(loss).__name__}: the loss is {got!r}, expected "
                              f"the mean cross-entropy {expected!r}")
    big = np.array([[1000.0, 0.0, -1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        try:
            value = loss.forward(big, np.array([2]))
        except FloatingPointError as exc:
            raise PropertyFailure(f"[forward] {type(loss).__name__}: logits of magnitude 1000 "
                                  f"overflow ({exc}); subtract the row max first") from None
    if not np.isfinite(value) or abs(value - 2000.0) > 1e-6:
        raise PropertyFailure(f"[forward] {type(loss).__name__}: logits [1000, 0, -1000] with "
                              f"target 2 must give 2000, got {value!r}")


def _copied(reference, layer, names: tuple[str, ...]):
    """``reference`` (a library layer, float64) with the values of ``layer``'s parameters."""
    for name in names:
        getattr(reference, name).data[...] = getattr(layer, name).data
    return reference


def _conv2d_library(layer, x):
    """nn.Conv2d with the layer's arguments and weights."""
    from ..layers import Conv2d

    O, C = layer.weight.data.shape[:2]
    ref = Conv2d(C, O, layer.kernel_size, layer.stride, layer.padding, rng=0,
                 dtype=np.float64)  # rng=0: leave nn's global generator alone
    return _copied(ref, layer, ("weight", "bias")).forward(x)


def _maxpool2d_library(layer, x):
    """nn.MaxPool2d with the layer's arguments."""
    from ..layers import MaxPool2d

    return MaxPool2d(layer.kernel_size, layer.stride, layer.padding).forward(x)


def _batchnorm_library(layer, x):
    """nn.BatchNorm1d in train mode with the layer's eps, gamma and beta."""
    from ..layers import BatchNorm1d

    ref = BatchNorm1d(layer.weight.data.shape[0], eps=layer.eps, dtype=np.float64)
    return _copied(ref, layer, ("weight", "bias")).train().forward(x)


def _lstm_library(layer, x, state: tuple[str, str]):
    """nn.LSTM with the layer's weights, run on x (N, T, I) from the layer's state
    Parameters named ``state``; returns (outputs (N, T, H), final cell state)."""
    from ..layers import LSTM

    I, G = layer.weight_ih.data.shape
    ref = _copied(LSTM(I, G // 4, rng=0, dtype=np.float64), layer,
                  ("weight_ih", "weight_hh", "bias"))
    h0, c0 = (getattr(layer, name).data.copy() for name in state)
    y = ref.forward(x, state=(h0, c0))
    return y, ref.state[1]


def _lstm_cell_library(layer, x):
    y, c = _lstm_library(layer, x[:, None, :], ("h_prev", "c_prev"))
    return np.concatenate([y[:, 0], c], axis=1)


def _lstm_sequence_library(layer, x):
    return _lstm_library(layer, x, ("h0", "c0"))[0]


EXERCISES: dict[str, Exercise] = {
    "linear": Exercise(
        "linear", "layer", input_shape=(4, 3), args={"in_features": 3, "out_features": 2},
        extra_checks=(_forward_equals(_linear_formula, "x @ weight + bias"),),
        batch_independent=True),
    "linear-square": Exercise(
        "linear-square", "layer", input_shape=(4, 3), args={"in_features": 3, "out_features": 3},
        extra_checks=(_forward_equals(_linear_formula, "x @ weight + bias"),),
        batch_independent=True),
    "sigmoid": Exercise(
        "sigmoid", "layer", input_shape=(4, 5),
        extra_checks=(_forward_equals(lambda layer, x: special.expit(x), "1 / (1 + exp(-x))"),),
        batch_independent=True),
    "tanh": Exercise(
        "tanh", "layer", input_shape=(4, 5),
        extra_checks=(_forward_equals(lambda layer, x: np.tanh(x), "tanh(x)"),),
        batch_independent=True),
    "softmax-cross-entropy": Exercise(
        "softmax-cross-entropy", "loss", input_shape=(5, 4), targets="classes",
        extra_checks=(_cross_entropy_value,)),
    "dropout": Exercise(
        "dropout", "layer", input_shape=(6, 5), args={"p": 0.3},
        extra_checks=(_dropout_forward,), batch_independent=True),
    "adam": Exercise("adam", "optimizer", reference="optim.Adam",
                     args={"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8}),
    # stride 2 < kernel 3: windows overlap, so dx must add where they share entries.
    # Variants: no padding (a crop p:-p is empty), a last input row no window reaches
    # ((6 - 3) % 2 = 1: its dx is 0), stride 1 with an even kernel; outputs never square.
    "conv2d": Exercise(
        "conv2d", "layer", input_shape=(2, 2, 5, 7),
        args={"in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1},
        extra_checks=(_forward_equals(_conv2d_library, "nn.Conv2d's output (same weights)"),),
        batch_independent=True,
        variants=(((2, 2, 6, 9), {"stride": 2, "padding": 0}),            # y (2, 3, 2, 4)
                  ((2, 3, 3, 5), {"in_channels": 3, "out_channels": 1, "kernel_size": 2,
                                  "stride": 1, "padding": 0}))),           # y (2, 1, 2, 4)
    # overlapping windows (stride 2 < kernel 3); distinct values: one clear maximum each.
    # Variants as for conv2d: no padding with a last column no window reaches, stride 1.
    "maxpool2d": Exercise(
        "maxpool2d", "layer", input_shape=(2, 2, 6, 7),
        args={"kernel_size": 3, "stride": 2, "padding": 1},
        extra_checks=(_forward_equals(_maxpool2d_library, "nn.MaxPool2d's output"),),
        batch_independent=True, nudge=distinct(0.05),
        variants=(((2, 2, 4, 7), {"kernel_size": 2, "stride": 2, "padding": 0}),  # y (.., 2, 3)
                  ((1, 3, 5, 4), {"kernel_size": 3, "stride": 1, "padding": 0}))),  # (.., 3, 2)
    "batchnorm": Exercise(
        "batchnorm", "layer", input_shape=(6, 3), args={"num_features": 3},
        extra_checks=(_forward_equals(_batchnorm_library,
                                      "nn.BatchNorm1d's train-mode output (same gamma, beta)"),)),
    "lstm-cell": Exercise(
        "lstm-cell", "layer", input_shape=(3, 4),
        args={"input_size": 4, "hidden_size": 3, "batch_size": 3},
        extra_checks=(_forward_equals(_lstm_cell_library,
                                      "[h | c] of nn.LSTM's step (same weights and state)"),),
        batch_independent=True),
    "lstm": Exercise(
        "lstm", "layer", input_shape=(2, 4, 2),
        args={"input_size": 2, "hidden_size": 3, "batch_size": 2},
        extra_checks=(_forward_equals(_lstm_sequence_library,
                                      "nn.LSTM's output (same weights and initial state)"),),
        batch_independent=True),
}
