"""Trained skip-gram vectors carry meaning: AG's News class words cluster (real data, ~20 s CPU).

Skip-gram (100 dimensions, 3 epochs, word2vec.c's other settings) learns from
the agreed AG's News train split (6,080 texts, labels unused).  Then, from the
same split's class-conditional word counts, each class (World, Sports,
Business, Sci/Tech) gets its distinctive words by a fixed rule
(:func:`distinctive_words`: alphabetic words seen at least ``MIN_COUNT`` times
of which at least ``MIN_SHARE`` fall in that class, the ``PER_CLASS`` most
frequent in it).  Among all the distinctive words, the 10 nearest neighbours
(cosine, ``tfpipe.neighbors``) of a class's word should be the same class's
words far more often than chance (a neighbour drawn at random from the other
distinctive words: ``(n_c - 1) / (n - 1)``).  Measured here: 0.80 against a
chance rate of 0.25 (World 0.85, Sports 0.80, Business 0.67, Sci/Tech 0.80).

That the word2vec files read back in gensim, value for value, is
tests/test_word2vec_format.py (test_gensim_reads_what_we_write); here gensim's
``most_similar`` on the trained ``vectors.bin`` must agree with our neighbours.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from tests.conftest import SHARED_DATA, shared_path

MIN_COUNT = 20  # occurrences in the train split: enough to be trained well
MIN_SHARE = 0.75  # of them in one class (3x the 0.25 of four equal classes)
PER_CLASS = 50
K = 10


def distinctive_words(class_counts: np.ndarray, words: list[str]) -> list[list[str]]:
    """Per class, its distinctive words: ``class_counts`` ``[classes, words]`` counts in the train
    split; alphabetic words counted at least MIN_COUNT times, at least MIN_SHARE of them in the
    class, the PER_CLASS most frequent in that class (ties: vocabulary order)."""
    total = class_counts.sum(axis=0)
    alphabetic = np.array([w.isalpha() for w in words])
    chosen = []
    for counts in class_counts:
        share = counts / np.maximum(total, 1)
        rows = np.flatnonzero(alphabetic & (total >= MIN_COUNT) & (share >= MIN_SHARE))
        rows = rows[np.argsort(-counts[rows], kind="stable")][:PER_CLASS]
        chosen.append([words[i] for i in rows])
    return chosen


# Real-data training (~15 s on 2 cores): slow.  The fast suite trains skip-gram on tiny topic
# data (tests/test_skipgram.py::test_words_that_co_occur_end_up_closer: co-occurring words end
# up nearer) and reads the word2vec files back in gensim (tests/test_word2vec_format.py).
@pytest.fixture(scope="module")
def ag_news_vectors(tmp_path_factory):
    """``(run_dir, class_names, class_counts [4, vocab], vocab)`` after training on AG's News train."""
    shared_path("ag_news", "test.csv")
    from benchmarks.peers import load_corpus
    from tfpipe import config as config_lib
    from tfpipe.data import pipeline, records
    from tfpipe.data import skipgram_pairs as skipgram_data
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    corpus = load_corpus("ag_news", SHARED_DATA)
    assert len(corpus.train_texts) == 6080
    rows = [(f"train{i}", text, label) for i, (text, label) in enumerate(zip(corpus.train_texts, corpus.train_labels))]
    data_dir = str(tmp_path_factory.mktemp("ag_news"))
    records.write_dataset(data_dir, {"train": rows}, corpus.class_names, ngram_vocab_size=0)
    cfg = config_lib.from_dict({
        "data": {"dir": data_dir, "cache": True},
        "model": {"name": "skipgram", "dim": 100, "window": 5, "subsample": 1e-3, "min_count": 5},
        "train": {"epochs": 3, "batch_size": 4096, "optimizer": "sgd", "momentum": 0.0,
                  "learning_rate": 0.025, "schedule": "linear", "seed": 0},
        "eval": {"split": "train"},
    })
    run_dir = str(tmp_path_factory.mktemp("skipgram"))
    train_lib.train(cfg, run_dir, verbose=0)

    vocab, _ = skipgram_data.read_counts(data_dir)
    size = len(vocab) + 2
    class_counts = np.zeros((len(corpus.class_names), size), np.int64)
    for x, y in pipeline.make_dataset(data_dir, "train", feature="word_ids", batch_size=1024):
        x, y = x.numpy(), y.numpy()
        for label in range(len(corpus.class_names)):
            class_counts[label] += np.bincount(x[y == label].ravel(), minlength=size)
    return run_dir, corpus.class_names, class_counts[:, 2:], vocab


def test_distinctive_words_rule_by_hand():
    words = ["goal", "team", "the", "bank", "rare", "/"]
    counts = np.array([
        [1, 24, 500, 0, 1, 0],    # World: team 24/40 = 0.6 < MIN_SHARE
        [30, 16, 500, 2, 18, 0],  # Sports: goal 30/31; rare 18/19 but 19 < MIN_COUNT
        [0, 0, 500, 40, 0, 50],   # Business: bank 40/42; "/" 50/50 is not alphabetic
    ])
    assert distinctive_words(counts, words) == [[], ["goal"], ["bank"]]


@pytest.mark.slow
def test_class_words_are_each_others_neighbours(ag_news_vectors):
    from tfpipe import neighbors as nb
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    run_dir, class_names, class_counts, vocab = ag_news_vectors
    words, vectors = trainer.load_vectors(run_dir)
    row = {w: i for i, w in enumerate(words)}
    trained = np.array([w in row for w in vocab])
    chosen = distinctive_words(class_counts * trained, vocab)
    assert all(len(c) == PER_CLASS for c in chosen), [len(c) for c in chosen]
    pool = [w for c in chosen for w in c]
    label = {w: k for k, c in enumerate(chosen) for w in c}
    idx = nb.word_index(pool, vectors[[row[w] for w in pool]])
    found = nb.neighbors(idx, pool, k=K)
    same = {k: [] for k in range(len(chosen))}
    for word, near in found.items():
        same[label[word]].append(np.mean([label[n.word] == label[word] for n in near]))
    chance = {k: (len(c) - 1) / (len(pool) - 1) for k, c in enumerate(chosen)}
    rate = {class_names[k]: float(np.mean(v)) for k, v in same.items()}
    overall = float(np.mean([r for v in same.values() for r in v]))
    print(f"same-class neighbour rate {overall:.3f} (chance {np.mean(list(chance.values())):.3f}); by class {rate}")
    assert overall >= np.mean(list(chance.values())) + 0.3, rate
    for k, name in enumerate(class_names):
        assert rate[name] >= 2 * chance[k], (name, rate[name], chance[k])


@pytest.mark.slow
def test_gensim_finds_the_same_neighbours_in_the_binary_file(ag_news_vectors):
    gensim_models = pytest.importorskip("gensim.models")
    from tfpipe import neighbors as nb

    run_dir = ag_news_vectors[0]
    kv = gensim_models.KeyedVectors.load_word2vec_format(os.path.join(run_dir, "vectors.bin"), binary=True)
    idx = nb.open_index(run_dir=run_dir)
    assert list(kv.index_to_key) == idx.labels
    queries = ["oil", "iraq", "microsoft", "season"]
    ours = nb.neighbors(idx, queries, k=5)
    for query in queries:
        theirs = kv.most_similar(query, topn=5)
        assert [n.word for n in ours[query]] == [w for w, _ in theirs]
        np.testing.assert_allclose([n.score for n in ours[query]], [s for _, s in theirs], atol=1e-5)
