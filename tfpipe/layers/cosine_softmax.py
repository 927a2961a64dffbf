"""``CosineSoftmax``: the phrase generator's output layer, eq. 1 of the predicted-context paper.

The paper predicts query ``q_c`` from the image's 64-d bottleneck embedding ``x`` by

    p_c = exp(-d(w_c, x)) / sum_i exp(-d(w_i, x))                                   (eq. 1)

with ``w_c`` "the weights from the fully connected layer after the bottleneck layer that
correspond to the query q_c" and ``d`` the cosine distance ``1 - cos``.  With a scale ``s``
(1 in eq. 1: :data:`PREDICTED_CONTEXT_SCALE`) the logits ``-s * d(w_c, x)`` equal
``s * cos(w_c, x) - s``; the constant is the same for every class and cancels in the softmax,
so the layer returns ``s * cos(w_c, x)`` (:func:`cosine_logits`).

The layer holds the table ``kernel [num_classes, dim]`` (the ``w_c``) and returns the logits
only: the losses are :func:`tfpipe.losses.cosine_softmax_loss` (full softmax) and
:func:`tfpipe.losses.sampled_cosine_softmax_loss` (the trainer's sampled softmax), both called
with ``table=layer.kernel``, so the loss is defined once.  The same :func:`cosine_logits`
against eq. 2's prototypes ``phi_c`` in place of ``w_c`` gives the prototype classifier.

Everything is computed in float32 (the layer's dtype is fixed to float32), also under a mixed
precision policy: the bottleneck may arrive in bfloat16 / float16 and is cast first.
"""
from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

# Eq. 1 has no scale (1).  The same value as tfpipe.losses.PREDICTED_CONTEXT_SCALE (a test pins
# them together); written here so that the layers import neither TensorFlow nor tfpipe.losses.
PREDICTED_CONTEXT_SCALE = 1.0
_NORM_EPSILON = 1e-12  # on the squared norm, as tf.math.l2_normalize (and tfpipe.losses) use


def unit_rows(x: Any) -> Any:
    """The rows of ``x`` scaled to unit L2 norm, in float32: ``x / sqrt(max(|x|^2, 1e-12))``
    (a zero row stays zero), the normalisation :mod:`tfpipe.losses` uses."""
    x = ops.cast(x, "float32")
    squared = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, _NORM_EPSILON))


def cosine_logits(x: Any, table: Any, scale: float = PREDICTED_CONTEXT_SCALE) -> Any:
    """``float32 [B, N]``: ``scale * cos(x_b, table_n)`` for ``x [B, D]`` and ``table [N, D]``:
    eq. 1's logits ``-scale * d(w_n, x)`` up to the constant ``scale`` (cancels in the softmax)."""
    return ops.multiply(ops.cast(scale, "float32"), ops.matmul(unit_rows(x), ops.transpose(unit_rows(table))))


def cosine_probabilities(x: Any, table: Any, scale: float = PREDICTED_CONTEXT_SCALE) -> Any:
    """Eq. 1's ``p_c``, ``float32 [B, N]``: the softmax over the classes of :func:`cosine_logits`."""
    return ops.softmax(cosine_logits(x, table, scale), axis=-1)


def _check_scale(scale: Any) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"CosineSoftmax: scale must be a positive finite number, got {scale!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"CosineSoftmax: scale must be a positive finite number, got {scale!r}")
    return value


@keras.saving.register_keras_serializable(package="tfpipe")
class CosineSoftmax(keras.layers.Layer):
    """``x [B, dim] -> float32 logits [B, num_classes]``: ``scale * cos(x, w_c)`` (eq. 1).

    ``kernel`` is the trainable ``[num_classes, dim]`` float32 table of the ``w_c``
    (``dim`` is taken from the input when the layer is built).  :meth:`probabilities`
    gives eq. 1's ``p_c``.
    """

    def __init__(
        self,
        num_classes: int,
        scale: float = PREDICTED_CONTEXT_SCALE,
        kernel_initializer: Any = "glorot_uniform",
        **kwargs,
    ):
        kwargs["dtype"] = "float32"  # the cosines and the logits are float32 under any policy
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or int(num_classes) != num_classes or int(num_classes) < 2:
            raise ValueError(f"CosineSoftmax: num_classes must be an integer of at least 2, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.scale = _check_scale(scale)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel = None

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError("CosineSoftmax: the input's last dimension must be known")
        self.kernel = self.add_weight(
            shape=(self.num_classes, int(dim)), initializer=self.kernel_initializer, name="kernel"
        )

    def call(self, x):
        return cosine_logits(x, self.kernel, self.scale)

    def probabilities(self, x):
        """Eq. 1's ``p_c``, ``float32 [B, num_classes]`` (the softmax of the logits)."""
        return ops.softmax(self(x), axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "scale": self.scale,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
