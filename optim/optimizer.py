"""The optimizer contract, defined once: what a rule writes, and what the base class does.

Every optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus that group's
hyper-parameters, PyTorch-style) and ``state`` (a dict keyed by Parameter object, so two
parameters of the same shape never share state).

A rule (``SGD``, ``Adam``, ...) is a subclass that writes one method, its update as math::

    def update(self, p, g, state, t, *, lr, ...hyper-parameters of the group...):
        ...                      # e.g. b[...] = momentum * b + g;  p -= lr * b

``p`` and ``g`` are the parameter's values and gradient, ``state`` a plain dict of the
rule's arrays (``state["exp_avg"]``), ``t`` the step count (1 at the first update), and
the hyper-parameters come as Python floats and bools. The rule updates ``p`` and its
state arrays in place (``p -= ...``, ``m[...] = ...``), never writes into ``g``, and
creates a state array by assigning it (``state["exp_avg"] = np.zeros_like(p)``). The
update must be elementwise: what it computes for a coordinate depends only on that
coordinate of ``p``, ``g`` and the state.

Everything else happens here, around the rule: parameter groups, validation, the state
keyed by Parameter, ``zero_grad``, ``state_dict`` / ``load_state_dict``, and how the
arrays reach the rule.

Flat partitions and chunks (why the step is fast)
-------------------------------------------------
At the first ``step`` the trainable parameters of a group are packed into one contiguous
buffer per dtype (a *partition*, :class:`_Flat`): each Parameter is bound
(``Parameter.bind``) to views into ``flat.data`` / ``flat.grad``, and each state array is a
view into a flat state buffer. Layers read ``param.data`` on every call and add into
``param.grad`` in place, so they see the views transparently. An update is then a handful
of NumPy calls on long arrays whatever the number of parameters, with the same arithmetic
per element as one call per parameter.

The rule is not called on the whole partition but on consecutive slices of at most
``CHUNK_BYTES`` per array (:class:`_Chunk`), all of its lines on one slice before the
next, so that a slice stays in cache between the lines; ``p``, ``g`` and the state arrays
a rule receives are these 1-d chunk views. The update is elementwise, so the chunking
changes no result bit. A state array the rule assigns is copied into the chunk's view of
its flat buffer (created by the first chunk that assigns it) once the call returns.

Every step first checks, in one cheap pass, that each parameter is still bound to the
views it was given (``Parameter.is_bound``) and that ``requires_grad`` has not changed;
if a user re-bound an array (``p.data = ...``), changed a dtype (``model.astype``),
froze or unfroze a parameter, or loaded a state dict, the partition is rebuilt from the
current arrays and the per-parameter state, so nothing is lost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from nn.parameter import Parameter


def lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``start + weight (end - start)``, rounded as ``torch.lerp`` rounds it.

    torch.lerp evaluates ``start + w (end - start)`` when w < 0.5 and
    ``end - (end - start)(1 - w)`` otherwise (the same value in exact arithmetic); using
    the same branch keeps a trajectory within an ulp or two of PyTorch's. Used for Adam's m
    and centered RMSprop's mean gradient.
    """
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


# Bytes per array in one chunk of an update: a rule touches 3-6 arrays (parameters,
# gradients, state, temporaries), so 256 KiB each keeps a chunk's working set in a 2 MiB L2
# cache between the rule's lines. Unchunked, every line streams the whole model through
# memory (benchmarks/README.md, session 3).
CHUNK_BYTES = 1 << 18


class _Flat:
    """One contiguous partition: the parameters of one group with one dtype, one step count
    and the same state names. ``chunks`` are its consecutive slices of at most
    ``CHUNK_BYTES`` per array, the arrays a rule is called on."""

    def __init__(self, params: list[Parameter], state: dict, dtype: np.dtype, step: int,
                 buffer_names: tuple[str, ...]):
        self.params = params
        self.step = step
        self.offsets = np.concatenate([[0], np.cumsum([p.size for p in params])]).astype(int)
        n = int(self.offsets[-1])
        self.data = np.empty(n, dtype=dtype)
        self.grad = np.empty(n, dtype=dtype)
        self.buffers: dict[str, np.ndarray] = {}
        self.members: list[tuple] = []  # (param, data view, grad view) for the fast check
        for p, lo, hi in self.slices():
            d = self.data[lo:hi].reshape(p.shape)
            g = self.grad[lo:hi].reshape(p.shape)
            p.bind(d, g)
            self.members.append((p, d, g))
        self.state = state
        size = max(1, CHUNK_BYTES // self.data.itemsize)
        self.chunks = [_Chunk(self, lo, min(lo + size, n)) for lo in range(0, n, size)]
        for name in buffer_names:
            saved = [state[p][name] for p in params]  # before new_buffer re-binds them
            buf = self.new_buffer(name)
            for arr, (_, lo, hi) in zip(saved, self.slices()):
                buf[lo:hi] = np.asarray(arr).reshape(-1)
            for chunk in self.chunks:
                chunk.views[name] = chunk.state[name] = buf[chunk.lo:chunk.hi]

    def slices(self):
        """``(parameter, lo, hi)``: where each parameter sits in the flat buffers."""
        return zip(self.params, self.offsets[:-1], self.offsets[1:])

    def new_buffer(self, name: str) -> np.ndarray:
        """A flat state buffer (uninitialised), each parameter's state a view into it."""
        buf = self.buffers[name] = np.empty_like(self.data)
        for p, lo, hi in self.slices():
            self.state.setdefault(p, {})[name] = buf[lo:hi].reshape(p.shape)
        return buf


class _Chunk:
    """The slice ``[lo, hi)`` of a partition: ``data`` and ``grad`` views, and ``state``,
    the dict handed to the rule, whose arrays are views of the flat state buffers
    (``views`` remembers them, to notice what the rule assigned).

    A chunk's state holds only what it has seen created, so within one step every chunk
    takes the same branch ("no momentum buffer yet: b = g") whatever an earlier chunk did.
    """

    __slots__ = ("flat", "lo", "hi", "data", "grad", "state", "views")

    def __init__(self, flat: _Flat, lo: int, hi: int):
        self.flat, self.lo, self.hi = flat, lo, hi
        self.data, self.grad = flat.data[lo:hi], flat.grad[lo:hi]
        self.state: dict[str, np.ndarray] = {}
        self.views: dict[str, np.ndarray] = {}

    def store_state(self) -> None:
        """Copy every state array the rule assigned (rather than updated in place) into
        this chunk's view of its flat buffer; the first chunk to assign a name creates the
        buffer."""
        for name, value in self.state.items():
            view = self.views.get(name)
            if value is view:
                continue
            if view is None:
                buf = self.flat.buffers.get(name)
                if buf is None:
                    buf = self.flat.new_buffer(name)
                view = self.views[name] = buf[self.lo:self.hi]
            view[...] = value
            self.state[name] = view


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``step``, ``zero_grad``, state dicts.

    A rule sets ``defaults`` (hyper-parameter names and default values) through
    ``__init__``, validates them in ``_validate(group)``, and writes its math in
    :meth:`update`.
    """

    #: ``step`` runs a rule's :meth:`update_fast`; False runs the plain :meth:`update` (the
    #: math, line by line, e.g. to step through it in a debugger). Both give the same bits.
    fast: bool = True

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict[Parameter, dict] = {}
        self._flats: list[list[_Flat] | None] = []
        self._hyper_cache: dict[int, tuple[list, dict]] = {}
        if isinstance(params, Parameter):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters "
                            "or of dicts (parameter groups), got a single Parameter")
        if isinstance(params, (str, bytes, dict)) or not hasattr(params, "__iter__"):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters "
                            f"or of dicts (parameter groups), got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ the rule
    # Each rule names its own keyword-only hyper-parameters: the tail ``*args: Any,
    # **hyper: Any`` is what mypy reads as "any further arguments" (``Callable[..., None]``),
    # so a rule's narrower signature is a valid override.
    def update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], t: int,
               *args: Any, **hyper: Any) -> None:  # pragma: no cover - abstract
        """One step of the rule on ``p`` in place (see the module docstring).

        Parameters
        ----------
        p, g : ndarray
            Values and gradient (1-d views, one chunk of the packed parameters).
        state : dict of str to ndarray
            The rule's state arrays for the same coordinates; assign a new key to create one.
        t : int
            Steps taken, this one included (1 at the first update).
        **hyper
            The group's hyper-parameters (``defaults``' names), as Python floats and bools.
        """
        raise NotImplementedError

    def update_fast(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], t: int,
                    *args: Any, **hyper: Any) -> None:
        """The same step as :meth:`update`, bit for bit, where a rule has a faster form.

        A rule overrides this only where its plain lines cost more than 5% of a whole
        training step (SGD's heavy-ball momentum, Adam); the plain :meth:`update` stays the
        reference, and ``tests/test_optim_trajectories.py`` runs both. ``step`` calls this
        one unless ``fast`` is False.
        """
        self.update(p, g, state, t, *args, **hyper)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (defaults fill the rest)."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}: a parameter group is a dict with 'params'")
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"{type(self).__name__}: expected Parameters, got "
                                f"{type(p).__name__}")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: a parameter appears in more than one "
                                 "group (or twice in one)")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown hyper-parameters {sorted(unknown)}")
        full = {**self.defaults, **group, "params": params}
        self._validate(full)
        self.param_groups.append(full)
        self._flats.append(None)

    def _validate(self, group: dict) -> None:
        self._check_float("lr", group["lr"], low=0.0)

    def _check_float(self, name: str, value, low: float | None = None,
                     high: float | None = None, high_open: bool = False) -> None:
        """Hyper-parameter check with a message naming the optimizer and the argument."""
        cls = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                             np.floating)):
            raise TypeError(f"{cls}: {name} must be a number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{cls}: {name} must be finite, got {value!r}")
        if low is not None and v < low:
            raise ValueError(f"{cls}: {name} must be >= {low}, got {value!r}")
        if high is not None and (v >= high if high_open else v > high):
            raise ValueError(f"{cls}: {name} must be {'<' if high_open else '<='} {high}, "
                             f"got {value!r}")

    # ------------------------------------------------------------------ the contract
    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero (see ``nn.Parameter.zero_grad``: the
        fill is deferred while nobody holds the array; ``step`` applies what is left)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.zero_grad()

    def step(self) -> None:
        """Apply one update to every trainable parameter, group by group.

        Underflow is not trapped inside an update (other float errors keep the caller's
        setting): g² of a tiny gradient, or a momentum or moment buffer decaying
        geometrically while a gradient stays zero (a rare token's embedding row, a dead
        unit), reaches subnormals and then zero. That is IEEE gradual underflow, correct and
        harmless here, and it would otherwise stop a run under ``np.errstate(all="raise")``
        after some hundreds of float32 steps.
        """
        with np.errstate(under="ignore"):
            for i, group in enumerate(self.param_groups):
                flats = self._flats[i]
                if flats is None or not self._intact(group, flats):
                    flats = self._flats[i] = self._build(group, flats)
                update = self.update_fast if self.fast else self.update
                hyper = self._hyper(i, group)
                for flat in flats:
                    flat.step += 1
                    for chunk in flat.chunks:
                        update(chunk.data, chunk.grad, chunk.state, flat.step, **hyper)
                        chunk.store_state()

    def _hyper(self, i: int, group: dict) -> dict:
        """Group ``i``'s hyper-parameters as the rule receives them (see :func:`_plain`),
        converted again only when a value changed (a scheduler's new lr)."""
        raw = [group[k] for k in self.defaults]
        cached = self._hyper_cache.get(i)
        if cached is None or cached[0] != raw:
            cached = self._hyper_cache[i] = (raw, {k: _plain(v)
                                                   for k, v in zip(self.defaults, raw)})
        return cached[1]

    # ------------------------------------------------------------------ flat partitions
    @staticmethod
    def _intact(group: dict, flats: list[_Flat]) -> bool:
        """True when every trainable parameter still uses its views (one cheap pass)."""
        trainable = 0
        for flat in flats:
            for p, d, g in flat.members:
                if not p.is_bound(d, g) or not p.requires_grad:
                    return False
                p.grad_view()  # zeroed but never filled and nothing written since: fill now
            trainable += len(flat.members)
        if trainable != len(group["params"]):  # a frozen parameter may have been unfrozen
            return trainable == sum(1 for p in group["params"] if p.requires_grad)
        return True

    def _build(self, group: dict, old: list[_Flat] | None) -> list[_Flat]:
        if old:
            for flat in old:
                for p in flat.params:
                    self.state.setdefault(p, {})["step"] = flat.step
        parts: dict[tuple, list[Parameter]] = {}
        for p in group["params"]:
            if not p.requires_grad:
                continue
            st = self.state.get(p, {})
            names = tuple(sorted(k for k in st if k != "step"))
            parts.setdefault((p.dtype.str, int(st.get("step", 0)), names), []).append(p)
        flats = []
        for (dtype, step, names), params in parts.items():
            flats.append(_Flat(params, self.state, np.dtype(dtype), step, names))
        return flats

    # ------------------------------------------------------------------ state dicts
    def _sync_steps(self) -> None:
        for flats in self._flats:
            for flat in flats or ():
                for p in flat.params:
                    self.state.setdefault(p, {})["step"] = flat.step

    def state_dict(self) -> dict:
        """``{"state": {index: {name: array copy | step}}, "param_groups": [...]}``.

        Parameters are identified by their position across all groups, as in PyTorch.
        """
        self._sync_steps()
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {
                        k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
                        for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict`.

        All-or-nothing: everything is validated (:meth:`_check_state_dict`) before anything
        is assigned, so a bad state dict raises and leaves the optimizer unchanged.
        """
        hyper, new_state = self._check_state_dict(state_dict)
        for saved, group in zip(hyper, self.param_groups):
            group.update(saved)
        self.state = new_state
        self._flats = [None] * len(self.param_groups)

    def _check_state_dict(self, state_dict: dict) -> tuple[list[dict], dict]:
        """Validate a state dict against this optimizer without changing anything.

        Returns ``(per-group hyper-parameters, new per-parameter state)``. Raises
        ValueError/TypeError naming the optimizer and the problem: wrong layout, another
        number of groups or parameters, state arrays of the wrong shape or dtype, invalid
        hyper-parameter values.
        """
        cls = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise TypeError(f"{cls}.load_state_dict: expected a dict with 'state' and "
                            f"'param_groups', got {type(state_dict).__name__}")
        groups, states = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)) or not isinstance(states, dict):
            raise TypeError(f"{cls}.load_state_dict: 'param_groups' must be a list and 'state' "
                            "a dict")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{cls}.load_state_dict: {len(groups)} groups saved, "
                             f"{len(self.param_groups)} in this optimizer")
        params = [p for g in self.param_groups for p in g["params"]]
        hyper = []
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise TypeError(f"{cls}.load_state_dict: param_groups[{i}] must be a dict with "
                                "a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{cls}.load_state_dict: a group has "
                                 f"{len(saved['params'])} parameters saved, "
                                 f"{len(group['params'])} here")
            values = {k: v for k, v in saved.items() if k != "params"}
            # "initial_lr" is a scheduler's bookkeeping; anything else unknown means the
            # state of another rule (Adam's betas loaded into SGD would silently set lr)
            foreign = sorted(set(values) - set(self.defaults) - {"initial_lr"})
            if foreign:
                raise ValueError(f"{cls}.load_state_dict: param_groups[{i}] has "
                                 f"hyper-parameters {foreign} that {cls} does not have: "
                                 f"a state dict of another optimizer class?")
            self._validate({**group, **values})
            hyper.append(values)
        new_state: dict[Parameter, dict] = {}
        for key, entry in states.items():
            try:
                i = int(key)
            except (TypeError, ValueError):
                raise TypeError(f"{cls}.load_state_dict: state keys are parameter indices, "
                                f"got {key!r}") from None
            if not 0 <= i < len(params):
                raise ValueError(f"{cls}.load_state_dict: no parameter {i}")
            if not isinstance(entry, dict):
                raise TypeError(f"{cls}.load_state_dict: state of parameter {i} must be a dict")
            p = params[i]
            converted: dict[str, Any] = {}
            for k, v in entry.items():
                if isinstance(v, np.ndarray):
                    if v.dtype.kind not in "fiu":
                        raise TypeError(f"{cls}.load_state_dict: state {k!r} of parameter {i} "
                                        f"has dtype {v.dtype}")
                    if v.shape != p.shape:
                        raise ValueError(f"{cls}.load_state_dict: state {k!r} of "
                                         f"parameter {i} has shape {v.shape}, expected {p.shape}")
                    converted[k] = v.astype(p.dtype, copy=True)
                elif k == "step":
                    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                        raise ValueError(f"{cls}.load_state_dict: step of parameter {i} must be "
                                         f"a non-negative integer, got {v!r}")
                    converted[k] = int(v)
                else:
                    converted[k] = v
            new_state[p] = converted
        return hyper, new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {hyper}")
        return "\n".join(lines + [")"])


def _plain(value):
    """A hyper-parameter as the rule receives it: numbers as Python floats (a NumPy float64
    scalar would promote a float32 update to float64, NEP 50), pairs as tuples of floats."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    return value


def params_list(params: Iterable[Parameter]) -> list[Parameter]:
    """Flatten an iterable of Parameters or parameter groups to a list of Parameters."""
    out: list[Parameter] = []
    for p in params:
        if isinstance(p, dict):
            out.extend(p["params"])
        else:
            out.append(p)
    return out
