"""Bundled and generated text: corpora for language models and a sentiment task.

Every text here was written or generated for this project (no prose is copied from
elsewhere):

- :func:`load_corpus` ``"docs"`` - a snapshot of the project's own documentation
  (``docs/**/*.md``), shipped as ``docs_corpus.txt`` (rebuilt with :func:`build_docs_corpus`).
- :func:`load_corpus` ``"grammar"`` / :func:`make_grammar_corpus` - sentences generated from
  a small English-like grammar with number agreement across relative clauses (the subject
  ``the fox that the farmers see`` takes ``runs``, not ``run``).
- :func:`make_sentiment` - two-class "reviews" where word choice decides the label: a
  positive or negative adjective, flipped by a negation (``not``, ``never``, ``hardly``).

See docs/text.md.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .._config import get_rng

__all__ = ["load_corpus", "make_grammar_corpus", "make_sentiment", "build_docs_corpus"]

DOCS_CORPUS_FILE = "docs_corpus.txt"


# ---------------------------------------------------------------------- corpora
def load_corpus(name: str = "docs") -> str:
    """A bundled text corpus as one string.

    ``"docs"``: the project's documentation snapshot (about 100 KB of Markdown: prose,
    formulas, tables and code). ``"grammar"``: ``make_grammar_corpus(5000, rng=0)``
    (about 290 KB, one sentence per line, generated on first use).
    """
    if name == "docs":
        return _docs_text()
    if name == "grammar":
        return _grammar_text()
    raise ValueError(f"load_corpus: unknown corpus {name!r}; choose 'docs' or 'grammar'")


@lru_cache(maxsize=1)
def _docs_text() -> str:
    with resources.files(__name__.rsplit(".", 1)[0]).joinpath(DOCS_CORPUS_FILE).open(
            "r", encoding="utf-8") as fh:
        return fh.read()


@lru_cache(maxsize=1)
def _grammar_text() -> str:
    return make_grammar_corpus(5000, rng=0)


def build_docs_corpus(root: str | os.PathLike, out: str | os.PathLike | None = None) -> str:
    """Concatenate the Markdown files under ``root/docs`` (sorted by path) into one text.

    Each file is preceded by a line ``<<< path >>>``. With ``out``, the text is also
    written there (this is how ``nn/datasets/docs_corpus.txt`` is made). Both paths
    expand ``~`` and may be any ``os.PathLike``.
    """
    root = Path(root).expanduser()
    parts = []
    for path in sorted((root / "docs").rglob("*.md")):
        parts.append(f"<<< {path.relative_to(root).as_posix()} >>>\n")
        parts.append(path.read_text(encoding="utf-8").rstrip() + "\n\n")
    text = "".join(parts)
    if out is not None:
        Path(out).expanduser().write_text(text, encoding="utf-8")
    return text


# ---------------------------------------------------------------------- grammar
_NOUNS = {  # singular -> plural
    "fox": "foxes", "farmer": "farmers", "child": "children", "teacher": "teachers",
    "robot": "robots", "sailor": "sailors", "baker": "bakers", "cat": "cats", "dog": "dogs",
    "bird": "birds", "painter": "painters", "king": "kings", "queen": "queens",
    "student": "students", "horse": "horses", "owl": "owls",
}
_ADJECTIVES = ["old", "young", "small", "clever", "tired", "happy", "quiet", "brave", "red",
               "lazy", "curious", "grey"]
_INTRANSITIVE = {"sleeps": "sleep", "sings": "sing", "runs": "run", "laughs": "laugh",
                 "waits": "wait", "dances": "dance", "hides": "hide", "wanders": "wander"}
_TRANSITIVE = {"sees": "see", "helps": "help", "follows": "follow", "likes": "like",
               "paints": "paint", "calls": "call", "feeds": "feed", "watches": "watch",
               "teaches": "teach", "finds": "find"}
_ADVERBS = ["quietly", "often", "again", "slowly", "today", "at night", "every morning"]
_PLACES = ["in the garden", "near the river", "at the market", "on the hill",
           "under the bridge", "by the old mill", "in the forest"]
_DET_SG = ["the", "the", "a", "every", "this"]
_DET_PL = ["the", "the", "some", "many", "these", "two", "three"]


class _Grammar:
    """Sentence generator; plural subjects take plural verbs, across relative clauses."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.sg = list(_NOUNS)
        self.intr = list(_INTRANSITIVE)
        self.tr = list(_TRANSITIVE)

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def noun_phrase(self, plural: bool, relative: bool = True) -> str:
        noun = self.pick(self.sg)
        words = [self.pick(_DET_PL if plural else _DET_SG)]
        if self.chance(0.35):
            words.append(self.pick(_ADJECTIVES))
        words.append(_NOUNS[noun] if plural else noun)
        if words[0] == "a" and words[1][0] in "aeiou":
            words[0] = "an"
        if relative and self.chance(0.25):
            if self.chance(0.5):   # that + verb phrase agreeing with this noun
                words += ["that", self.verb_phrase(plural, nested=False)]
            else:                  # that + another subject + its own transitive verb
                other = self.chance(0.5)
                words += ["that", self.noun_phrase(other, relative=False),
                          self.verb(other, transitive=True)]
        return " ".join(words)

    def verb(self, plural: bool, transitive: bool) -> str:
        sg = self.pick(self.tr if transitive else self.intr)
        return (_TRANSITIVE if transitive else _INTRANSITIVE)[sg] if plural else sg

    def verb_phrase(self, plural: bool, nested: bool = True) -> str:
        if self.chance(0.5):
            words = [self.verb(plural, transitive=True), self.noun_phrase(self.chance(0.4),
                                                                           relative=nested)]
        else:
            words = [self.verb(plural, transitive=False)]
        if self.chance(0.3):
            words.append(self.pick(_ADVERBS))
        if self.chance(0.25):
            words.append(self.pick(_PLACES))
        return " ".join(words)

    def clause(self) -> str:
        plural = self.chance(0.45)
        return f"{self.noun_phrase(plural)} {self.verb_phrase(plural)}"

    def sentence(self) -> str:
        r = self.rng.random()
        if r < 0.55:
            body, end = self.clause(), "."
        elif r < 0.7:
            body, end = f"when {self.clause()} , {self.clause()}", "."
        elif r < 0.8:
            plural = self.chance(0.45)
            body = f"{self.noun_phrase(plural)} {'say' if plural else 'says'} that {self.clause()}"
            end = "."
        elif r < 0.9:
            body, end = f"{self.clause()} and {self.clause()}", "."
        else:
            plural = self.chance(0.45)
            aux = "do" if plural else "does"
            body = (f"{aux} {self.noun_phrase(plural, relative=False)} "
                    f"{self.verb(True, transitive=True)} {self.noun_phrase(self.chance(0.4))}")
            end = "?"
        return f"{body} {end}"


def make_grammar_corpus(n_sentences: int = 5000, rng=None) -> str:
    """``n_sentences`` generated sentences, one per line, lower case, tokens separated by
    single spaces (punctuation too), e.g. ``the clever foxes that the king sees sleep .``

    The grammar has 16 nouns, 12 adjectives, 18 verbs, relative clauses, subordinate
    clauses and questions; a verb agrees in number with its subject even when a relative
    clause stands between them, so predicting it needs memory beyond the previous word.
    """
    if n_sentences < 1:
        raise ValueError(f"make_grammar_corpus: n_sentences must be >= 1, got {n_sentences}")
    g = _Grammar(get_rng(rng))
    return "\n".join(g.sentence() for _ in range(int(n_sentences))) + "\n"


# ---------------------------------------------------------------------- sentiment
_SUBJECTS = ["the film", "this movie", "the story", "the acting", "the soundtrack",
             "the ending", "the script", "the cast", "the photography", "the dialogue",
             "the pacing", "the humour", "the director's work", "the second half"]
_COPULAS = ["is", "was", "felt", "seemed", "remains"]
_POSITIVE = ["good", "great", "wonderful", "brilliant", "charming", "moving", "delightful",
             "superb", "clever", "fresh", "gripping", "beautiful", "funny", "touching"]
_NEGATIVE = ["bad", "boring", "dull", "awful", "clumsy", "tedious", "weak", "predictable",
             "bland", "messy", "lifeless", "painful", "silly", "flat"]
_NEGATORS = ["not", "never", "hardly"]
_INTENSIFIERS = ["very", "really", "quite", "truly", "rather", "so"]
_OPENERS = ["honestly ,", "in my opinion ,", "overall ,", "i think", "to be fair ,",
            "frankly ,", "as expected ,"]
_CLOSERS = ["from start to finish", "for most of its length", "by the end", "in every scene",
            "on the big screen", "for a sunday afternoon"]


def _sentiment_clause(rng: np.random.Generator, positive: bool, negate: bool) -> str:
    word_positive = positive != negate      # a negated negative word reads positive
    words = [_SUBJECTS[rng.integers(len(_SUBJECTS))], _COPULAS[rng.integers(len(_COPULAS))]]
    if negate:
        words.append(_NEGATORS[rng.integers(len(_NEGATORS))])
    if rng.random() < 0.4:
        words.append(_INTENSIFIERS[rng.integers(len(_INTENSIFIERS))])
    bank = _POSITIVE if word_positive else _NEGATIVE
    words.append(bank[rng.integers(len(bank))])
    return " ".join(words)


def make_sentiment(n_samples: int = 2000, negation_rate: float = 0.35, rng=None
                   ) -> tuple[list[str], np.ndarray]:
    """Two-class generated reviews: ``(texts, labels)``, label 1 positive, 0 negative.

    Each review has one or two clauses ``subject copula [negator] [intensifier] adjective``
    (joined by ``and``; both clauses share the sentiment and are both negated or both not,
    so the words present decide the label whatever their order) with optional opener and
    closer phrases that carry no sentiment. The label is the adjective's polarity, flipped when a
    negator (``not``, ``never``, ``hardly``) precedes it, so the label is decided by word
    choice, including the interaction of two words: ``not dull`` is positive, ``dull``
    negative. A model that only counts positive and negative adjectives is right about
    ``1 - negation_rate`` of the time; one that accounts for negation can be always right.
    The classes are balanced in expectation.
    """
    if n_samples < 1:
        raise ValueError(f"make_sentiment: n_samples must be >= 1, got {n_samples}")
    if not 0.0 <= negation_rate <= 1.0:
        raise ValueError(f"make_sentiment: negation_rate must be in [0, 1], got {negation_rate}")
    gen = get_rng(rng)
    texts, labels = [], []
    for _ in range(int(n_samples)):
        positive = bool(gen.random() < 0.5)
        negate = bool(gen.random() < negation_rate)
        parts = []
        if gen.random() < 0.35:
            parts.append(_OPENERS[gen.integers(len(_OPENERS))])
        parts.append(_sentiment_clause(gen, positive, negate))
        if gen.random() < 0.35:
            parts += ["and", _sentiment_clause(gen, positive, negate)]
        if gen.random() < 0.3:
            parts.append(_CLOSERS[gen.integers(len(_CLOSERS))])
        parts.append("." if gen.random() < 0.8 else "!")
        texts.append(" ".join(parts))
        labels.append(int(positive))
    return texts, np.array(labels, dtype=np.int64)
