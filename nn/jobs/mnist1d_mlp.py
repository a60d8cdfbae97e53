"""MNIST-1D: the paper's MLP, 40 -> 100 -> (+100, residual) -> 10."""

from __future__ import annotations

import argparse

from .mnist1d import DEFAULTS as _PAPER_DEFAULTS
from .mnist1d import augmentation as _augmentation
from .mnist1d import run_kind

DESCRIPTION = "MNIST-1D: the paper's MLP, 40 -> 100 -> (+100, residual) -> 10; paper: 68%"
DEFAULTS = {**_PAPER_DEFAULTS}


def run(args: argparse.Namespace) -> dict:
    return run_kind("mlp", args)


def augmentation(args: argparse.Namespace):
    """``--augment``: see :func:`nn.jobs.mnist1d.augmentation`."""
    return _augmentation("mlp", args.seed)
