"""The TFRecord schema: the single definition of every stored feature, per record kind.

A data directory holds records of one kind (its manifest's ``kind``).  Each
kind has exactly one feature spec (:data:`SPECS`); writers encode with
``encode_<kind>`` (the Beam job ``beam_jobs.preprocess`` and
``tfpipe.data.records`` with :func:`encode_text`) and readers decode with
:func:`parse` (``tfpipe.data.pipeline``); nothing else knows the feature names.

Kinds and their features (``*``: a list, may be empty):

``text`` (:data:`KIND_TEXT`): a labelled text, today's data
  ``id``        bytes   stable example id ("<source>:<row>"), for tracing rows
  ``text``      bytes   the cleaned UTF-8 text the ids were computed from
  ``chars``     bytes   ``l0`` uint8 character indices (backward order, 0 = none)
  ``word_ids``  int64*  word ids, at most ``max_words`` (0 pad, 1 OOV, 2.. words)
  ``label``     int64   0-based class index

``image`` (:data:`KIND_IMAGE`): one image
  ``id``        bytes   stable example id
  ``image``     bytes   the encoded image file as stored (JPEG)
  ``height``    int64   its height in pixels
  ``width``     int64   its width in pixels
  ``label``     int64   0-based class index, :data:`UNLABELLED` (-1, the default) for none
  ``name``      bytes   the class name (as in the manifest's ``class_names``; "" for none)

``image_captions`` (:data:`KIND_IMAGE_CAPTIONS`): an image and its captions
  ``id``, ``image``, ``height``, ``width``, ``label``, ``name``  as for ``image``
  ``captions``          bytes*  the caption texts (cleaned UTF-8), in order
  ``caption_chars``     bytes*  each caption's ``l0`` uint8 character indices (the
                                manifest's alphabet, e.g. Reed's forward one; empty
                                when no indices are stored)
  ``caption_word_ids``  int64*  the word ids of every caption, concatenated
  ``caption_lengths``   int64*  the number of word ids of each caption (one per
                                caption; empty when no ids are stored)
  :func:`parse` returns ``captions`` as ``string[B, (captions)]``,
  ``caption_chars`` as ``uint8[B, (captions), l0]`` (needs ``l0``) and
  ``caption_word_ids`` as ``int64[B, (captions), (words)]`` (its lengths come
  from ``caption_lengths``, which is not a key of its own).

``class_descriptions`` (:data:`KIND_CLASS_DESCRIPTIONS`): a text describing a class
  (several records may describe one class)
  ``id``        bytes   stable record id
  ``label``     int64   the 0-based class index described
  ``name``      bytes   the class name (as in the manifest's ``class_names``)
  ``text``      bytes   the description (cleaned UTF-8)
  ``word_ids``  int64*  word ids of the description (empty when not stored)

``features`` (:data:`KIND_FEATURES`): a precomputed float vector per example
  (e.g. image embeddings)
  ``id``        bytes   stable example id
  ``features``  float*  exactly ``dim`` float32 values (:func:`parse` takes ``dim``
                        and checks every record has that many)
  ``label``     int64   as for ``image``

``image_phrases`` (:data:`KIND_IMAGE_PHRASES`): the phrases of one image
  (``beam_jobs.phrase_pairs``; the predicted-context task's image-phrase pairs)
  ``id``          bytes   the image id, exactly as in its source image and feature records
  ``label``       int64   the source class index, :data:`UNLABELLED` (the default) for none
  ``name``        bytes   the source the image comes from (``"flickr8k_1k"``, ``"tiny_imagenet"``)
  ``phrase_ids``  int64*  sorted, distinct ids into ``phrases.tsv`` (at least one)

``phrase_pairs`` (:data:`KIND_PHRASE_PAIRS`): two phrases that share images
  ``first``       int64   a phrase id
  ``second``      int64   a phrase id, greater than ``first``
  ``images``      int64   how many images carry both (at least 1)

Every kind shares :data:`SCHEMA_VERSION`; a manifest without a ``kind`` (written
before kinds existed) holds ``text`` records.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

SCHEMA_VERSION = 1

KIND_TEXT = "text"
KIND_IMAGE = "image"
KIND_IMAGE_CAPTIONS = "image_captions"
KIND_CLASS_DESCRIPTIONS = "class_descriptions"
KIND_FEATURES = "features"
PHRASE_IDS = "phrase_ids"
FIRST = "first"
SECOND = "second"
IMAGES = "images"
KIND_IMAGE_PHRASES = "image_phrases"
KIND_PHRASE_PAIRS = "phrase_pairs"
KINDS = (KIND_TEXT, KIND_IMAGE, KIND_IMAGE_CAPTIONS, KIND_CLASS_DESCRIPTIONS, KIND_FEATURES,
         KIND_IMAGE_PHRASES, KIND_PHRASE_PAIRS)

UNLABELLED = -1  # the label of an image or feature record without a class

# Feature names.
ID = "id"
TEXT = "text"
CHARS = "chars"
WORD_IDS = "word_ids"
LABEL = "label"
IMAGE = "image"
HEIGHT = "height"
WIDTH = "width"
CAPTIONS = "captions"
CAPTION_CHARS = "caption_chars"
CAPTION_WORD_IDS = "caption_word_ids"
CAPTION_LENGTHS = "caption_lengths"  # the row lengths of CAPTION_WORD_IDS (no key of its own)
NAME = "name"
FEATURES = "features"

_IMAGE_SPEC = {
    ID: tf.io.FixedLenFeature([], tf.string),
    IMAGE: tf.io.FixedLenFeature([], tf.string),
    HEIGHT: tf.io.FixedLenFeature([], tf.int64),
    WIDTH: tf.io.FixedLenFeature([], tf.int64),
    LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=UNLABELLED),
    NAME: tf.io.FixedLenFeature([], tf.string, default_value=b""),
}

SPECS: dict[str, dict] = {
    KIND_TEXT: {
        ID: tf.io.FixedLenFeature([], tf.string),
        TEXT: tf.io.FixedLenFeature([], tf.string, default_value=b""),
        CHARS: tf.io.FixedLenFeature([], tf.string),
        WORD_IDS: tf.io.RaggedFeature(tf.int64),
        LABEL: tf.io.FixedLenFeature([], tf.int64),
    },
    KIND_IMAGE: dict(_IMAGE_SPEC),
    KIND_IMAGE_CAPTIONS: {
        **_IMAGE_SPEC,
        CAPTIONS: tf.io.RaggedFeature(tf.string),
        CAPTION_CHARS: tf.io.RaggedFeature(tf.string),
        CAPTION_WORD_IDS: tf.io.RaggedFeature(
            tf.int64, value_key=CAPTION_WORD_IDS,
            partitions=[tf.io.RaggedFeature.RowLengths(CAPTION_LENGTHS)],
        ),
    },
    KIND_CLASS_DESCRIPTIONS: {
        ID: tf.io.FixedLenFeature([], tf.string),
        LABEL: tf.io.FixedLenFeature([], tf.int64),
        NAME: tf.io.FixedLenFeature([], tf.string, default_value=b""),
        TEXT: tf.io.FixedLenFeature([], tf.string),
        WORD_IDS: tf.io.RaggedFeature(tf.int64),
    },
    KIND_FEATURES: {
        ID: tf.io.FixedLenFeature([], tf.string),
        FEATURES: tf.io.RaggedFeature(tf.float32),
        LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=UNLABELLED),
    },
    KIND_IMAGE_PHRASES: {
        ID: tf.io.FixedLenFeature([], tf.string),
        LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=UNLABELLED),
        NAME: tf.io.FixedLenFeature([], tf.string, default_value=b""),
        PHRASE_IDS: tf.io.RaggedFeature(tf.int64),
    },
    KIND_PHRASE_PAIRS: {
        FIRST: tf.io.FixedLenFeature([], tf.int64),
        SECOND: tf.io.FixedLenFeature([], tf.int64),
        IMAGES: tf.io.FixedLenFeature([], tf.int64),
    },
}

FEATURE_SPEC = SPECS[KIND_TEXT]  # the text kind's spec (the name it had before kinds)


def check_kind(kind: str) -> str:
    """``kind`` if it is a record kind, else a ``ValueError`` naming the valid kinds."""
    if kind not in SPECS:
        raise ValueError(f"unknown record kind {kind!r}; valid kinds: {list(KINDS)}")
    return kind


def spec(kind: str = KIND_TEXT) -> dict:
    """The feature spec of ``kind`` (a copy, for ``tf.io.parse_example``)."""
    return dict(SPECS[check_kind(kind)])


# --------------------------------------------------------------------------- encoding


def _bytes(*values: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values: Sequence[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values: Sequence[float]) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def _serialize(feature: dict[str, tf.train.Feature]) -> bytes:
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    # deterministic=True: map entries in key order, so the same example gives the same
    # bytes in every process (Python hash seeds differ between processes).
    return example.SerializeToString(deterministic=True)


def encode_text(
    *, example_id: str, text: str, chars: bytes, word_ids: Sequence[int], label: int
) -> bytes:
    """Serializes one ``text`` record as a ``tf.train.Example`` protocol buffer."""
    return _serialize({
        ID: _bytes(example_id.encode("utf-8")),
        TEXT: _bytes(text.encode("utf-8")),
        CHARS: _bytes(bytes(chars)),
        WORD_IDS: tf.train.Feature(int64_list=tf.train.Int64List(value=list(word_ids))),
        LABEL: _ints([label]),
    })


encode = encode_text  # the name of the text encoder before there were other kinds


def _image_features(example_id: str, image: bytes, height: int, width: int, label: int,
                    name: str) -> dict:
    if not image:
        raise ValueError(f"{example_id}: empty image bytes")
    if height < 1 or width < 1:
        raise ValueError(f"{example_id}: image size {height}x{width} must be positive")
    if label < UNLABELLED:
        raise ValueError(f"{example_id}: label {label} must be >= 0, or {UNLABELLED} for none")
    return {ID: _bytes(example_id.encode("utf-8")), IMAGE: _bytes(bytes(image)),
            HEIGHT: _ints([height]), WIDTH: _ints([width]), LABEL: _ints([label]),
            NAME: _bytes(name.encode("utf-8"))}


def encode_image(
    *, example_id: str, image: bytes, height: int, width: int, label: int = UNLABELLED,
    name: str = "",
) -> bytes:
    """Serializes one ``image`` record: the encoded image (JPEG) bytes, their size and the
    class (index and name)."""
    return _serialize(_image_features(example_id, image, height, width, label, name))


def encode_image_captions(
    *,
    example_id: str,
    image: bytes,
    height: int,
    width: int,
    captions: Sequence[str],
    caption_word_ids: Sequence[Sequence[int]] | None = None,
    caption_chars: Sequence[bytes] | None = None,
    label: int = UNLABELLED,
    name: str = "",
) -> bytes:
    """Serializes one ``image_captions`` record: an image and its captions, with the word ids
    (``caption_word_ids``, one list per caption) and the character indices (``caption_chars``,
    one ``l0``-byte string per caption) of each caption when given."""
    feature = _image_features(example_id, image, height, width, label, name)
    feature[CAPTIONS] = _bytes(*(c.encode("utf-8") for c in captions))
    chars = [] if caption_chars is None else [bytes(c) for c in caption_chars]
    if caption_chars is not None and len(chars) != len(captions):
        raise ValueError(f"{example_id}: {len(captions)} captions but characters of {len(chars)}")
    if len({len(c) for c in chars}) > 1:
        raise ValueError(f"{example_id}: caption character indices of different lengths")
    feature[CAPTION_CHARS] = _bytes(*chars)
    ids = [] if caption_word_ids is None else [list(c) for c in caption_word_ids]
    if caption_word_ids is not None and len(ids) != len(captions):
        raise ValueError(f"{example_id}: {len(captions)} captions but word ids of {len(ids)}")
    feature[CAPTION_WORD_IDS] = _ints([i for c in ids for i in c])
    feature[CAPTION_LENGTHS] = _ints([len(c) for c in ids])
    return _serialize(feature)


def encode_class_description(
    *, example_id: str, label: int, name: str, text: str, word_ids: Sequence[int] = ()
) -> bytes:
    """Serializes one ``class_descriptions`` record: a text describing class ``label``."""
    if label < 0:
        raise ValueError(f"{example_id}: a class description needs a class index >= 0, got {label}")
    return _serialize({
        ID: _bytes(example_id.encode("utf-8")),
        LABEL: _ints([label]),
        NAME: _bytes(name.encode("utf-8")),
        TEXT: _bytes(text.encode("utf-8")),
        WORD_IDS: _ints(word_ids),
    })


def encode_features(
    *, example_id: str, features: Sequence[float], label: int = UNLABELLED
) -> bytes:
    """Serializes one ``features`` record: a float32 vector (finite, at least one value)."""
    values = np.asarray(features, dtype=np.float32)
    if values.ndim != 1 or not values.size:
        raise ValueError(f"{example_id}: features must be a non-empty vector, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{example_id}: features hold NaN or infinity")
    if label < UNLABELLED:
        raise ValueError(f"{example_id}: label {label} must be >= 0, or {UNLABELLED} for none")
    return _serialize({
        ID: _bytes(example_id.encode("utf-8")),
        FEATURES: _floats(values.tolist()),
        LABEL: _ints([label]),
    })


def encode_image_phrases(
    *, example_id: str, phrase_ids: Sequence[int], label: int = UNLABELLED, name: str = ""
) -> bytes:
    """Serializes one ``image_phrases`` record: an image's phrase ids (sorted, distinct, >= 0,
    at least one), its source class and its source's name."""
    ids = [int(i) for i in phrase_ids]
    if not ids:
        raise ValueError(f"{example_id}: an image_phrases record needs at least one phrase id")
    if ids[0] < 0 or any(a >= b for a, b in zip(ids, ids[1:])):
        raise ValueError(f"{example_id}: phrase ids must be sorted, distinct and >= 0, got {ids[:10]}")
    if label < UNLABELLED:
        raise ValueError(f"{example_id}: label {label} must be >= 0, or {UNLABELLED} for none")
    return _serialize({
        ID: _bytes(example_id.encode("utf-8")),
        LABEL: _ints([label]),
        NAME: _bytes(name.encode("utf-8")),
        PHRASE_IDS: _ints(ids),
    })


def encode_phrase_pairs(triples: Iterable[tuple[int, int, int]]) -> Iterator[bytes]:
    """Serializes ``(first, second, images)`` triples as ``phrase_pairs`` records (the bytes of
    :func:`encode_phrase_pair`; one reused message, ~10x faster for the millions of pairs of
    ``beam_jobs.phrase_pairs``).  Phrase ids ``0 <= first < second``, ``images >= 1``."""
    example = tf.train.Example()
    values = [example.features.feature[key].int64_list.value for key in (FIRST, SECOND, IMAGES)]
    for v in values:
        v.append(0)
    first_v, second_v, images_v = values
    for first, second, images in triples:
        if not 0 <= first < second:
            raise ValueError(f"a phrase pair needs 0 <= first < second, got ({first}, {second})")
        if images < 1:
            raise ValueError(f"phrase pair ({first}, {second}): images must be >= 1, got {images}")
        first_v[0], second_v[0], images_v[0] = int(first), int(second), int(images)
        yield example.SerializeToString(deterministic=True)


def encode_phrase_pair(*, first: int, second: int, images: int) -> bytes:
    """Serializes one ``phrase_pairs`` record: phrase ids ``0 <= first < second`` shared by
    ``images >= 1`` images."""
    return next(encode_phrase_pairs([(first, second, images)]))


ENCODERS = {
    KIND_TEXT: encode_text,
    KIND_IMAGE: encode_image,
    KIND_IMAGE_CAPTIONS: encode_image_captions,
    KIND_CLASS_DESCRIPTIONS: encode_class_description,
    KIND_FEATURES: encode_features,
    KIND_IMAGE_PHRASES: encode_image_phrases,
    KIND_PHRASE_PAIRS: encode_phrase_pair,
}


# --------------------------------------------------------------------------- parsing


def parse(
    serialized: tf.Tensor,
    l0: int | None = None,
    keys: Sequence[str] | None = None,
    *,
    kind: str = KIND_TEXT,
    dim: int | None = None,
) -> dict[str, tf.Tensor]:
    """Parses a batch (1-D tensor) of serialized records of ``kind``.

    ``text``: ``chars`` as ``uint8[batch, l0]`` (``l0`` is needed to parse
    them), ``word_ids`` as a ragged ``int64[batch, (words)]``, ``label`` as
    ``int64[batch]`` and ``id``/``text`` as strings.  The other kinds as the
    module docstring says; ``features`` comes back as ``float32[batch, dim]``
    and needs ``dim``.  ``keys`` restricts parsing to those features (faster:
    readers that need only ``chars`` and ``label`` skip the rest).
    """
    kind_spec = SPECS[check_kind(kind)]
    keys = list(kind_spec) if keys is None else list(keys)
    unknown = sorted(set(keys) - set(kind_spec))
    if unknown:
        what = "schema features" if kind == KIND_TEXT else f"{kind} features"
        raise ValueError(f"unknown feature(s) {unknown}; {what}: {sorted(kind_spec)}")
    if kind == KIND_TEXT and CHARS in keys and l0 is None:
        raise ValueError("parsing chars needs l0 (the manifest's)")
    if kind == KIND_IMAGE_CAPTIONS and CAPTION_CHARS in keys and l0 is None:
        raise ValueError("parsing caption_chars needs l0 (the manifest's)")
    if kind == KIND_FEATURES and FEATURES in keys and (dim is None or dim < 1):
        raise ValueError(f"parsing features needs their dimension dim >= 1, got {dim}")
    features = tf.io.parse_example(serialized, {k: kind_spec[k] for k in keys})
    if kind == KIND_TEXT and CHARS in features:
        chars = tf.io.decode_raw(features[CHARS], tf.uint8)
        features[CHARS] = tf.ensure_shape(chars, [None, l0])
    if kind == KIND_IMAGE_CAPTIONS and CAPTION_CHARS in features:
        ragged = features[CAPTION_CHARS]
        chars = tf.io.decode_raw(ragged.flat_values, tf.uint8)
        features[CAPTION_CHARS] = ragged.with_flat_values(tf.ensure_shape(chars, [None, l0]))
    if kind == KIND_FEATURES and FEATURES in features:
        ragged = features[FEATURES]
        check = tf.debugging.assert_equal(
            tf.cast(ragged.row_lengths(), tf.int64), tf.constant(dim, tf.int64),
            message=f"a features record does not hold dim={dim} values")
        with tf.control_dependencies([check]):
            features[FEATURES] = tf.reshape(ragged.flat_values, [-1, dim])
    return features
