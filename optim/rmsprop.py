"""RMSprop, PyTorch's algorithm: plain or centered, with optional momentum and L2 decay."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _check_float, axpy, lerp


class RMSprop(Optimizer):
    r"""RMSprop (``torch.optim.RMSprop``).

    For each parameter p with gradient g, at every step (α = alpha, μ = momentum,
    λ = weight_decay; v, ḡ and b start at zero)::

        g = g + λ p                                   (if λ != 0; L2, coupled)
        v = α v + (1 - α) g²                          (running mean of g²)
        ḡ = ḡ + (1 - α)(g - ḡ)                        (centered only: running mean of g)
        d = √v + ε          or, centered,  d = √max(v - ḡ², 0) + ε
        b = μ b + g / d;   p = p - lr b               (if μ > 0)
        p = p - lr g / d                              (if μ = 0)

    ε is added *outside* the square root, as in PyTorch (some libraries add it inside,
    √(v + ε), which gives a slightly different trajectory).
    Centered RMSprop divides by an estimate of the gradient's standard deviation instead
    of its root mean square. v - ḡ² is a weighted variance, never negative in exact
    arithmetic; the ``max(·, 0)`` only guards against rounding (PyTorch would give NaN
    there and is otherwise identical).

    State per parameter: ``square_avg`` (v), ``grad_avg`` (ḡ) when centered,
    ``momentum_buffer`` (b) when μ > 0, and ``step``.

    Parameters
    ----------
    params : iterable of Parameters or of parameter groups (dicts)
    lr : float, default 1e-2
    alpha : float in [0, 1), default 0.99
        Smoothing constant of the running averages.
    eps : float >= 0, default 1e-8
    momentum : float >= 0, default 0
    weight_decay : float >= 0, default 0 (keyword-only)
    centered : bool, default False (keyword-only)

    The positional order is the API contract's (lr, alpha, eps, momentum), not PyTorch's
    (which puts weight_decay before momentum): the extras are keyword-only.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, *, weight_decay: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        _check_float(self, "alpha", group["alpha"], low=0.0, high=1.0, high_open=True)
        _check_float(self, "eps", group["eps"], low=0.0)
        _check_float(self, "weight_decay", group["weight_decay"], low=0.0)
        _check_float(self, "momentum", group["momentum"], low=0.0)

    def _update(self, group, flat):
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        wd, mu = float(group["weight_decay"]), float(group["momentum"])
        p, g = flat.data, flat.grad
        v = flat.buffers.get("square_avg")
        if v is None:
            v = flat.new_buffer("square_avg", np.zeros_like(p))
        if wd:
            g = np.add(g, np.multiply(p, wd, out=flat.tmp(0)), out=flat.tmp(0))  # g + λ p
        s, d = flat.tmp(1), flat.tmp(2)
        # v = α v + (1 - α) g g
        v *= alpha
        axpy(1.0 - alpha, np.multiply(g, g, out=s), v, s)
        if group["centered"]:
            gbar = flat.buffers.get("grad_avg")
            if gbar is None:
                gbar = flat.new_buffer("grad_avg", np.zeros_like(p))
            lerp(gbar, g, 1.0 - alpha, s)                      # ḡ = ḡ + (1 - α)(g - ḡ)
            # d = √max(v - ḡ², 0) + ε
            np.subtract(v, np.multiply(gbar, gbar, out=d), out=d)
            np.maximum(d, 0.0, out=d)
            np.sqrt(d, out=d)
        else:
            np.sqrt(v, out=d)                                  # d = √v + ε
        d += eps
        q = np.divide(g, d, out=d)                             # g / d
        if mu > 0:
            b = flat.buffers.get("momentum_buffer")
            if b is None:
                b = flat.new_buffer("momentum_buffer", np.zeros_like(p))
            b *= mu                                            # b = μ b + g / d
            b += q
            q = b
        axpy(-lr, q, p, s)                                     # p = p - lr q
