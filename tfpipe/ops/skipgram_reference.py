"""The fused skip-gram kernel's loop (``skipgram_sgd.cc``) in NumPy, one thread: what the op must
compute, step by step, for the tests to compare against.

For each sentence (a row of word ids, 0-padded):

1. words with ``keep_prob == 0`` (padding, OOV, under ``min_count``) are dropped
   and the rest counted as words read; a word with ``keep_prob < 1`` is kept when
   ``uniform() < keep_prob`` (word2vec.c's subsampling, drawn in sentence order);
2. every kept position ``i`` draws its reach ``b = 1 + (next() >> 33) % window``
   and trains each context word ``c`` at ``0 < |i - j| <= b`` against the centre
   word ``w`` (word2vec.c: the input vector is the context word's, ``v = in[c]``,
   the output rows are ``w``'s):

   * negative sampling: the terms ``(w, 1)`` then, for each of ``negatives`` draws
     ``n`` from the alias table (``x = uniform() * V``, ``n = floor(x)`` or its alias),
     ``(n, 0)`` unless ``n == w``;
   * hierarchical softmax: ``(points[w, k], labels[w, k])`` along ``w``'s path;

   each term, with ``s = v . u_row`` and word2vec.c's table of the logistic
   function (:data:`EXP_TABLE_SIZE` points of ``[-MAX_EXP, MAX_EXP)``), sets
   ``g = (label - sigmoid(s)) * alpha`` (``label - 1`` or ``label`` past the
   table's ends), adds ``g u_row`` to the pair's ``e`` and ``g v`` to ``u_row``
   at once; after the pair's terms ``v += e`` (Mikolov et al. 2013, eq. 4 and
   word2vec.c's ``TrainModelThread``).

Random numbers: word2vec.c's generator ``r = r * 25214903917 + 11`` (mod 2^64)
started at :func:`stream_seed` of ``seed``; ``uniform()`` is the upper 32 bits / 2^32.  The loss is
the sum over terms of ``-log s(+-s)`` taken from the same table before the
update (``s`` or 0 past the ends).
"""
from __future__ import annotations

import numpy as np

EXP_TABLE_SIZE = 1000
MAX_EXP = 6.0
_MASK = (1 << 64) - 1
_MULT = 25214903917


def _tables() -> tuple[np.ndarray, np.ndarray]:
    x = (2.0 * np.arange(EXP_TABLE_SIZE) / EXP_TABLE_SIZE - 1.0) * MAX_EXP
    sig = (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    log_sig = (-np.log1p(np.exp(-x))).astype(np.float32)
    return sig, log_sig


SIGMOID, LOG_SIGMOID = _tables()


def stream_seed(seed: int, thread: int = 0) -> int:
    """A thread's first generator state: splitmix64 of ``seed + thread``."""
    z = (seed + thread + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class _Rng:
    def __init__(self, seed: int):
        self.r = stream_seed(seed & _MASK)

    def next(self) -> int:
        self.r = (self.r * _MULT + 11) & _MASK
        return self.r

    def uniform(self) -> float:
        return (self.next() >> 32) * (1.0 / 4294967296.0)


def _term(out: np.ndarray, v: np.ndarray, row: int, label: float, alpha: np.float32, e: np.ndarray) -> float:
    u = out[row]
    s = np.float32(np.dot(v, u))
    if np.isnan(s):
        return float("nan")
    if s >= MAX_EXP:
        g, loss = (label - 1.0) * alpha, (0.0 if label > 0.5 else float(s))
    elif s <= -MAX_EXP:
        g, loss = label * alpha, (float(-s) if label > 0.5 else 0.0)
    else:
        b = int((s + np.float32(MAX_EXP)) * np.float32(EXP_TABLE_SIZE / MAX_EXP / 2))
        g = (np.float32(label) - SIGMOID[b]) * alpha
        loss = float(-LOG_SIGMOID[b] if label > 0.5 else -LOG_SIGMOID[EXP_TABLE_SIZE - 1 - b])
    g = np.float32(g)
    if g != 0:
        e += g * u
        out[row] = u + g * v
    return loss


def train(
    input_vectors: np.ndarray, output_vectors: np.ndarray, word_ids: np.ndarray, keep_prob: np.ndarray, *,
    window: int, negatives: int, alpha: float, seed: int,
    noise_prob: np.ndarray | None = None, noise_alias: np.ndarray | None = None,
    points: np.ndarray | None = None, labels: np.ndarray | None = None, lengths: np.ndarray | None = None,
) -> tuple[int, int, float]:
    """Trains ``input_vectors`` / ``output_vectors`` (float32, updated in place) on ``word_ids``
    ``[B, L]`` as the op does with ``threads = 1``; returns ``(words, pairs, loss)``."""
    rng = _Rng(seed)
    alpha = np.float32(alpha)
    vocab = len(keep_prob)
    words = pairs = 0
    loss = 0.0
    for row in np.asarray(word_ids, dtype=np.int64):
        sentence = []
        for w in row:
            if w < 0 or w >= vocab or keep_prob[w] <= 0.0:
                continue
            words += 1
            if keep_prob[w] < 1.0 and rng.uniform() >= keep_prob[w]:
                continue
            sentence.append(int(w))
        n = len(sentence)
        for i, word in enumerate(sentence):
            reach = 1 + (rng.next() >> 33) % window
            for j in range(max(0, i - reach), min(n - 1, i + reach) + 1):
                if j == i:
                    continue
                c = sentence[j]
                v = input_vectors[c].copy()
                e = np.zeros_like(v)
                if negatives > 0:
                    loss += _term(output_vectors, v, word, 1.0, alpha, e)
                    for _ in range(negatives):
                        x = rng.uniform() * vocab
                        neg = int(x)
                        if x - neg >= noise_prob[neg]:
                            neg = int(noise_alias[neg])
                        if neg == word or neg >= len(output_vectors):
                            continue
                        loss += _term(output_vectors, v, neg, 0.0, alpha, e)
                else:
                    for k in range(int(lengths[word])):
                        loss += _term(output_vectors, v, int(points[word, k]), float(labels[word, k]), alpha, e)
                input_vectors[c] = v + e
                pairs += 1
    return words, pairs, loss
