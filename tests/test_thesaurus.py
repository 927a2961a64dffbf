"""Thesaurus augmentation (section 2.4): r and s follow p^r and q^s, text is kept intact."""
from __future__ import annotations

import collections
import os
import random

import pytest

from tfpipe.text import thesaurus as th

SMALL = os.path.join(os.path.dirname(__file__), "data", "thesaurus_small.tsv")
CHI2_P001 = {3: 16.27, 4: 18.47}  # chi-square critical values at p = 0.001


def _chi2(counts: collections.Counter, probs: dict[int, float], total: int) -> float:
    return sum((counts[k] - total * p) ** 2 / (total * p) for k, p in probs.items())


def test_geometric_weights_hand_computed():
    # P[r] ~ 0.5^r on r = 1..4: (1/2, 1/4, 1/8, 1/16) / (15/16).
    assert th.geometric_weights(4, 0.5, start=1) == pytest.approx([8 / 15, 4 / 15, 2 / 15, 1 / 15])
    # P[s] ~ 0.5^s on s = 0..2: (1, 1/2, 1/4) / (7/4).
    assert th.geometric_weights(3, 0.5, start=0) == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        th.geometric_weights(3, 1.5, start=0)


def test_number_replaced_follows_p_to_the_r():
    rng, total = random.Random(0), 20_000
    counts = collections.Counter(th.sample_count(rng, 4, p=0.5) for _ in range(total))
    probs = dict(zip(range(1, 5), th.geometric_weights(4, 0.5, start=1)))
    assert set(counts) == {1, 2, 3, 4}
    assert _chi2(counts, probs, total) < CHI2_P001[3]


def test_synonym_index_follows_q_to_the_s():
    rng, total = random.Random(1), 20_000
    counts = collections.Counter(th.sample_index(rng, 5, q=0.5) for _ in range(total))
    probs = dict(enumerate(th.geometric_weights(5, 0.5, start=0)))
    assert _chi2(counts, probs, total) < CHI2_P001[4]
    # A q that is not the paper's shifts mass as expected: q = 0.9 is far flatter.
    flat = collections.Counter(th.sample_index(rng, 5, q=0.9) for _ in range(total))
    assert flat[4] / total > 0.15 > counts[4] / total


def test_augment_replaces_r_words_with_the_paper_distribution():
    thesaurus = th.load_tsv(SMALL)
    text = "The big market said, shares win!"
    words = text.split()
    rng, total = random.Random(2), 8_000
    replaced = collections.Counter()
    for _ in range(total):
        out = th.augment(text, thesaurus, rng).split()
        assert len(out) == len(words) and out[0] == "The"
        assert out[3].endswith(",") and out[5].endswith("!")  # punctuation kept
        replaced[sum(a != b for a, b in zip(words, out))] += 1
    # 5 replaceable words (big, market, said, shares, win): r in 1..5 with P[r] ~ 0.5^r.
    probs = dict(zip(range(1, 6), th.geometric_weights(5, 0.5, start=1)))
    assert _chi2(replaced, probs, total) < CHI2_P001[4]


def test_augment_keeps_case_and_is_seeded():
    thesaurus = {"big": ["large"]}
    assert th.augment("Big and BIG", {"big": ["large"]}, random.Random(0)) in {
        "Large and BIG", "Big and LARGE", "Large and LARGE"}
    a = [th.augment("big fast win", th.load_tsv(SMALL), random.Random(5)) for _ in range(3)]
    assert len(set(a)) == 1
    assert th.augment("nothing to replace here", thesaurus, random.Random(0)) == "nothing to replace here"


def test_load_tsv_reports_bad_lines(tmp_path):
    assert th.load_tsv(SMALL)["big"] == ["large", "huge", "vast", "enormous"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("big\tlarge\nlonely\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: expected"):
        th.load_tsv(str(bad))
    bad.write_text("big\tlarge\nBig\thuge\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: 'Big' is listed twice"):
        th.load_tsv(str(bad))
