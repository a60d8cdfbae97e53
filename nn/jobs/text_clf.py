"""The source documents' text classifier on generated two-class reviews.

Embedding(vocab, 32) -> mean over the real tokens (mask-aware) -> Linear(32, hidden) ->
tanh -> Dropout(0.2) -> Linear(hidden, 2), cross-entropy, Adam. The data are
:func:`nn.datasets.make_sentiment` reviews (3,000, split 70/15/15, stratified): the label is
the polarity of the adjective, flipped by a negation, so word choice decides it (counting
adjectives while ignoring the negation is right only about 65% of the time, and no linear
function of word counts is always right: the negation must flip the adjective).
"""

from __future__ import annotations

import argparse

import numpy as np

from .common import finish, train_classifier

DESCRIPTION = ("the source documents' text classifier (Embedding -> mean -> Linear -> tanh -> "
               "Dropout -> Linear(2)) on generated reviews with negation")
DEFAULTS = {"epochs": 15, "batch_size": 32, "optimizer": "adam", "lr": 1e-2, "hidden": 32}

N_SAMPLES = 3000
EMBED = 32
DROPOUT = 0.2


def sentiment_split(seed: int, n: int = N_SAMPLES):
    """Tokenised, encoded and padded reviews: ``(vocab, (x_tr, y_tr), (x_val, y_val),
    (x_te, y_te), texts_te)``; the vocabulary is built on the training part only."""
    import nn

    texts, labels = nn.datasets.make_sentiment(n, rng=seed)
    tokens = [nn.text.word_tokenize(t) for t in texts]
    idx = np.arange(n)
    i_tr, i_val, i_te, y_tr, y_val, y_te = nn.data.train_val_test_split(
        idx, labels, val_size=0.15, test_size=0.15, stratify=True, rng=seed)
    vocab = nn.text.Vocabulary.build([tokens[i] for i in i_tr])
    x = nn.text.pad_sequences([vocab.encode(t) for t in tokens], pad_id=vocab.pad_id or 0)
    return (vocab, (x[i_tr], y_tr), (x[i_val], y_val), (x[i_te], y_te),
            [texts[i] for i in i_te])


def run(args: argparse.Namespace) -> dict:
    import nn

    nn.manual_seed(args.seed)
    vocab, train, val, test, texts_te = sentiment_split(args.seed)
    model = nn.models.text_classifier(len(vocab), EMBED, args.hidden, dropout=DROPOUT,
                                      pad_id=vocab.pad_id, rng=args.seed)
    what = (f"generated reviews (vocabulary {len(vocab)}, padded to {train[0].shape[1]} "
            "tokens)")
    history, metrics, seconds = train_classifier(args, model, (train, val, test), what)
    x_te, y_te = test
    pred = nn.predict(model, x_te[:4]).argmax(axis=1)
    for text, p, t in zip(texts_te[:4], pred, y_te[:4]):
        print(f"  {'positive' if p else 'negative'} (true {'positive' if t else 'negative'}): "
              f"{text}")
    return finish(args, model, history, metrics, seconds)
