"""Bag-of-features inputs (tfpipe.text.bag, tfpipe.data.features.Bag) against hand-computed values."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tfpipe.data import features
from tfpipe.data.datadir import DataDir
from tfpipe.text import bag


def _rows(out):
    """{feature id: value} per row, padding dropped."""
    ids, values = out["feature_ids"].numpy(), out["feature_values"].numpy()
    return [{int(i): float(v) for i, v in zip(r_ids, r_vals) if i} for r_ids, r_vals in zip(ids, values)]


# Table: a -> 1, b -> 2, c -> 3 ("d" is not a feature).  Training subset: N = 4 documents
# with df(a) = 1, df(b) = 2, df(c) = 4, so idf = log 4, log 2, log 1 = 0.
KEYS = ["a", "b", "c"]
DF = np.array([1, 2, 4])
TEXTS = ["a b a", "B c", "d", ""]


def test_idf_is_log_of_documents_over_document_frequency():
    np.testing.assert_allclose(bag.idf(DF, 4), [math.log(4), math.log(2), 0.0])
    with pytest.raises(ValueError, match=r"document frequencies must be in 1..4"):
        bag.idf(np.array([0, 2]), 4)
    with pytest.raises(ValueError, match=r"document frequencies must be in 1..4"):
        bag.idf(np.array([5]), 4)


def test_counts_divided_by_the_largest_count():
    featurizer = features.Bag("bow", KEYS, np.arange(1, 4), 3)
    rows = _rows(featurizer(tf.constant(TEXTS)))
    # "a b a": a twice, b once -> 2/2, 1/2; "B c" (case-folded) -> 1, 1; no feature -> empty.
    assert rows == [{1: 1.0, 2: 0.5}, {2: 1.0, 3: 1.0}, {}, {}]


def test_tfidf_hand_computed():
    weights = np.concatenate([[0.0], bag.idf(DF, 4)])
    featurizer = features.Bag("bow_tfidf", KEYS, np.arange(1, 4), 3, weights=weights)
    out = featurizer(tf.constant(TEXTS))
    rows = _rows(out)
    # doc 1: a = 2 log 4, b = 1 log 2; the max is 2 log 4 = 4 log 2 -> a = 1, b = 1/4.
    assert rows[0] == pytest.approx({1: 1.0, 2: 0.25})
    # doc 2: b = log 2, c = 1 * log 1 = 0 -> b = 1, c = 0 (kept as a zero value).
    assert rows[1] == pytest.approx({2: 1.0, 3: 0.0})
    assert rows[2] == {} and rows[3] == {}
    # Dense shape: K = the most distinct features in a row (2); ids are int32, padding 0/0.0.
    assert out["feature_ids"].dtype == tf.int32 and out["feature_ids"].shape == (4, 2)
    np.testing.assert_array_equal(out["feature_ids"].numpy()[2], [0, 0])
    np.testing.assert_array_equal(out["feature_values"].numpy()[2], [0.0, 0.0])


def test_ids_are_sorted_and_distinct_per_row_and_many_keys_may_share_an_id():
    # bag-of-means: several words map to one cluster id; their counts add up.
    featurizer = features.Bag("bag_of_means", ["cat", "dog", "car"], np.array([1, 1, 2]), 2)
    rows = _rows(featurizer(tf.constant(["car dog cat cat", "dog"])))
    assert rows == [pytest.approx({1: 1.0, 2: 1 / 3}), {1: 1.0}]
    ids = featurizer(tf.constant(["car dog cat cat"]))["feature_ids"].numpy()[0]
    assert list(ids) == [1, 2]


def test_an_all_zero_row_stays_zero():
    values = tf.ragged.constant([[0.0, 0.0], [2.0, 1.0]])
    np.testing.assert_allclose(bag.normalize_max(values).to_list(), [[0.0, 0.0], [1.0, 0.5]])


def test_empty_batch_and_empty_table():
    featurizer = features.Bag("bow", KEYS, np.arange(1, 4), 3)
    out = featurizer(tf.constant([], tf.string))
    assert out["feature_ids"].shape[0] == 0
    with pytest.raises(ValueError, match="feature table is empty"):
        features.Bag("bow", [], np.array([], np.int64), 0)


def test_unknown_feature_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"valid features: chars, word_ids, bow"):
        features.make("bytes", "/nonexistent")


@pytest.mark.parametrize("feature", ["bow_tfidf", "ngrams"])
def test_features_computed_in_the_pipeline_match_the_featurizer(tiny_data_dir, feature):
    """Featurized once per record before the cache (ragged through shuffling and batching),
    the batches equal the featurizer applied to the same texts."""
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.data import pipeline

    m = manifest_lib.load(tiny_data_dir)
    featurizer = features.make(feature, DataDir(tiny_data_dir, m))
    assert featurizer.num_features == (m.vocab_words if feature == "bow_tfidf" else m.ngram_features)
    common = dict(batch_size=7, training=True, seed=3, shuffle_buffer=16, cache=True)
    texts = pipeline.make_dataset(tiny_data_dir, "train", feature="text", **common)
    bags = pipeline.make_dataset(tiny_data_dir, "train", feature="text", transform=featurizer.sparse,
                                 finalize=featurizer.densify, **common)
    # The featurizer's sparse bags of every train text in one call (a bag depends on its own
    # text only; one eager call instead of one per batch), padded per batch by its densify.
    texts = list(texts)
    all_texts = sorted({t for text, _ in texts for t in text.numpy()})
    row = {t: i for i, t in enumerate(all_texts)}
    sparse = featurizer.sparse(tf.constant(all_texts))
    n = 0
    for (text, y1), (x, y2) in zip(texts, bags, strict=True):
        np.testing.assert_array_equal(y1, y2)
        rows = [row[t] for t in text.numpy()]
        expected = featurizer.densify({k: tf.gather(v, rows) for k, v in sparse.items()})
        for key in ("feature_ids", "feature_values"):
            np.testing.assert_allclose(x[key].numpy(), expected[key].numpy(), rtol=1e-6)
        n += int(tf.shape(y1)[0])
    assert n == m.splits["train"].count


def test_weighting_options_beyond_the_paper():
    # scikit-learn's smooth idf: log((1 + N) / (1 + df)) + 1.
    np.testing.assert_allclose(bag.idf(DF, 4, "smooth"), np.log(5 / (1 + DF)) + 1)
    with pytest.raises(ValueError, match=r"valid choices: paper, smooth"):
        bag.idf(DF, 4, "bm25")
    # "a b a": counts 2, 1; sublinear 1 + log 2, 1; L2-normalised.
    featurizer = features.Bag("bow", KEYS, np.arange(1, 4), 3, normalize="l2", sublinear_tf=True)
    rows = _rows(featurizer(tf.constant(["a b a"])))
    a, b = 1 + math.log(2), 1.0
    norm = math.hypot(a, b)
    assert rows[0] == pytest.approx({1: a / norm, 2: b / norm})
    raw = _rows(features.Bag("bow", KEYS, np.arange(1, 4), 3, normalize="none")(tf.constant(["a b a"])))
    assert raw[0] == {1: 2.0, 2: 1.0}
    with pytest.raises(ValueError, match=r"valid choices: max, l2, none"):
        features.Bag("bow", KEYS, np.arange(1, 4), 3, normalize="l1")


def test_ngram_max_narrows_the_table(tiny_data_dir):
    from tfpipe.data import manifest as manifest_lib

    m = manifest_lib.load(tiny_data_dir)
    grams, _, _ = DataDir(tiny_data_dir, m).feature_stats("ngrams")
    two = features.make("ngrams", DataDir(tiny_data_dir, m), model_config={"ngram_max": 2})
    assert two.num_features == sum(1 for g in grams if g.count(" ") <= 1) < len(grams)
    with pytest.raises(ValueError, match=r"counted 1..5-grams"):
        features.make("ngrams", DataDir(tiny_data_dir, m), model_config={"ngram_max": 6})


def test_bag_of_means_clusters_word_vectors_and_caches_the_clustering(tiny_data_dir, tmp_path, monkeypatch):
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.embeddings import kmeans, word2vec_format

    m = manifest_lib.load(tiny_data_dir)
    # Two well separated groups: sports words near (10, 0), business words near (0, 10).
    sports, business = ["match", "goal", "team"], ["market", "stock", "bank"]
    words = sports + business + ["unseen"]
    vectors = np.array([[10, 0.1], [10, 0.2], [10, 0.3], [0.1, 10], [0.2, 10], [0.3, 10], [5, 5]], np.float32)
    path = str(tmp_path / "vectors.txt")
    word2vec_format.save(path, words, vectors, binary=False)
    config = {"embeddings": path, "means": 2, "min_count": 0}
    run = str(tmp_path / "run")
    bom = features.make("bag_of_means", DataDir(tiny_data_dir, m), model_config=config, cache_dir=run)
    assert bom.num_features == 2
    x = bom(tf.constant(["match goal market", "bank stock stock"]))
    rows = _rows(x)
    # Row 1: two sports words, one business word -> clusters {a: 2, b: 1} -> 1 and 0.5.
    assert sorted(rows[0].values()) == [0.5, 1.0]
    assert len(rows[1]) == 1 and list(rows[1].values()) == [1.0]
    assert set(rows[0]) == {1, 2} and set(rows[1]) <= {1, 2}
    assert os.path.exists(os.path.join(run, features.CLUSTERS_FILE))
    # Evaluation and export reuse the cached clustering (k-means is not run again).
    monkeypatch.setattr(kmeans, "kmeans", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-ran")))
    again = features.make("bag_of_means", DataDir(tiny_data_dir, m), model_config=config, cache_dir=run)
    np.testing.assert_array_equal(again(tf.constant(["match goal market"]))["feature_ids"], x["feature_ids"][:1])
