"""``python -m nn``: the command line.

Sub-commands::

    python -m nn [train] [options]   train an example system on bundled data (the default)
    python -m nn check FILE:CLASS    grade a Layer (an exercise) against finite differences
    python -m nn generate [options]  sample text from the LSTM language model
    python -m nn docs [--port N]     build the documentation website and serve it locally
    python -m nn exercises build --out DIR   the exercises as notebooks (docs/teaching.md)
    python -m nn --help              this help; ``python -m nn SUBCOMMAND --help`` for each

The main job trains the source documents' MLP on the bundled 8x8 digits, with a progress
bar, and prints the final test accuracy. Training jobs live in :mod:`nn.jobs`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "train": ("nn.__main__", "train a model on bundled data and report its test metrics "
                             "(the default)"),
    "check": ("nn.testing.cli", "grade a Layer class from a file: gradients against finite "
                                "differences, per tensor"),
    "generate": ("nn.jobs.generate", "sample text from the LSTM language model (trained "
                                     "first, or from --weights)"),
    "docs": ("nn.jobs.docs", "build the documentation website and serve it on 127.0.0.1 "
                             "(needs a clone and the docs extra)"),
    "exercises": ("nn.classroom", "build the exercises' student and solution notebooks, "
                                  "skeletons and Gradescope bundles (docs/teaching.md)"),
}


def _train_parser() -> argparse.ArgumentParser:
    from .jobs import JOBS, load_job

    epilog = ["sub-commands:"] + [f"  {k:<8} {v[1]}" for k, v in SUBCOMMANDS.items()]
    epilog += ["", "models (--model):"]
    epilog += [f"  {k:<14} {load_job(k).DESCRIPTION}" for k in JOBS]
    p = argparse.ArgumentParser(
        prog="python -m nn",
        description="Train an example system from the nn framework on bundled data (no "
                    "download; --dataset mnist reads or downloads MNIST) and print its test "
                    "metrics. Without a sub-command, 'train' runs.",
        epilog="\n".join(epilog), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list(JOBS), default="mlp",
                   help="which example system to train (default: mlp); listed below")
    p.add_argument("--dataset", choices=["digits", "mnist"], default="digits",
                   help="digits: the bundled 8x8 digits (default); mnist: MNIST from the cache "
                        "folder ($NN_DATA, else ~/.cache/nn), downloaded there if missing "
                        "(--model cnn)")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default=None,
                   help="sgd, momentum (SGD with momentum 0.9) or adam (default: the model's)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: the model's; for the mlp 0.1 with sgd, 0.05 "
                        "with momentum, 1e-3 with adam)")
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the training set (default: the model's; 30 for the mlp)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="mini-batch size (default: the model's; 32 for the mlp)")
    p.add_argument("--hidden", type=int, default=None,
                   help="hidden units (default: the model's; 128 for the mlp)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the split, the "
                                                       "initialisation and the shuffling")
    p.add_argument("--save", metavar="PATH", help="save the trained weights to PATH (.npz)")
    p.add_argument("--plot", metavar="PATH", help="save loss/metric curves to PATH (.png; "
                                                  "needs matplotlib)")
    p.add_argument("--augment", action="store_true",
                   help="data augmentation: train on randomly changed copies of each "
                        "batch (cnn: rotations; mnist1d-*: time shifts and noise)")
    p.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                   help="0 silent, 1 progress bars (default), 2 one line per epoch")
    return p


def train(args: argparse.Namespace) -> dict:
    """Run the training job described by ``args`` (unset options take the model's defaults,
    and the dataset's where the model has some for it)."""
    from .jobs import JOBS, load_job

    job = load_job(args.model)
    dataset = getattr(args, "dataset", "digits")
    dataset_defaults = getattr(job, "DATASET_DEFAULTS", {})
    if dataset != "digits" and dataset not in dataset_defaults:
        with_it = [k for k in JOBS if dataset in getattr(load_job(k), "DATASET_DEFAULTS", {})]
        raise SystemExit(f"python -m nn: --dataset {dataset} is not available for --model "
                         f"{args.model}; it is for --model {', '.join(with_it)}")
    for key, value in {**job.DEFAULTS, **dataset_defaults.get(dataset, {})}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    for key, positive in (("epochs", True), ("batch_size", True), ("hidden", True)):
        value = getattr(args, key, None)
        if positive and value is not None and value <= 0:
            raise SystemExit(f"python -m nn: --{key.replace('_', '-')} must be positive, "
                             f"got {value}")
    if getattr(args, "augment", False) and not hasattr(job, "augmentation"):
        raise SystemExit(f"python -m nn: --augment is not available for --model "
                         f"{args.model} (only for models whose job defines augmentation)")
    if getattr(args, "plot", None):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit("python -m nn: --plot needs matplotlib: "
                             "pip install 'readable-nn[plot]'") from None
    return job.run(args)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        command, argv = argv[0], argv[1:]
    else:
        command = "train"
    if command == "train":
        train(_train_parser().parse_args(argv))
        return 0
    module = importlib.import_module(SUBCOMMANDS[command][0])
    return module.main(argv)


if __name__ == "__main__":
    sys.exit(main())
