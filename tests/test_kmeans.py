"""k-means for bag-of-means: hand-computed clusterings, determinism, empty clusters, errors."""
from __future__ import annotations

import numpy as np
import pytest

from tfpipe.embeddings import kmeans as km


def _as_sets(assignment: np.ndarray) -> set[frozenset[int]]:
    """The partition of point indices, independent of cluster numbering."""
    return {frozenset(np.flatnonzero(assignment == c).tolist()) for c in np.unique(assignment)}


def test_one_dimension_by_hand():
    x = np.array([[0.0], [1.0], [10.0], [11.0], [12.0]])
    centroids, assignment = km.kmeans(x, 2, seed=0)
    assert _as_sets(assignment) == {frozenset({0, 1}), frozenset({2, 3, 4})}
    by_cluster = {tuple(np.flatnonzero(assignment == c)): centroids[c, 0] for c in range(2)}
    assert by_cluster == {(0, 1): 0.5, (2, 3, 4): 11.0}
    assert centroids.dtype == np.float32 and assignment.dtype == np.int64


def test_three_separated_blobs_are_recovered_with_their_means():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 10]], np.float32)
    labels = np.repeat(np.arange(3), 40)
    x = centres[labels] + rng.uniform(-1, 1, size=(120, 3)).astype(np.float32)
    for seed in range(3):
        centroids, assignment = km.kmeans(x, 3, seed=seed)
        assert _as_sets(assignment) == _as_sets(labels)
        for c in range(3):
            np.testing.assert_allclose(centroids[c], x[assignment == c].mean(axis=0), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(km.assign(x, centroids), assignment)


def test_same_seed_same_result():
    x = np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32)
    a = km.kmeans(x, 10, seed=7)
    b = km.kmeans(x, 10, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_empty_cluster_is_reseeded_with_the_farthest_point():
    # Start: centroids (100, 0, 1) over the points 0, 1, 2, 10 (worked by hand):
    #   assign -> 0:c1, 1:c2, 2:c2, 10:c2; c0 is empty.
    #   step 1: c1 = 0, c2 = 13/3; c0 re-seeded at 10, the point farthest from its centroid
    #           (squared distances 0, 0, 1, 81).  Assign -> 0:c1, 1:c1, 2:c1 (2 < 7/3), 10:c0;
    #           now c2 is empty.
    #   step 2: c0 = 10, c1 = 1; c2 re-seeded at 2 (squared distances under (10, 0, 13/3):
    #           0, 1, 4, 0).  Assign -> 0:c1, 1:c1, 2:c2, 10:c0.
    #   step 3: c1 = 0.5; the assignment does not change -> stop.
    x = np.array([[0.0], [1.0], [2.0], [10.0]])
    centroids, assignment = km.kmeans(x, 3, init=np.array([[100.0], [0.0], [1.0]]))
    np.testing.assert_array_equal(centroids[:, 0], [10.0, 0.5, 2.0])
    np.testing.assert_array_equal(assignment, [1, 1, 2, 0])


def test_duplicate_points_fewer_distinct_than_k():
    x = np.array([[1.0, 1.0]] * 3 + [[5.0, 5.0]])
    centroids, assignment = km.kmeans(x, 3, seed=0)
    assert centroids.shape == (3, 2)
    assert {tuple(c) for c in centroids} <= {(1.0, 1.0), (5.0, 5.0)}
    assert _as_sets(assignment) == {frozenset({0, 1, 2}), frozenset({3})}


def test_assign_by_hand_ties_go_to_the_lower_index():
    centroids = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    x = np.array([[0.9, 0.0], [1.1, 0.0], [1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_array_equal(km.assign(x, centroids), [0, 1, 0, 2])


def test_many_points_in_blocks(monkeypatch):
    monkeypatch.setattr(km, "BLOCK_ROWS", 7)  # several distance blocks, one partial
    x = np.random.default_rng(2).standard_normal((50, 4)).astype(np.float32)
    c = x[:5]
    d = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(km.assign(x, c), d.argmin(axis=1))


def test_errors():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="k=5 clusters but only 4 vectors"):
        km.kmeans(x, 5)
    with pytest.raises(ValueError, match="positive integer"):
        km.kmeans(x, 0)
    with pytest.raises(ValueError, match=r"2-D array \[n, d\]"):
        km.kmeans(np.zeros(4), 2)
    with pytest.raises(ValueError, match="row 1 holds NaN"):
        km.kmeans(np.array([[0.0], [np.nan]]), 1)
    with pytest.raises(ValueError, match="dimension 2 but centroids 3"):
        km.assign(x, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"init has shape \(1, 2\)"):
        km.kmeans(x, 2, init=np.zeros((1, 2)))
