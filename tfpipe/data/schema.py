"""The TFRecord schema: the single definition of every stored feature.

The Beam writer (``beam_jobs.preprocess``) encodes with :func:`encode` and the
tf.data reader (``tfpipe.data.pipeline``) decodes with :func:`parse`; nothing
else knows the feature names.

Features of one example:
  ``id``        bytes   stable example id ("<source>:<row>"), for tracing rows
  ``text``      bytes   the cleaned UTF-8 text the ids were computed from
  ``chars``     bytes   ``l0`` uint8 character indices (backward order, 0 = none)
  ``word_ids``  int64*  word ids, at most ``max_words`` (0 pad, 1 OOV, 2.. words)
  ``label``     int64   0-based class index
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

SCHEMA_VERSION = 1

ID = "id"
TEXT = "text"
CHARS = "chars"
WORD_IDS = "word_ids"
LABEL = "label"

FEATURE_SPEC = {
    ID: tf.io.FixedLenFeature([], tf.string),
    TEXT: tf.io.FixedLenFeature([], tf.string, default_value=b""),
    CHARS: tf.io.FixedLenFeature([], tf.string),
    WORD_IDS: tf.io.RaggedFeature(tf.int64),
    LABEL: tf.io.FixedLenFeature([], tf.int64),
}


def encode(
    *, example_id: str, text: str, chars: bytes, word_ids: Sequence[int], label: int
) -> bytes:
    """Serializes one example as a ``tf.train.Example`` protocol buffer."""
    feature = tf.train.Feature
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                ID: feature(bytes_list=tf.train.BytesList(value=[example_id.encode("utf-8")])),
                TEXT: feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")])),
                CHARS: feature(bytes_list=tf.train.BytesList(value=[bytes(chars)])),
                WORD_IDS: feature(int64_list=tf.train.Int64List(value=list(word_ids))),
                LABEL: feature(int64_list=tf.train.Int64List(value=[int(label)])),
            }
        )
    )
    # deterministic=True: map entries in key order, so the same example gives the same
    # bytes in every process (Python hash seeds differ between processes).
    return example.SerializeToString(deterministic=True)


def parse(
    serialized: tf.Tensor, l0: int, keys: Sequence[str] | None = None
) -> dict[str, tf.Tensor]:
    """Parses a batch (1-D tensor) of serialized examples.

    Returns ``chars`` as ``uint8[batch, l0]``, ``word_ids`` as a ragged
    ``int64[batch, (words)]``, ``label`` as ``int64[batch]`` and ``id``/``text``
    as strings.  ``keys`` restricts parsing to those features (faster: readers
    that need only ``chars`` and ``label`` skip the rest).
    """
    keys = list(FEATURE_SPEC) if keys is None else list(keys)
    unknown = sorted(set(keys) - set(FEATURE_SPEC))
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; schema features: {sorted(FEATURE_SPEC)}")
    features = tf.io.parse_example(serialized, {k: FEATURE_SPEC[k] for k in keys})
    if CHARS in features:
        chars = tf.io.decode_raw(features[CHARS], tf.uint8)
        features[CHARS] = tf.ensure_shape(chars, [None, l0])
    return features
