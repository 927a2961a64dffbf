"""The validation holdout carved from the train split (data.validation_fraction)."""
from __future__ import annotations

import collections
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfpipe import config, train
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import pipeline, schema
from tfpipe.data.datadir import DataDir
from tests.test_train import _args


def test_augmented_copies_go_with_their_original():
    ids = tf.constant([f"row{i}" for i in range(200)])
    copies = tf.constant([f"row{i}#th{k}" for i in range(200) for k in (1, 12)])
    base = pipeline.in_holdout(ids, 0.3).numpy()
    assert np.array_equal(np.repeat(base, 2), pipeline.in_holdout(copies, 0.3).numpy())


def test_holdout_fraction_is_stable_and_about_right():
    ids = tf.constant([f"id-{i}" for i in range(20_000)])
    a = pipeline.in_holdout(ids, 0.1).numpy()
    assert np.array_equal(a, pipeline.in_holdout(ids, 0.1).numpy())  # no seed, no state
    # Binomial(20000, 0.1): sd ~ 42; 5 sd either side.
    assert abs(int(a.sum()) - 2000) < 5 * 42
    # A larger fraction holds out a superset (buckets are thresholded, not re-drawn).
    b = pipeline.in_holdout(ids, 0.2).numpy()
    assert np.all(b[a]) and b.sum() > a.sum()
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        pipeline.in_holdout(ids, 1.0)


def _ids_and_labels(ds) -> collections.Counter:
    got = collections.Counter()
    for x, y in ds:
        for row, label in zip(x.numpy(), y.numpy()):
            got[(row.tobytes(), int(label))] += 1
    return got


def test_the_two_sides_partition_the_train_split(tiny_data_dir):
    manifest = manifest_lib.load(tiny_data_dir)
    whole = _ids_and_labels(pipeline.make_dataset(tiny_data_dir, "train", batch_size=16))
    held = pipeline.make_dataset(tiny_data_dir, "train", batch_size=16,
                                 holdout=pipeline.Holdout(0.25, take=True))
    rest = pipeline.make_dataset(tiny_data_dir, "train", batch_size=16, training=True, seed=3,
                                 holdout=pipeline.Holdout(0.25, take=False))
    n_held = pipeline.holdout_count(DataDir(tiny_data_dir, manifest), "train", pipeline.Holdout(0.25, True))
    n_rest = pipeline.holdout_count(DataDir(tiny_data_dir, manifest), "train", pipeline.Holdout(0.25, False))
    assert n_held + n_rest == manifest.splits["train"].count and 0 < n_held < n_rest
    # The declared batch counts are the sides' own.
    assert int(held.cardinality()) == -(-n_held // 16) and int(rest.cardinality()) == -(-n_rest // 16)
    got_held, got_rest = _ids_and_labels(held), _ids_and_labels(rest)
    assert sum(got_held.values()) == n_held and sum(got_rest.values()) == n_rest
    assert got_held + got_rest == whole
    # The held-out records are exactly those whose ids hash into the fraction.
    records = tf.data.TFRecordDataset(manifest.shard_paths(tiny_data_dir, "train")).batch(1000)
    parsed = [schema.parse(s, manifest.l0) for s in records]
    mask = np.concatenate([pipeline.in_holdout(p[schema.ID], 0.25).numpy() for p in parsed])
    chars = np.concatenate([p[schema.CHARS].numpy() for p in parsed])
    labels = np.concatenate([p[schema.LABEL].numpy() for p in parsed])
    expected = collections.Counter((c.tobytes(), int(l)) for c, l, m in zip(chars, labels, mask) if m)
    assert got_held == expected


@pytest.mark.parametrize("feature", ["word_ids", "text"])
def test_every_feature_reads_the_same_holdout(tiny_data_dir, feature):
    manifest = manifest_lib.load(tiny_data_dir)
    n_held = pipeline.holdout_count(DataDir(tiny_data_dir, manifest), "train", pipeline.Holdout(0.25, True))
    chars = pipeline.make_dataset(tiny_data_dir, "train", batch_size=16, holdout=pipeline.Holdout(0.25, True))
    other = pipeline.make_dataset(tiny_data_dir, "train", feature=feature, batch_size=16,
                                  holdout=pipeline.Holdout(0.25, True))
    ys = [y.numpy() for _, y in other]
    assert sum(len(y) for y in ys) == n_held and len(ys) == int(other.cardinality())
    # Same records in the same (file) order as the chars reader's holdout.
    assert np.array_equal(np.concatenate(ys), np.concatenate([y.numpy() for _, y in chars]))
    for x, _ in other:
        assert x.shape[0] <= 16


def test_a_fraction_that_leaves_nothing_is_an_error(tiny_data_dir):
    with pytest.raises(ValueError, match="leaves no held-out record"):
        pipeline.make_dataset(tiny_data_dir, "train", holdout=pipeline.Holdout(1e-7, take=True))


def test_config_checks_the_holdout_keys():
    cfg = config.from_dict({"data": {"validation_fraction": 0.1}})
    assert cfg.validation_split == "holdout"
    assert config.from_dict({"data": {"validation_fraction": 0.1}, "eval": {"validation_split": "holdout"}})
    with pytest.raises(config.ConfigError, match="drop one of them"):
        config.from_dict({"data": {"validation_fraction": 0.1}, "eval": {"validation_split": "test"}})
    with pytest.raises(config.ConfigError, match="data.validation_fraction"):
        config.from_dict({"eval": {"validation_split": "holdout"}})
    with pytest.raises(config.ConfigError, match="validation_fraction"):
        config.from_dict({"data": {"validation_fraction": 1.0}})


def test_training_validates_on_the_holdout(tiny_data_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    assert train.main(_args(tiny_data_dir, model_dir, "train.epochs=1",
                            "data.validation_fraction=0.25")) == 0
    with open(os.path.join(model_dir, "train_results.json")) as f:
        results = json.load(f)
    manifest = manifest_lib.load(tiny_data_dir)
    held = pipeline.holdout_count(DataDir(tiny_data_dir, manifest), "train", pipeline.Holdout(0.25, True))
    assert results["validation_split"] == "holdout"
    assert results["validation_examples"] == held
    assert results["train_examples"] == manifest.splits["train"].count - held
    assert results["examples_seen"] == results["train_examples"]
    assert "val_accuracy" in results["final"]


def test_restore_best_ends_with_the_best_holdout_epoch(tiny_data_dir, tmp_path):
    import keras

    import tfpipe.models  # noqa: F401  (custom layers of model.keras)

    model_dir = str(tmp_path / "run")
    assert train.main(_args(tiny_data_dir, model_dir, "train.epochs=3", "train.learning_rate=0.05",
                            "data.validation_fraction=0.25", "train.restore_best=true")) == 0
    with open(os.path.join(model_dir, "train_results.json")) as f:
        results = json.load(f)
    accs = [h["val_accuracy"] for h in results["history"]]
    assert results["restored_best_epoch"] == int(np.argmax(accs)) == results["best_epoch"]
    final = keras.models.load_model(os.path.join(model_dir, "model.keras"), compile=False)
    best = keras.models.clone_model(final)
    best.load_weights(os.path.join(model_dir, "checkpoints", "best.weights.h5"))
    for a, b in zip(final.get_weights(), best.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_restore_best_may_not_choose_on_the_reported_split():
    with pytest.raises(config.ConfigError, match="restore_best"):
        config.from_dict({"train": {"restore_best": True}})
    assert config.from_dict({"train": {"restore_best": True}, "eval": {"validation_split": "dev"}})
