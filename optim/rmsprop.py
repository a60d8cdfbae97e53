"""RMSprop, PyTorch's algorithm: plain or centered, with optional momentum and L2 decay."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, lerp


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

    Notes
    -----
    The positional order is the API contract's (lr, alpha, eps, momentum), not PyTorch's
    (which puts weight_decay before momentum): the extras are keyword-only.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, *, weight_decay: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        self._check_float("alpha", group["alpha"], low=0.0, high=1.0, high_open=True)
        self._check_float("eps", group["eps"], low=0.0)
        self._check_float("weight_decay", group["weight_decay"], low=0.0)
        self._check_float("momentum", group["momentum"], low=0.0)

    def update(self, p: np.ndarray, g: np.ndarray, state: dict, t: int, *, lr: float,
               alpha: float, eps: float, weight_decay: float, momentum: float,
               centered: bool) -> None:
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(p)
        if weight_decay:
            g = g + weight_decay * p
        v = state["square_avg"]
        v[...] = alpha * v + (1 - alpha) * (g * g)                   # v = α v + (1 - α) g²
        if centered:
            if "grad_avg" not in state:
                state["grad_avg"] = np.zeros_like(p)
            g_bar = state["grad_avg"]
            g_bar[...] = lerp(g_bar, g, 1 - alpha)                   # ḡ = ḡ + (1 - α)(g - ḡ)
            d = np.sqrt(np.maximum(v - g_bar * g_bar, 0)) + eps      # d = √max(v - ḡ², 0) + ε
        else:
            d = np.sqrt(v) + eps                                     # d = √v + ε
        if momentum > 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(p)
            b = state["momentum_buffer"]
            b[...] = momentum * b + g / d                            # b = μ b + g / d
            p -= lr * b                                              # p = p - lr b
        else:
            p -= lr * (g / d)                                        # p = p - lr g / d
