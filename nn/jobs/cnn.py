"""The source documents' CNN (Conv2D(32, 3x3, ReLU) -> Flatten -> Dense(64, ReLU) -> 10,
Adam) on the bundled digits as 1x8x8 images.

The documents report about 98.5% validation accuracy on MNIST (28x28); on the 8x8 digits
this job reaches 0.97-0.99 test accuracy (seeds 0-9 with the defaults below: 0.974-0.993)
in about a second of training on an idle 2-core machine. For MNIST itself, see
``nn.models.lenet`` and ``nn.datasets.load_mnist``.
"""

from __future__ import annotations

import argparse

from .common import digits_split, finish, train_classifier

DESCRIPTION = "the source documents' CNN, Conv(32, 3x3) -> 64 ReLU -> 10, on 1x8x8 digits"
DEFAULTS = {"epochs": 12, "batch_size": 64, "optimizer": "adam", "lr": 2e-3, "hidden": 64}


def run(args: argparse.Namespace) -> dict:
    import nn

    nn.manual_seed(args.seed)
    data = digits_split(args.seed, images=True)
    model = nn.models.cnn(data[0][0].shape[1:], 10, hidden=args.hidden, rng=args.seed)
    transform = augmentation(args) if getattr(args, "augment", False) else None
    history, metrics, seconds = train_classifier(args, model, data,
                                                 "the digits as 1x8x8 images", transform)
    return finish(args, model, history, metrics, seconds)


def augmentation(args: argparse.Namespace):
    """``--augment``: every training digit rotated by up to 10 degrees, drawn anew for each
    batch. Measured (README): no gain here; the CNN is at 98% already and moving the
    per-pixel standardised values of 8x8 digits (a shift by one pixel is 1/8 of the image)
    costs accuracy: 0.962 with RandomShift(1) against 0.982 without, seeds 0-4."""
    import nn

    return nn.data.RandomRotation(10, seed=args.seed)
