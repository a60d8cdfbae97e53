"""The source documents' MLP (here 64 -> 128 ReLU -> 10) on the bundled 8x8 digits."""

from __future__ import annotations

import argparse
import time

from .common import digits_split, finish, info, make_optimizer

DESCRIPTION = "the source documents' MLP, 64 -> hidden ReLU -> 10, on the 8x8 digits"
DEFAULTS = {"epochs": 30, "batch_size": 32, "optimizer": "momentum", "hidden": 128}


def run(args: argparse.Namespace) -> dict:
    import nn

    nn.manual_seed(args.seed)
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = digits_split(args.seed)
    model = nn.models.mlp(x_tr.shape[1], args.hidden, 10, rng=args.seed)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr)
    info(args, f"training mlp ({model.num_parameters():,} parameters) on the 8x8 digits: "
               f"{len(x_tr)} train / {len(x_val)} validation / {len(x_te)} test, "
               f"optimizer {args.optimizer}")
    start = time.perf_counter()
    history = nn.fit(model, loss_fn, optimizer, x_tr, y_tr, epochs=args.epochs,
                     batch_size=args.batch_size, validation_data=(x_val, y_val),
                     rng=args.seed, verbose=args.verbose)
    seconds = time.perf_counter() - start
    return finish(args, model, history, nn.evaluate(model, loss_fn, x_te, y_te), seconds)
