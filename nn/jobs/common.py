"""Pieces shared by the training jobs: optimizers by name, the digits split, reporting."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator

from threadpoolctl import threadpool_limits

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


def mnist_split(seed: int, val_fraction: float = 1 / 12):
    """MNIST from the cache folder (downloaded there if missing), as float32 (N, 1, 28, 28)
    in [0, 1]: the 60,000 training images split into train and a stratified validation part
    (``val_fraction``, 5,000 images by default), and the 10,000 test images.

    Returns ``(x_tr, y_tr), (x_val, y_val), (x_te, y_te)``; a download or file problem
    ends the program with the loader's message (which says where to put the files).
    """
    import numpy as np

    import nn

    try:
        x, y = nn.datasets.load_mnist(split="train")
        x_te, y_te = nn.datasets.load_mnist(split="test")
    except (OSError, ValueError) as err:
        raise SystemExit(f"python -m nn: {err}") from None
    x_tr, x_val, y_tr, y_val = nn.data.train_test_split(
        x, y, test_size=val_fraction, stratify=True, rng=seed)
    x_tr, x_val, x_te = (a[:, None] / np.float32(255) for a in (x_tr, x_val, x_te))
    return (x_tr, y_tr), (x_val, y_val), (x_te, y_te)


def info(args: argparse.Namespace, message: str) -> None:
    """A progress line on stderr (silent with ``--verbose 0``)."""
    if args.verbose:
        print(message, file=sys.stderr)


def train_classifier(args: argparse.Namespace, model, data, what: str):
    """Train ``model`` with cross-entropy and the chosen optimizer on ``data`` =
    ``((x_tr, y_tr), (x_val, y_val), (x_te, y_te))``, with a progress line naming ``what``.

    Returns ``(history, test_metrics, seconds)``.
    """
    import time

    import nn

    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = data
    loss_fn = nn.CrossEntropyLoss()
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr)
    info(args, f"training {args.model} ({model.num_parameters():,} parameters) on {what}: "
               f"{len(x_tr)} train / {len(x_val)} validation / {len(x_te)} test, "
               f"optimizer {args.optimizer}")
    start = time.perf_counter()
    history = nn.fit(model, loss_fn, optimizer, x_tr, y_tr, epochs=args.epochs,
                     batch_size=args.batch_size, validation_data=(x_val, y_val),
                     rng=args.seed, verbose=args.verbose)
    seconds = time.perf_counter() - start
    return history, nn.evaluate(model, loss_fn, x_te, y_te), seconds


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


@contextlib.contextmanager
def blas_threads(n: int = 1) -> Iterator[None]:
    """Run the block with NumPy's BLAS limited to ``n`` threads (restored afterwards).

    A recurrent layer makes many small matrix products per step; on a machine whose cores
    are busy with other work, BLAS threads waiting for each other make them many times
    slower (measured here with other processes running: 1-6 s per training step with 2
    threads, 0.14 s with 1). The limit is threadpoolctl's ``threadpool_limits(n,
    user_api="blas")``: every BLAS library loaded in the process (NumPy's OpenBLAS or MKL,
    SciPy's if loaded), not OpenMP pools. Does nothing when ``OPENBLAS_NUM_THREADS`` is set
    (the user chose) or no BLAS library is found.
    """
    if "OPENBLAS_NUM_THREADS" in os.environ:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield
