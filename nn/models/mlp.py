"""Ready-made models from the source documents."""

from __future__ import annotations

from collections.abc import Sequence

from .._config import get_rng
from ..layer import Layer
from ..layers import GELU, Dropout, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "gelu": GELU,
                "leaky_relu": LeakyReLU}


def mlp(in_features: int = 784, hidden: int | Sequence[int] = (128,), out_features: int = 10,
        activation: str = "relu", dropout: float = 0.0, rng=None, dtype=None) -> Sequential:
    """The source documents' MLP: ``in -> hidden (activation) -> ... -> out`` (logits).

    The default is 784 -> 128 (ReLU) -> 10, to be trained with ``CrossEntropyLoss`` and
    ``optim.SGD(momentum=0.9)``; ``in_features`` adapts it to any input size (64 for the
    bundled 8x8 digits). Hidden layers use He initialisation, the output layer Xavier.
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"mlp: activation must be one of {sorted(_ACTIVATIONS)}, "
                         f"got {activation!r}")
    sizes = [hidden] if isinstance(hidden, int) else list(hidden)
    gen = get_rng(rng)
    layers: list[Layer] = []
    width = in_features
    for h in sizes:
        init = "he" if activation in ("relu", "leaky_relu", "gelu") else "xavier"
        layers += [Linear(width, h, init=init, rng=gen, dtype=dtype), _ACTIVATIONS[activation]()]
        if dropout:
            layers.append(Dropout(dropout, rng=gen))
        width = h
    layers.append(Linear(width, out_features, init="xavier", rng=gen, dtype=dtype))
    return Sequential(*layers)
