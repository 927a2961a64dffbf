"""What one preprocessing run reads and writes: plain data, no Beam or TF imports,
so the CLI can validate a command line before anything heavy is loaded."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

from tfpipe.data import corpora

SPLITS = ("train", "test")
ROWS_PER_SHARD = 25_000
MAX_AUTO_SHARDS = 1024
VOCAB_FILE = "vocab.tsv"  # == tfpipe.data.records.VOCAB_FILE (not imported: no TF here)
NGRAM_FILE = "ngrams.tsv"  # == tfpipe.data.records.NGRAM_FILE
REJECTED_FILE = "rejected.jsonl"
UNLABELLED_CLASS = "text"  # the one class of --unlabelled data


class Source(NamedTuple):
    """One unit of reading: a file, a slice of a TFDS split, or an embedded split."""

    kind: str  # "file" | "tfds" | "embedded"
    index: int  # position among the sources: orders rows for the split
    split: str | None  # "train"/"test" when given, None when the split is carved
    path: str = ""  # file path, TFDS split name or embedded split name
    fmt: str = ""
    source: str = ""  # id prefix
    encoding: str = "utf-8"
    max_line_chars: int = corpora.DEFAULT_MAX_LINE_CHARS
    start: int | None = None  # TFDS slice
    end: int | None = None
    count: int = 0  # embedded rows
    seed: int = 0
    tfds: corpora.TfdsSpec | None = None
    classes: tuple[str, ...] = ()  # the reader's class list when it is not the job's
    group: int = 0  # corpus (one per input format): the stratified split is carved per group


@dataclasses.dataclass(frozen=True)
class JobConfig:
    """Everything the pipeline needs, resolved and validated by the CLI."""

    output_dir: str
    class_names: tuple[str, ...]
    sources: tuple[Source, ...]
    carve_test: bool  # True: stratified split of all rows; False: splits given per source
    test_fraction: float = 0.2
    seed: int = 0
    alphabet: str = "paper"
    l0: int = 1014
    vocab_size: int = 50_000
    min_count: int = 1
    max_words: int = 256
    num_shards: int | None = None  # per split; None: from the row count
    compression: str = ""  # "" or "GZIP"
    source_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    dataset: str = ""
    ngram_max: int = 5
    ngram_vocab_size: int = 500_000  # 0: no ngrams.tsv
    unlabelled: bool = False  # every row gets the one class UNLABELLED_CLASS
    romanize: str = ""  # tfpipe.text.romanize name applied on reading
    thesaurus: str = ""  # tfpipe.text.thesaurus.load spec ("" = no augmentation)
    augment_copies: int = 0
    augment_p: float = 0.5
    augment_q: float = 0.5
    augment_info: dict[str, Any] = dataclasses.field(default_factory=dict)  # manifest settings
    # --exclude_images: base names of the images whose captions (captions_csv rows) are left out
    # and counted as excluded; empty: no exclusion (and no counts.excluded in the manifest)
    exclude_images: frozenset[str] = frozenset()

    @property
    def count_ngram_max(self) -> int:
        """Widest gram counted on train: ``ngram_max``, or 1 (words) without ngrams.tsv."""
        return self.ngram_max if self.ngram_vocab_size > 0 else 1


def auto_num_shards(rows: int) -> int:
    """Shards for a split of ``rows`` rows: about ``ROWS_PER_SHARD`` rows (~40 MB at l0=1014) each."""
    return max(1, min(MAX_AUTO_SHARDS, math.ceil(rows / ROWS_PER_SHARD)))
