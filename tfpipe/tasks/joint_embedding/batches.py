"""Training batches of distinct classes (the authors' ``MultimodalMinibatchLoader``).

Each batch draws ``B`` distinct training classes (a random permutation's first ``B``) and for each
one image and one text of that class, uniformly, so pair ``(i, i)`` is the match and every other
pair a wrong class (what ``losses.sje_loss`` assumes).  An epoch is ``n_train_classes`` batches
(the code's ``loader.ntrain``).  Every draw is a stateless function of ``(seed, epoch, step)``:
a resumed run sees exactly the batches the uninterrupted one saw.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


class ClassRows:
    """Rows grouped by class: ``order`` (row indices sorted by class), ``start``/``count`` per
    class position (classes in ``classes`` order)."""

    def __init__(self, labels: np.ndarray, classes: np.ndarray):
        labels = np.asarray(labels, np.int64)
        self.classes = np.asarray(classes, np.int64)
        position = {int(c): k for k, c in enumerate(self.classes)}
        pos = np.array([position.get(int(c), -1) for c in labels], np.int64)
        keep = np.flatnonzero(pos >= 0)
        self.order = keep[np.argsort(pos[keep], kind="stable")]
        self.count = np.bincount(pos[keep], minlength=len(self.classes)).astype(np.int64)
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]]).astype(np.int64)
        empty = self.classes[self.count == 0]
        if empty.size:
            raise ValueError(f"classes {empty.tolist()} have no rows to draw from")


def batch_indices(images: ClassRows, texts: ClassRows, *, batch_classes: int, seed: int, epoch, step):
    """``(image rows int64[B], text rows int64[B], class positions int64[B])`` of one batch (TF ops)."""
    import tensorflow as tf

    n = len(images.classes)
    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64) * 1_000_003 + tf.cast(step, tf.int64)])
    picked = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=key)[:batch_classes]
    u = tf.random.stateless_uniform([2, batch_classes], seed=key + 1, dtype=tf.float64)

    def draw(rows: ClassRows, uniform):
        count = tf.gather(tf.constant(rows.count), picked)
        offset = tf.minimum(tf.cast(tf.floor(uniform * tf.cast(count, tf.float64)), tf.int64), count - 1)
        return tf.gather(tf.constant(rows.order), tf.gather(tf.constant(rows.start), picked) + offset)

    return draw(images, u[0]), draw(texts, u[1]), picked


def epoch_batches(features: np.ndarray, image_labels: np.ndarray, text_inputs: Mapping[str, np.ndarray],
                  text_labels: np.ndarray, classes, *, batch_classes: int, seed: int, first_epoch: int, epochs: int):
    """Endless-by-epoch ``({"features", <text inputs>}, class position)`` batches over ``classes``:
    ``len(classes)`` batches per epoch from ``first_epoch``, ``min(batch_classes, len(classes))``
    distinct classes each."""
    import tensorflow as tf

    classes = np.asarray(list(classes), np.int64)
    images, texts = ClassRows(image_labels, classes), ClassRows(text_labels, classes)
    b = min(int(batch_classes), len(classes))
    x = tf.constant(np.asarray(features, np.float32))
    t = {k: tf.constant(v) for k, v in text_inputs.items()}
    steps = len(classes)

    def batch(e, s):
        img, txt, picked = batch_indices(images, texts, batch_classes=b, seed=seed, epoch=e, step=s)
        inputs = {"features": tf.gather(x, img), **{k: tf.gather(v, txt) for k, v in t.items()}}
        return inputs, picked

    ds = tf.data.Dataset.range(first_epoch, max(epochs, first_epoch + 1))
    ds = ds.flat_map(lambda e: tf.data.Dataset.range(steps).map(lambda s: (e, s)))
    return ds.map(batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE), steps
