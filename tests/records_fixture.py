"""Data directories of serialized records written from lists, for the tests (any record kind)."""
from __future__ import annotations

import os
from typing import Any, Sequence

IN_MEMORY = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]


def write_records_dir(path, kind: str, splits: dict[str, list[bytes]], classes: Sequence[dict[str, Any]] = (),
                      dataset: str = "") -> str:
    """A data directory of ``kind`` records: ``splits[split]`` = serialized records, one shard
    each, with a manifest naming ``classes`` (``{"index", "name", ...}`` rows) and ``dataset``."""
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.data import records

    os.makedirs(path, exist_ok=True)
    out = {}
    for split, recs in splits.items():
        shard = records.write_shard(path, records.shard_name(split, 0, 1), recs)
        out[split] = manifest_lib.Split(count=len(recs), class_counts=[], shards=[shard])
    n = sum(len(r) for r in splits.values())
    manifest_lib.write(manifest_lib.Manifest(
        alphabet="", alphabet_chars="", l0=0, max_words=0, vocab_file="", vocab_words=0,
        class_names=[c["name"] for c in classes], splits=out, compression="",
        counts={"read": n, "written": n, "rejected": 0, "rejected_by_reason": {}, "augmented": 0},
        rejected_file="", source={"writer": "tests"}, dataset=dataset, kind=kind,
        classes=[dict(c) for c in classes]), path)
    return str(path)


def jpeg(colour: tuple[int, int, int], size: int = 8) -> bytes:
    """A decodable ``size`` x ``size`` JPEG of one colour."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="JPEG")
    return buf.getvalue()
