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

    Zeroing and the overwrite flag
    ------------------------------
    ``zero_grad()`` fills the array with zeros (so any reference to it sees zeros) and
    also raises a flag saying "nothing has been added since". A layer about to write a
    whole gradient asks :meth:`grad_buffer`; while the flag is up it may *write* its
    contribution straight into the array (``np.matmul(..., out=)``) instead of computing
    it into a temporary and adding it, which saves an allocation and a pass over the
    gradient. Reading ``p.grad`` lowers the flag (the reader may add into the array).
    One limit: a layer that keeps its own reference to the array from an earlier read
    and adds through it, in the same step as a library layer sharing that Parameter,
    must read ``p.grad`` again in its ``backward`` so the flag is lowered.
    """

    __slots__ = ("data", "_grad", "_zeroed", "requires_grad", "__weakref__")

    def __init__(self, data, requires_grad: bool = True):
        arr = np.array(data, copy=True)
        if arr.dtype.kind != "f":
            raise TypeError(f"Parameter: data must be a floating array, got dtype {arr.dtype}")
        self.data: np.ndarray = arr
        self._grad: np.ndarray = np.zeros_like(arr)
        self._zeroed = False  # True: zeroed and nothing added since (grad_buffer may overwrite)
        self.requires_grad: bool = bool(requires_grad)

    @property
    def grad(self) -> np.ndarray:
        self._zeroed = False  # the reader may add into the array
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        self._grad = value
        self._zeroed = False

    def grad_buffer(self) -> tuple[np.ndarray, bool]:
        """``(gradient array, overwrite)`` for a layer about to add a full-size contribution.

        ``overwrite`` True means the gradient is zero and nothing was added since: write the
        contribution into the array (e.g. ``np.matmul(a, b, out=array)``) instead of adding
        it. The caller must then write every element.
        """
        if self._zeroed:
            self._zeroed = False
            return self._grad, True
        return self._grad, False

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
        """Fill the gradient with zeros and raise the overwrite flag (see the class docstring)."""
        self._grad.fill(0)
        self._zeroed = True

    def astype(self, dtype) -> Parameter:
        """Convert data and grad to ``dtype`` in place (re-binds both arrays)."""
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"Parameter.astype: expected a floating dtype, got {dt}")
        if dt != self.data.dtype:
            self.data = self.data.astype(dt)
            self.grad = self._grad.astype(dt)
        return self

    def __repr__(self) -> str:
        flag = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.shape}, dtype={self.dtype}{flag})"
