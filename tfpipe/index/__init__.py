"""Nearest-neighbour indexes: one interface, two engines (ScaNN and exact), dot product or cosine.

Public API::

    from tfpipe import index
    idx = index.build(vectors,                 # float [n, d]
                      labels=None,             # n strings (None: labels are str(row))
                      engine="scann",          # "scann" | "exact"
                      metric="dot",            # "dot" | "cosine"
                      params=None,             # engine knobs, see below
                      labels_kind=None)        # "labels" | "words" | "phrases" (None: "labels", or "ids")
    res = idx.search(queries, k=10,            # queries [b, d] or [d]
                     candidates=None,          # restrict to rows with these labels
                     batch_size=None, progress=None,
                     **search_params)          # ScaNN: num_leaves_to_search=, reorder_k=
    res.ids       # int64 [b, k]   rows of the index, nearest first
    res.scores    # float32 [b, k] similarities, higher = nearer (dot product or cosine)
    res.labels    # list of b lists of k labels
    idx.save(directory); idx = index.load(directory)
    idx.engine, idx.metric, idx.dim, len(idx), idx.labels, idx.labels_kind, idx.params, idx.vectors

    index.LabelIndex    DeViSE nearest labels restricted to named candidate subsets (label_index.py)
    index.QueryIndex    phrase generation: embedding -> top-k phrases, prototypes of eq. 2 (query_index.py)
    index.export_saved_model(idx, out_dir, k=10)   SavedModel with ScaNN's TF ops (saved_model.py)
    index.read_vectors(path)                       .npy / word2vec .bin / .txt (sources.py)
    index.text_vector(idx, text)                   mean word vector of a text (sources.py)

Errors are ``ValueError`` with a message naming the problem and the valid
choices: dimension mismatch, empty index, ``k`` larger than the index (or the
candidates), NaN/inf vectors or queries, unknown engine/metric/parameter,
unknown candidate labels, a saved file whose checksum does not match.

Engines:
  ``exact`` (exact.py): blocked matrix product + ``tf.math.top_k``, memory
    bounded, ties to the lower row; the ground truth.  params ``block_rows``,
    ``device``.
  ``scann`` (scann_engine.py): tree partitioning + anisotropic asymmetric
    hashing + exact reordering; params ``num_leaves`` (sqrt(n); 2 sqrt(n) from 250k),
    ``num_leaves_to_search`` (10%, >= 20), ``training_sample_size``,
    ``dims_per_block`` (2), ``anisotropic_quantization_threshold`` (0.2),
    ``reorder_k`` (max(100, 10 k)), ... with defaults that scale with n; small
    sets (< 1000 points) skip the tree, < 256 points also the hashing.
    ScaNN is imported only when a ScaNN index is built, loaded or exported.

Modules: base.py (Index, SearchResult, validation), exact.py, scann_engine.py,
manifest.py (directory layout and checksums), label_index.py,
query_index.py, saved_model.py, sources.py (reading vector files, text
queries), __main__.py (CLI: ``python -m tfpipe.index build|search|evaluate|export``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tfpipe.index.base import (
    ENGINES,
    LABEL_KINDS,
    METRICS,
    Index,
    SearchResult,
    check_choice,
    check_labels,
    check_vectors,
)
from tfpipe.index.manifest import ChecksumError, load_index as load


def build(
    vectors: np.ndarray,
    labels: Sequence[str] | None = None,
    *,
    engine: str = "scann",
    metric: str = "dot",
    params: dict[str, Any] | None = None,
    labels_kind: str | None = None,
) -> Index:
    """An index over ``vectors`` ``[n, d]`` (copied as float32), one label per row.

    ``labels_kind`` records what the labels are (``"words"`` lets the CLI
    answer ``--text`` queries by averaging word vectors); default ``"labels"``
    with labels, ``"ids"`` without.
    """
    engine = check_choice("engine", engine, ENGINES)
    metric = check_choice("metric", metric, METRICS)
    array = check_vectors(vectors, None if labels is None or isinstance(labels, (str, bytes)) else labels)
    labels = check_labels(labels, len(array))
    if array is vectors:
        array = array.copy()
    if labels_kind is None:
        labels_kind = "ids" if labels is None else "labels"
    labels_kind = check_choice("labels_kind", labels_kind, LABEL_KINDS)
    if (labels_kind == "ids") != (labels is None):
        raise ValueError(
            f"labels_kind={labels_kind!r} but labels were {'not ' if labels is None else ''}given: "
            "'ids' is for an index without labels, 'labels'/'words'/'phrases' need labels"
        )
    if params is not None and not isinstance(params, dict):
        raise ValueError(f"params must be a dict of engine parameters, got {type(params).__name__}")
    n, d = array.shape
    if engine == "exact":
        from tfpipe.index import exact

        return exact.ExactIndex(
            array, labels, metric=metric, params=exact.resolve_params(params, n), labels_kind=labels_kind
        )
    from tfpipe.index import scann_engine

    return scann_engine.ScannIndex(
        array, labels, metric=metric, params=scann_engine.resolve_params(params, n, d), labels_kind=labels_kind
    )


def __getattr__(name: str):
    # Lazy: these pull in TensorFlow-heavy or ScaNN code only when used.
    if name == "LabelIndex":
        from tfpipe.index.label_index import LabelIndex

        return LabelIndex
    if name in ("QueryIndex", "prototypes"):
        from tfpipe.index import query_index

        return getattr(query_index, name)
    if name in ("export_saved_model", "load_saved_model"):
        from tfpipe.index import saved_model

        return getattr(saved_model, name)
    if name in ("read_vectors", "text_vector"):
        from tfpipe.index import sources

        return getattr(sources, name)
    raise AttributeError(f"module 'tfpipe.index' has no attribute {name!r}")


__all__ = [
    "ENGINES",
    "METRICS",
    "LABEL_KINDS",
    "Index",
    "SearchResult",
    "ChecksumError",
    "build",
    "load",
    "LabelIndex",
    "QueryIndex",
    "prototypes",
    "export_saved_model",
    "load_saved_model",
    "read_vectors",
    "text_vector",
]
