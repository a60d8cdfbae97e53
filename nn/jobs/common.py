"""Pieces shared by the training jobs: optimizers by name, the digits split, reporting."""

from __future__ import annotations

import argparse
import sys

OPTIMIZER_LR = {"sgd": 0.1, "momentum": 0.05, "adam": 1e-3}  # name -> default learning rate


def make_optimizer(name: str, params, lr: float | None):
    """``sgd``, ``momentum`` (SGD with momentum 0.9) or ``adam``; ``lr=None`` uses the default."""
    import optim

    lr = OPTIMIZER_LR[name] if lr is None else lr
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9)
    return optim.Adam(params, lr=lr)


def digits_split(seed: int, images: bool = False):
    """The bundled 8x8 digits, standardised on train, split 70/15/15 stratified.

    Returns ``(x_tr, y_tr), (x_val, y_val), (x_te, y_te)``; with ``images=True`` the inputs
    are shaped (N, 1, 8, 8).
    """
    import nn

    x, y = nn.datasets.load_digits()
    x_tr, x_val, x_te, y_tr, y_val, y_te = nn.data.train_val_test_split(
        x, y, val_size=0.15, test_size=0.15, stratify=True, rng=seed)
    scaler = nn.data.StandardScaler().fit(x_tr)
    x_tr, x_val, x_te = (scaler.transform(a) for a in (x_tr, x_val, x_te))
    if images:
        x_tr, x_val, x_te = (a.reshape(-1, 1, 8, 8) for a in (x_tr, x_val, x_te))
    return (x_tr, y_tr), (x_val, y_val), (x_te, y_te)


def info(args: argparse.Namespace, message: str) -> None:
    """A progress line on stderr (silent with ``--verbose 0``)."""
    if args.verbose:
        print(message, file=sys.stderr)


def finish(args: argparse.Namespace, model, history, metrics: dict, seconds: float) -> dict:
    """Save weights and curves when asked, print the final test metrics, return them."""
    import nn

    if args.save:
        print(f"saved weights to {nn.save(model, args.save)}")
    if args.plot:
        print(f"saved curves to {history.plot(args.plot)}")
    shown = "  ".join(f"test {k} {v:.4f}" for k, v in metrics.items())
    print(f"{shown}  (trained in {seconds:.2f} s)")
    return metrics
