"""The phrase generator (predicted-context paper, section 3.2): bottleneck x and eq. 1's logits."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tfpipe import losses
from tfpipe.models import phrase_generator as pg

# A toy: 3-d features -> hidden 2 (ReLU) -> bottleneck 2 -> 3 phrases.
W1 = np.array([[1.0, -1.0], [0.0, 2.0], [1.0, 0.0]], np.float32)
B1 = np.array([0.0, -1.0], np.float32)
W2 = np.array([[1.0, 1.0], [0.0, -1.0]], np.float32)
B2 = np.array([0.5, 0.0], np.float32)
TABLE = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
FEATURES = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0]], np.float32)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _toy(scale: float = 2.0) -> keras.Model:
    model = pg.phrase_generator(num_phrases=3, feature_dim=3, hidden=(2,), dim=2, scale=scale)
    trunk = model.get_layer(pg.BOTTLENECK)
    trunk.get_layer("hidden1").set_weights([W1, B1])
    trunk.get_layer("embedding").set_weights([W2, B2])
    model.get_layer(pg.PHRASE_SOFTMAX).kernel.assign(TABLE)
    return model


def test_forward_pass_by_hand():
    model = _toy(scale=2.0)
    # Row 0: h = relu([1, 1, 0] W1 + b1) = relu([1, 0]) = [1, 0]; x = h W2 + b2 = [1.5, 1].
    # Row 1: h = relu([0, 0, 2] W1 + b1) = relu([2, -3]) = [2, 0]; x = [2.5, 2].
    x = np.array([[1.5, 1.0], [2.5, 2.0]])
    np.testing.assert_allclose(_np(model.get_layer(pg.BOTTLENECK)(FEATURES)), x, rtol=1e-6)
    # cos(x, w_c): w_0 = e_1, w_1 = e_2, w_2 = (1, 1) / sqrt 2.
    norm = np.linalg.norm(x, axis=1)
    cos = np.stack([x[:, 0] / norm, x[:, 1] / norm, (x[:, 0] + x[:, 1]) / (norm * np.sqrt(2))], axis=1)
    logits = _np(model(FEATURES))
    assert logits.dtype == np.float32 and logits.shape == (2, 3)
    np.testing.assert_allclose(logits, 2.0 * cos, rtol=1e-6)


def test_the_trainer_computes_the_sampled_loss_from_x_and_the_kernel():
    model = _toy(scale=3.0)
    layer = model.get_layer(pg.PHRASE_SOFTMAX)
    x = model.get_layer(pg.BOTTLENECK)(FEATURES)
    targets = np.array([2, 0])
    full = _np(losses.cosine_softmax_loss(x, targets, table=layer.kernel, scale=layer.scale))
    # Every phrase sampled once (accidental hits removed): the sampled softmax is the full one.
    sampled = _np(losses.sampled_cosine_softmax_loss(x, targets, layer.kernel, np.arange(3), scale=layer.scale))
    np.testing.assert_allclose(sampled, full, rtol=1e-5)
    logits = _np(model(FEATURES))
    by_hand = np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(2), targets]
    np.testing.assert_allclose(full, by_hand, rtol=1e-5)


def test_bottleneck_alone_layers_and_shapes():
    trunk = pg.bottleneck()
    assert trunk.name == "bottleneck" and trunk.input.name == "features"
    assert tuple(trunk.input.shape) == (None, 1280) and tuple(trunk.output.shape) == (None, 64)
    assert [layer.name for layer in trunk.layers] == ["features", "hidden1", "embedding", "x"]
    assert trunk.get_layer("hidden1").kernel.shape == (1280, 1024)
    assert trunk.count_params() == 1280 * 1024 + 1024 + 1024 * 64 + 64
    deep = pg.bottleneck(feature_dim=8, hidden=(6, 5), dim=4, dropout=0.3, name="b")
    assert [layer.name for layer in deep.layers] == [
        "features", "hidden1", "dropout1", "hidden2", "dropout2", "embedding", "x"]
    assert deep.get_layer("dropout2").rate == 0.3
    linear = pg.bottleneck(feature_dim=8, hidden=(), dim=4)
    assert [layer.name for layer in linear.layers] == ["features", "embedding", "x"]


def test_phrase_generator_defaults():
    model = pg.phrase_generator(num_phrases=10)
    assert model.input.name == "features" and tuple(model.output.shape) == (None, 10)
    assert model.get_layer(pg.PHRASE_SOFTMAX).kernel.shape == (10, 64)
    assert model.get_layer(pg.PHRASE_SOFTMAX).scale == losses.PREDICTED_CONTEXT_SCALE


def test_float32_x_and_logits_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = pg.phrase_generator(num_phrases=3, feature_dim=3, hidden=(4,), dim=2)
        trunk = model.get_layer(pg.BOTTLENECK)
        assert keras.backend.standardize_dtype(trunk.get_layer("hidden1").compute_dtype) == "bfloat16"
        assert _np(trunk(FEATURES)).dtype == np.float32
        assert _np(model(FEATURES)).dtype == np.float32
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_save_and_load_round_trip(tmp_path):
    model = _toy()
    path = str(tmp_path / "phrase_generator.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(loaded(FEATURES)), _np(model(FEATURES)), rtol=1e-6)
    np.testing.assert_array_equal(_np(loaded.get_layer(pg.PHRASE_SOFTMAX).kernel), TABLE)
    assert loaded.get_layer(pg.PHRASE_SOFTMAX).scale == 2.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_phrases=1), "num_phrases must be an integer of at least 2"),
    (dict(num_phrases=3.0), "num_phrases"),
    (dict(num_phrases=3, dim=0), "dim must be a positive integer"),
    (dict(num_phrases=3, hidden=1024), "hidden must be a list"),
    (dict(num_phrases=3, hidden=(8, 0)), "every hidden size"),
    (dict(num_phrases=3, dropout=1.0), r"dropout must be a rate in \[0, 1\)"),
    (dict(num_phrases=3, scale=0.0), "scale"),
])
def test_bad_keys_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pg.phrase_generator(feature_dim=3, **kwargs)


def test_numpy_integer_sizes_are_accepted():
    model = pg.phrase_generator(num_phrases=np.int64(4), feature_dim=np.int32(3), hidden=[np.int64(2)], dim=2)
    assert tuple(model.output.shape) == (None, 4)


JAX_BACKEND_CHECK = (
    "import numpy as np, keras; from tfpipe.models import phrase_generator as pg;"
    "m = pg.phrase_generator(num_phrases=3, feature_dim=3, hidden=(2,), dim=2, scale=2.0);"
    "out = keras.ops.convert_to_numpy(m(np.ones((2, 3), np.float32)));"
    "x = keras.ops.convert_to_numpy(m.get_layer('bottleneck')(np.ones((2, 3), np.float32)));"
    "assert keras.backend.backend() == 'jax' and out.shape == (2, 3) and x.shape == (2, 2);"
    "assert np.all(np.abs(out) <= 2.0 + 1e-5)"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
