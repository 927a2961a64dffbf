"""The phrase vocabulary and image-phrase pairs written by ``beam_jobs.phrase_pairs``, read back.

A phrase data directory (manifest kind ``image_phrases``) holds:

* ``phrases.tsv``: the vocabulary, a header ``id<TAB>phrase<TAB>images<TAB>source`` then one
  line per phrase; ids run 0..P-1 by decreasing image count (ties by the phrase string), so
  id order is frequency order (a log-uniform candidate sampler fits it); ``images`` is the
  number of distinct images carrying the phrase, ``source`` one of :data:`SOURCES` (where
  the phrase came from: caption n-grams, class lemmas, or both).  Phrase strings are
  ``tfpipe.text.phrases.normalize`` d.
* split ``train`` (and any other input split the job read): ``image_phrases`` records, an
  image's sorted phrase ids (``tfpipe.data.schema``).
* split ``pairs``: ``phrase_pairs`` records, every unordered pair of phrases that share an
  image, with how many images share them (the dual encoder's training pairs).

:func:`read_phrases`, :func:`read_image_phrases`, :func:`read_pairs` read them;
:func:`vocabularies` cuts the two output spaces of the phrase generator (section 3.2): the
softmax vocabulary (the ``K`` most frequent phrases) and the prototype vocabulary (every
phrase with at least ``m`` images, eq. 2).  :func:`phrases_tsv` is the one writer of the
file format.
"""
from __future__ import annotations

import os
from typing import Iterable, NamedTuple, Sequence

import numpy as np

PHRASES_FILE = "phrases.tsv"
PHRASES_HEADER = ("id", "phrase", "images", "source")
PAIRS_SPLIT = "pairs"
SOURCES = ("captions", "lemmas", "both")


class Phrase(NamedTuple):
    id: int
    phrase: str
    images: int  # distinct images carrying it
    source: str  # one of SOURCES


class PhraseFileError(ValueError):
    """A phrases.tsv (or phrase data directory) that does not hold what it should."""


def phrases_tsv(phrases: Iterable[Phrase]) -> str:
    """The text of ``phrases.tsv`` (header, then one line per phrase, in the given order)."""
    lines = ["\t".join(PHRASES_HEADER)]
    for p in phrases:
        if "\t" in p.phrase or "\n" in p.phrase:
            raise PhraseFileError(f"phrase {p.id} {p.phrase!r} holds a tab or a line end")
        lines.append(f"{p.id}\t{p.phrase}\t{p.images}\t{p.source}")
    return "\n".join(lines) + "\n"


def _data(data_dir):
    from tfpipe.data import schema
    from tfpipe.data.datadir import DataDir

    data = DataDir.of(data_dir)
    if data.kind != schema.KIND_IMAGE_PHRASES:
        raise PhraseFileError(f"{data.path} holds {data.kind!r} records, not image_phrases "
                              "(python -m beam_jobs.phrase_pairs)")
    return data


def read_phrases(data_dir) -> list[Phrase]:
    """The phrases of ``data_dir/phrases.tsv`` (a directory path or ``DataDir``; a plain
    directory without a manifest also works), in id order.  Checks the header, that ids are
    0..P-1 in order, that image counts are positive and non-increasing, that sources are
    :data:`SOURCES` and phrases distinct; a bad line is named by file and line number."""
    path = os.path.join(getattr(data_dir, "path", data_dir), PHRASES_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {PHRASES_FILE} in {os.path.dirname(path)!r}: run python -m "
                                "beam_jobs.phrase_pairs --output_dir there first")
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or tuple(lines[0].split("\t")) != PHRASES_HEADER:
        raise PhraseFileError(f"{path}:1: expected the header {chr(9).join(PHRASES_HEADER)!r}")
    out: list[Phrase] = []
    seen: set[str] = set()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 4:
            raise PhraseFileError(f"{path}:{number}: expected 4 tab-separated fields, got {len(fields)}")
        pid, phrase, images, source = fields
        try:
            pid_i, images_i = int(pid), int(images)
        except ValueError:
            raise PhraseFileError(f"{path}:{number}: id {pid!r} or images {images!r} is not an integer") from None
        if pid_i != len(out):
            raise PhraseFileError(f"{path}:{number}: id {pid_i}, expected {len(out)} (ids are 0..P-1 in order)")
        if not phrase or phrase in seen:
            raise PhraseFileError(f"{path}:{number}: empty or repeated phrase {phrase!r}")
        if images_i < 1 or (out and images_i > out[-1].images):
            raise PhraseFileError(f"{path}:{number}: images {images_i} must be >= 1 and not above the "
                                  "previous line's (ids are in decreasing frequency order)")
        if source not in SOURCES:
            raise PhraseFileError(f"{path}:{number}: source {source!r}, expected one of {list(SOURCES)}")
        seen.add(phrase)
        out.append(Phrase(pid_i, phrase, images_i, source))
    return out


def read_image_phrases(data_dir, split: str = "train"
                       ) -> tuple[list[str], np.ndarray, list[str], list[np.ndarray]]:
    """``(ids, labels int64 [N], sources, phrase_ids)`` of the ``image_phrases`` records of
    ``split``, in shard order: image ids, source class indices (``schema.UNLABELLED`` for
    none), source names, and each image's sorted ``int64`` phrase ids."""
    import tensorflow as tf

    from tfpipe.data import schema

    data = _data(data_dir)
    if split == PAIRS_SPLIT:
        raise PhraseFileError(f"split {PAIRS_SPLIT!r} holds phrase pairs: read it with read_pairs")
    ids: list[str] = []
    labels: list[int] = []
    sources: list[str] = []
    phrase_ids: list[np.ndarray] = []
    for batch in tf.data.TFRecordDataset(data.shard_paths(split)).batch(1024):
        parsed = schema.parse(batch, kind=schema.KIND_IMAGE_PHRASES)
        ids += [i.decode("utf-8") for i in parsed[schema.ID].numpy()]
        labels += parsed[schema.LABEL].numpy().tolist()
        sources += [n.decode("utf-8") for n in parsed[schema.NAME].numpy()]
        ragged = parsed[schema.PHRASE_IDS]
        flat, splits = ragged.flat_values.numpy(), ragged.row_splits.numpy()
        phrase_ids += [flat[a:b] for a, b in zip(splits[:-1], splits[1:])]
    if len(ids) != data.count(split):
        raise PhraseFileError(f"{data.path} split {split}: {len(ids)} records, the manifest says "
                              f"{data.count(split)}")
    return ids, np.asarray(labels, np.int64), sources, phrase_ids


def read_pairs(data_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first, second, images)``: ``int64`` arrays of the ``phrase_pairs`` records (split
    :data:`PAIRS_SPLIT`), in shard order."""
    import tensorflow as tf

    from tfpipe.data import schema

    data = _data(data_dir)
    parts: list[list[np.ndarray]] = [[], [], []]
    for batch in tf.data.TFRecordDataset(data.shard_paths(PAIRS_SPLIT)).batch(65536):
        parsed = schema.parse(batch, kind=schema.KIND_PHRASE_PAIRS)
        for part, key in zip(parts, (schema.FIRST, schema.SECOND, schema.IMAGES)):
            part.append(parsed[key].numpy())
    first, second, images = (np.concatenate(p) if p else np.zeros([0], np.int64) for p in parts)
    if len(first) != data.count(PAIRS_SPLIT):
        raise PhraseFileError(f"{data.path}: {len(first)} phrase pairs, the manifest says "
                              f"{data.count(PAIRS_SPLIT)}")
    return first.astype(np.int64), second.astype(np.int64), images.astype(np.int64)


def vocabularies(phrases: Sequence[Phrase], softmax_size: int, prototype_min_images: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(softmax_ids, prototype_ids)``, sorted ``int64`` phrase ids of the two output spaces.

    The softmax vocabulary is the ``softmax_size`` (K) most frequent phrases, ids
    ``0..K-1`` (ids are in frequency order); the prototype vocabulary is every phrase with
    at least ``prototype_min_images`` (m) images, which may reach beyond the softmax
    (eq. 2's prototypes are computed for phrases inside and outside it).  K above P (the
    number of phrases), K < 1 or m < 1 is a ``ValueError`` naming the numbers; so is a
    prototype vocabulary left empty by m.
    """
    if not phrases:
        raise ValueError("no phrases: the phrase vocabulary is empty")
    count = len(phrases)
    if isinstance(softmax_size, bool) or not isinstance(softmax_size, (int, np.integer)) or softmax_size < 1:
        raise ValueError(f"softmax_size must be a positive integer, got {softmax_size!r}")
    if softmax_size > count:
        raise ValueError(f"softmax_size {softmax_size} is larger than the vocabulary's P={count} phrases")
    if isinstance(prototype_min_images, bool) or not isinstance(prototype_min_images, (int, np.integer)) \
            or prototype_min_images < 1:
        raise ValueError(f"prototype_min_images must be a positive integer, got {prototype_min_images!r}")
    if [p.id for p in phrases] != list(range(count)):
        raise ValueError("phrases must be in id order 0..P-1 (read_phrases returns them so)")
    images = np.asarray([p.images for p in phrases], np.int64)
    prototype = np.flatnonzero(images >= prototype_min_images).astype(np.int64)
    if not prototype.size:
        raise ValueError(f"no phrase has at least prototype_min_images={prototype_min_images} images "
                         f"(the most frequent has {int(images.max())}): the prototype vocabulary is empty")
    return np.arange(softmax_size, dtype=np.int64), prototype
