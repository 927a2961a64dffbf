"""``--tfds`` through the real preprocess CLI, offline, on TFDS's own mock data.

``tfds.testing.mock_data`` replaces ``download_and_prepare`` and ``as_dataset``
with random examples of the dataset's features (taken from the builder's code:
TFDS ships no metadata for ag_news_subset, so the AUTO policy falls back to
CODE_ONLY and the split sizes are unknown).  The mock patches this process only,
so the job runs ``--direct_running_mode=in_memory``.

The mock replaces ``download_and_prepare``, so a second test builds a small
dataset for real (a builder defined here, nothing downloaded): without
``importlib_resources`` installed (TFDS 4.9 imports it in ``download_and_prepare``
to find the builder's code path, see setup.py) the job stops at ``tfds_resolve``
with exit status 2, as ``--tfds ag_news_subset`` did, and that test fails.
"""
from __future__ import annotations

import json
import os

import pytest

tfds = pytest.importorskip("tensorflow_datasets")

N = 9  # mock examples per split


def _run(argv):
    from beam_jobs import preprocess

    with tfds.testing.mock_data(num_examples=N):
        return preprocess.main(argv)


def test_tfds_ag_news_subset_through_the_cli(tmp_path, capsys):
    out = str(tmp_path / "ag")
    rc = _run(["--tfds", "ag_news_subset", "--output_dir", out, "--l0", "32",
               "--ngram_vocab_size", "0", "--direct_running_mode=in_memory",
               "--direct_num_workers=1"])
    assert rc == 0
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    # Class names come from the TFDS ClassLabel feature, in label order.
    names = tfds.builder("ag_news_subset").info.features["label"].names
    assert names == ["World", "Sports", "Business", "Sci/Tech"]
    assert m["class_names"] == names
    counts = m["counts"]
    assert counts["read"] == 2 * N  # the mock's train and test splits
    assert counts["read"] == counts["written"] + counts["rejected"]
    assert m["splits"]["train"]["count"] + m["splits"]["test"]["count"] == counts["written"]
    assert sum(m["splits"]["train"]["class_counts"]) == m["splits"]["train"]["count"]
    assert m["source"]["format"] == "tfds"
    assert m["source"]["tfds"] == "ag_news_subset"
    assert m["source"]["tfds_splits"] == ["train", "test"]
    assert m["source"]["tfds_text_fields"] == ["title", "description"]
    with open(os.path.join(out, "rejected.jsonl"), encoding="utf-8") as f:
        assert len(f.read().splitlines()) == counts["rejected"]
    assert "Preprocessed data 'ag'" in capsys.readouterr().out


class TfpipeTinyNews(tfds.core.GeneratorBasedBuilder):
    """A TFDS dataset built locally (no download): the real ``download_and_prepare`` and
    ``as_dataset`` run, unlike under ``mock_data``.  Defined in a package module, so TFDS's
    ``code_path`` (used by ``download_and_prepare``) goes through ``importlib_resources``."""

    VERSION = tfds.core.Version("1.0.0")
    SIZES = {"train": 12, "test": 5}
    NAMES = ["neg", "pos", "neutral"]

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "headline": tfds.features.Text(), "body": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=self.NAMES)}))

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split, n) for split, n in self.SIZES.items()}

    def _generate_examples(self, split, n):
        for i in range(n):
            # One empty text per split: rejected (empty_text), counted.
            body = "" if i == 3 else f"body {split} {i}"
            yield i, {"headline": "" if i == 3 else f"headline {i}", "body": body,
                      "label": i % len(self.NAMES)}


def test_tfds_local_builder_download_and_prepare_through_the_cli(tmp_path):
    out = str(tmp_path / "tiny")
    argv = ["--tfds", "tfpipe_tiny_news", "--tfds_data_dir", str(tmp_path / "tfds"),
            "--output_dir", out, "--l0", "32", "--ngram_vocab_size", "0",
            "--direct_running_mode=in_memory", "--direct_num_workers=1"]
    from beam_jobs import preprocess

    assert preprocess.main(argv) == 0
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    assert m["class_names"] == TfpipeTinyNews.NAMES
    assert m["counts"]["read"] == 17
    assert m["counts"]["rejected"] == 2 and m["counts"]["rejected_by_reason"] == {"empty_text": 2}
    assert m["counts"]["written"] == 15
    assert m["splits"]["train"]["count"] == 11 and m["splits"]["test"]["count"] == 4
    assert m["splits"]["train"]["class_counts"] == [3, 4, 4]  # row 3 (class 0) rejected
    assert m["source"]["tfds_text_fields"] == ["headline", "body"]  # every Text feature
    with open(os.path.join(out, "rejected.jsonl"), encoding="utf-8") as f:
        rejected = [json.loads(line) for line in f]
    # TFDS stores a split shuffled by key: rows are positions in the stored split.
    assert sorted((r["source"], r["reason"]) for r in rejected) == [
        ("tfpipe_tiny_news/test", "empty_text"), ("tfpipe_tiny_news/train", "empty_text")]
