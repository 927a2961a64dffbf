"""The agreed stratified split, checked against an independent reading of the README."""
from __future__ import annotations

import csv
import random

import pytest

from tests.conftest import shared_path
from tfpipe.data import corpora, splits


def _readme_split(labels: list[int], fraction: float = 0.2, seed: int = 0) -> set[int]:
    """../shared/data/README.md, written out plainly: row indices of the test split."""
    rng = random.Random(seed)
    test: set[int] = set()
    for label in sorted(set(labels)):
        indices = [i for i, lab in enumerate(labels) if lab == label]
        rng.shuffle(indices)
        test.update(indices[: round(fraction * len(indices))])
    return test


def test_matches_readme_procedure_on_synthetic_labels():
    rng = random.Random(7)
    labels = [rng.randrange(5) for _ in range(997)]
    for seed in (0, 1, 42):
        for fraction in (0.1, 0.2, 0.5):
            train, test = splits.split_labels(labels, fraction, seed)
            assert set(test) == _readme_split(labels, fraction, seed)
            assert sorted(train + test) == list(range(len(labels)))


def test_per_class_sizes_and_one_generator_across_classes():
    keys = {0: [(0, i) for i in range(10)], 1: [(1, i) for i in range(25)], 3: [(0, 100 + i) for i in range(3)]}
    test = splits.held_out_keys(keys, 0.2, 0)
    assert sum(k in test for k in keys[0]) == 2
    assert sum(k in test for k in keys[1]) == 5
    assert sum(k in test for k in keys[3]) == round(0.6)  # Python's round: 1
    # One generator used class after class: class 1's draw depends on class 0 existing.
    rng = random.Random(0)
    class0, class1 = list(range(10)), list(range(25))
    rng.shuffle(class0)
    rng.shuffle(class1)
    assert {k for k in test if k[0] == 1} == {(1, i) for i in class1[:5]}
    alone = splits.held_out_keys({1: keys[1]}, 0.2, 0)
    fresh = list(range(25))
    random.Random(0).shuffle(fresh)
    assert alone == {(1, i) for i in fresh[:5]}
    # Keys are sorted (file order) before shuffling, whatever order they arrive in.
    shuffled = {label: list(reversed(v)) for label, v in keys.items()}
    assert splits.held_out_keys(shuffled, 0.2, 0) == test
    assert splits.held_out_keys(keys, 0.2, 1) != test
    with pytest.raises(ValueError):
        splits.held_out_keys(keys, 1.5, 0)


def test_ag_news_agreed_split():
    path = shared_path("ag_news", "test.csv")
    with open(path, encoding="utf-8", newline="") as f:
        raw_labels = [int(row[0]) - 1 for row in csv.reader(f)]
    expected = _readme_split(raw_labels)
    _, items = corpora.read_files("zhang_csv", [path])
    by_label: dict[int, list] = {}
    for ex in items:
        by_label.setdefault(ex.label, []).append((0, ex.row))
    test = splits.held_out_keys(by_label, 0.2, 0)
    assert len(items) - len(test) == 6080 and len(test) == 1520
    assert {row - 1 for _, row in test} == expected  # line n is row index n - 1


def test_mr_agreed_split():
    pos = shared_path("mr", "rt-polarity.pos")
    neg = shared_path("mr", "rt-polarity.neg")
    # README: all lines, pos=1 neg=0; row indices per class = line indices in its file.
    sizes = {}
    for label, path in ((0, neg), (1, pos)):
        with open(path, "rb") as f:
            sizes[label] = len(f.read().splitlines())
    rng = random.Random(0)
    expected = set()
    for label in (0, 1):
        indices = list(range(sizes[label]))
        rng.shuffle(indices)
        expected.update((label, i) for i in indices[: round(0.2 * sizes[label])])

    _, items = corpora.read_files("line_per_class", [pos, neg])
    by_label: dict[int, list] = {}
    for ex in items:
        by_label.setdefault(ex.label, []).append((ex.example_id.split(":")[0], ex.row))
    test = splits.held_out_keys(by_label, 0.2, 0)
    assert len(items) - len(test) == 8530 and len(test) == 2132
    label_of = {"rt-polarity.neg": 0, "rt-polarity.pos": 1}
    assert {(label_of[src], row - 1) for src, row in test} == expected
