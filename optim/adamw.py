"""AdamW, PyTorch's algorithm: Adam with decoupled weight decay."""

from __future__ import annotations

import numpy as np

from .adam import Adam


class AdamW(Adam):
    r"""AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay (Loshchilov & Hutter).

    For each parameter p with gradient g, at step t (λ = weight_decay)::

        p = p (1 - lr λ)
        then Adam's update (optim/adam.py) with no λ p added to g

    ``weight_decay`` defaults to 1e-2; with λ = 0 it equals Adam bit for bit.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)

    def update(self, p: np.ndarray, g: np.ndarray, state: dict, t: int, *, lr: float,
               betas: tuple[float, float], eps: float, weight_decay: float,
               amsgrad: bool) -> None:
        if weight_decay:
            p *= 1 - lr * weight_decay                               # p = p (1 - lr λ)
        super().update(p, g, state, t, lr=lr, betas=betas, eps=eps, weight_decay=0.0,
                       amsgrad=amsgrad)

    def update_fast(self, p: np.ndarray, g: np.ndarray, state: dict, t: int, *, lr: float,
                    betas: tuple[float, float], eps: float, weight_decay: float,
                    amsgrad: bool) -> None:
        """:meth:`update` with Adam's fast form (same bits)."""
        if weight_decay:
            p *= 1 - lr * weight_decay
        super().update_fast(p, g, state, t, lr=lr, betas=betas, eps=eps, weight_decay=0.0,
                            amsgrad=amsgrad)
