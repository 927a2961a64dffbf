"""Reed et al. (2016)'s other encoders (the authors' Torch modules): the document CNNs, the character
LSTM and the attribute encoder; and IndexConv1D, the one-hot convolution as a gather."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpipe.data.inputs import CLASS_VECTORS, FEATURES
from tfpipe.layers import IndexConv1D, OneHot
from tfpipe.models import cnn_rnn, encoders


def _shapes(model):
    return {layer.name: tuple(layer.output.shape) for layer in model.layers}


def _onehot_conv(vocab, filters, kernel, layer):
    """OneHot(vocab) + Conv1D('valid') holding ``layer``'s kernel and bias."""
    conv = keras.layers.Conv1D(filters, kernel, padding="valid")
    conv.build((None, None, vocab))
    conv.set_weights(layer.get_weights())  # the same [k, vocab, filters] kernel
    return lambda ids: conv(OneHot(vocab)(ids)), conv


# ---------------------------------------------------------------- IndexConv1D


def test_index_conv_equals_onehot_then_conv1d_outputs_and_gradients():
    vocab, filters, kernel = 11, 5, 3
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab + 3, size=(4, 9))  # 0s, 1..vocab and ids above vocab (zero rows too)
    ids[0, :4] = 0
    ids[1, -3:] = vocab
    layer = IndexConv1D(vocab, filters, kernel, kernel_initializer="random_normal", bias_initializer="random_normal")
    layer.build((None, 9))
    assert tuple(layer.kernel.shape) == (kernel, vocab, filters) and layer.kernel.dtype == "float32"
    reference, conv = _onehot_conv(vocab, filters, kernel, layer)
    x = tf.constant(ids, tf.int64)
    with tf.GradientTape(persistent=True) as tape:
        out, expect = layer(x), reference(x)
        weights = tf.constant(rng.normal(size=(4, 7, filters)), tf.float32)  # a loss that weighs every output
        loss, loss_ref = tf.reduce_sum(out * weights), tf.reduce_sum(expect * weights)
    assert tuple(out.shape) == (4, 9 - kernel + 1, filters)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expect), atol=1e-5)
    for ours, theirs in zip(tape.gradient(loss, [layer.kernel, layer.bias]),
                            tape.gradient(loss_ref, [conv.kernel, conv.bias])):
        np.testing.assert_allclose(np.asarray(tf.convert_to_tensor(ours)), np.asarray(theirs), atol=1e-5)
    # out[b, t] = bias + sum_j W[j, ids[b, t + j] - 1] by hand, on one position.
    w, b = layer.get_weights()
    row = ids[2, 4:4 + kernel]
    by_hand = b + sum(w[j, i - 1] for j, i in enumerate(row) if 1 <= i <= vocab)
    np.testing.assert_allclose(np.asarray(out)[2, 4], by_hand, atol=1e-5)


def test_index_conv_activation_config_and_any_length():
    layer = IndexConv1D(6, 4, 2, activation="relu", kernel_initializer="random_normal", name="c")
    ids = keras.Input(shape=(None,), dtype="int64")
    model = keras.Model(ids, layer(ids))
    x = np.random.default_rng(1).integers(0, 7, size=(3, 12))
    out = np.asarray(model(x))
    assert out.shape == (3, 11, 4) and out.min() >= 0
    reference, _ = _onehot_conv(6, 4, 2, layer)
    np.testing.assert_allclose(out, np.maximum(np.asarray(reference(x)), 0), atol=1e-5)
    clone = IndexConv1D.from_config(layer.get_config())
    assert (clone.vocab_size, clone.filters, clone.kernel_size) == (6, 4, 2)
    assert clone.get_config()["activation"] == "relu"
    with pytest.raises(ValueError, match="shorter than the kernel"):
        IndexConv1D(6, 4, 5)(keras.Input(shape=(3,), dtype="int64"))


def test_index_conv_keeps_float32_weights_under_a_mixed_policy():
    layer = IndexConv1D(5, 3, 2, dtype="mixed_bfloat16")
    out = layer(np.array([[1, 2, 0, 5]]))
    assert layer.kernel.dtype == "float32" and out.dtype == "bfloat16" and tuple(out.shape) == (1, 3, 3)


# ---------------------------------------------------------------- the document CNNs


def test_the_document_cnns_frame_arithmetic():
    assert cnn_rnn.frame_lengths(201, cnn_rnn.DOC_CHAR_STAGES) == [201, 198, 66, 63, 21, 18, 6]
    assert cnn_rnn.frame_lengths(30, cnn_rnn.DOC_WORD_STAGES) == [30, 28, 9, 7, 5]  # the code's Reshape(1280)
    assert 6 * 256 == 1536 and 5 * 256 == 1280


def test_char_cnn_doc_layers_shapes_and_init():
    model = encoders.build_encoder("char_cnn_doc", dim=32)
    shapes = _shapes(model)
    assert "one_hot" not in shapes and isinstance(model.get_layer("conv1"), IndexConv1D)  # the gather
    assert tuple(model.get_layer("conv1").kernel.shape) == (4, 70, 256)
    assert [shapes[n] for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "pool3")] == [
        (None, 198, 256), (None, 66, 256), (None, 63, 256), (None, 21, 256), (None, 18, 256), (None, 6, 256)]
    assert [shapes[n] for n in ("flatten", "fc1", "dropout", "embedding_out")] == [
        (None, 1536), (None, 1024), (None, 1024), (None, 32)]
    for name in ("conv1", "conv3", "fc1", "embedding_out"):
        w, b = model.get_layer(name).get_weights()
        assert 0.07 < np.abs(w).max() <= 0.08 and not b.any()  # U(-0.08, 0.08), biases zero
    chars = np.random.default_rng(2).integers(0, 71, size=(2, 201)).astype(np.uint8)
    assert np.asarray(model(chars)).shape == (2, 32)


def test_the_document_cnn_head_is_linear_linear():
    model = encoders.build_encoder("char_cnn_doc", dim=7, dropout=0.3)
    assert model.get_layer("fc1").get_config()["activation"] == "linear"
    assert model.get_layer("embedding_out").get_config()["activation"] == "linear"
    assert model.get_layer("dropout").rate == pytest.approx(0.3)
    chars = np.random.default_rng(3).integers(1, 71, size=(3, 201)).astype(np.uint8)
    flat = np.asarray(keras.Model(model.input, model.get_layer("flatten").output)(chars))
    w1, b1 = model.get_layer("fc1").get_weights()
    w2, b2 = model.get_layer("embedding_out").get_weights()
    hidden = flat @ w1 + b1
    assert (hidden < 0).any()  # a ReLU between the two would change the output
    np.testing.assert_allclose(np.asarray(model(chars, training=False)), hidden @ w2 + b2, rtol=1e-4, atol=1e-5)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(np.asarray(model(chars)), np.maximum(hidden, 0) @ w2 + b2, rtol=1e-4, atol=1e-5)


def test_word_cnn_doc_convolves_the_one_hot_vocabulary():
    vocab = 40
    model = encoders.build_encoder("word_cnn_doc", dim=16, vocab_size=vocab)
    shapes = _shapes(model)
    assert [shapes[n] for n in ("conv1", "pool1", "conv2", "conv3", "flatten", "fc1", "embedding_out")] == [
        (None, 28, 256), (None, 9, 256), (None, 7, 256), (None, 5, 256), (None, 1280), (None, 1024), (None, 16)]
    conv1 = model.get_layer("conv1")
    assert isinstance(conv1, IndexConv1D) and tuple(conv1.kernel.shape) == (3, vocab, 256)
    assert 0.07 < np.abs(conv1.get_weights()[0]).max() <= 0.08
    assert not any("embedding" == layer.name for layer in model.layers)  # no separate lookup table
    ids = np.random.default_rng(4).integers(0, vocab, size=(2, 30))
    ids[:, 20:] = 0
    reference, _ = _onehot_conv(vocab, 256, 3, conv1)
    first = np.asarray(keras.Model(model.input, conv1.output)(ids))
    np.testing.assert_allclose(first, np.maximum(np.asarray(reference(ids)), 0), atol=1e-5)  # TemporalConv + ReLU
    assert np.asarray(model(ids)).shape == (2, 16)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(clone(ids)), np.asarray(model(ids)), atol=1e-6)


def test_document_cnn_errors():
    with pytest.raises(ValueError, match="dropout"):
        encoders.build_encoder("char_cnn_doc", dim=4, dropout=1.0)
    with pytest.raises(ValueError, match="too short"):
        encoders.build_encoder("word_cnn_doc", dim=4, vocab_size=10, max_words=10)  # 10 -> 8 -> 2 -> 0
    with pytest.raises(ValueError, match="dim must be positive"):
        encoders.build_encoder("word_cnn_doc", dim=0, vocab_size=10)


# ---------------------------------------------------------------- the character LSTM


def _lstm_tower(model):
    """The char LSTM's tower (mask, one-hot, LSTM, mean), which runs on the batch's length slices."""
    return model.get_layer("length_chunks").tower


def _reference_lstm(model, frames):
    """A fresh unmasked LSTM with ``model``'s weights run on ``frames [1, n, 70]``: its mean output."""
    lstm = _lstm_tower(model).get_layer("lstm")
    fresh = keras.layers.LSTM(lstm.units, return_sequences=True, unit_forget_bias=False)
    fresh.build(frames.shape)
    fresh.set_weights(lstm.get_weights())
    return np.asarray(fresh(frames)).mean(axis=1)


def test_char_lstm_shapes_and_init():
    model = encoders.build_encoder("char_lstm")
    assert tuple(model.input.shape) == (None, 201) and tuple(model.output.shape) == (None, 512)
    shapes = _shapes(_lstm_tower(model))  # each slice of the batch, cut to its longest text
    assert shapes["one_hot"] == (None, None, 70) and shapes["lstm"] == (None, None, 512)
    assert shapes["mean"] == (None, 512)
    kernel, recurrent, bias = _lstm_tower(model).get_layer("lstm").get_weights()
    assert kernel.shape == (70, 4 * 512)
    assert 0.07 < np.abs(kernel).max() <= 0.08 and 0.07 < np.abs(recurrent).max() <= 0.08 and not bias.any()


def test_char_lstm_ignores_the_trailing_padding_only():
    model = encoders.build_encoder("char_lstm", units=6)
    rng = np.random.default_rng(5)
    text = rng.integers(1, 71, size=40)
    text[10] = 0  # a character outside the alphabet inside the text: read as a zero frame
    short, longer = np.zeros((1, 201), np.uint8), np.zeros((1, 201), np.uint8)
    short[0, :35], longer[0, :40] = text[:35], text
    batch = np.concatenate([short, longer])  # rows of different lengths in one batch
    got = np.asarray(model(batch))
    one_hot = lambda row, n: np.asarray(OneHot(70)(row[None, :n]))  # noqa: E731
    # The masked mean equals an LSTM run on the text alone (the zero at 10 included) ...
    np.testing.assert_allclose(got[0], _reference_lstm(model, one_hot(short[0], 35))[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], _reference_lstm(model, one_hot(longer[0], 40))[0], rtol=1e-5, atol=1e-6)
    # ... and not the mean over all 201 steps, nor the text with its inner zero skipped.
    assert not np.allclose(got[1], _reference_lstm(model, one_hot(longer[0], 201))[0], atol=1e-4)
    skipped = np.delete(longer[0, :40], 10)
    assert not np.allclose(got[1], _reference_lstm(model, one_hot(skipped, 39))[0], atol=1e-4)
    mask = np.asarray(cnn_rnn.TrailingPaddingMask()(batch))
    assert mask[1, :40].all() and not mask[1, 40:].any() and mask[0].sum() == 35


def test_char_lstm_on_length_slices_equals_all_201_steps_outputs_and_gradients():
    # The chunked, trimmed LSTM against the plain one (one-hot -> masked LSTM over all 201 steps ->
    # masked mean) holding the same weights, on texts of many lengths (one empty, one full).
    model = encoders.build_encoder("char_lstm", units=8)
    rng = np.random.default_rng(11)
    lengths = [0, 1, 7, 30, 31, 90, 150, 201, 12, 64, 5]
    chars = np.zeros((len(lengths), 201), np.uint8)
    for row, n in enumerate(lengths):
        chars[row, :n] = rng.integers(1, 71, size=n)
    chars[3, 4] = 0  # an inner zero stays part of the text
    inputs = keras.Input(shape=(201,), dtype="uint8")
    mask = cnn_rnn.TrailingPaddingMask()(inputs)
    plain_lstm = keras.layers.LSTM(8, return_sequences=True, unit_forget_bias=False)
    from tfpipe.layers import MeanOverTime
    plain = keras.Model(inputs, MeanOverTime()(plain_lstm(OneHot(70)(inputs), mask=mask), mask=mask))
    plain_lstm.set_weights(_lstm_tower(model).get_layer("lstm").get_weights())
    x = tf.constant(chars)
    target = tf.constant(rng.normal(size=(len(lengths), 8)).astype(np.float32))

    def value_and_grads(m):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(m(x) * target)
        return m(x), tape.gradient(loss, m.trainable_variables)

    got, got_grads = value_and_grads(model)
    want, want_grads = value_and_grads(plain)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    assert not np.asarray(got)[0].any()  # the empty text: a zero vector
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-6)


def test_char_lstm_round_trips_its_config():
    model = encoders.build_encoder("char_lstm", l0=20, units=3)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    chars = np.zeros((1, 20), np.uint8)
    chars[0, :12] = np.arange(1, 13)
    np.testing.assert_allclose(np.asarray(clone(chars)), np.asarray(model(chars)), atol=1e-6)


# ---------------------------------------------------------------- attributes and the registry


def test_the_attribute_encoder_passes_its_input_through():
    model = encoders.build_encoder("attributes", num_attributes=312)
    assert model.input.name == "attributes" and tuple(model.output.shape) == (None, 312)
    x = np.random.default_rng(6).random((3, 312)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(model(x)), x)
    assert encoders.encode("attributes", num_attributes=4).dim == 4
    with pytest.raises(ValueError, match="num_attributes"):
        encoders.build_encoder("attributes")


def test_the_registry_lists_them_with_their_features():
    expected = {"char_cnn_doc": ("chars",), "word_cnn_doc": ("word_ids",), "char_lstm": ("chars",),
                "attributes": ("attributes",)}
    assert set(expected) <= set(encoders.names())
    assert {name: encoders.features_of(name) for name in expected} == expected
    assert encoders.required_keys("char_cnn_doc") == ["dim"]
    assert encoders.required_keys("word_cnn_doc") == ["dim", "vocab_size"]
    assert encoders.required_keys("char_lstm") == [] and encoders.required_keys("attributes") == ["num_attributes"]
    assert CLASS_VECTORS == ("attributes",) and "attributes" not in FEATURES  # text featurizers iterate FEATURES
    with pytest.raises(ValueError, match="valid features"):
        encoders.register("nope", features=("colours",))
