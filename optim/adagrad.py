"""Adagrad, PyTorch's algorithm: per-coordinate steps scaled by the accumulated g²."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


class Adagrad(Optimizer):
    r"""Adagrad (``torch.optim.Adagrad``).

    For each parameter p with gradient g, at step t = 1, 2, ... (λ = weight_decay,
    s starts at ``initial_accumulator_value``)::

        g   = g + λ p                                 (if λ != 0; L2, coupled)
        clr = lr / (1 + (t - 1) lr_decay)
        s   = s + g²
        p   = p - clr g / (√s + ε)

    Each coordinate's step shrinks as its squared gradients accumulate: coordinates with
    large or frequent gradients take small steps, rare ones keep large steps. ε is added
    outside the square root, as in PyTorch.

    State per parameter: ``sum`` (s) and ``step`` (t).

    Parameters
    ----------
    params : iterable of Parameters or of parameter groups (dicts)
    lr : float, default 1e-2
    eps : float >= 0, default 1e-10
    lr_decay : float >= 0, default 0 (keyword-only)
    weight_decay : float >= 0, default 0 (keyword-only)
    initial_accumulator_value : float >= 0, default 0 (keyword-only)

    Notes
    -----
    The positional order is the API contract's (lr, eps), not PyTorch's (which puts
    lr_decay, weight_decay and initial_accumulator_value before eps).
    """

    def __init__(self, params, lr: float = 1e-2, eps: float = 1e-10, *, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps))

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        self._check_float("lr_decay", group["lr_decay"], low=0.0)
        self._check_float("weight_decay", group["weight_decay"], low=0.0)
        self._check_float("initial_accumulator_value", group["initial_accumulator_value"],
                          low=0.0)
        self._check_float("eps", group["eps"], low=0.0)

    def update(self, p: np.ndarray, g: np.ndarray, state: dict, t: int, *, lr: float,
               lr_decay: float, weight_decay: float, initial_accumulator_value: float,
               eps: float) -> None:
        if "sum" not in state:
            state["sum"] = np.full_like(p, initial_accumulator_value)
        if weight_decay:
            g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = state["sum"]
        s += g * g                                                   # s = s + g²
        p -= clr * (g / (np.sqrt(s) + eps))                          # p = p - clr g / (√s + ε)
