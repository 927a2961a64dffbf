"""LengthChunked: the CSE text tower on length-sorted chunks equals the tower on the whole padded batch."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpipe.layers import LengthChunked
from tfpipe.models import encoders


def _tower():
    enc = encoders.encode("cse_text", vocab_size=30, filters=8)
    local = keras.layers.Dense(16, name="local_dense")(enc.local)
    return enc.model({"global": enc.embedding, "local": local, "mask": enc.local_mask}, name="tower")


def _batch(rng, rows=11, width=9):
    lengths = rng.integers(1, width + 1, size=rows)
    lengths[3] = 0  # an empty caption
    ids = np.zeros((rows, width + 3), np.int64)  # three columns of padding in every row
    for r, n in enumerate(lengths):
        ids[r, :n] = rng.integers(2, 30, size=n)
    return ids, lengths


@pytest.mark.parametrize("chunks", [1, 3, 4, 20])
def test_outputs_equal_the_whole_padded_batch(chunks):
    rng = np.random.default_rng(chunks)
    tower = _tower()
    ids, lengths = _batch(rng)
    want = tower(ids)
    got = LengthChunked(tower, chunks)(ids)
    width = int(lengths.max())
    np.testing.assert_allclose(np.asarray(got["global"]), np.asarray(want["global"]), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(got["mask"]), np.asarray(want["mask"])[:, :width])
    real = np.asarray(want["mask"])[:, :width, None] > 0
    # real positions equal; positions past a row's length are zeros (the mask says padding)
    np.testing.assert_allclose(np.where(real, np.asarray(got["local"]), 0),
                               np.where(real, np.asarray(want["local"])[:, :width], 0), rtol=1e-5, atol=1e-5)
    assert np.asarray(got["local"]).shape == (len(ids), width, 16)


def test_gradients_equal_the_whole_padded_batch():
    rng = np.random.default_rng(7)
    tower = _tower()
    ids, _ = _batch(rng)
    chunked = LengthChunked(tower, 3)

    def loss(out):
        m = tf.cast(out["mask"], tf.float32)[..., None]
        return tf.reduce_sum(out["global"] ** 2) + tf.reduce_sum(out["local"] * m)

    with tf.GradientTape() as tape:
        a = loss(tower(ids))
    ga = tape.gradient(a, tower.trainable_weights)
    with tf.GradientTape() as tape:
        b = loss(chunked(ids))
    gb = tape.gradient(b, tower.trainable_weights)
    assert float(a) == pytest.approx(float(b), rel=1e-5)
    for x, y in zip(ga, gb):
        np.testing.assert_allclose(np.asarray(tf.convert_to_tensor(y)), np.asarray(tf.convert_to_tensor(x)),
                                   rtol=1e-4, atol=1e-5)


def test_chunks_must_be_positive():
    with pytest.raises(ValueError, match="chunks must be at least 1"):
        LengthChunked(_tower(), 0)
