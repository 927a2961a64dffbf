"""The built-in generated corpus: deterministic, realistic-looking, learnable but not trivial."""
from __future__ import annotations

import collections
import math
import re

from tfpipe.data import embedded
from tfpipe.data.corpora import RawExample


def test_deterministic_and_sized():
    a = embedded.generate()
    b = embedded.generate()
    assert a == b
    assert len(a["train"]) == embedded.DEFAULT_TRAIN == 4000
    assert len(a["test"]) == embedded.DEFAULT_TEST == 1000
    assert embedded.generate(seed=1)["train"] != a["train"]
    # Rows of a split do not depend on the other split's size.
    assert embedded.generate(n_train=10, n_test=3)["train"] == embedded.rows("train", 10)


def test_rows_look_like_news():
    rows = embedded.generate()["train"]
    assert all(isinstance(r, RawExample) for r in rows)
    assert [r.example_id for r in rows[:2]] == ["embedded/train:0", "embedded/train:1"]
    assert len({r.example_id for r in rows}) == len(rows)
    counts = collections.Counter(r.label for r in rows)  # balanced before 3 % label noise
    assert sorted(counts) == [0, 1, 2, 3] and all(940 <= n <= 1060 for n in counts.values())
    texts = [r.text for r in rows]
    assert len(set(texts)) > 0.98 * len(texts)
    lengths = [len(t) for t in texts]
    assert 20 < min(lengths) and max(lengths) < 2 * embedded.L0 and 150 < sum(lengths) / len(lengths) < embedded.L0
    # Most stories fit the corpus's l0 whole; the rest lose the start of their headline.
    # A quarter are one sentence without headline or dateline (what a user would type).
    assert 0.18 < sum(not re.search(r"\(\w+\) -", t) for t in texts) / len(texts) < 0.32
    assert 0.6 < sum(n <= embedded.L0 for n in lengths) / len(lengths) < 0.9
    joined = "".join(texts)
    for pattern in (r"[A-Z]", r"[0-9]", r"[,.\-\"()$%?]"):
        assert re.search(pattern, joined), pattern
    assert embedded.CLASS_NAMES == ["World", "Sports", "Business", "Science"]


def _naive_bayes_accuracy(train, test) -> float:
    tokens = lambda text: re.findall(r"\w+", text.lower())  # noqa: E731
    counts = [collections.Counter() for _ in embedded.CLASS_NAMES]
    for r in train:
        counts[r.label].update(tokens(r.text))
    vocab = set().union(*counts)
    totals = [sum(c.values()) for c in counts]

    def predict(text):
        return max(range(len(counts)), key=lambda k: sum(
            math.log((counts[k][w] + 1) / (totals[k] + len(vocab))) for w in tokens(text)))

    return sum(predict(r.text) == r.label for r in test) / len(test)


def test_learnable_but_not_trivial():
    data = embedded.generate()
    accuracy = _naive_bayes_accuracy(data["train"], data["test"])
    # Far above chance (25 %), short of perfect: mixed-topic stories and some label noise.
    assert 0.75 < accuracy < 0.97, accuracy
