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
    assert out["figures"]["n"] == {"ref": 5, "here": 5, "here_over_ref": 1.0}  # medians of 5,5,5 and 5,6,5
    assert out["exact_figures_that_differ"] == {}  # "name" is "a" in both trees' first runs
    out = against_commit.compare([{"n": 4, "ok": True, "name": "a"}], [{"n": 7, "ok": False, "name": "a", "extra": 1.0}])
    assert out["exact_figures_that_differ"] == {"ok": {"ref": True, "here": False}}
    assert out["figures"] == {"n": {"ref": 4, "here": 7, "here_over_ref": 1.75}}


def test_nested_figures_are_flattened():
    assert against_commit._flat({"a": {"b": 1.5, "c": {"d": 2}}, "e": "x"}) == {"a.b": 1.5, "a.c.d": 2, "e": "x"}
