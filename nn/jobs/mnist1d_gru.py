"""MNIST-1D: the paper's GRU, bidirectional (6 units each way) -> Linear(480, 10)."""

from __future__ import annotations

import argparse

from .mnist1d import DEFAULTS as _PAPER_DEFAULTS
from .mnist1d import augmentation as _augmentation
from .mnist1d import run_kind

DESCRIPTION = ("MNIST-1D: the paper's GRU, bidirectional, 6 units each way, all 40 steps "
               "-> Linear(480, 10); paper: 91%")
DEFAULTS = {**_PAPER_DEFAULTS, "hidden": 6}   # units per direction


def run(args: argparse.Namespace) -> dict:
    return run_kind("gru", args)


def augmentation(args: argparse.Namespace):
    """``--augment``: see :func:`nn.jobs.mnist1d.augmentation`."""
    return _augmentation("gru", args.seed)
