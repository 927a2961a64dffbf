"""The ``cse_text`` encoder: You et al. (2018)'s text CNN (section 3.3, Figure 3)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.test_pretrained import W2V_VECTORS, W2V_WORDS, word2vec_file  # noqa: F401 (fixture)
from tfpipe.layers import ConvHighway
from tfpipe.models import encoders

TINY = dict(vocab_size=12, embedding_dim=4, filters=3, kernel_sizes=(1, 3, 5, 7))  # 12 channels
VOCAB = ["the", "paris", "berlin"] + [""] * 7  # ids 2..11


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _model(encoding, name="cse"):
    return encoding.model([encoding.embedding, encoding.local, encoding.local_mask], name=name)


def _ids():
    return np.array([[3, 7, 5, 9, 0, 0], [2, 11, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], np.int64)


def test_paper_shapes():
    encoding = encoders.encode("cse_text", vocab_size=12)
    assert encoding.dim == 1024 and encoding.embedding.shape == (None, 1024)
    assert encoding.local.shape == (None, None, 1024) and encoding.local_mask.shape == (None, None)
    model = _model(encoding)
    assert [model.get_layer(f"ngram_k{k}").kernel.shape for k in (1, 3, 5, 7)] == [
        (k, 300, 256) for k in (1, 3, 5, 7)]
    assert [type(model.get_layer(f"highway{i}")) for i in (1, 2, 3)] == [ConvHighway] * 3
    assert model.get_layer("highway1").kernel_size == 3
    s, local, mask = model(_ids()[:, :5])
    assert s.shape == (3, 1024) and local.shape == (3, 5, 1024) and mask.shape == (3, 5)
    assert keras.backend.standardize_dtype(mask.dtype) == "float32"
    np.testing.assert_array_equal(_np(mask), (_ids()[:, :5] != 0).astype(np.float32))
    # embedding 12*300; n-grams (1+3+5+7)*300*256 + 4*256; highways 3 * 2 * (3*1024*1024 + 1024).
    assert model.count_params() == 12 * 300 + 16 * 300 * 256 + 4 * 256 + 3 * 2 * (3 * 1024 * 1024 + 1024)


def test_global_is_the_max_over_real_words_and_local_is_the_second_highway():
    keras.utils.set_random_seed(0)
    encoding = encoders.encode("cse_text", **TINY)
    model = _model(encoding)
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("highway2", "highway3", "embedding_mask")])
    x = _ids()
    s, local, mask = (_np(t) for t in model(x))
    h2, h3, frames = (_np(t) for t in probe(x))
    np.testing.assert_array_equal(local, h2)
    real = x != 0
    for b in range(2):
        np.testing.assert_allclose(s[b], h3[b][real[b]].max(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(s[2], 0.0)  # no real word: zeros, not -inf
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(local))
    np.testing.assert_array_equal(frames[~real], 0.0)  # padding vectors are zero
    assert np.abs(frames[real]).min() > 0

    first = encoders.encode("cse_text", **TINY, local_layer=1)
    assert keras.Model(first.inputs, first.local).layers[-1].name == "highway1"


def test_trailing_padding_changes_nothing():
    keras.utils.set_random_seed(1)
    model = _model(encoders.encode("cse_text", **TINY))
    x = _ids()[:2, :4]
    longer = np.concatenate([x, np.zeros((2, 5), np.int64)], axis=1)
    s, local, _ = (_np(t) for t in model(x))
    s2, local2, mask2 = (_np(t) for t in model(longer))
    np.testing.assert_allclose(s2, s, rtol=1e-5, atol=1e-6)
    real = x != 0
    np.testing.assert_allclose(local2[:, :4][real], local[real], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(mask2[:, 4:], 0.0)


def test_word2vec_rows_are_loaded_and_trainable(word2vec_file, capsys):
    encoding = encoders.encode("cse_text", **TINY, vocab=VOCAB, embeddings=word2vec_file)
    model = _model(encoding)  # runs finish: fills the rows
    layer = model.get_layer("embedding")
    assert layer.trainable
    table = _np(layer.embeddings)
    for word_id, word in ((2, "the"), (3, "paris"), (4, "Berlin")):
        np.testing.assert_array_equal(table[word_id], W2V_VECTORS[W2V_WORDS.index(word)])
    np.testing.assert_array_equal(table[0], 0.0)
    probe = keras.Model(model.input, model.get_layer("embedding_mask").output)
    frames = _np(probe(np.array([[2, 4, 0]])))
    np.testing.assert_array_equal(frames[0], [W2V_VECTORS[0], W2V_VECTORS[3], np.zeros(4)])
    static = _model(encoders.encode("cse_text", **TINY, vocab=VOCAB, embeddings=word2vec_file,
                                    train_embeddings=False))
    assert not static.get_layer("embedding").trainable


def test_save_and_load_round_trip(tmp_path):
    keras.utils.set_random_seed(2)
    model = _model(encoders.encode("cse_text", **TINY, input_length=6))
    x = _ids()
    path = str(tmp_path / "cse.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(loaded(x), model(x)):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6, atol=1e-7)


def test_mixed_bfloat16_runs():
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = _model(encoders.encode("cse_text", **TINY))
        s, local, mask = model(_ids())
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert keras.backend.standardize_dtype(s.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(mask.dtype) == "float32"
    assert np.all(np.isfinite(_np(s).astype(np.float32))) and np.all(_np(s)[2].astype(np.float32) == 0.0)


def test_registry_and_argument_errors():
    assert "cse_text" in encoders.names() and encoders.features_of("cse_text") == ("word_ids",)
    assert encoders.required_keys("cse_text") == ["vocab_size"]
    assert encoders.config_keys("cse_text", include_data_keys=False) == [
        "input_length", "embeddings", "embedding_dim", "train_embeddings", "kernel_sizes", "filters",
        "highway_layers", "highway_kernel", "local_layer", "ngram_activation"]
    assert encoders.encode("cse_text", **TINY, highway_layers=1, local_layer=1).dim == 12
    for bad, match in (
        (dict(local_layer=0), "local_layer"),
        (dict(local_layer=4), "local_layer"),
        (dict(highway_layers=0), "highway_layers must be positive"),
        (dict(kernel_sizes=()), "kernel_sizes"),
        (dict(kernel_sizes=(1, 0)), "kernel_sizes"),
        (dict(kernel_sizes=(3, 3)), "distinct"),
        (dict(filters=0), "filters must be positive"),
        (dict(highway_kernel=0), "highway_kernel must be positive"),
        (dict(vocab_size=2), "vocab_size"),
    ):
        with pytest.raises(ValueError, match=match):
            encoders.encode("cse_text", **{**TINY, **bad})


# Run with the other models' checks in one KERAS_BACKEND=jax process (conftest.jax_backend):
# the encoder (ConvHighway, the masked max) and AttentionContext on its local features.
JAX_BACKEND_CHECK = (
    "import numpy as np, keras; from tfpipe.models import encoders; from tfpipe.layers import AttentionContext;"
    "e = encoders.encode('cse_text', vocab_size=12, embedding_dim=4, filters=3);"
    "m = e.model([e.embedding, e.local, e.local_mask], name='cse');"
    "x = np.array([[3, 7, 5, 0], [0, 0, 0, 0]]);"
    "s, local, mask = (keras.ops.convert_to_numpy(t) for t in m(x));"
    "assert keras.backend.backend() == 'jax' and s.shape == (2, 12) and local.shape == (2, 4, 12);"
    "assert np.all(s[1] == 0) and np.all(np.isfinite(s));"
    "c, a = AttentionContext(12)([local, s], mask=mask, return_weights=True);"
    "a = keras.ops.convert_to_numpy(a);"
    "assert c.shape == (2, 12) and np.all(a[0, 3:] == 0) and np.allclose(a[0].sum(), 1, rtol=1e-5)"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
