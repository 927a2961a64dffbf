"""Word-based ConvNets (lookup table and word2vec) against the Char-CNN stack and hand counts."""
from __future__ import annotations

import ast
import inspect

import keras
import numpy as np
import pytest

from tests.test_pretrained import W2V_VECTORS, W2V_WORDS, word2vec_file  # noqa: F401 (fixture)
from tfpipe import models
from tfpipe.models import char_cnn, word_cnn

# max_words=150 leaves (150 - 96) // 27 = 2 frames.
TINY = dict(num_classes=3, vocab_size=12, max_words=150, embedding_dim=4, conv_features=4, fc_units=8)
VOCAB = ["the", "paris", "berlin", "zzz"]  # ids 2..5


def test_frame_lengths_for_max_words():
    assert char_cnn.frame_lengths(256) == [83, 25, 23, 21, 19, 5]
    model = models.build("word_cnn_lk_small", num_classes=4, vocab_size=100, max_words=256, fc_units=8)
    lengths = [model.get_layer(n).output.shape[1] for n in ["pool1", "pool2", "conv3", "conv4", "conv5", "pool6"]]
    assert lengths == [83, 25, 23, 21, 19, 5]
    assert model.get_layer("embedding").output.shape == (None, 256, 300)
    assert model.get_layer("flatten").output.shape == (None, 5 * 256)
    assert models.build("word_cnn_lk_small", **{**TINY, "max_words": 123}).get_layer("pool6").output.shape[1] == 1


@pytest.mark.parametrize("name", ["word_cnn_lk_small", "word_cnn_lk_large", "word_cnn_w2v_small"])
def test_too_few_words_is_a_clear_error(name):
    extra = {"vocab": VOCAB + [""] * 6, "embeddings": "never_read.txt"} if "w2v" in name else {}
    with pytest.raises(ValueError, match=r"max_words=122 is too short.*at least 123 words.*--max_words"):
        models.build(name, **{**TINY, "max_words": 122}, **extra)


def test_paper_small_parameter_count():
    model = models.build("word_cnn_lk_small", num_classes=4, vocab_size=50_002, max_words=256)
    expected = (
        50_002 * 300  # embedding
        + (7 * 300 * 256 + 256) + (7 * 256 * 256 + 256) + 4 * (3 * 256 * 256 + 256)
        + (5 * 256 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 4 + 4)
    )
    assert model.count_params() == expected == 19_150_364


def test_tiny_parameter_count_per_layer():
    model = models.build("word_cnn_lk_small", **TINY)
    per_layer = {layer.name: layer.count_params() for layer in model.layers if layer.weights}
    assert per_layer == {
        "embedding": 12 * 4,
        "conv1": 7 * 4 * 4 + 4,
        "conv2": 7 * 4 * 4 + 4,
        "conv3": 52, "conv4": 52, "conv5": 52, "conv6": 52,
        "fc7": 2 * 4 * 8 + 8,
        "fc8": 8 * 8 + 8,
        "fc9": 8 * 3 + 3,
    }
    assert model.count_params() == 48 + 116 + 116 + 4 * 52 + 72 + 72 + 27 == 659


def test_same_stack_as_the_char_model():
    word = models.build("word_cnn_lk_large", num_classes=4, vocab_size=20, max_words=1014, fc_units=16)
    char = models.build("char_cnn_large", num_classes=4, fc_units=16, first_layer="one_hot")
    gather = models.build("char_cnn_large", num_classes=4, fc_units=16)  # conv1 computed as a gather

    def stack(model, first):
        names = [layer.name for layer in model.layers]
        layers = model.layers[names.index(first):]
        drop = {"name", "dtype", "kernel_initializer", "seed"}
        return [(type(l).__name__, {k: v for k, v in l.get_config().items() if k not in drop}) for l in layers]

    assert stack(word, "conv1") == stack(char, "conv1")
    assert stack(word, "conv2") == stack(gather, "conv2")
    assert [l.name for l in word.layers][:2] == ["word_ids", "embedding"]
    assert word.get_layer("conv1").kernel.shape == (7, 300, 1024)
    assert word.get_layer("fc7").kernel.shape == (34 * 1024, 16)
    for name in ("conv1", "fc7", "fc9"):
        init = word.get_layer(name).kernel_initializer
        assert isinstance(init, keras.initializers.RandomNormal) and init.stddev == 0.02
    defaults = {k: p.default for k, p in inspect.signature(word_cnn.word_cnn_w2v_small).parameters.items()}
    assert defaults["conv_features"] == 256 and defaults["fc_units"] == 1024 and defaults["init_std"] == 0.05
    assert defaults["embedding_dim"] == 300 and defaults["dropout"] == 0.5 and defaults["train_embeddings"] is False
    large = {k: p.default for k, p in inspect.signature(word_cnn.word_cnn_w2v_large).parameters.items()}
    assert large["conv_features"] == 1024 and large["fc_units"] == 2048 and large["init_std"] == 0.02


def test_registry_entries():
    for name in ("word_cnn_lk_small", "word_cnn_lk_large", "word_cnn_w2v_small", "word_cnn_w2v_large"):
        assert models.feature_of(name) == "word_ids"
    assert models.required_keys("word_cnn_lk_small") == ["num_classes", "vocab_size", "max_words"]
    assert models.required_keys("word_cnn_w2v_large") == ["num_classes", "vocab_size", "max_words", "vocab", "embeddings"]
    assert "embeddings" not in models.config_keys("word_cnn_lk_small")
    with pytest.raises(ValueError, match=r"needs \['embeddings'\]"):
        models.build("word_cnn_w2v_small", **TINY, vocab=VOCAB)


def _is_trainable(model, variable) -> bool:
    return any(v is variable for v in model.trainable_weights)


def test_lookup_table_is_gaussian_and_trained():
    model = models.build("word_cnn_lk_small", num_classes=3, vocab_size=5000, max_words=123, embedding_dim=64,
                         conv_features=4, fc_units=8)
    layer = model.get_layer("embedding")
    table = keras.ops.convert_to_numpy(layer.embeddings)
    assert layer.trainable and _is_trainable(model, layer.embeddings)
    assert abs(table.mean()) < 1e-3 and abs(table.std() - 0.05) < 1e-3


def test_word2vec_rows_come_from_the_file(word2vec_file, capsys):
    model = models.build("word_cnn_w2v_small", **TINY, vocab=VOCAB + [""] * 6, embeddings=word2vec_file)
    table = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
    np.testing.assert_array_equal(table[0], 0.0)  # padding
    np.testing.assert_array_equal(table[2], W2V_VECTORS[W2V_WORDS.index("the")])
    np.testing.assert_array_equal(table[3], W2V_VECTORS[W2V_WORDS.index("paris")])
    np.testing.assert_array_equal(table[4], W2V_VECTORS[W2V_WORDS.index("Berlin")])
    assert np.abs(table[5]).min() > 0  # "zzz": not in the file, random
    assert "3 of 10 vocabulary words" in capsys.readouterr().out


def test_word2vec_static_by_default_trainable_on_request(word2vec_file):
    # Seeded, so that the one SGD step of this tiny model (4 filters, 8 units, dropout, 4 rows)
    # does not depend on what ran before in the process: in one full-suite run the step left
    # the trainable embeddings unchanged (the test passes alone, and for seeds 0-149).
    keras.utils.set_random_seed(0)
    static = models.build("word_cnn_w2v_small", **TINY, vocab=VOCAB + [""] * 6, embeddings=word2vec_file)
    layer = static.get_layer("embedding")
    assert not layer.trainable and not _is_trainable(static, layer.embeddings)
    before = keras.ops.convert_to_numpy(layer.embeddings).copy()
    x = np.random.default_rng(0).integers(0, 12, size=(4, 150))
    static.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    static.train_on_batch(x, np.array([0, 1, 2, 0]))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.embeddings), before)

    tuned = models.build("word_cnn_w2v_small", **TINY, vocab=VOCAB + [""] * 6, embeddings=word2vec_file,
                         train_embeddings=True)
    layer = tuned.get_layer("embedding")
    assert layer.trainable and _is_trainable(tuned, layer.embeddings)
    tuned.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    tuned.train_on_batch(x, np.array([0, 1, 2, 0]))
    assert not np.array_equal(keras.ops.convert_to_numpy(layer.embeddings), before)


def test_word2vec_mismatches_are_clear_errors(word2vec_file):
    with pytest.raises(ValueError, match="set the model's embedding_dim to 4"):
        models.build("word_cnn_w2v_small", **{**TINY, "embedding_dim": 300}, vocab=VOCAB + [""] * 6,
                     embeddings=word2vec_file)
    with pytest.raises(ValueError, match="vocab_size=12 does not match the vocabulary: 4 words need 6 rows"):
        models.build("word_cnn_w2v_small", **TINY, vocab=VOCAB, embeddings=word2vec_file)


def test_forward_training_step_and_save(tmp_path, word2vec_file):
    model = models.build("word_cnn_w2v_large", **TINY, vocab=VOCAB + [""] * 6, embeddings=word2vec_file)
    assert model.inputs[0].name == "word_ids" and model.inputs[0].dtype == "int64"
    x = np.random.default_rng(1).integers(0, 12, size=(8, 150))
    probs = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(x, np.arange(8) % 3))
    path = str(tmp_path / "word_cnn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert not loaded.get_layer("embedding").trainable
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6
    )


def test_flops_count_the_word_model():
    model = models.build("word_cnn_lk_small", **TINY)
    # conv lengths 144, 42, 12, 10, 8, 6 on 4-d frames; the embedding lookup is not counted.
    expected = 2 * (144 * 7 * 4 * 4 + 42 * 7 * 4 * 4 + (12 + 10 + 8 + 6) * 3 * 4 * 4 + 8 * 8 + 8 * 8 + 8 * 3)
    assert char_cnn.flops_per_example(model) == expected


def test_model_code_is_backend_neutral():
    tree = ast.parse(inspect.getsource(word_cnn))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert not imported & {"tensorflow", "tf", "jax", "torch"}, imported


# Run with the other models' checks in one KERAS_BACKEND=jax process (conftest.jax_backend).
JAX_BACKEND_CHECK = (
    "import numpy as np, keras; from tfpipe import models;"
    "m = models.build('word_cnn_lk_small', num_classes=3, vocab_size=12, max_words=150, embedding_dim=4,"
    " conv_features=4, fc_units=8);"
    "p = keras.ops.convert_to_numpy(m(np.arange(300).reshape(2, 150) % 12));"
    "assert keras.backend.backend() == 'jax' and p.shape == (2, 3) and np.allclose(p.sum(1), 1, rtol=1e-5)"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
