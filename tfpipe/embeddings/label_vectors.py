"""A class name's word vector: the one rule DeViSE's label embeddings and the coverage report use.

:func:`label_vector` turns a label name into a vector of a word-vector table:

1. The name is split into synonyms at commas (Tiny-ImageNet's ``words.txt``: ``"goldfish,
   Carassius auratus"``); a name without commas is one synonym.
2. A synonym's words are its tokens as the skip-gram vocabulary has them (:func:`words`):
   case-folded runs of letters, or of digits; anything else separates them (spaces, ``_`` of
   CUB's ``Black_footed_Albatross``, hyphens of ``hard-leaved``, apostrophes, dots).
3. The first synonym, in order, whose words all have a vector gives the label's vector: the
   mean of the *unit* vectors of its words (``"pink primrose"`` -> ``(u_pink + u_primrose) / 2``).
4. When no synonym is fully covered, the first synonym with at least one covered word gives
   the mean of the unit vectors of its covered words (a *partial* vector; the result says
   which words were missing).
5. When no word of any synonym has a vector, the label has none (``vector is None``).  Never
   dropped silently: :class:`LabelVector` records what was used and what was missing.

The vector is that mean, not re-normalised (DeViSE compares unit-normed vectors: normalise
with :func:`unit` where that is wanted).
"""
from __future__ import annotations

import re
from typing import Mapping, NamedTuple, Sequence

import numpy as np

__all__ = ["LabelVector", "WordTable", "label_vector", "unit", "words", "synonyms"]

_TOKEN = re.compile(r"[^\W\d_]+|\d+")


def words(text: str) -> list[str]:
    """The vocabulary words of ``text``: case-folded runs of letters or of digits."""
    from tfpipe.embeddings.pretrained import fold

    return [fold(t) for t in _TOKEN.findall(text)]


def synonyms(name: str) -> list[str]:
    """The comma-separated synonyms of a label name, stripped, empty ones dropped."""
    return [s.strip() for s in name.split(",") if s.strip()]


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector / |vector|`` (a zero vector stays zero)."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


class WordTable(Mapping):
    """A read-only ``word -> float32 vector`` mapping over a ``[n, d]`` matrix.

    Words are case-folded (:func:`tfpipe.embeddings.pretrained.fold`); when several rows fold
    to the same word (a cased word2vec file), the first row wins (files list the most frequent
    first).
    """

    def __init__(self, words_: Sequence[str], vectors: np.ndarray):
        from tfpipe.embeddings.pretrained import fold

        self.vectors = np.asarray(vectors, dtype=np.float32)
        if len(words_) != len(self.vectors):
            raise ValueError(f"{len(words_)} words but {len(self.vectors)} vectors")
        self.index: dict[str, int] = {}
        for row, word in enumerate(words_):
            self.index.setdefault(fold(word), row)

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index[word]]

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __iter__(self):
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def centered(self) -> "WordTable":
        """The table with every word's *unit* vector minus the mean unit vector of the table (the
        first step of Mu & Viswanath 2018, "All-but-the-Top"): skip-gram vectors trained briefly
        share one large common direction, which makes every pair of labels look alike; removing
        it keeps the words' differences.  Same words and rows."""
        units = self.vectors / np.maximum(np.linalg.norm(self.vectors, axis=1, keepdims=True), 1e-12)
        table = WordTable.__new__(WordTable)
        table.vectors = (units - units.mean(axis=0, keepdims=True)).astype(np.float32)
        table.index = dict(self.index)
        return table

    @classmethod
    def load(cls, path: str) -> "WordTable":
        """A skip-gram run directory (``vectors.npy`` + ``words.txt``), a ``.npy`` with
        ``words.txt`` beside it, or a word2vec text / binary file."""
        import os

        from tfpipe.embeddings import word2vec_format

        if os.path.isdir(path) or path.endswith(".npy"):
            w, v = word2vec_format.load_skipgram_vectors(path)
        else:
            w, v = word2vec_format.load(path)
        return cls(list(w), v)


class LabelVector(NamedTuple):
    """What :func:`label_vector` made of one label name.

    vector: the mean of the unit vectors of ``words`` (``float32 [d]``), or None.
    synonym: the synonym those words come from ("" when none was covered).
    words: the words averaged.
    missing: the words of ``synonym`` that have no vector (empty when fully covered); for an
        uncovered label, every word of every synonym.
    """

    name: str
    vector: np.ndarray | None
    synonym: str
    words: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def covered(self) -> bool:
        return self.vector is not None

    @property
    def full(self) -> bool:
        """Covered by every word of one synonym."""
        return self.vector is not None and not self.missing

    @property
    def status(self) -> str:
        return "full" if self.full else "partial" if self.covered else "uncovered"


def _mean_unit(vectors: Mapping[str, np.ndarray], ws: Sequence[str]) -> np.ndarray:
    return np.mean([unit(np.asarray(vectors[w], dtype=np.float32)) for w in ws], axis=0).astype(np.float32)


def label_vector(name: str, vectors: Mapping[str, np.ndarray]) -> LabelVector:
    """The vector of label ``name`` in ``vectors`` (``word -> vector``, e.g. a :class:`WordTable`);
    the rule is the module docstring's."""
    parts = [(s, words(s)) for s in synonyms(name)]
    parts = [(s, ws) for s, ws in parts if ws]
    for synonym, ws in parts:
        if all(w in vectors for w in ws):
            return LabelVector(name, _mean_unit(vectors, ws), synonym, tuple(ws), ())
    for synonym, ws in parts:
        have = [w for w in ws if w in vectors]
        if have:
            return LabelVector(name, _mean_unit(vectors, have), synonym, tuple(have),
                               tuple(w for w in ws if w not in vectors))
    every = tuple(dict.fromkeys(w for _, ws in parts for w in ws))
    return LabelVector(name, None, "", (), every)
