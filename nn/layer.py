"""``Layer``: the base class of every layer and container.

The contract (see docs/architecture.md):

* ``forward(x)`` returns ``y`` and caches what ``backward`` needs on the layer;
* ``backward(grad_y)`` returns ``grad_x`` and *adds* each parameter's gradient into
  ``param.grad`` in place (it never re-binds ``param.grad``, never mutates ``grad_y``);
* Parameters and sub-layers assigned as attributes are registered automatically, in
  definition order; arrays registered with :meth:`Layer.register_buffer` are saved in
  ``state_dict`` but are not parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from .parameter import Parameter


class LoadResult(NamedTuple):
    """What :meth:`Layer.load_state_dict` did not match (empty when ``strict=True``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Layer:
    """Base class: subclass it, assign Parameters / sub-layers, write forward and backward."""

    training: bool
    # the registries __init__ creates (names in definition order) and the backward cache
    _param_names: list[str]
    _layer_names: list[str]
    _buffer_names: list[str]
    _cache: Any

    #: When False, ``backward`` may skip computing the input gradient and return None.
    #: Nothing needs it for a model's first layer during training (PyTorch likewise skips
    #: the gradient of inputs that do not require one); ``nn.fit`` sets it there for the
    #: duration of training through :meth:`set_input_grad`.
    input_grad: bool = True

    def __init__(self) -> None:
        object.__setattr__(self, "_param_names", [])
        object.__setattr__(self, "_layer_names", [])
        object.__setattr__(self, "_buffer_names", [])
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if name[0] == "_" and not isinstance(value, (Parameter, Layer)):
            object.__setattr__(self, name, value)  # fast path for caches and private state
            return
        registry = self.__dict__.get("_param_names")
        if registry is None:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        params, layers = self._param_names, self._layer_names
        if isinstance(value, Parameter):
            if name in layers:
                layers.remove(name)
            if name not in params:
                params.append(name)
        elif isinstance(value, Layer):
            if name in params:
                params.remove(name)
            if name not in layers:
                layers.append(name)
        else:
            if name in params:
                params.remove(name)
            if name in layers:
                layers.remove(name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in (self._param_names, self._layer_names, self._buffer_names):
            if name in registry:
                registry.remove(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """Register a non-trainable array saved in ``state_dict`` (e.g. running statistics)."""
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{self.label()}: buffer {name!r} must be an ndarray")
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ the contract
    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_y):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def set_input_grad(self, flag: bool) -> bool:
        """Say whether ``backward`` must return the input gradient; returns the old value.

        Containers forward this to the layer that receives their input (Sequential: its
        first layer). A layer that ignores the flag still returns the gradient.
        """
        old = self.input_grad
        object.__setattr__(self, "input_grad", bool(flag))
        return old

    # ------------------------------------------------------------------ traversal
    def named_children(self) -> Iterator[tuple[str, Layer]]:
        for name in self._layer_names:
            yield name, self.__dict__[name]

    def children(self) -> Iterator[Layer]:
        for _, layer in self.named_children():
            yield layer

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Layer]]:
        """Every layer in the tree, this one first (name ``""``), each object once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, layer = stack.pop(0)
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            yield name, layer
            stack[0:0] = [
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in layer.named_children()
            ]

    def modules(self) -> Iterator[Layer]:
        for _, layer in self.named_modules():
            yield layer

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted_name, Parameter)`` pairs, recursively, each Parameter once."""
        seen: set[int] = set()
        for mod_name, layer in self.named_modules(prefix):
            for pname in layer._param_names:
                p = layer.__dict__[pname]
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{pname}" if mod_name else pname), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, layer in self.named_modules(prefix):
            for bname in layer._buffer_names:
                yield (f"{mod_name}.{bname}" if mod_name else bname), layer.__dict__[bname]

    def named_generators(self, prefix: str = "") -> Iterator[tuple[str, np.random.Generator]]:
        """``(dotted_name, Generator)`` for every ``numpy.random.Generator`` held as an
        attribute by a layer of the tree (dropout masks), recursively, each object once
        under the first name met, a layer's own attributes before its sub-layers' (e.g.
        ``"2.rng"``). Checkpoints, the non-finite guard, gradcheck and the testing kit find
        the generators to save, restore or replay through it."""
        seen: set[int] = set()
        for mod_name, layer in self.named_modules(prefix):
            for attr, value in vars(layer).items():
                if isinstance(value, np.random.Generator) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{mod_name}.{attr}" if mod_name else attr), value

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------------ state
    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero, in place."""
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Layer:
        """Set training mode on this layer and every sub-layer; returns self."""
        for layer in self.modules():
            object.__setattr__(layer, "training", bool(mode))
        return self

    def eval(self) -> Layer:
        """Evaluation mode (dropout off, running statistics used); returns self."""
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{dotted_name: copy}`` of every parameter's data and every buffer."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: np.array(b, copy=True) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> LoadResult:
        """Copy arrays from ``state`` into the parameters and buffers, in place.

        All-or-nothing: every key, shape and value is validated before anything is written.
        With ``strict=True`` a missing or unexpected key is an error; a shape mismatch is
        always one. Values are cast to the dtype of the parameter they are copied into.
        """
        targets: dict[str, np.ndarray] = {name: p.data for name, p in self.named_parameters()}
        targets.update(dict(self.named_buffers()))
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        staged = []
        for key, target in targets.items():
            if key not in state:
                continue
            value = np.asarray(state[key])
            if value.dtype.kind not in "fiub":
                raise TypeError(f"load_state_dict: {key!r} has non-numeric dtype {value.dtype}")
            if value.shape != target.shape:
                raise ValueError(
                    f"load_state_dict: {key!r} expected shape {target.shape}, got {value.shape}"
                )
            staged.append((target, value))
        for target, value in staged:
            target[...] = value
        return LoadResult(missing, unexpected)

    def astype(self, dtype) -> Layer:
        """Convert every parameter and floating buffer (recursively) in place; returns self."""
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"{type(self).__name__}.astype: expected a floating dtype, got {dt}")
        for layer in self.modules():
            for pname in layer._param_names:
                layer.__dict__[pname].astype(dt)
            for bname in layer._buffer_names:
                buf = layer.__dict__[bname]
                if buf.dtype.kind == "f":
                    object.__setattr__(layer, bname, buf.astype(dt))
            object.__setattr__(layer, "_cache", None)
        return self

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype of the first parameter (``None`` for a layer without parameters)."""
        for p in self.parameters():
            return p.dtype
        return None

    # ------------------------------------------------------------------ helpers for layers
    def label(self) -> str:
        """``ClassName(extra_repr)``: how error messages and reports name this layer."""
        extra = self.extra_repr()
        return f"{type(self).__name__}({extra})"

    def _saved(self):
        """The cache written by forward; a clear error when backward comes first."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(
                f"{self.label()}: backward() called before forward(); "
                "call forward(x) first so the layer can cache what backward needs"
            )
        return cache

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return self.label()
        extra = self.extra_repr()
        lines = [f"{type(self).__name__}(" + (f"{extra}," if extra else "")]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)

    def summary(self, input_shape, dtype=None, print_fn=print) -> str:
        """Print (and return) each layer, its output shape and parameter count, and the total.

        ``input_shape`` excludes the batch dimension, e.g. ``(64,)`` or ``(1, 28, 28)``.
        """
        from .summary import summary

        return summary(self, input_shape, dtype=dtype, print_fn=print_fn)


# ---------------------------------------------------------------------- input checks
# A layer calls one of these at the top of forward / backward and then writes only math:
#
#     x = check_input(self, x, last_dim=self.in_features, dtype=self.weight.dtype)
#     G = check_grad(self, grad_y, out_shape, self.weight.dtype)
#
# The common case (a plain ndarray of the right dtype and shape) costs one call and a few
# comparisons, so layers need no fast-path copies of their own; anything else goes to the
# slow path, which returns a usable array or raises the error the input deserves.

def check_positive(layer_name: str, **sizes: Any) -> None:
    """Each size in ``sizes`` is a positive int (not a bool): a ValueError naming the layer
    and the argument otherwise (constructor validation: ``check_positive("Linear",
    in_features=3, out_features=0)``)."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{layer_name}: {name} must be a positive integer, got {value!r}")


def check_input(layer: Layer, x, *, ndim: int | None = None, min_ndim: int = 1,
                last_dim: int | None = None, dtype: np.dtype | None = None,
                expected: str = "") -> np.ndarray:
    """``x`` as a plain floating ndarray, or a TypeError/ValueError naming the layer and shapes.

    Parameters
    ----------
    layer : Layer
        The layer checking its input (named in the error).
    x : ndarray
        The input. An ndarray subclass (``np.memmap``, ...) comes back as a plain view.
    ndim, min_ndim, last_dim : int, optional
        Exact number of dims, minimum number of dims, size of the last dim.
    dtype : numpy dtype, optional
        The layer's parameter dtype, which ``x`` must match exactly (a layer never silently
        changes dtype); ``None`` accepts any floating dtype.
    expected : str
        The expected shape as the error should print it, e.g. ``"(N, C, H, W)"``.
    """
    if (type(x) is np.ndarray
            and (x.dtype == dtype if dtype is not None else x.dtype.kind == "f")
            and x.ndim >= min_ndim and (ndim is None or x.ndim == ndim)
            and (last_dim is None or (x.ndim > 0 and x.shape[-1] == last_dim))):
        return x
    return _checked_input(layer, x, ndim, min_ndim, last_dim, dtype, expected)


def check_grad(layer: Layer, grad_y, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The upstream gradient as a plain ndarray of the forward output's ``shape`` and ``dtype``.

    A gradient of another numeric dtype is cast (a float64 gradient into a float32 layer
    costs a cast, never a float64 computation); a wrong shape or a non-array raises an
    error naming the layer, the expected shape and the shape received.
    """
    if type(grad_y) is np.ndarray and grad_y.shape == shape and grad_y.dtype == dtype:
        return grad_y
    return _checked_grad(layer, grad_y, shape, dtype)


def inner_grad(grad_x: np.ndarray | None) -> np.ndarray:
    """The input gradient a sub-layer's ``backward`` returned, for a container that needs it.

    ``backward`` returns None only when the layer's ``input_grad`` is False, which is set on
    the layer that receives a model's input; a layer inside a container always returns its
    gradient. Wrapping the call says so (to the reader, and to mypy, for whom ``backward``
    returns ``ndarray | None``).
    """
    if grad_x is None:
        raise RuntimeError("a sub-layer's backward returned no input gradient (input_grad is "
                           "False on a layer whose gradient the container needs)")
    return grad_x


def plain(a: np.ndarray) -> np.ndarray:
    """An ndarray subclass (``np.memmap``, ...) as a plain ndarray view of the same memory
    (no copy), so that what a layer returns and caches is a plain ndarray."""
    return a if type(a) is np.ndarray else a.view(np.ndarray)


def _checked_input(layer: Layer, x, ndim, min_ndim, last_dim, dtype, expected) -> np.ndarray:
    """The slow path of :func:`check_input`: raise, or return a plain view of a good input."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer.label()}: expected a numpy.ndarray input, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(
            f"{layer.label()}: expected a floating input (float32 or float64), got dtype {x.dtype}"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{layer.label()}: input dtype {x.dtype} does not match the parameter dtype {dtype}; "
            f"cast the input (x.astype(np.{dtype})) or the layer (layer.astype(np.{x.dtype}))"
        )
    bad = (ndim is not None and x.ndim != ndim) or x.ndim < min_ndim or (
        last_dim is not None and (x.ndim == 0 or x.shape[-1] != last_dim))
    if bad:
        want = expected or _shape_text(ndim, min_ndim, last_dim)
        raise ValueError(f"{layer.label()}: expected input of shape {want}, got {x.shape}")
    return plain(x)


def _checked_grad(layer: Layer, grad_y, shape, dtype) -> np.ndarray:
    """The slow path of :func:`check_grad`: raise, or cast / plain-view a usable gradient."""
    if not isinstance(grad_y, np.ndarray):
        raise TypeError(
            f"{layer.label()}: backward expected a numpy.ndarray gradient, "
            f"got {type(grad_y).__name__}"
        )
    if grad_y.shape != shape:
        raise ValueError(
            f"{layer.label()}: backward expected a gradient of shape {shape} "
            f"(the output's shape), got {grad_y.shape}"
        )
    if grad_y.dtype != dtype:
        if grad_y.dtype.kind not in "fiu":
            raise TypeError(f"{layer.label()}: backward got a gradient of dtype {grad_y.dtype}")
        grad_y = grad_y.astype(dtype)
    return plain(grad_y)


def _shape_text(ndim, min_ndim, last_dim) -> str:
    if ndim is not None:
        dims = ["N"] + ["*"] * (ndim - 1)
        if last_dim is not None:
            dims[-1] = str(last_dim)
        return "(" + ", ".join(dims) + ")"
    tail = f"{last_dim}" if last_dim is not None else "*"
    lead = ", ".join(["*"] * max(min_ndim - 1, 0))
    return f"(..., {tail})" if not lead else f"({lead}, ..., {tail})"
