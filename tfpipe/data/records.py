"""Turning labelled texts into TFRecord shards: shared by the Beam job and plain writers.

``Encoder`` computes character indices and word ids for a *batch* of texts
with the one TF quantizer/tokenizer and serializes them with the schema;
``write_shard`` writes records to one shard file and returns its manifest
entry (record count, size, sha256).
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

from tfpipe.data import manifest as manifest_lib
from tfpipe.data import schema
from tfpipe.text import alphabet as alphabet_lib
from tfpipe.text import quantize as quantize_lib
from tfpipe.text import tokenize as tokenize_lib


class Encoder:
    """Encodes batches of ``(example_id, text, label)`` into serialized examples."""

    def __init__(self, alphabet: str, l0: int, vocab: Sequence[str], max_words: int):
        self.alphabet = alphabet_lib.get(alphabet)
        self.l0 = l0
        self.max_words = max_words
        self._table = tokenize_lib.vocab_table(list(vocab) if len(vocab) else [""])
        self._fn = tf.function(self._ids, input_signature=[tf.TensorSpec([None], tf.string)])

    def _ids(self, texts: tf.Tensor):
        chars = quantize_lib.quantize(texts, self.alphabet, self.l0)
        words = tokenize_lib.word_ids(texts, self._table, self.max_words)
        return chars, words.flat_values, words.row_lengths()

    def ids(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Character indices ``uint8[n, l0]`` and a list of word-id arrays."""
        chars, flat, lengths = self._fn(tf.constant(list(texts), dtype=tf.string))
        splits = np.cumsum(lengths.numpy())[:-1]
        return chars.numpy(), np.split(flat.numpy(), splits)

    def encode(self, rows: Sequence[tuple[str, str, int]]) -> list[bytes]:
        """Serialized ``tf.train.Example`` for each ``(example_id, text, label)``."""
        if not rows:
            return []
        chars, words = self.ids([text for _, text, _ in rows])
        return [
            schema.encode(
                example_id=example_id, text=text, chars=c.tobytes(), word_ids=w, label=label
            )
            for (example_id, text, label), c, w in zip(rows, chars, words)
        ]


def write_shard(
    data_dir: str, file: str, records: Iterable[bytes], compression: str = ""
) -> manifest_lib.Shard:
    """Writes ``records`` to ``data_dir/file`` and returns its manifest entry."""
    path = os.path.join(data_dir, file)
    tf.io.gfile.makedirs(os.path.dirname(path))
    count = 0
    with tf.io.TFRecordWriter(path, options=tf.io.TFRecordOptions(compression_type=compression)) as w:
        for record in records:
            w.write(record)
            count += 1
    return manifest_lib.Shard(
        file=file,
        records=count,
        sha256=manifest_lib.file_sha256(path),
        bytes=tf.io.gfile.stat(path).length,
    )


def shard_name(split: str, index: int, num_shards: int, compression: str = "") -> str:
    """``train-00003-of-00008.tfrecord`` (``.gz`` appended for GZIP)."""
    suffix = ".tfrecord.gz" if compression == "GZIP" else ".tfrecord"
    return f"{split}-{index:05d}-of-{num_shards:05d}{suffix}"


def shard_of(example_id: str, num_shards: int) -> int:
    """Stable shard assignment of an example id (same on every runner and run)."""
    digest = hashlib.blake2b(example_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_shards


def vocab_rank_key(item: tuple[str, int]) -> tuple[int, str]:
    """Vocabulary order: most frequent first, ties broken by the word itself."""
    word, count = item
    return (-count, word)


def select_vocab(counts: dict[str, int], top_k: int, min_count: int = 1) -> list[tuple[str, int]]:
    """The ``top_k`` most frequent words with at least ``min_count`` occurrences."""
    kept = [(w, c) for w, c in counts.items() if c >= min_count and w]
    return sorted(kept, key=vocab_rank_key)[:top_k]


def write_vocab(data_dir: str, vocab: Sequence[tuple[str, int]], file: str = "vocab.tsv") -> str:
    with tf.io.gfile.GFile(os.path.join(data_dir, file), "w") as f:
        f.write("".join(f"{w}\t{c}\n" for w, c in vocab))
    return file


def write_dataset(
    data_dir: str,
    splits: dict[str, Sequence[tuple[str, str, int]]],
    class_names: Sequence[str],
    *,
    alphabet: str = "paper",
    l0: int = 1014,
    vocab_size: int = 50000,
    max_words: int = 256,
    num_shards: int = 1,
    compression: str = "",
    batch_size: int = 512,
) -> manifest_lib.Manifest:
    """Single-process writer of a complete data directory (shards, vocab, manifest).

    The plain counterpart of ``beam_jobs.preprocess`` for small corpora, tests and
    the benchmark baseline: same encoder, same shard names, same manifest.  The
    vocabulary is counted on the ``train`` split.
    """
    tf.io.gfile.makedirs(data_dir)
    counts: dict[str, int] = {}
    train_texts = [text for _, text, _ in splits.get("train", [])]
    for start in range(0, len(train_texts), batch_size):
        tokens = tokenize_lib.tokenize(train_texts[start : start + batch_size]).flat_values.numpy()
        for token in tokens:
            word = token.decode("utf-8")
            counts[word] = counts.get(word, 0) + 1
    vocab = select_vocab(counts, vocab_size)
    vocab_file = write_vocab(data_dir, vocab)
    encoder = Encoder(alphabet, l0, [w for w, _ in vocab], max_words)
    split_entries = {}
    for split, rows in splits.items():
        by_shard: list[list[tuple[str, str, int]]] = [[] for _ in range(num_shards)]
        for row in rows:
            by_shard[shard_of(row[0], num_shards)].append(row)
        shards = []
        for index, shard_rows in enumerate(by_shard):
            shard_rows.sort(key=lambda r: r[0])
            records = []
            for start in range(0, len(shard_rows), batch_size):
                records.extend(encoder.encode(shard_rows[start : start + batch_size]))
            shards.append(
                write_shard(data_dir, shard_name(split, index, num_shards, compression), records, compression)
            )
        class_counts = [0] * len(class_names)
        for _, _, label in rows:
            class_counts[label] += 1
        split_entries[split] = manifest_lib.Split(
            count=len(rows), class_counts=class_counts, shards=shards
        )
    total = sum(len(rows) for rows in splits.values())
    manifest = manifest_lib.Manifest(
        alphabet=encoder.alphabet.name,
        alphabet_chars=encoder.alphabet.chars,
        l0=l0,
        max_words=max_words,
        vocab_file=vocab_file,
        vocab_words=len(vocab),
        class_names=list(class_names),
        splits=split_entries,
        compression=compression,
        counts={"read": total, "written": total, "rejected": 0, "rejected_by_reason": {}},
        rejected_file="",
        source={"writer": "tfpipe.data.records.write_dataset"},
    )
    manifest_lib.write(manifest, data_dir)
    return manifest
