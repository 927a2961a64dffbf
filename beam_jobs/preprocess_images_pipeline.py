"""The Beam transforms of ``beam_jobs.preprocess_images`` (a module of its own, so every
runner pickles them by reference).

Graph::

    listed items (split assigned by the CLI's listing), grouped by shard (shard_of(id))
      ├─ [captions] train captions ─BatchElements─CountFeatures(words)─▶ MergeStats
      │     ─TopK(vocab_size)─▶ vocab.tsv (side input)
      └─ Reshuffle ─PrepareWriteShard: per image in id order read, decode, check, resize,
           re-encode (tfpipe.data.images); RecordEncoder (captions: records.Encoder, one
           per worker); write_shard
           ├─ rejected (+ the listing's rejected entries) ─▶ sorted ─▶ rejected.jsonl
           └─ shard entries + per-class counts ─▶ image_records.build_manifest ─▶
                manifest.json (last)

Shards are decided from the listing, so the decoded and re-encoded image bytes never
cross workers (no GroupByKey of images): one shard is one unit of parallel work.

The word counting, vocabulary cut and shard naming are the text job's
(``beam_jobs.preprocess_pipeline``, ``tfpipe.data.records``), so a caption's words
are counted and ranked exactly as a text corpus's.
"""
from __future__ import annotations

import dataclasses
import json
import os

import apache_beam as beam

from beam_jobs import preprocess_pipeline as text_pl
from beam_jobs.preprocess_images_config import (
    REJECTED_FILE, VOCAB_FILE, ImageJobConfig, auto_num_shards,
)
from tfpipe.data import image_records
from tfpipe.data import images as images_lib
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import records
from tfpipe.data.rows import RAW_CHARS, Rejected

ENCODE_BATCH = 256  # rows per RecordEncoder call
_NAMESPACE = "tfpipe.preprocess_images"


def _prepare(item, resize: images_lib.Resize, class_index: dict[str, int]):
    """``ImageRow`` of a listed item, or the ``Rejected`` saying why it cannot be stored."""
    try:
        data = images_lib.read_file(item.path)
        done = images_lib.prepare(data, resize, item.image_id)
    except images_lib.ImageError as e:
        return Rejected(item.order[0] if item.order else "", item.order[-1] if item.order else 0,
                        e.reason, e.detail[:RAW_CHARS], item.image_id)
    label = class_index.get(item.class_name, image_records.UNLABELLED) \
        if item.class_name else image_records.UNLABELLED
    return image_records.ImageRow(item.image_id, label, item.class_name, done.jpeg,
                                  done.height, done.width, tuple(item.captions))


def shard_tasks(cfg: ImageJobConfig) -> list[tuple[str, int, int, list]]:
    """``(split, shard index, shard count, items sorted by id)`` for every shard of every
    split: an image's shard is ``records.shard_of(id)`` (as in the text job), decided from the
    listing, so image bytes never travel between workers."""
    by_split: dict[str, list] = {}
    for item in cfg.listing.items:
        by_split.setdefault(item.split, []).append(item)
    tasks = []
    for split in cfg.splits:
        items = by_split.get(split, [])
        n = cfg.num_shards or auto_num_shards(len(items))
        shards: list[list] = [[] for _ in range(n)]
        for item in items:
            shards[records.shard_of(item.image_id, n)].append(item)
        tasks += [(split, i, n, sorted(shard, key=lambda it: it.image_id))
                  for i, shard in enumerate(shards)]
    return tasks


_ENCODERS: dict[tuple, image_records.RecordEncoder] = {}


def _encoder(cfg: ImageJobConfig, vocab: dict) -> image_records.RecordEncoder:
    """One RecordEncoder per worker process and vocabulary."""
    key = (cfg.listing.kind, cfg.alphabet, cfg.l0, cfg.max_words, vocab["fingerprint"])
    enc = _ENCODERS.get(key)
    if enc is None:
        _ENCODERS.clear()
        enc = image_records.RecordEncoder(cfg.listing.kind, alphabet=cfg.alphabet, l0=cfg.l0,
                                          vocab=text_pl._payload_words(vocab),
                                          max_words=cfg.max_words)
        _ENCODERS[key] = enc
    return enc


class PrepareWriteShard(beam.DoFn):
    """Reads, checks and re-encodes one shard's images (``tfpipe.data.images.prepare``), in id
    order, serializes them and writes the shard; emits ``(split, index, shard entry, {label:
    count})`` and, tagged ``rejected``, a ``Rejected`` per image that cannot be stored."""

    def __init__(self, cfg: ImageJobConfig):
        self._cfg = cfg
        self._class_index = {c.name: i for i, c in enumerate(cfg.listing.classes)}
        self._read = beam.metrics.Metrics.counter(_NAMESPACE, "images_read")
        self._rejected = beam.metrics.Metrics.counter(_NAMESPACE, "images_rejected")
        self._written = beam.metrics.Metrics.counter(_NAMESPACE, "records_written")

    def process(self, task, vocab: dict):
        cfg = self._cfg
        split, index, n_shards, items = task
        enc = _encoder(cfg, vocab)
        labels: dict[int, int] = {}
        rejected: list[Rejected] = []

        def serialized():
            batch = []
            for item in items:
                self._read.inc()
                row = _prepare(item, cfg.resize, self._class_index)
                if isinstance(row, Rejected):
                    rejected.append(row)
                    continue
                labels[row.label] = labels.get(row.label, 0) + 1
                batch.append(row)
                if len(batch) == ENCODE_BATCH:
                    yield from enc.encode(batch)
                    batch = []
            yield from enc.encode(batch)

        name = records.shard_name(split, index, n_shards, cfg.compression)
        shard = records.write_shard(cfg.output_dir, name, serialized(), cfg.compression)
        self._written.inc(shard.records)
        self._rejected.inc(len(rejected))
        for r in rejected:
            yield beam.pvalue.TaggedOutput("rejected", r)
        yield split, index, dataclasses.asdict(shard), labels


def _write_rejected(rows: list, output_dir: str) -> str:
    import tensorflow as tf

    rows = sorted(rows, key=lambda r: (r.source, r.row, r.raw, r.reason))
    with tf.io.gfile.GFile(os.path.join(output_dir, REJECTED_FILE), "w") as f:
        f.write("".join(json.dumps(r._asdict(), ensure_ascii=False, sort_keys=True) + "\n"
                        for r in rows))
    return REJECTED_FILE


class WriteManifest(beam.DoFn):
    """Writes ``manifest.json`` last (``image_records.build_manifest`` checks the counts)."""

    def __init__(self, cfg: ImageJobConfig, class_table: list[dict]):
        self._cfg = cfg
        self._class_table = class_table

    def process(self, _, shards, reasons, vocab, vocab_file, rejected_file):
        cfg = self._cfg
        n_classes = len(self._class_table)
        split_shards, class_counts, counts = {}, {}, {}
        for split in cfg.splits:
            entries = sorted((i, s, labels) for sp, i, s, labels in shards if sp == split)
            split_shards[split] = [manifest_lib.Shard(**s) for _, s, _ in entries]
            per_class = [0] * n_classes
            total = 0
            for _, _, labels in entries:
                for label, n in labels.items():
                    total += n
                    if n_classes:
                        per_class[label] += n
            class_counts[split], counts[split] = per_class, total
        listing = cfg.listing
        manifest = image_records.build_manifest(
            kind=listing.kind,
            class_table=self._class_table,
            shards=split_shards,
            class_counts=class_counts,
            counts=counts,
            read=len(listing.items) + len(listing.rejected),
            rejected_by_reason=dict(reasons),
            rejected_file=rejected_file,
            compression=cfg.compression,
            images={"resize": cfg.resize.describe(), "format": "JPEG"},
            source=cfg.source_info,
            dataset=cfg.dataset,
            alphabet=cfg.alphabet if cfg.captions else "",
            l0=cfg.l0 if cfg.captions else 0,
            max_words=cfg.max_words if cfg.captions else 0,
            vocab_file=vocab_file["file"],
            vocab_words=vocab["size"],
        )
        yield manifest_lib.write(manifest, cfg.output_dir)


def _train_captions(task):
    split, _, _, items = task
    if split == "train":
        for item in items:
            yield from item.captions


def build(p: beam.Pipeline, cfg: ImageJobConfig, class_table: list[dict]) -> beam.PCollection:
    """Adds the image preprocessing graph to ``p``; returns the manifest path PCollection."""
    listing = cfg.listing
    tasks = p | "ShardTasks" >> beam.Create(shard_tasks(cfg))

    # Caption vocabulary, counted on the train captions (known from the listing) as the text
    # job counts words; the shards wait for it (a side input).
    if cfg.captions and cfg.vocab_tsv:
        top = p | "GivenVocab" >> beam.Create([(cfg.vocab_tsv, cfg.vocab_tsv.count(b"\n"))])
    elif cfg.captions and cfg.vocab_size > 0:
        top = (
            tasks
            | "TrainCaptions" >> beam.FlatMap(_train_captions)
            | "BatchForCount" >> beam.BatchElements(
                min_batch_size=text_pl.COUNT_BATCH[0], max_batch_size=text_pl.COUNT_BATCH[1])
            | "CountWords" >> beam.ParDo(text_pl.CountFeatures(1))
            | "MergeStats" >> beam.CombinePerKey(text_pl.MergeStats())
            | "TopWords" >> beam.CombineGlobally(
                text_pl.TopK(cfg.vocab_size, words_only=True, min_count=cfg.min_count))
        )
    else:
        top = None
    if top is not None:
        vocab_file = top | "WriteVocab" >> beam.Map(text_pl._write_stats, cfg.output_dir,
                                                    VOCAB_FILE)
    else:
        top = p | "NoVocab" >> beam.Create([(b"", 0)])
        vocab_file = p | "NoVocabFile" >> beam.Create([{"file": "", "features": 0}])
    vocab = top | "VocabPayload" >> beam.Map(text_pl._vocab_payload)

    written = (
        tasks
        | "Distribute" >> beam.Reshuffle()
        | "PrepareWriteShards" >> beam.ParDo(
            PrepareWriteShard(cfg), beam.pvalue.AsSingleton(vocab)).with_outputs(
            "rejected", main="shards")
    )
    rejected = (
        (written.rejected, p | "ListingRejected" >> beam.Create(listing.rejected))
        | "AllRejections" >> beam.Flatten()
    )
    reasons = (
        rejected
        | "Reason" >> beam.Map(lambda r: r.reason)
        | "CountPerReason" >> beam.combiners.Count.PerElement()
    )
    rejected_file = (
        rejected
        | "AllRejected" >> beam.combiners.ToList()
        | "WriteRejected" >> beam.Map(_write_rejected, cfg.output_dir)
    )
    return (
        p
        | "ManifestTrigger" >> beam.Create([None])
        | "WriteManifest" >> beam.ParDo(
            WriteManifest(cfg, class_table),
            beam.pvalue.AsList(written.shards),
            beam.pvalue.AsList(reasons),
            beam.pvalue.AsSingleton(vocab),
            beam.pvalue.AsSingleton(vocab_file),
            beam.pvalue.AsSingleton(rejected_file),
        )
    )
