"""Where index vectors come from: vector files, and text turned into a query vector.

* ``.npy``: a float array ``[n, d]`` (no labels; give them separately).
* ``.bin`` / ``.txt``: word2vec binary / text files; their words become the
  labels, of kind ``"words"``.

All are read with ``tfpipe.embeddings.word2vec_format`` (the project's one
reader of vector files).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tfpipe.index.base import Index

VECTOR_SUFFIXES = (".npy", ".bin", ".txt")


def read_vectors(path: str) -> tuple[np.ndarray, list[str] | None, str | None]:
    """``(vectors [n, d], labels or None, labels_kind or None)`` of a ``.npy``, ``.bin`` or ``.txt`` file."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in VECTOR_SUFFIXES:
        raise ValueError(f"{path}: unknown vector file type {suffix!r}; valid choices: {list(VECTOR_SUFFIXES)} "
                         "(.npy array, word2vec binary .bin, word2vec text .txt)")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    from tfpipe.embeddings import word2vec_format

    if suffix == ".npy":
        return word2vec_format.load_npy(path), None, None
    words, vectors = word2vec_format.load(path, binary=(suffix == ".bin"))
    return vectors, words, "words"


def text_vector(index: "Index", text: str) -> tuple[np.ndarray, list[str], list[str]]:
    """``(query [d], known tokens, unknown tokens)``: the mean of the index's vectors of the text's tokens.

    Needs an index of word vectors (``labels_kind == "words"``).  Tokens are
    those of ``tfpipe.text.tokenize`` (case-folded); the vectors averaged are
    the searched ones (unit-normed under the cosine metric, as word2vec's
    analogy queries do).  No known token is an error naming the tokens.
    """
    if index.labels_kind != "words":
        raise ValueError(
            f"text queries need an index of word vectors, this one holds labels of kind {index.labels_kind!r}; "
            "build it from a word2vec .bin/.txt file or with labels_kind='words' (CLI: --labels-kind words)"
        )
    from tfpipe.text.tokenize import tokenize

    tokens = [t.decode("utf-8") for t in tokenize([text]).to_list()[0]]
    if not tokens:
        raise ValueError(f"text {text!r} has no tokens")
    rows: list[int] = []
    known: list[str] = []
    unknown: list[str] = []
    for token in tokens:
        try:
            found = index.rows_of([token])
        except ValueError:
            unknown.append(token)
            continue
        known.append(token)
        rows.append(int(found[0]))
    if not rows:
        raise ValueError(f"none of the tokens {tokens} of {text!r} is a word of the index ({len(index)} words)")
    return index.space_vectors[rows].mean(axis=0), known, unknown
