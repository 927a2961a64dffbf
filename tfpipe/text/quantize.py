"""Character quantization (Zhang et al. 2015, section 2.2), written once as TF ops.

``quantize(texts, alphabet, l0)`` turns a batch of UTF-8 strings into a
``uint8`` tensor of shape ``[batch, l0]`` holding 1-based alphabet indices
(0 = not in the alphabet, i.e. an all-zero one-hot row).  The paper's rules
(alphabets ``paper`` and ``full``):

* characters are read **backward**: position 0 holds the last character of the
  text, position 1 the one before it, and so on, so "the latest reading on
  characters is always placed near the begin of the output";
* only the last ``l0`` characters are kept (the rest is ignored), shorter texts
  are padded with 0;
* with the paper's alphabet, upper-case letters fold onto lower-case ones.

An alphabet with ``backward=False`` (Reed et al. 2016, ``reed``) reads forward
instead: position 0 holds the *first* character and the first ``l0`` are kept.

Characters are Unicode code points (invalid UTF-8 bytes become U+FFFD, which
is outside every alphabet).  The same function runs inside the Beam job, in
tf.data and inside the exported serving model.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfpipe.text.alphabet import Alphabet

# Code points at or above this value are never in an alphabet (all are ASCII).
_TABLE_SIZE = 128


def lookup_table(alphabet: Alphabet) -> np.ndarray:
    """Dense code point -> index table for code points below ``_TABLE_SIZE``."""
    table = np.zeros([_TABLE_SIZE], dtype=np.uint8)
    for char, index in alphabet.index_map().items():
        code = ord(char)
        if code >= _TABLE_SIZE:
            raise ValueError(f"alphabet {alphabet.name!r} has non-ASCII {char!r}")
        table[code] = index
    return table


def quantize(texts: tf.Tensor, alphabet: Alphabet, l0: int) -> tf.Tensor:
    """Quantizes a 1-D string tensor to ``uint8[batch, l0]`` backward indices."""
    if l0 <= 0:
        raise ValueError(f"l0 must be positive, got {l0}")
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    codes = tf.strings.unicode_decode(
        texts, "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    if alphabet.backward:  # keep the last l0 characters, latest first
        codes = tf.reverse(codes, axis=[1])
    codes = codes[:, :l0]
    table = tf.constant(lookup_table(alphabet))
    flat = codes.flat_values
    in_table = flat < _TABLE_SIZE
    flat_ids = tf.where(
        in_table,
        tf.gather(table, tf.where(in_table, flat, 0)),
        tf.zeros_like(flat, dtype=tf.uint8),
    )
    ids = codes.with_flat_values(flat_ids)
    return ids.to_tensor(default_value=0, shape=[None, l0])


def quantize_py(text: str, alphabet: Alphabet, l0: int) -> list[int]:
    """Reference implementation in plain Python (for tests and the baseline).

    This is the per-character loop common Char-CNN repositories use; it must
    agree with :func:`quantize` on every input.
    """
    index = alphabet.index_map()
    tail = (text[::-1] if alphabet.backward else text)[:l0]
    ids = [index.get(c, 0) for c in tail]
    return ids + [0] * (l0 - len(ids))
