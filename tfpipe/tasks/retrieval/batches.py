"""Training batches of matched image-caption pairs with distinct images.

Eq. 1 treats every other row of a mini-batch as a contrastive example, so two captions of one
image in a batch would make a true caption a "negative".  An epoch here visits every training
caption once: it is ``max captions per image`` passes; pass ``p`` pairs each image with its
``p``-th caption under a per-epoch permutation of that image's captions (images with fewer
captions sit the extra passes out), the pass's pairs are shuffled, and cut into batches of
``batch_size`` distinct images (the last batch of a pass may be smaller); a batch's captions are
cut to its longest (``trim_padding``).  Every draw is a
function of ``(seed, epoch)`` alone, so a resumed run sees exactly the batches of an
uninterrupted one.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


def epoch_pairs(caption_rows: list[np.ndarray], *, batch_size: int, seed: int, epoch: int
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(image rows int64[b], caption rows int64[b])]``: the batches of one epoch."""
    rng = np.random.default_rng([int(seed), int(epoch), 0x5E7])
    perms = [rows[rng.permutation(len(rows))] for rows in caption_rows]
    passes = max((len(r) for r in caption_rows), default=0)
    out = []
    for p in range(passes):
        images = np.array([i for i, r in enumerate(perms) if len(r) > p], np.int64)
        images = images[rng.permutation(len(images))]
        caps = np.array([perms[i][p] for i in images], np.int64)
        for start in range(0, len(images), batch_size):
            out.append((images[start:start + batch_size], caps[start:start + batch_size]))
    return out


def steps_per_epoch(caption_rows: list[np.ndarray], batch_size: int) -> int:
    """The number of batches of every epoch (it does not depend on the draw)."""
    passes = max((len(r) for r in caption_rows), default=0)
    return sum(-(-sum(len(r) > p for r in caption_rows) // batch_size) for p in range(passes))


def trim_padding(word_ids):
    """``word_ids [b, L]`` without the columns that are padding in every row (at least one kept).
    Exact for the text towers: their convolutions are causal and their pooling and attention skip
    padding, so trailing padding changes nothing but the time spent on it."""
    import tensorflow as tf

    length = tf.reduce_max(tf.reduce_sum(tf.cast(word_ids != 0, tf.int32), axis=1))
    return word_ids[:, :tf.maximum(length, 1)]


def epoch_batches(images: Mapping[str, np.ndarray], word_ids: np.ndarray, caption_rows: list[np.ndarray], *,
                  batch_size: int, seed: int, first_epoch: int, epochs: int):
    """Endless-by-epoch ``({<image inputs>, "word_ids"}, 0)`` batches from ``first_epoch`` (a
    ``tf.data.Dataset``; ``images`` maps the model's image input names to ``[N, ...]`` arrays)."""
    import tensorflow as tf

    def index_batches():
        for e in range(first_epoch, max(epochs, first_epoch + 1)):
            yield from epoch_pairs(caption_rows, batch_size=batch_size, seed=seed, epoch=e)

    spec = (tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.int64))
    ds = tf.data.Dataset.from_generator(index_batches, output_signature=spec)
    tables = {k: tf.constant(v) for k, v in images.items()}
    words = tf.constant(word_ids)

    def gather(image_rows, caption_rows_):
        x = {k: tf.gather(t, image_rows) for k, t in tables.items()}
        x["word_ids"] = trim_padding(tf.gather(words, caption_rows_))
        return x, tf.zeros_like(image_rows, tf.float32)

    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
