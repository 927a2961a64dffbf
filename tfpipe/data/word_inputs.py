"""Word-id inputs of raw texts against a vocabulary built from the training texts.

Words are ``tfpipe.embeddings.label_vectors.words`` (case-folded runs of letters or of digits,
the words of the skip-gram vectors); ids follow the project's layout (``PAD_ID`` 0 pads, the
vocabulary's first word is ``FIRST_WORD_ID``).  Used by the word encoders of the vision-language
tasks (Reed et al.'s SJE, You et al.'s CSE).  Their exports run the same tokenization in the
graph: :func:`graph_words` and :func:`graph_word_ids`, with :func:`token_pattern` (the tokens of
``words_of`` as an RE2 pattern), one definition for every serving module.
"""
from __future__ import annotations

import collections
import functools
import re
from typing import Sequence

import numpy as np

from tfpipe.embeddings.label_vectors import words as words_of
from tfpipe.embeddings.pretrained import FIRST_WORD_ID, PAD_ID


def vocabulary(texts: Sequence[str], *, known=None) -> list[str]:
    """The words of ``texts`` by decreasing count (ties alphabetical); with ``known`` (a container
    of words, e.g. a ``WordTable``) only those it holds."""
    counts = collections.Counter(w for t in texts for w in words_of(t))
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if known is None or w in known]


def word_ids(texts: Sequence[str], vocab: Sequence[str], length: int) -> np.ndarray:
    """``int64 [T, length]``: vocabulary ids (``FIRST_WORD_ID`` + position, the project's layout:
    0 pads) of each text's first ``length`` vocabulary words; other words are dropped."""
    index = {w: FIRST_WORD_ID + i for i, w in enumerate(vocab)}
    out = np.full((len(texts), int(length)), PAD_ID, np.int64)
    for r, text in enumerate(texts):
        ids = [index[w] for w in words_of(text) if w in index][:length]
        out[r, :len(ids)] = ids
    return out


# --------------------------------------------------------------------------- the same, in the graph

def _code_point_class(char_pattern: str) -> str:
    """An RE2 character class (explicit code point ranges) of exactly the code points Python's
    ``re`` matches with ``char_pattern`` (one character), in Python's Unicode version."""
    one = re.compile(char_pattern)
    ranges, start, prev = [], None, None
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:  # surrogates: no UTF-8 text holds them
            continue
        if one.fullmatch(chr(c)):
            if start is None:
                start = c
            elif c != prev + 1:
                ranges.append((start, prev))
                start = c
            prev = c
    if start is not None:
        ranges.append((start, prev))
    return "[" + "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges) + "]"


@functools.lru_cache(maxsize=None)
def token_pattern() -> str:
    """The RE2 pattern of ``label_vectors.words``' tokens (its ``_TOKEN``: runs of letters or of
    digits, each alternative ``<one character>+``), with Python's character classes spelled out as
    code point ranges so that TensorFlow's RE2 splits exactly where Python's ``re`` does."""
    from tfpipe.embeddings.label_vectors import _TOKEN

    alternatives = _TOKEN.pattern.split("|")
    if not all(a.endswith("+") for a in alternatives):
        raise ValueError(f"label_vectors._TOKEN {_TOKEN.pattern!r} is not runs of character classes")
    return "|".join(_code_point_class(a[:-1]) + "+" for a in alternatives)


def graph_words(texts, pattern: str | None = None):
    """In the graph: ragged ``string [batch, (words)]``, :func:`words_of` of each text (the token
    runs, then ``tensorflow_text.case_fold_utf8``, ICU's NFKC_Casefold, which
    ``tfpipe.embeddings.pretrained.fold`` stands in for)."""
    import tensorflow as tf
    import tensorflow_text as tf_text

    pattern = pattern or token_pattern()
    texts = tf.convert_to_tensor(texts, tf.string)
    # Every token between \x01 marks; \x01 is no token character, so the pieces that are whole
    # tokens are exactly the matches, in order.
    marked = tf.strings.regex_replace(texts, f"({pattern})", "\x01\\1\x01")
    pieces = tf.strings.split(marked, sep="\x01")
    tokens = tf.ragged.boolean_mask(pieces, tf.strings.regex_full_match(pieces, f"(?:{pattern})"))
    return tf.ragged.map_flat_values(tf_text.case_fold_utf8, tokens)


def graph_word_ids(texts, table, length: int | None = None, pattern: str | None = None):
    """In the graph: :func:`word_ids` of raw ``texts`` (string ``[batch]``): each text's vocabulary
    ids in order, words outside the vocabulary dropped; ``int64 [batch, length]`` (the first
    ``length``, ``PAD_ID`` after them), or ragged ``int64 [batch, (ids)]`` when ``length`` is None.
    ``table``: ``tfpipe.text.tokenize.vocab_table`` of the vocabulary (misses below
    ``FIRST_WORD_ID``)."""
    import tensorflow as tf

    ids = tf.ragged.map_flat_values(table.lookup, graph_words(texts, pattern))
    ids = tf.ragged.boolean_mask(ids, ids >= FIRST_WORD_ID)  # misses (OOV) are dropped
    if length is None:
        return ids
    return ids[:, :int(length)].to_tensor(default_value=PAD_ID, shape=[None, int(length)])
