"""MNIST-1D: the paper's CNN, three Conv1d (25 channels, stride 2) -> Linear(125, 10)."""

from __future__ import annotations

import argparse

from .mnist1d import DEFAULTS as _PAPER_DEFAULTS
from .mnist1d import augmentation as _augmentation
from .mnist1d import run_kind

DESCRIPTION = ("MNIST-1D: the paper's CNN, 3 x Conv1d(25 channels, stride 2) -> "
               "Linear(125, 10); paper: 94%")
DEFAULTS = {**_PAPER_DEFAULTS}


def run(args: argparse.Namespace) -> dict:
    return run_kind("cnn", args)


def augmentation(args: argparse.Namespace):
    """``--augment``: see :func:`nn.jobs.mnist1d.augmentation`."""
    return _augmentation("cnn", args.seed)
