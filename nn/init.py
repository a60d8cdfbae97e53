"""Weight initialisers. Each fills an array in place from a ``numpy.random.Generator``.

Fan-in / fan-out follow PyTorch's convention for our layouts:

* Linear ``weight`` has shape ``(in_features, out_features)``: fan_in = shape[0],
  fan_out = shape[1] (note: the transpose of PyTorch's storage, same numbers);
* convolution ``weight`` ``(out, in, kh, kw)``: fan_in = in*kh*kw, fan_out = out*kh*kw;
* recurrent ``weight_ih`` ``(input, gates*hidden)``: as Linear.

Formulas (gain g = sqrt(2) for ReLU, 1 for linear/tanh-free use):

* He / Kaiming normal:   N(0, g^2 / fan_in)
* He / Kaiming uniform:  U(-b, b), b = g * sqrt(3 / fan_in)
* Xavier / Glorot normal:  N(0, 2 / (fan_in + fan_out))
* Xavier / Glorot uniform: U(-b, b), b = sqrt(6 / (fan_in + fan_out))
"""

from __future__ import annotations

import math

import numpy as np

from ._config import get_rng


def fans(shape: tuple[int, ...], layout: str = "in_out") -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape``.

    ``layout="in_out"``: 2-D ``(in, out)`` as in :class:`nn.Linear`.
    ``layout="out_in"``: ``(out, in, *kernel)`` as in :class:`nn.Conv2d`.
    """
    if len(shape) < 2:
        raise ValueError(f"fans: need a weight with at least 2 dims, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    if layout == "in_out":
        return shape[0] * receptive, shape[1] * receptive
    if layout == "out_in":
        return shape[1] * receptive, shape[0] * receptive
    raise ValueError(f"fans: layout must be 'in_out' or 'out_in', got {layout!r}")


def _fill(array: np.ndarray, values: np.ndarray) -> np.ndarray:
    array[...] = values
    return array


def zeros_(array: np.ndarray) -> np.ndarray:
    array.fill(0)
    return array


def constant_(array: np.ndarray, value: float) -> np.ndarray:
    array.fill(value)
    return array


def uniform_(array: np.ndarray, low: float = 0.0, high: float = 1.0, rng=None) -> np.ndarray:
    return _fill(array, get_rng(rng).uniform(low, high, size=array.shape))


def normal_(array: np.ndarray, mean: float = 0.0, std: float = 1.0, rng=None) -> np.ndarray:
    return _fill(array, get_rng(rng).normal(mean, std, size=array.shape))


def kaiming_normal_(array, gain: float = math.sqrt(2.0), layout: str = "in_out", rng=None):
    """He normal: N(0, gain^2 / fan_in)."""
    fan_in, _ = fans(array.shape, layout)
    return normal_(array, 0.0, gain / math.sqrt(fan_in), rng)


def kaiming_uniform_(array, gain: float = math.sqrt(2.0), layout: str = "in_out", rng=None):
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan_in)."""
    fan_in, _ = fans(array.shape, layout)
    bound = gain * math.sqrt(3.0 / fan_in)
    return uniform_(array, -bound, bound, rng)


def xavier_normal_(array, gain: float = 1.0, layout: str = "in_out", rng=None):
    """Glorot normal: N(0, gain^2 * 2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(array.shape, layout)
    return normal_(array, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def xavier_uniform_(array, gain: float = 1.0, layout: str = "in_out", rng=None):
    """Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(array.shape, layout)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound, rng)


def torch_default_(weight, bias=None, layout: str = "in_out", rng=None):
    """PyTorch's default for Linear/Conv: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both."""
    fan_in, _ = fans(weight.shape, layout)
    bound = 1.0 / math.sqrt(fan_in)
    gen = get_rng(rng)
    uniform_(weight, -bound, bound, gen)
    if bias is not None:
        uniform_(bias, -bound, bound, gen)
    return weight


#: Names accepted by the ``init=`` argument of layers.
INITIALISERS = {
    "he": kaiming_normal_,
    "he_normal": kaiming_normal_,
    "kaiming": kaiming_normal_,
    "kaiming_normal": kaiming_normal_,
    "he_uniform": kaiming_uniform_,
    "kaiming_uniform": kaiming_uniform_,
    "xavier": xavier_uniform_,
    "glorot": xavier_uniform_,
    "xavier_uniform": xavier_uniform_,
    "glorot_uniform": xavier_uniform_,
    "xavier_normal": xavier_normal_,
    "glorot_normal": xavier_normal_,
}


def initialise(weight: np.ndarray, bias: np.ndarray | None, init, layout: str, rng) -> None:
    """Fill ``weight`` (and ``bias``) by the name or callable ``init``.

    Named schemes zero the bias, except ``"torch"`` which draws it like PyTorch.
    A callable is called as ``init(weight, rng)``; the bias is then zeroed.
    """
    gen = get_rng(rng)
    if init == "torch":
        torch_default_(weight, bias, layout, gen)
        return
    if callable(init):
        init(weight, gen)
    elif init in INITIALISERS:
        INITIALISERS[init](weight, layout=layout, rng=gen)
    else:
        names = ", ".join(sorted(set(INITIALISERS) | {"torch"}))
        raise ValueError(f"unknown init {init!r}; expected a callable or one of: {names}")
    if bias is not None:
        bias.fill(0)
