"""``MeanOverTime``: the mean of a sequence's frames over its real (unmasked) time steps."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfpipe")
class MeanOverTime(keras.layers.Layer):
    """``[B, T, D]`` frames -> ``[B, D]`` mean over time, skipping masked steps.

    With a mask (``[B, T]``, true = real step; passed explicitly or propagated
    from e.g. ``Embedding(mask_zero=True)``) the mean runs over the unmasked
    steps only, so padding never dilutes it; a row with no unmasked step gives
    a zero vector (not NaN).  Without a mask every step counts.  The output
    carries no mask.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)  # [B, T, 1]
        total = ops.sum(inputs * weights, axis=1)
        count = ops.maximum(ops.sum(weights, axis=1), ops.cast(1, inputs.dtype))
        return total / count

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return super().get_config()
