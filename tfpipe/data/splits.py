"""The project's agreed stratified held-out split (``../shared/data/README.md``).

For each class in label order, the class's row keys are put in file order,
shuffled with **one** ``random.Random(seed)`` used class after class, and the
first ``round(fraction * n_class)`` keys become the test split.  With AG's News
``test.csv`` (fraction 0.2, seed 0) that is 6,080 train / 1,520 test rows; with
MR 8,530 / 2,132.

Keys only need to sort in file order: the preprocessing job uses
``(input file position, line number)``.  ``round`` is Python's (half to even),
exactly as the README's procedure.
"""
from __future__ import annotations

import random
from typing import Hashable, Iterable, Mapping, Sequence, TypeVar

K = TypeVar("K", bound=Hashable)


def held_out_keys(keys_by_label: Mapping[int, Iterable[K]], fraction: float, seed: int) -> set[K]:
    """Keys of the test split, given every class's row keys."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"test fraction must be in [0, 1], got {fraction}")
    rng = random.Random(seed)
    chosen: set[K] = set()
    for label in sorted(keys_by_label):
        keys = sorted(keys_by_label[label])
        rng.shuffle(keys)
        chosen.update(keys[: round(fraction * len(keys))])
    return chosen


def split_labels(
    labels: Sequence[int], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """``(train, test)`` row indices for rows with ``labels`` in file order."""
    by_label: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    test = held_out_keys(by_label, fraction, seed)
    train_rows = [i for i in range(len(labels)) if i not in test]
    return train_rows, sorted(test)
