"""The source documents' CNN (Conv2D(32, 3x3, ReLU) -> Flatten -> Dense(64, ReLU) -> 10,
Adam) on the bundled digits as 1x8x8 images, or with ``--dataset mnist`` on MNIST itself.

The documents report about 98.5% validation accuracy on MNIST (28x28); on the 8x8 digits
this job reaches 0.97-0.99 test accuracy (seeds 0-9 with the defaults below: 0.974-0.993)
in about a second of training on an idle 2-core machine.

``--dataset mnist`` trains the same network on 1x28x28 MNIST (``nn.datasets.load_mnist``:
from the cache folder, ``$NN_DATA`` or ``~/.cache/nn``, downloaded there if missing), with
5,000 of the 60,000 training images held out for validation and the 10,000 test images for
the final metrics; the defaults for it are in ``DATASET_DEFAULTS``.
"""

from __future__ import annotations

import argparse

from .common import digits_split, finish, mnist_split, train_classifier

DESCRIPTION = "the source documents' CNN, Conv(32, 3x3) -> 64 ReLU -> 10, on 1x8x8 digits"
DEFAULTS = {"epochs": 12, "batch_size": 64, "optimizer": "adam", "lr": 2e-3, "hidden": 64}
#: ``--dataset`` values besides the bundled digits, with the defaults that replace DEFAULTS'
DATASET_DEFAULTS = {"mnist": {"epochs": 3, "lr": 1e-3}}


def run(args: argparse.Namespace) -> dict:
    import nn

    nn.manual_seed(args.seed)
    if getattr(args, "dataset", "digits") == "mnist":
        data, what = mnist_split(args.seed), "MNIST as 1x28x28 images"
    else:
        data, what = digits_split(args.seed, images=True), "the digits as 1x8x8 images"
    model = nn.models.cnn(data[0][0].shape[1:], 10, hidden=args.hidden, rng=args.seed)
    history, metrics, seconds = train_classifier(args, model, data, what)
    return finish(args, model, history, metrics, seconds)
