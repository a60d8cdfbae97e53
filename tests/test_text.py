"""nn.text (tokenisers, Vocabulary, padding, language-modelling pairs) and the text datasets."""

import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from nn import text
from nn.datasets import text as text_data


# ---------------------------------------------------------------- tokenisers
def test_char_tokenizer_round_trip():
    s = "Hi, there!\n  ∂L/∂x"
    tok = text.CharTokenizer()
    assert tok.tokenize(s) == list(s)
    assert tok.detokenize(tok.tokenize(s)) == s


def test_word_tokenizer_words_and_punctuation():
    assert text.word_tokenize("Don't PANIC, it's (only) a test.") == \
        ["don't", "panic", ",", "it's", "(", "only", ")", "a", "test", "."]
    assert text.word_tokenize("Keep Case", lower=False) == ["Keep", "Case"]
    tok = text.WordTokenizer()
    assert tok.detokenize(tok.tokenize("the end (really) , ok.")) == "the end (really), ok."


@given(st.lists(st.sampled_from(["the", "cat", "sat", "on", "mat"]), min_size=1, max_size=12))
def test_word_detokenize_then_tokenize_is_identity(words):
    assert text.word_tokenize(text.detokenize_words(words)) == words


# ---------------------------------------------------------------- vocabulary
def test_vocabulary_ids_are_deterministic():
    docs = [["b", "a", "c", "a"], ["c", "a", "d"]]
    v = text.Vocabulary.build(docs)
    assert v.itos == ["<pad>", "<unk>", "a", "c", "b", "d"]   # count desc, then token
    assert (v.pad_id, v.unk_id, len(v)) == (0, 1, 6)
    np.testing.assert_array_equal(v.encode(["a", "zzz", "d"]), [2, 1, 5])
    assert v.encode([]).dtype == np.int64
    assert v.decode([0, 2, 1, 5]) == ["<pad>", "a", "<unk>", "d"]
    assert v.decode(np.array([[0, 2], [1, 5]]), skip_specials=True) == ["a", "d"]
    assert v["nope"] == 1 and "a" in v and "nope" not in v
    assert v.counts["a"] == 3


def test_vocabulary_from_one_token_stream_min_freq_max_size():
    v = text.Vocabulary.build(text.char_tokenize("aaabbc"), min_freq=2)
    assert v.itos == ["<pad>", "<unk>", "a", "b"]
    v = text.Vocabulary.build(text.char_tokenize("aaabbc"), max_size=3)
    assert v.itos == ["<pad>", "<unk>", "a"]
    with pytest.raises(ValueError, match="max_size"):
        text.Vocabulary.build(["a"], max_size=1)
    with pytest.raises(ValueError, match="min_freq"):
        text.Vocabulary.build(["a"], min_freq=0)


def test_vocabulary_json_round_trip_and_errors():
    v = text.Vocabulary.build([["x", "y", "x"]], specials=("<pad>", "<unk>", "<eos>"))
    w = text.Vocabulary.from_json(v.to_json())
    assert w == v and w.itos == v.itos and w.unk_id == 1
    with pytest.raises(ValueError, match="out of range"):
        v.decode([99])
    strict = text.Vocabulary(["a"], specials=(), pad=None, unk=None)
    with pytest.raises(KeyError, match="unknown token"):
        strict.encode(["b"])
    assert strict.pad_id is None
    with pytest.raises(ValueError, match="must be one of the specials"):
        text.Vocabulary(["a"], specials=("<pad>",))


# ---------------------------------------------------------------- padding and pairs
def test_pad_sequences_modes():
    seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    np.testing.assert_array_equal(text.pad_sequences(seqs, max_len=4),
                                  [[1, 2, 3, 0], [4, 0, 0, 0], [5, 6, 7, 8]])
    np.testing.assert_array_equal(
        text.pad_sequences(seqs, max_len=4, padding="pre", truncating="pre", pad_id=9),
        [[9, 1, 2, 3], [9, 9, 9, 4], [6, 7, 8, 9]])
    full = text.pad_sequences(seqs)
    assert full.shape == (3, 5) and full.dtype == np.int64
    np.testing.assert_array_equal(text.padding_mask(full), full != 0)
    assert text.pad_sequences([[], [1]]).tolist() == [[0], [1]]
    with pytest.raises(ValueError, match="padding"):
        text.pad_sequences(seqs, padding="middle")
    with pytest.raises(TypeError, match="integers"):
        text.pad_sequences([[0.5]])


@given(n=st.integers(2, 60), seq_len=st.integers(1, 8), stride=st.integers(1, 9),
       offset=st.integers(0, 3))
def test_next_token_pairs_property(n, seq_len, stride, offset):
    ids = np.random.default_rng(n).integers(0, 50, size=n)
    if n - seq_len - 1 < offset:
        with pytest.raises(ValueError, match="too short"):
            text.next_token_pairs(ids, seq_len, stride, offset)
        return
    x, y = text.next_token_pairs(ids, seq_len, stride, offset)
    assert x.shape == y.shape and x.shape[1] == seq_len and x.dtype == np.int64
    for k in range(len(x)):
        start = offset + k * stride
        np.testing.assert_array_equal(x[k], ids[start:start + seq_len])
        np.testing.assert_array_equal(y[k], ids[start + 1:start + seq_len + 1])
    assert offset + len(x) * stride > n - seq_len - 1   # no window left out


def test_shifted_pairs_pad_targets_for_ignore_index():
    x, y = text.shifted_pairs([[5, 6, 7], [8, 9]], pad_id=0)
    np.testing.assert_array_equal(x, [[5, 6], [8, 0]])
    np.testing.assert_array_equal(y, [[6, 7], [9, 0]])


def test_random_windows_deterministic_and_aligned():
    ids = np.arange(100)
    x, y = text.random_windows(ids, 10, 7, rng=3)
    x2, _ = text.random_windows(ids, 10, 7, rng=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(ValueError, match="too short"):
        text.random_windows(ids[:5], 10, 1)


# ---------------------------------------------------------------- datasets
def test_docs_corpus_is_bundled_and_packaged():
    corpus = nn.datasets.load_corpus("docs")
    assert len(corpus) > 50_000 and "<<< docs/" in corpus
    assert resources.files("nn.datasets").joinpath(text_data.DOCS_CORPUS_FILE).is_file()
    root = Path(__file__).resolve().parents[1]
    lines = (root / "pyproject.toml").read_text().splitlines()
    assert any(line.startswith('"nn.datasets"') and '"*.txt"' in line for line in lines)
    with pytest.raises(ValueError, match="unknown corpus"):
        nn.datasets.load_corpus("novels")


def test_build_docs_corpus(tmp_path):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "b.md").write_text("bee\n")
    (tmp_path / "docs" / "sub" / "a.md").write_text("ay")
    out = tmp_path / "corpus.txt"
    t = nn.datasets.build_docs_corpus(tmp_path, out)
    assert t == "<<< docs/b.md >>>\nbee\n\n<<< docs/sub/a.md >>>\nay\n\n"
    assert out.read_text() == t


def test_grammar_corpus_deterministic_and_agreeing():
    a = nn.datasets.make_grammar_corpus(300, rng=1)
    assert a == nn.datasets.make_grammar_corpus(300, rng=1)
    assert a != nn.datasets.make_grammar_corpus(300, rng=2)
    lines = a.splitlines()
    assert len(lines) == 300 and all(line.endswith((" .", " ?")) for line in lines)
    # a simple sentence "the <plural noun> <verb> ." always has a plural verb
    plural = set(text_data._NOUNS.values())
    verbs_pl = set(text_data._INTRANSITIVE.values())
    verbs_sg = set(text_data._INTRANSITIVE)
    for line in nn.datasets.make_grammar_corpus(3000, rng=0).splitlines():
        w = line.split()
        if len(w) == 4 and w[0] == "the" and w[3] == ".":
            assert (w[2] in verbs_pl) == (w[1] in plural), line
            assert (w[2] in verbs_sg) == (w[1] not in plural), line
    assert nn.datasets.load_corpus("grammar").count("\n") == 5000


def test_sentiment_labels_follow_word_choice_and_negation():
    texts, labels = nn.datasets.make_sentiment(2000, rng=0)
    assert labels.dtype == np.int64 and 0.45 < labels.mean() < 0.55
    again, labels2 = nn.datasets.make_sentiment(2000, rng=0)
    assert texts == again and np.array_equal(labels, labels2)
    pos, neg = set(text_data._POSITIVE), set(text_data._NEGATIVE)
    negators = set(text_data._NEGATORS)
    for t, label in zip(texts, labels):
        for clause in t.split(" and "):
            words = clause.split()
            adjective = [w for w in words if w in pos or w in neg]
            assert len(adjective) == 1, t
            flipped = any(w in negators for w in words)
            assert ((adjective[0] in pos) != flipped) == bool(label), t
    with pytest.raises(ValueError, match="negation_rate"):
        nn.datasets.make_sentiment(10, negation_rate=2)


DOC = Path(__file__).resolve().parents[1] / "docs" / "text.md"
DOC_BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.usefixtures("allow_underflow")
@pytest.mark.parametrize("index", range(len(DOC_BLOCKS)))
def test_docs_text_examples_run(index, capsys):
    exec(compile(DOC_BLOCKS[index], f"docs/text.md block {index}", "exec"), {})
    assert capsys.readouterr().out.strip()
