"""The training-fraction rule of the results table (the paper's Table 1 shape).

"Predicted context" paper, section 4 / Table 1: the downstream classifier is trained on
10 %, 30 %, 50 %, 70 % and 100 % of the training images, and the gain of the multimodal
model over the visual-only one is read at each fraction.  Here the cut is made **per
class** (every class keeps at least one image) and the subsets are **nested**: the images
kept at a smaller fraction are inside every larger fraction's, so two rows of the table
differ only in how much data they see, never in which images they share.

For each class (label) ``c``:

1. the class's examples in **id order** (so the subset does not depend on the order the
   records were read in),
2. shuffled with ``random.Random(seed + c)`` -- one generator per class, so a class's
   subset depends only on its own ids and the seed, not on how many images other classes
   have or which classes are present (one generator used class after class, as the agreed
   test split of ``tfpipe.data.splits`` does, would shift every later class's subset when
   one class gained or lost an image),
3. the first :func:`kept_per_class` ``(n_c, fraction) = max(1, round(fraction * n_c))``
   kept (Python's ``round`` of the float product, as ``tfpipe.data.splits``: half to even,
   so ``0.5 * 5 -> 2``; ``0.7 * 45`` is ``31.499999999999996`` in floats and gives 31).

The permutation does not depend on the fraction and ``round`` is monotone, hence nested.
"""
from __future__ import annotations

import math
import random
from typing import Sequence

import numpy as np

FRACTIONS = (0.1, 0.3, 0.5, 0.7, 1.0)


def check_fraction(fraction: float) -> float:
    """``fraction`` as a float in ``(0, 1]``; ``ValueError`` otherwise (NaN included)."""
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}") from None
    if not (0.0 < value <= 1.0) or math.isnan(value):
        raise ValueError(f"fraction must be in (0, 1] (the share of each class's training images "
                         f"kept), got {fraction!r}")
    return value


def kept_per_class(n: int, fraction: float) -> int:
    """How many of a class's ``n`` examples the rule keeps: ``max(1, round(fraction * n))``
    (0 for an empty class)."""
    fraction = check_fraction(fraction)
    if n < 0:
        raise ValueError(f"a class cannot have {n} examples")
    return 0 if n == 0 else max(1, round(fraction * n))


def _check(ids: Sequence[str], labels: Sequence[int]) -> tuple[list[str], np.ndarray]:
    ids = [i.decode("utf-8") if isinstance(i, bytes) else i for i in ids]
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one label per example (1-d), got shape {labels.shape}")
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} ids for {len(labels)} labels: one id per example")
    if len(labels) and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if len(labels) and labels.min() < 0:
        first = int(np.flatnonzero(labels < 0)[0])
        raise ValueError(f"labels must be >= 0 class indices; example {first} ({ids[first]!r}) "
                         f"has label {int(labels[first])}")
    for n, i in enumerate(ids):
        if not isinstance(i, str) or not i:
            raise ValueError(f"id {n} is {i!r}: ids must be non-empty strings")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        raise ValueError(f"id {dup!r} appears more than once: ids must be unique (they fix the "
                         "order the subset is drawn in)")
    return ids, labels.astype(np.int64)


def class_permutations(ids: Sequence[str], labels: Sequence[int], seed: int = 0
                       ) -> dict[int, list[int]]:
    """``label -> that class's example indices`` in the rule's order (id order shuffled with
    ``random.Random(seed + label)``): a fraction keeps a prefix of each list."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    ids, labels = _check(ids, labels)
    by_label: dict[int, list[int]] = {}
    for index, label in enumerate(labels.tolist()):
        by_label.setdefault(label, []).append(index)
    out = {}
    for label in sorted(by_label):
        rows = sorted(by_label[label], key=ids.__getitem__)
        random.Random(int(seed) + label).shuffle(rows)
        out[label] = rows
    return out


def fraction_subset(ids: Sequence[str], labels: Sequence[int], fraction: float,
                    seed: int = 0) -> np.ndarray:
    """Sorted int64 indices of the examples kept at ``fraction`` (module docstring): per class
    the first ``max(1, round(fraction * n))`` of its ids shuffled by ``random.Random(seed +
    label)``.  ``fraction`` 1.0 keeps every example."""
    fraction = check_fraction(fraction)
    kept = [i for rows in class_permutations(ids, labels, seed).values()
            for i in rows[:kept_per_class(len(rows), fraction)]]
    return np.array(sorted(kept), dtype=np.int64)
