"""A data directory together with its manifest: one object instead of ``(data_dir, manifest)``.

    data = DataDir.open("artifacts/data/ag_news")   # reads and validates manifest.json
    data.path, data.manifest, data.name, data.kind
    data.shard_paths("train")       # absolute shard paths of a split
    data.count("train")             # its records; data.class_counts("train") per class
    data.vocab()                    # vocab.tsv's words (word id = position + 2)
    data.feature_stats("ngrams")    # (keys, counts, df) of ngrams.tsv / vocab.tsv
    data.file("vocab.tsv")          # a file of the directory

The readers of ``tfpipe.data`` (``pipeline.make_dataset``, ``check_shards``,
``holdout_count``, ``features.make``, the ``skipgram_pairs`` functions) take a
DataDir, or a path whose manifest they load (``DataDir.of``), as their first
argument; none takes a path with a separately loaded manifest.  A manifest
already in hand goes with its path as ``DataDir(path, manifest)``.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from tfpipe.data import manifest as manifest_lib
from tfpipe.data.manifest import Manifest, Split

FEATURE_KINDS = ("words", "ngrams")


@dataclasses.dataclass(frozen=True)
class DataDir:
    """A preprocessed data directory (``path``) and its loaded ``manifest``."""

    path: str
    manifest: Manifest

    @classmethod
    def open(cls, path: str) -> "DataDir":
        """Reads and validates ``path/manifest.json`` (``manifest.load``: a missing file, a foreign
        schema version or an unknown record kind is a clear error)."""
        return cls(path, manifest_lib.load(path))

    @classmethod
    def of(cls, data: "DataDir | str") -> "DataDir":
        """``data`` as a DataDir: a DataDir as it is; a path with the manifest read from it."""
        if isinstance(data, DataDir):
            return data
        if not isinstance(data, (str, os.PathLike)):
            raise TypeError(f"a data directory is a DataDir or a path, got {type(data).__name__}")
        return cls.open(os.fspath(data))

    @property
    def name(self) -> str:
        """The dataset name: the manifest's ``dataset``, else the directory's base name."""
        return self.manifest.dataset or os.path.basename(os.path.normpath(self.path))

    @property
    def kind(self) -> str:
        """The record kind of the shards (``tfpipe.data.schema.KINDS``)."""
        return self.manifest.kind

    @property
    def splits(self) -> list[str]:
        """The split names, sorted."""
        return sorted(self.manifest.splits)

    def file(self, relative: str) -> str:
        """The path of a file of the directory (as the manifest names it, relative)."""
        return os.path.join(self.path, relative)

    def split(self, split: str) -> Split:
        """The manifest entry of ``split``; an unknown split names the valid ones."""
        if split not in self.manifest.splits:
            raise ValueError(
                f"split {split!r} not in {self.file(manifest_lib.MANIFEST_FILE)}; "
                f"valid splits: {self.splits}"
            )
        return self.manifest.splits[split]

    def shard_paths(self, split: str) -> list[str]:
        """Absolute shard paths of ``split``, in the manifest's order."""
        return self.manifest.shard_paths(self.path, split)

    def count(self, split: str) -> int:
        """The number of records of ``split``."""
        return self.split(split).count

    def class_counts(self, split: str) -> list[int]:
        """The records of ``split`` per class (by class index)."""
        return list(self.split(split).class_counts)

    def vocab(self) -> list[str]:
        """The vocabulary words, most frequent first (word id = position + 2)."""
        with tf.io.gfile.GFile(self.file(self.manifest.vocab_file)) as f:
            # Lines end in "\n" only: a token may be a control character that
            # str.splitlines() would also split at (e.g. "\x1c").
            return [line.split("\t", 1)[0] for line in f.read().split("\n") if line]

    def feature_stats(self, kind: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(keys, counts, df)`` of ``vocab.tsv`` (``kind="words"``) or ``ngrams.tsv`` (``"ngrams"``).

        In file order (most frequent first); ``counts`` and ``df`` are ``int64``
        arrays: occurrences in, and number of documents of, the train split (the
        format: ``tfpipe.data.manifest``'s docstring).  A missing file says which
        preprocessing flag writes it; a malformed line is named by file and line number.
        """
        manifest, data_dir = self.manifest, self.path
        if kind not in FEATURE_KINDS:
            raise ValueError(f"unknown feature statistics {kind!r}; valid kinds: {list(FEATURE_KINDS)}")
        if kind == "words":
            file, expected, flag = manifest.vocab_file, manifest.vocab_words, "--vocab_size"
        else:
            file, expected, flag = manifest.ngram_file, manifest.ngram_features, "--ngram_vocab_size"
        if not file:
            raise FileNotFoundError(
                f"the data in {data_dir!r} has no {kind} statistics: re-run `python -m "
                f"beam_jobs.preprocess` with {flag} > 0"
                + (" (and --ngram_max N for the widest n-gram)" if kind == "ngrams" else "")
            )
        path = os.path.join(data_dir, file)
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(
                f"{path} is listed in the manifest but missing: re-run `python -m "
                f"beam_jobs.preprocess --output_dir {data_dir}` (it writes {file}; {flag} sets its size)"
            )
        with tf.io.gfile.GFile(path) as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        keys: list[str] = []
        counts = np.empty(len(lines), np.int64)
        df = np.empty(len(lines), np.int64)
        for number, line in enumerate(lines, start=1):
            fields = line.split("\t")
            if len(fields) != 3:
                raise ValueError(
                    f"{path}:{number}: expected 'key<TAB>count<TAB>df', got {len(fields)} field(s)"
                    + ("; a two-column vocab.tsv comes from an older preprocessing job: re-run it"
                       if len(fields) == 2 else "")
                )
            key, count, docs = fields
            try:
                counts[number - 1], df[number - 1] = int(count), int(docs)
            except ValueError:
                raise ValueError(f"{path}:{number}: count {count!r} or df {docs!r} is not an "
                                 "integer") from None
            if not key or not 1 <= df[number - 1] <= counts[number - 1]:
                raise ValueError(f"{path}:{number}: expected a non-empty key and "
                                 f"1 <= df <= count, got {line!r}")
            keys.append(key)
        if len(keys) != expected:
            raise ValueError(f"{path} has {len(keys)} entries but the manifest says {expected}: "
                             "the file does not belong to this manifest; re-run preprocessing")
        return keys, counts, df
