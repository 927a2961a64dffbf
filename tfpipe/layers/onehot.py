"""``OneHot``: the Char-CNN input layer (Zhang et al. 2015, section 2.2).

Expands stored character indices into the paper's one-hot frames inside the
model, so that only ``uint8`` indices travel through the input pipeline.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfpipe")
class OneHot(keras.layers.Layer):
    """Integer indices ``[B, L]`` -> one-hot frames ``[B, L, depth]``.

    Index ``i`` in ``1..depth`` sets column ``i - 1``; index ``0`` (a character
    outside the alphabet, or padding) gives an all-zero row, as in the paper;
    indices above ``depth`` also give all-zero rows.  The output has the
    layer's compute dtype (``bfloat16`` / ``float16`` under a mixed policy).
    Written with ``keras.ops`` only, so it runs on every Keras backend.
    """

    def __init__(self, depth: int, **kwargs):
        super().__init__(**kwargs)
        if int(depth) <= 0:
            raise ValueError(f"depth must be positive, got {depth}")
        self.depth = int(depth)

    def call(self, indices):
        indices = ops.cast(indices, "int32")
        columns = ops.arange(1, self.depth + 1, dtype="int32")
        hot = ops.equal(ops.expand_dims(indices, -1), columns)
        return ops.cast(hot, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}
