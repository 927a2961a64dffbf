"""Running a model over a labelled dataset in one pass (evaluation, confusion matrices)."""
from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

# One traced inference function per model, reused across epochs.
_INFER: "weakref.WeakKeyDictionary[keras.Model, tf.types.experimental.GenericFunction]" = (
    weakref.WeakKeyDictionary()
)


def _infer_fn(model: keras.Model):
    if model not in _INFER:
        _INFER[model] = tf.function(
            lambda x: tf.cast(model(x, training=False), tf.float32), reduce_retracing=True
        )
    return _INFER[model]


def predict(model: keras.Model, dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(labels int64[n], probabilities float32[n, classes])`` over a dataset of ``(x, y)`` batches."""
    infer = _infer_fn(model)
    labels, probs = [], []
    for x, y in dataset:
        probs.append(infer(x).numpy())
        labels.append(np.asarray(y).reshape(-1))
    if not labels:
        return np.zeros([0], np.int64), np.zeros([0, model.output_shape[-1]], np.float32)
    return np.concatenate(labels).astype(np.int64), np.concatenate(probs)
