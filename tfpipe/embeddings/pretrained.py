"""Pretrained word vectors (word2vec) aligned to a tfpipe vocabulary's word ids.

Word ids follow ``tfpipe.text.tokenize``: ``0`` is padding, ``1`` the
out-of-vocabulary id, vocabulary word ``i`` has id ``i + 2``.  Vocabulary words
are case-folded by the tokenizer while word2vec files are usually cased
(GoogleNews has ``Paris`` and ``paris``), so a vocabulary word takes the
file's vector of the identical word when there is one, otherwise the vector of
the file's first word (file order: most frequent first) that case-folds to it.
"""
from __future__ import annotations

import unicodedata
from typing import Sequence

import numpy as np

from tfpipe.embeddings import word2vec_format
from tfpipe.text.tokenize import FIRST_WORD_ID, OOV_ID, PAD_ID


# NFKC_Casefold drops the Default_Ignorable_Code_Point characters, which Python's unicodedata
# does not list: they are the format characters (category Cf) except those below (prepended
# concatenation marks, interlinear annotation and hieroglyph format controls) plus these.
_IGNORABLE_NON_CF = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810),
     *range(0xFE00, 0xFE10), 0x2065, *range(0xFFF0, 0xFFF9), *range(0xE0000, 0xE1000)]
)
_CF_KEPT = frozenset(
    [*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, *range(0xFFF9, 0xFFFC), 0x110BD, 0x110CD,
     *range(0x13430, 0x13440)]
)


def _ignorable(ch: str) -> bool:
    code = ord(ch)
    if code in _IGNORABLE_NON_CF:
        return True
    return unicodedata.category(ch) == "Cf" and code not in _CF_KEPT


def fold(word: str) -> str:
    """``word`` case-folded like the tokenizer (NFKC, Unicode case folding, ignorables dropped).

    A pure-Python stand-in for ``tensorflow_text.case_fold_utf8`` (ICU's
    NFKC_Casefold) used to match cased file words to vocabulary words; it agrees
    with it on every code point assigned in Python's Unicode version.
    """
    if word.isascii():
        return word.lower()
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())
    return "".join(ch for ch in folded if not _ignorable(ch))


def load_vectors(path: str) -> tuple[list[str], np.ndarray]:
    """The words and ``float32[len(words), dim]`` vectors of a word2vec file (text or binary,
    detected; :func:`tfpipe.embeddings.word2vec_format.load`)."""
    words, vectors = word2vec_format.load(path)
    return list(words), np.asarray(vectors, dtype=np.float32)


def embedding_matrix(
    vocab: Sequence[str],
    words: Sequence[str],
    vectors: np.ndarray,
    *,
    vocab_size: int,
    seed: int = 0,
    init_std: float | None = None,
) -> tuple[np.ndarray, float]:
    """The ``float32[vocab_size, dim]`` embedding table for ``vocab`` and its coverage.

    Row ``0`` (padding) is zeros; row ``i + 2`` is the file vector of
    ``vocab[i]`` (exact match preferred, then the first file word that
    case-folds to it, see :func:`fold`).  The out-of-vocabulary row ``1`` and
    the rows of vocabulary words the file lacks are drawn from
    N(0, ``init_std``) with ``seed``; ``init_std=None`` takes the standard
    deviation of all the file's vector components, so those rows have the
    scale of the pretrained ones (as Kim 2014 does for unknown words).
    Coverage is the fraction of ``vocab`` found in the file (1.0 for an empty
    vocabulary).  ``vocab_size`` must be ``len(vocab) + 2``.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(
            f"vectors must be [len(words), dim] = [{len(words)}, dim], got shape {vectors.shape}"
        )
    if vocab_size != len(vocab) + FIRST_WORD_ID:
        raise ValueError(
            f"vocab_size={vocab_size} does not match the vocabulary: {len(vocab)} words need "
            f"{len(vocab) + FIRST_WORD_ID} rows (pad {PAD_ID}, OOV {OOV_ID}, words from {FIRST_WORD_ID})"
        )
    if init_std is None:
        init_std = float(vectors.std()) if vectors.size else 1.0
    if not init_std > 0:
        raise ValueError(f"init_std must be positive, got {init_std}")
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, init_std, size=(vocab_size, vectors.shape[1])).astype(np.float32)
    matrix[PAD_ID] = 0.0
    found = 0
    for i, row in enumerate(vector_rows(vocab, words)):
        if row is not None:
            matrix[FIRST_WORD_ID + i] = vectors[row]
            found += 1
    return matrix, (found / len(vocab) if len(vocab) else 1.0)


def vector_rows(vocab: Sequence[str], words: Sequence[str]) -> list[int | None]:
    """For each vocabulary word, the row of its vector among a file's ``words`` (None: absent).

    The exact word wins; otherwise the first file word that case-folds to it
    (:func:`fold`, as the tokenizer folds the vocabulary).
    """
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    for row, word in enumerate(words):
        exact.setdefault(word, row)
        folded.setdefault(fold(word), row)
    rows = []
    for word in vocab:
        row = exact.get(word)
        rows.append(folded.get(fold(word)) if row is None else row)
    return rows


def load_embedding_matrix(
    path: str,
    vocab: Sequence[str] | None,
    *,
    vocab_size: int,
    embedding_dim: int,
    seed: int = 0,
    who: str = "model",
) -> np.ndarray:
    """:func:`load_vectors` + :func:`embedding_matrix` for a model builder; prints the coverage.

    Checks that the file's vectors have ``embedding_dim`` components and that
    the vocabulary is there (``vocab``, the data key the trainer fills from the
    manifest); ``who`` names the model in messages.
    """
    if vocab is None:
        raise ValueError(
            f"{who}: embeddings={path!r} needs the vocabulary (data key 'vocab', read from the "
            "data directory's manifest by the trainer) to align the vectors to word ids"
        )
    words, vectors = load_vectors(path)
    if vectors.ndim != 2 or vectors.shape[1] != embedding_dim:
        raise ValueError(
            f"{who}: the vectors in {path} have shape {vectors.shape}, not [words, {embedding_dim}]; "
            f"set the model's embedding_dim to {vectors.shape[-1]} (the paper: 300)"
        )
    matrix, coverage = embedding_matrix(vocab, words, vectors, vocab_size=vocab_size, seed=seed)
    print(
        f"{who}: {path}: {round(coverage * len(vocab))} of {len(vocab)} vocabulary words "
        f"({100 * coverage:.1f} %) have a pretrained vector; the others and OOV start random",
        flush=True,
    )
    return matrix
