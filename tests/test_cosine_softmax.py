"""CosineSoftmax: eq. 1 of the predicted-context paper on a hand-computed 3-class toy."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from tfpipe import losses
from tfpipe.layers import CosineSoftmax
from tfpipe.layers import cosine_softmax as cs

# Three classes in 2-d: w_0 = e_1, w_1 = 2 e_2 (the norm must not matter), w_2 = (1, 1).
TABLE = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=np.float32)
X = np.array([[3.0, 0.0], [0.0, 0.5], [-1.0, 1.0]], dtype=np.float32)
R = 1 / math.sqrt(2)
# cos(x_b, w_c), by hand.
COS = np.array([
    [1.0, 0.0, R],    # x = 3 e_1
    [0.0, 1.0, R],    # x = 0.5 e_2
    [-R, R, 0.0],     # x = (-1, 1)
])


def _layer(scale: float) -> CosineSoftmax:
    layer = CosineSoftmax(3, scale=scale, name="phrase_softmax")
    layer.build((None, 2))
    layer.kernel.assign(TABLE)
    return layer


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_logits_and_probabilities_are_eq1_by_hand(scale):
    layer = _layer(scale)
    logits = _np(layer(X))
    assert logits.dtype == np.float32 and logits.shape == (3, 3)
    np.testing.assert_allclose(logits, scale * COS, rtol=1e-6, atol=1e-6)
    # Eq. 1 written with the distance: p_c = exp(-s d(w_c, x)) / sum_i exp(-s d(w_i, x)), d = 1 - cos.
    d = 1.0 - COS
    by_hand = np.exp(-scale * d) / np.exp(-scale * d).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(_np(layer.probabilities(X)), by_hand, rtol=1e-6)
    np.testing.assert_allclose(_np(cs.cosine_probabilities(X, TABLE, scale)), by_hand, rtol=1e-6)
    # One row in full: x = 3 e_1, s = 1: exp(0), exp(-1), exp(-(1 - 1/sqrt 2)) over their sum.
    if scale == 1.0:
        e = np.array([1.0, math.exp(-1.0), math.exp(-(1 - R))])
        np.testing.assert_allclose(_np(layer.probabilities(X))[0], e / e.sum(), rtol=1e-6)


def test_cross_entropy_of_the_logits_is_the_one_loss_definition():
    layer = _layer(3.0)
    targets = np.array([0, 2, 1])
    logits = _np(layer(X))
    ce = -np.log(np.exp(logits)[np.arange(3), targets] / np.exp(logits).sum(axis=1))
    loss = _np(losses.cosine_softmax_loss(X, targets, table=layer.kernel, scale=layer.scale))
    np.testing.assert_allclose(ce, loss, rtol=1e-5)
    keras_ce = _np(keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True))
    np.testing.assert_allclose(keras_ce, loss, rtol=1e-5)


def test_default_scale_is_the_papers():
    assert cs.PREDICTED_CONTEXT_SCALE == losses.PREDICTED_CONTEXT_SCALE == CosineSoftmax(2).scale == 1.0


def test_zero_input_row_gives_uniform_probabilities_not_nan():
    layer = _layer(2.0)
    p = _np(layer.probabilities(np.zeros((1, 2), np.float32)))
    np.testing.assert_allclose(p, np.full((1, 3), 1 / 3), rtol=1e-6)


def test_float32_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        x = keras.Input((2,))
        h = keras.layers.Dense(2, name="bottleneck")(x)
        assert keras.backend.standardize_dtype(h.dtype) == "bfloat16"
        layer = CosineSoftmax(3, name="phrase_softmax")
        out = layer(h)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"
        model = keras.Model(x, out)
        assert _np(model(X)).dtype == np.float32
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_config_round_trip_and_saved_model(tmp_path):
    layer = CosineSoftmax(5, scale=2.5, kernel_initializer="zeros", name="phrase_softmax")
    config = layer.get_config()
    assert config["num_classes"] == 5 and config["scale"] == 2.5 and config["name"] == "phrase_softmax"
    clone = CosineSoftmax.from_config(config)
    assert (clone.num_classes, clone.scale) == (5, 2.5)
    assert clone.compute_output_shape((None, 7)) == (None, 5)

    x = keras.Input((2,))
    model = keras.Model(x, _layer(2.0)(x))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(loaded(X)), _np(model(X)), rtol=1e-6)
    np.testing.assert_array_equal(_np(loaded.get_layer("phrase_softmax").kernel), TABLE)


@pytest.mark.parametrize("bad", [1, 0, 2.5, True])
def test_num_classes_must_be_an_integer_of_at_least_two(bad):
    with pytest.raises(ValueError, match="num_classes"):
        CosineSoftmax(bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan"), "big"])
def test_scale_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="scale"):
        CosineSoftmax(3, scale=bad)


# Run with the other models' checks in one KERAS_BACKEND=jax process (conftest.jax_backend).
JAX_BACKEND_CHECK = (
    "import numpy as np, keras; from tfpipe.layers import CosineSoftmax;"
    "layer = CosineSoftmax(2, scale=2.0); layer.build((None, 2));"
    "layer.kernel.assign(np.array([[1.0, 0.0], [0.0, 3.0]], np.float32));"
    "p = keras.ops.convert_to_numpy(layer.probabilities(np.array([[2.0, 0.0]], np.float32)));"
    "e = np.exp([2.0, 0.0]);"
    "assert keras.backend.backend() == 'jax' and np.allclose(p, e / e.sum(), rtol=1e-6), p"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
