"""``python -m nn``: the command line.

Sub-commands::

    python -m nn [train] [options]   train a model on bundled data (the default sub-command)
    python -m nn --help              this help

The main job trains the source documents' MLP on the bundled 8x8 digits, with a progress
bar, and prints the final test accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time

SUBCOMMANDS = {
    "train": "train a model on bundled data and report its test accuracy (the default)",
}

OPTIMIZERS = {"sgd": 0.1, "momentum": 0.05, "adam": 1e-3}  # name -> default learning rate


def _train_parser() -> argparse.ArgumentParser:
    epilog = "sub-commands:\n" + "\n".join(f"  {k:<8} {v}" for k, v in SUBCOMMANDS.items())
    p = argparse.ArgumentParser(
        prog="python -m nn",
        description="Train a model from the nn framework on bundled data (no download) and "
                    "print its test accuracy. Without a sub-command, 'train' runs.",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["mlp"], default="mlp",
                   help="which example system to train (default: mlp, the source documents' "
                        "MLP, here 64 -> 128 ReLU -> 10 on the 8x8 digits)")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="momentum",
                   help="sgd, momentum (SGD with momentum 0.9, the default) or adam")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 0.1 for sgd, 0.05 for momentum, 1e-3 for adam)")
    p.add_argument("--epochs", type=int, default=30, help="passes over the training set "
                                                          "(default: 30)")
    p.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default: 32)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units of the MLP "
                                                           "(default: 128)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the split, the "
                                                       "initialisation and the shuffling")
    p.add_argument("--save", metavar="PATH", help="save the trained weights to PATH (.npz)")
    p.add_argument("--plot", metavar="PATH", help="save loss/accuracy curves to PATH (.png; "
                                                  "needs matplotlib)")
    p.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                   help="0 silent, 1 progress bars (default), 2 one line per epoch")
    return p


def _make_optimizer(name: str, params, lr: float | None):
    import optim

    lr = OPTIMIZERS[name] if lr is None else lr
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9)
    return optim.Adam(params, lr=lr)


def train(args: argparse.Namespace) -> dict:
    """Run the training job described by ``args``; returns the test metrics."""
    import nn

    nn.manual_seed(args.seed)
    x, y = nn.datasets.load_digits()
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = _split(nn, x, y, args.seed)
    scaler = nn.data.StandardScaler().fit(x_tr)
    x_tr, x_val, x_te = (scaler.transform(a) for a in (x_tr, x_val, x_te))
    model = nn.models.mlp(x.shape[1], args.hidden, 10, rng=args.seed)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = _make_optimizer(args.optimizer, model.parameters(), args.lr)
    if args.verbose:
        print(f"training {args.model} ({model.num_parameters():,} parameters) on the 8x8 digits: "
              f"{len(x_tr)} train / {len(x_val)} validation / {len(x_te)} test, "
              f"optimizer {args.optimizer}", file=sys.stderr)
    start = time.perf_counter()
    history = nn.fit(model, loss_fn, optimizer, x_tr, y_tr, epochs=args.epochs,
                     batch_size=args.batch_size, validation_data=(x_val, y_val),
                     rng=args.seed, verbose=args.verbose)
    seconds = time.perf_counter() - start
    result = nn.evaluate(model, loss_fn, x_te, y_te)
    if args.save:
        path = nn.save(model, args.save)
        print(f"saved weights to {path}")
    if args.plot:
        print(f"saved curves to {history.plot(args.plot)}")
    print(f"test loss {result['loss']:.4f}  test accuracy {result['accuracy']:.4f}  "
          f"(trained in {seconds:.1f} s)")
    return result


def _split(nn, x, y, seed):
    x_tr, x_val, x_te, y_tr, y_val, y_te = nn.data.train_val_test_split(
        x, y, val_size=0.15, test_size=0.15, stratify=True, rng=seed)
    return (x_tr, y_tr), (x_val, y_val), (x_te, y_te)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        command, argv = argv[0], argv[1:]
    else:
        command = "train"
    if command == "train":
        args = _train_parser().parse_args(argv)
        train(args)
        return 0
    return 2  # pragma: no cover - every sub-command is dispatched above


if __name__ == "__main__":
    sys.exit(main())
