"""The source documents' Transformer, trained twice.

1. **Encoder classifier on palindromes** (the task needs attention: position i must be
   compared with position T-1-i). Sequences of ``LENGTH`` symbols from an alphabet of
   ``VOCAB``; half are palindromes, the other half are palindromes with one or two mirrored
   pairs broken (hard negatives: a single mismatch decides). The model is
   ``nn.models.transformer_classifier`` (token embedding + positional encoding -> 2 encoder
   layers -> mean pooling -> Linear), trained with Adam and a cosine learning-rate schedule;
   the weights of the best validation epoch are kept, then evaluated once on the test set.
2. **Causal character language model** on the bundled text corpus (the one the LSTM
   language model trains on), reporting the test perplexity exp(mean cross-entropy per
   character).

Shared options: ``--epochs``, ``--batch-size``, ``--lr``, ``--optimizer``, ``--hidden``
(d_model) apply to the classifier; the language model uses the fixed settings in ``LM``.
``--save`` saves the classifier's weights.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from .common import finish, info, make_optimizer

DESCRIPTION = ("Transformer encoder classifier on generated palindromes, then a causal "
               "character LM on the text corpus (perplexity)")
DEFAULTS = {"epochs": 30, "batch_size": 64, "optimizer": "adam", "lr": 3e-3, "hidden": 16}

LENGTH = 10     # symbols per sequence
VOCAB = 4       # alphabet size
N_TRAIN, N_VAL, N_TEST = 8000, 1000, 2000

#: The language model's settings (context length, size, training budget).
LM: dict[str, Any] = {"context": 64, "d_model": 128, "nhead": 4, "num_layers": 2,
                      "dim_feedforward": 256, "dropout": 0.1, "lr": 3e-3, "batch_size": 16,
                      "epochs": 12}


def palindrome_task(n: int, length: int = LENGTH, vocab: int = VOCAB, rng=None):
    """``(x, y)``: ``x`` int64 (n, length) symbols in [0, vocab), ``y`` 1 for a palindrome.

    About half of the rows are palindromes; the others are palindromes in which one mirrored
    pair (and, for half of them, a second one) was broken by changing one of its symbols. The
    label is computed from the final row, so it is always exact.
    """
    import nn

    gen = nn.get_rng(rng)
    half = (length + 1) // 2
    a = gen.integers(0, vocab, (n, half))
    x = np.concatenate([a, a[:, :length // 2][:, ::-1]], axis=1)
    negative = np.flatnonzero(gen.random(n) < 0.5)
    for second in (False, True):
        rows = negative[gen.random(negative.size) < 0.5] if second else negative
        pos = gen.integers(0, max(length // 2, 1), rows.size)
        x[rows, pos] = (x[rows, pos] + gen.integers(1, vocab, rows.size)) % vocab
    y = np.all(x == x[:, ::-1], axis=1).astype(np.int64)
    return x.astype(np.int64), y


def train_classifier(args: argparse.Namespace) -> tuple:
    """Train the palindrome classifier; returns ``(model, history, test metrics, seconds)``."""
    import nn
    import optim

    gen = np.random.default_rng(args.seed)
    x_tr, y_tr = palindrome_task(N_TRAIN, rng=gen)
    x_val, y_val = palindrome_task(N_VAL, rng=gen)
    x_te, y_te = palindrome_task(N_TEST, rng=gen)
    nn.manual_seed(args.seed)
    model = nn.models.transformer_classifier(2, vocab_size=VOCAB, d_model=args.hidden,
                                             nhead=4, num_layers=2,
                                             dim_feedforward=2 * args.hidden,
                                             max_len=LENGTH, rng=args.seed)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr)
    info(args, f"training transformer classifier ({model.num_parameters():,} parameters) on "
               f"palindromes of {LENGTH} symbols from {VOCAB}: {N_TRAIN} train / {N_VAL} "
               f"validation / {N_TEST} test, optimizer {args.optimizer}")
    callbacks = [nn.LearningRateScheduler(optim.lr_scheduler.CosineAnnealingLR(
                     optimizer, T_max=args.epochs)),
                 nn.EarlyStopping("val_accuracy", patience=args.epochs,
                                  restore_best_weights=True)]
    start = time.perf_counter()
    history = nn.fit(model, loss_fn, optimizer, x_tr, y_tr, epochs=args.epochs,
                     batch_size=args.batch_size, validation_data=(x_val, y_val),
                     callbacks=callbacks, rng=args.seed, verbose=args.verbose)
    seconds = time.perf_counter() - start
    return model, history, nn.evaluate(model, loss_fn, x_te, y_te), seconds


def lm_windows(ids: np.ndarray, context: int, starts: np.ndarray) -> tuple:
    """Inputs ``ids[s : s+context]`` and targets ``ids[s+1 : s+context+1]`` for each start."""
    idx = np.asarray(starts)[:, None] + np.arange(context)[None, :]
    return ids[idx], ids[idx + 1]


def window_perplexity(model, ids, context: int, batch_size: int = 32) -> float:
    """exp(mean next-token cross-entropy) of a causal model over a token stream.

    The model sees at most ``context`` tokens, so the stream is read in windows of
    ``context`` that overlap by half: the first window scores all of its predictions, each
    later one only its second half, so every token (but the first) is predicted once, with
    at least ``context // 2`` tokens before it once the first window is past. Eval mode.
    """
    import nn

    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    context = min(int(context), len(ids) - 1)
    half = max(context // 2, 1)
    starts = list(range(0, len(ids) - 1 - context, half)) + [len(ids) - 1 - context]
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total, count, scored = 0.0, 0, 0  # scored: predictions up to this stream index are done
    was = model.training
    model.eval()
    try:
        for i in range(0, len(starts), batch_size):
            chunk = np.array(starts[i:i + batch_size])
            x, y = lm_windows(ids, context, chunk)
            logits = model(x)
            for row, s in enumerate(chunk):
                skip = max(scored - s, 0)  # predictions already counted by earlier windows
                if skip >= context:
                    continue
                total += loss_fn(logits[row:row + 1, skip:], y[row:row + 1, skip:])
                count += context - skip
                scored = s + context
    finally:
        model.train(was)
    return math.exp(total / count)


def train_language_model(args: argparse.Namespace) -> dict:
    """Train the causal LM on the LSTM language model's corpus, split and vocabulary (the
    characters of the bundled docs corpus, 80/10/10 in order); returns its metrics."""
    import nn
    import optim

    from .lstm_lm import char_corpus

    vocab, train_ids, val_ids, test_ids = char_corpus()
    c, bs = LM["context"], LM["batch_size"]
    model = nn.models.transformer_language_model(
        len(vocab), d_model=LM["d_model"], nhead=LM["nhead"], num_layers=LM["num_layers"],
        dim_feedforward=LM["dim_feedforward"], dropout=LM["dropout"], max_len=c,
        rng=args.seed)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=LM["lr"])
    windows = len(train_ids) // c
    steps = LM["epochs"] * -(-windows // bs)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    info(args, f"training causal transformer LM ({model.num_parameters():,} parameters) on "
               f"the docs corpus: {len(train_ids):,} / {len(val_ids):,} / {len(test_ids):,} "
               f"characters, vocabulary {len(vocab)}, context {c}, {LM['epochs']} epochs of "
               f"{windows} random windows, batch {bs}")
    gen = np.random.default_rng(args.seed)
    start = time.perf_counter()
    for epoch in range(LM["epochs"]):
        model.train()
        x, y = nn.text.random_windows(train_ids, c, windows, rng=gen)
        total = 0.0
        for i in range(0, windows, bs):
            opt.zero_grad()
            total += loss_fn(model(x[i:i + bs]), y[i:i + bs]) * len(x[i:i + bs])
            model.backward(loss_fn.backward())
            optim.clip_grad_norm(model.parameters(), 1.0)
            opt.step()
            sched.step()
        val_ppl = window_perplexity(model, val_ids, c)
        info(args, f"  LM epoch {epoch + 1}/{LM['epochs']}: train perplexity "
                   f"{math.exp(total / windows):.2f}, validation perplexity {val_ppl:.2f} "
                   f"({time.perf_counter() - start:.1f} s)")
    seconds = time.perf_counter() - start
    test_ppl = window_perplexity(model, test_ids, c)
    unigram = nn.text.unigram_perplexity(train_ids, test_ids[1:], len(vocab))
    sample = nn.models.generate_text(model, vocab, "The ", 200, temperature=0.8,
                                     rng=args.seed)
    print(f"transformer LM: test perplexity {test_ppl:.2f} (unigram baseline {unigram:.2f}); "
          f"sample (temperature 0.8):")
    print(sample)
    print("-" * 40)
    return {"lm_perplexity": test_ppl, "lm_unigram_perplexity": unigram,
            "lm_seconds": seconds}


def run(args: argparse.Namespace) -> dict:
    from .common import blas_threads

    with blas_threads(1):  # many small products: one BLAS thread is faster on a busy machine
        model, history, metrics, seconds = train_classifier(args)
        if LM["epochs"] > 0:
            lm = train_language_model(args)
            metrics["lm_perplexity"] = lm["lm_perplexity"]
            seconds += lm["lm_seconds"]
    return finish(args, model, history, metrics, seconds)
