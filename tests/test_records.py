"""Shard writing, the schema round trip and the manifest contract."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import TOY_CLASSES, toy_rows
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import pipeline, records, schema
from tfpipe.data.datadir import DataDir
from tfpipe.text import alphabet, quantize


def _read_split(data: DataDir, split: str) -> dict:
    ds = tf.data.TFRecordDataset(data.shard_paths(split), compression_type=data.manifest.compression)
    batch = next(iter(ds.batch(10_000)))
    return schema.parse(batch, data.manifest.l0)


@pytest.mark.parametrize("compression", ["", "GZIP"])
def test_write_dataset_round_trip(tmp_path, compression):
    rows = toy_rows(6)
    m = records.write_dataset(
        str(tmp_path), {"train": rows}, TOY_CLASSES, l0=40, max_words=5, num_shards=3,
        compression=compression,
    )
    loaded = manifest_lib.load(str(tmp_path))
    assert loaded == m
    assert loaded.splits["train"].count == 18
    assert loaded.splits["train"].class_counts == [6, 6, 6]
    assert sum(s.records for s in loaded.splits["train"].shards) == 18
    for shard in loaded.splits["train"].shards:
        assert shard.sha256 == manifest_lib.file_sha256(os.path.join(tmp_path, shard.file))
    pipeline.check_shards(DataDir(str(tmp_path), loaded), "train", "sha256")

    parsed = _read_split(DataDir(str(tmp_path), loaded), "train")
    by_id = {i.decode(): k for k, i in enumerate(parsed[schema.ID].numpy())}
    assert sorted(by_id) == sorted(r[0] for r in rows)
    for example_id, text, label in rows:
        k = by_id[example_id]
        assert parsed[schema.TEXT][k].numpy().decode() == text
        assert parsed[schema.LABEL][k].numpy() == label
        expected = quantize.quantize_py(text, alphabet.PAPER, 40)
        np.testing.assert_array_equal(parsed[schema.CHARS][k].numpy(), expected)
        assert len(parsed[schema.WORD_IDS][k]) == 5  # 12 words capped at max_words


def test_vocab_order_is_frequency_then_word(tmp_path):
    counts = {"b": 3, "a": 3, "c": 5, "d": 1, "": 9}
    assert records.select_vocab(counts, top_k=3) == [("c", 5), ("a", 3), ("b", 3)]
    assert records.select_vocab(counts, top_k=10, min_count=2) == [("c", 5), ("a", 3), ("b", 3)]


def test_word_ids_follow_vocab_file(tmp_path):
    rows = [("x:0", "b b b a a c", 0), ("x:1", "b zzz", 1)]
    m = records.write_dataset(str(tmp_path), {"train": rows}, ["p", "q"], l0=16, max_words=8)
    vocab = DataDir(str(tmp_path), m).vocab()
    assert vocab == ["b", "a", "c", "zzz"]  # b:4, a:2, then c and zzz once, by word
    parsed = _read_split(DataDir(str(tmp_path), m), "train")
    ids = {i.decode(): w for i, w in zip(parsed[schema.ID].numpy(), parsed[schema.WORD_IDS].to_list())}
    assert ids["x:0"] == [2, 2, 2, 3, 3, 4]
    assert ids["x:1"] == [2, 5]


def test_shard_assignment_is_stable():
    assert records.shard_of("ag:17", 8) == records.shard_of("ag:17", 8)
    spread = {records.shard_of(f"ag:{i}", 8) for i in range(200)}
    assert spread == set(range(8))
    assert records.shard_name("train", 3, 8) == "train-00003-of-00008.tfrecord"
    assert records.shard_name("test", 0, 1, "GZIP") == "test-00000-of-00001.tfrecord.gz"


def test_missing_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="beam_jobs.preprocess"):
        manifest_lib.load(str(tmp_path))


def test_foreign_schema_version_is_refused(tiny_data_dir, tmp_path):
    raw = json.load(open(os.path.join(tiny_data_dir, manifest_lib.MANIFEST_FILE)))
    raw["schema_version"] = 99
    (tmp_path / manifest_lib.MANIFEST_FILE).write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="schema_version 99"):
        manifest_lib.load(str(tmp_path))


def test_unknown_split_names_valid_ones(tiny_data_dir):
    m = manifest_lib.load(tiny_data_dir)
    with pytest.raises(ValueError, match=r"valid splits: \['test', 'train'\]"):
        m.shard_paths(tiny_data_dir, "validation")



def test_write_dataset_augments_train_rows_only(tmp_path):
    thesaurus = {"big": ["large", "huge"], "win": ["victory"]}
    rows = {"train": [("r:1", "Big win", 0), ("r:2", "no match here", 1)],
            "test": [("r:3", "big win", 0)]}
    m = records.write_dataset(str(tmp_path), rows, ["a", "b"], l0=16, thesaurus=thesaurus,
                              augment_copies=3, seed=7)
    parsed = _read_split(DataDir(str(tmp_path), m), "train")
    got = {i.decode(): t.decode() for i, t in zip(parsed[schema.ID].numpy(),
                                                  parsed[schema.TEXT].numpy())}
    from tfpipe.text import thesaurus as thesaurus_lib

    copies = thesaurus_lib.augment_copies("Big win", thesaurus, seed=7, key="r:1", copies=3)
    assert all(c != "Big win" for c in copies)  # r:1 always changes at least one word
    assert got == {"r:1": "Big win", "r:2": "no match here",
                   **{f"r:1#th{k}": c for k, c in enumerate(copies, start=1)}}
    assert m.splits["test"].count == 1 and m.splits["train"].count == 5
    assert m.splits["train"].class_counts == [4, 1]
    assert m.counts == {"read": 3, "written": 3, "rejected": 0, "rejected_by_reason": {},
                        "augmented": 3}
    assert m.augmentation == {"thesaurus": "(mapping)", "thesaurus_words": 2, "copies": 3,
                              "p": 0.5, "q": 0.5, "seed": 7, "rows_augmented": 1,
                              "copies_written": 3, "copies_skipped_identical": 3}
    with pytest.raises(ValueError, match="needs a thesaurus"):
        records.write_dataset(str(tmp_path), rows, ["a", "b"], l0=16, augment_copies=1)


def test_augment_row_ids_and_skips():
    row = ("src:4", "fast market", 2)
    thesaurus = {"fast": ["quick"], "market": ["exchange"]}
    copies, skipped = records.augment_row(row, thesaurus, copies=2, seed=0)
    assert skipped == 0 and [c[0] for c in copies] == ["src:4#th1", "src:4#th2"]
    assert all(c[2] == 2 and c[1] != "fast market" for c in copies)
    assert records.augment_row(("s:1", "nothing", 0), thesaurus, copies=4, seed=0) == ([], 4)


def test_romanize_rows_strips_and_refuses_empty(monkeypatch):
    from tfpipe.text import romanize

    monkeypatch.setitem(romanize._ROMANIZERS, "pinyin", lambda t: "" if "x" in t else f" {t}! ")
    assert records.romanize_rows([("a:1", "ok", 0)], "pinyin") == [("a:1", "ok!", 0)]
    with pytest.raises(ValueError, match="a:2: the text is empty after romanization"):
        records.romanize_rows([("a:2", "x", 0)], "pinyin")
