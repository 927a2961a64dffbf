"""The Beam transforms of ``beam_jobs.preprocess`` (a module of its own, so that every
runner pickles them by reference, also when the CLI runs as ``__main__``).

Graph::

    sources ─ReadSource (one DoFn call per file: stable line numbers; --exclude_images rows
      counted and dropped here)─▶ Reshuffle
      ─▶ [--romanize: Romanize every text (in parallel, after the reshuffle)]
      ├─ rejected ─▶ sorted ─▶ rejected.jsonl (dead letter)
      └─ good ─┬─ carve: ((group, label), order key) ─CombineGlobally(StratifiedSplit)─▶
               │         test keys (side input) ─▶ AssignSplit; or the split a source was given
               ▼
             rows (split, RawExample)  [--unlabelled: label 0 after the split]
               ─▶ [--augment_copies: AugmentTrain adds each train row's thesaurus copies]
               ├─ train texts ─BatchElements─CountFeatures (TF n-grams, one Counter per
               │     bundle, split into hash buckets of (grams, counts, df) tables)─▶
               │     CombinePerKey(MergeStats) ─▶ per-bucket totals
               │       ├─ words, min_count ─TopK(vocab_size)─▶ vocab.tsv
               │       └─ all grams ─TopK(ngram_vocab_size)─▶ ngrams.tsv
               ├─ (split, label) counts ─▶ shards per split (side input)
               └─ key by shard_of(id) ─GroupByKey─▶ EncodeWriteShard: sort by id, Encoder
                     (vocab side input, built once per worker) in batches, write_shard
    shard entries + counts + vocab ─▶ records.build_manifest (the builder of
    records.write_dataset too) ─▶ manifest.json, written last after checking
    read == written + rejected (+ excluded with --exclude_images; read is counted by the
    readers themselves) and records == written + augmented copies.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zlib
from typing import Iterator

import apache_beam as beam
import numpy as np
from apache_beam.transforms import window

from beam_jobs.preprocess_config import (  # noqa: F401  (re-exported)
    NGRAM_FILE,
    REJECTED_FILE,
    SPLITS,
    VOCAB_FILE,
    JobConfig,
    Source,
    auto_num_shards,
)
from tfpipe.data import corpora
from tfpipe.data import embedded
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import records
from tfpipe.data import splits as splits_lib

ENCODE_BATCH = 512  # rows per Encoder call when writing a shard
COUNT_BATCH = (64, 1024)
_NAMESPACE = "tfpipe.preprocess"


# --------------------------------------------------------------------------- reading


class ReadSource(beam.DoFn):
    """Reads one source sequentially (stable line numbers); emits ``(split, order, item)``.

    ``exclude_images``: the captions of those images (``captions_csv`` sources) are not emitted
    but counted, on the ``excluded_count`` output."""

    def __init__(self, class_names: tuple[str, ...], exclude_images: frozenset = frozenset()):
        self._class_names = tuple(class_names)
        self._exclude_images = frozenset(exclude_images)
        self._read = beam.metrics.Metrics.counter(_NAMESPACE, "rows_read")
        self._rejected = beam.metrics.Metrics.counter(_NAMESPACE, "rows_rejected")
        self._excluded = beam.metrics.Metrics.counter(_NAMESPACE, "rows_excluded")

    def _items(self, src: Source) -> Iterator[corpora.Item]:
        if src.kind == "file":
            opts = corpora.ReadOptions(src.classes or self._class_names, src.encoding,
                                       src.max_line_chars, src.source)
            exclude = (self._exclude_images if src.fmt in corpora.IMAGE_KEYED_FORMATS
                       else frozenset())
            return corpora.read_file(src.fmt, src.path, opts, exclude_images=exclude)
        if src.kind == "tfds":
            return corpora.read_tfds(src.tfds, src.path, src.start, src.end)
        if src.kind == "embedded":
            return iter(embedded.rows(src.path, src.count, src.seed))
        raise ValueError(f"unknown source kind {src.kind!r}")

    def process(self, src: Source):
        read = excluded = 0
        for item in self._items(src):
            read += 1
            if isinstance(item, corpora.Excluded):
                excluded += 1
                continue
            if isinstance(item, corpora.Rejected):
                self._rejected.inc()
            yield src.split, (src.index, item.row), item
        self._read.inc(read)
        self._excluded.inc(excluded)
        # Counted here, independently of what later stages do with the rows.
        yield beam.pvalue.TaggedOutput("read_count", read)
        yield beam.pvalue.TaggedOutput("excluded_count", excluded)


_ROMANIZERS: dict = {}


class Romanize(beam.DoFn):
    """Romanizes the text of every good row (``--romanize``); an empty result is rejected."""

    def __init__(self, name: str):
        self._name = name

    def setup(self):
        if self._name not in _ROMANIZERS:  # jieba's dictionary: once per worker process
            _ROMANIZERS[self._name] = records.romanizer(self._name)
        self._fn = _ROMANIZERS[self._name]

    def process(self, element):
        split, order, item = element
        if isinstance(item, corpora.RawExample):
            text = self._fn(item.text)
            if text:
                item = item._replace(text=text)
            else:
                item = corpora.Rejected(
                    item.example_id.rpartition(":")[0], item.row, corpora.EMPTY_TEXT,
                    f"the text is empty after romanization ({self._name})",
                    item.text[: corpora.RAW_CHARS])
        yield split, order, item


def _route(element):
    split, order, item = element
    if isinstance(item, corpora.Rejected):
        yield beam.pvalue.TaggedOutput("rejected", (order, item))
    else:
        yield split, order, item


class StratifiedSplit(beam.CombineFn):
    """Global combine of ``((group, label), order key)`` into the set of test-split keys.

    Each group (corpus) is split on its own by the agreed procedure
    (``splits.held_out_keys``, a fresh generator per group), so a corpus's
    held-out rows are the same whether it is preprocessed alone or beside others.
    """

    def __init__(self, fraction: float, seed: int):
        self._fraction = fraction
        self._seed = seed

    def create_accumulator(self):
        return {}

    def add_input(self, acc, element):
        group_label, key = element
        acc.setdefault(group_label, []).append(key)
        return acc

    def merge_accumulators(self, accs):
        merged: dict = {}
        for acc in accs:
            for group_label, keys in acc.items():
                merged.setdefault(group_label, []).extend(keys)
        return merged

    def extract_output(self, acc):
        by_group: dict = {}
        for (group, label), keys in acc.items():
            by_group.setdefault(group, {})[label] = keys
        chosen: set = set()
        for group in sorted(by_group):
            chosen |= splits_lib.held_out_keys(by_group[group], self._fraction, self._seed)
        return frozenset(chosen)


def _label_and_key(element, groups: dict):
    split, order, item = element
    if split is None:  # carved
        yield (groups[order[0]], item.label), order


def _assign_split(element, test_keys, unlabelled: bool):
    split, order, item = element
    if split is None:
        split = "test" if order in test_keys else "train"
    return split, (item._replace(label=0) if unlabelled else item)


def _given_split(element, unlabelled: bool):
    split, _, item = element
    return split, (item._replace(label=0) if unlabelled else item)


def _split_and_label(row):
    return row[0], row[1].label


def _reason(element):
    return element[1].reason


# --------------------------------------------------------------------------- augmentation


class AugmentTrain(beam.DoFn):
    """Passes every row on and adds each train row's thesaurus copies (``records.augment_row``).

    Holds the thesaurus itself (loaded once by the launcher, ~2 MB for WordNet), so
    every worker uses the very same table (no WordNet/NLTK version skew between
    machines, no per-worker loading).  Emits ``(1 if copies were written, copies
    written, copies skipped)`` per train row on the ``stats`` output.
    """

    def __init__(self, cfg: JobConfig, thesaurus: dict):
        self._thesaurus = thesaurus
        self._kwargs = {"copies": cfg.augment_copies, "seed": cfg.seed, "p": cfg.augment_p,
                        "q": cfg.augment_q}

    def process(self, row):
        yield row
        split, ex = row
        if split != "train":
            return
        copies, skipped = records.augment_row((ex.example_id, ex.text, ex.label), self._thesaurus,
                                              **self._kwargs)
        for example_id, text, label in copies:
            yield split, corpora.RawExample(example_id, text, label, ex.row)
        yield beam.pvalue.TaggedOutput("stats", (int(bool(copies)), len(copies), skipped))


def _sum_triples(triples) -> tuple[int, int, int]:
    a = b = c = 0
    for x, y, z in triples:
        a, b, c = a + x, b + y, c + z
    return a, b, c


# --------------------------------------------------------------------------- statistics
#
# Counting ~1M distinct n-grams one Beam element per gram costs ~20 us each in
# the Python SDK (windowing, coders, the shuffle): more than the rest of the job
# on AG's News.  So each bundle's counts are split by a stable hash of the gram
# into STAT_BUCKETS partial tables (parallel lists: grams, counts, df), and the
# shuffle moves one table per bucket and bundle: CombinePerKey(MergeStats) adds
# them up per bucket (a gram's totals live in one bucket only), and TopK keeps the
# top K of the buckets' tables.  Memory per bucket is about 1/STAT_BUCKETS of the
# distinct grams; TopK holds at most ~2K items.


STAT_BUCKETS = 256
FLUSH_DISTINCT = 1_000_000  # a bundle emits its partial tables when it holds this many grams

Table = tuple[list, list, list]  # parallel lists: grams (UTF-8 bytes), counts, df


def _train_text(row):
    if row[0] == "train":
        yield row[1].text


def _bucket_tables(counter: records.FeatureCounter) -> list[tuple[int, Table]]:
    """``(bucket, (grams, counts, df))`` tables of ``counter``'s grams; clears it.

    The bucket is ``crc32(gram) % STAT_BUCKETS``: stable in every process (unlike
    ``hash()``), so a gram's partial counts from all bundles meet in one bucket.
    Vectorized with numpy.
    """
    gram_list, count_list, df_list = counter.arrays()
    counter.clear()
    n = len(gram_list)
    if not n:
        return []
    grams = np.empty(n, dtype=object)
    grams[:] = gram_list
    counts = np.array(count_list, dtype=np.int64)
    df = np.array(df_list, dtype=np.int64)
    buckets = np.fromiter(map(zlib.crc32, gram_list), dtype=np.int64, count=n) % STAT_BUCKETS
    order = np.argsort(buckets, kind="stable")
    bounds = np.searchsorted(buckets[order], np.arange(STAT_BUCKETS + 1))
    tables = []
    for bucket in range(STAT_BUCKETS):
        part = order[bounds[bucket] : bounds[bucket + 1]]
        if len(part):
            tables.append((bucket, (grams[part].tolist(), counts[part].tolist(),
                                    df[part].tolist())))
    return tables


def _merge_tables(tables: list) -> Table:
    """One table of several partial ones (summed per gram)."""
    if len(tables) == 1:
        return tables[0]
    totals: dict = {}
    get = totals.get
    for grams, counts, dfs in tables:
        for gram, count, df in zip(grams, counts, dfs):
            old = get(gram)
            totals[gram] = (count, df) if old is None else (old[0] + count, old[1] + df)
    return list(totals), [c for c, _ in totals.values()], [d for _, d in totals.values()]


class CountFeatures(beam.DoFn):
    """Counts the 1..n-grams of batches of train texts (``records.FeatureCounter``) and emits
    their partial ``(bucket, table)`` tables once per bundle."""

    def __init__(self, n_max: int):
        self._n_max = n_max

    def start_bundle(self):
        self._counter = records.FeatureCounter(self._n_max)

    def process(self, texts: list[str]):
        self._counter.update(texts)
        if len(self._counter) >= FLUSH_DISTINCT:  # bounded memory on huge bundles
            yield from _bucket_tables(self._counter)

    def finish_bundle(self):
        for table in _bucket_tables(self._counter):
            yield window.GlobalWindows.windowed_value(table)


class MergeStats(beam.CombineFn):
    """Adds up a bucket's partial tables (kept as they are while there is one, the
    common case of a bucket seen by one bundle)."""

    MAX_PARTS = 8  # partial tables held before they are summed into one

    def create_accumulator(self):
        return []

    def add_input(self, acc, table):
        acc.append(table)
        return self.compact(acc) if len(acc) > self.MAX_PARTS else acc

    def merge_accumulators(self, accs):
        merged = [table for acc in accs for table in acc]
        return self.compact(merged) if len(merged) > self.MAX_PARTS else merged

    def compact(self, acc):
        return [_merge_tables(acc)] if len(acc) > 1 else acc

    def extract_output(self, acc):
        return _merge_tables(acc) if acc else ([], [], [])


class TopK(beam.CombineFn):
    """The first ``k`` statistics in file order (``records.vocab_rank_key``) of the merged
    ``(bucket, table)`` tables; ``words_only``: of the words seen ``min_count`` times.

    Each table is cut to its own top ``k`` first (``records.candidate_stats``) and
    the accumulator is sorted and cut back to ``k`` whenever it reaches ``2k``
    items.  The output is ``(TSV bytes, number of lines)``: CombineGlobally hands
    its result on as a side input, and the SDK's state cache measures a side input
    object by object (seconds for 500,000 tuples, nothing for one bytes object).
    """

    def __init__(self, k: int, words_only: bool = False, min_count: int = 1):
        self._k = k
        self._words_only = words_only
        self._min_count = min_count

    def _prune(self, items: list, force: bool = False) -> list:
        """Sorted and cut to ``k`` when over ``2k`` items (or ``force``: always)."""
        if force or len(items) >= 2 * self._k:
            del records.sort_stats(items)[self._k :]
        return items

    def create_accumulator(self):
        return []

    def add_input(self, acc, element):
        _, table = element
        acc.extend(records.candidate_stats(zip(*table), self._k, words_only=self._words_only,
                                           min_count=self._min_count))
        return self._prune(acc)

    def merge_accumulators(self, accs):
        merged: list = []
        for acc in accs:
            merged.extend(acc)
            self._prune(merged)
        return merged

    def extract_output(self, acc):
        items = self._prune(acc, force=True)
        return records.stats_tsv(items), len(items)


def _vocab_payload(top: tuple[bytes, int]) -> dict:
    """The encoder's side input: the words, new-line joined (one string is cheap to cache)."""
    data, size = top
    words = "\n".join(records.tsv_keys(data))
    return {"words": words, "size": size,
            "fingerprint": hashlib.sha256(words.encode("utf-8")).hexdigest()}


def _payload_words(payload: dict) -> list[str]:
    return payload["words"].split("\n") if payload["size"] else []


def _write_stats(top: tuple[bytes, int], output_dir: str, file: str) -> dict:
    data, size = top
    return {"file": records.write_bytes(output_dir, file, data), "features": size}


# --------------------------------------------------------------------------- encoding


_ENCODERS: dict[tuple, records.Encoder] = {}


def _encoder(alphabet: str, l0: int, max_words: int, payload: dict) -> records.Encoder:
    """One Encoder per worker process and vocabulary (tables and tf.function built once)."""
    key = (alphabet, l0, max_words, payload["fingerprint"])
    enc = _ENCODERS.get(key)
    if enc is None:
        _ENCODERS.clear()
        enc = records.Encoder(alphabet, l0, _payload_words(payload), max_words)
        _ENCODERS[key] = enc
    return enc


def _shard_plan(split: str, class_counts: list, fixed: int | None):
    rows = sum(n for (s, _), n in class_counts if s == split)
    return split, fixed or auto_num_shards(rows)


def _expected_shards(split: str, shard_plan: dict):
    for index in range(shard_plan[split]):
        yield (split, index), None


def _key_by_shard(row, shard_plan: dict):
    split, ex = row
    return ((split, records.shard_of(ex.example_id, shard_plan[split])),
            (ex.example_id, ex.text, ex.label))


class EncodeWriteShard(beam.DoFn):
    """Encodes one shard's rows, sorted by example id, in batches and writes the shard.

    Encoding here, after the grouping, shuffles ~300-byte rows instead of ~2 KB
    records (l0 character ids + text + word ids): measured on the DirectRunner
    (multi_processing, 2 cores, 76,000 rows) it used about 20 % less CPU than
    encoding before the GroupByKey, at the same wall time.  Parallelism is one
    shard per worker; shards hold ~25,000 rows by default.
    """

    def __init__(self, cfg: "JobConfig"):
        self._cfg = cfg
        self._written = beam.metrics.Metrics.counter(_NAMESPACE, "records_written")

    def process(self, element, vocab: dict, shard_plan: dict):
        cfg = self._cfg
        (split, index), values = element
        rows = sorted(v for v in values if v is not None)
        enc = _encoder(cfg.alphabet, cfg.l0, cfg.max_words, vocab)

        def serialized():
            for start in range(0, len(rows), ENCODE_BATCH):
                yield from enc.encode(rows[start : start + ENCODE_BATCH])

        name = records.shard_name(split, index, shard_plan[split], cfg.compression)
        shard = records.write_shard(cfg.output_dir, name, serialized(), cfg.compression)
        self._written.inc(shard.records)
        yield split, index, dataclasses.asdict(shard)


# --------------------------------------------------------------------------- dead letter


def _rejected_record(element) -> tuple:
    order, item = element
    return order, item._asdict()


def _write_rejected(rows: list, output_dir: str) -> str:
    import tensorflow as tf

    rows = sorted(rows, key=lambda r: r[0])
    with tf.io.gfile.GFile(os.path.join(output_dir, REJECTED_FILE), "w") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for _, r in rows))
    return REJECTED_FILE


# --------------------------------------------------------------------------- manifest


class WriteManifest(beam.DoFn):
    """Writes ``manifest.json`` last (``records.build_manifest``, which checks ``read ==
    written + rejected`` (``+ excluded`` with ``--exclude_images``) for the source rows and
    that the shards hold the written rows plus the augmented copies)."""

    def __init__(self, cfg: JobConfig):
        self._cfg = cfg

    def process(self, _, shards, class_counts, read, reasons, vocab, vocab_file, rejected_file,
                ngrams, augment_stats, excluded):
        cfg = self._cfg
        split_shards, split_counts = {}, {}
        for split in SPLITS:
            entries = sorted((i, s) for sp, i, s in shards if sp == split)
            split_shards[split] = [manifest_lib.Shard(**s) for _, s in entries]
            counts = [0] * len(cfg.class_names)
            for (sp, label), n in class_counts:
                if sp == split:
                    counts[label] += n
            split_counts[split] = counts
        rows_augmented, augmented, skipped = augment_stats
        augmentation = {}
        if cfg.augment_copies > 0:
            augmentation = records.augmentation_entry(cfg.augment_info, rows_augmented,
                                                      augmented, skipped)
        manifest = records.build_manifest(
            alphabet=cfg.alphabet,
            l0=cfg.l0,
            max_words=cfg.max_words,
            class_names=cfg.class_names,
            shards=split_shards,
            class_counts=split_counts,
            compression=cfg.compression,
            vocab_file=vocab_file["file"],
            vocab_words=vocab["size"],
            ngram_file=ngrams["file"],
            ngram_max=cfg.ngram_max,
            ngram_features=ngrams["features"],
            read=read,
            rejected_by_reason=dict(reasons),
            augmented=augmented,
            augmentation=augmentation,
            rejected_file=rejected_file,
            source=cfg.source_info,
            dataset=cfg.dataset,
            romanize=cfg.romanize,
            excluded=excluded if cfg.exclude_images else None,
        )
        yield manifest_lib.write(manifest, cfg.output_dir)


# --------------------------------------------------------------------------- graph


def build(p: beam.Pipeline, cfg: JobConfig) -> beam.PCollection:
    """Adds the preprocessing graph to ``p``; returns the manifest path PCollection."""
    read = (
        p
        | "Sources" >> beam.Create(list(cfg.sources))
        | "Read" >> beam.ParDo(ReadSource(cfg.class_names, cfg.exclude_images)).with_outputs(
            "read_count", "excluded_count", main="items")
    )
    items = read.items | "Reshuffle" >> beam.Reshuffle()
    if cfg.romanize:
        items = items | "Romanize" >> beam.ParDo(Romanize(cfg.romanize))
    routed = items | "Route" >> beam.FlatMap(_route).with_outputs(
        "rejected", main="good"
    )
    good, rejected = routed.good, routed.rejected

    if cfg.carve_test:
        groups = {s.index: s.group for s in cfg.sources}
        test_keys = (
            good
            | "LabelAndKey" >> beam.FlatMap(_label_and_key, groups)
            | "StratifiedSplit" >> beam.CombineGlobally(
                StratifiedSplit(cfg.test_fraction, cfg.seed))
        )
        rows = good | "AssignSplit" >> beam.Map(
            _assign_split, beam.pvalue.AsSingleton(test_keys), cfg.unlabelled)
    else:
        rows = good | "GivenSplit" >> beam.Map(_given_split, cfg.unlabelled)

    # Thesaurus copies of the train rows (after the test split is carved).
    if cfg.augment_copies > 0:
        from tfpipe.text import thesaurus as thesaurus_lib

        table = thesaurus_lib.load(cfg.thesaurus)
        augmented = rows | "AugmentTrain" >> beam.ParDo(AugmentTrain(cfg, table)).with_outputs(
            "stats", main="rows")
        rows = augmented.rows
        augment_stats = augmented.stats | "SumAugmentStats" >> beam.CombineGlobally(
            _sum_triples)
    else:
        augment_stats = p | "NoAugmentation" >> beam.Create([(0, 0, 0)])

    # Counts.
    read_count = read.read_count | "SumRead" >> beam.CombineGlobally(sum)
    excluded_count = read.excluded_count | "SumExcluded" >> beam.CombineGlobally(sum)
    class_counts = (
        rows
        | "SplitAndLabel" >> beam.Map(_split_and_label)
        | "CountPerClass" >> beam.combiners.Count.PerElement()
    )
    reasons = (
        rejected
        | "Reason" >> beam.Map(_reason)
        | "CountPerReason" >> beam.combiners.Count.PerElement()
    )
    shard_plan = beam.pvalue.AsDict(
        p
        | "Splits" >> beam.Create(list(SPLITS))
        | "ShardPlan" >> beam.Map(_shard_plan, beam.pvalue.AsList(class_counts), cfg.num_shards)
    )

    # Word and n-gram statistics, counted on the train split as written.
    tables = (
        rows
        | "TrainTexts" >> beam.FlatMap(_train_text)
        | "BatchForCount" >> beam.BatchElements(
            min_batch_size=COUNT_BATCH[0], max_batch_size=COUNT_BATCH[1])
        | "CountFeatures" >> beam.ParDo(CountFeatures(cfg.count_ngram_max))
        | "MergeStats" >> beam.CombinePerKey(MergeStats())
    )
    if cfg.vocab_size > 0:
        top = tables | "TopWords" >> beam.CombineGlobally(
            TopK(cfg.vocab_size, words_only=True, min_count=cfg.min_count))
    else:
        top = p | "NoVocab" >> beam.Create([(b"", 0)])
    vocab = top | "VocabPayload" >> beam.Map(_vocab_payload)
    vocab_file = top | "WriteVocab" >> beam.Map(_write_stats, cfg.output_dir, VOCAB_FILE)
    if cfg.ngram_vocab_size > 0:
        ngrams = (
            tables
            | "TopNgrams" >> beam.CombineGlobally(TopK(cfg.ngram_vocab_size))
            | "WriteNgrams" >> beam.Map(_write_stats, cfg.output_dir, NGRAM_FILE)
        )
    else:
        ngrams = p | "NoNgrams" >> beam.Create([{"file": "", "features": 0}])

    # Encode, shard, write.
    expected = p | "ShardSplits" >> beam.Create(list(SPLITS)) | "ExpectedShards" >> beam.FlatMap(
        _expected_shards, shard_plan)
    keyed = rows | "KeyByShard" >> beam.Map(_key_by_shard, shard_plan)
    shards = (
        (keyed, expected)
        | "WithEmptyShards" >> beam.Flatten()
        | "GroupByShard" >> beam.GroupByKey()
        | "EncodeWriteShards" >> beam.ParDo(EncodeWriteShard(cfg),
                                            beam.pvalue.AsSingleton(vocab), shard_plan)
    )

    # Dead letter.
    rejected_file = (
        rejected
        | "RejectedRecord" >> beam.Map(_rejected_record)
        | "AllRejected" >> beam.combiners.ToList()
        | "WriteRejected" >> beam.Map(_write_rejected, cfg.output_dir)
    )

    return (
        p
        | "ManifestTrigger" >> beam.Create([None])
        | "WriteManifest" >> beam.ParDo(
            WriteManifest(cfg),
            beam.pvalue.AsList(shards),
            beam.pvalue.AsList(class_counts),
            beam.pvalue.AsSingleton(read_count),
            beam.pvalue.AsList(reasons),
            beam.pvalue.AsSingleton(vocab),
            beam.pvalue.AsSingleton(vocab_file),
            beam.pvalue.AsSingleton(rejected_file),
            beam.pvalue.AsSingleton(ngrams),
            beam.pvalue.AsSingleton(augment_stats),
            beam.pvalue.AsSingleton(excluded_count),
        )
    )
