"""Reed et al. (2016)'s CNN-RNN encoders: shapes, the frame arithmetic, and the recurrence by hand."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tfpipe.models import cnn_rnn, encoders


def test_the_frame_arithmetic_is_the_papers():
    assert cnn_rnn.frame_lengths(201, cnn_rnn.CHAR_STAGES) == [201, 198, 66, 63, 21, 18, 8]
    assert cnn_rnn.frame_lengths(30, cnn_rnn.WORD_STAGES) == [30, 28, 27, 9, 8]
    with pytest.raises(ValueError, match="too short"):
        cnn_rnn.frame_lengths(20, cnn_rnn.CHAR_STAGES)


def test_char_cnn_rnn_layers_and_shapes():
    model = encoders.build_encoder("char_cnn_rnn", dim=1280)
    shapes = {layer.name: tuple(layer.output.shape) for layer in model.layers}
    assert "one_hot" not in shapes  # conv1 convolves the one-hot characters as a gather
    assert tuple(model.get_layer("conv1").kernel.shape) == (4, 70, 384)
    assert [shapes[n] for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "pool3")] == [
        (None, 198, 384), (None, 66, 384), (None, 63, 512), (None, 21, 512), (None, 18, 256), (None, 8, 256)]
    assert shapes["rnn"] == (None, 8, 256) and shapes["mean"] == (None, 256)
    assert shapes["embedding_out"] == (None, 1280)
    chars = np.random.default_rng(0).integers(0, 71, size=(3, 201)).astype(np.uint8)
    assert np.asarray(model(chars)).shape == (3, 1280)
    # Uniform +-0.08 initialisation, the authors' code's.
    w = model.get_layer("conv2").get_weights()[0]
    assert np.abs(w).max() <= 0.08 and np.abs(w).max() > 0.07
    assert model.get_layer("rnn").get_config()["activation"] == "relu"


def test_word_cnn_rnn_shapes():
    model = encoders.build_encoder("word_cnn_rnn", dim=16, vocab_size=50, embedding_dim=8)
    shapes = {layer.name: tuple(layer.output.shape) for layer in model.layers}
    assert [shapes[n] for n in ("conv1", "conv2", "pool2", "conv3", "rnn", "mean", "embedding_out")] == [
        (None, 28, 512), (None, 27, 512), (None, 9, 512), (None, 8, 512), (None, 8, 512), (None, 512), (None, 16)]
    ids = np.random.default_rng(1).integers(0, 50, size=(2, 30))
    assert np.asarray(model(ids)).shape == (2, 16)


def test_the_recurrence_mean_and_linear_map_by_hand():
    model = encoders.build_encoder("char_cnn_rnn", dim=5, rnn_units=4)
    chars = np.random.default_rng(2).integers(1, 71, size=(2, 201)).astype(np.uint8)
    pooled = np.asarray(keras.Model(model.input, model.get_layer("pool3").output)(chars))  # [2, 8, 256]
    w, u, b = model.get_layer("rnn").get_weights()
    h = np.zeros((2, 4), np.float32)
    outs = []
    for t in range(8):  # h_t = relu(x_t W + h_{t-1} U + b)
        h = np.maximum(pooled[:, t] @ w + h @ u + b, 0)
        outs.append(h)
    k, c = model.get_layer("embedding_out").get_weights()
    expect = np.mean(outs, axis=0) @ k + c
    np.testing.assert_allclose(np.asarray(model(chars)), expect, rtol=1e-4, atol=1e-6)


def test_cnn_rnn_errors_name_the_problem():
    with pytest.raises(ValueError, match="dim must be positive"):
        encoders.build_encoder("char_cnn_rnn", dim=0)
    with pytest.raises(ValueError, match="init_range must be positive"):
        encoders.build_encoder("char_cnn_rnn", dim=4, init_range=0)
    with pytest.raises(ValueError, match="too short"):
        encoders.build_encoder("word_cnn_rnn", dim=4, vocab_size=10, max_words=6)  # 6 -> 4 -> 3 -> 1 -> 0
