"""Word n-grams, written once as TF ops: the keys of the bag-of-ngrams features.

``ngrams(texts, n_max)`` takes the tokens of :func:`tfpipe.text.tokenize.tokenize`
(case-folded ``UnicodeScriptTokenizer`` tokens: words and punctuation runs) and
returns every n-gram of widths ``1..n_max`` as one string, its tokens joined by a
single space (tokens never contain white space, so the join is unambiguous and a
1-gram is exactly a token).

Order, per text: all 1-grams in token order, then all 2-grams in order of their
first token, ..., then all ``n_max``-grams; nothing is de-duplicated (a gram
occurring twice appears twice) and a text with fewer than ``n`` tokens has no
``n``-grams (no padding).  Example: ``"New York, New York"`` with ``n_max=2`` ->
``["new", "york", ",", "new", "york", "new york", "york ,", ", new", "new york"]``.

The preprocessing job counts these grams on the train split (``ngrams.tsv``) and
the bag-of-ngrams featurizer looks them up, both through this one function.
"""
from __future__ import annotations

import operator

import tensorflow as tf

from tfpipe.text import tokenize as tokenize_lib

SEPARATOR = " "


def ngrams(texts: tf.Tensor, n_max: int) -> tf.RaggedTensor:
    """Ragged ``string[batch, (grams)]``: the 1- to ``n_max``-grams of each text (see module doc)."""
    try:
        n_max = operator.index(n_max)
    except TypeError:
        raise ValueError(f"n_max must be a positive integer, got {n_max!r}") from None
    if n_max < 1:
        raise ValueError(f"n_max must be a positive integer, got {n_max!r}")
    tokens = tokenize_lib.tokenize(texts)
    if n_max == 1:
        return tokens
    return tf.strings.ngrams(tokens, tuple(range(1, n_max + 1)), separator=SEPARATOR)


def width(gram: str) -> int:
    """The number of tokens of a gram produced by :func:`ngrams`."""
    return gram.count(SEPARATOR) + 1
