"""``manifest.json``: what a preprocessing run wrote, read back by training.

Training needs only a data directory: alphabet, ``l0``, vocabulary, class
names, shards and their checksums all come from here.

Feature statistics (counted by the preprocessing job on the train split as
written, augmented copies included) are TSV files of ``key<TAB>count<TAB>df``
lines, most frequent first (ties by key), where ``count`` is the number of
occurrences and ``df`` the number of train documents containing the key:
``vocab.tsv`` for words (tokens of ``tfpipe.text.tokenize``) and ``ngrams.tsv``
for the 1- to ``ngram_max``-grams of ``tfpipe.text.ngrams``.  Read them with
:meth:`tfpipe.data.datadir.DataDir.vocab` (words only) or
:meth:`~tfpipe.data.datadir.DataDir.feature_stats`; the number of train documents
(the ``N`` of TF-IDF) is ``manifest.splits["train"].count``.

The manifest records the record ``kind`` of its shards (``tfpipe.data.schema.KINDS``;
``"text"`` for every corpus preprocessed so far).  ``schema_version`` is the
version of the whole contract: the fields added since version 1 (``kind``
among them) have defaults, so an older manifest still loads, and one without
``kind`` holds text records.  A changed meaning of an existing field needs a
new version, which :func:`load` then refuses to mix up.
:class:`tfpipe.data.datadir.DataDir` carries a data directory with its loaded
manifest (shard paths, counts and vocabulary without passing both around).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

import tensorflow as tf

from tfpipe.data import schema

MANIFEST_FILE = "manifest.json"


@dataclasses.dataclass
class Shard:
    file: str  # relative to the data directory
    records: int
    sha256: str
    bytes: int


@dataclasses.dataclass
class Split:
    count: int
    class_counts: list[int]
    shards: list[Shard]


@dataclasses.dataclass
class Manifest:
    """Everything a reader needs to know about a preprocessed data directory."""

    alphabet: str
    alphabet_chars: str
    l0: int
    max_words: int
    vocab_file: str  # relative; "word<TAB>count<TAB>df" lines, most frequent first
    vocab_words: int
    class_names: list[str]
    splits: dict[str, Split]
    compression: str  # "" or "GZIP"
    counts: dict[str, Any]  # read / written / rejected / rejected_by_reason / augmented
    rejected_file: str
    source: dict[str, Any]
    schema_version: int = schema.SCHEMA_VERSION
    # Fields added after schema version 1 was fixed: defaults keep older manifests loading.
    dataset: str = ""  # a name for the data (``--dataset``; default the directory's base name)
    ngram_file: str = ""  # relative; "gram<TAB>count<TAB>df" lines; "" when not written
    ngram_max: int = 0  # widest n-gram counted in ngram_file (0: no n-gram statistics)
    ngram_features: int = 0  # lines of ngram_file
    augmentation: dict[str, Any] = dataclasses.field(default_factory=dict)  # {} when off
    romanize: str = ""  # romanizer applied to every text on reading ("" = none)
    # The record kind of the shards (``tfpipe.data.schema.KINDS``); a manifest written before
    # kinds existed has no ``kind`` and holds text records.
    kind: str = schema.KIND_TEXT
    # Image kinds: the class table (one dict per class in class order: ``name``, ``text``,
    # ``wnid``, ``synset``, ``split``; [] for other kinds) and how the images were stored
    # (resize rule, JPEG quality) or, for ``features``, what computed them (model, outputs
    # and their shapes, image size, the image data they came from).
    classes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    images: dict[str, Any] = dataclasses.field(default_factory=dict)
    features: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def shard_paths(self, data_dir: str, split: str) -> list[str]:
        """Absolute shard paths of ``split``; an unknown split names the valid ones."""
        if split not in self.splits:
            raise ValueError(
                f"split {split!r} not in {os.path.join(data_dir, MANIFEST_FILE)}; "
                f"valid splits: {sorted(self.splits)}"
            )
        return [os.path.join(data_dir, s.file) for s in self.splits[split].shards]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, ensure_ascii=False)


def write(manifest: Manifest, data_dir: str) -> str:
    path = os.path.join(data_dir, MANIFEST_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(manifest.to_json() + "\n")
    return path


def load(data_dir: str) -> Manifest:
    """Reads ``data_dir/manifest.json``; a missing or foreign file is a clear error."""
    path = os.path.join(data_dir, MANIFEST_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"no {MANIFEST_FILE} in {data_dir!r}: run `python -m beam_jobs.preprocess "
            f"--output_dir {data_dir}` first (or pass --data_dir)"
        )
    with tf.io.gfile.GFile(path) as f:
        raw = json.load(f)
    version = raw.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        raise ValueError(
            f"{path} has schema_version {version}, this tfpipe reads {schema.SCHEMA_VERSION}; "
            "re-run the preprocessing job"
        )
    kind = raw.get("kind", schema.KIND_TEXT)
    if kind not in schema.KINDS:
        raise ValueError(
            f"{path} holds records of kind {kind!r}, this tfpipe reads the kinds "
            f"{list(schema.KINDS)}; re-run the preprocessing job or update tfpipe"
        )
    raw["splits"] = {
        name: Split(
            count=s["count"],
            class_counts=s["class_counts"],
            shards=[Shard(**shard) for shard in s["shards"]],
        )
        for name, s in raw["splits"].items()
    }
    return Manifest(**raw)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

