"""What one image preprocessing run reads and writes: plain data, no Beam or TF imports,
so the CLI can validate a command line before anything heavy is loaded."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from tfpipe.data.image_datasets import Listing
from tfpipe.data.images import Resize

from beam_jobs.preprocess_config import REJECTED_FILE, VOCAB_FILE  # noqa: F401  (the text job's names)
IMAGES_PER_SHARD = 2_000
MAX_AUTO_SHARDS = 1024


@dataclasses.dataclass(frozen=True)
class ImageJobConfig:
    """Everything the image pipeline needs, resolved and validated by the CLI."""

    output_dir: str
    listing: Listing  # items with their split, rejected entries, kind, class table
    resize: Resize = Resize()
    alphabet: str = "reed"  # captions' character indices (Reed et al.: forward, 201)
    l0: int = 201
    max_words: int = 50
    vocab_size: int = 20_000  # caption words counted on train captions (0: no word ids)
    min_count: int = 1
    vocab_tsv: bytes = b""  # a given vocab.tsv (--vocab_from) instead of counting captions
    num_shards: int | None = None  # per split; None: from the image count
    compression: str = ""
    dataset: str = ""
    source_info: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def captions(self) -> bool:
        return self.listing.kind == "image_captions"

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits written (each split an item has, train/val/test first)."""
        found = {it.split for it in self.listing.items}
        order = ("train", "val", "test")
        return tuple([s for s in order if s in found] + sorted(found - set(order)))


def auto_num_shards(images: int) -> int:
    """Shards for a split of ``images`` images: about ``IMAGES_PER_SHARD`` each."""
    return max(1, min(MAX_AUTO_SHARDS, math.ceil(images / IMAGES_PER_SHARD)))
