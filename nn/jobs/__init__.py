"""Training jobs behind ``python -m nn train --model NAME``, one module per example system.

A job module defines ``DESCRIPTION`` (one line for ``--help``), ``DEFAULTS`` (a dict with
the defaults of the shared options it cares about: ``epochs``, ``batch_size``, ``lr``,
``optimizer``, ``hidden``) and ``run(args) -> dict`` (trains, prints progress and the final
test metrics, returns them). To add a model, write its module and add one line below.
"""

from __future__ import annotations

import importlib
from types import ModuleType

JOBS: dict[str, str] = {
    "mlp": "nn.jobs.mlp",
    "lstm-lm": "nn.jobs.lstm_lm",
    "text-clf": "nn.jobs.text_clf",
    "cnn": "nn.jobs.cnn",
    "transformer": "nn.jobs.transformer",
    # MNIST-1D, the paper's four baselines (nn/jobs/mnist1d.py); needs the mnist1d extra
    "mnist1d-linear": "nn.jobs.mnist1d_linear",
    "mnist1d-mlp": "nn.jobs.mnist1d_mlp",
    "mnist1d-cnn": "nn.jobs.mnist1d_cnn",
    "mnist1d-gru": "nn.jobs.mnist1d_gru",
}


def load_job(name: str) -> ModuleType:
    """The job module registered under ``name``."""
    if name not in JOBS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(JOBS)}")
    return importlib.import_module(JOBS[name])
