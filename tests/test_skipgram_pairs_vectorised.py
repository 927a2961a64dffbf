"""The one-pass pair generator (``skipgram_pairs.make_pairs``) against the per-offset reference it replaced.

The reference below is the former implementation, kept verbatim: for each offset ``1..window`` it
pairs positions ``i`` and ``i + offset`` of the kept words of a sentence, forward when ``b_i >=
offset`` and backward when ``b_{i + offset} >= offset``.  With the same seed both draw the same
subsampling and reduced windows (same ops, same shapes, same seeds), so the multiset of pairs and
the word count must be identical; only the order before the seeded shuffle differs.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from tfpipe.data import skipgram_pairs as sd


def reference_make_pairs(word_ids, keep_prob, *, window, seed):
    word_ids = tf.cast(word_ids, tf.int64)
    keep_prob = tf.convert_to_tensor(keep_prob, dtype=tf.float64)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    p = tf.gather(keep_prob, word_ids)
    valid = p > 0
    words = tf.math.count_nonzero(valid, dtype=tf.int64)
    u = tf.random.stateless_uniform(tf.shape(p), seed=seeds[0], dtype=tf.float64)
    kept = tf.ragged.boolean_mask(word_ids, valid & (u < p))
    ids = kept.flat_values
    rows = kept.value_rowids()
    n = tf.shape(ids, out_type=tf.int64)[0]
    reach = tf.random.stateless_uniform([n], seed=seeds[1], minval=1, maxval=window + 1, dtype=tf.int64)
    targets, contexts = [], []
    for offset in range(1, window + 1):
        left = tf.range(tf.maximum(n - offset, 0))
        right = left + offset
        same = tf.gather(rows, left) == tf.gather(rows, right)
        forward = same & (tf.gather(reach, left) >= offset)
        backward = same & (tf.gather(reach, right) >= offset)
        targets += [tf.gather(ids, tf.boolean_mask(left, forward)), tf.gather(ids, tf.boolean_mask(right, backward))]
        contexts += [tf.gather(ids, tf.boolean_mask(right, forward)), tf.gather(ids, tf.boolean_mask(left, backward))]
    return tf.concat(targets, 0), tf.concat(contexts, 0), words


def _corpus():
    # 40 sentences of 0..12 tokens over ids 0 (padding), 1 (OOV) and 2..11, 0-padded to 12;
    # ids 10 and 11 occur rarely (min_count 3 removes some of them).
    rng = np.random.default_rng(5)
    rows = np.zeros((40, 12), np.int64)
    for r in range(40):
        length = rng.integers(0, 13)
        rows[r, :length] = rng.choice(np.arange(1, 12), size=length, p=[0.05] + [0.11] * 8 + [0.03, 0.04])
    counts = [int(np.sum(rows == i)) for i in range(2, 12)]
    order = np.argsort(-np.asarray(counts), kind="stable")  # vocab.tsv is most frequent first
    remap = np.arange(12)
    remap[order + 2] = np.arange(10) + 2
    return remap[rows], sorted(counts, reverse=True)


@pytest.mark.parametrize("window,subsample,min_count", [(1, 0.0, 1), (3, 0.05, 3), (5, 1e-3, 1), (7, 0.0, 2)])
def test_same_pairs_as_the_per_offset_reference(window, subsample, min_count):
    rows, counts = _corpus()
    keep = sd.keep_probabilities(counts, min_count=min_count, subsample=subsample)
    for s in range(4):
        seed = tf.constant([s, 11], tf.int64)
        target, context, words = sd.make_pairs(tf.constant(rows), keep, window=window, seed=seed)
        ref_t, ref_c, ref_words = reference_make_pairs(tf.constant(rows), keep, window=window, seed=seed)
        got = Counter(zip(target.numpy().tolist(), context.numpy().tolist()))
        want = Counter(zip(ref_t.numpy().tolist(), ref_c.numpy().tolist()))
        assert len(want) > 0
        assert got == want
        assert int(words) == int(ref_words)


def test_no_kept_word_gives_no_pair():
    keep = sd.keep_probabilities([5, 5], min_count=1, subsample=0.0)
    target, context, words = sd.make_pairs(tf.constant([[0, 1, 0], [1, 1, 0]], tf.int64), keep, window=3,
                                           seed=tf.constant([1, 2], tf.int64))
    assert target.shape == (0,) and context.shape == (0,) and int(words) == 0
