"""tfpipe.data.fractions: the Table 1 training-fraction rule (per class, nested, seeded)."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest

from tfpipe.data import fractions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The agreed carve (test 0.2, seed 0; val 0.1 of the rest, seed 1) of every class:
# python -m beam_jobs.preprocess_images --dataset NAME --split carve --test_fraction 0.2
#     --val_fraction 0.1 --seed 0 --output_dir artifacts/data/NAME_all
# (train images, smallest class, images kept at each fraction).
ALL_SPLITS = {
    "flowers102_all": (102, 3395, 29, {0.1: 306, 0.3: 1005, 0.5: 1694, 0.7: 2390, 1.0: 3395}),
    "cub100_all": (100, 2600, 26, {0.1: 300, 0.3: 800, 0.5: 1300, 0.7: 1800, 1.0: 2600}),
}

# A toy set: class 0 has 10 examples, class 1 has 5, class 2 has 1, interleaved and out of id order.
TOY_LABELS = [0] * 10 + [1] * 5 + [2]
TOY_IDS = [f"c{label}/{i:02d}" for label, i in zip(TOY_LABELS, [7, 2, 9, 0, 5, 1, 8, 3, 6, 4,
                                                                 3, 0, 4, 1, 2, 0])]
ORDER = [3, 12, 0, 14, 5, 11, 13, 8, 1, 7, 2, 10, 4, 9, 6, 15]  # a fixed shuffle of the rows
TOY_IDS = [TOY_IDS[i] for i in ORDER]
TOY_LABELS = [TOY_LABELS[i] for i in ORDER]


def per_class(labels, kept) -> list[int]:
    return np.bincount(np.asarray(labels)[kept], minlength=max(labels) + 1).tolist()


def test_kept_per_class_by_hand():
    # max(1, round(f * n)), Python's round (half to even) of the float product.
    assert [fractions.kept_per_class(10, f) for f in fractions.FRACTIONS] == [1, 3, 5, 7, 10]
    assert [fractions.kept_per_class(5, f) for f in fractions.FRACTIONS] == [1, 2, 2, 4, 5]  # 1.5->2 2.5->2 3.5->4
    assert [fractions.kept_per_class(1, f) for f in fractions.FRACTIONS] == [1, 1, 1, 1, 1]  # at least one
    assert fractions.kept_per_class(25, 0.1) == 2       # 2.5 -> 2
    assert fractions.kept_per_class(45, 0.7) == 31      # 0.7 * 45 == 31.499999999999996 in floats
    assert fractions.kept_per_class(0, 0.5) == 0
    assert fractions.FRACTIONS == (0.1, 0.3, 0.5, 0.7, 1.0)


def test_toy_per_class_counts_by_hand():
    expected = {0.1: [1, 1, 1], 0.3: [3, 2, 1], 0.5: [5, 2, 1], 0.7: [7, 4, 1], 1.0: [10, 5, 1]}
    for f, counts in expected.items():
        kept = fractions.fraction_subset(TOY_IDS, TOY_LABELS, f)
        assert per_class(TOY_LABELS, kept) == counts, f
        assert kept.dtype == np.int64 and list(kept) == sorted(set(kept.tolist()))


def test_the_subset_is_the_seeded_shuffle_of_each_class_in_id_order():
    # By hand: class 1's rows in id order, shuffled with random.Random(seed + 1); 0.3 keeps 2.
    rows = sorted((i for i, y in enumerate(TOY_LABELS) if y == 1), key=TOY_IDS.__getitem__)
    random.Random(7 + 1).shuffle(rows)
    kept = fractions.fraction_subset(TOY_IDS, TOY_LABELS, 0.3, seed=7)
    assert sorted(i for i in kept if TOY_LABELS[i] == 1) == sorted(rows[:2])
    assert fractions.class_permutations(TOY_IDS, TOY_LABELS, seed=7)[1] == rows


def test_nested_and_deterministic_and_everything_at_one():
    for seed in (0, 1, 5):
        subsets = [set(fractions.fraction_subset(TOY_IDS, TOY_LABELS, f, seed).tolist())
                   for f in fractions.FRACTIONS]
        for small, large in zip(subsets, subsets[1:]):
            assert small <= large
        assert subsets[-1] == set(range(len(TOY_IDS)))
        again = fractions.fraction_subset(TOY_IDS, TOY_LABELS, 0.5, seed)
        assert sorted(subsets[2]) == again.tolist()
    # The seed matters (class 0's 3 of 10 differ between some seeds).
    picks = {tuple(fractions.fraction_subset(TOY_IDS, TOY_LABELS, 0.3, s)) for s in range(5)}
    assert len(picks) > 1


def test_independent_of_record_order_and_of_other_classes():
    kept = fractions.fraction_subset(TOY_IDS, TOY_LABELS, 0.5)
    chosen = {TOY_IDS[i] for i in kept}
    # The same examples in reverse order: the same ids are kept.
    rev_ids, rev_labels = TOY_IDS[::-1], TOY_LABELS[::-1]
    assert {rev_ids[i] for i in fractions.fraction_subset(rev_ids, rev_labels, 0.5)} == chosen
    # Class 1 alone (class 0 and 2 dropped): class 1's kept ids do not change.
    only = [i for i, y in enumerate(TOY_LABELS) if y == 1]
    ids1, labels1 = [TOY_IDS[i] for i in only], [1] * len(only)
    assert ({ids1[i] for i in fractions.fraction_subset(ids1, labels1, 0.5)}
            == {TOY_IDS[i] for i in kept if TOY_LABELS[i] == 1})


def test_errors():
    for bad in (0, 0.0, -0.1, 1.01, float("nan"), "half"):
        with pytest.raises(ValueError, match="fraction"):
            fractions.fraction_subset(TOY_IDS, TOY_LABELS, bad)
    with pytest.raises(ValueError, match="16 ids for 15 labels"):
        fractions.fraction_subset(TOY_IDS, TOY_LABELS[:-1], 0.5)
    with pytest.raises(ValueError, match="label -1"):
        fractions.fraction_subset(["a", "b"], [0, -1], 0.5)
    with pytest.raises(ValueError, match="integer"):
        fractions.fraction_subset(["a", "b"], [0.0, 1.5], 0.5)
    with pytest.raises(ValueError, match="more than once"):
        fractions.fraction_subset(["a", "a"], [0, 1], 0.5)
    with pytest.raises(ValueError, match="seed"):
        fractions.fraction_subset(["a", "b"], [0, 1], 0.5, seed=0.5)
    assert fractions.fraction_subset([], [], 0.5).tolist() == []


def _train_ids_labels(path: str) -> tuple[list[str], np.ndarray, list[int]]:
    import tensorflow as tf

    from tfpipe.data import schema
    from tfpipe.data.datadir import DataDir

    data = DataDir.of(path)
    spec = {schema.ID: tf.io.FixedLenFeature([], tf.string),
            schema.LABEL: tf.io.FixedLenFeature([], tf.int64)}
    ids, labels = [], []
    for raw in tf.data.TFRecordDataset(data.shard_paths("train")).batch(1024):
        parsed = tf.io.parse_example(raw, spec)
        ids += [x.decode("utf-8") for x in parsed[schema.ID].numpy()]
        labels += parsed[schema.LABEL].numpy().tolist()
    return ids, np.array(labels), list(data.manifest.splits["train"].class_counts)


@pytest.mark.parametrize("name", sorted(ALL_SPLITS))
def test_real_train_split_per_class_counts(name):
    path = os.path.join(REPO, "artifacts", "data", name)
    if not os.path.isfile(os.path.join(path, "manifest.json")):
        pytest.skip(f"{path} absent (python -m beam_jobs.preprocess_images --dataset {name[:-4]} "
                    f"--split carve --test_fraction 0.2 --val_fraction 0.1 --seed 0 --output_dir {path})")
    classes, images, smallest, expected = ALL_SPLITS[name]
    ids, labels, counts = _train_ids_labels(path)
    assert len(counts) == classes and np.bincount(labels, minlength=classes).tolist() == counts
    assert len(ids) == images and min(counts) == smallest
    totals = {}
    previous: set[int] = set()
    for f in fractions.FRACTIONS:
        kept = fractions.fraction_subset(ids, labels, f)
        assert per_class(labels, kept) == [max(1, round(f * n)) for n in counts], f
        assert previous <= set(kept.tolist())
        previous = set(kept.tolist())
        totals[f] = len(kept)
    assert totals == expected
