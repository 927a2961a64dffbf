"""benchmarks.peers and benchmarks.comparison_models: the parts that run in seconds."""
from __future__ import annotations

import sys

import pytest

from benchmarks import comparison_models as cm
from benchmarks import peers
from tests.conftest import SHARED_DATA, shared_path, toy_rows
from tfpipe import report


def _toy_corpus() -> peers.Corpus:
    train, test = toy_rows(60), toy_rows(20, seed=1)
    return peers.Corpus("toy", ["a", "b", "c"], [t for _, t, _ in train], [y for _, _, y in train],
                        [t for _, t, _ in test], [y for _, _, y in test])


def test_sklearn_peer_reports_each_ngram_range_and_the_best():
    pytest.importorskip("sklearn", reason="the peers are benchmark extras: pip install -e '.[bench]'")
    result = peers.sklearn_tfidf_lr(_toy_corpus(), ((1, 1), (1, 2)))
    assert set(result["variants"]) == {"1-1", "1-2"}
    best = result["variants"][result["best"]]
    assert result["accuracy"] == max(v["accuracy"] for v in result["variants"].values()) == best["accuracy"]
    assert result["error_pct"] == pytest.approx(100 * (1 - result["accuracy"]))
    assert result["accuracy"] > 0.8  # topic words decide the class


def test_fasttext_peer_counts_every_test_text():
    pytest.importorskip("fasttext", reason="the peers are benchmark extras: pip install -e '.[bench]'")
    corpus = _toy_corpus()
    corpus.test_labels[0] = 2  # a class-0 text labelled 2: counted, and wrong
    result = peers.fasttext_supervised(corpus, (1,), epochs=10)
    assert result["best"] == "wordNgrams=1"
    assert result["accuracy"] > 0.7
    right = result["accuracy"] * len(corpus.test_texts)  # a count over all 60 texts
    assert right == pytest.approx(round(right)) and round(right) <= len(corpus.test_texts) - 1


def test_run_on_a_tiny_trec_layout_feeds_the_report(tmp_path):
    pytest.importorskip("sklearn", reason="the peers are benchmark extras: pip install -e '.[bench]'")
    pytest.importorskip("fasttext", reason="the peers are benchmark extras: pip install -e '.[bench]'")
    (tmp_path / "trec").mkdir()
    questions = {"HUM": "who was the first person", "LOC": "where is the city located",
                 "NUM": "how many people live there"}
    for name, n in (("train_5500.label", 30), ("TREC_10.label", 5)):
        lines = [f"{label}:x {text} {i}" for label, text in questions.items() for i in range(n)]
        (tmp_path / "trec" / name).write_text("\n".join(lines) + "\n", encoding="latin-1")
    result = peers.run(["trec"], data_root=str(tmp_path), quick=True, log=lambda m: None)
    entry = result["datasets"]["trec"]
    assert (entry["train"], entry["test"], entry["rejected"]) == (90, 15, 0)
    assert set(entry["peers"]) == {peers.SKLEARN, peers.FASTTEXT}
    rows = report.peer_rows(result)
    assert {(r["label"], r["dataset"], r["kind"]) for r in rows} == {
        (peers.SKLEARN, "trec", "peer"), (peers.FASTTEXT, "trec", "peer")}


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid datasets"):
        peers.load_corpus("imdb")


@pytest.mark.parametrize("name,train,test", [("ag_news", 6080, 1520), ("trec", 5452, 500), ("mr", 8530, 2132)])
def test_agreed_split_sizes(name, train, test):
    shared_path(*peers.CORPORA[name]["input"][0].split("/"))
    corpus = peers.load_corpus(name, SHARED_DATA)
    assert (len(corpus.train_texts), len(corpus.test_texts), corpus.rejected) == (train, test, 0)
    if name != "trec":  # stratified: round(0.2 * n) of each class
        for label in range(len(corpus.class_names)):
            n = corpus.train_labels.count(label) + corpus.test_labels.count(label)
            assert corpus.test_labels.count(label) == round(0.2 * n)


@pytest.mark.parametrize("stem,parsed", [
    ("bow_mr", ("bow", "", "mr")),
    ("bow_tfidf_mr", ("bow_tfidf", "", "mr")),
    ("ngrams_tfidf_th_trec", ("ngrams_tfidf", "th", "trec")),
    ("char_cnn_large_full_ag_news", ("char_cnn_large", "full", "ag_news")),
    ("word_cnn_w2v_small_ag_news", ("word_cnn_w2v_small", "", "ag_news")),
    ("char_cnn_small_ag_news_adam", None),
    ("char_cnn_small_default", None),
])
def test_parse_stem(stem, parsed):
    assert cm.parse_stem(stem) == parsed


def test_find_configs(tmp_path):
    for name in ("bow_mr", "bow_tfidf_mr", "char_cnn_small_full_mr", "char_cnn_small_mr", "bow_trec",
                 "char_cnn_small_mr_adam"):
        (tmp_path / f"{name}.yaml").write_text("model: {name: x}\n")
    found = cm.find_configs("mr", cm.MODELS, str(tmp_path))
    assert found == {
        "bow": [str(tmp_path / "bow_mr.yaml")],
        "bow_tfidf": [str(tmp_path / "bow_tfidf_mr.yaml")],
        "char_cnn_small": [str(tmp_path / "char_cnn_small_mr.yaml"), str(tmp_path / "char_cnn_small_full_mr.yaml")],
    }


def test_preprocess_commands():
    root = "/data"
    agn = cm.preprocess_command("ag_news", "artifacts/data/ag_news", data_root=root)
    assert agn[:3] == [sys.executable, "-m", "beam_jobs.preprocess"]
    assert agn[3:] == ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--format", "zhang_csv",
                       "--input", "/data/ag_news/test.csv", "--test_fraction", "0.2", "--seed", "0",
                       "--dataset", "ag_news", "--output_dir", "artifacts/data/ag_news"]
    trec = cm.preprocess_command("trec", "artifacts/data/trec", data_root=root)
    assert trec[trec.index("--input"):] == ["--input", "/data/trec/train_5500.label", "--test_input",
                                            "/data/trec/TREC_10.label", "--dataset", "trec", "--output_dir",
                                            "artifacts/data/trec"]
    mr = cm.preprocess_command("mr", "artifacts/data/mr_full", data_root=root)
    assert mr[mr.index("--format"):] == [
        "--format", "line_per_class", "--input", "/data/mr/rt-polarity.pos", "/data/mr/rt-polarity.neg",
        "--test_fraction", "0.2", "--seed", "0", "--alphabet", "full", "--dataset", "mr",
        "--output_dir", "artifacts/data/mr_full"]
    assert cm.preprocess_command("mr", "artifacts/data/mr_unknownvariant", data_root=root) is None
    assert cm.preprocess_command("mr", "artifacts/data/trec", data_root=root) is None


def test_checks():
    entry = {
        "models": {"ngrams_tfidf_mr": {"accuracy": 0.780}, "char_cnn_small_mr": {"accuracy": 0.70},
                   "bow_mr": {"status": "failed"}},
        "peers": {peers.SKLEARN: {"accuracy": 0.785}, peers.FASTTEXT: {"accuracy": 0.790}},
    }
    got = cm.checks("mr", entry)
    assert got[cm.SKLEARN_CHECK] is True and got["ngrams_tfidf_minus_sklearn_pts"] == -0.5
    assert got[cm.BEST_CHECK] is False
    assert got["best_model"] == {"run": "ngrams_tfidf_mr", "accuracy": 0.780}
    assert got["best_peer"] == {"peer": peers.FASTTEXT, "accuracy": 0.790}
    entry["models"]["ngrams_tfidf_mr"]["accuracy"] = 0.791
    got = cm.checks("mr", entry)
    assert got[cm.SKLEARN_CHECK] is False and got[cm.BEST_CHECK] is True
    assert cm.checks("mr", {"models": {}, "peers": {}}) == {cm.SKLEARN_CHECK: None, cm.BEST_CHECK: None}
