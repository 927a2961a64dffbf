"""DataDir (a data directory with its manifest), the manifest's record kind, and the one
manifest builder of records.write_dataset and the Beam job."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import TOY_CLASSES, toy_rows
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import features, pipeline, records, schema, skipgram_pairs
from tfpipe.data.datadir import DataDir


def test_open_reads_the_manifest_and_answers_for_the_directory(tiny_data_dir):
    data = DataDir.open(tiny_data_dir)
    m = manifest_lib.load(tiny_data_dir)
    assert data.path == tiny_data_dir and data.manifest == m
    assert data.kind == schema.KIND_TEXT == m.kind
    assert data.splits == ["test", "train"]
    assert data.shard_paths("train") == m.shard_paths(tiny_data_dir, "train")
    assert data.count("train") == m.splits["train"].count == 120
    assert data.class_counts("train") == m.splits["train"].class_counts == [40, 40, 40]
    with open(os.path.join(tiny_data_dir, m.vocab_file), encoding="utf-8") as f:
        assert data.vocab() == [line.split("\t")[0] for line in f.read().split("\n") if line]
    keys, counts, df = data.feature_stats("words")
    assert keys == data.vocab() and len(counts) == len(df) == m.vocab_words
    assert data.file(m.vocab_file) == os.path.join(tiny_data_dir, "vocab.tsv")
    for bad in (data.shard_paths, data.count, data.class_counts):
        with pytest.raises(ValueError, match=r"split 'validation' not in .*valid splits: \['test', 'train'\]"):
            bad("validation")


def test_name_is_the_manifest_dataset_else_the_directory_name(tmp_path):
    m = records.write_dataset(str(tmp_path / "ag_news_small"), {"train": toy_rows(2)}, TOY_CLASSES,
                              l0=16, dataset="ag_news")
    assert DataDir(str(tmp_path / "ag_news_small"), m).name == "ag_news"
    m.dataset = ""  # an older manifest without a name
    assert DataDir(str(tmp_path / "ag_news_small") + "/", m).name == "ag_news_small"


def test_of_accepts_a_datadir_or_a_path(tiny_data_dir):
    data = DataDir.open(tiny_data_dir)
    assert DataDir.of(data) is data
    assert DataDir.of(tiny_data_dir) == data
    with pytest.raises(TypeError, match="a DataDir or a path"):
        DataDir.of(data.manifest)


def test_readers_take_a_datadir_or_a_path_not_a_path_and_manifest(tiny_data_dir):
    data = DataDir.open(tiny_data_dir)
    holdout = pipeline.Holdout(0.25, True)
    assert pipeline.holdout_count(data, "train", holdout) == pipeline.holdout_count(tiny_data_dir, "train", holdout)
    pipeline.check_shards(data, "train", "sha256")
    pipeline.check_shards(tiny_data_dir, "train", verify="sha256")
    a = [y.numpy().tolist() for _, y in pipeline.make_dataset(data, "test", batch_size=7)]
    b = [y.numpy().tolist() for _, y in pipeline.make_dataset(tiny_data_dir, "test", batch_size=7)]
    assert a == b and sum(len(y) for y in a) == data.count("test")
    # The (data_dir, manifest) pair of before DataDir is no longer a calling form.
    with pytest.raises(TypeError):
        pipeline.holdout_count(tiny_data_dir, data.manifest, "train", holdout)
    with pytest.raises(TypeError):
        pipeline.make_dataset(tiny_data_dir, "test", manifest=data.manifest)
    with pytest.raises(TypeError, match="a DataDir or a path"):
        features.make("chars", data.manifest)
    with pytest.raises(TypeError):
        skipgram_pairs.read_counts(tiny_data_dir, data.manifest)


def test_a_manifest_without_a_kind_reads_as_text(tiny_data_dir, tmp_path):
    raw = json.load(open(os.path.join(tiny_data_dir, manifest_lib.MANIFEST_FILE)))
    assert raw["kind"] == "text" and raw["schema_version"] == schema.SCHEMA_VERSION == 1
    del raw["kind"]  # written before record kinds existed
    (tmp_path / manifest_lib.MANIFEST_FILE).write_text(json.dumps(raw))
    old = manifest_lib.load(str(tmp_path))
    assert old.kind == schema.KIND_TEXT
    assert old == manifest_lib.load(tiny_data_dir)


def test_an_unknown_kind_is_refused_and_make_dataset_reads_text_only(tiny_data_dir, tmp_path):
    raw = json.load(open(os.path.join(tiny_data_dir, manifest_lib.MANIFEST_FILE)))
    raw["kind"] = "video"
    (tmp_path / manifest_lib.MANIFEST_FILE).write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"records of kind 'video'.*\['text', 'image'"):
        DataDir.open(str(tmp_path))
    copy = str(tmp_path / "images")
    shutil.copytree(tiny_data_dir, copy)
    data = DataDir.open(copy)
    data.manifest.kind = schema.KIND_IMAGE
    with pytest.raises(ValueError, match="holds 'image' records; make_dataset reads the 'text' kind"):
        pipeline.make_dataset(data, "train")


def _build(**overrides):
    shard = manifest_lib.Shard(file="train-00000-of-00001.tfrecord", records=5, sha256="0" * 64, bytes=9)
    kwargs = dict(
        alphabet="paper", l0=16, max_words=8, class_names=["a", "b"],
        shards={"train": [shard], "test": []}, class_counts={"train": [3, 2], "test": [0, 0]},
        compression="", vocab_file="vocab.tsv", vocab_words=4, ngram_file="", ngram_max=5,
        ngram_features=0, read=6, rejected_by_reason={"z": 1, "b": 1}, augmented=1,
        augmentation={"copies": 1}, rejected_file="rejected.jsonl", source={"job": "test"},
        dataset="toy", romanize="",
    )
    kwargs.update(overrides)
    return records.build_manifest(**kwargs)


def test_build_manifest_fills_the_counts_and_checks_the_row_accounting():
    m = _build()
    assert m.kind == "text" and m.alphabet == "paper" and len(m.alphabet_chars) > 60
    assert m.counts == {"read": 6, "written": 4, "rejected": 2,
                        "rejected_by_reason": {"b": 1, "z": 1}, "augmented": 1}
    assert list(m.counts["rejected_by_reason"]) == ["b", "z"]  # sorted
    assert m.splits["train"].count == 5 and m.splits["test"].count == 0
    assert m.ngram_max == 0  # no ngram file
    assert _build(ngram_file="ngrams.tsv", ngram_features=3).ngram_max == 5
    with pytest.raises(RuntimeError, match="row accounting failed: read=7, written=4, rejected=2"):
        _build(read=7)
    with pytest.raises(RuntimeError, match="row accounting failed"):
        _build(class_counts={"train": [3, 3], "test": [0, 0]})


def test_write_dataset_manifest_is_the_builders(tmp_path):
    m = records.write_dataset(str(tmp_path), {"train": toy_rows(3), "test": toy_rows(1)}, TOY_CLASSES,
                              l0=16, ngram_vocab_size=0)
    assert m.kind == "text" and m.counts["read"] == m.counts["written"] == 12
    assert json.load(open(tmp_path / manifest_lib.MANIFEST_FILE))["kind"] == "text"
    assert DataDir.open(str(tmp_path)).manifest == m
