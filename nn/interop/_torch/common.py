"""What every family's mapping uses: dtypes, copying arrays both ways (same shapes, never
broadcast), refusing an option by name, the ``go`` callback that converts children, and
:class:`Family`, one entry of the registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from ...layer import Layer
from ...parameter import Parameter

Module = torch.nn.Module
Tensor = torch.Tensor


DTYPES: dict[np.dtype, torch.dtype] = {
    np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64}


def torch_dtype(layer: Layer) -> torch.dtype | None:
    """The torch dtype of the layer's parameters (None for a layer without parameters)."""
    dt = layer.dtype
    return None if dt is None else DTYPES[np.dtype(dt)]


def numpy_dtype(module: Module) -> np.dtype | None:
    for p in module.parameters():
        for dt, tdt in DTYPES.items():
            if p.dtype == tdt:
                return dt
        raise ValueError(f"from_torch: {type(module).__name__} has parameters of dtype "
                         f"{p.dtype}; nn supports {sorted(str(d) for d in DTYPES)}")
    return None


def put(module: Module, name: str, value: np.ndarray, requires_grad: bool = True) -> None:
    """Copy ``value`` into the torch parameter or buffer ``module.<name>`` (same shape)."""
    target = getattr(module, name)
    if tuple(target.shape) != value.shape:
        raise ValueError(f"to_torch: {type(module).__name__}.{name} has shape "
                         f"{tuple(target.shape)}, the nn array {value.shape}")
    with torch.no_grad():
        target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    if isinstance(target, torch.nn.Parameter):
        target.requires_grad_(requires_grad)


def put_param(module: Module, name: str, p: Parameter | None, transpose: bool = False) -> None:
    if p is not None:
        put(module, name, p.data.T if transpose else p.data, p.requires_grad)


def to_numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def fill(layer: Layer, name: str, value: Tensor | np.ndarray,
         requires_grad: bool | None = None) -> None:
    """Copy ``value`` into the nn parameter or buffer ``layer.<name>`` (same shape)."""
    target = getattr(layer, name)
    array = target.data if isinstance(target, Parameter) else target
    value = to_numpy(value) if isinstance(value, Tensor) else value
    if array.shape != value.shape:
        raise ValueError(f"from_torch: {type(layer).__name__}.{name} has shape {array.shape}, "
                         f"the torch tensor {value.shape}")
    array[...] = value
    if isinstance(target, Parameter) and requires_grad is not None:
        target.requires_grad = requires_grad


def fill_param(layer: Layer, name: str, t: Tensor | None, transpose: bool = False) -> None:
    if t is not None:
        fill(layer, name, t.T if transpose else t, t.requires_grad)


def refuse(module: Module, option: str, value: Any, supported: str) -> None:
    raise ValueError(f"from_torch: {type(module).__name__}({option}={value!r}) is not "
                     f"supported: nn supports {supported}")


def require(module: Module, **expected: Any) -> None:
    """Refuse any option whose value is not the expected one."""
    for option, want in expected.items():
        value = getattr(module, option)
        if value != want:
            refuse(module, option, value, f"{option}={want!r}")


class Go:
    """Converts children (``go(child, "name")``), keeps the path for error messages and
    the (nn layer, torch module) pairs whose train/eval mode is copied at the end."""

    def __init__(self, convert: Callable[[Any, Go], Any]):
        self._convert = convert
        self.path: list[str] = []
        self.pairs: list[tuple[Layer, Module]] = []

    def __call__(self, item: Any, name: str) -> Any:
        self.path.append(name)
        try:
            return self._convert(item, self)
        finally:
            self.path.pop()

    def where(self) -> str:
        return f" (at {'.'.join(self.path)!r})" if self.path else ""


class Family(NamedTuple):
    """One layer family: the nn class, the torch classes it maps to (the first is the one
    ``to_torch`` builds) and from, and the two conversions."""

    layer: type[Layer]
    modules: tuple[type[Module], ...]
    export: Callable[[Any, Go], Module]
    load: Callable[[Any, Go], Layer]
