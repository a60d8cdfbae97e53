"""Adagrad, PyTorch's algorithm: per-coordinate steps scaled by the accumulated g²."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _check_float, axpy


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
        _check_float(self, "lr_decay", group["lr_decay"], low=0.0)
        _check_float(self, "weight_decay", group["weight_decay"], low=0.0)
        _check_float(self, "initial_accumulator_value", group["initial_accumulator_value"],
                     low=0.0)
        _check_float(self, "eps", group["eps"], low=0.0)

    def _update(self, group, flat):
        lr, wd, eps = float(group["lr"]), float(group["weight_decay"]), float(group["eps"])
        clr = lr / (1.0 + (flat.step - 1) * float(group["lr_decay"]))
        p, g = flat.data, flat.grad
        acc = flat.buffers.get("sum")
        if acc is None:
            acc = flat.new_buffer(
                "sum", np.full_like(p, float(group["initial_accumulator_value"])))
        if wd:
            g = np.add(g, np.multiply(p, wd, out=flat.tmp(0)), out=flat.tmp(0))  # g + λ p
        s, d = flat.tmp(1), flat.tmp(2)
        acc += np.multiply(g, g, out=s)                        # s = s + g g
        np.sqrt(acc, out=d)                                    # d = √s + ε
        d += eps
        axpy(-clr, np.divide(g, d, out=d), p, s)               # p = p - clr g / d
