"""The phrase_context task's parts against hand computations: config checks, the phrase ranking
metric, zero-shot label vectors, held-out pair retrieval, the sampled-softmax training layer."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks import phrase_context
from tfpipe.tasks.phrase_context import evaluation, keys


def _cfg(model: dict, data: dict | None = None) -> config_lib.Config:
    return config_lib.from_dict({"task": "phrase_context", "data": {"dir": "x", **(data or {})}, "model": model})


def test_unknown_key_names_the_valid_ones():
    cfg = _cfg({"name": "multimodal", "inputs": ["visual"], "softmax_size": 10})
    with pytest.raises(config_lib.ConfigError, match="softmax_size.*valid keys: name, .*train_fraction"):
        tasks.resolve(cfg)


def test_inputs_and_context_choices():
    with pytest.raises(config_lib.ConfigError, match="among visual, context"):
        tasks.resolve(_cfg({"name": "multimodal", "inputs": ["pixels"], "tensorboard_images": 0}))
    with pytest.raises(config_lib.ConfigError, match="valid: prototypes, softmax"):
        tasks.resolve(_cfg({"name": "multimodal", "inputs": ["visual"], "context": "words", "tensorboard_images": 0}))
    with pytest.raises(config_lib.ConfigError, match="model.generator is required"):
        tasks.resolve(_cfg({"name": "multimodal"}))
    cfg = _cfg({"name": "multimodal", "inputs": ["context", "visual"], "generator": "g", "encoder": "e"})
    tasks.resolve(cfg)
    assert keys.model_inputs(cfg) == ("visual", "context")  # one order, whatever the config's
    visual = _cfg({"name": "multimodal", "inputs": ["visual"], "tensorboard_images": 0})
    tasks.resolve(visual)  # the visual-only baseline needs no phrase runs
    assert keys.model_key(visual, "dropout") == 0.5 and keys.model_key(visual, "train_fraction") == 1.0


def test_generator_and_encoder_need_a_holdout_and_defaults_per_model():
    cfg = _cfg({"name": "phrase_generator", "features": {"a": "dir"}})
    with pytest.raises(config_lib.ConfigError, match="data.validation_fraction"):
        tasks.resolve(cfg)
    cfg = _cfg({"name": "phrase_generator", "features": {"a": "dir"}}, {"validation_fraction": 0.1})
    tasks.resolve(cfg)
    assert keys.model_key(cfg, "dim") == 64 and keys.model_key(cfg, "scale") == 1.0
    enc = _cfg({"name": "phrase_encoder"}, {"validation_fraction": 0.1})
    tasks.resolve(enc)
    assert keys.model_key(enc, "dim") == 200
    with pytest.raises(config_lib.ConfigError, match="model.features must map"):
        tasks.resolve(_cfg({"name": "phrase_generator"}, {"validation_fraction": 0.1}))
    with pytest.raises(config_lib.ConfigError, match="sampler.*valid: log_uniform, uniform"):
        tasks.resolve(_cfg({"name": "phrase_generator", "features": {"a": "d"}, "sampler": "zipf"},
                           {"validation_fraction": 0.1}))


def test_phrase_ranking_by_hand():
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.7], [0.3, 0.2, 0.1]], np.float32)
    truth = [np.array([2]), np.array([0, 2]), np.array([5])]   # image 3's phrase is outside the 3 scored
    r = phrase_context.phrase_ranking(scores, truth, k=10)
    # image 1: ranking 0, 2, 1 -> first phrase wrong; AP@3 = (1/2) / 1 = 0.5
    # image 2: ranking 1, 2, 0 -> first wrong; hits at ranks 2 and 3: (1/2 + 2/3) / 2
    assert r["images"] == 2
    assert r["precision_at_1"] == pytest.approx(0.0)
    assert r["precision_at_10"] == pytest.approx((1 / 3 + 2 / 3) / 2)   # k capped at the 3 phrases
    assert r["ap_at_10"] == pytest.approx((0.5 + (0.5 + 2 / 3) / 2) / 2)


def test_term_vectors_exact_composed_missing():
    vocab = ["red", "rose", "red rose", "lily"]
    vecs = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], np.float32)
    out, counts = evaluation.term_vectors(["red rose", "white lily", "orchid", "rose red"], vocab, vecs)
    np.testing.assert_allclose(out[0], [1, 1])                 # the phrase itself
    np.testing.assert_allclose(out[1], [-1, 0])                # "lily" only
    assert out[2] is None
    np.testing.assert_allclose(out[3], [0.5, 0.5])             # "rose" and "red"; "rose red" is not a phrase
    assert counts == {"exact": 1, "composed": 2, "missing": 1}


def test_zero_shot_scores_take_the_nearest_term():
    vocab = ["cat", "dog", "puppy"]
    vecs = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    x = np.array([[2, 0], [1, 1.2]], np.float32)
    scores, cov = evaluation.zero_shot_scores(x, [["cat"], ["dog", "puppy"], ["emu"]], vocab, vecs)
    c = 1 / math.sqrt(2)
    np.testing.assert_allclose(scores[0, :2], [1.0, c], atol=1e-6)        # puppy nearer than dog
    u = np.array([1, 1.2]) / np.linalg.norm([1, 1.2])
    np.testing.assert_allclose(scores[1, :2], [u[0], max(u[1], (u[0] + u[1]) * c)], atol=1e-6)
    assert np.isneginf(scores[:, 2]).all() and cov["classes_without_vector"] == 1 and cov["uncovered"] == [2]


class _Tower:
    """A stand-in tower: fixed embeddings by phrase."""

    def __init__(self, table):
        self.table = table

    def __call__(self, phrases, training=False):
        return np.stack([self.table[p.decode() if isinstance(p, bytes) else p] for p in phrases.numpy()])


def test_pair_retrieval_by_hand():
    phrases = ["a", "b", "c", "d"]
    tower = _Tower({"a": [1.0, 0.0], "b": [0.9, 0.1], "c": [0.0, 1.0], "d": [0.1, 0.9]})
    r = evaluation.pair_retrieval(tower, phrases, np.array([0, 0]), np.array([1, 2]))
    # a -> b: b is a's nearest other phrase (rank 1); a -> c: b, d come first (rank 3);
    # b -> a: rank 1; c -> a: d, b come first (rank 3)
    assert r["pairs"] == 2 and r["r1"] == pytest.approx(0.5) and r["median_rank"] == pytest.approx(2.0)
    assert r["r10"] == 1.0 and r["chance_r10"] == 1.0


def test_sampled_softmax_layer_matches_the_loss_and_trains_the_table():
    import keras
    import tensorflow as tf

    from tfpipe import losses
    from tfpipe.layers import CosineSoftmax

    table = CosineSoftmax(6, scale=2.0, name="cosine_softmax")
    table.build((None, 3))
    layer = losses.SampledCosineSoftmaxLoss(table, scale=2.0, num_sampled=3, distribution="log_uniform", seed=7)
    x = tf.constant([[1.0, 0.5, -0.2], [0.0, 1.0, 1.0]])
    y = tf.constant([0, 4], tf.int64)
    got = layer([x, y])
    twin = keras.random.SeedGenerator(7)   # the same draws as the layer's first call
    ids = losses.sample_candidates(3, 6, "log_uniform", twin.next(), unique=True)
    want = losses.sampled_cosine_softmax_loss(
        x, y, table.kernel, ids, 2.0, True, true_log_q=losses.candidate_log_probs(y, 6, "log_uniform"),
        sampled_log_q=losses.candidate_log_probs(ids, 6, "log_uniform"))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    assert any(w is table.kernel for w in layer.trainable_weights)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(layer([x, y]))
    grad = tape.gradient(loss, table.kernel)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0


def test_epoch_batches_gather_dicts_by_the_same_rows():
    from tfpipe.training import datasets

    x = {"a": np.arange(5), "b": np.arange(5) * 10}
    y = np.arange(5) * 100
    seen = []
    for xb, yb in datasets.epoch_batches(x, y, batch_size=2, seed=3, first_epoch=0, epochs=2):
        np.testing.assert_array_equal(xb["b"].numpy(), xb["a"].numpy() * 10)
        np.testing.assert_array_equal(yb.numpy(), xb["a"].numpy() * 100)
        seen.extend(xb["a"].numpy().tolist())
    assert sorted(seen[:5]) == list(range(5)) and sorted(seen[5:]) == list(range(5))


def test_prototypes_job_names_a_missing_run_directory(tmp_path, capsys):
    from beam_jobs import prototypes

    assert prototypes.main(["--model_dir", str(tmp_path / "nope")]) == 2
    assert "is not a run directory (no config.yaml)" in capsys.readouterr().err
