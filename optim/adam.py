"""Adam and AdamW, PyTorch's algorithms (bias-corrected moments, ε outside the square root)."""

from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, _check_float, axpy, lerp


class Adam(Optimizer):
    r"""Adam (``torch.optim.Adam``), with L2 weight decay and AMSGrad.

    For each parameter p with gradient g, at step t (β₁, β₂ = betas, λ = weight_decay)::

        g  = g + λ p                                  (if λ != 0; L2, coupled)
        m  = β₁ m + (1 - β₁) g                        (computed as torch.lerp: m + (1-β₁)(g - m))
        v  = β₂ v + (1 - β₂) g²
        m̂  = m / (1 - β₁ᵗ)
        v̂  = v / (1 - β₂ᵗ)          (AMSGrad: v_max = max(v_max, v), v̂ = v_max / (1 - β₂ᵗ))
        p  = p - lr m̂ / (√v̂ + ε)

    The source documents divide by (1-β₁ᵗ)(1-β₂ᵗ) and drop the square root and ε; this is the
    correct form (docs/errata.md). Evaluated as PyTorch does:
    p -= (lr / (1-β₁ᵗ)) * m / (√v / √(1-β₂ᵗ) + ε).

    State per parameter: ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq`` with AMSGrad,
    and ``step``.
    """

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False):
        if not isinstance(betas, (tuple, list)):
            raise TypeError(f"{type(self).__name__}: betas must be a pair of floats, "
                            f"got {betas!r}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _validate(self, group):
        super()._validate(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{type(self).__name__}: betas must be a pair, got {betas!r}")
        for i, b in enumerate(betas):
            _check_float(self, f"betas[{i}]", b, low=0.0, high=1.0, high_open=True)
        _check_float(self, "eps", group["eps"], low=0.0)
        _check_float(self, "weight_decay", group["weight_decay"], low=0.0)

    def _update(self, group, flat):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        p, g, t = flat.data, flat.grad, flat.step
        if wd and self.decoupled:
            p *= 1.0 - lr * wd                          # AdamW: p = p (1 - lr λ)
        elif wd:
            g = np.add(g, np.multiply(p, wd, out=flat.tmp(0)), out=flat.tmp(0))   # g + λ p
        m = flat.buffers.get("exp_avg")
        if m is None:
            m = flat.new_buffer("exp_avg", np.zeros_like(p))
            flat.new_buffer("exp_avg_sq", np.zeros_like(p))
            if group["amsgrad"]:
                flat.new_buffer("max_exp_avg_sq", np.zeros_like(p))
        v = flat.buffers["exp_avg_sq"]
        s = flat.tmp(1)
        lerp(m, g, 1.0 - beta1, s)                     # m = m + (1 - β₁)(g - m)
        # v = β₂ v + (1 - β₂) g g
        v *= beta2
        axpy(1.0 - beta2, np.multiply(g, g, out=s), v, s)
        step_size = lr / (1.0 - beta1 ** t)
        bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** t)
        if group["amsgrad"]:
            vmax = flat.buffers.get("max_exp_avg_sq")
            if vmax is None:
                vmax = flat.new_buffer("max_exp_avg_sq", np.zeros_like(p))
            np.maximum(vmax, v, out=vmax)
            v = vmax
        # denom = √v / √(1 - β₂ᵗ) + ε ;  p = p - step_size m / denom
        denom = np.sqrt(v, out=s)
        denom /= bias_correction2_sqrt
        denom += eps
        axpy(-step_size, np.divide(m, denom, out=s), p, s)


class AdamW(Adam):
    r"""AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay.

    As Adam, but with p = p (1 - lr λ) applied before the moment update and no λ p term
    added to the gradient. ``weight_decay`` defaults to 1e-2; with λ = 0 it equals Adam.
    """

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)
