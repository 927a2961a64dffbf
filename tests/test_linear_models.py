"""Bag-of-features logistic regression (BoW, n-grams, their TFIDF, bag-of-means) and SparseLinear."""
from __future__ import annotations

import ast
import inspect

import keras
import numpy as np
import pytest

from tfpipe import models
from tfpipe.layers import SparseLinear
from tfpipe.models import linear

NAMES = ("bow", "bow_tfidf", "ngrams", "ngrams_tfidf", "bag_of_means")

# W rows: 0 = padding (set to a loud value to show it is never read), features 1..3.
W = np.array([[100.0, 100.0], [1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]], dtype=np.float32)
BIAS = np.array([0.5, -0.5], dtype=np.float32)


def _inputs(ids, values):
    return {"feature_ids": np.asarray(ids, dtype=np.int32), "feature_values": np.asarray(values, dtype=np.float32)}


def _with_weights(name="bow", **extra):
    model = models.build(name, num_classes=2, num_features=3, **extra)
    model.get_layer("logits").set_weights([W, BIAS])
    return model


def _logits(model, ids, values):
    layer = model.get_layer("logits")
    out = layer([np.asarray(ids, dtype=np.int32), np.asarray(values, dtype=np.float32)])
    return keras.ops.convert_to_numpy(out)


def test_registered_under_five_names_with_their_features():
    for name in NAMES:
        assert models.feature_of(name) == name
    same = {models._builder(n) for n in NAMES[:4]}
    assert same == {linear.logistic_regression}
    assert models.config_keys("bow") == [
        "num_classes", "num_features", "l2", "init", "ngram_max", "idf", "normalize", "sublinear_tf"]
    assert models.config_keys("bag_of_means", include_data_keys=False) == [
        "embeddings", "means", "min_count", "l2", "init"
    ]
    assert models.required_keys("bag_of_means") == ["num_classes", "num_features", "embeddings"]
    defaults = {k: p.default for k, p in inspect.signature(linear.bag_of_means).parameters.items()}
    assert defaults["means"] == 5000 and defaults["min_count"] == 5 and defaults["l2"] == 0.0
    with pytest.raises(ValueError, match=r"needs \['embeddings'\]"):
        models.build("bag_of_means", num_classes=2, num_features=3)


def test_hand_computed_logits():
    model = _with_weights()
    # ids 1 and 3 with values 2 and 0.5: 2 * [1, 0] + 0.5 * [-1, 1] + [0.5, -0.5] = [2, 0].
    logits = _logits(model, [[1, 3, 0], [2, 0, 0]], [[2.0, 0.5, 0.0], [1.5, 0.0, 0.0]])
    np.testing.assert_allclose(logits, [[2.0, 0.0], [0.5, 2.5]], rtol=1e-6)
    probs = keras.ops.convert_to_numpy(model(_inputs([[1, 3, 0]], [[2.0, 0.5, 0.0]])))
    np.testing.assert_allclose(probs, [[1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))]], rtol=1e-5)
    assert probs.dtype == np.float32


def test_padding_contributes_nothing_and_k_varies_per_batch():
    model = _with_weights()
    short = _logits(model, [[1, 3]], [[2.0, 0.5]])
    padded = _logits(model, [[1, 3, 0, 0, 0]], [[2.0, 0.5, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(short, padded, rtol=1e-6)
    # Even a non-zero value at a padding id is ignored (W[0] is never read).
    np.testing.assert_allclose(_logits(model, [[1, 3, 0]], [[2.0, 0.5, 9.0]]), short, rtol=1e-6)
    np.testing.assert_allclose(_logits(model, [[0, 0]], [[1.0, 1.0]]), [BIAS], rtol=1e-6)


def test_equals_dense_logistic_regression_on_duplicate_free_ids():
    rng = np.random.default_rng(0)
    num_features, num_classes, k = 20, 3, 6
    model = models.build("ngrams_tfidf", num_classes=num_classes, num_features=num_features)
    w = rng.normal(size=(num_features + 1, num_classes)).astype(np.float32)
    b = rng.normal(size=num_classes).astype(np.float32)
    model.get_layer("logits").set_weights([w, b])
    ids = np.stack([rng.permutation(np.arange(1, num_features + 1))[:k] for _ in range(4)]).astype(np.int32)
    ids[:, -2:] = 0  # trailing padding
    values = rng.uniform(0.1, 1.0, size=ids.shape).astype(np.float32) * (ids != 0)
    dense = np.zeros((4, num_features), dtype=np.float32)
    for row in range(4):
        for j, v in zip(ids[row], values[row]):
            if j:
                dense[row, j - 1] = v
    logits = dense @ w[1:] + b
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(_inputs(ids, values))), expected, rtol=1e-5)


def test_inputs_parameters_and_zero_init():
    model = models.build("bow", num_classes=4, num_features=50_000)
    assert [t.name for t in model.inputs] == ["feature_ids", "feature_values"]
    assert [t.dtype for t in model.inputs] == ["int32", "float32"]
    assert [tuple(t.shape) for t in model.inputs] == [(None, None), (None, None)]
    assert model.get_layer("logits").kernel.shape == (50_001, 4)
    assert model.count_params() == 50_001 * 4 + 4 == 200_008
    probs = keras.ops.convert_to_numpy(model(_inputs([[5, 17, 0]], [[1.0, 3.0, 0.0]])))
    np.testing.assert_allclose(probs, [[0.25] * 4])  # zeros init: uniform
    glorot = models.build("bow", num_classes=4, num_features=100, init="glorot_uniform")
    assert np.abs(keras.ops.convert_to_numpy(glorot.get_layer("logits").kernel)).max() > 0
    with pytest.raises(ValueError, match="init='no_such' is not a Keras initializer"):
        models.build("bow", num_classes=4, num_features=10, init="no_such")
    with pytest.raises(ValueError, match="num_features must be positive"):
        models.build("bow", num_classes=4, num_features=0)


def test_l2_penalty_on_w():
    model = _with_weights(l2=0.01)
    model(_inputs([[1, 2]], [[1.0, 1.0]]))
    assert len(model.losses) == 1
    expected = 0.01 * float((W**2).sum())  # bias not penalized
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(model.losses[0])), expected, rtol=1e-5)
    assert _with_weights().losses == []


def test_bag_of_means_takes_its_featurizer_keys():
    model = models.build("bag_of_means", num_classes=2, num_features=3, embeddings="vectors.bin", means=3)
    assert model.name == "bag_of_means" and model.count_params() == 4 * 2 + 2
    with pytest.raises(ValueError, match="means and min_count must be positive"):
        models.build("bag_of_means", num_classes=2, num_features=3, embeddings="v.bin", min_count=0)


def test_training_learns_a_separable_bag():
    model = models.build("bow", num_classes=2, num_features=4)
    ids = np.array([[1, 2], [3, 4]] * 16, dtype=np.int32)
    x = _inputs(ids, np.ones_like(ids, dtype=np.float32))
    y = np.array([0, 1] * 16)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    first = model.train_on_batch(x, y)
    for _ in range(20):
        last = model.train_on_batch(x, y)
    assert first == pytest.approx(np.log(2), rel=1e-5) and last < 0.1


def test_float32_output_under_mixed_bfloat16():
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = models.build("bow", num_classes=3, num_features=5)
        out = model(_inputs([[1, 2]], [[1.0, 0.5]]))
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert model.get_layer("logits").kernel.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_save_and_load(tmp_path):
    model = _with_weights(l2=0.5)
    path = str(tmp_path / "bow.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    x = _inputs([[1, 3, 2]], [[0.2, 0.4, 0.6]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)))
    clone = SparseLinear.from_config(model.get_layer("logits").get_config())
    assert clone.num_features == 3 and clone.units == 2 and clone.kernel_regularizer.l2 == 0.5


def test_model_code_is_backend_neutral():
    from tfpipe.layers import sparse_linear

    for module in (linear, sparse_linear):
        tree = ast.parse(inspect.getsource(module))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert not imported & {"tensorflow", "tf", "jax", "torch"}, (module.__name__, imported)


# Run with the other models' checks in one KERAS_BACKEND=jax process (conftest.jax_backend).
JAX_BACKEND_CHECK = (
    "import numpy as np, keras; from tfpipe import models;"
    "m = models.build('bow', num_classes=2, num_features=3);"
    "m.get_layer('logits').set_weights([np.array([[9., 9.], [1., 0.], [0., 2.], [-1., 1.]]), np.zeros(2)]);"
    "x = {'feature_ids': np.array([[1, 3, 0]], 'int32'), 'feature_values': np.array([[2., .5, 7.]], 'float32')};"
    "p = keras.ops.convert_to_numpy(m(x));"
    "assert keras.backend.backend() == 'jax' and np.allclose(p, [[np.exp(1.5) / (np.exp(1.5) + np.exp(.5)),"
    " np.exp(.5) / (np.exp(1.5) + np.exp(.5))]])"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
