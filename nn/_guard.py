"""The non-finite guard of ``nn.fit`` (``on_nonfinite="raise"`` or ``"skip_batch"``).

A collaborator of the loop rather than a callback: it acts between ``backward`` and
``optimizer.step()``, where no callback hook runs. Per batch, on the normal path, it costs
``math.isfinite(loss)``, one ``np.isfinite(g).all()`` per gradient buffer, a copy of the
(small) floating buffers and the states of the random generators. Only after a detection
does it re-run the batch layer by layer to name the first non-finite value.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ._config import global_rng
from .callbacks import Trainer
from .layer import Layer
from .layers.container import Sequential
from .losses import Loss


class NonFiniteError(FloatingPointError):
    """``nn.fit`` met a NaN or infinite loss or gradient (or a floating-point error).

    A ``FloatingPointError`` (hence an ``ArithmeticError``), like the errors NumPy raises
    under ``np.errstate(all="raise")``. Attributes: ``epoch`` and ``batch`` (0-based),
    ``layer`` (the dotted name of the first layer whose output or gradient went non-finite,
    ``None`` when it is the input data or the loss), ``where`` (``"input"``, ``"output"``,
    ``"loss"``, ``"loss gradient"``, ``"parameter gradient"``, ``"input gradient"`` or
    ``"unknown"``). The model keeps the weights it had before the failing batch.
    """

    def __init__(self, message: str, *, epoch: int, batch: int, layer: str | None = None,
                 where: str = "unknown"):
        super().__init__(message)
        self.epoch, self.batch, self.layer, self.where = epoch, batch, layer, where


class NonFiniteGuard:
    """Checks each batch before the optimizer step; raises or skips on a non-finite value.

    In ``fit``: :meth:`before_batch` (what a retry needs), the step's forward and
    backward, then :meth:`passed`; when it is False, :meth:`reject` names the first
    non-finite value and raises :class:`NonFiniteError` (``"raise"``), or warns, records
    the batch in ``trainer.skipped_batches`` and puts the buffers back (``"skip_batch"``).
    """

    def __init__(self, model: Layer, loss_fn: Loss, trainer: Trainer,
                 on_nonfinite: str = "raise"):
        self.model, self.loss_fn, self.trainer = model, loss_fn, trainer
        self.on_nonfinite = on_nonfinite
        self.params = [p for p in model.parameters() if p.requires_grad]
        self._plan: list[np.ndarray] = []        # the arrays grads_finite checks
        self._plan_grads: list[np.ndarray] = []  # the gradients the plan was made for
        self.buffer_names = {name for name, b in model.named_buffers() if b.dtype.kind == "f"}
        self.gens = [g for _, g in model.named_generators() if g is not global_rng()]
        self.gens.append(global_rng())
        self._buffers: dict[str, np.ndarray] = {}
        self._states: list[Any] = []

    def before_batch(self) -> None:
        """Copy the floating buffers and the generators' states (a re-run replays them)."""
        if self.buffer_names:
            self._buffers = {name: b.copy() for name, b in self.model.named_buffers()
                             if name in self.buffer_names}
        self._states = [g.bit_generator.state for g in self.gens]

    def passed(self, loss: float, error: FloatingPointError | None) -> bool:
        """No floating-point error, a finite loss and finite gradients."""
        return error is None and math.isfinite(loss) and self.grads_finite()

    def reject(self, xb, yb, rows, loss: float, error: FloatingPointError | None) -> None:
        """Name the first non-finite value, then raise or warn and skip the batch."""
        epoch, batch = self.trainer.epoch, self.trainer.batch
        where, layer, text = self.locate(xb, yb, rows)
        what = (f"floating-point error ({error})" if error is not None
                else f"non-finite loss ({loss})" if not math.isfinite(loss)
                else "non-finite gradient")
        message = (f"nn.fit: {what} in epoch {epoch}, batch {batch} (0-based): first "
                   f"non-finite value: {text}")
        if self.on_nonfinite == "raise":
            raise NonFiniteError(message + "; the model keeps its weights from before this "
                                 "batch", epoch=epoch, batch=batch, layer=layer,
                                 where=where) from error
        self.trainer.skipped_batches.append((epoch, batch))
        warnings.warn(message + "; batch skipped", RuntimeWarning, stacklevel=3)

    def grads_finite(self) -> bool:
        """All trainable gradients finite? One ``np.isfinite(...).all()`` per contiguous
        buffer: the optimizer packs the gradients into flat buffers, and a buffer whose
        every element is some parameter's gradient is checked in one pass."""
        # grad_view applies a deferred zero fill, so the memory holds the zeros
        fresh = len(self._plan_grads) != len(self.params) or any(
            p.grad_view() is not g for p, g in zip(self.params, self._plan_grads))
        if fresh:
            grads = [p.grad_view() for p in self.params]
            self._plan, self._plan_grads = _check_plan(grads), grads
        return all(np.isfinite(a).all() for a in self._plan)

    def locate(self, xb, yb, rows) -> tuple[str, str | None, str]:
        """Re-run the batch layer by layer with the same random draws; return
        ``(where, layer name, description)``, then put the model's buffers and the
        generators back as they were before this batch / after its draws."""
        after = [g.bit_generator.state for g in self.gens]
        try:
            for g, state in zip(self.gens, self._states):
                g.bit_generator.state = state
            return self._locate(xb, yb, rows)
        except Exception as exc:  # the diagnosis must never hide the original problem
            return "unknown", None, f"(re-running the batch raised {type(exc).__name__}: {exc})"
        finally:
            if self._buffers:
                self.model.load_state_dict(self._buffers, strict=False)
            for g, state in zip(self.gens, after):
                g.bit_generator.state = state
            self.model.zero_grad()

    def _locate(self, xb, yb, rows):
        if not _finite(xb):
            bad = ~np.isfinite(xb.reshape(len(xb), -1)).all(axis=1)
            where = np.asarray(rows)[bad] if not isinstance(rows, slice) else \
                np.arange(rows.start, rows.stop)[bad]
            return "input", None, (f"the input batch x contains NaN or inf (dataset rows "
                                   f"{where[:5].tolist()}{' ...' if len(where) > 5 else ''})")
        units = list(_units(self.model))
        a = xb
        for name, layer in units:
            try:
                a = layer.forward(a)
            except FloatingPointError as exc:
                return "output", name, f"the forward pass of {_describe(name, layer)} raised " \
                                       f"FloatingPointError ({exc})"
            if not _finite(a):
                return "output", name, f"the output of {_describe(name, layer)} is non-finite " \
                                       "(its input was finite)"
        loss_name = type(self.loss_fn).__name__
        try:
            loss = self.loss_fn(a, yb)
        except FloatingPointError as exc:
            return "loss", None, f"{loss_name} raised FloatingPointError ({exc})"
        if not math.isfinite(loss):
            return "loss", None, f"{loss_name} is {loss} although the model's output is finite"
        self.model.zero_grad()
        g = self.loss_fn.backward()
        if not _finite(g):
            return "loss gradient", None, f"the gradient of {loss_name} is non-finite"
        for name, layer in reversed(units):
            if g is None:
                break
            try:
                g = layer.backward(g)
            except FloatingPointError as exc:
                return "input gradient", name, f"the backward pass of {_describe(name, layer)} " \
                                               f"raised FloatingPointError ({exc})"
            for pname, p in layer.named_parameters():
                if p.requires_grad and not _finite(p.grad_view()):
                    full = f"{name}.{pname}" if name else pname
                    return "parameter gradient", name, (f"the gradient of parameter {full!r} of "
                                                        f"{_describe(name, layer)} is non-finite")
            if not _finite(g):
                return "input gradient", name, f"the input gradient returned by " \
                                               f"{_describe(name, layer)} is non-finite"
        return "unknown", None, "the non-finite value did not reappear when the batch was re-run " \
                                "layer by layer"


def _check_plan(grads: list[np.ndarray]) -> list[np.ndarray]:
    """The arrays to check: a flat buffer whose every element is some gradient in
    ``grads``, once, instead of its pieces; any other gradient as it is."""
    by_owner: dict[int, list[np.ndarray]] = {}
    owners: dict[int, np.ndarray] = {}
    for g in grads:
        base = g.base
        if isinstance(base, np.ndarray) and base.ndim == 1 and base.flags.c_contiguous:
            by_owner.setdefault(id(base), []).append(g)
            owners[id(base)] = base
        else:
            by_owner.setdefault(id(g), []).append(g)
            owners[id(g)] = g
    plan = []
    for key, members in by_owner.items():
        owner = owners[key]
        if owner is not members[0] and sum(g.size for g in members) == owner.size:
            plan.append(owner)   # the parameters' gradients tile the buffer
        else:
            plan.extend(members)
    return plan


def _finite(a) -> bool:
    return not isinstance(a, np.ndarray) or a.dtype.kind not in "fc" or bool(np.isfinite(a).all())


def _units(model: Layer, prefix: str = ""):
    """``(dotted name, layer)`` for the chain of layers ``model`` applies in order: the
    leaves of (nested) Sequentials, or the model itself when it is not a Sequential."""
    if isinstance(model, Sequential):
        for i, layer in enumerate(model):
            yield from _units(layer, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, model


def _describe(name: str, layer: Layer) -> str:
    return f"layer {name!r} ({layer.label()})" if name else f"the model ({layer.label()})"
