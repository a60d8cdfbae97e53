"""Learning-rate schedules, with PyTorch's semantics (``torch.optim.lr_scheduler``).

A scheduler changes ``group["lr"]`` of every parameter group of an optimizer. Call
``sched.step()`` once per epoch (after the epoch's ``optimizer.step()`` calls), or pass
``nn.LearningRateScheduler(sched)`` to ``nn.fit``, which does exactly that at the end of
every epoch. ``ReduceLROnPlateau`` is stepped with a metric: ``sched.step(val_loss)``.

Conventions shared by every scheduler (PyTorch's):

* ``last_epoch`` (e) counts the calls to ``step()``. Construction performs the first step,
  from ``last_epoch = -1`` to ``0``, so the learning rate in force during the first epoch
  is the schedule's value at e = 0.
* ``base_lrs``: the learning rates the schedule scales, one per group, taken from
  ``group["initial_lr"]``; a fresh scheduler (``last_epoch=-1``) stores the group's current
  ``lr`` there first (unless a previous scheduler already did). Passing ``last_epoch=k``
  resumes a schedule and requires ``initial_lr`` in every group.
* ``get_last_lr()`` is the list of the groups' learning rates after the last step.
* ``state_dict()`` holds every attribute except the optimizer; ``load_state_dict``
  restores them. To resume: build the optimizer and scheduler, then load the optimizer's
  state, then the scheduler's (building a scheduler writes the learning rates).
* The step rules are PyTorch's *recursive* (chainable) forms: each step multiplies the
  group's current ``lr``, so two schedulers on one optimizer compose. Their closed forms,
  which the recursive forms equal up to rounding, are given in each docstring
  (``η₀`` = base lr, ``e`` = last_epoch) and in docs/math/optimizers.md.
"""

from __future__ import annotations

import copy
import math
import numbers
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LambdaLR", "LinearLR", "SequentialLR", "ReduceLROnPlateau"]


# ---------------------------------------------------------------------- argument checks
def _number(sched, name: str, value, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> float:
    cls = type(sched).__name__
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{cls}: {name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{cls}: {name} must be finite, got {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{cls}: {name} must be {'>' if low_open else '>='} {low}, "
                         f"got {value!r}")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{cls}: {name} must be {'<' if high_open else '<='} {high}, "
                         f"got {value!r}")
    return v


def _integer(sched, name: str, value, low: int) -> int:
    cls = type(sched).__name__
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{cls}: {name} must be an integer, got {value!r}")
    v = int(value)
    if v < low:
        raise ValueError(f"{cls}: {name} must be >= {low}, got {value!r}")
    return v


# ---------------------------------------------------------------------- base class
class LRScheduler:
    """Base class: ``step``, ``get_last_lr``, ``state_dict``, ``base_lrs``, ``last_epoch``.

    A subclass implements ``get_lr()``: the groups' learning rates at ``last_epoch``
    (already advanced by ``step``), usually from the groups' current rates. It may also
    implement ``_closed_form()``, the same rates computed from ``base_lrs`` directly, which
    :class:`SequentialLR` uses to restart a schedule at a milestone.

    Parameters
    ----------
    optimizer : optim.Optimizer
    last_epoch : int, default -1
        -1 starts the schedule; k >= 0 resumes it after epoch k (needs ``initial_lr`` in
        every group, as left there by the scheduler being resumed).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        last_epoch = _integer(self, "last_epoch", last_epoch, low=-1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: resuming with last_epoch="
                                   f"{last_epoch} needs 'initial_lr' in param_groups[{i}] "
                                   "(load the optimizer's saved state first)")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The step performed at construction: e goes from -1 to 0 (or k to k + 1)."""
        self._step_count = 0
        self._initial = True
        try:
            self.step()
        finally:
            self._initial = False

    def get_lr(self) -> list[float]:  # pragma: no cover - abstract
        """The groups' learning rates at ``last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance the schedule by one epoch and write the new rates into the groups."""
        self._step_count += 1
        self.last_epoch += 1
        self._set_lrs(self.get_lr())

    def _update_lr(self, epoch: int) -> None:
        """Jump to ``epoch`` through the closed form (used at SequentialLR's milestones)."""
        self.last_epoch = epoch
        closed = getattr(self, "_closed_form", None)
        self._set_lrs(closed() if closed is not None else self.get_lr())

    def _set_lrs(self, values: Sequence[float]) -> None:
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(f"{type(self).__name__}: {len(values)} learning rates for "
                             f"{len(groups)} parameter groups (was a group added?)")
        for group, lr in zip(groups, values):
            group["lr"] = float(lr)
        self._last_lr = [group["lr"] for group in groups]

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group after the last ``step`` (a new list)."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Every attribute but the optimizer (copied: later steps do not change it)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore attributes saved by :meth:`state_dict`."""
        self.__dict__.update(copy.deepcopy(state_dict))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(last_epoch={self.last_epoch}, "
                f"lr={self.get_last_lr()})")


# ---------------------------------------------------------------------- step schedules
class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Closed form: ``lr = η₀ γ^⌊e / step_size⌋``. Recursive form: at every e > 0 that is a
    multiple of ``step_size``, ``lr ← γ lr``.

    Parameters
    ----------
    optimizer : optim.Optimizer
    step_size : int >= 1
    gamma : float > 0, default 0.1
    last_epoch : int, default -1
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size = _integer(self, "step_size", step_size, low=1)
        self.gamma = _number(self, "gamma", gamma, low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each milestone epoch.

    Closed form: ``lr = η₀ γ^(number of milestones <= e)``. A milestone listed twice
    multiplies by γ² at that epoch (PyTorch counts repeats the same way).

    Parameters
    ----------
    optimizer : optim.Optimizer
    milestones : iterable of int >= 0
    gamma : float > 0, default 0.1
    last_epoch : int, default -1
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1):
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError(f"MultiStepLR: milestones must be an iterable of ints, got "
                            f"{milestones!r}")
        self.milestones = Counter(_integer(self, "milestones", m, low=0) for m in milestones)
        self.gamma = _number(self, "gamma", gamma, low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._group_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._group_lrs()]

    def _closed_form(self) -> list[float]:
        n = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** n for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch.

    Closed form: ``lr = η₀ γ^e``.

    Parameters
    ----------
    optimizer : optim.Optimizer
    gamma : float > 0
    last_epoch : int, default -1
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _number(self, "gamma", gamma, low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the base rate down to ``eta_min`` over ``T_max`` epochs.

    Closed form: ``lr = η_min + (η₀ - η_min) (1 + cos(π e / T_max)) / 2``; past ``T_max``
    it keeps following the cosine (back up to η₀ at e = 2 T_max), as PyTorch's does. No
    warm restarts.

    Recursive form (PyTorch's), from the previous rate::

        lr ← η_min + (lr - η_min) (1 + cos(π e / T_max)) / (1 + cos(π (e - 1) / T_max))
        lr ← lr + (η₀ - η_min)(1 - cos(π / T_max)) / 2     when (e - 1 - T_max) % 2T_max = 0

    (the second line is the step after a minimum, where the ratio would be 0/0).

    Parameters
    ----------
    optimizer : optim.Optimizer
    T_max : int >= 1
    eta_min : float >= 0, default 0
    last_epoch : int, default -1
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        self.T_max = _integer(self, "T_max", T_max, low=1)
        self.eta_min = _number(self, "eta_min", eta_min, low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        e, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return self._group_lrs()
        if (e - 1 - T) % (2 * T) == 0:
            rise = (1.0 - math.cos(math.pi / T)) / 2.0
            return [lr + (base - eta_min) * rise
                    for lr, base in zip(self._group_lrs(), self.base_lrs)]
        ratio = (1.0 + math.cos(math.pi * e / T)) / (1.0 + math.cos(math.pi * (e - 1) / T))
        return [ratio * (lr - eta_min) + eta_min for lr in self._group_lrs()]

    def _closed_form(self) -> list[float]:
        c = (1.0 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2.0
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """``lr = η₀ · lr_lambda(e)``: any schedule written as a function of the epoch.

    Parameters
    ----------
    optimizer : optim.Optimizer
    lr_lambda : callable ``f(epoch) -> factor``, or a list of them, one per group
    last_epoch : int, default -1

    Notes
    -----
    ``state_dict`` cannot hold a plain function or lambda; it stores ``None`` in its place,
    and the ``__dict__`` of a callable *object* (whose attributes are then restored), as
    PyTorch does. Rebuild the scheduler with the same functions before loading.
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"LambdaLR: expected an optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambda functions (one per "
                                 f"parameter group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {fn!r}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:
        state = {k: copy.deepcopy(v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType)
                               else copy.deepcopy(fn.__dict__) for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = {k: copy.deepcopy(v) for k, v in state_dict.items() if k != "lr_lambdas"}
        self.__dict__.update(state)
        for fn, saved in zip(self.lr_lambdas, state_dict.get("lr_lambdas", ())):
            if saved is not None:
                fn.__dict__.update(copy.deepcopy(saved))


class LinearLR(LRScheduler):
    """Linear warm-up (or decay): the factor goes from ``start_factor`` to ``end_factor``
    in ``total_iters`` steps, then stays.

    Closed form: ``lr = η₀ (s + (f - s) min(e, total_iters) / total_iters)`` with
    s = start_factor, f = end_factor. Recursive form (PyTorch's): at e = 0,
    ``lr ← s lr``; for 0 < e <= total_iters,
    ``lr ← lr (1 + (f - s) / (total_iters s + (e - 1)(f - s)))``.

    Warm-up from 1 % to the full rate over 5 epochs:
    ``LinearLR(opt, start_factor=0.01, total_iters=5)``; to warm up and then decay, chain
    it with another schedule in :class:`SequentialLR`.

    Parameters
    ----------
    optimizer : optim.Optimizer
    start_factor : float in (0, 1], default 1/3
    end_factor : float in [0, 1], default 1
    total_iters : int >= 1, default 5
    last_epoch : int, default -1
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        self.start_factor = _number(self, "start_factor", start_factor, low=0.0, high=1.0,
                                    low_open=True)
        self.end_factor = _number(self, "end_factor", end_factor, low=0.0, high=1.0)
        self.total_iters = _integer(self, "total_iters", total_iters, low=1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        s, f, n, e = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        if e == 0:
            return [lr * s for lr in self._group_lrs()]
        if self._initial or e > n:
            return self._group_lrs()
        factor = 1.0 + (f - s) / (n * s + (e - 1) * (f - s))
        return [lr * factor for lr in self._group_lrs()]

    def _closed_form(self) -> list[float]:
        s, f, n = self.start_factor, self.end_factor, self.total_iters
        factor = s + (f - s) * min(n, self.last_epoch) / n
        return [base * factor for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run schedulers one after another: ``schedulers[i]`` from ``milestones[i - 1]`` on.

    At a milestone the next scheduler restarts from its epoch 0 (its closed form at
    e = 0, i.e. from the base rates). Typical use, a warm-up then a cosine decay::

        warm = LinearLR(opt, start_factor=0.01, total_iters=5)
        cos = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warm, cos], milestones=[5])

    Parameters
    ----------
    optimizer : optim.Optimizer
        The optimizer of every scheduler in the list.
    schedulers : list of LRScheduler (not ReduceLROnPlateau)
    milestones : list of int, one fewer than the schedulers, increasing
    last_epoch : int, default -1
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"SequentialLR: expected an optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        for name, value in (("schedulers", schedulers), ("milestones", milestones)):
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise TypeError(f"SequentialLR: {name} must be a list, got {value!r}")
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("SequentialLR: expects at least one scheduler")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau) or not isinstance(s, LRScheduler):
                raise TypeError(f"SequentialLR: schedulers[{i}] must be a scheduler stepped "
                                f"without a metric, got {type(s).__name__}")
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] belongs to another optimizer")
        milestones = [_integer(self, "milestones", m, low=0) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need "
                             f"{len(schedulers) - 1} milestones, got {len(milestones)}")
        if milestones != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must be increasing, got {milestones}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.optimizer = optimizer
        self.last_epoch = _integer(self, "last_epoch", last_epoch, low=-1) + 1
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in schedulers:  # undo the step each scheduler took when it was built
            s.last_epoch -= 1
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            sched._update_lr(0)
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def state_dict(self) -> dict:
        state = {k: copy.deepcopy(v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update({k: copy.deepcopy(v) for k, v in state_dict.items()
                              if k != "_schedulers"})
        for s, saved in zip(self._schedulers, state_dict["_schedulers"]):
            s.load_state_dict(saved)


# ---------------------------------------------------------------------- metric-driven
class ReduceLROnPlateau(LRScheduler):
    """Divide the learning rate when a monitored metric stops improving.

    ``step(metric)`` once per epoch. With ``mode="min"`` (a loss) the metric *improves*
    when ``metric < best (1 - threshold)`` (``threshold_mode="rel"``) or
    ``metric < best - threshold`` (``"abs"``); with ``mode="max"`` (an accuracy), when
    ``metric > best (1 + threshold)`` or ``metric > best + threshold``. After more than
    ``patience`` epochs in a row without improvement, each group's rate becomes
    ``max(lr · factor, min_lr)`` (skipped when that changes it by ``eps`` or less), and
    the next ``cooldown`` epochs do not count as bad. PyTorch's algorithm exactly.

    From ``nn.fit``: ``nn.LearningRateScheduler(sched, monitor="val_loss")``.

    Parameters
    ----------
    optimizer : optim.Optimizer
    mode : "min" or "max", default "min"
    factor : float in [0, 1), default 0.1
    patience : int >= 0, default 10
    threshold : float >= 0, default 1e-4
    threshold_mode : "rel" or "abs", default "rel"
    cooldown : int >= 0, default 0
    min_lr : float >= 0 or a list of them (one per group), default 0
    eps : float >= 0, default 1e-8
    """

    needs_metric = True  # nn.LearningRateScheduler passes a logged metric to step()

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: expected an optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = _number(self, "factor", factor, low=0.0, high=1.0, high_open=True)
        self.patience = _integer(self, "patience", patience, low=0)
        self.threshold = _number(self, "threshold", threshold, low=0.0)
        self.cooldown = _integer(self, "cooldown", cooldown, low=0)
        self.eps = _number(self, "eps", eps, low=0.0)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"ReduceLROnPlateau: expected {n} min_lr values (one per "
                                 f"parameter group), got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = [_number(self, "min_lr", m, low=0.0) for m in min_lr]
        else:
            self.default_min_lr = _number(self, "min_lr", min_lr, low=0.0)
            self.min_lrs = [self.default_min_lr] * n
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._step_count = 0
        self._last_lr = self._group_lrs()
        self.best = self.mode_worse
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return current < best * (1.0 - self.threshold)
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (self.threshold + 1.0)
        return current > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """Record this epoch's value of the monitored metric; reduce the rates if due."""
        current = float(metrics)
        self._step_count += 1
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cool-down do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._group_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer now has {len(groups)} "
                                   f"parameter groups, min_lr has {len(self.min_lrs)} values")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new
