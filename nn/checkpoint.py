"""Training checkpoints: model, optimizer, scheduler, random generators, epoch, History.

One ``.npz`` file in the format of :mod:`nn.serialization` (no pickle, ever):

* every array is a named tensor: ``model/0.weight``, ``optimizer/state/0/exp_avg``,
  ``fit/order``, ...; the optimizer's nested ``{index: {name: array}}`` state is flattened
  to such names;
* everything else (hyper-parameters, scheduler counters, generator states, the epoch,
  the History, callback states, ``extra``) is JSON text in ``__nn_meta__``, where an array
  appears as ``{"__nn__": "array", "name": ...}`` and tuples, non-string dict keys,
  ``Counter``\\ s and non-finite floats have similar tagged forms;
* the metadata records the format version and every tensor's name, shape and dtype.

Loading is all-or-nothing: the file is read and checked completely (version, tensor
table, model keys and shapes, the optimizer's groups and state shapes, the scheduler's and
callbacks' state layout, generator types) before anything is assigned. Any problem raises
:class:`nn.CheckpointError` (a ``ValueError``) naming the file and the problem.
"""

from __future__ import annotations

import math
import os
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ._config import global_rng
from .callbacks import Callback, History
from .layer import Layer
from .serialization import (
    CheckpointError,
    check_model_and_path,
    check_model_state,
    read_npz,
    write_npz,
)

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "model_generators"]

_TAG = "__nn__"


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns besides the restored objects."""

    epoch: int | None
    history: Any  # nn.History or None
    extra: Any


# ---------------------------------------------------------------------- encoding
class _Encoder:
    """Turn nested dicts/lists of arrays and scalars into JSON plus named arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _name(self, path: str) -> str:
        name, i = path, 1
        while name in self.arrays:
            name, i = f"{path}#{i}", i + 1
        return name

    def encode(self, obj: Any, path: str) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {_TAG: "float", "value": repr(obj)}
        if isinstance(obj, (np.ndarray, np.generic)):
            arr = np.asarray(obj)
            if arr.dtype.kind not in "biuf":
                raise CheckpointError(f"save_checkpoint: cannot store an array of dtype "
                                      f"{arr.dtype} at {path!r} (no pickle)")
            name = self._name(path)
            self.arrays[name] = np.array(arr, copy=True)
            return {_TAG: "array" if isinstance(obj, np.ndarray) else "scalar", "name": name}
        if isinstance(obj, Counter):
            return {_TAG: "counter", "items": [[self.encode(k, f"{path}/{k}"),
                                                self.encode(v, f"{path}/{k}")]
                                               for k, v in obj.items()]}
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj) and _TAG not in obj:
                return {k: self.encode(v, f"{path}/{k}") for k, v in obj.items()}
            return {_TAG: "dict", "items": [[self.encode(k, f"{path}/{k}"),
                                             self.encode(v, f"{path}/{k}")]
                                            for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {_TAG: "tuple", "items": [self.encode(v, f"{path}/{i}")
                                             for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{path}/{i}") for i, v in enumerate(obj)]
        raise CheckpointError(f"save_checkpoint: cannot store a {type(obj).__name__} at "
                              f"{path!r}: only arrays, numbers, strings, None, lists, tuples "
                              "and dicts are stored (no pickle)")


def _decode(obj: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if isinstance(obj, list):
        return [_decode(v, arrays, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    tag = obj.get(_TAG)
    if tag is None:
        return {k: _decode(v, arrays, where) for k, v in obj.items()}
    try:
        if tag in ("array", "scalar"):
            arr = arrays[obj["name"]]
            return arr.copy() if tag == "array" else arr[()]
        if tag == "float":
            return float(obj["value"])
        if tag == "tuple":
            return tuple(_decode(v, arrays, where) for v in obj["items"])
        if tag in ("dict", "counter"):
            items = {_decode(k, arrays, where): _decode(v, arrays, where)
                     for k, v in obj["items"]}
            return Counter(items) if tag == "counter" else items
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: malformed entry {obj!r} ({exc})") from exc
    raise CheckpointError(f"{where}: unknown entry type {tag!r}")


# ---------------------------------------------------------------------- generators
def model_generators(model: Layer) -> dict[str, np.random.Generator]:
    """Every ``numpy.random.Generator`` held by a layer of ``model`` other than the global
    one, each once, named ``"<module path>.<attribute>"`` (e.g. ``"2.rng"``)."""
    return {name: gen for name, gen in model.named_generators() if gen is not global_rng()}


def _generator_states(gens: dict[str, np.random.Generator]) -> dict[str, Any]:
    """States of named generators; a generator that is another one (or the global one)
    is stored as ``{"alias": name}``."""
    named = {id(global_rng()): "global"}
    out: dict[str, Any] = {"global": global_rng().bit_generator.state}
    for name, gen in gens.items():
        if id(gen) in named:
            out[name] = {"alias": named[id(gen)]}
        else:
            named[id(gen)] = name
            out[name] = gen.bit_generator.state
    return out


def _check_generators(saved: dict, gens: dict[str, np.random.Generator], path: str,
                      what: str) -> list[tuple[np.random.Generator, dict]]:
    """Validate generator states against ``gens`` (plus the global one); return the
    assignments to make."""
    plan = []
    for name, gen in {"global": global_rng(), **gens}.items():
        if name not in saved:
            raise CheckpointError(f"{what}: {path} has no state for the random generator "
                                  f"{name!r} (it has {sorted(saved)}); was it written for "
                                  "another model?")
        state = saved[name]
        if isinstance(state, dict) and "alias" in state:
            state = saved.get(state["alias"])
        probe = type(gen.bit_generator)()
        try:
            probe.state = state
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{what}: {path}: the state of random generator {name!r} "
                                  f"does not fit its {type(gen.bit_generator).__name__} "
                                  f"bit generator ({exc})") from exc
        plan.append((gen, state))
    return plan


# ---------------------------------------------------------------------- structure checks
def check_structure(saved: Any, current: Any, where: str) -> None:
    """``saved`` must have ``current``'s layout: the same dict keys and list lengths, arrays
    of the same shapes, numbers where numbers are (``None`` matches anything)."""
    if saved is None or current is None:
        return
    if isinstance(current, dict):
        if not isinstance(saved, dict) or set(saved) != set(current):
            got = sorted(map(str, saved)) if isinstance(saved, dict) else type(saved).__name__
            raise CheckpointError(f"{where}: expected keys {sorted(map(str, current))}, "
                                  f"got {got}")
        for k in current:
            check_structure(saved[k], current[k], f"{where}/{k}")
    elif isinstance(current, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(current):
            raise CheckpointError(f"{where}: expected a sequence of length {len(current)}, "
                                  f"got {saved!r}")
        for i, (s, c) in enumerate(zip(saved, current)):
            check_structure(s, c, f"{where}/{i}")
    elif isinstance(current, np.ndarray):
        if not isinstance(saved, np.ndarray) or saved.shape != current.shape:
            raise CheckpointError(f"{where}: expected an array of shape {current.shape}, got "
                                  f"{getattr(saved, 'shape', type(saved).__name__)}")
    elif isinstance(current, (bool, int, float, np.number, np.bool_)):
        if not isinstance(saved, (bool, int, float, np.number, np.bool_)):
            raise CheckpointError(f"{where}: expected a number, got {saved!r}")
    elif isinstance(current, str) and not isinstance(saved, str):
        raise CheckpointError(f"{where}: expected a string, got {saved!r}")


def _check_optimizer(optimizer, section: dict | None, path: str, what: str) -> dict:
    """The class; returns the state, which ``optimizer.load_state_dict`` checks itself: it
    is all-or-nothing and runs before anything else is assigned (see :func:`restore`)."""
    if section is None:
        raise CheckpointError(f"{what}: {path} holds no optimizer state")
    if section.get("class") != type(optimizer).__name__:
        raise CheckpointError(f"{what}: {path} holds {section.get('class')} state, the "
                              f"optimizer is {type(optimizer).__name__}")
    return section["state"]


def _load_optimizer(optimizer, state: dict, path: str, what: str) -> None:
    try:
        optimizer.load_state_dict(state)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{what}: {path}: the optimizer state does not fit "
                              f"{type(optimizer).__name__}: {exc}") from exc


def _check_stateful(obj, section: dict | None, kind: str, path: str, what: str) -> Any:
    """The class and the layout of ``obj``'s saved state; returns that state."""
    if section is None:
        raise CheckpointError(f"{what}: {path} holds no {kind} state")
    if section.get("class") != type(obj).__name__:
        raise CheckpointError(f"{what}: {path} holds {section.get('class')} state for the "
                              f"{kind}, got a {type(obj).__name__}")
    check_structure(section["state"], obj.state_dict(), f"{what}: {path}: {kind} state")
    return section["state"]


# ---------------------------------------------------------------------- writing
def _history_dict(history) -> dict | None:
    if history is None:
        return None
    if not hasattr(history, "history") or not hasattr(history, "epoch"):
        raise TypeError(f"save_checkpoint: history must be an nn.History, got "
                        f"{type(history).__name__}")
    return {"history": {k: list(v) for k, v in history.history.items()},
            "epoch": list(history.epoch)}


def write_checkpoint(model: Layer, path, optimizer=None, scheduler=None, epoch=None,
                     history=None, extra=None, generators=None, fit: dict | None = None) -> str:
    """The writer behind :func:`save_checkpoint` and ``nn.fit(checkpoint=...)``."""
    path = check_model_and_path("nn.save_checkpoint", model, path)
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer))
                              or epoch < 0):
        raise ValueError(f"save_checkpoint: epoch must be a non-negative integer or None, "
                         f"got {epoch!r}")
    gens = {**model_generators(model), **(generators or {})}
    enc = _Encoder()
    meta = {
        "kind": "checkpoint",
        "model": {"class": type(model).__name__,
                  "state": {k: enc.encode(v, f"model/{k}")
                            for k, v in model.state_dict().items()}},
        "optimizer": None if optimizer is None else {
            "class": type(optimizer).__name__,
            "state": enc.encode(optimizer.state_dict(), "optimizer")},
        "scheduler": None if scheduler is None else {
            "class": type(scheduler).__name__,
            "state": enc.encode(scheduler.state_dict(), "scheduler")},
        "rng": enc.encode(_generator_states(gens), "rng"),
        "epoch": None if epoch is None else int(epoch),
        "history": enc.encode(_history_dict(history), "history"),
        "extra": enc.encode(extra, "extra"),
    }
    if fit is not None:
        meta["fit"] = enc.encode(fit, "fit")
    return write_npz(path, enc.arrays, meta)


def save_checkpoint(model: Layer, path: str | os.PathLike, optimizer=None, scheduler=None,
                    epoch: int | None = None, history=None, extra=None) -> str:
    """Write a training checkpoint of ``model`` to ``path`` (exactly that name), atomically.

    Holds ``model.state_dict()`` (parameters and buffers), ``optimizer.state_dict()``,
    ``scheduler.state_dict()``, the state of the global random generator and of every
    other ``numpy.random.Generator`` a layer of ``model`` holds (dropout masks), the
    ``epoch``, the ``history`` (an :class:`nn.History`) and ``extra`` (nested dicts, lists,
    tuples of numbers, strings and arrays). No pickle: arrays are ``.npz`` entries,
    everything else is JSON. The file is written to a temporary file in the same folder,
    fsync'ed and renamed over ``path``: a crash never leaves a half-written checkpoint.
    Returns the path written. The order is ``(model, path)``, as for :func:`nn.save`;
    ``(path, model)`` is a ``TypeError`` that says so.
    """
    return write_checkpoint(model, path, optimizer, scheduler, epoch, history, extra)


# ---------------------------------------------------------------------- reading
def restore(model: Layer, path, optimizer=None, scheduler=None, generators=None,
            restore_rng: bool = True, what: str = "nn.load_checkpoint",
            check: Callable[[dict, dict], Callable[[], None] | None] | None = None
            ) -> tuple[dict, dict]:
    """Validate the whole checkpoint against the given objects, then assign everything.

    ``check(meta, arrays)`` may validate more (``nn.fit``'s own section) and return a
    function that applies it; it runs before anything is assigned. Returns
    ``(meta, arrays)`` with ``meta["fit"]`` decoded.
    """
    path = check_model_and_path(what, model, path)
    arrays, meta = read_npz(path, what)
    if meta.get("kind") != "checkpoint":
        raise CheckpointError(f"{what}: {path} is a model file (nn.save), not a checkpoint; "
                              "load it with nn.load(model, path)")
    where = f"{what}: {path}"
    try:
        model_section = meta["model"]
        state = _decode(model_section["state"], arrays, where)
        opt_section = meta.get("optimizer")
        sched_section = meta.get("scheduler")
        rng_states = _decode(meta["rng"], arrays, where)
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: malformed checkpoint metadata ({exc!r})") from exc
    if opt_section is not None:
        opt_section = {**opt_section, "state": _decode(opt_section["state"], arrays, where)}
    if sched_section is not None:
        sched_section = {**sched_section,
                         "state": _decode(sched_section["state"], arrays, where)}
    # ---- validate everything
    check_model_state(model, state, path, what)
    if optimizer is not None:
        opt_state = _check_optimizer(optimizer, opt_section, path, what)
    if scheduler is not None:
        sched_state = _check_stateful(scheduler, sched_section, "scheduler", path, what)
    gens = {**model_generators(model), **(generators or {})}
    rng_plan = _check_generators(rng_states, gens, path, what) if restore_rng else []
    if "fit" in meta:
        meta = {**meta, "fit": _decode(meta["fit"], arrays, where)}
    meta = {**meta, "extra": _decode(meta.get("extra"), arrays, where),
            "history": _decode(meta.get("history"), arrays, where)}
    apply_more = check(meta, arrays) if check is not None else None
    # ---- assign (nothing above changed any object); the optimizer first: its
    # load_state_dict validates the state and changes nothing when it refuses it
    if optimizer is not None:
        _load_optimizer(optimizer, opt_state, path, what)
    model.load_state_dict(state)
    if scheduler is not None:
        scheduler.load_state_dict(sched_state)
    for gen, gen_state in rng_plan:
        gen.bit_generator.state = gen_state
    if apply_more is not None:
        apply_more()
    return meta, arrays


def history_from(saved: dict | None) -> History | None:
    """The :class:`History` a checkpoint's ``history`` entry describes (``None``: none)."""
    if saved is None:
        return None
    h = History()
    h.history = {k: [float(v) for v in vals] for k, vals in saved["history"].items()}
    h.epoch = [int(e) for e in saved["epoch"]]
    return h


def load_checkpoint(model: Layer, path: str | os.PathLike, optimizer=None, scheduler=None,
                    *, restore_rng: bool = True) -> Checkpoint:
    """Restore a checkpoint written by :func:`save_checkpoint` into the given objects.

    The order is ``(model, path)``, as for :func:`nn.load`; ``(path, model)`` is a
    ``TypeError`` that says so.

    The model's parameters and buffers, the optimizer's and scheduler's state (when
    passed) and, with ``restore_rng``, the global random generator and the model's own
    generators are restored. Returns :class:`Checkpoint` ``(epoch, history, extra)``.

    Raises :class:`nn.CheckpointError` (a ``ValueError``) for a missing, unreadable,
    truncated or corrupt file or a directory, another format version, pickled objects,
    mismatched keys or shapes, an optimizer or scheduler of another class or layout, or
    missing state for an object that was passed. Everything is validated before anything
    is assigned: on an error the model, optimizer, scheduler and generators are unchanged.
    """
    parsed: dict[str, Any] = {}

    def check(meta: dict, arrays: dict) -> None:
        try:
            parsed["history"] = history_from(meta.get("history"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"nn.load_checkpoint: {path}: malformed history ({exc!r})"
                                  ) from exc
        epoch = meta.get("epoch")
        if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
            raise CheckpointError(f"nn.load_checkpoint: {path}: malformed epoch {epoch!r}")

    meta, _ = restore(model, path, optimizer, scheduler, restore_rng=restore_rng, check=check)
    return Checkpoint(meta.get("epoch"), parsed["history"], meta.get("extra"))


# ---------------------------------------------------------------------- fit(checkpoint=...)
_SHUFFLE_GEN = "fit.shuffle"
_RESUME = "nn.fit(resume=True)"


class BackupAndRestore(Callback):
    """``fit(checkpoint=path, resume=..., checkpoint_every=...)`` (Keras's BackupAndRestore).

    Writes a checkpoint to ``path`` (atomically) at the end of every epoch and, with
    ``every``, after every ``every`` batches inside an epoch: what :func:`save_checkpoint`
    stores, plus the History, the user's callbacks' states, fit's shuffling generator and,
    mid-epoch, the epoch's sample order, the batch reached and the running metrics. With
    ``resume`` and an existing file, ``on_train_begin`` restores all of it (all or nothing)
    and tells the trainer where to continue; the run then ends bit-identical to one that
    was never interrupted. ``fit`` puts it after the user's callbacks, whose states it
    restores, and after the History, which it saves.
    """

    def __init__(self, path: str | os.PathLike, resume: bool = False, every: int | None = None,
                 verbose: int = 0):
        self.path, self.resume, self.every, self.verbose = path, resume, every, verbose

    def on_train_begin(self, logs):
        if self.resume and os.path.exists(self.path):
            self._restore()

    def on_batch_end(self, batch, logs):
        if self.every is not None and (batch + 1) % self.every == 0 \
                and batch + 1 < self.trainer.n_batches:
            self._save(self.trainer.epoch, batch + 1)

    def on_batch_skipped(self, batch, logs):
        self.on_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs):
        self._save(epoch + 1, 0)

    def _save(self, epoch: int, batch: int) -> None:
        """A checkpoint to continue from ``batch`` of ``epoch`` (0: its start)."""
        t = self.trainer
        write_checkpoint(
            self.model, self.path, self.optimizer, epoch=epoch, history=t.history,
            generators={_SHUFFLE_GEN: t.rng},
            fit={"epoch": epoch, "batch": batch, "epochs": t.epochs, "n": t.n,
                 "batch_size": t.batch_size, "shuffle": bool(t.shuffle),
                 "order": t.order if batch else None,
                 "metric_state": t.metrics.snapshot() if batch else None,
                 "stopped": bool(t.stop_training),
                 "skipped": [list(b) for b in t.skipped_batches],
                 "callbacks": [{"class": type(cb).__name__, "state": state}
                               for cb in t.callbacks if (state := cb.state_dict()) is not None]})

    def _restore(self) -> None:
        t = self.trainer
        restore(self.model, self.path, self.optimizer, generators={_SHUFFLE_GEN: t.rng},
                what=_RESUME, check=self._check_fit_section)
        if self.verbose:
            print(f"Resumed from {self.path} at epoch {t.start_epoch + 1}, batch "
                  f"{t.start_batch}", file=sys.stderr)

    def _check_fit_section(self, meta: dict, arrays: dict) -> Callable[[], None]:
        """Check what fit saved against this call (data size, batch size, shuffling, the
        stateful callbacks, the History); return the function that applies it."""
        what, path, t = _RESUME, self.path, self.trainer
        f = meta.get("fit")
        if not isinstance(f, dict):
            raise CheckpointError(f"{what}: {path} was not written by nn.fit (it has no "
                                  "training-loop state); use nn.load_checkpoint")
        for key, value in (("n", t.n), ("batch_size", t.batch_size),
                           ("shuffle", bool(t.shuffle))):
            if f.get(key) != value:
                raise CheckpointError(f"{what}: {path} was written with {key}={f.get(key)!r}, "
                                      f"this call has {key}={value!r}")
        order = f.get("order")
        if t.shuffle and f["batch"] and (not isinstance(order, np.ndarray)
                                         or order.shape != (t.n,)):
            raise CheckpointError(f"{what}: {path} has no valid sample order for epoch "
                                  f"{f['epoch']}")
        saved_cbs = f.get("callbacks", [])
        stateful = [cb for cb in t.callbacks if cb.state_dict() is not None]
        if [c["class"] for c in saved_cbs] != [type(cb).__name__ for cb in stateful]:
            raise CheckpointError(
                f"{what}: {path} holds the state of the callbacks "
                f"{[c['class'] for c in saved_cbs]}, this call has the stateful callbacks "
                f"{[type(cb).__name__ for cb in stateful]}")
        for i, (cb, saved) in enumerate(zip(stateful, saved_cbs)):
            check_structure(saved["state"], cb.state_dict(), f"{what}: {path}: callback {i}")
        try:
            saved_history = history_from(meta.get("history"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{what}: {path}: malformed history ({exc!r})") from exc

        def apply() -> None:
            for cb, saved in zip(stateful, saved_cbs):
                cb.load_state_dict(saved["state"])
            if saved_history is not None:
                t.history.history, t.history.epoch = saved_history.history, saved_history.epoch
            t.stop_training = bool(f.get("stopped", False))
            t.skipped_batches = [tuple(b) for b in f.get("skipped", [])]
            t.resume_at(int(f["epoch"]), int(f["batch"]), f.get("order"), f.get("metric_state"))

        return apply
