"""The Beam transforms of ``beam_jobs.phrase_pairs`` (a module of its own, so every runner
pickles them by reference), and the job's configuration.

Graph::

    input shards (one task per shard of each read split)
      ─ReadImages: ids, labels, captions (no JPEG decoded); per image its candidate phrases:
         captions source: tfpipe.text.phrases.caption_phrases of every caption, united
         classes source:  the class's tfpipe.text.phrases.class_phrases (side input ClassPhrases)
         ├─ rejected (missing_captions, unlabelled, unknown_class, no_synset)
         └─ images ─CountPhrases: (bucket, {(phrase, origin): images}) tables, summed per
                    bundle─CombinePerKey(MergeCounts)─▶ distinct images per phrase
                    ─BuildVocabulary: keep lemma phrases and caption n-grams of
                    >= min_images images; ids by (-images, phrase) ─▶ phrases.tsv
         images ─AssignIds (vocabulary side input)─┬─ no_phrase ─▶ rejected
                                                   └─ kept ─GroupByKey(shard)─▶ <split>-*.tfrecord
         kept ─(phrase id set, 1)─CombinePerKey(sum)─SetPairs: ((pairs, shard), {(first,
               second): images}) tables of each distinct set's pairs, weighted by its images
               and summed per bundle─CombinePerKey(MergeCounts)─▶ pairs-*.tfrecord
      rejected ─▶ rejected.jsonl;  everything ─▶ WriteManifest (last; checks read == written +
      rejected per source, and that the shards hold what was counted)

Identical phrase sets are summed before their pairs are formed: Tiny-ImageNet's 150 images
of a class carry one set, so its pairs are formed once per class, not per image.  Phrases and
pairs travel as per-bundle partial count tables keyed by bucket or output shard (as the text
job's word statistics do), not as one Beam element per occurrence: a Flickr8k-1k image has
about 56 phrases, so 700 images give 820,000 distinct pairs, and one element each made the
job take about 140 s on the DirectRunner.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import os
import statistics
from typing import Any, NamedTuple, Sequence

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from tfpipe.data import manifest as manifest_lib
from tfpipe.data import phrase_records
from tfpipe.data import records
from tfpipe.data import schema
from tfpipe.data.rows import RAW_CHARS, Rejected
from tfpipe.text import phrases as phrases_lib

REJECTED_FILE = "rejected.jsonl"
CAPTIONS, CLASSES = "captions", "classes"  # the two roles of an input
ORIGIN = {CAPTIONS: "captions", CLASSES: "lemmas"}  # a phrase's origin, per input role
READ_BATCH = 512
COUNT_BUCKETS = 16  # partial phrase-count tables per bundle (units of the merge's parallelism)
_NAMESPACE = "tfpipe.phrase_pairs"

# Rejection reasons.
MISSING_CAPTIONS = "missing_captions"  # a captions-source image without any caption text
UNLABELLED = "unlabelled"  # a classes-source image without a class
UNKNOWN_CLASS = "unknown_class"  # a label outside the source's class table
NO_SYNSET = "no_synset"  # the class has no WordNet synset, or its synset has no phrase
NO_PHRASE = "no_phrase"  # no phrase of the image is in the vocabulary
REASONS = (MISSING_CAPTIONS, UNLABELLED, UNKNOWN_CLASS, NO_SYNSET, NO_PHRASE)


@dataclasses.dataclass(frozen=True)
class Source:
    """One input data directory and what it gives: ``role`` captions or classes."""

    name: str  # the data's name (its manifest's dataset): the records' NAME
    path: str
    role: str
    shards: tuple[tuple[str, str], ...]  # (split, absolute shard path)
    class_table: tuple[dict, ...] = ()  # classes role: the manifest's class table


@dataclasses.dataclass(frozen=True)
class PhraseJobConfig:
    """Everything the pipeline needs, resolved and validated by the CLI."""

    output_dir: str
    sources: tuple[Source, ...]
    splits: tuple[str, ...] = ("train",)
    max_n: int = 3
    min_images: int = 2
    hypernym_depth: int = 1
    max_pair_phrases: int = 0  # 0: every pair of an image's phrases
    num_shards: int = 1

    @property
    def class_source(self) -> Source | None:
        return next((s for s in self.sources if s.role == CLASSES), None)

    def parameters(self) -> dict[str, Any]:
        return {"max_n": self.max_n, "min_images": self.min_images,
                "hypernym_depth": self.hypernym_depth, "max_pair_phrases": self.max_pair_phrases,
                "num_shards": self.num_shards, "splits": list(self.splits)}


class Candidate(NamedTuple):
    """An image read, with its candidate phrase strings (distinct, first-seen order)."""

    split: str
    image_id: str
    label: int
    source: str
    role: str
    phrases: tuple[str, ...]


class Kept(NamedTuple):
    """An image with its phrase ids (sorted, distinct), as written."""

    split: str
    image_id: str
    label: int
    source: str
    phrase_ids: tuple[int, ...]


# --------------------------------------------------------------------------- classes


def class_entry(row: dict, hypernym_depth: int) -> tuple[int, Any]:
    """``(class index, phrases)`` of a class table row, or ``(index, "error text")`` when it has
    no WordNet synset (its images are then rejected ``no_synset``)."""
    index = int(row["index"])
    key = row.get("synset") or row.get("wnid") or row.get("name") or ""
    try:
        found = phrases_lib.class_phrases(key, hypernym_depth)
    except (ValueError, LookupError) as e:
        return index, f"class {index} {row.get('name', '')!r}: {e}"
    if not found:
        return index, f"class {index} {row.get('name', '')!r}: synset {key!r} has no phrase"
    return index, tuple(found)


# --------------------------------------------------------------------------- reading


class ReadImages(beam.DoFn):
    """Reads one shard's ids, labels and captions (the JPEG bytes are never decoded); emits a
    :class:`Candidate` per usable image, ``rejected`` :class:`Rejected` s and, tagged
    ``read``, ``(source, images read)``."""

    def __init__(self, max_n: int):
        self._max_n = max_n
        self._read = beam.metrics.Metrics.counter(_NAMESPACE, "images_read")
        self._rejected = beam.metrics.Metrics.counter(_NAMESPACE, "images_rejected")

    def process(self, task, class_phrases: dict):
        import tensorflow as tf

        name, role, split, path, n_classes = task
        kind = schema.KIND_IMAGE_CAPTIONS if role == CAPTIONS else schema.KIND_IMAGE
        keys = [schema.ID, schema.LABEL] + ([schema.CAPTIONS] if role == CAPTIONS else [])
        where = f"{name}:{split}:{os.path.basename(path)}"
        row = 0
        for batch in tf.data.TFRecordDataset(path).batch(READ_BATCH):
            parsed = schema.parse(batch, kind=kind, keys=keys)
            ids = [i.decode("utf-8") for i in parsed[schema.ID].numpy()]
            labels = parsed[schema.LABEL].numpy().tolist()
            caps = parsed[schema.CAPTIONS].to_list() if role == CAPTIONS else [None] * len(ids)
            for image_id, label, captions in zip(ids, labels, caps):
                row += 1
                self._read.inc()
                item = self._candidate(split, image_id, int(label), name, role, captions,
                                       class_phrases, n_classes, where, row)
                if isinstance(item, Rejected):
                    self._rejected.inc()
                    yield beam.pvalue.TaggedOutput("rejected", item)
                else:
                    yield item
        yield beam.pvalue.TaggedOutput("read", (name, row))

    def _candidate(self, split, image_id, label, name, role, captions, class_phrases, n_classes,
                   where, row):
        def reject(reason, detail):
            return Rejected(where, row, reason, detail[:RAW_CHARS], image_id)

        if role == CAPTIONS:
            texts = [c.decode("utf-8") for c in captions if c.strip()]
            if not texts:
                return reject(MISSING_CAPTIONS, f"{len(captions)} caption(s), none with text")
            found: dict[str, None] = {}
            for text in texts:
                found.update(dict.fromkeys(phrases_lib.caption_phrases(text, self._max_n)))
            return Candidate(split, image_id, label, name, role, tuple(found))
        if label < 0:
            return reject(UNLABELLED, f"label {label}: a classes source needs labelled images")
        if label >= n_classes:
            return reject(UNKNOWN_CLASS, f"label {label} outside the {n_classes} classes of the manifest")
        entry = class_phrases.get((name, label))
        if not isinstance(entry, tuple):
            return reject(NO_SYNSET, str(entry))
        return Candidate(split, image_id, label, name, role, entry)


# --------------------------------------------------------------------------- vocabulary


class MergeCounts(beam.CombineFn):
    """Sums ``collections.Counter`` s (partial counts of one bucket or shard)."""

    def create_accumulator(self):
        return collections.Counter()

    def add_input(self, acc, counts):
        acc.update(counts)
        return acc

    def merge_accumulators(self, accs):
        accs = iter(accs)
        out = next(accs)
        for acc in accs:
            out.update(acc)
        return out

    def extract_output(self, acc):
        return acc


def _bucket(key: str, buckets: int) -> int:
    return records.shard_of(key, buckets) if buckets > 1 else 0


class CountPhrases(beam.DoFn):
    """Distinct images per ``(phrase, origin)``, counted within the bundle and emitted as
    ``(bucket, Counter)`` partial tables (``COUNT_BUCKETS`` buckets by phrase), so that a
    phrase costs one dict update, not one Beam element, per image."""

    def start_bundle(self):
        self._counts: collections.Counter = collections.Counter()

    def process(self, c: Candidate):
        origin = ORIGIN[c.role]
        self._counts.update((phrase, origin) for phrase in c.phrases)

    def finish_bundle(self):
        tables: dict[int, collections.Counter] = {}
        for key, n in self._counts.items():
            tables.setdefault(_bucket(key[0], COUNT_BUCKETS), collections.Counter())[key] = n
        for bucket, table in tables.items():
            yield WindowedValue((bucket, table), MIN_TIMESTAMP, [GlobalWindow()])
        self._counts = collections.Counter()


def _table_items(tables: list) -> list:
    """The ``((phrase, origin), images)`` items of every bucket's table."""
    return [item for _, table in tables for item in table.items()]


def build_vocabulary(counts: Sequence[tuple[tuple[str, str], int]], min_images: int
                     ) -> list[phrase_records.Phrase]:
    """The phrase vocabulary from ``((phrase, origin), distinct images)`` counts: a phrase
    with a ``lemmas`` origin is kept, a caption-only one when it has ``>= min_images``
    images; its count is its images over both origins (an image has one source); ids
    ``0..P-1`` by decreasing count, ties by the phrase string."""
    by_phrase: dict[str, list] = {}
    for (phrase, origin), n in counts:
        entry = by_phrase.setdefault(phrase, [0, set()])
        entry[0] += n
        entry[1].add(origin)
    kept = [(phrase, n, origins) for phrase, (n, origins) in by_phrase.items()
            if "lemmas" in origins or n >= min_images]
    kept.sort(key=lambda t: (-t[1], t[0]))
    return [phrase_records.Phrase(i, phrase, n, "both" if len(origins) == 2 else next(iter(origins)))
            for i, (phrase, n, origins) in enumerate(kept)]


def write_phrases(vocab: list, output_dir: str) -> dict:
    """Writes ``phrases.tsv``; returns its figures (phrases in all and by source, and how many
    have at least 2, 3, 5, 10, 20, 50 images)."""
    with open(os.path.join(output_dir, phrase_records.PHRASES_FILE), "w", encoding="utf-8",
              newline="") as f:
        f.write(phrase_records.phrases_tsv(vocab))
    by_source = collections.Counter(p.source for p in vocab)
    return {"file": phrase_records.PHRASES_FILE, "total": len(vocab),
            "by_source": {s: by_source.get(s, 0) for s in phrase_records.SOURCES},
            "with_at_least_images": {str(m): sum(1 for p in vocab if p.images >= m)
                                     for m in (2, 3, 5, 10, 20, 50)}}


def _index(vocab: list) -> dict[str, int]:
    return {p.phrase: p.id for p in vocab}


class AssignIds(beam.DoFn):
    """A :class:`Kept` image with the vocabulary ids of its phrases, or (tagged ``rejected``)
    a ``no_phrase`` rejection when none of them is in the vocabulary."""

    def process(self, c: Candidate, index: dict):
        ids = sorted({index[p] for p in c.phrases if p in index})
        if not ids:
            yield beam.pvalue.TaggedOutput("rejected", Rejected(
                f"{c.source}:{c.split}", 0, NO_PHRASE,
                f"none of its {len(c.phrases)} candidate phrase(s) is in the vocabulary, e.g. "
                f"{list(c.phrases[:3])}"[:RAW_CHARS], c.image_id))
            return
        yield Kept(c.split, c.image_id, c.label, c.source, tuple(ids))


# --------------------------------------------------------------------------- pairs


class SetPairs(beam.DoFn):
    """The pairs of ids of each distinct phrase set ``(ids, images)``, weighted by its images
    and summed within the bundle, emitted as ``((pairs split, shard), Counter{(first, second):
    images})`` partial tables (one per output shard).  With
    ``max_pair_phrases`` > 0 only the set's first (most frequent) that many ids are paired;
    the pair occurrences left out are counted (tagged ``capped``: ``(images, pairs)``)."""

    def __init__(self, max_pair_phrases: int, num_shards: int):
        self._cap = max_pair_phrases
        self._num_shards = num_shards

    def start_bundle(self):
        self._counts: collections.Counter = collections.Counter()

    def process(self, element):
        ids, images = element
        counts = self._counts
        used = ids[:self._cap] if self._cap and len(ids) > self._cap else ids
        for pair in itertools.combinations(used, 2):
            counts[pair] += images
        if len(used) < len(ids):
            dropped = (len(ids) * (len(ids) - 1) - len(used) * (len(used) - 1)) // 2
            yield beam.pvalue.TaggedOutput("capped", (images, images * dropped))

    def finish_bundle(self):
        if self._num_shards == 1:  # no hashing: the bundle's table is the one shard's
            tables = {0: self._counts} if self._counts else {}
        else:
            tables = {}
            for pair, n in self._counts.items():
                index = _bucket(f"{pair[0]} {pair[1]}", self._num_shards)
                tables.setdefault(index, collections.Counter())[pair] = n
        for index, table in tables.items():
            yield WindowedValue(((phrase_records.PAIRS_SPLIT, index), table), MIN_TIMESTAMP,
                                [GlobalWindow()])
        self._counts = collections.Counter()


# --------------------------------------------------------------------------- writing


def _expected_shards(split: str, num_shards: int):
    for index in range(num_shards):
        yield (split, index), (collections.Counter() if split == phrase_records.PAIRS_SPLIT else None)


def _key_image(k: Kept, num_shards: int):
    return (k.split, records.shard_of(k.image_id, num_shards)), k


class WriteShard(beam.DoFn):
    """Writes one shard (image_phrases records sorted by image id, or phrase_pairs records
    sorted by pair); emits ``(split, index, shard entry, {source: records}, {label: records},
    {(source, phrases per image): images})``."""

    def __init__(self, output_dir: str, num_shards: int):
        self._output_dir = output_dir
        self._num_shards = num_shards
        self._written = beam.metrics.Metrics.counter(_NAMESPACE, "records_written")

    def process(self, element):
        (split, index), values = element
        if split == phrase_records.PAIRS_SPLIT:  # values: the shard's Counter of pairs
            rows = sorted((a, b, n) for (a, b), n in values.items())
        else:
            rows = [v for v in values if v is not None]
        by_source: dict[str, int] = {}
        labels: dict[int, int] = {}
        sizes: dict[tuple[str, int], int] = {}
        if split == phrase_records.PAIRS_SPLIT:
            serialized = schema.encode_phrase_pairs(rows)
        else:
            rows.sort(key=lambda k: k.image_id)
            for k in rows:
                by_source[k.source] = by_source.get(k.source, 0) + 1
                labels[k.label] = labels.get(k.label, 0) + 1
                size = (k.source, len(k.phrase_ids))
                sizes[size] = sizes.get(size, 0) + 1
            serialized = (schema.encode_image_phrases(example_id=k.image_id, phrase_ids=k.phrase_ids,
                                                      label=k.label, name=k.source) for k in rows)
        name = records.shard_name(split, index, self._num_shards)
        shard = records.write_shard(self._output_dir, name, serialized)
        self._written.inc(shard.records)
        yield split, index, dataclasses.asdict(shard), by_source, labels, sizes


def _rejected_source(r: Rejected) -> str:
    return r.source.split(":", 1)[0]


def _write_rejected(rows: list, output_dir: str) -> str:
    rows = sorted(rows, key=lambda r: (r.source, r.raw, r.reason, r.row))
    with open(os.path.join(output_dir, REJECTED_FILE), "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(r._asdict(), ensure_ascii=False, sort_keys=True) + "\n" for r in rows))
    return REJECTED_FILE


def _distribution(sizes: dict[int, int]) -> dict[str, float]:
    """Mean, median and max of a ``{value: how many}`` histogram (zeros when empty)."""
    total = sum(sizes.values())
    if not total:
        return {"mean": 0.0, "median": 0.0, "max": 0}
    values = [v for v, n in sorted(sizes.items()) for _ in range(n)]
    return {"mean": round(sum(values) / total, 3), "median": float(statistics.median(values)),
            "max": max(values)}


def figures(manifest: manifest_lib.Manifest) -> dict[str, Any]:
    """The job's figures as printed at the end (from a written manifest)."""
    c = manifest.counts
    return {"images": c["by_source"], "read": c["read"], "written": c["written"],
            "rejected": c["rejected"], "rejected_by_reason": c["rejected_by_reason"],
            "coverage": c["coverage"], "phrases": c["phrases"], "pairs": c["pairs"],
            "phrases_per_image": c["phrases_per_image"], "parameters": manifest.source["parameters"]}


class WriteManifest(beam.DoFn):
    """Writes ``manifest.json`` last, after checking the accounting."""

    def __init__(self, cfg: PhraseJobConfig):
        self._cfg = cfg

    def process(self, _, shards, read, reasons, phrases, capped, rejected_file):
        cfg = self._cfg
        classes = cfg.class_source.class_table if cfg.class_source else ()
        read_by = {s.name: 0 for s in cfg.sources}
        for name, n in read:
            read_by[name] += n
        rejected_by = {s.name: {} for s in cfg.sources}
        for (name, reason), n in reasons:
            rejected_by[name][reason] = n
        written_by = {s.name: 0 for s in cfg.sources}
        sizes_by: dict[str, dict[int, int]] = {s.name: {} for s in cfg.sources}
        splits: dict[str, manifest_lib.Split] = {}
        for split in cfg.splits + (phrase_records.PAIRS_SPLIT,):
            entries = sorted((i, s, by, lab, sz) for sp, i, s, by, lab, sz in shards if sp == split)
            per_class = [0] * len(classes)
            for _, _, by, lab, sz in entries:
                for name, n in by.items():
                    written_by[name] += n
                for label, n in lab.items():
                    if label >= 0:
                        per_class[label] += n
                for (name, size), n in sz.items():
                    sizes_by[name][size] = sizes_by[name].get(size, 0) + n
            stored = [manifest_lib.Shard(**s) for _, s, _, _, _ in entries]
            splits[split] = manifest_lib.Split(count=sum(s.records for s in stored),
                                               class_counts=per_class if split != phrase_records.PAIRS_SPLIT else [],
                                               shards=stored)
        by_source = {}
        for s in cfg.sources:
            rej = dict(sorted(rejected_by[s.name].items()))
            got = {"read": read_by[s.name], "written": written_by[s.name],
                   "rejected": sum(rej.values()), "rejected_by_reason": rej,
                   "coverage": round(written_by[s.name] / read_by[s.name], 4) if read_by[s.name] else 0.0,
                   "phrases_per_image": _distribution(sizes_by[s.name])}
            if got["read"] != got["written"] + got["rejected"]:
                raise RuntimeError(f"{s.name}: accounting failed: read={got['read']}, written="
                                   f"{got['written']}, rejected={got['rejected']}")
            by_source[s.name] = got
        read_total = sum(read_by.values())
        written = sum(written_by.values())
        all_reasons: dict[str, int] = collections.Counter()
        for got in by_source.values():
            all_reasons.update(got["rejected_by_reason"])
        if written != sum(splits[sp].count for sp in cfg.splits):
            raise RuntimeError(f"the image shards hold {sum(splits[sp].count for sp in cfg.splits)} "
                               f"records but {written} were counted")
        all_sizes: dict[int, int] = collections.Counter()
        for sz in sizes_by.values():
            all_sizes.update(sz)
        capped_images = sum(n for n, _ in capped)
        capped_pairs = sum(p for _, p in capped)
        pair_split = splits[phrase_records.PAIRS_SPLIT]
        counts = {
            "read": read_total, "written": written, "rejected": sum(all_reasons.values()),
            "rejected_by_reason": dict(sorted(all_reasons.items())), "augmented": 0,
            "by_source": by_source,
            "coverage": round(written / read_total, 4) if read_total else 0.0,
            "phrases": {k: v for k, v in phrases.items() if k != "file"},
            "phrases_per_image": _distribution(all_sizes),
            "pairs": {"pairs": pair_split.count, "capped_images": capped_images,
                      "capped_pair_occurrences": capped_pairs},
        }
        table = cfg.class_source
        manifest = manifest_lib.Manifest(
            alphabet="", alphabet_chars="", l0=0, max_words=0, vocab_file="", vocab_words=0,
            class_names=[c["name"] for c in classes], splits=splits, compression="",
            counts=counts, rejected_file=rejected_file,
            source={"job": "beam_jobs.phrase_pairs",
                    "inputs": {s.role: {"dir": s.path, "dataset": s.name} for s in cfg.sources},
                    "parameters": cfg.parameters(), "phrases_file": phrases["file"],
                    "label_classes": table.name if table else "",
                    "pairs_kind": schema.KIND_PHRASE_PAIRS},
            dataset=os.path.basename(os.path.normpath(cfg.output_dir)),
            kind=schema.KIND_IMAGE_PHRASES, classes=[dict(c) for c in classes],
        )
        yield manifest_lib.write(manifest, cfg.output_dir)


# --------------------------------------------------------------------------- graph


def _keyed_class_entry(name_row: tuple[str, dict], hypernym_depth: int):
    """``((source name, class index), phrases or error text)``: the ClassPhrases side input."""
    name, row = name_row
    index, entry = class_entry(row, hypernym_depth)
    return (name, index), entry


def shard_tasks(cfg: PhraseJobConfig) -> list[tuple]:
    """``(source name, role, split, shard path, number of classes)`` of every input shard."""
    return [(s.name, s.role, split, path, len(s.class_table))
            for s in cfg.sources for split, path in s.shards]


def build(p: beam.Pipeline, cfg: PhraseJobConfig) -> beam.PCollection:
    """Adds the phrase-pairs graph to ``p``; returns the manifest path PCollection."""
    table = cfg.class_source
    class_rows = [(table.name, row) for row in table.class_table] if table else []
    class_phrases = (
        p
        | "ClassTable" >> beam.Create(class_rows)
        | "ClassPhrases" >> beam.Map(_keyed_class_entry, cfg.hypernym_depth)
    )
    read = (
        p
        | "ShardTasks" >> beam.Create(shard_tasks(cfg))
        | "Distribute" >> beam.Reshuffle()
        | "ReadImages" >> beam.ParDo(ReadImages(cfg.max_n), beam.pvalue.AsDict(class_phrases))
        .with_outputs("rejected", "read", main="images")
    )
    images = read.images

    vocab = (
        images
        | "CountPhrases" >> beam.ParDo(CountPhrases())
        | "ImagesPerPhrase" >> beam.CombinePerKey(MergeCounts())
        | "AllTables" >> beam.combiners.ToList()
        | "PhraseCounts" >> beam.Map(_table_items)
        | "BuildVocabulary" >> beam.Map(build_vocabulary, cfg.min_images)
    )
    phrases = vocab | "WritePhrases" >> beam.Map(write_phrases, cfg.output_dir)
    index = vocab | "PhraseIndex" >> beam.Map(_index)

    assigned = images | "AssignIds" >> beam.ParDo(AssignIds(), beam.pvalue.AsSingleton(index)) \
        .with_outputs("rejected", main="kept")
    kept = assigned.kept

    pairs = (
        kept
        | "PhraseSet" >> beam.Map(lambda k: (k.phrase_ids, 1))
        | "ImagesPerSet" >> beam.CombinePerKey(sum)
        | "SetPairs" >> beam.ParDo(SetPairs(cfg.max_pair_phrases, cfg.num_shards))
        .with_outputs("capped", main="pairs")
    )
    capped = pairs.capped | "AllCapped" >> beam.combiners.ToList()
    expected_pairs = (
        p
        | "PairSplit" >> beam.Create([phrase_records.PAIRS_SPLIT])
        | "ExpectedPairShards" >> beam.FlatMap(_expected_shards, cfg.num_shards)
    )
    pair_shards = (
        (pairs.pairs, expected_pairs)
        | "AllPairTables" >> beam.Flatten()
        | "ImagesPerPair" >> beam.CombinePerKey(MergeCounts())
    )

    expected = (
        p
        | "OutputSplits" >> beam.Create(list(cfg.splits))
        | "ExpectedShards" >> beam.FlatMap(_expected_shards, cfg.num_shards)
    )
    keyed_images = kept | "KeyImages" >> beam.Map(_key_image, cfg.num_shards)
    image_shards = (
        (keyed_images, expected)
        | "AllImages" >> beam.Flatten()
        | "GroupByShard" >> beam.GroupByKey()
    )
    shards = (
        (image_shards, pair_shards)
        | "AllShards" >> beam.Flatten()
        | "WriteShards" >> beam.ParDo(WriteShard(cfg.output_dir, cfg.num_shards))
    )

    rejected = (read.rejected, assigned.rejected) | "AllRejections" >> beam.Flatten()
    reasons = (
        rejected
        | "SourceAndReason" >> beam.Map(lambda r: (_rejected_source(r), r.reason))
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
            WriteManifest(cfg),
            beam.pvalue.AsList(shards),
            beam.pvalue.AsList(read.read),
            beam.pvalue.AsList(reasons),
            beam.pvalue.AsSingleton(phrases),
            beam.pvalue.AsSingleton(capped),
            beam.pvalue.AsSingleton(rejected_file),
        )
    )
