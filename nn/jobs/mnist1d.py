"""MNIST-1D (Greydanus 2020, "Scaling down deep learning"): the paper's four baselines.

The paper trains each model with Adam (learning rate 1e-2, no weight decay) on batches of
100 for 6,000 steps (150 epochs of the 4,000 training sequences) and reports the test
accuracy: logistic regression 32%, MLP 68%, CNN 94%, GRU 91%. The models, as in the
paper's ``models.py`` (PyTorch's default initialisation, ``init="torch"``):

- ``linear``: Linear(40, 10), logistic regression;
- ``mlp``: h1 = relu(Linear(40, 100) x), h2 = h1 + relu(Linear(100, 100) h1), Linear(100, 10);
- ``cnn``: Conv1d(1, 25, 5, stride 2, padding 1) -> ReLU -> Conv1d(25, 25, 3, 2, 1) -> ReLU
  -> Conv1d(25, 25, 3, 2, 1) -> ReLU -> Flatten (25 x 5) -> Linear(125, 10);
- ``gru``: a bidirectional GRU with 6 hidden units per direction over the 40 steps (one
  input feature per step), its 40 x 12 outputs flattened into Linear(480, 10).

The jobs ``mnist1d-linear``, ``mnist1d-mlp``, ``mnist1d-cnn`` and ``mnist1d-gru`` are
``python -m nn --model NAME``; the table measured with them is in the README.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..layer import Layer
from .common import blas_threads, finish, info, make_optimizer

# the paper's schedule: Adam 1e-2, batches of 100, 6000 steps = 150 epochs of 4000
DEFAULTS = {"epochs": 150, "batch_size": 100, "optimizer": "adam", "lr": 1e-2, "hidden": 100}
PAPER = {"linear": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91}   # test accuracy, Table 1


class Bidirectional(Layer):
    """Two recurrent layers over a sequence, one forwards and one backwards in time.

    forward:  y = [f(x) | reverse(b(reverse(x)))]  on the last axis, (N, T, 2H)
    backward: dx = f.backward(g_f) + reverse(b.backward(reverse(g_b))),  [g_f | g_b] = g

    ``reverse`` flips the time axis (axis 1). PyTorch's ``GRU(bidirectional=True)``
    computes the same with its two directions' weights.
    """

    def __init__(self, forward_layer: Layer, backward_layer: Layer):
        super().__init__()
        for layer in (forward_layer, backward_layer):
            if not getattr(layer, "return_sequences", False):
                raise ValueError(f"Bidirectional: {layer.label()} must return the whole "
                                 f"sequence (return_sequences=True) to be read backwards")
        self.forward_layer = forward_layer
        self.backward_layer = backward_layer

    def forward(self, x):
        y_f = self.forward_layer.forward(x)
        y_b = self.backward_layer.forward(np.ascontiguousarray(x[:, ::-1]))[:, ::-1]
        self._cache = y_f.shape[-1]
        return np.concatenate([y_f, y_b], axis=-1)

    def backward(self, grad_y):
        H = self._saved()
        dx_f = self.forward_layer.backward(np.ascontiguousarray(grad_y[..., :H]))
        dx_b = self.backward_layer.backward(np.ascontiguousarray(grad_y[:, ::-1, H:]))
        if dx_f is None or dx_b is None:    # input gradient switched off (fit does)
            return None
        return dx_f + dx_b[:, ::-1]

    def set_input_grad(self, flag: bool) -> bool:
        """Both directions receive this layer's input."""
        old = super().set_input_grad(flag)
        self.forward_layer.set_input_grad(flag)
        self.backward_layer.set_input_grad(flag)
        return old


def build(kind: str, hidden: int = 100, *, rng=None) -> Layer:
    """One of the paper's models for (N, 40) sequences: ``linear``, ``mlp``, ``cnn``,
    ``gru`` (the CNN takes (N, 1, 40), the GRU (N, 40, 1): see :func:`shape_for`).
    ``hidden``: the MLP's width (100 in the paper), the GRU's units per direction (6)."""
    import nn
    from nn._config import get_rng

    gen = get_rng(rng)
    if kind == "linear":
        return nn.Linear(40, 10, init="torch", rng=gen)
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(40, hidden, init="torch", rng=gen), nn.ReLU(),
            nn.Residual(nn.Sequential(nn.Linear(hidden, hidden, init="torch", rng=gen),
                                      nn.ReLU())),
            nn.Linear(hidden, 10, init="torch", rng=gen))
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv1d(1, 25, 5, stride=2, padding=1, init="torch", rng=gen), nn.ReLU(),
            nn.Conv1d(25, 25, 3, stride=2, padding=1, init="torch", rng=gen), nn.ReLU(),
            nn.Conv1d(25, 25, 3, stride=2, padding=1, init="torch", rng=gen), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(25 * 5, 10, init="torch", rng=gen))
    if kind == "gru":
        return nn.Sequential(
            Bidirectional(nn.GRU(1, hidden, rng=gen), nn.GRU(1, hidden, rng=gen)),
            nn.Flatten(),
            nn.Linear(40 * 2 * hidden, 10, init="torch", rng=gen))
    raise ValueError(f"unknown MNIST-1D model {kind!r}; choose from {sorted(PAPER)}")


def shape_for(kind: str, x: np.ndarray) -> np.ndarray:
    """(N, 40) sequences as the model reads them: channels first for the CNN (N, 1, 40),
    one feature per time step for the GRU (N, 40, 1); as they are otherwise."""
    if kind == "cnn":
        return x[:, None, :]
    if kind == "gru":
        return x[:, :, None]
    return x


def augmentation(kind: str, seed: int):
    """``--augment``: each training sequence moved by up to 4 steps either way along time
    and given N(0, 0.05^2) noise, drawn anew for each batch."""
    import nn

    axis = 1 if kind == "gru" else -1          # time is axis 1 of the GRU's (N, 40, 1)
    return nn.data.Compose([nn.data.RandomShift1d(4, axis=axis),
                            nn.data.GaussianNoise(0.05)], seed=seed)


def run_kind(kind: str, args: argparse.Namespace) -> dict:
    """Train the paper's ``kind`` model on MNIST-1D with ``args`` and report test metrics.

    ``args.augment`` adds :func:`augmentation`; ``args.subset`` (if set) trains on that
    many sequences only and ``args.data_root`` is ``load_mnist1d``'s cache folder (both
    for the tests' tiny runs, not command-line options).
    """
    import nn

    transform = augmentation(kind, args.seed) if getattr(args, "augment", False) else None

    nn.manual_seed(args.seed)
    root = getattr(args, "data_root", None)
    try:
        x_tr, y_tr = nn.datasets.load_mnist1d(root, "train")
        x_te, y_te = nn.datasets.load_mnist1d(root, "test")
    except ImportError as exc:                  # the mnist1d extra is not installed
        raise SystemExit(f"python -m nn --model {args.model}: {exc}") from None
    subset = getattr(args, "subset", None)
    if subset:
        x_tr, y_tr = x_tr[:subset], y_tr[:subset]
    x_tr, x_te = shape_for(kind, x_tr), shape_for(kind, x_te)
    model = build(kind, args.hidden, rng=args.seed)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr)
    info(args, f"training {args.model} ({model.num_parameters():,} parameters) on MNIST-1D: "
               f"{len(x_tr)} train / {len(x_te)} test sequences of length 40, "
               f"optimizer {args.optimizer}, {args.epochs} epochs"
               f"{', augmented' if transform is not None else ''}")
    start = time.perf_counter()
    with blas_threads(1):   # small matrices: one BLAS thread is fastest (see blas_threads)
        history = nn.fit(model, loss_fn, optimizer, x_tr, y_tr, epochs=args.epochs,
                         batch_size=args.batch_size, rng=args.seed, verbose=args.verbose,
                         transform=transform)
        seconds = time.perf_counter() - start
        metrics = nn.evaluate(model, loss_fn, x_te, y_te)
    info(args, f"the paper reports {PAPER[kind]:.0%} test accuracy for this model")
    return finish(args, model, history, metrics, seconds)
