"""``Parameter``: an array the optimizer updates, with the gradient accumulated beside it."""

from __future__ import annotations

import numpy as np


class Parameter:
    """A trainable array and its gradient.

    Attributes
    ----------
    data : ndarray
        The value. Layers read it as ``self.weight.data`` on every call, so an optimizer
        may re-bind it to a view into one contiguous buffer (see ``optim.Optimizer``).
    grad : ndarray
        Same shape and dtype as ``data``, zeros at creation. ``backward`` *adds* into it
        in place (``p.grad += ...``); it is never re-bound by the library's layers.
    requires_grad : bool
        ``False`` freezes the parameter: layers skip its gradient and optimizers skip it.
    """

    __slots__ = ("data", "grad", "requires_grad", "__weakref__")

    def __init__(self, data, requires_grad: bool = True):
        arr = np.array(data, copy=True)
        if arr.dtype.kind != "f":
            raise TypeError(f"Parameter: data must be a floating array, got dtype {arr.dtype}")
        self.data: np.ndarray = arr
        self.grad: np.ndarray = np.zeros_like(arr)
        self.requires_grad: bool = bool(requires_grad)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def zero_grad(self) -> None:
        """Set the gradient to zero in place."""
        self.grad.fill(0)

    def astype(self, dtype) -> Parameter:
        """Convert data and grad to ``dtype`` in place (re-binds both arrays)."""
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"Parameter.astype: expected a floating dtype, got {dt}")
        if dt != self.data.dtype:
            self.data = self.data.astype(dt)
            self.grad = self.grad.astype(dt)
        return self

    def __repr__(self) -> str:
        flag = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.shape}, dtype={self.dtype}{flag})"
