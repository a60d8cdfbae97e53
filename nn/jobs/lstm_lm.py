"""The source documents' LSTM language model, character level, on the bundled docs corpus.

Embedding(vocab, 64) -> LSTM(64, hidden) -> Dropout -> Linear(hidden, vocab), cross-entropy
on next-character targets, Adam, gradient clipping (global norm 1.0). Each epoch samples
random windows of ``SEQ_LEN`` characters from the first 80% of the corpus (as many windows
as the training text holds); the next 10% is for validation and the last 10% for the test.
Perplexities are measured on the whole validation / test stream with the LSTM state
carried across windows (:func:`nn.models.stream_perplexity`), next to the unigram
baseline (every character predicted by its training frequency). Then a sample of text is
generated with a temperature.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .common import blas_threads, finish, info, make_optimizer

DESCRIPTION = ("the source documents' LSTM language model (Embedding -> LSTM -> Linear), "
               "characters of the bundled docs corpus; perplexity vs a unigram baseline, "
               "then a text sample")
DEFAULTS = {"epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 3e-3, "hidden": 256}

SEQ_LEN = 64            # characters per training window (backpropagation through time)
EMBED = 64
DROPOUT = 0.1
CLIP = 1.0              # global gradient norm
MIN_FREQ = 3            # rarer characters (odd symbols) read as <unk>
PROMPT = "The "
SAMPLE_LEN = 300
TEMPERATURE = 0.8


def char_corpus(name: str = "docs", min_freq: int = MIN_FREQ):
    """``(vocab, train_ids, val_ids, test_ids)``: the corpus as characters, split 80/10/10
    in order (contiguous), with the vocabulary built on the training part."""
    import nn

    text = nn.datasets.load_corpus(name)
    a, b = int(0.8 * len(text)), int(0.9 * len(text))
    vocab = nn.text.Vocabulary.build(nn.text.char_tokenize(text[:a]), min_freq=min_freq)
    return vocab, vocab.encode(text[:a]), vocab.encode(text[a:b]), vocab.encode(text[b:])


def train_model(args: argparse.Namespace):
    """Train the language model as ``run`` does; returns ``(model, vocab, history, seconds,
    (train_ids, val_ids, test_ids))``. Leaves the BLAS thread count as it found it."""
    import nn
    import optim

    nn.manual_seed(args.seed)
    vocab, train_ids, val_ids, test_ids = char_corpus()
    model = nn.models.lstm_language_model(len(vocab), EMBED, args.hidden, dropout=DROPOUT,
                                          rng=args.seed)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr)
    unigram_val = nn.text.unigram_perplexity(train_ids, val_ids[1:], len(vocab))
    info(args, f"training lstm-lm ({model.num_parameters():,} parameters) on the docs corpus: "
               f"{len(train_ids):,} / {len(val_ids):,} / {len(test_ids):,} characters "
               f"(train / validation / test), vocabulary {len(vocab)}, windows of {SEQ_LEN}, "
               f"optimizer {args.optimizer}, clipping at norm {CLIP}")
    gen = np.random.default_rng(args.seed)
    history = nn.History()
    windows = len(train_ids) // SEQ_LEN
    n_batches = -(-windows // args.batch_size)
    start = time.perf_counter()
    with blas_threads(1):
        for epoch in range(args.epochs):
            x, y = nn.text.random_windows(train_ids, SEQ_LEN, windows, rng=gen)
            total = 0.0
            bar = _bar(args, n_batches, f"Epoch {epoch + 1}/{args.epochs}")
            for i in range(0, windows, args.batch_size):
                optimizer.zero_grad()
                total += loss_fn(model(x[i:i + args.batch_size]), y[i:i + args.batch_size])
                model.backward(loss_fn.backward())
                optim.clip_grad_norm(model.parameters(), CLIP)
                optimizer.step()
                if bar is not None:
                    bar.update(1)
            loss = total / n_batches
            val_ppl = nn.models.stream_perplexity(model, val_ids, SEQ_LEN)
            logs = {"loss": loss, "val_loss": float(np.log(val_ppl)),
                    "perplexity": float(np.exp(loss)), "val_perplexity": val_ppl}
            history.append(epoch, logs)
            line = (f"loss {loss:.4f} - perplexity {np.exp(loss):.2f} - val_perplexity "
                    f"{val_ppl:.2f} (unigram {unigram_val:.2f}) - "
                    f"{time.perf_counter() - start:.1f}s")
            if bar is not None:
                bar.set_postfix_str(line, refresh=True)
                bar.close()
            elif args.verbose == 2:
                print(f"Epoch {epoch + 1}/{args.epochs} - {line}", file=sys.stderr)
    seconds = time.perf_counter() - start
    return model, vocab, history, seconds, (train_ids, val_ids, test_ids)


def run(args: argparse.Namespace) -> dict:
    import nn

    model, vocab, history, seconds, (train_ids, val_ids, test_ids) = train_model(args)
    with blas_threads(1):
        val_ppl = nn.models.stream_perplexity(model, val_ids, SEQ_LEN)
        test_ppl = nn.models.stream_perplexity(model, test_ids, SEQ_LEN)
        sample = nn.models.generate_text(model, vocab, PROMPT, SAMPLE_LEN,
                                         temperature=TEMPERATURE, rng=args.seed)
    unigram_val = nn.text.unigram_perplexity(train_ids, val_ids[1:], len(vocab))
    unigram_test = nn.text.unigram_perplexity(train_ids, test_ids[1:], len(vocab))
    print(f"validation perplexity {val_ppl:.2f} (unigram baseline {unigram_val:.2f}); "
          f"test perplexity {test_ppl:.2f} (unigram baseline {unigram_test:.2f})")
    print(f"sample (temperature {TEMPERATURE}, prompt {PROMPT!r}):")
    print(sample)
    print("-" * 40)
    metrics = {"perplexity": test_ppl, "unigram_perplexity": unigram_test}
    result = dict(finish(args, model, history, metrics, seconds))
    result.update(val_perplexity=val_ppl, unigram_val_perplexity=unigram_val, sample=sample)
    return result


def _bar(args, total: int, desc: str):
    if args.verbose != 1:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", mininterval=0.1, file=sys.stderr,
                dynamic_ncols=True)
