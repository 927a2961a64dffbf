"""The trainer's datasets (tfpipe.training.datasets): on-the-fly augmentation, trimming."""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tfpipe import config
from tfpipe.data import features
from tfpipe.data import manifest as manifest_lib
from tfpipe.data.datadir import DataDir
from tfpipe.training import datasets

THESAURUS = os.path.join(os.path.dirname(__file__), "data", "thesaurus_small.tsv")


def _cfg(tiny_data_dir, **data):
    return config.from_dict({
        "data": {"dir": tiny_data_dir, "shuffle_buffer": 1000, **data},
        "model": {"name": "char_cnn_small"},
        "train": {"batch_size": 16, "seed": 5},
    })


def test_on_the_fly_thesaurus_augmentation_changes_texts_and_keeps_the_stream(tiny_data_dir):
    m = manifest_lib.load(tiny_data_dir)
    plain_cfg = _cfg(tiny_data_dir)
    aug_cfg = _cfg(tiny_data_dir, thesaurus=THESAURUS)
    chars = features.make("chars", DataDir(tiny_data_dir, m))
    plain = list(datasets.train_dataset(plain_cfg, DataDir(tiny_data_dir, m), chars))
    augmented = list(datasets.train_dataset(aug_cfg, DataDir(tiny_data_dir, m), chars))
    assert len(plain) == len(augmented)
    changed = total = 0
    for (x1, y1), (x2, y2) in zip(plain, augmented):
        np.testing.assert_array_equal(y1, y2)  # same records, same order: only the texts change
        assert x2.dtype == tf.uint8 and x2.shape[1:] == (m.l0,)
        changed += int(np.sum(np.any(x1.numpy() != x2.numpy(), axis=1)))
        total += int(y1.shape[0])
    assert total == m.splits["train"].count
    # Texts with "win", "market" or "shares" (about half) get a synonym; the rest stay as they are.
    assert 0 < changed < total
    # The same seed gives the same augmented stream.
    again = list(datasets.train_dataset(aug_cfg, DataDir(tiny_data_dir, m), chars))
    for (a, _), (b, _) in zip(augmented, again):
        np.testing.assert_array_equal(a, b)


def test_augmentation_of_a_resumed_epoch_stream_is_the_uninterrupted_one(tiny_data_dir):
    """With first_epoch each batch's draw is seeded by its index in the run: the stream started
    at epoch 2 augments exactly as the full stream does from epoch 2 on."""
    m = manifest_lib.load(tiny_data_dir)
    cfg = _cfg(tiny_data_dir, thesaurus=THESAURUS)
    chars = features.make("chars", DataDir(tiny_data_dir, m))
    steps = datasets.train_steps(cfg, DataDir(tiny_data_dir, m))
    assert steps == 8  # 120 rows, batch 16
    full = [x.numpy() for x, _ in datasets.train_dataset(cfg, DataDir(tiny_data_dir, m), chars, first_epoch=0).take(4 * steps)]
    resumed = [x.numpy() for x, _ in datasets.train_dataset(cfg, DataDir(tiny_data_dir, m), chars, first_epoch=2).take(2 * steps)]
    for a, b in zip(full[2 * steps:], resumed, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_missing_thesaurus_is_a_data_error(tiny_data_dir):
    import pytest

    m = manifest_lib.load(tiny_data_dir)
    cfg = _cfg(tiny_data_dir, thesaurus="/nonexistent/thesaurus.tsv")
    with pytest.raises(datasets.DataError, match=r"data.thesaurus='/nonexistent/thesaurus.tsv'"):
        datasets.train_dataset(cfg, DataDir(tiny_data_dir, m), features.make("chars", DataDir(tiny_data_dir, m)))
