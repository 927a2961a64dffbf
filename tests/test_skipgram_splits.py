"""Skip-gram learning from several stored splits (``data.train_splits``, e.g. all the text)."""
from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest

from tfpipe import config as config_lib

FRUIT = ["apple", "banana", "cherry", "grape"]
VEHICLE = ["car", "truck", "bus", "plane"]


@pytest.fixture(scope="module")
def split_data_dir(tmp_path_factory) -> str:
    """Train: 150 fruit and 50 vehicle sentences, plus 'kiwi' twice; test: 300 vehicle sentences,
    'kiwi' 6 times more and 'mango' (absent from train, so out of vocabulary) 6 times.

    Counted on train, fruit words come first in vocab.tsv; counted on train+test, vehicle words do.
    """
    from tfpipe.data import records

    rng = random.Random(0)

    def sentences(group, n, prefix):
        return [(f"{prefix}{i:04d}", " ".join(rng.choice(group) for _ in range(8)), 0) for i in range(n)]

    train = sentences(FRUIT, 150, "f") + sentences(VEHICLE, 50, "v")
    train += [("k0", "kiwi kiwi", 0)]
    test = sentences(VEHICLE, 300, "t") + [("k1", "kiwi kiwi kiwi kiwi kiwi kiwi", 0),
                                           ("m1", "mango mango mango mango mango mango", 0)]
    data_dir = str(tmp_path_factory.mktemp("splits"))
    records.write_dataset(data_dir, {"train": train, "test": test}, ["text"], l0=64, max_words=16,
                          ngram_vocab_size=0)
    return data_dir


def _config(data_dir: str, train_splits: str, **data) -> config_lib.Config:
    # Batches of 64 pairs: with 4 words taking most pairs, 256 summed updates of a row diverge.
    return config_lib.from_dict({
        "data": {"dir": data_dir, "train_splits": train_splits, **data},
        "model": {"name": "skipgram", "dim": 16, "window": 3, "subsample": 0, "min_count": 5},
        "train": {"epochs": 3, "batch_size": 64, "optimizer": "sgd", "momentum": 0.0,
                  "learning_rate": 0.025, "schedule": "linear", "seed": 0},
        "eval": {"split": "test", "batch_size": 64},
    })


def _vocab_tsv_words(data_dir: str) -> list[str]:
    with open(os.path.join(data_dir, "vocab.tsv"), encoding="utf-8") as f:
        return [line.split("\t")[0] for line in f.read().splitlines()]


def test_counts_come_from_every_split_trained_on(split_data_dir, tmp_path):
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    assert set(_vocab_tsv_words(split_data_dir)[:4]) == set(FRUIT)  # train-split counts: fruit first
    run = str(tmp_path / "all")
    results = train_lib.train(_config(split_data_dir, "train+test"), run, verbose=0)
    words, vectors = trainer.load_vectors(run)
    # kiwi: 2 in train + 6 in test >= min_count 5; mango never occurs in train: out of vocabulary.
    assert sorted(words) == sorted(FRUIT + VEHICLE + ["kiwi"])
    # Most frequent first by train+test counts: the 2,800 vehicle tokens before the 1,200 fruit ones.
    assert set(words[:4]) == set(VEHICLE) and set(words[4:8]) == set(FRUIT) and words[8] == "kiwi"
    assert results["words_per_epoch"] == (150 + 50) * 8 + 2 + 300 * 8 + 6  # mango is not counted
    assert results["train_splits"] == ["train", "test"] and results["val_split"] is None
    assert "val_loss" not in results["final"]
    # The pairs' ids were mapped to the new order: each word's vector sits on its own row,
    # so fruit words are nearer each other than to vehicle words.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    row = {w: i for i, w in enumerate(words)}
    sims = {(a, b): float(unit[row[a]] @ unit[row[b]]) for a in FRUIT + VEHICLE for b in FRUIT + VEHICLE if a < b}
    within = np.mean([s for (a, b), s in sims.items() if (a in FRUIT) == (b in FRUIT)])
    across = np.mean([s for (a, b), s in sims.items() if (a in FRUIT) != (b in FRUIT)])
    assert within > across + 0.5, (within, across)


def test_train_alone_keeps_the_vocab_tsv_counts(split_data_dir, tmp_path):
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    run = str(tmp_path / "train")
    results = train_lib.train(_config(split_data_dir, "train"), run, verbose=0)
    words, _ = trainer.load_vectors(run)
    assert words == _vocab_tsv_words(split_data_dir)[:8]  # vocab.tsv's order; kiwi: 2 < min_count in train
    assert results["words_per_epoch"] == 200 * 8 and results["val_split"] == "test"
    assert results["final"]["val_loss"] > 0
    assert json.load(open(os.path.join(run, "train_results.json")))["counts_from"] == "vocab.tsv"


def test_bad_train_splits_are_clear_errors(split_data_dir, tmp_path):
    from tfpipe.training import datasets
    from tfpipe import train as train_lib
    from tfpipe.tasks import word_vectors as trainer

    with pytest.raises(config_lib.ConfigError, match=r"split names joined by '\+', each named once"):
        train_lib.train(_config(split_data_dir, "train++test"), str(tmp_path / "a"), verbose=0)
    with pytest.raises(config_lib.ConfigError, match="each named once"):
        train_lib.train(_config(split_data_dir, "train+train"), str(tmp_path / "a"), verbose=0)
    with pytest.raises(datasets.DataError, match="split 'valid' not in .*its splits: test, train"):
        train_lib.train(_config(split_data_dir, "train+valid"), str(tmp_path / "a"), verbose=0)
    with pytest.raises(config_lib.ConfigError, match="validation_fraction"):
        train_lib.train(_config(split_data_dir, "train", validation_fraction=0.1), str(tmp_path / "a"), verbose=0)


def test_only_skipgram_learns_from_other_splits():
    cfg = config_lib.from_dict({"data": {"train_splits": "train+test"}, "model": {"name": "char_cnn_small"}})
    with pytest.raises(config_lib.ConfigError, match=r"data.train_splits='train\+test'.*for skipgram"):
        config_lib.validate_model(cfg)
    assert config_lib.load().data.train_splits == "train"


def test_the_all_text_config_is_valid():
    cfg = config_lib.load(os.path.join(config_lib.REPO_ROOT, "configs", "skipgram_shared_all.yaml"))
    config_lib.validate_model(cfg)
    assert cfg.data.train_splits == "train+test" and cfg.data.dir == "artifacts/data/shared_text"
