"""Exact nearest neighbours: a fair brute force (blocked matrix product + top-k, TensorFlow).

The database is cut into blocks of ``block_rows`` rows held as TensorFlow
constants; a batch of queries is multiplied with each block (one matrix
product), the block's top-``k`` is taken with ``tf.math.top_k`` and merged with
the running top-``k``.  Memory stays bounded (one ``[batch, block_rows]`` score
matrix, 256 MB by default) whatever the database size, so 1,000,000 x 64
fits; the matrix products and top-k use every core.

Ties: ``tf.math.top_k`` puts the lower index first and the running top-k is
merged before each new block, so among equal scores the lower row wins,
exactly.

Parameters (``params``; names, defaults and meanings are defined in ``params.py``):
  ``block_rows``: database rows per block (default ``min(n, 65536)``).
  ``device``: ``"cpu"`` (default) or ``"gpu"``.  CPU by default because this
    engine is the ground truth: TensorFlow runs float32 matrix products on
    recent GPUs in TF32 (about 3 significant digits) unless
    ``tf.config.experimental.enable_tensor_float_32_execution(False)`` is set.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tfpipe.index import params as params_lib
from tfpipe.index.base import BLOCK_BYTES, Index, check_choice, check_param_names, parse_positive_int
from tfpipe.index.params import DEFAULT_BLOCK_ROWS, DEVICES  # noqa: F401  (re-exported)

VALID_PARAMS = params_lib.names("exact")


def resolve_params(params: dict[str, Any] | None, n: int) -> dict[str, Any]:
    """The exact engine's parameters with defaults filled in, validated."""
    params = dict(params or {})
    check_param_names(params, VALID_PARAMS, "exact")
    block_rows = params.get("block_rows")
    block_rows = min(n, DEFAULT_BLOCK_ROWS) if block_rows is None else parse_positive_int("block_rows", block_rows)
    device = check_choice("exact device", params.get("device", "cpu"), DEVICES)
    return {"block_rows": block_rows, "device": device}


def _device_name(device: str) -> str:
    if device == "gpu":
        if not tf.config.list_logical_devices("GPU"):
            raise ValueError("exact engine device='gpu' but TensorFlow sees no GPU; valid choices here: ['cpu']")
        return "/GPU:0"
    return "/CPU:0"


@tf.function(
    input_signature=[
        tf.TensorSpec([None, None], tf.float32),
        tf.TensorSpec([None, None], tf.float32),
        tf.TensorSpec([None, None], tf.float32),
        tf.TensorSpec([None, None], tf.int64),
        tf.TensorSpec([], tf.int64),
        tf.TensorSpec([], tf.int32),
    ]
)
def _merge_block(queries, block, best_scores, best_ids, offset, k):
    scores = tf.matmul(queries, block, transpose_b=True)
    block_scores, block_ids = tf.math.top_k(scores, tf.minimum(k, tf.shape(block)[0]))
    # Earlier blocks (lower rows) first, so top_k's lower-index-first tie rule keeps lower rows.
    all_scores = tf.concat([best_scores, block_scores], axis=1)
    all_ids = tf.concat([best_ids, tf.cast(block_ids, tf.int64) + offset], axis=1)
    top_scores, where = tf.math.top_k(all_scores, tf.minimum(k, tf.shape(all_scores)[1]))
    return top_scores, tf.gather(all_ids, where, batch_dims=1)


def to_blocks(vectors: np.ndarray, block_rows: int, device: str = "cpu") -> list[tuple[int, tf.Tensor]]:
    """``(first row, constant)`` blocks of ``vectors`` placed on ``device``."""
    with tf.device(_device_name(device)):
        return [
            (start, tf.constant(vectors[start : start + block_rows]))
            for start in range(0, len(vectors), block_rows)
        ]


def top_k_blocks(
    queries: np.ndarray, blocks: list[tuple[int, tf.Tensor]], k: int, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """(int64 rows ``[b, k]``, float32 scores ``[b, k]``): the ``k`` largest dot products over ``blocks``."""
    b = len(queries)
    with tf.device(_device_name(device)):
        q = tf.constant(queries, dtype=tf.float32)
        best_scores = tf.zeros([b, 0], tf.float32)
        best_ids = tf.zeros([b, 0], tf.int64)
        kk = tf.constant(k, tf.int32)
        for start, block in blocks:
            best_scores, best_ids = _merge_block(q, block, best_scores, best_ids, tf.constant(start, tf.int64), kk)
    return best_ids.numpy(), best_scores.numpy()


def exact_top_k(
    queries: np.ndarray, vectors: np.ndarray, k: int, *, block_rows: int = DEFAULT_BLOCK_ROWS, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the ``k`` largest dot products of each query with ``vectors`` (no validation)."""
    return top_k_blocks(queries, to_blocks(vectors, block_rows, device), k, device)


def batch_size_for(block_rows: int) -> int:
    """Queries per batch that keep one ``[batch, block_rows]`` float32 score matrix under 256 MB."""
    return max(1, BLOCK_BYTES // (4 * block_rows))


class ExactIndex(Index):
    """Brute-force index: the exact top-k by dot product or cosine (see the module docstring)."""

    engine = "exact"
    valid_params = VALID_PARAMS
    search_params = ()

    def __init__(self, vectors, labels, *, metric, params, labels_kind):
        super().__init__(vectors, labels, metric=metric, params=params, labels_kind=labels_kind)
        self._blocks: list[tuple[int, tf.Tensor]] | None = None

    def _default_batch_size(self, num_queries: int) -> int:
        return batch_size_for(self.params["block_rows"])

    def _search_batch(self, queries, k, rows, search_params):
        device = self.params["device"]
        if rows is None:
            if self._blocks is None:
                self._blocks = to_blocks(self.space_vectors, self.params["block_rows"], device)
            return top_k_blocks(queries, self._blocks, k, device)
        ids, scores = exact_top_k(
            queries, self.space_vectors[rows], k, block_rows=self.params["block_rows"], device=device
        )
        return rows[ids], scores
