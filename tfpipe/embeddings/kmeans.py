"""k-means over word vectors, for the bag-of-means baseline of Zhang, Zhao & LeCun (2015).

The paper clusters the word2vec vectors of the vocabulary into 5,000 means
(:data:`PAPER_K`) and represents each word by its cluster.  :func:`kmeans` is
plain Lloyd's algorithm with k-means++ seeding (Arthur & Vassilvitskii 2007,
one candidate per step), in NumPy: squared Euclidean distances come from
matrix products (``|x|^2 - 2 x.c + |c|^2``) over blocks of
:data:`BLOCK_ROWS` points, so memory stays bounded and no Python loop runs
over points.

Choices the paper leaves open (documented here, tested in tests/test_kmeans.py):

* Distances and matrix products in float32 (the vectors' own precision),
  centroid sums in float64.
* Stopping: after ``iterations`` Lloyd steps, or earlier when no assignment
  changes, or when the summed squared centroid movement of a step is at most
  ``tol`` times the mean per-dimension variance of the data (scikit-learn's
  relative tolerance).
* An empty cluster is re-seeded with the point farthest from its own
  centroid (largest squared distance; ties broken by the lower index), the
  next empty cluster with the next farthest point, and so on: deterministic,
  and each re-seeded cluster owns at least that point on the next assignment
  (unless the data holds exact duplicates of it).
* Ties between equidistant centroids go to the lower centroid index.
* The returned assignment is the nearest centroid of each point under the
  returned centroids (``assign(vectors, centroids)``).

Speed (``python -m tfpipe.embeddings.kmeans [n d k iterations]`` times it on
random data): 50,000 x 300 float32 vectors, k = 5,000, 50 iterations on a
2-core CPU shared with other jobs (load 4-6): k-means++ seeding about 2 min
(5,000 sequential passes over the vectors), Lloyd about 2.6 s per iteration
(75 G multiply-adds), 4.3 min in all.
Real word vectors usually stop early (no assignment changes).
"""
from __future__ import annotations

import sys
import time

import numpy as np

PAPER_K = 5000
# Points per block of the distance computation: a block's distance matrix is
# BLOCK_ROWS x k float32 (40 MB for k = 5,000).
BLOCK_ROWS = 2048


def _check_vectors(vectors: np.ndarray, name: str = "vectors") -> np.ndarray:
    x = np.asarray(vectors)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [n, d], got shape {x.shape}")
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one dimension, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        row = int(np.argwhere(~np.isfinite(x))[0][0])
        raise ValueError(f"{name} row {row} holds NaN or infinity")
    return x


def _nearest(x: np.ndarray, x_sq: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centroid and the squared distance to it, for every row of ``x``."""
    c_sq = np.einsum("ij,ij->i", centroids, centroids)
    n = x.shape[0]
    labels = np.empty(n, dtype=np.int64)
    dists = np.empty(n, dtype=np.float32)
    for start in range(0, n, BLOCK_ROWS):
        block = x[start : start + BLOCK_ROWS]
        d = block @ centroids.T
        d *= -2.0
        d += c_sq[None, :]
        best = np.argmin(d, axis=1)
        labels[start : start + BLOCK_ROWS] = best
        dists[start : start + BLOCK_ROWS] = d[np.arange(len(block)), best] + x_sq[start : start + BLOCK_ROWS]
    np.maximum(dists, 0.0, out=dists)  # rounding can leave tiny negatives
    return labels, dists


def assign(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The index of the nearest centroid (squared Euclidean distance) of each vector: ``int64 [n]``."""
    x = _check_vectors(vectors)
    c = _check_vectors(centroids, "centroids")
    if c.shape[1] != x.shape[1]:
        raise ValueError(f"vectors have dimension {x.shape[1]} but centroids {c.shape[1]}")
    if c.shape[0] == 0:
        raise ValueError("no centroids")
    labels, _ = _nearest(x, np.einsum("ij,ij->i", x, x), c)
    return labels


def _kmeans_plus_plus(x: np.ndarray, x_sq: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each next centre drawn with probability proportional to the
    squared distance to the nearest centre so far."""
    n = x.shape[0]
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.integers(n)
    closest = np.maximum(x_sq - 2.0 * (x @ x[chosen[0]]) + x_sq[chosen[0]], 0.0).astype(np.float64)
    closest[chosen[0]] = 0.0
    for j in range(1, k):
        total = closest.sum()
        if total > 0:
            cdf = np.cumsum(closest)
            i = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
            i = min(i, n - 1)
            while closest[i] == 0.0:  # rounding at the very end of the cdf
                i -= 1
        else:  # every point coincides with a centre: fewer distinct points than k
            i = int(np.setdiff1d(np.arange(n), chosen[:j], assume_unique=True)[0])
        chosen[j] = i
        d = np.maximum(x_sq - 2.0 * (x @ x[i]) + x_sq[i], 0.0)
        np.minimum(closest, d, out=closest)
        closest[i] = 0.0
    return x[chosen].copy()


def _means(x: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums (float64) and counts, without a loop over points."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    present = np.flatnonzero(counts)
    starts = np.searchsorted(sorted_labels, present, side="left")
    sums[present] = np.add.reduceat(x[order].astype(np.float64), starts, axis=0)
    return sums, counts


def kmeans(
    vectors: np.ndarray,
    k: int,
    *,
    seed: int = 0,
    iterations: int = 50,
    tol: float = 1e-4,
    init: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters ``vectors`` ``[n, d]`` into ``k`` means.

    Returns ``(centroids float32 [k, d], assignment int64 [n])`` where
    ``assignment[i]`` is the nearest centroid of vector ``i``.  k-means++
    seeding (or the given ``init`` centroids ``[k, d]``) then at most
    ``iterations`` Lloyd steps (see the module docstring for the stopping
    rule, tie-breaking and empty clusters).  The same inputs and ``seed`` give
    the same result.
    """
    x = _check_vectors(vectors)
    n = x.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} clusters but only {n} vectors: k must be at most the number of vectors")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    rng = np.random.default_rng(seed)
    x_sq = np.einsum("ij,ij->i", x, x)
    threshold = tol * float(np.mean(np.var(x, axis=0, dtype=np.float64)))

    if init is None:
        centroids = _kmeans_plus_plus(x, x_sq, int(k), rng)
    else:
        centroids = _check_vectors(init, "init").copy()
        if centroids.shape != (k, x.shape[1]):
            raise ValueError(f"init has shape {centroids.shape}, expected (k, d) = {(k, x.shape[1])}")
    labels, dists = _nearest(x, x_sq, centroids)
    for _ in range(iterations):
        sums, counts = _means(x, labels, k)
        new = centroids.astype(np.float64)
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if len(empty):
            # Farthest points first (stable sort of -distance: ties keep index order).
            far = np.argsort(-dists, kind="stable")[: len(empty)]
            new[empty] = x[far]
        new = new.astype(np.float32)
        shift = float(np.sum((new.astype(np.float64) - centroids) ** 2))
        centroids = new
        new_labels, dists = _nearest(x, x_sq, centroids)
        unchanged = np.array_equal(new_labels, labels) and not len(empty)
        labels = new_labels
        if unchanged or shift <= threshold:
            break
    return centroids, labels


def _benchmark(n: int = 50_000, d: int = 300, k: int = PAPER_K, iterations: int = 10) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    started = time.perf_counter()
    c0 = _kmeans_plus_plus(x, np.einsum("ij,ij->i", x, x), k, np.random.default_rng(0))
    seeding = time.perf_counter() - started
    started = time.perf_counter()
    _nearest(x, np.einsum("ij,ij->i", x, x), c0)
    step = time.perf_counter() - started
    started = time.perf_counter()
    kmeans(x, k, iterations=iterations, tol=0.0)
    total = time.perf_counter() - started
    print(f"n={n} d={d} k={k}: k-means++ seeding {seeding:.1f} s, one assignment {step:.2f} s, "
          f"kmeans(iterations={iterations}) {total:.1f} s")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    _benchmark(*args)
