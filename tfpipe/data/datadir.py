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
DataDir, or a path whose manifest they load, as their first argument.  They
still accept the older form too, the path followed by its loaded ``Manifest``
(positionally, or as ``manifest=`` where that keyword existed), which
``tfpipe/training`` uses until it is switched to DataDir.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable, TypeVar

import numpy as np

from tfpipe.data import manifest as manifest_lib
from tfpipe.data.manifest import Manifest, Split

F = TypeVar("F", bound=Callable)


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
    def of(cls, data: "DataDir | str", manifest: Manifest | None = None) -> "DataDir":
        """``data`` as a DataDir: a DataDir as it is; a path with its ``manifest`` (read from
        the directory when None)."""
        if isinstance(data, DataDir):
            if manifest is not None and manifest is not data.manifest:
                raise ValueError("give a DataDir, or a path with its manifest; not a DataDir and "
                                 "another manifest")
            return data
        if not isinstance(data, (str, os.PathLike)):
            raise TypeError(f"a data directory is a DataDir or a path, got {type(data).__name__}")
        data = os.fspath(data)
        return cls(data, manifest) if manifest is not None else cls.open(data)

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
        return manifest_lib.read_vocab(self.path, self.manifest)

    def feature_stats(self, kind: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(keys, counts, df)`` of ``vocab.tsv`` (``"words"``) or ``ngrams.tsv`` (``"ngrams"``);
        see ``manifest.read_feature_stats``."""
        return manifest_lib.read_feature_stats(self.path, self.manifest, kind)


def accepts_pair(fn: F) -> F:
    """Decorator of ``fn(data, *args, **kwargs)``: also callable the older way,
    ``fn(data_dir, manifest, *args, **kwargs)``, the path and its loaded Manifest
    (folded into a DataDir here).  Only for ``tfpipe/training``'s calls until they pass
    a DataDir."""

    @functools.wraps(fn)
    def call(data, *args, **kwargs):
        if args and isinstance(args[0], Manifest):
            data, args = DataDir.of(data, args[0]), args[1:]
        return fn(data, *args, **kwargs)

    return call  # type: ignore[return-value]
