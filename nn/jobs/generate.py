"""``python -m nn generate``: sample text from the LSTM language model.

Either load weights saved by ``python -m nn --model lstm-lm --save lm.npz`` (``--weights
lm.npz``; the sizes are read from the file, the character vocabulary is rebuilt from the
bundled corpus as in training), or, without ``--weights``, train the model first with the
lstm-lm job's defaults (about a minute). Then print ``--length`` characters sampled after
``--prompt`` with ``--temperature`` (0 = always the most likely character).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from .common import blas_threads

DESCRIPTION = "sample text from the LSTM language model (trained first, or from --weights)"


def _parser() -> argparse.ArgumentParser:
    from . import lstm_lm

    p = argparse.ArgumentParser(prog="python -m nn generate", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", metavar="PATH",
                   help="an .npz saved by 'python -m nn --model lstm-lm --save PATH' "
                        "(default: train a model first)")
    p.add_argument("--prompt", default=lstm_lm.PROMPT,
                   help="text to continue (default %(default)r)")
    p.add_argument("--length", type=int, default=lstm_lm.SAMPLE_LEN,
                   help="characters to generate (default %(default)s)")
    p.add_argument("--temperature", type=float, default=lstm_lm.TEMPERATURE,
                   help="softmax temperature: < 1 safer, > 1 more varied, 0 greedy "
                        "(default %(default)s)")
    p.add_argument("--top-k", type=int, default=None,
                   help="sample among the k most likely characters only")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (and training)")
    p.add_argument("--epochs", type=int, default=lstm_lm.DEFAULTS["epochs"],
                   help="epochs when training first (default %(default)s)")
    p.add_argument("--hidden", type=int, default=lstm_lm.DEFAULTS["hidden"],
                   help="LSTM size when training first (default %(default)s)")
    p.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                   help="training progress when training first (0 silent)")
    return p


def load_model(path: str):
    """``(model, vocab)`` from weights saved by the lstm-lm job."""
    import nn

    from . import lstm_lm

    vocab = lstm_lm.char_corpus()[0]
    with np.load(path, allow_pickle=False) as f:
        try:
            V, E = f["embedding.weight"].shape
            H = f["rnn.weight_hh"].shape[0]
        except KeyError as err:
            raise SystemExit(f"python -m nn generate: {path} does not hold lstm-lm weights "
                             f"(missing {err})") from None
    if V != len(vocab):
        raise SystemExit(f"python -m nn generate: {path} has a vocabulary of {V} characters, "
                         f"the bundled corpus gives {len(vocab)}")
    model = nn.models.lstm_language_model(V, E, H, dropout=lstm_lm.DROPOUT, rng=0)
    nn.load(model, path)
    return model, vocab


def main(argv: list[str] | None = None) -> int:
    import nn

    from . import lstm_lm

    args = _parser().parse_args(argv)
    if args.length < 0 or args.temperature < 0:
        raise SystemExit("python -m nn generate: --length and --temperature must be >= 0")
    if args.weights:
        if not os.path.exists(args.weights):
            raise SystemExit(f"python -m nn generate: no such file {args.weights}")
        model, vocab = load_model(args.weights)
    else:
        train_args = argparse.Namespace(
            seed=args.seed, epochs=args.epochs, hidden=args.hidden, verbose=args.verbose,
            **{k: v for k, v in lstm_lm.DEFAULTS.items() if k not in ("epochs", "hidden")})
        model, vocab = lstm_lm.train_model(train_args)[:2]
    unknown = sorted({c for c in args.prompt if c not in vocab})
    if unknown:
        print(f"note: characters not in the vocabulary read as <unk>: {unknown}", file=sys.stderr)
    with blas_threads(1):
        text = nn.models.generate_text(model, vocab, args.prompt, args.length,
                                       temperature=args.temperature, rng=args.seed,
                                       top_k=args.top_k)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
