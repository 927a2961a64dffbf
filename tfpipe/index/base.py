"""The engine-independent part of an index: validation, labels, candidates, batching, results.

An :class:`Index` holds ``n`` vectors of dimension ``d`` (float32, as given),
one label per vector, a metric and the engine's resolved parameters.  Engines
(``exact.ExactIndex``, ``scann_engine.ScannIndex``) implement
``_search_batch`` (top-``k`` rows of one batch of prepared queries, optionally
restricted to candidate rows) and their own save/load of engine files.

Scores are similarities, higher is nearer: the dot product, or for
``metric="cosine"`` the dot product of unit-normed vectors (the cosine).  A
zero vector has cosine 0 to everything.  The exact engine breaks ties by the
lower row; ScaNN's order among equal scores is its own.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

ENGINES = ("scann", "exact")
METRICS = ("dot", "cosine")
LABEL_KINDS = ("ids", "labels", "words", "phrases")

# Scores matrices of one exact block are kept under this many bytes.
BLOCK_BYTES = 1 << 28


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """Top-``k`` neighbours of ``b`` queries, nearest first.

    ``ids``: int64 ``[b, k]`` rows of the index; ``scores``: float32 ``[b, k]``
    similarities (higher = nearer); ``labels``: ``b`` lists of ``k`` labels.
    """

    ids: np.ndarray
    scores: np.ndarray
    labels: list[list[str]]

    def __len__(self) -> int:
        return len(self.ids)


# --------------------------------------------------------------------------- validation


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {list(choices)}")
    return value


def check_vectors(vectors: Any, labels: Sequence[str] | None = None, *, what: str = "vectors") -> np.ndarray:
    """``vectors`` as a C-contiguous float32 ``[n, d]`` array with n, d >= 1 and finite values."""
    try:
        array = np.asarray(vectors)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"{what} cannot be read as an array [n, d]: {e}") from None
    if array.dtype.kind not in "fiub":
        raise ValueError(f"{what} must be numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [n, d], got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"empty index: {what} has no rows (shape {array.shape}); an index needs at least one vector")
    if array.shape[1] == 0:
        raise ValueError(f"{what} has dimension 0 (shape {array.shape}); vectors need at least one dimension")
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        named = f" (label {labels[bad[0]]!r})" if labels is not None and len(labels) == len(array) else ""
        raise ValueError(
            f"{what} row {int(bad[0])}{named} holds NaN or infinity ({len(bad)} row(s) in all, "
            f"first rows: {bad[:5].tolist()}); values must be finite float32"
        )
    return array


def check_labels(labels: Sequence[str] | None, n: int) -> list[str] | None:
    """``labels`` as a list of ``n`` non-empty single-line strings (or None)."""
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)):
        raise ValueError("labels must be a sequence of strings, one per vector, not a single string")
    labels = list(labels)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} vectors: they must match one to one")
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise ValueError(f"label {i} is {label!r} ({type(label).__name__}): labels must be strings")
        if not label or "\n" in label or "\r" in label:
            raise ValueError(
                f"label {i} is {label!r}: labels must be non-empty and hold no line break "
                "(they are saved one per line)"
            )
    return labels


def check_k(k: Any, available: int, *, what: str = "the index") -> int:
    """``k`` as an int in ``[1, available]``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > available:
        raise ValueError(f"k={k} is larger than {what} ({available} vectors): k must be <= {available}")
    return k


def check_queries(queries: Any, dim: int) -> np.ndarray:
    """Queries ``[b, d]`` or one query ``[d]`` as a float32 ``[b, d]`` array of finite values."""
    try:
        array = np.asarray(queries)
    except Exception as e:
        raise ValueError(f"queries cannot be read as an array [b, {dim}]: {e}") from None
    if array.dtype.kind not in "fiub":
        raise ValueError(f"queries must be numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"queries must be [b, {dim}] or [{dim}], got shape {np.shape(queries)}")
    if array.shape[1] != dim:
        raise ValueError(
            f"dimension mismatch: queries have dimension {array.shape[1]} (shape {np.shape(queries)}), "
            f"the index holds vectors of dimension {dim}"
        )
    if array.shape[0] == 0:
        raise ValueError("no queries: queries has 0 rows")
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"query row {int(bad[0])} holds NaN or infinity ({len(bad)} row(s) in all)")
    return array


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (zero rows stay zero), float32."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


def unit_queries(x: np.ndarray) -> np.ndarray:
    """Query rows unit-normed by ``tf.math.l2_normalize``, the very op of the exported serving graphs.

    The same op (not NumPy's arithmetic) makes the in-process index and its
    SavedModel see bit-identical queries, so quantized (ScaNN) scoring takes
    the same decisions in both.  Zero rows stay zero.
    """
    import tensorflow as tf

    with tf.device("/CPU:0"):
        return _l2_normalize(tf.constant(x)).numpy()


def _l2_normalize(x):
    import tensorflow as tf

    global _L2_NORMALIZE
    if _L2_NORMALIZE is None:
        _L2_NORMALIZE = tf.function(
            lambda t: tf.math.l2_normalize(t, axis=1), input_signature=[tf.TensorSpec([None, None], tf.float32)]
        )
    return _L2_NORMALIZE(x)


_L2_NORMALIZE = None


def parse_positive_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]`` or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"parameter {name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"[{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise ValueError(f"parameter {name}={value} out of range: must be {bound}")
    return value


def check_param_names(params: Mapping[str, Any], valid: Iterable[str], engine: str) -> None:
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown {engine} parameter(s) {unknown}; valid parameters: {sorted(valid)}")


def progress_bar(total: int, desc: str, enabled: bool | None, chunks: int):
    """A tqdm bar on stderr (shown when ``enabled``, or by default when there is more than one chunk)."""
    from tqdm import tqdm

    show = chunks > 1 if enabled is None else bool(enabled)
    return tqdm(total=total, desc=desc, unit="query", file=sys.stderr, disable=not show, leave=False)


# --------------------------------------------------------------------------- the index


class Index:
    """A nearest-neighbour index over ``n`` vectors of dimension ``d`` with one label each.

    Attributes: ``engine`` ("scann" or "exact"), ``metric`` ("dot" or
    "cosine"), ``dim``, ``len(index)``, ``labels`` (``str(row)`` when built
    without labels), ``labels_kind`` ("ids", "labels", "words" or
    "phrases"), ``params`` (the engine's parameters with every default
    resolved), ``vectors`` (the float32 vectors as given, read-only).
    """

    engine = ""
    valid_params: tuple[str, ...] = ()
    search_params: tuple[str, ...] = ()

    def __init__(
        self,
        vectors: np.ndarray,
        labels: list[str] | None,
        *,
        metric: str,
        params: dict[str, Any],
        labels_kind: str,
    ):
        self._vectors = vectors
        self._vectors.setflags(write=False)
        self.metric = metric
        self.params = params
        self._given_labels = labels
        self.labels_kind = labels_kind
        self._rows_by_label: dict[str, np.ndarray] | None = None
        self._space: np.ndarray | None = None

    # ----------------------------------------------------------------- properties

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} engine={self.engine} metric={self.metric} count={len(self)} "
            f"dim={self.dim} labels={self.labels_kind}>"
        )

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    @property
    def vectors(self) -> np.ndarray:
        """The vectors as given at build time (float32 ``[n, d]``, read-only)."""
        return self._vectors

    @property
    def space_vectors(self) -> np.ndarray:
        """The vectors searched: unit-normed for cosine, as given for dot (read-only)."""
        if self._space is None:
            self._space = unit_rows(self._vectors) if self.metric == "cosine" else self._vectors
            self._space.setflags(write=False)
        return self._space

    @property
    def has_labels(self) -> bool:
        return self._given_labels is not None

    @property
    def labels(self) -> list[str]:
        if self._given_labels is None:
            return [str(i) for i in range(len(self))]
        return self._given_labels

    def label_of(self, row: int) -> str:
        return self._given_labels[row] if self._given_labels is not None else str(row)

    # ----------------------------------------------------------------- candidates

    def rows_of(self, labels: Sequence[str]) -> np.ndarray:
        """Sorted unique int64 rows holding any of ``labels`` (a label held by several rows gives all)."""
        if isinstance(labels, (str, bytes)):
            raise ValueError("candidates must be a sequence of labels, not a single string")
        labels = list(labels)
        if not labels:
            raise ValueError("candidates is empty: give at least one label (or None for the whole index)")
        if self._rows_by_label is None:
            groups: dict[str, list[int]] = {}
            for i, label in enumerate(self.labels):
                groups.setdefault(label, []).append(i)
            self._rows_by_label = {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}
        unknown = [c for c in labels if not isinstance(c, str) or c not in self._rows_by_label]
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            hint = " (this index has no labels: its labels are the row numbers as strings)" if not self.has_labels else ""
            raise ValueError(f"{len(unknown)} unknown candidate label(s), not in the index: {shown}{hint}")
        return np.unique(np.concatenate([self._rows_by_label[c] for c in labels]))

    # ----------------------------------------------------------------- search

    def prepare_queries(self, queries: Any) -> np.ndarray:
        """Validated float32 ``[b, d]`` queries in the search space (unit-normed for cosine)."""
        q = check_queries(queries, self.dim)
        return unit_queries(q) if self.metric == "cosine" else q

    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        candidates: Sequence[str] | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
        **search_params: Any,
    ) -> SearchResult:
        """The ``k`` nearest rows of each query, nearest first.

        Args:
          queries: float ``[b, d]``, or one query ``[d]`` (the result then has ``b = 1``).
          k: neighbours per query; ``1 <= k <= len(index)`` (or the number of candidate rows).
          candidates: restrict the answer to rows whose label is in this list
            (e.g. zero-shot labels only); every label must be in the index.
          batch_size: queries per batch (``None``: the engine's default); a
            progress bar on stderr shows batches when there is more than one.
          progress: force the progress bar on (True) or off (False).
          **search_params: engine search knobs overriding the built ones for
            this call (ScaNN: ``num_leaves_to_search``, ``reorder_k``).
        """
        q = self.prepare_queries(queries)
        rows = None if candidates is None else self.rows_of(candidates)
        if rows is not None and len(rows) == len(self):
            rows = None
        if rows is None:
            k = check_k(k, len(self))
        else:
            k = check_k(k, len(rows), what=f"the {len(rows)} candidate rows")
        check_param_names(search_params, self.search_params, f"{self.engine} search")
        search_params = self._check_search_params(search_params)
        if batch_size is None:
            batch_size = self._default_batch_size(len(q))
        batch_size = parse_positive_int("batch_size", batch_size)
        chunks = math.ceil(len(q) / batch_size)
        ids = np.empty((len(q), k), dtype=np.int64)
        scores = np.empty((len(q), k), dtype=np.float32)
        with progress_bar(len(q), f"{self.engine} search", progress, chunks) as bar:
            for start in range(0, len(q), batch_size):
                stop = min(start + batch_size, len(q))
                ids[start:stop], scores[start:stop] = self._search_batch(q[start:stop], k, rows, search_params)
                bar.update(stop - start)
        return SearchResult(ids=ids, scores=scores, labels=self._labels_of(ids))

    def _labels_of(self, ids: np.ndarray) -> list[list[str]]:
        if self._given_labels is None:
            return [[str(i) for i in row] for row in ids.tolist()]  # Python ints: no NumPy scalars
        names = self._given_labels
        return [[names[i] for i in row] for row in ids.tolist()]

    def _check_search_params(self, search_params: dict[str, Any]) -> dict[str, Any]:
        return search_params

    def _default_batch_size(self, num_queries: int) -> int:
        raise NotImplementedError

    def _search_batch(
        self, queries: np.ndarray, k: int, rows: np.ndarray | None, search_params: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(int64 ids ``[b, k]``, float32 scores ``[b, k]``) of prepared queries."""
        raise NotImplementedError

    # ----------------------------------------------------------------- persistence

    def save(self, directory: str) -> None:
        """Writes the index to ``directory`` (created; existing index files are replaced).

        Layout: ``manifest.json`` (engine, metric, params, dim, count, sha256
        of the vectors and of every other file), ``vectors.npy`` (the vectors
        as given), ``labels.txt`` (one label per line, when built with labels)
        and the engine's own files (ScaNN: ``scann/``).
        """
        from tfpipe.index import manifest

        manifest.save_index(self, directory)

    def _engine_files(self, directory: str) -> list[str]:
        """Writes the engine's files under ``directory``; returns their paths relative to it."""
        return []
