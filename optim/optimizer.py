"""The optimizer contract, defined once.

Every optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus that group's
hyper-parameters, PyTorch-style) and ``state`` (a dict keyed by Parameter object, so two
parameters of the same shape never share state). A rule subclass writes only
``_update(group, flat)``: the vectorized update of one *flat partition* (in
fact of one cache-sized chunk of it at a time, see ``CHUNK_BYTES``).

Flat partitions (why the step is fast)
---------------------------------------
At the first ``step`` the trainable parameters of a group are packed into one contiguous
buffer per dtype: each ``Parameter.data`` and ``Parameter.grad`` is re-bound to a view
into ``flat.data`` / ``flat.grad``, and each state array (momentum buffer, Adam moments)
is a view into a flat state buffer. An update is then a handful of NumPy calls on long
arrays, whatever the number of parameters, with the exact same arithmetic per element
as the per-parameter rule. Layers read ``param.data`` on every call and add into
``param.grad`` in place, so they see the views transparently.

Every step first checks, in one cheap pass, that each parameter's ``data``/``grad`` is
still the view it was given and that ``requires_grad`` has not changed; if a user
re-bound an array (``p.data = ...``), changed a dtype (``model.astype``), froze or
unfroze a parameter, or loaded a state dict, the partition is rebuilt from the current
arrays and the per-parameter state, so nothing is lost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from nn.parameter import Parameter


def axpy(a: float, x: np.ndarray, y: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """``y += a * x`` in place, through ``scratch`` (no allocation).

    Plain NumPy on purpose: SciPy's BLAS ``?axpy`` is one pass instead of two, but SciPy
    ships its own OpenBLAS whose idle threads spin after each call and then fight NumPy's
    OpenBLAS threads for the cores; alternating the two made a training step 20x slower
    on a 2-core machine (measured; see benchmarks/README.md).
    """
    np.multiply(x, a, out=scratch)
    y += scratch
    return y


def lerp(start: np.ndarray, end: np.ndarray, weight: float, scratch: np.ndarray) -> np.ndarray:
    """``start += weight (end - start)`` in place, rounded as ``torch.lerp`` rounds it.

    torch.lerp evaluates ``start + w (end - start)`` when w < 0.5 and
    ``end - (end - start)(1 - w)`` otherwise; using the same branch keeps a trajectory
    within an ulp or two of PyTorch's. Used for Adam's m and centered RMSprop's mean.
    """
    diff = np.subtract(end, start, out=scratch)
    if weight < 0.5:
        axpy(weight, diff, start, scratch)
    else:
        np.subtract(end, np.multiply(diff, 1.0 - weight, out=scratch), out=start)
    return start


# Bytes per array in one chunk of an update: a rule touches 3-6 flat arrays (parameters,
# gradients, state, scratch), so 256 KiB each keeps a chunk's working set in a 2 MiB L2
# cache between the rule's passes. Unchunked, every pass streams the whole model through
# memory; chunked, a momentum step on 269 k float32 parameters took 180 us instead of
# 250 us here (benchmarks/README.md).
CHUNK_BYTES = 1 << 18


class _Flat:
    """One contiguous partition: parameters of one dtype and one optimizer history.

    ``_update`` never sees the partition itself but its chunks (:class:`_Chunk`), the
    consecutive slices of at most ``CHUNK_BYTES`` per array.
    """

    def __init__(self, params: list[Parameter], state: dict, dtype: np.dtype, step: int,
                 buffer_names: tuple[str, ...]):
        self.params = params
        self.step = step
        sizes = [p.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        n = int(self.offsets[-1])
        self.data = np.empty(n, dtype=dtype)
        self.grad = np.empty(n, dtype=dtype)
        self.buffers: dict[str, np.ndarray] = {}
        self._tmp: list[np.ndarray] = []
        self.data_views, self.grad_views = [], []
        self.members: list[tuple] = []  # (param, data view, grad view) for the fast check
        for p, lo, hi in zip(params, self.offsets[:-1], self.offsets[1:]):
            d = self.data[lo:hi].reshape(p.shape)
            g = self.grad[lo:hi].reshape(p.shape)
            p.bind(d, g)
            self.data_views.append(d)
            self.grad_views.append(g)
            self.members.append((p, d, g))
        self.state = state
        size = max(1, CHUNK_BYTES // self.data.itemsize)
        self.chunk_size = min(size, n)
        self.chunks = [_Chunk(self, lo, min(lo + size, n)) for lo in range(0, n, size)]
        for name in buffer_names:
            saved = [state[p][name] for p in params]  # before new_buffer re-binds them
            buf = self.new_buffer(name)
            for arr, lo, hi in zip(saved, self.offsets[:-1], self.offsets[1:]):
                buf[lo:hi] = np.asarray(arr).reshape(-1)
            for chunk in self.chunks:
                chunk.buffers[name] = buf[chunk.lo:chunk.hi]

    def new_buffer(self, name: str) -> np.ndarray:
        """A flat state buffer (uninitialised), each parameter's state a view into it."""
        buf = self.buffers[name] = np.empty_like(self.data)
        for p, lo, hi in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            self.state.setdefault(p, {})[name] = buf[lo:hi].reshape(p.shape)
        return buf

    def tmp(self, i: int) -> np.ndarray:
        """Scratch buffer number ``i`` of one chunk's size (allocated once, shared by the
        chunks, which are updated one after the other)."""
        while len(self._tmp) <= i:
            self._tmp.append(np.empty(self.chunk_size, dtype=self.data.dtype))
        return self._tmp[i]


class _Chunk:
    """The slice ``[lo, hi)`` of a partition, which ``_update`` treats as a partition:
    ``data``, ``grad``, ``buffers`` (state views), ``tmp(i)``, ``new_buffer``, ``step``.

    A chunk's ``buffers`` holds only the state it has seen created, so within one step every
    chunk takes the same branch ("no momentum buffer yet: b = g") whatever an earlier chunk
    did. Updates are elementwise, so chunking changes no result bit.
    """

    __slots__ = ("flat", "lo", "hi", "data", "grad", "buffers")

    def __init__(self, flat: _Flat, lo: int, hi: int):
        self.flat, self.lo, self.hi = flat, lo, hi
        self.data, self.grad = flat.data[lo:hi], flat.grad[lo:hi]
        self.buffers: dict[str, np.ndarray] = {}

    @property
    def step(self) -> int:
        return self.flat.step

    def new_buffer(self, name: str, init) -> np.ndarray:
        """State ``name`` for this chunk, set to ``init`` (an array of the chunk's size); the
        first chunk to ask creates the flat buffer."""
        buf = self.flat.buffers.get(name)
        if buf is None:
            buf = self.flat.new_buffer(name)
        view = self.buffers[name] = buf[self.lo:self.hi]
        view[...] = init
        return view

    def tmp(self, i: int) -> np.ndarray:
        return self.flat.tmp(i)[:self.hi - self.lo]


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``step``, ``zero_grad``, state dicts.

    Subclasses set ``defaults`` (hyper-parameter names and default values), validate them in
    ``_validate(group)``, and implement ``_update(group, flat)``.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict[Parameter, dict] = {}
        self._flats: list[list[_Flat] | None] = []
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
        _check_float(self, "lr", group["lr"], low=0.0)

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
                for flat in flats:
                    flat.step += 1
                    for chunk in flat.chunks:
                        self._update(group, chunk)

    def _update(self, group: dict, flat: _Chunk) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

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
        index = {}
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
            converted = {}
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


def _check_float(opt, name: str, value, low: float | None = None, high: float | None = None,
                 high_open: bool = False) -> None:
    """Hyper-parameter check with a message naming the optimizer and the argument."""
    cls = type(opt).__name__
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{cls}: {name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{cls}: {name} must be finite, got {value!r}")
    if low is not None and v < low:
        raise ValueError(f"{cls}: {name} must be >= {low}, got {value!r}")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{cls}: {name} must be {'<' if high_open else '<='} {high}, "
                         f"got {value!r}")


def params_list(params: Iterable[Parameter]) -> list[Parameter]:
    """Flatten an iterable of Parameters or parameter groups to a list of Parameters."""
    out: list[Parameter] = []
    for p in params:
        if isinstance(p, dict):
            out.extend(p["params"])
        else:
            out.append(p)
    return out
