"""``LabelScores``: every label's score ``t_j . x`` against a frozen label matrix (DeViSE's tᵀMv).

Frome et al. (2013, section 3.3) hold the language model's label vectors fixed while the
projection ``M`` learns; the score of label ``j`` for a projected image ``x = M v`` is the
dot product ``t_j . x`` (eq. 1's ``t_label M v``).  The matrix is a non-trainable weight, so
it is saved with the model and an exported model scores the same labels.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfpipe")
class LabelScores(keras.layers.Layer):
    """``[B, D] -> [B, C]``: ``x T^T`` for the frozen ``[C, D]`` label matrix ``T`` (float32;
    set it with ``layer.table.assign``)."""

    def __init__(self, num_labels: int, dim: int, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_labels, self.dim = int(num_labels), int(dim)
        self.table = self.add_weight(shape=(self.num_labels, self.dim), initializer="zeros",
                                     trainable=False, name="label_vectors")

    def call(self, x):
        return ops.matmul(ops.cast(x, "float32"), ops.transpose(self.table))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_labels)

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels, "dim": self.dim}
