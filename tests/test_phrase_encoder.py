"""The phrase tower (predicted-context paper, section 3.3): unigram + bigram bag, masked mean, dual encoder."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpipe import losses
from tfpipe.models import phrase_encoder as pe
from tfpipe.text.phrases import normalize

VOCAB = ["red", "flower", "red flower", "pot"]  # ids 1, 2, 3, 4; 0 = unknown / padding
# Gram embeddings (dim 2); row 0 (unknown / padding) is large so that any leak shows.
E = np.array([[100.0, 100.0], [1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, -2.0]], np.float32)
PHRASES = ["red flower pot", "blue pot", "", "blue", "RED  Flower"]


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _tower() -> keras.Model:
    tower = pe.phrase_tower(vocabulary=VOCAB, dim=2)
    tower.get_layer("gram_embedding").set_weights([E])
    return tower


def test_the_grams_of_a_phrase():
    grams = pe.phrase_grams(["red flower pot", "pot", ""]).to_list()
    assert grams == [[b"red", b"flower", b"pot", b"red flower", b"flower pot"], [b"pot"], []]


def test_gram_vocabulary_counts_and_orders():
    phrases = ["red flower pot", "red flower", "pot"]
    # red 2, flower 2, pot 2, red flower 2, flower pot 1: by count, then in string order.
    assert pe.gram_vocabulary(phrases) == ["flower", "pot", "red", "red flower", "flower pot"]
    assert pe.gram_vocabulary(phrases, min_count=2) == ["flower", "pot", "red", "red flower"]
    assert pe.gram_vocabulary(phrases, min_count=3) == []
    # Batching does not change the counts.
    assert pe.gram_vocabulary(phrases * 3, batch_size=2) == ["flower", "pot", "red", "red flower", "flower pot"]
    assert pe.gram_vocabulary([]) == []


def test_the_grams_of_normalised_phrases_are_their_words_and_word_pairs():
    raw = ["A Dog's  frisbee-catch!", "B-52 bomber", "Café Crème", "sea_anemone", "", "x"]
    normalised = [normalize(p) for p in raw]
    assert normalised == ["a dog s frisbee catch", "b 52 bomber", "café crème", "sea anemone", "", "x"]
    for phrase, grams in zip(normalised, pe.phrase_grams(normalised).to_list()):
        words = phrase.split()
        assert [g.decode() for g in grams] == words + [f"{a} {b}" for a, b in zip(words, words[1:])]


@pytest.mark.parametrize("phrases, min_count, match", [
    (["red"], 0, "min_count must be a positive integer"),
    (["red", 3], 1, "phrase 1 is not a string"),
    (["red", "Red flower", "a  b"], 1, r"2 phrase\(s\) are not normalised, e.g. phrase 1 'Red flower' "
                                       r"\(normalised: 'red flower'\)"),
    ("red flower", 1, "a single string"),
])
def test_gram_vocabulary_errors(phrases, min_count, match):
    with pytest.raises(ValueError, match=match):
        pe.gram_vocabulary(phrases, min_count)


def test_lookups_pad_and_unknown_grams_are_zero():
    ids = _np(pe.PhraseGrams(VOCAB)(tf.constant(PHRASES)))
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [
        [1, 2, 4, 3, 0],   # red, flower, pot, "red flower", "flower pot" (unknown)
        [0, 4, 0, 0, 0],   # blue (unknown), pot, "blue pot" (unknown), padding
        [0, 0, 0, 0, 0],   # no gram
        [0, 0, 0, 0, 0],   # blue: unknown
        [1, 2, 3, 0, 0],   # case and spacing are normalised: red, flower, "red flower"
    ])
    column = _np(pe.PhraseGrams(VOCAB)(tf.constant([["pot"], ["red"]])))  # a [B, 1] column
    np.testing.assert_array_equal(column, [[4], [1]])


def test_the_tower_is_the_masked_mean_by_hand():
    out = _np(_tower()(tf.constant(PHRASES)))
    assert out.dtype == np.float32 and out.shape == (5, 2)
    expected = np.array([
        (E[1] + E[2] + E[4] + E[3]) / 4,   # [7/4, 1/4]: the unknown bigram is left out, not averaged in
        E[4],                               # pot alone
        [0.0, 0.0],                         # no gram -> zeros, no NaN
        [0.0, 0.0],                         # only unknown grams -> zeros
        (E[1] + E[2] + E[3]) / 3,           # [1, 1]
    ])
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(expected[0], [1.75, 0.25])
    assert _tower()(tf.constant(["blue", "green"])).shape == (2, 2)  # a batch with no known gram at all


def test_tower_layers_and_defaults():
    tower = pe.phrase_tower(vocabulary=VOCAB)
    assert tower.name == "phrase_tower" and tower.input.name == "phrases"
    assert tuple(tower.output.shape) == (None, 200)
    assert tower.get_layer("gram_embedding").embeddings.shape == (5, 200)
    assert tower.get_layer("grams").get_config()["vocabulary"] == VOCAB


def test_tower_save_and_load_round_trip(tmp_path):
    tower = _tower()
    path = str(tmp_path / "phrase_tower.keras")
    tower.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(_np(loaded(tf.constant(PHRASES))), _np(tower(tf.constant(PHRASES))))
    assert loaded.get_layer("grams").vocabulary == VOCAB


def test_tower_output_is_float32_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        tower = pe.phrase_tower(vocabulary=VOCAB, dim=3)
        assert keras.backend.standardize_dtype(tower.get_layer("mean").compute_dtype) == "bfloat16"
        assert _np(tower(tf.constant(PHRASES))).dtype == np.float32
    finally:
        keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("vocabulary, match", [
    ([], "empty"),
    (["red", "pot", "red"], "repeats 1 gram"),
    (["red", ""], "non-empty string"),
    (["Red"], "not a unigram or bigram"),
    (["red flower pot"], "not a unigram or bigram"),
    ("red", "single string"),
])
def test_bad_vocabularies_are_clear_errors(vocabulary, match):
    with pytest.raises(ValueError, match=match):
        pe.PhraseGrams(vocabulary)


def _unit(m):
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.mark.parametrize("symmetric", [False, True])
def test_dual_encoder_shares_one_tower_and_its_loss_is_in_batch_softmax_by_hand(symmetric):
    s = 2.0
    model = pe.dual_encoder(vocabulary=VOCAB, dim=2, scale=s, symmetric=symmetric)
    assert sorted(model.input) == ["first", "second"] and model.name == "dual_encoder"
    tower = model.get_layer(pe.TOWER)
    tower.get_layer("gram_embedding").set_weights([E])
    assert len(model.weights) == 1  # Siamese: one embedding table for both sides
    first, second = ["red", "pot", "flower"], ["red flower", "red", "flower pot"]
    a = np.array([E[1], E[4], E[2]])
    # "red flower": red, flower, "red flower"; "flower pot": flower, pot and the unknown bigram.
    b = np.array([(E[1] + E[2] + E[3]) / 3, E[1], (E[2] + E[4]) / 2])
    np.testing.assert_allclose(b, [[1.0, 1.0], [1.0, 0.0], [2.0, -0.5]])
    np.testing.assert_allclose(_np(tower(tf.constant(second))), b, rtol=1e-6)
    # In-batch softmax by hand: logits s * cos(a_i, b_j), row i's target is column i.
    logits = s * _unit(a) @ _unit(b).T
    rows = np.mean(np.log(np.exp(logits).sum(axis=1)) - np.diag(logits))
    cols = np.mean(np.log(np.exp(logits).sum(axis=0)) - np.diag(logits))
    loss = float(_np(model({"first": tf.constant(first), "second": tf.constant(second)})))
    np.testing.assert_allclose(loss, (rows + cols) / 2 if symmetric else rows, rtol=1e-5)
    np.testing.assert_allclose(loss, float(losses.in_batch_softmax_loss(a, b, s, symmetric=symmetric)), rtol=1e-5)


def test_dual_encoder_trains_with_its_added_loss():
    model = pe.dual_encoder(vocabulary=VOCAB, dim=4, scale=5.0)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=None)
    x = {"first": tf.constant(["red", "pot"]), "second": tf.constant(["red flower", "pot"])}
    history = model.fit(x, epochs=10, batch_size=2, verbose=0).history["loss"]
    assert history[-1] < history[0]  # one batch per epoch: the gradients reach the gram embeddings


def test_dual_encoder_rejects_a_bad_scale():
    with pytest.raises(ValueError, match="scale"):
        pe.dual_encoder(vocabulary=VOCAB, dim=2, scale=0.0)


def test_context_vector_is_the_mean_of_the_top_k():
    top3 = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]], [[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]]], np.float32)
    np.testing.assert_allclose(_np(pe.context_vector(top3)), [[3.0, 5.0], [1.0, 1.0]])
    assert pe.TOP_PHRASES == 3
    with pytest.raises(ValueError, match=r"\[B, k, dim\]"):
        pe.context_vector(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="k is 0"):
        pe.context_vector(np.zeros((2, 0, 4)))


JAX_BACKEND_CHECK = (
    "import numpy as np, keras; from tfpipe.models.phrase_encoder import context_vector;"
    "v = keras.ops.convert_to_numpy(context_vector(np.array([[[1.0, 2.0], [3.0, 6.0]]], np.float32)));"
    "assert keras.backend.backend() == 'jax' and np.allclose(v, [[2.0, 4.0]])"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
