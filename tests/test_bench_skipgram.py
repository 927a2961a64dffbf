"""benchmarks.skipgram: the parts that run in seconds (settings, the shared corpus, the gensim side)."""
from __future__ import annotations

import pytest

from benchmarks import skipgram as bench
from tests.conftest import toy_rows


def test_settings_are_read_from_our_config_for_both_trainers():
    settings = bench.settings_of(bench.skipgram_config("ag_news", ["model.dim=50"]))
    assert settings == {
        "loss": "negative_sampling", "dim": 50, "window": 5, "negatives": 5, "noise_power": 0.75,
        "subsample": 1e-3, "min_count": 5, "epochs": 5, "alpha": 0.025, "min_alpha": 0.025 * 1e-4,
        "schedule": "linear", "batch_size_pairs": 4096, "share_negatives": 16,
    }


def test_gensim_reads_the_tokens_our_trainer_reads(tiny_data_dir):
    from tfpipe.text.tokenize import tokenize

    sentences = bench.train_sentences(tiny_data_dir)
    texts = [text for _, text, _ in toy_rows(40)]  # the fixture's train rows, max_words 16
    expected = [[t.decode() for t in tokens[:16]] for tokens in tokenize(texts).to_list()]
    assert sorted(sentences) == sorted(expected)


def test_gensim_side_counts_the_same_words_and_writes_readable_vectors(tmp_path):
    pytest.importorskip("gensim", reason="gensim is a benchmark extra: pip install -e '.[bench]'")
    from tfpipe.embeddings import word2vec_format

    sentences = [["a", "b", "c"]] * 10 + [["rare", "a"]]
    settings = {"loss": "negative_sampling", "dim": 8, "window": 2, "negatives": 2, "noise_power": 0.75,
                "subsample": 0.0, "min_count": 5, "epochs": 2, "alpha": 0.025, "min_alpha": 2.5e-6}
    result = bench.train_gensim(sentences, settings, 1, str(tmp_path / "g" / "vectors.bin"))
    # 'rare' (1 < min_count) is not a word trained: 31 words per epoch, 2 epochs.
    assert (result["words_per_epoch"], result["words_trained"], result["vocabulary_size"]) == (31, 62, 3)
    assert result["words_per_sec"] == pytest.approx(62 / result["training_time_s"])
    words, vectors = word2vec_format.load(result["vectors"])
    assert sorted(words) == ["a", "b", "c"] and vectors.shape == (3, 8)


def test_mean_vectors_average_unit_vectors_by_hand(tmp_path):
    import numpy as np

    from tfpipe.embeddings import word2vec_format

    path = str(tmp_path / "v.bin")
    word2vec_format.save(path, ["a", "b"], np.array([[3, 4], [0, 2]], np.float32), binary=True)
    # unit a = (0.6, 0.8), unit b = (0, 1); unknown words are skipped, an empty text is zeros
    x = bench.mean_vectors([["a", "b", "zz"], [], ["b"], ["zz"]], path)
    np.testing.assert_allclose(x, [[0.3, 0.9], [0, 0], [0, 1], [0, 0]], atol=1e-7)


def test_ours_reports_the_rate_after_the_first_epoch(tmp_path, monkeypatch):
    """``train_ours`` reads the child's results and its per-epoch times: the first epoch (which also
    traces the step) apart, and the words/s of the others, by hand."""
    import json

    run = tmp_path / "run"
    run.mkdir()
    (run / "train_results.json").write_text(json.dumps({
        "words_per_sec": 3000.0, "training_time_s": 4.0, "words_trained": 12000, "words_per_epoch": 3000,
        "vocabulary_size": 10, "final": {"loss": 1.0}}))
    (run / "progress.jsonl").write_text("".join(
        json.dumps({"epoch": e, "train_time_s": t, "examples": 5, "logs": {}}) + "\n"
        for e, t in enumerate([2.5, 0.5, 0.5, 0.5])))
    monkeypatch.setattr(bench.cm, "run_step", lambda cmd, timeout_s: (0, "", 9.0))
    r = bench.train_ours("trec", str(run), [], None)
    assert r["first_epoch_s"] == 2.5
    assert r["words_per_sec_after_first_epoch"] == 3 * 3000 / 1.5
    assert r["words_per_sec"] == 3000.0 and r["wall_s_with_startup"] == 9.0
