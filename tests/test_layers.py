"""OneHot: the paper's character one-hot expansion (index 0 -> all-zero row)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tfpipe.layers import OneHot


def test_one_hot_on_hand_examples():
    indices = np.array([[0, 1, 2, 4], [3, 0, 0, 5]], dtype=np.uint8)
    out = keras.ops.convert_to_numpy(OneHot(4)(indices))
    expected = np.array(
        [
            [[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
            [[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],  # 5 > depth: zeros too
        ],
        dtype=np.float32,
    )
    assert out.shape == (2, 4, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "int64"])
def test_one_hot_accepts_integer_dtypes(dtype):
    indices = np.arange(71, dtype=dtype).reshape(1, 71)
    out = keras.ops.convert_to_numpy(OneHot(70)(indices))
    assert out.shape == (1, 71, 70)
    assert out[0, 0].sum() == 0  # index 0: all-zero row
    np.testing.assert_array_equal(out[0, 1:], np.eye(70, dtype=np.float32))


def test_one_hot_follows_the_compute_dtype():
    indices = np.array([[1, 0, 2]], dtype=np.uint8)
    bf16 = OneHot(3, dtype="mixed_bfloat16")
    assert keras.backend.standardize_dtype(bf16(indices).dtype) == "bfloat16"
    f16 = OneHot(3, dtype="float16")
    assert keras.backend.standardize_dtype(f16(indices).dtype) == "float16"
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        out = OneHot(3)(indices)
        assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_one_hot_config_and_shape():
    layer = OneHot(70, name="one_hot")
    config = layer.get_config()
    assert config["depth"] == 70 and config["name"] == "one_hot"
    clone = OneHot.from_config(config)
    assert clone.depth == 70
    assert layer.compute_output_shape((None, 1014)) == (None, 1014, 70)
    with pytest.raises(ValueError, match="depth"):
        OneHot(0)


def test_one_hot_saves_and_loads_inside_a_model(tmp_path):
    inputs = keras.Input(shape=(5,), dtype="uint8")
    model = keras.Model(inputs, keras.layers.Flatten()(OneHot(3)(inputs)))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.array([[0, 1, 2, 3, 4]], dtype=np.uint8)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x))
    )
