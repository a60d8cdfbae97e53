"""The source documents' MLP (here 64 -> 128 ReLU -> 10) on the bundled 8x8 digits."""

from __future__ import annotations

import argparse

from .common import digits_split, finish, train_classifier

DESCRIPTION = "the source documents' MLP, 64 -> hidden ReLU -> 10, on the 8x8 digits"
DEFAULTS = {"epochs": 30, "batch_size": 32, "optimizer": "momentum", "hidden": 128}


def run(args: argparse.Namespace) -> dict:
    import nn

    nn.manual_seed(args.seed)
    data = digits_split(args.seed)
    model = nn.models.mlp(data[0][0].shape[1], args.hidden, 10, rng=args.seed)
    history, metrics, seconds = train_classifier(args, model, data, "the 8x8 digits")
    return finish(args, model, history, metrics, seconds)
