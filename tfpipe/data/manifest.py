"""``manifest.json``: what a preprocessing run wrote, read back by training.

Training needs only a data directory: alphabet, ``l0``, vocabulary, class
names, shards and their checksums all come from here.
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
    vocab_file: str  # relative; "word<TAB>count" lines, most frequent first
    vocab_words: int
    class_names: list[str]
    splits: dict[str, Split]
    compression: str  # "" or "GZIP"
    counts: dict[str, Any]  # read / written / rejected / rejected_by_reason
    rejected_file: str
    source: dict[str, Any]
    schema_version: int = schema.SCHEMA_VERSION

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
    raw["splits"] = {
        name: Split(
            count=s["count"],
            class_counts=s["class_counts"],
            shards=[Shard(**shard) for shard in s["shards"]],
        )
        for name, s in raw["splits"].items()
    }
    return Manifest(**raw)


def read_vocab(data_dir: str, manifest: Manifest) -> list[str]:
    """The vocabulary words, most frequent first (word id = position + 2)."""
    with tf.io.gfile.GFile(os.path.join(data_dir, manifest.vocab_file)) as f:
        return [line.split("\t", 1)[0] for line in f.read().splitlines() if line]


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_shards(data_dir: str, manifest: Manifest, split: str) -> None:
    """Checks every shard of ``split`` exists with its recorded size and checksum."""
    for shard in manifest.splits[split].shards:
        path = os.path.join(data_dir, shard.file)
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"shard {path} listed in the manifest is missing")
        size = tf.io.gfile.stat(path).length
        if size != shard.bytes or file_sha256(path) != shard.sha256:
            raise ValueError(
                f"shard {path} is corrupt: its size or sha256 differs from the manifest "
                f"({size} bytes, expected {shard.bytes})"
            )
