"""``summary``: each layer, its output shape and parameter count, and the total.

This module imports nothing from ``nn``: ``Layer.summary`` (in nn/layer.py) calls it, so
an import of nn.layer or nn.layers here would close an import cycle. What it needs of a
model is written down as :class:`SummaryModel`, which every ``nn.Layer`` satisfies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np


class SummaryModel(Protocol):
    """What :func:`summary` uses of a model (an ``nn.Layer`` has all of it)."""

    training: bool

    @property
    def dtype(self) -> np.dtype | None: ...
    def forward(self, x: Any) -> Any: ...
    def eval(self) -> Any: ...
    def named_children(self) -> Iterator[tuple[str, Any]]: ...
    def modules(self) -> Iterator[Any]: ...
    def num_parameters(self, trainable_only: bool = False) -> int: ...


def summary(model: SummaryModel, input_shape, dtype=None,
            print_fn: Callable[[str], Any] | None = print) -> str:
    """Run a batch of two zero inputs through ``model`` in eval mode and tabulate it.

    ``input_shape`` excludes the batch dimension. Sequential containers (the layers one
    can iterate over, whose forward applies their layers in order) are expanded, nested
    ones with dotted names; any other layer is one row. Returns the table text and prints
    it with ``print_fn`` (pass ``None`` to only return it).
    """
    shape = (2,) + tuple(int(d) for d in np.atleast_1d(input_shape))
    dt = np.dtype(dtype) if dtype is not None else (model.dtype or np.dtype(np.float32))
    x = np.zeros(shape, dtype=dt)
    modes = {id(m): m.training for m in model.modules()}
    rows: list[tuple[str, str, str, int]] = []

    def run(layer: SummaryModel, x, name: str):
        if isinstance(layer, Iterable):  # a Sequential
            for child_name, child in layer.named_children():
                x = run(child, x, f"{name}.{child_name}" if name else child_name)
            return x
        y = layer.forward(x)
        out = "(N, " + ", ".join(str(d) for d in np.shape(y)[1:]) + ")"
        rows.append((name or "-", type(layer).__name__, out.replace(", )", ")"),
                     layer.num_parameters()))
        return y

    model.eval()
    try:
        run(model, x, "")
    finally:
        for m in model.modules():
            object.__setattr__(m, "training", modes[id(m)])
    total = model.num_parameters()
    trainable = model.num_parameters(trainable_only=True)
    headers = ("name", "layer", "output shape", "params")
    table = [headers] + [(n, t, o, f"{p:,}") for n, t, o, p in rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:3]) + f"  {{:>{widths[3]}}}"
    rule = "-" * (sum(widths) + 6)
    lines = [fmt.format(*headers), rule] + [fmt.format(*r) for r in table[1:]] + [rule]
    lines.append(f"total parameters: {total:,} (trainable {trainable:,})")
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
