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

    Zeroing without wasted passes
    -----------------------------
    ``zero_grad()`` makes the gradient zero; every reader of ``p.grad`` and every holder
    of a reference to the array sees zeros. Two internal shortcuts keep a training step
    from paying for passes nobody needs, without changing what anyone can observe:

    * *Overwrite.* After ``zero_grad()`` and before anything is added, a layer about to
      write a whole gradient asks :meth:`grad_buffer`; told ``overwrite=True``, it writes
      its contribution into the array (``np.matmul(X.T, G, out=dW)``) instead of
      computing a temporary and adding it.
    * *Deferred fill.* While the array has never been handed out (nobody read ``p.grad``
      or assigned it), nobody can hold a reference to it, so ``zero_grad()`` only marks
      it and the fill happens at the next read, or never, when a layer overwrites it.
      Once ``p.grad`` has been read, ``zero_grad()`` fills the array at once.

    Library code that reads a gradient without keeping it (optimizers, clipping, the
    training loop's finiteness check) uses :meth:`grad_view`, which applies a pending fill
    but does not count as handing out.

    The public interface (the only one other modules use)
    -----------------------------------------------------
    ====================================  ==============================================
    ``data``, ``grad``, ``requires_grad``  the value, the gradient, the freeze flag
    ``shape``, ``dtype``, ``size``         of ``data``
    ``zero_grad()``                        make the gradient zero
    ``add_grad(v)``                        ``grad += v`` (layers)
    ``add_grad_matmul(a, b)``              ``grad += a @ b`` (layers; a fast kernel whose
                                           plain reference is that line, see
                                           tests/test_kernels.py)
    ``grad_buffer()``                      ``(array, overwrite)`` for a layer writing a
                                           whole contribution with ``out=``
    ``grad_view()``                        read the gradient without keeping it
    ``bind(data, grad)``                   move value and gradient into arrays the caller
                                           owns (an optimizer's flat buffers)
    ``is_bound(data, grad)``               are those still the arrays in use?
    ``astype(dtype)``                      convert in place
    ====================================  ==============================================
    """

    __slots__ = ("data", "_grad", "_zeroed", "_stale", "_exposed", "requires_grad",
                 "__weakref__")

    def __init__(self, data, requires_grad: bool = True):
        arr = np.array(data, copy=True)
        if arr.dtype.kind != "f":
            raise TypeError(f"Parameter: data must be a floating array, got dtype {arr.dtype}")
        self.data: np.ndarray = arr
        self._grad: np.ndarray = np.zeros_like(arr)
        self._zeroed = False   # zero, and nothing added since: grad_buffer may overwrite
        self._stale = False    # zeroed but not yet filled (only while never handed out)
        self._exposed = False  # the array was handed out: zero_grad must fill at once
        self.requires_grad: bool = bool(requires_grad)

    @property
    def grad(self) -> np.ndarray:
        """The gradient array. Reading it hands it out: the reader may keep it and add to it."""
        if self._stale:
            self._grad.fill(0)
            self._stale = False
        self._zeroed = False
        self._exposed = True
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        if not isinstance(value, np.ndarray):
            self._refuse_grad(TypeError, type(value).__name__)
        if value.dtype != self.data.dtype or value.shape != self.data.shape:
            self._refuse_grad(TypeError if value.dtype != self.data.dtype else ValueError,
                              f"shape {value.shape}, dtype {value.dtype}")
        self._grad = value
        self._zeroed = self._stale = False
        self._exposed = True

    def _refuse_grad(self, error: type, got: str) -> None:
        raise error(f"{self!r}: a gradient must be an ndarray of the parameter's shape "
                    f"{self.data.shape} and dtype {self.data.dtype} (never broadcast), got {got}")

    def grad_view(self) -> np.ndarray:
        """The gradient's current value for a reader that does not keep the array."""
        if self._stale:
            self._grad.fill(0)
            self._stale = False
        return self._grad

    def grad_buffer(self) -> tuple[np.ndarray, bool]:
        """``(gradient array, overwrite)`` for a layer about to add a full-size contribution.

        ``overwrite`` True means the gradient is zero and nothing was added since: write the
        contribution into the array (e.g. ``np.matmul(a, b, out=array)``) instead of adding
        it. The caller must then write every element, and must not keep the array.
        """
        if self._zeroed:
            self._zeroed = self._stale = False
            return self._grad, True
        return self._grad, False

    # -- what layers call to add their contribution (each honours the overwrite flag) --
    def add_grad(self, value: np.ndarray) -> None:
        """``grad += value`` (a copy into the array right after ``zero_grad``)."""
        buf, overwrite = self.grad_buffer()
        if overwrite:
            np.copyto(buf, value)
        else:
            buf += value

    def add_grad_matmul(self, a: np.ndarray, b: np.ndarray) -> None:
        """``grad += a @ b``, the product written straight into the array after ``zero_grad``
        (no temporary, no extra pass)."""
        buf, overwrite = self.grad_buffer()
        if overwrite:
            np.matmul(a, b, out=buf)
        else:
            buf += a @ b

    # -- what an optimizer calls to pack parameters into its own contiguous buffers --
    def bind(self, data: np.ndarray, grad: np.ndarray) -> None:
        """Copy the value and the gradient into ``data`` and ``grad`` (arrays of this
        parameter's shape and dtype, typically views into one flat buffer) and use them
        from now on. Whether the gradient is zero, and whether its array was handed out,
        carry over: binding is not handing out."""
        if data.shape != self.data.shape or grad.shape != self.data.shape \
                or data.dtype != self.data.dtype or grad.dtype != self.data.dtype:
            raise ValueError(f"{self!r}.bind: arrays of shape {self.data.shape} and dtype "
                             f"{self.data.dtype} expected, got {data.shape} {data.dtype} and "
                             f"{grad.shape} {grad.dtype}")
        data[...] = self.data
        grad[...] = self.grad_view()
        self.data, self._grad = data, grad

    def is_bound(self, data: np.ndarray, grad: np.ndarray) -> bool:
        """True while ``data`` and ``grad`` are exactly the arrays this parameter uses (no
        one re-bound ``p.data`` or ``p.grad``, no ``astype``, since :meth:`bind`)."""
        return self.data is data and self._grad is grad

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
        """Make the gradient zero (see the class docstring for when the fill happens)."""
        if self._exposed:
            self._grad.fill(0)
        else:
            self._stale = True
        self._zeroed = True

    def astype(self, dtype) -> Parameter:
        """Convert data and grad to ``dtype`` in place (re-binds both arrays)."""
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"Parameter.astype: expected a floating dtype, got {dt}")
        if dt != self.data.dtype:
            exposed = self._exposed
            self.data = self.data.astype(dt)
            self.grad = self.grad_view().astype(dt)
            self._exposed = exposed
        return self

    def __repr__(self) -> str:
        flag = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.shape}, dtype={self.dtype}{flag})"
