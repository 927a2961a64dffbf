"""``SparseLinear``: a dense layer over a sparse bag of features given as (ids, values)."""
from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfpipe")
class SparseLinear(keras.layers.Layer):
    """``[ids, values]`` (both ``[B, K]``) -> ``[B, units]``: ``sum_k values[b,k] * W[ids[b,k]] + bias``.

    Equivalent to ``x @ W[1:] + bias`` for the sparse vector ``x`` of
    ``num_features`` entries with ``x[ids - 1] = values``, without ever forming
    ``x``.  Feature ``j`` (0-based) has id ``j + 1``; id ``0`` is padding and
    contributes nothing whatever its value (``W`` keeps a row for it, row 0,
    which no input reaches).  Ids are expected in ``0..num_features``; within
    a row they should be distinct (a repeated id adds its values).
    """

    def __init__(
        self,
        num_features: int,
        units: int,
        *,
        kernel_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_initializer: Any = "zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_features) < 1 or int(units) < 1:
            raise ValueError(f"num_features and units must be positive, got {num_features} and {units}")
        self.num_features = int(num_features)
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(self.num_features + 1, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            name="kernel",
        )
        self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")

    def call(self, inputs):
        ids, values = inputs
        ids = ops.cast(ids, "int32")
        values = ops.cast(values, self.compute_dtype) * ops.cast(ops.not_equal(ids, 0), self.compute_dtype)
        rows = ops.take(self.kernel, ids, axis=0)  # [B, K, units]
        return ops.sum(rows * ops.expand_dims(values, -1), axis=1) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "num_features": self.num_features,
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
