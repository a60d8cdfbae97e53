"""Exercise 8: the backward pass of batch normalisation (train mode).

Fill in ``backward`` (see docs/exercises/08-batchnorm.md), then grade it:

    python -m nn check docs/exercises/batchnorm.py:BatchNorm
"""

import numpy as np

import nn

EXERCISE = "batchnorm"


class BatchNorm(nn.Layer):
    """Batch normalisation of x (N, D), feature by feature, with the batch's statistics.

        mu = mean_n x,  var = mean_n (x - mu)^2          (biased: divided by N)
        rstd = 1 / sqrt(var + eps),  xhat = (x - mu) * rstd,  y = gamma * xhat + beta

    x, xhat, y (N, D); mu, var, rstd, gamma = self.weight, beta = self.bias (D,). This is
    train mode only: nn.BatchNorm1d also keeps running statistics for eval mode, where they
    are constants and the backward is just dx = gamma * rstd * grad_y.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, rng=None):
        super().__init__()
        gen = nn.get_rng(rng)
        # A network starts with gamma = 1 and beta = 0; random values here, so that the
        # grader sees it when gamma is left out of a formula.
        self.weight = nn.Parameter(gen.uniform(0.5, 1.5, num_features))  # gamma
        self.bias = nn.Parameter(gen.uniform(-0.5, 0.5, num_features))   # beta
        self.eps = eps

    def forward(self, x):
        mu = x.mean(axis=0)
        var = ((x - mu) ** 2).mean(axis=0)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mu) * rstd
        self._cache = (xhat, rstd)  # backward needs xhat and rstd (x is not needed)
        return self.weight.data * xhat + self.bias.data

    def backward(self, grad_y):
        xhat, rstd = self._saved()  # what the last forward cached
        N = xhat.shape[0]
        gamma = self.weight.data
        # TODO: add dL/dgamma into self.weight.grad and dL/dbeta into self.bias.grad (+=),
        #       and return dL/dx, shape (N, D). mu and var depend on every row of x: keep
        #       both paths. grad_y is dL/dy, shape (N, D); do not modify it.
        raise NotImplementedError("exercise: write BatchNorm.backward")
