"""The Beam transforms of ``beam_jobs.preprocess_images`` (a module of its own, so every
runner pickles them by reference).

Graph::

    listed items (split assigned by the CLI's listing) ─▶ Reshuffle
      ─PrepareImage (read, decode, check, resize, re-encode: tfpipe.data.images)─┐
      ├─ rejected (+ the listing's rejected entries) ─▶ sorted ─▶ rejected.jsonl  │
      └─ rows (split, ImageRow)                                                  ◀┘
           ├─ (split, label) counts ─▶ shards per split (side input)
           ├─ [captions] train captions ─BatchElements─CountFeatures(words)─▶
           │     MergeStats ─TopK(vocab_size)─▶ vocab.tsv (side input)
           └─ key by shard_of(id) ─GroupByKey─▶ EncodeWriteShard: sort by id,
                 RecordEncoder (captions: records.Encoder, one per worker), write_shard
    shard entries + counts ─▶ image_records.build_manifest ─▶ manifest.json (last)

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
from tfpipe.data.corpora import RAW_CHARS, Rejected

ENCODE_BATCH = 256  # rows per RecordEncoder call
_NAMESPACE = "tfpipe.preprocess_images"


class PrepareImage(beam.DoFn):
    """Reads, checks and re-encodes one listed image (``tfpipe.data.images.prepare``);
    emits ``(split, ImageRow)`` or, tagged ``rejected``, a ``Rejected``."""

    def __init__(self, resize: images_lib.Resize, class_index: dict[str, int]):
        self._resize = resize
        self._class_index = dict(class_index)
        self._read = beam.metrics.Metrics.counter(_NAMESPACE, "images_read")
        self._rejected = beam.metrics.Metrics.counter(_NAMESPACE, "images_rejected")

    def process(self, item):
        self._read.inc()
        try:
            data = images_lib.read_file(item.path)
            done = images_lib.prepare(data, self._resize, item.image_id)
        except images_lib.ImageError as e:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput("rejected", Rejected(
                item.order[0] if item.order else "", item.order[-1] if item.order else 0,
                e.reason, e.detail[:RAW_CHARS], item.image_id))
            return
        label = self._class_index.get(item.class_name, image_records.UNLABELLED) \
            if item.class_name else image_records.UNLABELLED
        yield item.split, image_records.ImageRow(
            item.image_id, label, item.class_name, done.jpeg, done.height, done.width,
            tuple(item.captions))


def _train_captions(element):
    split, row = element
    if split == "train":
        yield from row.captions


def _shard_plan(split: str, split_counts: list, fixed: int | None):
    images = sum(n for (s, _), n in split_counts if s == split)
    return split, fixed or auto_num_shards(images)


def _expected_shards(split: str, shard_plan: dict):
    for index in range(shard_plan[split]):
        yield (split, index), None


def _key_by_shard(element, shard_plan: dict):
    split, row = element
    return (split, records.shard_of(row.image_id, shard_plan[split])), row


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


class EncodeWriteShard(beam.DoFn):
    """Encodes one shard's rows, sorted by image id, and writes the shard."""

    def __init__(self, cfg: ImageJobConfig):
        self._cfg = cfg
        self._written = beam.metrics.Metrics.counter(_NAMESPACE, "records_written")

    def process(self, element, vocab: dict, shard_plan: dict):
        cfg = self._cfg
        (split, index), values = element
        rows = sorted((v for v in values if v is not None), key=lambda r: r.image_id)
        enc = _encoder(cfg, vocab)

        def serialized():
            for start in range(0, len(rows), ENCODE_BATCH):
                yield from enc.encode(rows[start:start + ENCODE_BATCH])

        name = records.shard_name(split, index, shard_plan[split], cfg.compression)
        shard = records.write_shard(cfg.output_dir, name, serialized(), cfg.compression)
        self._written.inc(shard.records)
        yield split, index, dataclasses.asdict(shard)


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

    def process(self, _, shards, split_counts, reasons, vocab, vocab_file, rejected_file):
        cfg = self._cfg
        n_classes = len(self._class_table)
        split_shards, class_counts, counts = {}, {}, {}
        for split in cfg.splits:
            entries = sorted((i, s) for sp, i, s in shards if sp == split)
            split_shards[split] = [manifest_lib.Shard(**s) for _, s in entries]
            per_class = [0] * n_classes
            total = 0
            for (sp, label), n in split_counts:
                if sp == split:
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


def build(p: beam.Pipeline, cfg: ImageJobConfig, class_table: list[dict]) -> beam.PCollection:
    """Adds the image preprocessing graph to ``p``; returns the manifest path PCollection."""
    listing = cfg.listing
    class_index = {c.name: i for i, c in enumerate(listing.classes)}
    prepared = (
        p
        | "Items" >> beam.Create(listing.items)
        | "Reshuffle" >> beam.Reshuffle()
        | "PrepareImage" >> beam.ParDo(PrepareImage(cfg.resize, class_index)).with_outputs(
            "rejected", main="rows")
    )
    rows = prepared.rows
    rejected = (
        (prepared.rejected, p | "ListingRejected" >> beam.Create(listing.rejected))
        | "AllRejections" >> beam.Flatten()
    )
    split_counts = (
        rows
        | "SplitAndLabel" >> beam.Map(lambda e: (e[0], e[1].label))
        | "CountPerClass" >> beam.combiners.Count.PerElement()
    )
    reasons = (
        rejected
        | "Reason" >> beam.Map(lambda r: r.reason)
        | "CountPerReason" >> beam.combiners.Count.PerElement()
    )
    shard_plan = beam.pvalue.AsDict(
        p
        | "Splits" >> beam.Create(list(cfg.splits))
        | "ShardPlan" >> beam.Map(_shard_plan, beam.pvalue.AsList(split_counts), cfg.num_shards)
    )

    # Caption vocabulary, counted on the train captions as the text job counts words.
    if cfg.captions and cfg.vocab_tsv:
        top = p | "GivenVocab" >> beam.Create([(cfg.vocab_tsv, cfg.vocab_tsv.count(b"\n"))])
        vocab_file = top | "WriteVocab" >> beam.Map(text_pl._write_stats, cfg.output_dir,
                                                    VOCAB_FILE)
    elif cfg.captions and cfg.vocab_size > 0:
        top = (
            rows
            | "TrainCaptions" >> beam.FlatMap(_train_captions)
            | "BatchForCount" >> beam.BatchElements(
                min_batch_size=text_pl.COUNT_BATCH[0], max_batch_size=text_pl.COUNT_BATCH[1])
            | "CountWords" >> beam.ParDo(text_pl.CountFeatures(1))
            | "MergeStats" >> beam.CombinePerKey(text_pl.MergeStats())
            | "TopWords" >> beam.CombineGlobally(
                text_pl.TopK(cfg.vocab_size, words_only=True, min_count=cfg.min_count))
        )
        vocab_file = top | "WriteVocab" >> beam.Map(text_pl._write_stats, cfg.output_dir,
                                                    VOCAB_FILE)
    else:
        top = p | "NoVocab" >> beam.Create([(b"", 0)])
        vocab_file = p | "NoVocabFile" >> beam.Create([{"file": "", "features": 0}])
    vocab = top | "VocabPayload" >> beam.Map(text_pl._vocab_payload)

    expected = (p | "ShardSplits" >> beam.Create(list(cfg.splits))
                | "ExpectedShards" >> beam.FlatMap(_expected_shards, shard_plan))
    shards = (
        (rows | "KeyByShard" >> beam.Map(_key_by_shard, shard_plan), expected)
        | "WithEmptyShards" >> beam.Flatten()
        | "GroupByShard" >> beam.GroupByKey()
        | "EncodeWriteShards" >> beam.ParDo(EncodeWriteShard(cfg),
                                            beam.pvalue.AsSingleton(vocab), shard_plan)
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
            beam.pvalue.AsList(shards),
            beam.pvalue.AsList(split_counts),
            beam.pvalue.AsList(reasons),
            beam.pvalue.AsSingleton(vocab),
            beam.pvalue.AsSingleton(vocab_file),
            beam.pvalue.AsSingleton(rejected_file),
        )
    )
