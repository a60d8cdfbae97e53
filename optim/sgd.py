"""Stochastic gradient descent, with momentum, dampening, Nesterov and L2 weight decay."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


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

    def _validate(self, group: dict) -> None:
        super()._validate(group)
        self._check_float("momentum", group["momentum"], low=0.0)
        self._check_float("dampening", group["dampening"], low=0.0, high=1.0)
        self._check_float("weight_decay", group["weight_decay"], low=0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{type(self).__name__}: nesterov momentum requires momentum > 0 "
                             "and dampening = 0")

    def update(self, p: np.ndarray, g: np.ndarray, state: dict, t: int, *, lr: float,
               momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> None:
        if weight_decay:
            g = g + weight_decay * p                                # g = g + λ p
        if momentum:
            if "momentum_buffer" not in state:
                b = state["momentum_buffer"] = g.copy()             # b = g at the first step
            else:
                b = state["momentum_buffer"]
                b[...] = momentum * b + (1 - dampening) * g         # b = μ b + (1 - τ) g
            g = g + momentum * b if nesterov else b                 # g = g + μ b, or g = b
        p -= lr * g                                                 # p = p - lr g

    def update_fast(self, p: np.ndarray, g: np.ndarray, state: dict, t: int, *, lr: float,
                    momentum: float, dampening: float, nesterov: bool,
                    weight_decay: float) -> None:
        """:meth:`update`, with heavy-ball momentum's buffer updated in place.

        ``b *= μ; b += g`` is two passes over the chunk where ``b[...] = μ * b + (1 - τ) * g``
        is four passes and three temporaries: with the plain line, a training step of the
        MLP benchmark (SGD momentum) was about 15% slower at batch 32 and 9% at batch 128
        (docs/architecture.md, "Flat buffers in the optimizer"). Same operations on each
        element, so the same bits (tests/test_optim_trajectories.py). Every other case
        (no buffer yet, dampening, Nesterov, weight decay) is :meth:`update` itself.
        """
        b = state.get("momentum_buffer")
        if b is None or dampening or nesterov or weight_decay:
            self.update(p, g, state, t, lr=lr, momentum=momentum, dampening=dampening,
                        nesterov=nesterov, weight_decay=weight_decay)
            return
        b *= momentum                                               # b = μ b + g
        b += g
        p -= lr * b                                                 # p = p - lr b


class Momentum(SGD):
    """Heavy-ball momentum: exactly ``SGD(params, lr, momentum=0.9)``::

        b = g (t = 1);  b = μ b + g (t > 1);  p = p - lr b
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 0.0, *, dampening: float = 0.0):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         nesterov=nesterov, weight_decay=weight_decay)
