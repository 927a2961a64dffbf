"""IndexConv1D's two ways of summing kernel taps (tfpipe.layers.index_conv): taps gathered two at a
time from a table of their sums (small vocabularies) and one at a time (vocabularies above
PAIR_TABLE_MAX_ROWS), each equal to OneHot + Conv1D with the same kernel and bias, in outputs and in
the gradients of the kernel and bias, for odd and even kernel sizes."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpipe.layers import IndexConv1D, OneHot
from tfpipe.layers import index_conv


@pytest.mark.parametrize("vocab, kernel", [(5, 4), (5, 7), (70, 7), (130, 3), (130, 2)])
def test_pairs_and_single_taps_equal_one_hot_conv(vocab, kernel):
    assert ((vocab + 1) ** 2 <= index_conv.PAIR_TABLE_MAX_ROWS) == (vocab < 128)  # both paths are tried
    filters, length = 6, 19
    rng = np.random.default_rng(vocab + kernel)
    ids = rng.integers(0, vocab + 4, size=(3, length))  # 0, 1..vocab and above vocab (zero rows)
    ids[0, :5] = 0
    layer = IndexConv1D(vocab, filters, kernel, kernel_initializer="random_normal",
                        bias_initializer="random_normal")
    layer.build((None, length))
    conv = keras.layers.Conv1D(filters, kernel, padding="valid")
    conv.build((None, None, vocab))
    conv.set_weights(layer.get_weights())
    x = tf.constant(ids, tf.int64)
    upstream = tf.constant(rng.normal(size=(3, length - kernel + 1, filters)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        ours, theirs = layer(x), conv(OneHot(vocab)(x))
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=1e-5)
    for g, h in zip(tape.gradient(ours, [layer.kernel, layer.bias], output_gradients=upstream),
                    tape.gradient(theirs, [conv.kernel, conv.bias], output_gradients=upstream)):
        np.testing.assert_allclose(np.asarray(tf.convert_to_tensor(g)), np.asarray(h), atol=1e-5)
    w, b = layer.get_weights()  # one output frame by hand
    by_hand = b + sum(w[j, i - 1] for j, i in enumerate(ids[1, 3:3 + kernel]) if 1 <= i <= vocab)
    np.testing.assert_allclose(np.asarray(ours)[1, 3], by_hand, atol=1e-5)
