"""A features data directory (``kind: features``) written from arrays, for the devise tests."""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np


def write_features_dir(path: str, *, names: Sequence[str], classes: Sequence[dict[str, Any]],
                       splits: dict[str, list[tuple[str, np.ndarray, int]]], features: dict[str, Any],
                       seed: int = 0, outputs: dict[str, list[int]] | None = None) -> str:
    """Writes ``splits`` (split -> ``(record id, feature vector, class index)`` rows, shuffled with
    ``seed``) as one shard each, with a manifest holding the class table ``classes`` and the
    ``features`` block (model, image size, ...; the layout of ``outputs`` is added: name -> shape,
    the vector being their flattened concatenation in that order; default ``{"pooled": [d]}``)."""
    from tfpipe.data import feature_records, records, schema
    from tfpipe.data import manifest as manifest_lib

    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    dim = None
    written = {}
    for split, rows in splits.items():
        counts = [0] * len(names)
        recs = []
        for rid, x, label in rows:
            dim = len(x)
            recs.append(schema.encode_features(example_id=rid, features=np.asarray(x, np.float32), label=int(label)))
            counts[label] += 1
        order = rng.permutation(len(recs))
        shard = records.write_shard(path, records.shard_name(split, 0, 1), [recs[j] for j in order])
        written[split] = manifest_lib.Split(count=len(recs), class_counts=counts, shards=[shard])
    outputs, view_dim = feature_records.layout(outputs or {"pooled": [dim]})
    total = sum(s.count for s in written.values())
    manifest = manifest_lib.Manifest(
        alphabet="", alphabet_chars="", l0=0, max_words=0, vocab_file="", vocab_words=0, class_names=list(names),
        splits=written, compression="",
        counts={"read": total, "written": total, "rejected": 0, "rejected_by_reason": {}, "augmented": 0},
        rejected_file="", source={"job": "tests"}, dataset="tiny_synthetic", kind=schema.KIND_FEATURES,
        classes=list(classes), features={"views": 1, **features, "outputs": outputs, "view_dim": view_dim})
    manifest_lib.write(manifest, path)
    return path


def write_word_vectors(path: str, words: Sequence[str], dim: int, seed: int = 0) -> str:
    """A skip-gram run directory (``vectors.npy`` + ``words.txt``) of random vectors."""
    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    np.save(os.path.join(path, "vectors.npy"), rng.normal(size=(len(words), dim)).astype(np.float32))
    with open(os.path.join(path, "words.txt"), "w", encoding="utf-8") as f:
        f.write("".join(w + "\n" for w in words))
    return path
