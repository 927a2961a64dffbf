"""The fused skip-gram kernel (tfpipe/ops/skipgram_sgd.cc) against its NumPy reference, the alias
table's distribution, and how the model picks a kernel."""
from __future__ import annotations

import csv
import re
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import shared_path
from tfpipe.data import skipgram_pairs as sd
from tfpipe.models import skipgram as sg
from tfpipe.ops import skipgram as ops
from tfpipe.ops import skipgram_reference as ref



def _kernel():
    try:
        return ops.load()
    except ops.KernelUnavailable as e:  # no C++ compiler here: the graph kernel is used
        pytest.skip(f"fused kernel unavailable: {e}")


@pytest.fixture(scope="module")
def ag_news_batch():
    """60 AG's News stories as word ids of their own vocabulary (most frequent first, ids from 2)."""
    with open(shared_path("ag_news", "test.csv"), newline="", encoding="utf-8") as f:
        texts = [" ".join(row[1:]).lower() for _, row in zip(range(60), csv.reader(f))]
    tokens = [re.findall(r"[a-z0-9']+", t)[:40] for t in texts]
    counts = Counter(w for t in tokens for w in t)
    vocab = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    index = {w: i + 2 for i, w in enumerate(vocab)}
    ids = np.zeros((len(tokens), 40), np.int64)
    for r, t in enumerate(tokens):
        ids[r, : len(t)] = [index[w] for w in t]
    return ids, np.array([counts[w] for w in vocab], np.int64)


def _tables(counts: np.ndarray, loss: str, dim: int, seed: int = 0):
    model = sg.SkipGram(vocab_size=len(counts) + 2, vocab_counts=counts, dim=dim, min_count=2, loss=loss,
                        subsample=1e-2, seed=seed)
    rng = np.random.default_rng(seed)
    inputs = model.input_vectors.numpy()
    # non-zero output rows, so that the first terms are not all at s = 0
    outputs = rng.normal(0, 0.1, model.output_vectors.shape).astype(np.float32)
    return model, inputs, outputs


@pytest.mark.parametrize("loss", ["negative_sampling", "hierarchical_softmax"])
def test_the_op_computes_word2vec_loop_as_the_reference(ag_news_batch, loss):
    kernel = _kernel()
    ids, counts = ag_news_batch
    model, inputs, outputs = _tables(counts, loss, dim=24)
    keep = sd.keep_probabilities(counts, min_count=2, subsample=1e-2)
    assert 0 < keep[2] < 1 and keep[-1] == 0  # the most frequent word is subsampled, rare ones dropped
    model.set_keep_probabilities(keep)
    keep_t, prob, alias, points, labels, lengths = (t.numpy() for t in model._fused)
    negatives = 5 if loss == "negative_sampling" else 0
    a, b = tf.Variable(inputs), tf.Variable(outputs)
    words, pairs, total = kernel.skipgram_sgd(
        a.handle, b.handle, ids, keep_t, prob, alias, points, labels, lengths, np.float32(0.025),
        np.int64(11), window=5, negatives=negatives, threads=1)
    ri, ro = inputs.copy(), outputs.copy()
    r_words, r_pairs, r_loss = ref.train(
        ri, ro, ids, keep_t, window=5, negatives=negatives, alpha=0.025, seed=11, noise_prob=prob,
        noise_alias=alias, points=points, labels=labels, lengths=lengths)
    assert int(words) == r_words == int(np.sum(keep[ids] > 0))
    assert int(pairs) == r_pairs > 1000
    assert float(total) == pytest.approx(r_loss, rel=1e-5)
    assert np.abs(ri - inputs).max() > 1e-3 and np.abs(ro - outputs).max() > 1e-3  # it trained
    np.testing.assert_allclose(a.numpy(), ri, atol=1e-5)
    np.testing.assert_allclose(b.numpy(), ro, atol=1e-5)


def test_one_pair_by_hand():
    """Sentence [2, 3], window 1, no subsampling, one negative: the pair (context 3, word 2) then
    (context 2, word 3), word2vec.c's g = (label - s(v.u)) * alpha from the table."""
    kernel = _kernel()
    v = np.array([[0, 0], [0, 0], [0.5, -1.0], [1.0, 2.0]], np.float32)
    u = np.array([[0, 0], [0, 0], [0.2, 0.1], [-0.3, 0.4]], np.float32)
    keep = np.array([0, 0, 1, 1], np.float64)
    prob, alias = ops.alias_table(np.array([0, 0, 0, 1.0]))  # every negative is word 3
    z = np.zeros((4, 1), np.int64)
    a, b = tf.Variable(v), tf.Variable(u)
    _, pairs, _ = kernel.skipgram_sgd(a.handle, b.handle, np.array([[2, 3]]), keep, prob, alias, z,
                                      z.astype(np.float32), np.zeros(4, np.int32), np.float32(0.5),
                                      np.int64(0), window=1, negatives=1, threads=1)
    assert int(pairs) == 2

    def sig(x):  # word2vec.c's table lookup
        return ref.SIGMOID[int((x + 6.0) * (1000 / 6.0 / 2))]

    v, u = v.copy(), u.copy()
    # pair 1: context 3 -> word 2: positive row 2, the negative (3) is not the word: row 3
    g1 = (1 - sig(v[3] @ u[2])) * 0.5
    e = g1 * u[2]
    u[2] = u[2] + g1 * v[3]
    g2 = (0 - sig(v[3] @ u[3])) * 0.5
    e = e + g2 * u[3]
    u[3] = u[3] + g2 * v[3]
    v[3] = v[3] + e
    # pair 2: context 2 -> word 3: the negative equals the word and is skipped
    g = (1 - sig(v[2] @ u[3])) * 0.5
    e = g * u[3]
    u[3] = u[3] + g * v[2]
    v[2] = v[2] + e
    np.testing.assert_allclose(a.numpy(), v, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), u, atol=1e-6)


def test_two_threads_train_every_word_and_leave_live_reads_alone(ag_news_batch):
    kernel = _kernel()
    ids, counts = ag_news_batch
    model, inputs, outputs = _tables(counts, "negative_sampling", dim=16)
    keep = sd.keep_probabilities(counts, min_count=2, subsample=0)
    model.set_keep_probabilities(keep)
    a, b = tf.Variable(inputs), tf.Variable(outputs)
    held = a.read_value()  # a live tensor of the old value: the op must not write into it
    words, pairs, _ = kernel.skipgram_sgd(a.handle, b.handle, ids, *model._fused, np.float32(0.025),
                                          np.int64(3), window=5, negatives=5, threads=2)
    assert int(words) == int(np.sum(keep[ids] > 0))  # no subsampling: every trained word is read
    np.testing.assert_array_equal(held.numpy(), inputs)
    assert np.abs(a.numpy() - inputs).max() > 1e-3


def test_alias_table_draws_the_distribution_exactly():
    weights = np.array([0.0, 1.0, 2.0, 3.0, 0.0, 4.0])
    prob, alias = ops.alias_table(weights)
    n = len(weights)
    # P(j) = (prob[j] + sum over buckets i aliased to j of (1 - prob[i])) / n
    implied = prob.copy()
    np.add.at(implied, alias, 1.0 - prob)
    np.testing.assert_allclose(implied / n, weights / weights.sum(), atol=1e-12)
    assert prob[0] == prob[4] == 0.0  # never drawn: the bucket always goes to its alias
    with pytest.raises(ValueError, match="non-negative weights"):
        ops.alias_table(np.array([0.0, -1.0]))


def test_kernel_choice(monkeypatch):
    import keras

    with pytest.raises(ValueError, match="valid kernels: auto, fused, graph"):
        sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], min_count=1, kernel="cuda")
    m = sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], dim=4, min_count=1)
    m.compile(keras.optimizers.Adam())
    assert m.active_kernel == "graph" and "plain SGD" in m.kernel_note and not m.trains_sentences
    m = sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], dim=4, min_count=1, kernel="fused")
    with pytest.raises(ValueError, match="fused cannot train this run: it needs plain SGD"):
        m.compile(keras.optimizers.SGD(momentum=0.9))

    def unavailable():
        raise ops.KernelUnavailable("compiling skipgram_sgd.cc failed (g++): not found")

    monkeypatch.setattr(ops, "load", unavailable)
    m = sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], dim=4, min_count=1)
    m.compile(keras.optimizers.SGD())
    assert m.active_kernel == "graph" and "not available here: compiling" in m.kernel_note
    m = sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], dim=4, min_count=1, kernel="fused")
    with pytest.raises(ValueError, match="not available here"):
        m.compile(keras.optimizers.SGD())


def test_a_failed_build_says_what_the_compiler_said(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "false")
    with pytest.raises(ops.KernelUnavailable, match="compiling .*skipgram_sgd.cc failed"):
        ops.build(str(tmp_path / "op.so"))
    assert list(tmp_path.iterdir()) == []  # no half-written library left behind
