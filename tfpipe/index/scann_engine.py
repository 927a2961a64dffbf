"""ScaNN engine: tree partitioning + anisotropic asymmetric hashing + exact reordering.

Built with ScaNN's pybind searcher (``scann.scann_ops_pybind``) for in-process
search; the same searcher state is exported to ScaNN's TensorFlow ops by
``tfpipe.index.saved_model``.  ScaNN is imported only when a ScaNN index is
built, loaded or exported.

Search: the query is scored against the ``num_leaves`` k-means centres of the
tree and the points of the ``num_leaves_to_search`` nearest leaves are scored
with asymmetric hashing (product quantization with ``dims_per_block``
dimensions per 16-centre codebook, anisotropic loss weighted by
``anisotropic_quantization_threshold``); the best ``reorder_k`` are rescored
exactly in float32 and the top ``k`` returned.  The cosine metric unit-norms
the database and the queries and searches by dot product.

Parameters (``params``; their names, defaults and one-line meanings are defined in
``params.py``), defaults scale with the number of vectors ``n``:

``num_leaves``: ``round(sqrt(n))`` for ``1000 <= n < 250,000``,
  ``round(2 sqrt(n))`` from 250,000 (2,000 at 1M, ScaNN's GloVe-1.2M
  example; on 1M x 64 clustered vectors 1,000 leaves reached recall@10 0.962
  searching 10 % of them, 2,000 leaves 0.991 searching 1 %, see
  ``benchmarks/index_search.py``); ``0`` (no tree, every point scored) below
  1000, where a tree saves nothing.  ``0`` or ``1`` = no tree.
``num_leaves_to_search``: ``max(min(num_leaves, 20), ceil(num_leaves / 10))``,
  i.e. 10% of the leaves and at least 20: recall first (ScaNN's GloVe example
  searches 5%, its autopilot 18% of 488 leaves at 1M points; on this project's
  5,822 AG's News word vectors 10 of 76 leaves gave recall@10 0.91, 20 gave
  0.98).  Tune it down for speed (it can be changed per search).
``training_sample_size``: points sampled to train the tree,
  ``min(n, max(100_000, 125 * num_leaves))`` (250,000 at 1M: with 100,000
  points 2,000 leaves are too thin to train, recall@10 0.73 at 1 %).
``training_iterations``: k-means iterations of the tree, 12 (ScaNN's default).
``min_partition_size``: ScaNN's ``min_partition_size`` (50).
``scoring``: ``"ah"`` (asymmetric hashing; default for ``n >= 256``) or
  ``"brute_force"`` (float32 scoring of the searched leaves; default below 256
  points, too few to train 16-centre codebooks).
``dims_per_block``: dimensions per hashing block, 2 (ScaNN's recommendation
  for high recall).
``anisotropic_quantization_threshold``: 0.2 (ScaNN's recommendation for
  maximum inner product and unit-normed data); ``None`` = plain (isotropic)
  quantization.
``hash_training_sample_size``: points sampled to train the codebooks,
  ``min(n, 100_000)``.
``reorder_k``: candidates rescored exactly; ``None`` (default) =
  ``max(100, 10 * k)`` at search time, so larger ``k`` keeps its recall; an
  integer is used as given (raised to ``k``).
``num_threads``: search threads, 0 = ScaNN's default (all cores).

Candidate restriction (``search(..., candidates=...)``): when the candidate
rows are at most a quarter of the index they are searched exactly (a subset
small enough for brute force); otherwise ScaNN is asked for
``k * n / |candidates| * 2`` neighbours, those outside the candidates dropped,
and any query left with fewer than ``k`` is answered exactly over the
candidates.  A query for which ScaNN finds fewer than ``k`` points (e.g. ``k``
near ``n`` with few leaves searched) is also answered exactly: the result
always has ``k`` valid rows.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from tfpipe.index import exact
from tfpipe.index import params as P
from tfpipe.index.base import Index, check_choice, check_param_names, parse_positive_int
from tfpipe.index.params import AH_MIN_POINTS, LARGE_N, SCORINGS, TREE_MIN_POINTS  # noqa: F401

VALID_PARAMS = P.names("scann")  # names, defaults and meanings: params.py
SEARCH_PARAMS = P.search_names("scann")
ARTIFACTS_DIR = "scann"
EXACT_CANDIDATE_FRACTION = 0.25
SEARCH_THREAD_BATCH = 256


def _scann_pybind():
    try:
        from scann.scann_ops.py import scann_ops_pybind
    except ImportError as e:  # pragma: no cover - ScaNN is a dependency of the project
        raise ImportError(
            f"the 'scann' engine needs the scann package (pip install scann): {e}; "
            "or build with engine='exact'"
        ) from None
    return scann_ops_pybind


def scann_version() -> str:
    try:
        from importlib.metadata import version

        return version("scann")
    except Exception:  # pragma: no cover
        return "unknown"


def default_leaves_to_search(num_leaves: int) -> int:
    """10% of the leaves and at least 20 (all of them when fewer); 0 without a tree."""
    if num_leaves <= 1:
        return 0
    return max(min(num_leaves, P.MIN_LEAVES_TO_SEARCH), math.ceil(num_leaves / P.LEAVES_TO_SEARCH_DIVISOR))


def default_training_sample(n: int, num_leaves: int) -> int:
    """Points sampled to train a tree of ``num_leaves`` leaves over ``n`` vectors."""
    return min(n, max(P.TRAINING_SAMPLE_MIN, P.TRAINING_SAMPLE_PER_LEAF * num_leaves))


def default_num_leaves(n: int) -> int:
    """sqrt(n) leaves, 2 sqrt(n) from LARGE_N points, none below TREE_MIN_POINTS."""
    if n < TREE_MIN_POINTS:
        return 0
    return int(round((2 if n >= LARGE_N else 1) * math.sqrt(n)))


def default_params(n: int, d: int) -> dict[str, Any]:
    """ScaNN parameters for ``n`` vectors of dimension ``d`` (see the module docstring)."""
    num_leaves = default_num_leaves(n)
    return {
        "num_leaves": num_leaves,
        "num_leaves_to_search": default_leaves_to_search(num_leaves),
        "training_sample_size": default_training_sample(n, num_leaves),
        "training_iterations": P.TRAINING_ITERATIONS,
        "min_partition_size": P.MIN_PARTITION_SIZE,
        "scoring": "ah" if n >= AH_MIN_POINTS else "brute_force",
        "dims_per_block": min(P.DIMS_PER_BLOCK, d),
        "anisotropic_quantization_threshold": P.ANISOTROPIC_THRESHOLD,
        "hash_training_sample_size": min(n, P.HASH_TRAINING_SAMPLE),
        "reorder_k": None,
        "num_threads": 0,
    }


def resolve_params(params: dict[str, Any] | None, n: int, d: int) -> dict[str, Any]:
    """``params`` over :func:`default_params`, validated; dependent defaults follow the given values."""
    given = dict(params or {})
    check_param_names(given, VALID_PARAMS, "scann")
    out = default_params(n, d)
    if "num_leaves" in given:
        leaves = parse_positive_int("num_leaves", given["num_leaves"], minimum=0, maximum=n)
        out["num_leaves"] = leaves
        out["num_leaves_to_search"] = default_leaves_to_search(leaves)
        out["training_sample_size"] = default_training_sample(n, leaves)
    leaves = out["num_leaves"]
    if "num_leaves_to_search" in given:
        if leaves <= 1:
            raise ValueError(
                f"num_leaves_to_search={given['num_leaves_to_search']} but the index has no tree "
                f"(num_leaves={leaves}); set num_leaves >= 2 (the default builds a tree from {TREE_MIN_POINTS} points)"
            )
        out["num_leaves_to_search"] = parse_positive_int(
            "num_leaves_to_search", given["num_leaves_to_search"], maximum=leaves
        )
    for name, maximum in (("training_sample_size", None), ("hash_training_sample_size", None)):
        if name in given:
            out[name] = min(n, parse_positive_int(name, given[name], maximum=maximum))
    for name in ("training_iterations", "min_partition_size"):
        if name in given:
            out[name] = parse_positive_int(name, given[name])
    if "scoring" in given:
        out["scoring"] = check_choice("scann scoring", given["scoring"], SCORINGS)
    if out["scoring"] == "ah" and n < 16:
        raise ValueError(f"scoring='ah' needs at least 16 vectors to train its codebooks, the index has {n}; use scoring='brute_force'")
    if "dims_per_block" in given:
        out["dims_per_block"] = parse_positive_int("dims_per_block", given["dims_per_block"], maximum=d)
    if "anisotropic_quantization_threshold" in given:
        value = given["anisotropic_quantization_threshold"]
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"anisotropic_quantization_threshold must be a number or None, got {value!r}")
            value = None if math.isnan(value) else float(value)
        out["anisotropic_quantization_threshold"] = value
    if "reorder_k" in given:
        value = given["reorder_k"]
        out["reorder_k"] = None if value is None else parse_positive_int("reorder_k", value)
    if "num_threads" in given:
        out["num_threads"] = parse_positive_int("num_threads", given["num_threads"], minimum=0)
    return out


def _nan_or(value: float | None) -> float:
    return float("nan") if value is None else value


def build_searcher(space_vectors: np.ndarray, params: dict[str, Any]):
    """A ScaNN pybind searcher over ``space_vectors`` (dot product) configured by resolved ``params``."""
    pybind = _scann_pybind()
    n = len(space_vectors)
    reorder_k = min(n, params["reorder_k"] or P.REORDER_MIN)
    builder = pybind.builder(space_vectors, min(10, n), "dot_product")
    if params["num_leaves"] > 1:
        builder = builder.tree(
            num_leaves=params["num_leaves"],
            num_leaves_to_search=params["num_leaves_to_search"],
            training_sample_size=params["training_sample_size"],
            min_partition_size=params["min_partition_size"],
            training_iterations=params["training_iterations"],
        )
    if params["scoring"] == "ah":
        builder = builder.score_ah(
            params["dims_per_block"],
            anisotropic_quantization_threshold=_nan_or(params["anisotropic_quantization_threshold"]),
            training_sample_size=params["hash_training_sample_size"],
        ).reorder(reorder_k)
    else:
        builder = builder.score_brute_force()
    searcher = builder.build()
    if params["num_threads"]:
        searcher.set_num_threads(params["num_threads"])
    return searcher


class ScannIndex(Index):
    """Approximate index on ScaNN (see the module docstring for the algorithm and parameters)."""

    engine = "scann"
    valid_params = VALID_PARAMS
    search_params = SEARCH_PARAMS

    def __init__(self, vectors, labels, *, metric, params, labels_kind, searcher=None):
        super().__init__(vectors, labels, metric=metric, params=params, labels_kind=labels_kind)
        self._searcher = searcher if searcher is not None else build_searcher(self.space_vectors, params)

    @property
    def searcher(self):
        """The ScaNN pybind searcher (``scann_ops_pybind.ScannSearcher``)."""
        return self._searcher

    def _default_batch_size(self, num_queries: int) -> int:
        return 8192

    def _check_search_params(self, search_params):
        out = {}
        if "num_leaves_to_search" in search_params:
            leaves = self.params["num_leaves"]
            if leaves <= 1:
                raise ValueError(f"num_leaves_to_search given but this index has no tree (num_leaves={leaves})")
            out["num_leaves_to_search"] = parse_positive_int(
                "num_leaves_to_search", search_params["num_leaves_to_search"], maximum=leaves
            )
        if "reorder_k" in search_params and search_params["reorder_k"] is not None:
            out["reorder_k"] = parse_positive_int("reorder_k", search_params["reorder_k"])
        return out

    def scann_arguments(self, k: int, search_params: dict[str, Any] | None = None) -> tuple[int, int]:
        """``(pre_reorder_num_neighbors, leaves_to_search)`` for a top-``k`` search (-1: not used)."""
        search_params = search_params or {}
        n = len(self)
        if self.params["scoring"] == "ah":
            reorder = search_params.get("reorder_k", self.params["reorder_k"])
            pre = min(n, max(k, reorder if reorder is not None else max(P.REORDER_MIN, P.REORDER_PER_K * k)))
        else:
            pre = -1
        leaves = search_params.get("num_leaves_to_search", self.params["num_leaves_to_search"])
        return pre, (leaves if self.params["num_leaves"] > 1 else -1)

    def _scann(self, queries: np.ndarray, k: int, search_params) -> tuple[np.ndarray, np.ndarray]:
        pre, leaves = self.scann_arguments(k, search_params)
        ids, scores = self._searcher.search_batched_parallel(
            queries,
            final_num_neighbors=k,
            pre_reorder_num_neighbors=pre,
            leaves_to_search=leaves,
            batch_size=SEARCH_THREAD_BATCH,
        )
        return np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32)

    def _exact(self, queries: np.ndarray, k: int, rows: np.ndarray | None):
        vectors = self.space_vectors if rows is None else self.space_vectors[rows]
        ids, scores = exact.exact_top_k(queries, vectors, k, block_rows=min(len(vectors), exact.DEFAULT_BLOCK_ROWS))
        return (ids if rows is None else rows[ids]), scores

    def _search_batch(self, queries, k, rows, search_params):
        n = len(self)
        if rows is not None and len(rows) <= EXACT_CANDIDATE_FRACTION * n:
            return self._exact(queries, k, rows)
        if rows is None:
            ids, scores = self._scann(queries, k, search_params)
            short = np.flatnonzero(np.isnan(scores).any(axis=1))
        else:
            fetch = min(n, 2 * math.ceil(k * n / len(rows)))
            wide_ids, wide_scores = self._scann(queries, fetch, search_params)
            keep = np.isin(wide_ids, rows) & ~np.isnan(wide_scores)
            # Stable sort moves the kept entries (already best first) to the front of each row.
            order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
            ids = np.take_along_axis(wide_ids, order, axis=1)
            scores = np.take_along_axis(wide_scores, order, axis=1)
            short = np.flatnonzero(keep.sum(axis=1) < k)
        if len(short):
            ids[short], scores[short] = self._exact(queries[short], k, rows)
        return ids, scores

    def _engine_files(self, directory: str) -> list[str]:
        target = os.path.join(directory, ARTIFACTS_DIR)
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(target):
            os.remove(os.path.join(target, name))
        self._searcher.serialize(target, relative_path=True)
        return sorted(f"{ARTIFACTS_DIR}/{name}" for name in os.listdir(target))


def load_searcher(directory: str, params: dict[str, Any]):
    """The pybind searcher saved under ``directory/scann``."""
    pybind = _scann_pybind()
    searcher = pybind.load_searcher(os.path.join(directory, ARTIFACTS_DIR))
    if params.get("num_threads"):
        searcher.set_num_threads(params["num_threads"])
    return searcher
