"""Word LSTM: the peephole ("vanilla") cell, the masked mean, word2vec input and gradient clipping."""
from __future__ import annotations

import ast
import inspect

import keras
import numpy as np
import pytest

from tests.test_pretrained import W2V_VECTORS, W2V_WORDS, word2vec_file  # noqa: F401 (fixture)
from tfpipe import models
from tfpipe.layers import MeanOverTime, PeepholeLSTMCell
from tfpipe.models import word_lstm

TINY = dict(num_classes=3, vocab_size=12, embedding_dim=4, units=5)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _vanilla_step(x, y, c, W, R, b, p_i, p_f, p_o):
    """Greff et al. (2017), eq. in section 2, gates stacked as [input, forget, block input, output]."""
    u = y.shape[-1]
    a = x @ W + y @ R + b
    i = _sigmoid(a[:, :u] + p_i * c)
    f = _sigmoid(a[:, u:2 * u] + p_f * c)
    z = np.tanh(a[:, 2 * u:3 * u])
    c_new = z * i + c * f
    o = _sigmoid(a[:, 3 * u:] + p_o * c_new)
    return np.tanh(c_new) * o, c_new


def _random_cell(units=3, input_dim=2, seed=0):
    rng = np.random.default_rng(seed)
    cell = PeepholeLSTMCell(units)
    cell.build((None, input_dim))
    weights = {
        "W": rng.normal(size=(input_dim, 4 * units)), "R": rng.normal(size=(units, 4 * units)),
        "b": rng.normal(size=4 * units), "p_i": rng.normal(size=units), "p_f": rng.normal(size=units),
        "p_o": rng.normal(size=units),
    }
    cell.set_weights([weights[k].astype(np.float32) for k in ("W", "R", "b", "p_i", "p_f", "p_o")])
    return cell, weights


def test_peephole_cell_one_step_matches_the_vanilla_equations():
    cell, w = _random_cell()
    rng = np.random.default_rng(1)
    x, y, c = rng.normal(size=(2, 2)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    out, (y_new, c_new) = cell(x.astype(np.float32), [y.astype(np.float32), c.astype(np.float32)])
    y_ref, c_ref = _vanilla_step(x, y, c, **w)
    np.testing.assert_allclose(_np(out), y_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(y_new), y_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(c_new), c_ref, rtol=1e-5, atol=1e-6)
    # The peepholes matter: zeroing them changes the step.
    y_plain, _ = _vanilla_step(x, y, c, **{**w, "p_i": 0 * w["p_i"], "p_f": 0 * w["p_f"], "p_o": 0 * w["p_o"]})
    assert not np.allclose(y_plain, y_ref, atol=1e-3)


def test_peephole_cell_without_peepholes_is_keras_lstm_cell():
    cell, w = _random_cell(seed=2)
    zeros = np.zeros(3, dtype=np.float32)
    cell.set_weights([w["W"], w["R"], w["b"], zeros, zeros, zeros])
    reference = keras.layers.LSTMCell(3)
    reference.build((None, 2))
    reference.set_weights([w["W"], w["R"], w["b"]])
    rng = np.random.default_rng(3)
    x, y, c = (rng.normal(size=s).astype(np.float32) for s in [(2, 2), (2, 3), (2, 3)])
    np.testing.assert_allclose(_np(cell(x, [y, c])[0]), _np(reference(x, [y, c])[0]), rtol=1e-5, atol=1e-6)


def test_peephole_cell_defaults_and_config():
    cell = PeepholeLSTMCell(4)
    cell.build((None, 3))
    assert [tuple(v.shape) for v in cell.weights] == [(3, 16), (4, 16), (16,), (4,), (4,), (4,)]
    np.testing.assert_array_equal(_np(cell.bias), [0] * 4 + [1] * 4 + [0] * 8)  # unit forget bias
    clone = PeepholeLSTMCell.from_config(cell.get_config())
    assert clone.units == 4 and clone.state_size == [4, 4]
    with pytest.raises(ValueError, match="units"):
        PeepholeLSTMCell(0)


def test_rnn_over_a_masked_sequence_matches_the_numpy_loop():
    cell, w = _random_cell(seed=4)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    x = np.random.default_rng(5).normal(size=(1, 3, 2)).astype(np.float32)
    mask = np.array([[True, True, False]])
    out = _np(rnn(x, mask=mask))
    y, c = np.zeros((1, 3)), np.zeros((1, 3))
    for t in range(2):
        y, c = _vanilla_step(x[:, t], y, c, **w)
        np.testing.assert_allclose(out[:, t], y, rtol=1e-5, atol=1e-6)


def test_mean_over_time_ignores_padding():
    x = np.array([[[1.0, 2.0], [3.0, 4.0], [50.0, 60.0]], [[7.0, 8.0], [0.5, 0.5], [9.0, 9.0]]], dtype=np.float32)
    mask = np.array([[True, True, False], [False, False, False]])
    out = _np(MeanOverTime()(x, mask=mask))
    np.testing.assert_allclose(out, [[2.0, 3.0], [0.0, 0.0]])  # an all-padding row: zeros, not NaN
    np.testing.assert_allclose(_np(MeanOverTime()(x)), [[18.0, 22.0], [5.5, 17.5 / 3]], rtol=1e-6)
    layer = MeanOverTime(name="mean")
    assert MeanOverTime.from_config(layer.get_config()).name == "mean"
    assert layer.compute_output_shape((None, 7, 5)) == (None, 5)


def test_paper_configuration():
    model = models.build("word_lstm", num_classes=4, vocab_size=50_002, input_length=256)
    assert models.feature_of("word_lstm") == "word_ids"
    assert model.inputs[0].name == "word_ids" and model.inputs[0].shape == (None, 256)
    assert model.get_layer("embedding").output.shape == (None, 256, 300)
    assert isinstance(model.get_layer("lstm").cell, PeepholeLSTMCell)
    assert model.get_layer("lstm").output.shape == (None, 256, 512)
    assert model.get_layer("mean").output.shape == (None, 512)
    lstm = 4 * (300 * 512 + 512 * 512 + 512) + 3 * 512  # W, R, b and the three peephole vectors
    assert model.get_layer("lstm").count_params() == lstm == 1_666_560
    assert model.count_params() == 50_002 * 300 + lstm + (512 * 4 + 4) == 16_669_212
    plain = models.build("word_lstm", num_classes=4, vocab_size=50_002, input_length=256, peepholes=False)
    assert isinstance(plain.get_layer("lstm"), keras.layers.LSTM)
    assert plain.get_layer("lstm").count_params() == lstm - 3 * 512
    assert word_lstm.GLOBAL_CLIPNORM == 5.0


def test_padding_does_not_change_the_prediction():
    model = models.build("word_lstm", **TINY)  # input_length=None: any length
    short = _np(model(np.array([[3, 7, 5]])))
    padded = _np(model(np.array([[3, 7, 5, 0, 0, 0, 0]])))
    np.testing.assert_allclose(padded, short, rtol=1e-5, atol=1e-7)
    assert not np.allclose(_np(model(np.array([[3, 7, 5, 2, 2, 2, 2]]))), short, atol=1e-7)


def test_mean_is_over_the_lstm_outputs_then_logistic_regression():
    model = models.build("word_lstm", **TINY, input_length=4)
    ids = np.array([[4, 9, 0, 0]])
    frames = _np(model.get_layer("embedding")(ids))
    outputs = _np(model.get_layer("lstm")(frames, mask=ids != 0))
    feature = outputs[0, :2].mean(axis=0)
    kernel, bias = (_np(v) for v in model.get_layer("logits").weights)
    logits = feature @ kernel + bias
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(_np(model(ids))[0], expected, rtol=1e-5)


def test_word2vec_embeddings_are_fine_tuned_by_default(word2vec_file):
    vocab = ["the", "paris", "nowhere"] + [""] * 7
    model = models.build("word_lstm", **TINY, vocab=vocab, embeddings=word2vec_file)
    layer = model.get_layer("embedding")
    np.testing.assert_array_equal(_np(layer.embeddings)[3], W2V_VECTORS[W2V_WORDS.index("paris")])
    assert layer.trainable and any(v is layer.embeddings for v in model.trainable_weights)
    frozen = models.build("word_lstm", **TINY, vocab=vocab, embeddings=word2vec_file, train_embeddings=False)
    assert not any(v is frozen.get_layer("embedding").embeddings for v in frozen.trainable_weights)
    with pytest.raises(ValueError, match="needs the vocabulary"):
        models.build("word_lstm", **TINY, embeddings=word2vec_file)


def _clipping_step(global_norm: float):
    """One SGD step (lr 0.1, global_clipnorm 5, momentum 0: the optimizer the config makes) on the
    word LSTM for the loss scaled so that its gradients' global norm is ``global_norm``.

    Returns (weights before, weights after, gradients) per trainable variable."""
    import tensorflow as tf

    from tfpipe import config
    from tfpipe.training.optimizers import make_optimizer

    train = config.from_dict(
        {"train": {"optimizer": "sgd", "momentum": 0.0, "learning_rate": 0.1, "global_clipnorm": 5.0}}
    ).train
    optimizer = make_optimizer(train)
    keras.utils.set_random_seed(0)
    model = models.build("word_lstm", **TINY, input_length=4)
    x, y = np.array([[3, 4, 5, 0], [6, 0, 0, 0]]), np.array([0, 2])
    variables = model.trainable_variables

    def gradients(scale):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True)))
            loss = scale * loss
        return [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]

    unit = np.sqrt(sum(float(tf.reduce_sum(tf.square(g))) for g in gradients(1.0)))
    grads = gradients(global_norm / unit)
    before = [_np(v).copy() for v in variables]
    optimizer.apply_gradients(zip(grads, variables))
    return before, [_np(v) for v in variables], [_np(g).astype(np.float64) for g in grads]


def _assert_step(before, after, expected):
    for b, a, e in zip(before, after, expected):
        # float32 weights: a step is exact up to the rounding of the weights themselves.
        tolerance = 2.0**-22 * (np.abs(b) + np.abs(a)) + 1e-5 * np.abs(e)
        assert np.all(np.abs((a.astype(np.float64) - b) - e) <= tolerance)


def test_gradient_clipping_limits_the_global_norm_to_5():
    before, after, grads = _clipping_step(1000.0)
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    assert norm == pytest.approx(1000.0, rel=1e-4)  # far above the limit
    _assert_step(before, after, [-0.1 * 5.0 * g / norm for g in grads])
    step = np.sqrt(sum(((a.astype(np.float64) - b) ** 2).sum() for a, b in zip(after, before)))
    assert step == pytest.approx(0.1 * 5.0, rel=1e-3)


def test_gradients_below_the_limit_are_not_clipped():
    before, after, grads = _clipping_step(3.0)
    assert np.sqrt(sum((g**2).sum() for g in grads)) == pytest.approx(3.0, rel=1e-4)
    _assert_step(before, after, [-0.1 * g for g in grads])


def test_training_step_and_save(tmp_path):
    model = models.build("word_lstm", **TINY, input_length=6)
    x = np.array([[3, 4, 5, 0, 0, 0], [6, 7, 8, 9, 10, 11]])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(x, np.array([0, 1])))
    path = str(tmp_path / "word_lstm.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("lstm").cell, PeepholeLSTMCell)
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), rtol=1e-6)


def test_float32_output_under_mixed_bfloat16():
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = models.build("word_lstm", **TINY, input_length=4)
        out = model(np.array([[3, 4, 0, 0]]))
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert model.get_layer("lstm").cell.kernel.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_model_code_is_backend_neutral():
    from tfpipe.layers import peephole_lstm, pooling

    for module in (word_lstm, peephole_lstm, pooling):
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
    "m = models.build('word_lstm', num_classes=3, vocab_size=12, embedding_dim=4, units=5);"
    "a = keras.ops.convert_to_numpy(m(np.array([[3, 7, 5]])));"
    "b = keras.ops.convert_to_numpy(m(np.array([[3, 7, 5, 0, 0]])));"
    "assert keras.backend.backend() == 'jax' and a.shape == (1, 3) and np.allclose(a, b, atol=1e-6)"
)


def test_runs_on_the_jax_backend(jax_backend):
    assert jax_backend[__name__] is None, jax_backend[__name__]
