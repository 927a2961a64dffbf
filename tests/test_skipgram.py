"""Skip-gram: pairs made in tf.data, Huffman codes, losses and gradients by hand, training, export."""
from __future__ import annotations

import json
import math
import os
import random

import numpy as np
import pytest
import tensorflow as tf

from tfpipe import config as config_lib
from tfpipe import models
from tfpipe.data import skipgram_pairs as sd
from tfpipe.embeddings import word2vec_format
from tfpipe.embeddings.nearest import nearest
from tfpipe.models import skipgram as sg

SEED = tf.constant([3, 4], tf.int64)


def _pairs(word_ids, counts, *, window, subsample=0.0, min_count=1, seed=SEED):
    keep = sd.keep_probabilities(counts, min_count=min_count, subsample=subsample)
    target, context, words = sd.make_pairs(tf.constant(word_ids, tf.int64), keep, window=window, seed=seed)
    return list(zip(target.numpy().tolist(), context.numpy().tolist())), int(words)


# --------------------------------------------------------------------------- pairs


def test_window_one_gives_exactly_the_neighbours():
    # Two sentences (ids 2..7), padded with 0; no subsampling; window 1 (the reduced window is 1).
    pairs, words = _pairs([[2, 3, 4, 5, 0, 0], [6, 7, 0, 0, 0, 0]], [10] * 6, window=1)
    assert sorted(pairs) == [(2, 3), (3, 2), (3, 4), (4, 3), (4, 5), (5, 4), (6, 7), (7, 6)]
    assert words == 6


def test_pairs_lie_within_the_window_and_the_nearest_are_always_there():
    sentence = [2, 3, 4, 5, 6]
    for seed in range(5):
        pairs, _ = _pairs([sentence], [10] * 5, window=2, seed=tf.constant([seed, 0], tf.int64))
        assert len(pairs) == len(set(pairs))
        distances = {abs(sentence.index(t) - sentence.index(c)) for t, c in pairs}
        assert distances <= {1, 2}
        neighbours = {(a, b) for a, b in zip(sentence, sentence[1:])} | {(b, a) for a, b in zip(sentence, sentence[1:])}
        assert neighbours <= set(pairs)


def test_reduced_window_statistics():
    # Window 2: each centre draws b in {1, 2}; the pair (i, i +- 2) exists iff b_i = 2 (p = 1/2).
    # Sentence of 5 words: 8 pairs at distance 1 (always) and 6 possible at distance 2, so the
    # expected number of pairs is 8 + 6 / 2 = 11.
    n = 4000
    word_ids = np.tile(np.arange(2, 7), (n, 1))
    target, context, _ = sd.make_pairs(
        tf.constant(word_ids), sd.keep_probabilities([10] * 5, min_count=1, subsample=0.0), window=2, seed=SEED
    )
    distance = np.abs(target.numpy() - context.numpy())
    assert set(np.unique(distance)) == {1, 2}
    assert (distance == 1).sum() == 8 * n
    assert abs((distance == 2).sum() / (6 * n) - 0.5) < 0.02  # sd of the fraction ~0.003
    assert abs(len(distance) / n - 11.0) < 0.12


def test_pad_oov_and_rare_words_are_removed_before_the_window():
    # counts: id 2 and 3 common, id 4 seen twice (under min_count 5); 1 = OOV, 0 = pad.
    counts = [50, 40, 2]
    pairs, words = _pairs([[2, 1, 4, 3, 0]], counts, window=1, min_count=5)
    # 1 and 4 are dropped, so 2 and 3 become neighbours (as in word2vec.c).
    assert sorted(pairs) == [(2, 3), (3, 2)]
    assert words == 2


def test_keep_probability_is_word2vec_formula():
    # counts 1000 and 10 (total 1010), t = 0.01: threshold t * total = 10.1,
    # p = (sqrt(count / 10.1) + 1) * 10.1 / count.
    p = sd.keep_probabilities([1000, 10], min_count=1, subsample=0.01)
    assert p[0] == 0 and p[1] == 0  # pad, OOV
    assert p[2] == pytest.approx((math.sqrt(1000 / 10.1) + 1) * 10.1 / 1000)  # 0.110599
    assert p[2] == pytest.approx(0.1105994, abs=1e-6)
    assert p[3] == 1.0  # (sqrt(0.99) + 1) * 1.01 > 1
    np.testing.assert_array_equal(sd.keep_probabilities([1000, 10, 1], min_count=5, subsample=0.0), [0, 0, 1, 1, 0])


def test_subsampling_keeps_the_expected_fraction():
    p = sd.keep_probabilities([1000, 10], min_count=1, subsample=0.01)[2]
    word_ids = np.full((2000, 10), 2)
    target, _, words = sd.make_pairs(
        tf.constant(word_ids), sd.keep_probabilities([1000, 10], min_count=1, subsample=0.01), window=1, seed=SEED
    )
    assert int(words) == 20000  # words are counted before subsampling
    keep = tf.constant(sd.keep_probabilities([1000, 10], min_count=1, subsample=0.01))
    u = tf.random.stateless_uniform([2000, 10], seed=[1, 2], dtype=tf.float64)
    fraction = float(tf.reduce_mean(tf.cast(u < tf.gather(keep, word_ids), tf.float64)))
    assert abs(fraction - p) < 0.01
    # Through make_pairs: a row keeping m of its 10 words gives 2 (m - 1) pairs (0 if m = 0), so
    # E = 2 (10 p - 1 + (1 - p)^10) pairs per row with window 1.
    expected = 2 * (10 * p - 1 + (1 - p) ** 10)
    assert abs(len(target.numpy()) / 2000 - expected) < 0.1


def test_pairs_dataset_counts_every_word_and_is_seeded(tiny_data_dir):
    words_list, counts = sd.read_counts(tiny_data_dir)
    total = sd.count_words(tiny_data_dir, "train", min_count=2)
    trained = sd.trained_mask(counts, 2)

    def run(seed, batch_size=64):
        ds = sd.pairs_dataset(tiny_data_dir, "train", batch_size=batch_size, window=3, subsample=1e-3,
                              min_count=2, seed=seed, sentences_per_batch=16)
        return [{k: v.numpy() for k, v in b.items()} for b in ds]

    batches = run(0)
    assert all(len(b["target"]) == 64 for b in batches[:-1]) and 0 < len(batches[-1]["target"]) <= 64
    target = np.concatenate([b["target"] for b in batches])
    context = np.concatenate([b["context"] for b in batches])
    assert trained[target].all() and trained[context].all() and (target != context).any()
    assert sum(b["words"].sum() for b in batches) == pytest.approx(total, rel=1e-5)
    again = run(0)
    assert all((a["target"] == b["target"]).all() for a, b in zip(batches, again))
    other = run(1)
    assert any(len(a["target"]) != len(b["target"]) or (a["target"] != b["target"]).any()
               for a, b in zip(batches, other))


def test_read_counts_rejects_a_vocab_without_counts(tmp_path, tiny_data_dir):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_data_dir, data)
    (data / "vocab.tsv").write_text("the\t5\nof\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: expected 'word<TAB>count"):
        sd.read_counts(str(data))


# --------------------------------------------------------------------------- Huffman tree


def test_huffman_codes_by_hand():
    # word2vec.c's CreateBinaryTree on counts 5, 3, 2, 1 (words a, b, c, d):
    #   merge d(1) + c(2) -> node 4 (count 3), c gets branch 1
    #   merge node 4 (3) + b(3) -> node 5 (6): ties take the new node first, b gets branch 1
    #   merge a(5) + node 5 (6) -> root 6 (11), node 5 gets branch 1
    # Paths from the root (inner ids = node - 4: root 2, node 5 -> 1, node 4 -> 0):
    codes, points, lengths = sg.huffman_tree([5, 3, 2, 1])
    assert lengths.tolist() == [1, 2, 3, 3]
    assert [codes[i, :n].tolist() for i, n in enumerate(lengths)] == [[0], [1, 1], [1, 0, 1], [1, 0, 0]]
    assert [points[i, :n].tolist() for i, n in enumerate(lengths)] == [[2], [2, 1], [2, 1, 0], [2, 1, 0]]
    assert (codes[0, 1:] == 0).all() and (points[0, 1:] == 0).all()


def test_huffman_edge_cases():
    codes, points, lengths = sg.huffman_tree([7])
    assert lengths.tolist() == [0] and codes.shape == (1, 0)
    codes, points, lengths = sg.huffman_tree([4, 4])
    assert [codes[i, :n].tolist() for i, n in enumerate(lengths)] == [[1], [0]]
    with pytest.raises(ValueError, match="most frequent first"):
        sg.huffman_tree([1, 5])


# --------------------------------------------------------------------------- losses and gradients


def _tiny_model(loss="negative_sampling", share=1, negatives=2):
    # 4 words with counts 5, 3, 2, 1 -> ids 2..5; dim 2.
    model = sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], dim=2, min_count=1, loss=loss,
                        negatives=negatives, share_negatives=share)
    model.compile(optimizer="sgd")
    return model


LN3 = math.log(3.0)


def test_negative_sampling_loss_and_gradient_by_hand():
    # v = (1, 0); u_context = (0, 0) -> s = 0: -log s(0) = ln 2, d/ds = -1/2.
    # negatives u = (ln 3, 0) and (-ln 3, 5): scores ln 3 and -ln 3,
    #   -log s(-ln 3) = ln 4 (grad s(ln 3) = 3/4), -log s(ln 3) = ln 4/3 (grad 1/4).
    # loss = ln 2 + ln 4 + ln 4/3 = ln 32/3.
    # dL/dv = -1/2 (0, 0) + 3/4 (ln 3, 0) + 1/4 (-ln 3, 5) = (ln 3 / 2, 5/4)
    # dL/du_context = -1/2 v = (-1/2, 0); dL/du_n1 = 3/4 v; dL/du_n2 = 1/4 v.
    m = _tiny_model()
    inputs = np.zeros((6, 2), np.float32)
    inputs[2] = [1, 0]
    outputs = np.zeros((6, 2), np.float32)
    outputs[4] = [LN3, 0]
    outputs[5] = [-LN3, 5]
    m.input_vectors.assign(inputs)
    m.output_vectors.assign(outputs)
    target, context, negatives = tf.constant([2]), tf.constant([3]), tf.constant([[4, 5]])
    with tf.GradientTape() as tape:
        loss = m.pair_loss(target, context, negatives)
    assert float(loss[0]) == pytest.approx(math.log(32 / 3), rel=1e-6)
    g_in, g_out = tape.gradient(loss, [m.input_vectors, m.output_vectors])
    g_in, g_out = tf.convert_to_tensor(g_in).numpy(), tf.convert_to_tensor(g_out).numpy()
    np.testing.assert_allclose(g_in[2], [LN3 / 2, 1.25], rtol=1e-6)
    np.testing.assert_allclose(g_out[[3, 4, 5]], [[-0.5, 0], [0.75, 0], [0.25, 0]], rtol=1e-6)
    assert np.abs(np.delete(g_in, 2, axis=0)).sum() == 0

    # The SGD step (alpha = 0.1) moves exactly those rows by -alpha * gradient.
    before = float(m.sgd_step(target, context, 0.1, negatives)[0])
    assert before == pytest.approx(math.log(32 / 3), rel=1e-6)
    np.testing.assert_allclose(m.input_vectors.numpy()[2], [1 - 0.1 * LN3 / 2, -0.125], rtol=1e-6)
    np.testing.assert_allclose(
        m.output_vectors.numpy()[[3, 4, 5]], [[0.05, 0], [LN3 - 0.075, 0], [-LN3 - 0.025, 5]], rtol=1e-6
    )


def test_a_negative_equal_to_the_context_is_skipped_and_padding_pairs_cost_nothing():
    m = _tiny_model()
    m.input_vectors.assign(np.ones((6, 2), np.float32))
    m.output_vectors.assign(np.ones((6, 2), np.float32))  # every score 2
    loss = m.pair_loss(tf.constant([2, 0]), tf.constant([3, 0]), tf.constant([[3, 4], [2, 3]])).numpy()
    softplus = math.log1p(math.exp(2.0))
    # pair 1: context term -log s(2) = softplus(-2); negative 3 = context: skipped; negative 4: softplus(2)
    assert loss[0] == pytest.approx(math.log1p(math.exp(-2.0)) + softplus, rel=1e-6)
    assert loss[1] == 0.0


def test_shared_negatives_are_one_draw_per_group():
    # share_negatives=2: pairs 0 and 1 use negatives row 0, pair 2 uses row 1 (padded group).
    m = _tiny_model(share=2)
    m.input_vectors.assign(np.tile(np.array([[1, 0]], np.float32), (6, 1)))
    out = np.zeros((6, 2), np.float32)
    out[4] = [LN3, 0]
    m.output_vectors.assign(out)
    loss = m.pair_loss(tf.constant([2, 3, 4]), tf.constant([3, 2, 2]), tf.constant([[4, 4], [5, 5]])).numpy()
    # pairs 0, 1: context score 0 (ln 2) + two negatives 4 at score ln 3 (ln 4 each);
    # pair 2 (second group, negatives 5): every score 0 -> 3 ln 2.
    np.testing.assert_allclose(loss, [math.log(32), math.log(32), 3 * math.log(2)], rtol=1e-6)
    assert m.sample_negatives(tf.constant(3, tf.int64)).shape == (3, 2)


def test_hierarchical_softmax_loss_by_hand():
    # Word c (id 4) has code 1 0 1 over inner nodes 2 1 0 (test_huffman_codes_by_hand): labels
    # 1 - code = 0 1 0, loss = -log s(-s_2) - log s(s_1) - log s(-s_0).  With v = (1, 0) and node
    # vectors u_0 = (ln 3, 0), u_1 = (0, 0), u_2 = (-ln 3, 0): scores s_2 = -ln 3, s_1 = 0,
    # s_0 = ln 3 -> ln 4/3 + ln 2 + ln 4 = ln 32/3.
    m = _tiny_model(loss="hierarchical_softmax")
    assert m.output_vectors.shape == (3, 2)  # 4 words -> 3 inner nodes
    inputs = np.zeros((6, 2), np.float32)
    inputs[2] = [1, 0]
    m.input_vectors.assign(inputs)
    m.output_vectors.assign(np.array([[LN3, 0], [0, 0], [-LN3, 0]], np.float32))
    with tf.GradientTape() as tape:
        loss = m.pair_loss(tf.constant([2]), tf.constant([4]))
    assert float(loss[0]) == pytest.approx(math.log(32 / 3), rel=1e-6)
    # dL/dv = sum_j (s(s_j) - y_j) u_j = (3/4)(ln 3, 0) + (-1/2)(0, 0) + (1/4)(-ln 3, 0) = (ln 3 / 2, 0)
    g_in = tf.convert_to_tensor(tape.gradient(loss, m.input_vectors)).numpy()
    np.testing.assert_allclose(g_in[2], [LN3 / 2, 0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss,share", [("negative_sampling", 1), ("negative_sampling", 2), ("hierarchical_softmax", 1)])
def test_sgd_step_equals_keras_sgd_on_the_autodiff_gradient(loss, share):
    import keras

    target = tf.constant([2, 3, 4, 2, 0])
    context = tf.constant([3, 4, 2, 5, 0])
    negatives = tf.constant([[4, 5], [3, 3], [2, 7], [5, 6], [2, 3]][: (5 + share - 1) // share])
    negatives = negatives if loss == "negative_sampling" else None
    results = []
    for manual in (True, False):
        m = sg.skipgram(vocab_size=8, vocab_counts=[9, 7, 5, 5, 3, 2], dim=4, min_count=1, loss=loss,
                        negatives=2, share_negatives=share, seed=3)
        m.compile(optimizer=keras.optimizers.SGD(0.5))
        m.output_vectors.assign(np.random.default_rng(1).normal(size=m.output_vectors.shape).astype("f4"))
        if manual:
            m.sgd_step(target, context, 0.5, negatives)
        else:
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(m.pair_loss(target, context, negatives))
            variables = [m.input_vectors, m.output_vectors]
            m.optimizer.apply(tape.gradient(total, variables), variables)
        results.append([m.input_vectors.numpy(), m.output_vectors.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_row_update_cap_scales_only_rows_touched_by_many_pairs():
    # Four pairs share target 2 and negative draw [5, 5] (one group of 4); contexts 3, 3, 3, 4.
    # With cap 2: input row 2 (4 pairs) moves 2/4 as far as without a cap; context row 3
    # (3 pairs) 2/3; row 4 (1 pair) fully; negative row 5 (4 pairs x 2 draws = 8 terms) 2/8.
    target = tf.constant([2, 2, 2, 2])
    context = tf.constant([3, 3, 3, 4])
    negatives = tf.constant([[5, 5]])
    moves = {}
    for cap in (0, 2):
        m = sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], dim=2, min_count=1, negatives=2,
                        share_negatives=4, row_update_cap=cap)
        m.compile(optimizer="sgd")
        start_in = np.random.default_rng(0).normal(size=(6, 2)).astype("f4")
        start_out = np.random.default_rng(1).normal(size=(6, 2)).astype("f4")
        m.input_vectors.assign(start_in)
        m.output_vectors.assign(start_out)
        m.sgd_step(target, context, 0.1, negatives)
        moves[cap] = (m.input_vectors.numpy() - start_in, m.output_vectors.numpy() - start_out)
    np.testing.assert_allclose(moves[2][0][2], moves[0][0][2] * 2 / 4, rtol=1e-5)
    np.testing.assert_allclose(moves[2][1][3], moves[0][1][3] * 2 / 3, rtol=1e-5)
    np.testing.assert_allclose(moves[2][1][4], moves[0][1][4], rtol=1e-5)
    np.testing.assert_allclose(moves[2][1][5], moves[0][1][5] * 2 / 8, rtol=1e-5)
    assert np.abs(moves[0][1][[3, 4, 5]]).min() > 0


def test_noise_distribution_is_unigram_to_the_three_quarters():
    m = sg.skipgram(vocab_size=5, vocab_counts=[16, 1, 1], dim=2, min_count=1, negatives=1, share_negatives=1)
    ids = m.sample_negatives(tf.constant(60000, tf.int64)).numpy().ravel()
    assert set(np.unique(ids)) == {2, 3, 4}
    # 16^0.75 = 8 : 1 : 1
    assert abs((ids == 2).mean() - 0.8) < 0.01
    m = sg.skipgram(vocab_size=5, vocab_counts=[16, 9, 1], dim=2, min_count=5, negatives=1)
    assert set(np.unique(m.sample_negatives(tf.constant(20000, tf.int64)).numpy())) == {2, 3}


def test_learning_rate_schedules():
    m = _tiny_model()
    m.configure_schedule(base=0.025, schedule="linear", total_words=1000)
    for seen, expected in [(0, 0.025), (500, 0.0125), (1000, 0.025e-4), (5000, 0.025e-4)]:
        m.words_seen.assign(seen)
        assert float(m.current_learning_rate()) == pytest.approx(expected, rel=1e-5)
    m.configure_schedule(base=0.1, schedule="cosine", total_words=100, lr_min=0.01)
    m.words_seen.assign(50)
    assert float(m.current_learning_rate()) == pytest.approx(0.055, rel=1e-5)
    with pytest.raises(ValueError, match="valid schedules: linear, cosine, constant"):
        m.configure_schedule(base=0.1, schedule="paper_step")


def test_builder_is_registered_and_checks_its_keys():
    assert models.feature_of("skipgram") == "word_ids"
    with pytest.raises(ValueError, match="valid losses: negative_sampling, hierarchical_softmax"):
        sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], loss="nce")
    with pytest.raises(ValueError, match="vocab_size=7 but 4 vocabulary counts"):
        sg.skipgram(vocab_size=7, vocab_counts=[5, 3, 2, 1])
    with pytest.raises(ValueError, match="no vocabulary word occurs min_count=9 times"):
        sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], min_count=9)
    with pytest.raises(ValueError, match="dim must be in"):
        sg.skipgram(vocab_size=6, vocab_counts=[5, 3, 2, 1], dim=0)


def test_nearest_by_cosine():
    words = ["a", "b", "c", "d", "e"]
    vectors = np.array([[1, 0], [2, 0.2], [0, 1], [-1, 0], [0, 0]], np.float32)
    result = nearest(words, vectors, "a", k=3)
    assert [w for w, _ in result] == ["b", "c", "e"]  # c and e both 0: vocabulary order
    assert result[0][1] == pytest.approx(2 / math.sqrt(4.04))
    assert nearest(words, vectors, "a", k=10)[-1] == ("d", pytest.approx(-1.0))
    with pytest.raises(KeyError, match="'z' is not among the 5 words"):
        nearest(words, vectors, "z")


# --------------------------------------------------------------------------- training


GROUPS = {
    "fruit": ["apple", "banana", "cherry", "grape", "lemon", "mango"],
    "vehicle": ["car", "truck", "bus", "train", "bike", "plane"],
}


@pytest.fixture(scope="module")
def topic_data_dir(tmp_path_factory) -> str:
    """Sentences drawing words from one group only: fruit words never meet vehicle words."""
    from tfpipe.data import records

    rng = random.Random(0)
    rows = []
    for i in range(500):
        group = "fruit" if i % 2 == 0 else "vehicle"
        rows.append((f"s{i:04d}", " ".join(rng.choice(GROUPS[group]) for _ in range(10)), i % 2))
    test = rows[:40]
    data_dir = str(tmp_path_factory.mktemp("topics"))
    records.write_dataset(data_dir, {"train": rows, "test": test}, ["fruit", "vehicle"], l0=64, max_words=16)
    return data_dir


def _config(data_dir: str, **model) -> config_lib.Config:
    cfg = config_lib.from_dict({
        "data": {"dir": data_dir},
        "model": {"name": "skipgram", "dim": 16, "window": 3, "subsample": 0, "min_count": 1, **model},
        "train": {"epochs": 3, "batch_size": 256, "optimizer": "sgd", "momentum": 0.0,
                  "learning_rate": 0.025, "schedule": "constant", "seed": 0},
        "eval": {"split": "test", "batch_size": 64},
    })
    cfg.train.schedule = "linear"  # word2vec's schedule (see tfpipe.tasks.word_vectors)
    return cfg


def _separation(words: list[str], vectors: np.ndarray) -> tuple[float, float]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(words)}
    within, across = [], []
    for a in GROUPS["fruit"] + GROUPS["vehicle"]:
        for b in GROUPS["fruit"] + GROUPS["vehicle"]:
            if a < b:
                same = (a in GROUPS["fruit"]) == (b in GROUPS["fruit"])
                (within if same else across).append(float(unit[index[a]] @ unit[index[b]]))
    return float(np.mean(within)), float(np.mean(across))


# The graph kernel's negative sharing (the defaults) and word2vec.c's independent draws; the
# fused kernel (tfpipe.ops.skipgram, the default where it builds) with both losses.
NEGATIVE_SAMPLING_16 = {"loss": "negative_sampling", "share_negatives": 16, "kernel": "graph"}


@pytest.fixture(scope="module")
def negative_sampling_run(topic_data_dir, tmp_path_factory) -> tuple[str, dict]:
    """``(run_dir, results)`` of one training with NEGATIVE_SAMPLING_16, read by two tests."""
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    run = str(tmp_path_factory.mktemp("negative_sampling_16") / "run")
    return run, train_lib.train(_config(topic_data_dir, **NEGATIVE_SAMPLING_16), run, verbose=0)


@pytest.mark.parametrize("model", [
    NEGATIVE_SAMPLING_16,
    {"loss": "negative_sampling", "share_negatives": 1, "kernel": "graph"},
    {"loss": "hierarchical_softmax", "kernel": "graph"},
    {"loss": "negative_sampling", "kernel": "fused"},
    {"loss": "hierarchical_softmax", "kernel": "fused"},
])
def test_words_that_co_occur_end_up_closer(topic_data_dir, tmp_path, model, request):
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    if model == NEGATIVE_SAMPLING_16:
        run, results = request.getfixturevalue("negative_sampling_run")
    else:
        run = str(tmp_path / "run")
        results = train_lib.train(_config(topic_data_dir, **model), run, verbose=0)
    words, vectors = trainer.load_vectors(run)
    assert sorted(words) == sorted(GROUPS["fruit"] + GROUPS["vehicle"])
    within, across = _separation(words, vectors)
    # Before training both are ~0; after, co-occurring words are clearly closer.
    assert within > across + 0.5, (within, across)
    assert results["final"]["loss"] < results["history"][0]["loss"] or results["epochs"] == 1
    top = [w for w, _ in trainer.nearest(words, vectors, "apple", k=5)]
    assert set(top) <= set(GROUPS["fruit"])


def test_training_writes_every_export_and_the_results(negative_sampling_run):
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    run, results = negative_sampling_run
    words, vectors = trainer.load_vectors(run)
    for name, binary in (("vectors.txt", False), ("vectors.bin", True)):
        assert word2vec_format.is_binary(os.path.join(run, name)) is binary
        loaded_words, loaded = word2vec_format.load(os.path.join(run, name))
        assert loaded_words == words
        np.testing.assert_array_equal(loaded, vectors)
    assert vectors.shape == (12, 16) and vectors.dtype == np.float32
    saved = json.load(open(os.path.join(run, "train_results.json")))
    assert saved["vocabulary_size"] == 12 and saved["words_per_sec"] > 0 and saved["pairs_per_sec"] > 0
    assert saved["training_time_s"] > 0
    # 500 sentences x 10 words, 3 epochs (max_words 16 keeps them whole)
    assert saved["words_trained"] == pytest.approx(3 * 5000, rel=1e-5)
    assert saved["words_per_epoch"] == 5000
    assert results["final"]["val_loss"] > 0
    events = [f for _, _, files in os.walk(os.path.join(run, "logs")) for f in files if "tfevents" in f]
    assert len(events) >= 2
    assert os.path.exists(os.path.join(run, "config.yaml"))


def test_config_errors(topic_data_dir, tmp_path):
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    cfg = _config(topic_data_dir)
    cfg.train.schedule = "paper_step"
    with pytest.raises(config_lib.ConfigError, match="valid schedules .*linear, cosine, constant"):
        train_lib.train(cfg, str(tmp_path / "run"), verbose=0)
    cfg = _config(topic_data_dir, windw=3)
    with pytest.raises(config_lib.ConfigError, match="windw"):
        train_lib.train(cfg, str(tmp_path / "run"), verbose=0)


def test_a_diverging_run_stops_with_advice(topic_data_dir, tmp_path):
    from tfpipe.train import TrainError
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    cfg = _config(topic_data_dir, kernel="graph")
    cfg.train.learning_rate = 500.0
    with pytest.raises(TrainError, match="diverged at step .* smaller train.batch_size .*row_update_cap"):
        train_lib.train(cfg, str(tmp_path / "run"), verbose=0)
    assert not os.path.exists(os.path.join(tmp_path, "run", "vectors.txt"))
    cfg = _config(topic_data_dir, kernel="fused")
    cfg.train.learning_rate = 500.0
    with pytest.raises(TrainError, match="diverged at step .* train.learning_rate=500.0 is too large"):
        train_lib.train(cfg, str(tmp_path / "fused"), verbose=0)
    assert not os.path.exists(os.path.join(tmp_path, "fused", "vectors.txt"))


@pytest.mark.parametrize("name", ["skipgram_ag_news.yaml", "skipgram_shared_text.yaml"])
def test_configs_are_valid(name):
    cfg = config_lib.load(os.path.join("configs", name))
    config_lib.validate_model(cfg)
    assert cfg.model_name == "skipgram" and cfg.train.schedule == "linear"
