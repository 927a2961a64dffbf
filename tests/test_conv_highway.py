"""ConvHighway: You et al. (2018) eqs. 7-8 with causal (left) zero padding, against numpy."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tfpipe.layers import ConvHighway


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _causal_conv(x, kernel, bias):
    """numpy: out[b, t] = bias + sum_j x[b, t - k + 1 + j] @ kernel[j], zeros before the start."""
    k = kernel.shape[0]
    padded = np.concatenate([np.zeros((x.shape[0], k - 1, x.shape[2]), x.dtype), x], axis=1)
    out = np.zeros((x.shape[0], x.shape[1], kernel.shape[2]), np.float64)
    for t in range(x.shape[1]):
        for j in range(k):
            out[:, t] += padded[:, t + j] @ kernel[j]
    return out + bias


def _reference(x, gk, gb, hk, hb, act=lambda v: v):
    gate = 1.0 / (1.0 + np.exp(-_causal_conv(x, gk, gb)))  # eq. 7
    return gate * act(_causal_conv(x, hk, hb)) + (1.0 - gate) * x  # eq. 8


def _layer_with_weights(kernel_size, channels, rng, **kwargs):
    layer = ConvHighway(kernel_size, **kwargs)
    layer.build((None, None, channels))
    weights = {
        "gate_kernel": rng.normal(size=(kernel_size, channels, channels)),
        "gate_bias": rng.normal(size=(channels,)),
        "transform_kernel": rng.normal(size=(kernel_size, channels, channels)),
        "transform_bias": rng.normal(size=(channels,)),
    }
    for name, value in weights.items():
        getattr(layer, name).assign(value.astype(np.float32))
    return layer, {k: v.astype(np.float32) for k, v in weights.items()}


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_matches_numpy_eqs_7_8(kernel_size):
    rng = np.random.default_rng(0)
    layer, w = _layer_with_weights(kernel_size, 3, rng)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    out = _np(layer(x))
    assert out.shape == (2, 5, 3) and out.dtype == np.float32
    expected = _reference(x, w["gate_kernel"], w["gate_bias"], w["transform_kernel"], w["transform_bias"])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_activation_option_applies_to_the_transform():
    rng = np.random.default_rng(1)
    layer, w = _layer_with_weights(3, 2, rng, activation="relu")
    x = rng.normal(size=(1, 4, 2)).astype(np.float32)
    expected = _reference(x, w["gate_kernel"], w["gate_bias"], w["transform_kernel"], w["transform_bias"],
                          act=lambda v: np.maximum(v, 0.0))
    np.testing.assert_allclose(_np(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_is_causal():
    rng = np.random.default_rng(2)
    layer, _ = _layer_with_weights(3, 4, rng)
    x = rng.normal(size=(2, 6, 4)).astype(np.float32)
    base = _np(layer(x))
    for t in range(6):
        changed = x.copy()
        changed[:, t] += 5.0
        out = _np(layer(changed))
        np.testing.assert_array_equal(out[:, :t], base[:, :t])  # earlier outputs: untouched
        assert not np.allclose(out[:, t], base[:, t])
        if t + 3 < 6:  # the kernel of 3 reaches outputs t..t+2 only
            np.testing.assert_array_equal(out[:, t + 3:], base[:, t + 3:])


def test_shapes_weights_and_gate_bias():
    layer = ConvHighway(3, gate_bias_initializer=keras.initializers.Constant(-2.0))
    out = layer(np.zeros((2, 7, 5), np.float32))
    assert out.shape == (2, 7, 5)
    assert layer.compute_output_shape((None, 7, 5)) == (None, 7, 5)
    assert sorted(v.path.split("/")[-1] for v in layer.weights) == [
        "gate_bias", "gate_kernel", "transform_bias", "transform_kernel"]
    assert layer.gate_kernel.shape == (3, 5, 5) and layer.count_params() == 2 * (3 * 5 * 5 + 5)
    np.testing.assert_array_equal(_np(layer.gate_bias), -2.0)
    with pytest.raises(ValueError, match="kernel_size"):
        ConvHighway(0)


def test_config_round_trip_and_save(tmp_path):
    layer = ConvHighway(5, activation="tanh", gate_bias_initializer="ones", name="hw")
    config = layer.get_config()
    assert config["kernel_size"] == 5 and config["activation"] == "tanh" and config["name"] == "hw"
    clone = ConvHighway.from_config(config)
    assert clone.kernel_size == 5 and clone.get_config() == config

    inputs = keras.Input(shape=(None, 3))
    model = keras.Model(inputs, ConvHighway(3, name="hw")(inputs))
    x = np.random.default_rng(3).normal(size=(2, 4, 3)).astype(np.float32)
    path = str(tmp_path / "hw.keras")
    model.save(path)
    np.testing.assert_allclose(_np(keras.models.load_model(path)(x)), _np(model(x)), rtol=1e-6)


def test_mixed_precision_computes_in_the_compute_dtype():
    layer = ConvHighway(3, dtype="mixed_bfloat16")
    out = layer(np.ones((1, 4, 2), np.float32))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(layer.gate_kernel.dtype) == "float32"


def test_one_matmul_equals_two_causal_conv1d_in_outputs_and_gradients():
    # The layer's single GEMM against Keras' own causal Conv1D pair holding the same kernels.
    import tensorflow as tf
    rng = np.random.default_rng(3)
    layer = _layer_with_weights(3, 6, rng)[0]
    conv_g = keras.layers.Conv1D(6, 3, padding="causal")
    conv_h = keras.layers.Conv1D(6, 3, padding="causal")
    for conv in (conv_g, conv_h):
        conv.build((None, None, 6))
    conv_g.set_weights([_np(layer.gate_kernel), _np(layer.gate_bias)])
    conv_h.set_weights([_np(layer.transform_kernel), _np(layer.transform_bias)])
    x = tf.constant(rng.normal(size=(4, 9, 6)).astype(np.float32))
    weights = tf.constant(rng.normal(size=(4, 9, 6)).astype(np.float32))

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        got = layer(x)
        gate = tf.sigmoid(conv_g(x))
        want = gate * conv_h(x) + (1.0 - gate) * x
        got_loss, want_loss = tf.reduce_sum(got * weights), tf.reduce_sum(want * weights)
    np.testing.assert_allclose(_np(got), _np(want), rtol=1e-5, atol=1e-5)
    got_grads = tape.gradient(got_loss, [x, layer.gate_kernel, layer.gate_bias, layer.transform_kernel,
                                         layer.transform_bias])
    want_grads = tape.gradient(want_loss, [x, conv_g.kernel, conv_g.bias, conv_h.kernel, conv_h.bias])
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-5, atol=1e-5)
