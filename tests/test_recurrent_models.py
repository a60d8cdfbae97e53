"""The LSTM language model (generation, perplexity), the text classifier (mask-aware mean
pooling) and their jobs ``python -m nn --model lstm-lm`` / ``--model text-clf``."""

import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import nn
import optim
from nn.jobs import common, lstm_lm, text_clf
from nn.models import recurrent as rec

pytestmark = pytest.mark.usefixtures("allow_underflow")


# ---------------------------------------------------------------- language model
def test_language_model_layout_and_shapes():
    model = nn.models.lstm_language_model(11, 5, 7, rng=0)
    assert [name for name, _ in model.named_parameters()] == [
        "embedding.weight", "rnn.weight_ih", "rnn.weight_hh", "rnn.bias", "output.weight",
        "output.bias"]
    ids = np.random.default_rng(0).integers(0, 11, size=(3, 9))
    logits = model(ids)
    assert logits.shape == (3, 9, 11) and logits.dtype == np.float32
    assert model.state[0].shape == (3, 7)
    assert model.backward(np.ones_like(logits)) is None
    gru = nn.models.lstm_language_model(11, 5, 7, cell="gru", dropout=0.1, rng=0)
    assert isinstance(gru.rnn, nn.GRU) and "dropout" in dict(gru.named_children())
    with pytest.raises(ValueError, match="cell"):
        nn.models.lstm_language_model(11, cell="transformer")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_language_model_gradcheck(cell):
    model = nn.models.lstm_language_model(6, 3, 4, cell=cell, dropout=0.2, rng=1,
                                          dtype=np.float64)
    ids = np.random.default_rng(2).integers(0, 6, size=(2, 5))
    nn.assert_gradcheck(model, ids, seed=3)


def test_language_model_is_causal():
    model = nn.models.lstm_language_model(8, 4, 6, rng=0, dtype=np.float64)
    ids = np.random.default_rng(0).integers(0, 8, size=(2, 7))
    changed = ids.copy()
    changed[:, 4:] = (changed[:, 4:] + 1) % 8
    np.testing.assert_array_equal(model(ids)[:, :4], model(changed)[:, :4])


def test_generate_with_carried_state_equals_rereading_the_text():
    model = nn.models.lstm_language_model(9, 4, 8, rng=0, dtype=np.float64)
    prompt = np.array([3, 1, 4])
    out = model.generate(prompt, 12, temperature=0)
    assert out.dtype == np.int64 and len(out) == 15
    np.testing.assert_array_equal(out[:3], prompt)
    for t in range(3, 15):   # greedy: each token is the argmax given everything before it
        assert out[t] == np.argmax(model(out[None, :t])[0, -1])
    assert model.training                                          # mode restored


def test_generate_is_deterministic_under_a_seed_and_uses_the_temperature():
    model = nn.models.lstm_language_model(12, 4, 8, rng=0)
    a = nn.models.generate(model, [1, 2], 40, temperature=1.0, rng=5)
    b = nn.models.generate(model, [1, 2], 40, temperature=1.0, rng=5)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() < 12
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    rng = np.random.default_rng(0)
    cold = [rec.sample_next(logits, 0.05, rng) for _ in range(200)]
    hot = [rec.sample_next(logits, 5.0, rng) for _ in range(2000)]
    assert set(cold) == {0}
    assert set(hot) == {0, 1, 2, 3} and np.bincount(hot)[3] > 200
    top2 = {rec.sample_next(logits, 5.0, rng, top_k=2) for _ in range(300)}
    assert top2 == {0, 1}
    with pytest.raises(ValueError, match="temperature"):
        rec.sample_next(logits, -1.0)
    with pytest.raises(ValueError, match="at least one token"):
        model.generate([], 3)
    with pytest.raises(TypeError, match="no generate method"):
        nn.models.generate(nn.Linear(2, 2), [1], 2)


def test_generate_text_round_trip():
    vocab = nn.text.Vocabulary.build(nn.text.char_tokenize("abcabc "))
    model = nn.models.lstm_language_model(len(vocab), 4, 8, rng=0)
    text = nn.models.generate_text(model, vocab, "ab", 20, temperature=0.5, rng=0)
    assert text.startswith("ab") and len(text) <= 22 and set(text) <= set("abc ")


def test_stream_perplexity_equals_one_pass_over_the_stream():
    model = nn.models.lstm_language_model(7, 3, 5, rng=0, dtype=np.float64)
    ids = np.random.default_rng(0).integers(0, 7, size=50)
    loss = nn.CrossEntropyLoss()(model(ids[None, :-1]), ids[None, 1:])
    assert nn.models.stream_perplexity(model, ids, seq_len=6, batch_size=1) == \
        pytest.approx(np.exp(loss), rel=1e-12)
    # two pieces read side by side: the same as each piece in one pass
    a, b = ids[:25], ids[24:49]
    la = nn.CrossEntropyLoss(reduction="sum")(model(a[None, :-1]), a[None, 1:])
    lb = nn.CrossEntropyLoss(reduction="sum")(model(b[None, :-1]), b[None, 1:])
    assert nn.models.stream_perplexity(model, ids, seq_len=4, batch_size=2) == \
        pytest.approx(np.exp((la + lb) / 48), rel=1e-12)


def test_unigram_perplexity():
    assert nn.text.unigram_perplexity([0, 1, 2, 3], [0, 1, 2, 3], 4, smoothing=0) == \
        pytest.approx(4.0)
    p = np.array([3, 1]) / 4
    assert nn.text.unigram_perplexity([0, 0, 0, 1], [0, 1], 2, smoothing=0) == \
        pytest.approx(np.exp(-np.log(p).mean()))
    assert np.isfinite(nn.text.unigram_perplexity([0], [1], 2))   # add-one: unseen is finite


def test_small_lstm_beats_the_unigram_baseline_on_the_grammar_corpus():
    text = nn.datasets.make_grammar_corpus(400, rng=0)
    vocab = nn.text.Vocabulary.build(nn.text.word_tokenize(text))
    ids = vocab.encode(nn.text.word_tokenize(text))
    cut = int(0.9 * len(ids))
    train, val = ids[:cut], ids[cut:]
    model = nn.models.lstm_language_model(len(vocab), 16, 32, rng=0)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    gen = np.random.default_rng(0)
    for _ in range(60):
        x, y = nn.text.random_windows(train, 20, 16, rng=gen)
        opt.zero_grad()
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        optim.clip_grad_norm(model.parameters(), 1.0)
        opt.step()
    ppl = nn.models.stream_perplexity(model, val, 20)
    unigram = nn.text.unigram_perplexity(train, val[1:], len(vocab))
    assert ppl < 0.5 * unigram, (ppl, unigram)


# ---------------------------------------------------------------- classifier
def test_text_classifier_layout():
    model = nn.models.text_classifier(20, 6, 5, rng=0, pad_id=0)
    assert [n for n, _ in model.named_parameters()] == [
        "embedding.weight", "fc.weight", "fc.bias", "out.weight", "out.bias"]
    assert model.embedding.padding_idx == 0 and model.dropout.p == 0.2
    assert "mask-aware" in nn.models.text_classifier.__doc__
    assert "mean" in nn.models.text_classifier.__doc__


def test_text_classifier_ignores_padding():
    model = nn.models.text_classifier(20, 6, 5, rng=0, pad_id=0).eval()
    review = np.array([[4, 7, 7, 12]])
    alone = model(review)
    right = model(np.array([[4, 7, 7, 12, 0, 0, 0], [3, 0, 0, 0, 0, 0, 0]]))
    left = model(np.array([[0, 0, 4, 7, 7, 12], [5, 6, 0, 0, 0, 0]]))
    np.testing.assert_allclose(right[:1], alone, rtol=1e-6)
    np.testing.assert_allclose(left[:1], alone, rtol=1e-6)
    empty = model(np.zeros((1, 5), dtype=np.int64))      # all padding: pools to zero
    assert np.all(np.isfinite(empty))


def test_text_classifier_gradcheck_and_padding_gets_no_gradient():
    model = nn.models.text_classifier(10, 4, 3, rng=0, dtype=np.float64)
    ids = np.array([[1, 2, 2, 0, 0], [3, 4, 5, 6, 7], [0, 9, 0, 8, 0]])
    nn.assert_gradcheck(model, ids, seed=1)
    model.zero_grad()
    model(ids)
    model.backward(np.random.default_rng(0).standard_normal((3, 2)))
    np.testing.assert_array_equal(model.embedding.weight.grad[0], 0)
    np.testing.assert_array_equal(model.embedding.weight.data[0], 0)


def test_text_classifier_rejects_bad_ids():
    model = nn.models.text_classifier(10, 4, 3, rng=0)
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        model(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="out of range"):
        model(np.array([[1, 10]]))


# ---------------------------------------------------------------- jobs
def _args(model, *extra):
    from nn.__main__ import _train_parser

    return _train_parser().parse_args(["--model", model, "--verbose", "0", *extra])


def test_text_clf_job_reaches_090(capsys):
    from nn.__main__ import train

    metrics = train(_args("text-clf", "--epochs", "10"))
    assert metrics["accuracy"] >= 0.9
    assert "test accuracy" in capsys.readouterr().out


def test_lstm_lm_job_beats_unigram(capsys):
    from nn.__main__ import train

    metrics = train(_args("lstm-lm", "--epochs", "5", "--hidden", "64"))
    assert metrics["perplexity"] < 0.6 * metrics["unigram_perplexity"]
    assert metrics["val_perplexity"] < 0.7 * metrics["unigram_val_perplexity"]
    out = capsys.readouterr().out
    assert "unigram baseline" in out and "sample (temperature" in out
    assert metrics["sample"].startswith("The ") and len(metrics["sample"]) > 250


def test_char_corpus_split():
    vocab, tr, val, te = lstm_lm.char_corpus()
    assert len(tr) > 8 * len(val) / 1.01 and abs(len(val) - len(te)) <= 1
    assert vocab.pad_id == 0 and tr.dtype == np.int64 and tr.max() < len(vocab)


def test_sentiment_split_shapes():
    vocab, (x_tr, y_tr), (x_val, _), (x_te, y_te), texts = text_clf.sentiment_split(0, n=200)
    assert len(x_tr) + len(x_val) + len(x_te) == 200 and len(texts) == len(x_te)
    assert x_tr.dtype == np.int64 and x_tr.shape[1] == x_te.shape[1]
    assert set(np.unique(y_tr)) == {0, 1}


def _blas_thread_counts() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_threads_restores_the_setting(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    before = _blas_thread_counts()
    if not before:
        pytest.skip("threadpoolctl finds no BLAS library in this process")
    with common.blas_threads(1):
        assert _blas_thread_counts() == [1] * len(before)
    assert _blas_thread_counts() == before


@pytest.mark.parametrize("model, extra, expect", [
    ("text-clf", ["--epochs", "3"], "test accuracy"),
    ("lstm-lm", ["--epochs", "1", "--hidden", "32"], "unigram baseline"),
])
def test_cli_smoke(model, extra, expect):
    proc = subprocess.run([sys.executable, "-m", "nn", "--model", model, "--verbose", "0",
                           *extra], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert expect in proc.stdout


def test_cli_help_lists_the_text_models():
    proc = subprocess.run([sys.executable, "-m", "nn", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert "lstm-lm" in proc.stdout and "text-clf" in proc.stdout


def test_generate_subcommand_from_saved_weights(tmp_path, capsys):
    from nn.jobs import generate as gen_cmd

    vocab = lstm_lm.char_corpus()[0]
    model = nn.models.lstm_language_model(len(vocab), 8, 16, dropout=lstm_lm.DROPOUT, rng=0)
    path = nn.save(model, tmp_path / "lm.npz")
    assert gen_cmd.main(["--weights", path, "--prompt", "Layer", "--length", "30",
                         "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    expected = nn.models.generate_text(model, vocab, "Layer", 30, temperature=0)
    assert out == expected + "\n" and out.startswith("Layer")
    other = nn.save(nn.Linear(2, 2), tmp_path / "other.npz")
    with pytest.raises(SystemExit, match="does not hold lstm-lm weights"):
        gen_cmd.main(["--weights", other])
    with pytest.raises(SystemExit, match="no such file"):
        gen_cmd.main(["--weights", str(tmp_path / "missing.npz")])


def test_generate_subcommand_trains_first(capsys):
    from nn.jobs import generate as gen_cmd

    assert gen_cmd.main(["--epochs", "1", "--hidden", "16", "--length", "20",
                         "--verbose", "0"]) == 0
    assert capsys.readouterr().out.startswith(lstm_lm.PROMPT)
