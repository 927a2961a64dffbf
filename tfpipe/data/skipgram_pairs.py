"""Skip-gram training pairs made inside tf.data from a preprocessed data directory.

Follows word2vec.c (Mikolov et al. 2013), batch by batch of sentences, with
vectorised TF ops (no Python per pair or per word):

1. Tokens that are padding (id 0), out of vocabulary (id 1) or vocabulary
   words seen fewer than ``min_count`` times are removed from the sentence
   (word2vec.c never puts them in its vocabulary).  The remaining tokens are
   the "words" counted for throughput and for the learning-rate decay
   (word2vec.c's ``word_count``).
2. Frequent-word subsampling: a word of corpus frequency ``f = count / total``
   is kept with probability ``min(1, (sqrt(f / t) + 1) * t / f)``, word2vec.c's
   formula (``total`` = the summed counts of the words kept in step 1); ``t = 0``
   keeps every word.  Discarded words are removed before the windows are
   drawn, as in word2vec.c (so a window reaches past them).
3. Reduced window: every remaining position ``i`` draws ``b_i`` uniformly in
   ``1..window`` and makes the pairs ``(target=w_i, context=w_j)`` for every
   ``j != i`` of the same sentence with ``|i - j| <= b_i``.

Word ids are those of the data directory (vocabulary word ``k`` has id
``k + 2``); the vocabulary and counts come from its ``vocab.tsv`` (columns
``word``, ``count`` and optionally more, most frequent first).  Sentences are
the ``word_ids`` of the records, capped at the manifest's ``max_words`` by the
preprocessing job.

Randomness (subsampling, windows, pair order) is drawn from stateless ops
seeded per batch from ``seed``: the same seed gives the same pairs, and every
pass over the dataset draws new ones.

The functions that read a data directory take a ``tfpipe.data.datadir.DataDir``
or its path.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from tfpipe.data import pipeline
from tfpipe.data.datadir import DataDir
from tfpipe.text.tokenize import FIRST_WORD_ID

# Sentences turned into pairs together (one tf.data element before the pairs are re-batched).
SENTENCES_PER_BATCH = 256


def read_counts(data: DataDir | str) -> tuple[list[str], np.ndarray]:
    """The vocabulary words (most frequent first; word id = position + 2) and their counts
    (``int64``, the second column of the data directory's vocabulary file)."""
    data = DataDir.of(data)
    words = data.vocab()
    path = data.file(data.manifest.vocab_file)
    counts = []
    with tf.io.gfile.GFile(path) as f:
        for line_no, line in enumerate((l for l in f.read().splitlines() if l), start=1):
            fields = line.split("\t")
            try:
                counts.append(int(fields[1]))
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}, line {line_no}: expected 'word<TAB>count[<TAB>...]', got {line[:80]!r}"
                ) from None
    if len(counts) != len(words):
        raise ValueError(f"{path}: {len(words)} words but {len(counts)} counts")
    return words, np.asarray(counts, dtype=np.int64)


def trained_mask(counts: Sequence[int], min_count: int) -> np.ndarray:
    """``bool [len(counts) + 2]`` by word id: the words skip-gram trains (count >= min_count);
    padding and OOV are never trained."""
    counts = np.asarray(counts, dtype=np.int64)
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    mask = np.zeros(len(counts) + FIRST_WORD_ID, dtype=bool)
    mask[FIRST_WORD_ID:] = counts >= min_count
    return mask


def keep_probabilities(counts: Sequence[int], *, min_count: int, subsample: float) -> np.ndarray:
    """``float64 [len(counts) + 2]`` by word id: the probability that an occurrence is kept.

    0 for padding, OOV and words under ``min_count``; otherwise word2vec.c's
    ``(sqrt(f / t) + 1) * t / f`` (capped at 1) with ``f`` the word's share of
    the trained words' total count, or 1 when ``subsample`` (``t``) is 0.
    """
    if subsample < 0:
        raise ValueError(f"subsample must be >= 0, got {subsample}")
    mask = trained_mask(counts, min_count)
    counts = np.asarray(counts, dtype=np.float64)
    full = np.zeros(len(mask), dtype=np.float64)
    full[FIRST_WORD_ID:] = counts
    total = full[mask].sum()
    if total <= 0:
        raise ValueError(f"no vocabulary word has count >= min_count={min_count}: nothing to train")
    prob = np.zeros(len(mask), dtype=np.float64)
    if subsample == 0:
        prob[mask] = 1.0
    else:
        threshold = subsample * total
        c = full[mask]
        prob[mask] = np.minimum(1.0, (np.sqrt(c / threshold) + 1.0) * threshold / c)
    return prob


def make_pairs(
    word_ids: tf.Tensor, keep_prob: tf.Tensor, *, window: int, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Skip-gram pairs of a batch of sentences.

    Args:
      word_ids: ``int [B, L]`` word ids, 0-padded.
      keep_prob: ``float64 [V]`` keep probability by word id (:func:`keep_probabilities`).
      window: the maximum window (each position draws its own in ``1..window``).
      seed: ``int64 [2]`` stateless seed.

    Returns ``(target int64 [P], context int64 [P], words int64 [])``: the
    pairs (shuffled) and the number of words counted before subsampling.

    All pairs come from one ``[kept words, 2 * window]`` table of candidate
    partners (every position against every signed offset), masked by "same
    sentence" and ``|offset| <= b_i``: a fixed number of ops per batch of
    sentences whatever the window.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
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
    reach = tf.random.stateless_uniform(
        [n], seed=seeds[1], minval=1, maxval=window + 1, dtype=tf.int64
    )
    # Every position against every signed offset at once: [n, 2 * window] candidate partners.
    offsets = tf.constant([o for o in range(-window, window + 1) if o], tf.int64)
    partner = tf.range(n)[:, None] + offsets[None, :]
    inside = (partner >= 0) & (partner < n) & (tf.abs(offsets)[None, :] <= reach[:, None])
    partner = tf.clip_by_value(partner, 0, tf.maximum(n - 1, 0))
    inside &= tf.gather(rows, partner) == rows[:, None]
    where = tf.where(inside)  # [P, 2]: (position, offset index), row-major
    target = tf.gather(ids, where[:, 0])
    context = tf.gather(ids, tf.gather_nd(partner, where))
    order = tf.random.experimental.stateless_shuffle(
        tf.range(tf.shape(target, out_type=tf.int64)[0]), seed=seeds[2]
    )
    return tf.gather(target, order), tf.gather(context, order), words


def _seed_pair(scalar: tf.Tensor) -> tf.Tensor:
    return tf.stack([scalar, tf.bitwise.right_shift(scalar, 32)])


def pairs_dataset(
    data: DataDir | str,
    split: str = "train",
    *,
    batch_size: int = 1024,
    window: int = 5,
    subsample: float = 1e-3,
    min_count: int = 5,
    seed: int = 0,
    shuffle: bool = True,
    cache: bool = False,
    sentences_per_batch: int = SENTENCES_PER_BATCH,
    counts: Sequence[int] | None = None,
    verify: str = "size",
) -> tf.data.Dataset:
    """One pass of skip-gram pairs over ``split``, in batches of ``batch_size`` pairs.

    Each element is a dict: ``"target"`` and ``"context"`` (``int64 [P]`` word
    ids) and ``"words"`` (``float32 [P]``): the words of step 1 of the module
    docstring credited to the pairs made from them (a batch of sentences with
    ``w`` words and ``p`` pairs credits ``w / p`` to each; summed over a pass it
    is the number of words read).  ``P == batch_size`` except for the last
    batch.  A batch of sentences that yields no pair (every word removed)
    still emits one filler pair ``(0, 0)`` carrying its words, so that no word
    goes uncounted; trainers ignore pairs whose target is padding.

    ``shuffle`` reads the sentences in a seeded random order (different every
    pass); ``counts`` (by vocabulary position) default to the data directory's
    vocabulary file.
    """
    if batch_size <= 0 or sentences_per_batch <= 0:
        raise ValueError(f"batch_size ({batch_size}) and sentences_per_batch ({sentences_per_batch}) must be positive")
    data = DataDir.of(data)
    manifest = data.manifest
    if counts is None:
        _, counts = read_counts(data)
    if len(counts) != manifest.vocab_words:
        raise ValueError(f"{len(counts)} counts for a vocabulary of {manifest.vocab_words} words")
    keep = tf.constant(keep_probabilities(counts, min_count=min_count, subsample=subsample))
    sentences = pipeline.make_dataset(
        data, split, feature="word_ids", batch_size=sentences_per_batch, training=shuffle,
        seed=seed, cache=cache, verify=verify,
    )
    randoms = tf.data.Dataset.random(seed=seed + 7919, rerandomize_each_iteration=True)

    def to_pairs(batch, rnd):
        x, _ = batch
        target, context, words = make_pairs(x, keep, window=window, seed=_seed_pair(rnd))
        empty = tf.cast(tf.equal(tf.size(target), 0), tf.int64)
        filler = tf.zeros([empty], tf.int64)
        target = tf.concat([target, filler], 0)
        context = tf.concat([context, filler], 0)
        per_pair = tf.cast(words, tf.float32) / tf.cast(tf.size(target), tf.float32)
        return {"target": target, "context": context, "words": tf.fill(tf.shape(target), per_pair)}

    ds = tf.data.Dataset.zip((sentences, randoms)).map(to_pairs, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.rebatch(batch_size).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options)


def sentences_dataset(
    data: DataDir | str,
    split: str = "train",
    *,
    seed: int = 0,
    shuffle: bool = True,
    cache: bool = False,
    sentences_per_batch: int = SENTENCES_PER_BATCH,
    verify: str = "size",
) -> tf.data.Dataset:
    """One pass over ``split`` for the fused kernel (``tfpipe.ops.skipgram``), which does steps
    1-3 of the module docstring itself: ``{"word_ids": int64 [B, L]}`` batches of
    ``sentences_per_batch`` sentences (the data directory's ids, 0-padded), in a seeded random
    order different every pass when ``shuffle``."""
    if sentences_per_batch <= 0:
        raise ValueError(f"sentences_per_batch must be positive, got {sentences_per_batch}")
    ds = pipeline.make_dataset(
        DataDir.of(data), split, feature="word_ids", batch_size=sentences_per_batch, training=shuffle,
        seed=seed, cache=cache, verify=verify,
    )
    return ds.map(lambda x, y: {"word_ids": tf.cast(x, tf.int64)}).prefetch(tf.data.AUTOTUNE)


def count_words(
    data: DataDir | str, split: str = "train", *, min_count: int = 5,
    counts: Sequence[int] | None = None,
) -> int:
    """Words of ``split`` that skip-gram reads per pass (step 1 of the module docstring)."""
    data = DataDir.of(data)
    if counts is None:
        _, counts = read_counts(data)
    trained = tf.constant(trained_mask(counts, min_count))
    ds = pipeline.make_dataset(data, split, feature="word_ids", batch_size=4096)
    total = ds.map(lambda x, y: tf.math.count_nonzero(tf.gather(trained, x), dtype=tf.int64)).reduce(
        tf.constant(0, tf.int64), lambda a, b: a + b
    )
    return int(total)
