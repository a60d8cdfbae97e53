"""Exercise 5: the Adam update.

Fill in ``step`` (see docs/exercises/05-adam.md), then grade it against optim.Adam:

    python -m nn check docs/exercises/adam.py:Adam
"""

import numpy as np

EXERCISE = "adam"


class Adam:
    """Adam (Kingma and Ba), as PyTorch documents it, without weight decay."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.t = 0                # steps taken
        self.state = {}           # per parameter: {"m": array, "v": array}, keyed by the
                                  # Parameter object itself (never by its shape or name)

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        self.t += 1
        for p in self.params:
            if p not in self.state:
                self.state[p] = {"m": np.zeros_like(p.data), "v": np.zeros_like(p.data)}
            m, v = self.state[p]["m"], self.state[p]["v"]
            g = p.grad
            # TODO: update m and v in place, then p.data in place.
            raise NotImplementedError("exercise: write Adam.step")
