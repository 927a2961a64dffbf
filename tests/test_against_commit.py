"""benchmarks.against_commit: medians per tree, ratios, exact figures that differ."""
from __future__ import annotations

import pytest

from benchmarks import against_commit


def test_compare_takes_medians_per_tree_and_their_ratio():
    ref = [{"rate": 100.0, "n": 5, "name": "a"}, {"rate": 120.0, "n": 5, "name": "a"}, {"rate": 80.0, "n": 5, "name": "a"}]
    here = [{"rate": 90.0, "n": 5, "name": "a"}, {"rate": 110.0, "n": 6, "name": "a"}, {"rate": 150.0, "n": 5, "name": "a"}]
    out = against_commit.compare(ref, here)
    # medians 100 and 110
    assert out["figures"]["rate"] == {"ref": 100.0, "here": 110.0, "here_over_ref": pytest.approx(1.1)}
    assert out["exact_figures_that_differ"] == {}  # n is compared on the first runs only (5 == 5)
    out = against_commit.compare([{"n": 5, "rate": 1.0}], [{"n": 7, "rate": 2.0, "extra": 1.0}])
    assert out["exact_figures_that_differ"] == {"n": {"ref": 5, "here": 7}}
    assert set(out["figures"]) == {"rate"}


def test_nested_figures_are_flattened():
    assert against_commit._flat({"a": {"b": 1.5, "c": {"d": 2}}, "e": "x"}) == {"a.b": 1.5, "a.c.d": 2, "e": "x"}
