"""Gradient clipping."""

from __future__ import annotations

import math

import numpy as np

from .optimizer import params_list


def clip_grad_norm(params, max_norm: float, eps: float = 1e-6) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    total = sqrt(sum_p ||g_p||²);  if total > max_norm: g_p *= max_norm / (total + eps).
    Returns ``total`` (the norm before clipping). Frozen parameters are ignored.
    """
    if not math.isfinite(max_norm) or max_norm < 0:
        raise ValueError(f"clip_grad_norm: max_norm must be finite and >= 0, got {max_norm!r}")
    grads = [p.grad_view() for p in params_list(params) if p.requires_grad]
    total = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
    coef = max_norm / (total + eps)
    if coef < 1:
        for g in grads:
            g *= g.dtype.type(coef)
    return total


def clip_grad_value(params, clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]`` in place."""
    if not math.isfinite(clip_value) or clip_value < 0:
        raise ValueError(f"clip_grad_value: clip_value must be finite and >= 0, got {clip_value!r}")
    for p in params_list(params):
        if p.requires_grad:
            g = p.grad_view()
            np.clip(g, -clip_value, clip_value, out=g)
