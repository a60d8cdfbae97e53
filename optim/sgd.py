"""Stochastic gradient descent, with momentum, dampening, Nesterov and L2 weight decay."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, _check_float, axpy


class SGD(Optimizer):
    r"""SGD, PyTorch's algorithm (``torch.optim.SGD``).

    For each parameter p with gradient g, at step t (hyper-parameters lr, μ = momentum,
    τ = dampening, λ = weight_decay)::

        g = g + λ p                                   (if λ != 0)
        b = g                       at t = 1          (if μ != 0)
        b = μ b + (1 - τ) g         at t > 1
        g = g + μ b  if nesterov else  g = b
        p = p - lr g

    State per parameter: ``momentum_buffer`` (b), only when μ != 0.

    Positional order is the API contract's (lr, momentum, nesterov, weight_decay);
    ``dampening`` is keyword-only (PyTorch puts it third).
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, *, dampening: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay))

    def _validate(self, group):
        super()._validate(group)
        _check_float(self, "momentum", group["momentum"], low=0.0)
        _check_float(self, "dampening", group["dampening"], low=0.0, high=1.0)
        _check_float(self, "weight_decay", group["weight_decay"], low=0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{type(self).__name__}: nesterov momentum requires momentum > 0 "
                             "and dampening = 0")

    def _update(self, group, flat):
        lr, mu = float(group["lr"]), float(group["momentum"])
        damp, wd = float(group["dampening"]), float(group["weight_decay"])
        p, g = flat.data, flat.grad
        if wd:
            # g = g + wd p   (into scratch: p.grad itself is never modified)
            g = np.add(g, np.multiply(p, wd, out=flat.tmp(0)), out=flat.tmp(0))
        if mu:
            b = flat.buffers.get("momentum_buffer")
            if b is None:
                b = flat.new_buffer("momentum_buffer", g)       # b = g at the first step
            else:
                b *= mu                                         # b = mu b + (1 - damp) g
                if damp:
                    axpy(1.0 - damp, g, b, flat.tmp(1))
                else:
                    b += g
            if group["nesterov"]:
                g = np.add(g, np.multiply(b, mu, out=flat.tmp(1)), out=flat.tmp(1))
            else:
                g = b
        # p = p - lr g
        axpy(-lr, g, p, flat.tmp(2))


class Momentum(SGD):
    """Heavy-ball momentum: exactly ``SGD(params, lr, momentum=0.9)``::

        b = g (t = 1);  b = μ b + g (t > 1);  p = p - lr b
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 0.0, *, dampening: float = 0.0):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         nesterov=nesterov, weight_decay=weight_decay)
