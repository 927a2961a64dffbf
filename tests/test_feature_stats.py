"""Word and n-gram statistics (``vocab.tsv``, ``ngrams.tsv``): hand-computed counts and
document frequencies, top-K cuts, the readers' errors, and the Beam job's bucketed
counting against the plain writer."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from beam_jobs import preprocess
from beam_jobs import preprocess_pipeline as pl
from beam_jobs.preprocess_config import JobConfig
from tfpipe.data import manifest as manifest_lib
from tfpipe.data.datadir import DataDir
from tfpipe.data import records, schema

IN_MEMORY = ["--runner=DirectRunner", "--direct_running_mode=in_memory",
             "--direct_num_workers=1"]

# Train documents (tokens after case folding):  [a b a]  [b c]  [a b]; test: [zzz a].
TRAIN = [("d:1", "A b a", 0), ("d:2", "b C", 1), ("d:3", "a B", 0)]
TEST = [("d:4", "zzz a", 1)]
# a: 3 times in 2 docs; b: 3 in 3; c: 1 in 1;  "a b": 2 in 2; "b a": 1; "b c": 1.
VOCAB_TSV = "a\t3\t2\nb\t3\t3\nc\t1\t1\n"
NGRAMS_TSV = "a\t3\t2\nb\t3\t3\na b\t2\t2\nb a\t1\t1\nb c\t1\t1\nc\t1\t1\n"


def _read(path: str) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _write(data_dir: str, **kwargs) -> manifest_lib.Manifest:
    kwargs = {"l0": 16, "max_words": 8, "ngram_max": 2, **kwargs}
    return records.write_dataset(data_dir, {"train": TRAIN, "test": TEST}, ["x", "y"], **kwargs)


def test_hand_computed_counts_and_document_frequencies(tmp_path):
    m = _write(str(tmp_path))
    assert _read(tmp_path / "vocab.tsv") == VOCAB_TSV  # the test split is not counted
    assert _read(tmp_path / "ngrams.tsv") == NGRAMS_TSV
    assert (m.vocab_file, m.vocab_words) == ("vocab.tsv", 3)
    assert (m.ngram_file, m.ngram_max, m.ngram_features) == ("ngrams.tsv", 2, 6)
    assert m.dataset == os.path.basename(str(tmp_path))
    assert DataDir(str(tmp_path), m).vocab() == ["a", "b", "c"]

    keys, counts, df = DataDir(str(tmp_path), m).feature_stats("ngrams")
    assert keys == ["a", "b", "a b", "b a", "b c", "c"]
    assert counts.dtype == np.int64 and df.dtype == np.int64
    assert counts.tolist() == [3, 3, 2, 1, 1, 1] and df.tolist() == [2, 3, 2, 1, 1, 1]
    keys, counts, df = DataDir(str(tmp_path), m).feature_stats("words")
    assert (keys, counts.tolist(), df.tolist()) == (["a", "b", "c"], [3, 3, 1], [2, 3, 1])
    assert m.splits["train"].count == 3  # TF-IDF's N


def test_top_k_cuts_inside_ties_by_key(tmp_path):
    m = _write(str(tmp_path), vocab_size=1, ngram_vocab_size=4)
    assert _read(tmp_path / "vocab.tsv") == "a\t3\t2\n"  # a and b tie at 3: by key
    assert _read(tmp_path / "ngrams.tsv") == "a\t3\t2\nb\t3\t3\na b\t2\t2\nb a\t1\t1\n"
    assert (m.vocab_words, m.ngram_features) == (1, 4)


def test_min_count_filters_words_not_ngrams(tmp_path):
    _write(str(tmp_path), min_count=2)
    assert _read(tmp_path / "vocab.tsv") == "a\t3\t2\nb\t3\t3\n"
    assert _read(tmp_path / "ngrams.tsv") == NGRAMS_TSV


def test_no_ngram_file_and_its_error(tmp_path):
    m = _write(str(tmp_path), ngram_vocab_size=0)
    assert not os.path.exists(tmp_path / "ngrams.tsv")
    assert (m.ngram_file, m.ngram_max, m.ngram_features) == ("", 0, 0)
    assert _read(tmp_path / "vocab.tsv") == VOCAB_TSV
    with pytest.raises(FileNotFoundError, match="--ngram_vocab_size"):
        DataDir(str(tmp_path), m).feature_stats("ngrams")


def test_reader_errors_name_file_line_and_flag(tmp_path):
    m = _write(str(tmp_path))
    with pytest.raises(ValueError, match=r"valid kinds: \['words', 'ngrams'\]"):
        DataDir(str(tmp_path), m).feature_stats("chars")
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("a\t3\t2\nb\tthree\t3\nc\t1\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.tsv:2: .*not an integer"):
        DataDir(str(tmp_path), m).feature_stats("words")
    vocab.write_text("a\t3\nb\t3\nc\t1\n", encoding="utf-8")  # an older job's vocab.tsv
    with pytest.raises(ValueError, match=r"vocab.tsv:1: .*2 field\(s\).*older"):
        DataDir(str(tmp_path), m).feature_stats("words")
    assert DataDir(str(tmp_path), m).vocab() == ["a", "b", "c"]  # still readable
    vocab.write_text("a\t3\t4\nb\t3\t3\nc\t1\t1\n", encoding="utf-8")  # df > count
    with pytest.raises(ValueError, match=r"vocab.tsv:1: .*1 <= df <= count"):
        DataDir(str(tmp_path), m).feature_stats("words")
    vocab.write_text("a\t3\t2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1 entries but the manifest says 3"):
        DataDir(str(tmp_path), m).feature_stats("words")
    os.remove(tmp_path / "ngrams.tsv")
    with pytest.raises(FileNotFoundError, match=r"ngrams.tsv .*missing.*--ngram_vocab_size"):
        DataDir(str(tmp_path), m).feature_stats("ngrams")


def test_control_character_tokens_keep_their_lines(tmp_path):
    # "\x1c" is a token of its own; str.splitlines() would split a line at it.
    rows = [("u:1", "x\x1cy x", 0)]
    m = records.write_dataset(str(tmp_path), {"train": rows}, ["k"], l0=8, ngram_max=1)
    assert DataDir(str(tmp_path), m).vocab() == ["x", "\x1c", "y"]
    keys, counts, _ = DataDir(str(tmp_path), m).feature_stats("ngrams")
    assert keys == ["x", "\x1c", "y"] and counts.tolist() == [2, 1, 1]


def test_old_manifest_without_the_new_fields_loads(tmp_path):
    m = _write(str(tmp_path))
    raw = json.loads(_read(tmp_path / manifest_lib.MANIFEST_FILE))
    for key in ("dataset", "ngram_file", "ngram_max", "ngram_features", "augmentation",
                "romanize"):
        del raw[key]
    raw["counts"].pop("augmented")
    (tmp_path / manifest_lib.MANIFEST_FILE).write_text(json.dumps(raw), encoding="utf-8")
    old = manifest_lib.load(str(tmp_path))
    assert (old.dataset, old.ngram_file, old.ngram_max, old.ngram_features) == ("", "", 0, 0)
    assert (old.augmentation, old.romanize) == ({}, "")
    assert old.splits == m.splits


# --------------------------------------------------------------------------- Beam counting


def _stats_by_beam_pieces(batches, k_words, k_grams, n_max, min_count=1):
    """The Beam job's statistics path run by hand: one counter per 'bundle', bucket
    tables, MergeStats (partial accumulators merged and compacted), TopK over the
    per-bucket totals (two partial accumulators)."""
    merge = pl.MergeStats()
    accs: dict[int, list] = {}
    for batch in batches:  # one bundle per batch
        counter = records.FeatureCounter(n_max)
        counter.update(batch)
        for bucket, table in pl._bucket_tables(counter):
            accs.setdefault(bucket, []).append(merge.add_input(merge.create_accumulator(), table))
    totals = [(bucket, merge.extract_output(merge.compact(merge.merge_accumulators(parts))))
              for bucket, parts in sorted(accs.items())]
    results = []
    for top in (pl.TopK(k_words, words_only=True, min_count=min_count), pl.TopK(k_grams)):
        partial = [top.create_accumulator(), top.create_accumulator()]
        for i, element in enumerate(totals):
            partial[i % 2] = top.add_input(partial[i % 2], element)
        results.append(top.extract_output(top.merge_accumulators(partial)))
    return results


def test_bucketed_merge_equals_one_counter():
    texts = [f"word{i % 7} shared, Mot{i % 3} é {'z ' * (i % 4)}end" for i in range(60)]
    batches = [texts[:13], texts[13:40], texts[40:]]
    for k_words, k_grams, min_count in ((50, 1000, 1), (3, 17, 2), (1, 1, 1)):
        (words, n_words), (grams, n_grams) = _stats_by_beam_pieces(
            batches, k_words, k_grams, 3, min_count)
        counter = records.FeatureCounter(3)
        counter.update(texts)
        stats = list(counter.items())
        assert words == records.stats_tsv(records.select_stats(
            stats, k_words, words_only=True, min_count=min_count))
        assert grams == records.stats_tsv(records.select_stats(stats, k_grams))
        assert n_grams == min(k_grams, len(stats))
    # Code point order of keys: "z" (U+007A) before "é" (U+00E9) at equal counts.
    (words, _), _ = _stats_by_beam_pieces([["é z"]], 10, 10, 1)
    assert words.decode("utf-8") == "z\t1\t1\né\t1\t1\n"


def test_top_k_prunes_while_merging():
    top = pl.TopK(3)
    acc = top.create_accumulator()
    for i in range(10):  # more than 2k items: pruned on the way, result unchanged
        table = ([f"k{i}{j}".encode() for j in range(2)], [i, i], [1, 1])
        acc = top.add_input(acc, (i, table))
        assert len(acc) < 2 * 3 + 2
    assert top.extract_output(acc) == (b"k90\t9\t1\nk91\t9\t1\nk80\t8\t1\n", 3)
    words = pl.TopK(2, words_only=True, min_count=2)
    acc = words.add_input(words.create_accumulator(),
                          (0, ([b"a", b"a b", b"c", b"d"], [5, 9, 1, 2], [1, 1, 1, 2])))
    assert words.extract_output(acc) == (b"a\t5\t1\nd\t2\t2\n", 2)


def _csv(path, lines):
    path.write_text("".join(f'"{label}","{text}"\n' for label, text in lines), encoding="utf-8")
    return str(path)


def test_beam_statistics_equal_the_plain_writer(tmp_path, monkeypatch):
    # Bundles emit their partial tables every 40 distinct grams: many partial tables
    # per bucket, merged by MergeStats, must give the plain writer's bytes.
    monkeypatch.setattr(pl, "FLUSH_DISTINCT", 40)
    rows = [(1 + i % 2, f"Alpha beta {i % 5} gamma, delta{'!' * (i % 3)} été {i % 4}")
            for i in range(40)]
    path = _csv(tmp_path / "s.csv", rows)
    out = str(tmp_path / "beam")
    flags = ["--l0", "32", "--max_words", "6", "--vocab_size", "7", "--ngram_max", "3",
             "--ngram_vocab_size", "25", "--num_shards", "1", "--dataset", "s"]
    m = preprocess.run(["--input", path, "--output_dir", out, *flags, *IN_MEMORY])
    assert (m.ngram_file, m.ngram_max, m.ngram_features, m.vocab_words) == (
        "ngrams.tsv", 3, 25, 7)
    assert m.dataset == "s" and m.counts["augmented"] == 0
    texts: dict = {}
    for split in m.splits:
        for rec in tf.data.TFRecordDataset(m.shard_paths(out, split)):
            ex = schema.parse(tf.constant([rec.numpy()]), 32)
            texts.setdefault(split, []).append(
                (ex["id"].numpy()[0].decode(), ex["text"].numpy()[0].decode(),
                 int(ex["label"].numpy()[0])))
    plain = str(tmp_path / "plain")
    records.write_dataset(plain, texts, m.class_names, l0=32, max_words=6, vocab_size=7,
                          ngram_max=3, ngram_vocab_size=25, num_shards=1)
    for name in ("vocab.tsv", "ngrams.tsv", "train-00000-of-00001.tfrecord",
                 "test-00000-of-00001.tfrecord"):
        with open(os.path.join(out, name), "rb") as a, open(os.path.join(plain, name), "rb") as b:
            assert a.read() == b.read(), name
    # And the hand-checkable facts: words of every row occur once per train row.
    keys, counts, df = DataDir(out, m).feature_stats("ngrams")
    n = m.splits["train"].count
    assert n == 32
    stats = {k: (c, d) for k, c, d in zip(keys, counts.tolist(), df.tolist())}
    assert stats["alpha"] == stats["alpha beta"] == stats[", delta"] == (n, n)
    assert keys[:4] == [",", ", delta", "alpha", "alpha beta"]  # ties at 32 by code point
