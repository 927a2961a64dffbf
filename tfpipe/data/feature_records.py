"""Frozen visual features as ``features`` records: their layout, manifest and tf.data reader.

A features data directory mirrors an image data directory (same splits, shard names,
ids, labels and class table) and stores, per image, one float32 vector holding every
extracted output of every view, flattened and concatenated.  The manifest's
``features`` entry says how to cut it:

``model``, ``image_size``, ``precision``   what computed the features
``views``         1 (the eval view) or 10 (Reed et al.'s ten views, ``image_pipeline.ten_views``)
``outputs``       ``[{"name", "shape", "offset", "size"}]`` per view (offsets within a view)
``view_dim``      floats per view; the record holds ``views * view_dim``
``source``        the image data directory and the sha256 of its manifest

:func:`make_feature_dataset` reads them back as ``(features, label)`` batches: one
output (default ``pooled``), of the mean of the views, one random view per pass
(training), or every view.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfpipe.data import manifest as manifest_lib
from tfpipe.data import schema
from tfpipe.data.datadir import DataDir
from tfpipe.data.pipeline import check_shards

VIEW_MODES = ("mean", "random", "all", "first")


def layout(shapes: Mapping[str, Sequence[int]]) -> tuple[list[dict[str, Any]], int]:
    """``(outputs entry, view_dim)`` for outputs of ``shapes`` (in that order)."""
    entries, offset = [], 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        entries.append({"name": name, "shape": [int(d) for d in shape], "offset": offset,
                        "size": size})
        offset += size
    return entries, offset


def flatten(outputs: Mapping[str, np.ndarray], entries: Sequence[Mapping[str, Any]],
            views: int) -> np.ndarray:
    """``float32[B, views * view_dim]`` of ``{name: [B * views, *shape]}`` (views of an image
    consecutive)."""
    parts = [np.asarray(outputs[e["name"]], np.float32).reshape(-1, views, e["size"])
             for e in entries]
    stacked = np.concatenate(parts, axis=-1)
    return stacked.reshape(stacked.shape[0], -1)


def features_manifest(images: DataDir, *, shards: Mapping[str, Sequence[manifest_lib.Shard]],
                      counts: Mapping[str, int], features: Mapping[str, Any]
                      ) -> manifest_lib.Manifest:
    """The manifest of the features of ``images``: its classes, splits and counts (every image
    record gives one features record, checked), ``kind`` features."""
    m = images.manifest
    splits = {}
    for split, entry in m.splits.items():
        stored = sum(s.records for s in shards.get(split, ()))
        if stored != entry.count or counts.get(split) != entry.count:
            raise RuntimeError(f"features of split {split!r}: {stored} records for "
                               f"{entry.count} images")
        splits[split] = manifest_lib.Split(count=entry.count, class_counts=list(entry.class_counts),
                                           shards=list(shards[split]))
    written = sum(e.count for e in splits.values())
    return manifest_lib.Manifest(
        alphabet="", alphabet_chars="", l0=0, max_words=0, vocab_file="", vocab_words=0,
        class_names=list(m.class_names), splits=splits, compression=m.compression,
        counts={"read": written, "written": written, "rejected": 0, "rejected_by_reason": {},
                "augmented": 0},
        rejected_file="", source={"images": images.path, "job": "beam_jobs.extract_features"},
        dataset=m.dataset, kind=schema.KIND_FEATURES, classes=list(m.classes),
        features=dict(features))


def make_feature_dataset(
    data: DataDir | str,
    split: str,
    *,
    output: str = "pooled",
    views: str = "mean",
    batch_size: int = 256,
    training: bool = False,
    seed: int = 0,
    shuffle_buffer: int = 10_000,
    cache: bool = True,
    verify: str = "size",
    with_ids: bool = False,
    shard: int | None = None,
) -> tf.data.Dataset:
    """``(features float32[B, size], label int64[B])`` batches (``(features, label, id)`` with
    ``with_ids``) of one output of a features directory (of the split's ``shard``-th shard
    alone when given: a unit of a parallel job).

    ``views``: ``mean`` of the stored views, ``first`` (the eval view or the first of ten),
    ``random`` (one view per record per pass; training), ``all`` (``[B, views, size]``).
    """
    data = DataDir.of(data)
    if data.kind != schema.KIND_FEATURES:
        raise ValueError(f"{data.path} holds {data.kind!r} records; make_feature_dataset reads "
                         "the 'features' kind (beam_jobs.extract_features writes it)")
    if views not in VIEW_MODES:
        raise ValueError(f"views={views!r}; valid modes: {list(VIEW_MODES)}")
    info = data.manifest.features
    entries = {e["name"]: e for e in info["outputs"]}
    if output not in entries:
        raise ValueError(f"output {output!r} not in {data.path}; stored outputs: {list(entries)}")
    entry, n_views, view_dim = entries[output], int(info["views"]), int(info["view_dim"])
    paths = data.shard_paths(split)
    check_shards(data, split, verify)
    if shard is not None:
        if not 0 <= int(shard) < len(paths):
            raise ValueError(f"shard {shard} of {data.path} split {split!r}: it has {len(paths)} shards")
        paths = [paths[int(shard)]]
    dim = n_views * view_dim
    lo, hi = entry["offset"], entry["offset"] + entry["size"]

    def parse(raw):
        parsed = schema.parse(raw, kind=schema.KIND_FEATURES, dim=dim)
        x = tf.reshape(parsed[schema.FEATURES], [-1, n_views, view_dim])[:, :, lo:hi]
        return x, parsed[schema.LABEL], parsed[schema.ID]

    ds = tf.data.TFRecordDataset(paths, compression_type=data.manifest.compression or None)
    ds = ds.batch(1024).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    base = tf.constant([seed, 0xFEA7], tf.int64)

    def pick(index, x, label, ids):
        if views == "mean":
            x = tf.reduce_mean(x, axis=0)
        elif views == "first":
            x = x[0]
        elif views == "random":
            which = tf.random.stateless_uniform(
                [], tf.random.experimental.stateless_fold_in(base, index), maxval=n_views,
                dtype=tf.int32)
            x = x[which]
        return (x, label, ids) if with_ids else (x, label)

    ds = ds.enumerate().map(lambda i, e: pick(i, *e), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def read_split(data, split: str, *, batch_size: int, verify: str,
               holdout=None, output: str = "pooled", with_ids: bool = False, shard: int | None = None):
    """``(features float32[n, d], class index int64[n])`` of a stored split (the mean of its
    views), and with ``with_ids`` the record ids (``list[str]``) third; ``holdout``
    (``pipeline.Holdout``): only the records on its side (the stable hash of each record id, as
    every task's ``data.validation_fraction`` holdout)."""
    from tfpipe.data import pipeline

    xs, ys, names = [], [], []
    for x, y, ids in make_feature_dataset(data, split, output=output, views="mean",
                                          batch_size=max(batch_size, 1024), training=False,
                                          cache=False, verify=verify, with_ids=True, shard=shard):
        ids = ids.numpy()
        if holdout is not None:
            keep = pipeline.in_holdout(ids, holdout.fraction).numpy() == holdout.take
            x, y, ids = x.numpy()[keep], y.numpy()[keep], ids[keep]
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        names.extend(i.decode("utf-8") for i in ids)
    dim = int({e["name"]: e for e in data.manifest.features["outputs"]}[output]["size"])
    if not xs:
        out = (np.zeros([0, dim], np.float32), np.zeros([0], np.int64))
    else:
        out = (np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64))
    return (*out, names) if with_ids else out
