"""Word tokenization and vocabulary lookup, written once as TF ops (tensorflow-text).

Text is case-folded (``tensorflow_text.case_fold_utf8``) and split with
``UnicodeScriptTokenizer`` (words and punctuation runs become separate tokens,
white space is dropped).  Word ids: ``0`` is padding, ``1`` is the
out-of-vocabulary id, and vocabulary word ``i`` (0-based, in the vocabulary
file's order: most frequent first) has id ``i + 2``.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

PAD_ID = 0
OOV_ID = 1
FIRST_WORD_ID = 2

_TOKENIZER = None


def _tokenizer() -> tf_text.UnicodeScriptTokenizer:
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = tf_text.UnicodeScriptTokenizer()
    return _TOKENIZER


def _tokenize(texts: tf.Tensor) -> tf.RaggedTensor:
    return _tokenizer().tokenize(tf_text.case_fold_utf8(texts))


_TOKENIZE_FN = None


def _tokenize_fn():
    """:func:`_tokenize` of a 1-D batch traced once per process, as ``(tokens, row splits)``.

    Building the tokenizer's graph costs seconds; every graph that tokenizes (each
    tf.data pipeline, featurizer, encoder and exported SavedModel) calls this one traced
    function instead of building it again.
    """
    global _TOKENIZE_FN
    if _TOKENIZE_FN is None:

        def tokens(texts):
            ragged = _tokenize(texts)
            return ragged.flat_values, ragged.row_splits

        _TOKENIZE_FN = tf.function(tokens, input_signature=[tf.TensorSpec([None], tf.string)])
    return _TOKENIZE_FN


def tokenize(texts: tf.Tensor) -> tf.RaggedTensor:
    """Splits a 1-D string tensor into a ragged ``[batch, (tokens)]`` string tensor."""
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    if texts.shape.rank != 1:
        return _tokenize(texts)
    values, row_splits = _tokenize_fn()(texts)
    return tf.RaggedTensor.from_row_splits(values, row_splits, validate=False)


def vocab_table(words: list[str] | tf.Tensor) -> tf.lookup.StaticHashTable:
    """A word -> id table for ``words`` (most frequent first); misses give OOV_ID."""
    words = tf.convert_to_tensor(words, dtype=tf.string)
    ids = tf.range(FIRST_WORD_ID, FIRST_WORD_ID + tf.size(words, out_type=tf.int64), dtype=tf.int64)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(words, ids), default_value=OOV_ID
    )


def word_ids(texts: tf.Tensor, table: tf.lookup.StaticHashTable, max_words: int) -> tf.RaggedTensor:
    """Ragged ``int64[batch, (<= max_words)]`` ids of the first ``max_words`` tokens."""
    if max_words <= 0:
        raise ValueError(f"max_words must be positive, got {max_words}")
    tokens = tokenize(texts)[:, :max_words]
    return tf.ragged.map_flat_values(table.lookup, tokens)


def vocab_size(num_words: int) -> int:
    """Embedding-table rows needed for a vocabulary of ``num_words`` words."""
    return num_words + FIRST_WORD_ID
