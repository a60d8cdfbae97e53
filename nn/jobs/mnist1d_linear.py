"""MNIST-1D: logistic regression, Linear(40, 10)."""

from __future__ import annotations

import argparse

from .mnist1d import DEFAULTS as _PAPER_DEFAULTS
from .mnist1d import augmentation as _augmentation
from .mnist1d import run_kind

DESCRIPTION = "MNIST-1D: logistic regression, Linear(40, 10); paper: 32%"
DEFAULTS = {**_PAPER_DEFAULTS}


def run(args: argparse.Namespace) -> dict:
    return run_kind("linear", args)


def augmentation(args: argparse.Namespace):
    """``--augment``: see :func:`nn.jobs.mnist1d.augmentation`."""
    return _augmentation("linear", args.seed)
