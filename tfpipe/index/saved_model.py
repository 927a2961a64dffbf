"""Export an index as a TensorFlow SavedModel with a serving signature.

Signature ``serving_default``: input ``queries`` float32 ``[batch, d]``;
outputs ``ids`` int64 ``[batch, k]`` (rows of the index, nearest first),
``scores`` float32 ``[batch, k]`` (dot product, or cosine: the graph unit-norms
the queries) and ``labels`` string ``[batch, k]`` (a ``tf.lookup`` table of
row -> label inside the graph).  ``k`` is fixed at export.

* ScaNN indexes: the graph holds ScaNN's searcher as TensorFlow state
  (``scann.scann_ops.ScannState``, rebuilt into a searcher resource by ScaNN's
  ``TensorsToScann`` op on the first call and kept) and searches with
  ``ScannSearchBatched``.  The state is the very searcher of the index (its
  serialized tree, codebooks, hashed and float datasets), so the SavedModel
  returns the in-process index's neighbours.  The search knobs
  (``num_leaves_to_search``, reordering) are those of the index.  A process
  loading it must have ScaNN's op library registered first: ``import scann``
  (or ``tf.load_op_library`` of ``scann/scann_ops/cc/_scann_ops.so``; TF
  Serving: a build linking those ops).  :func:`load_saved_model` does it.
  If ScaNN finds fewer than ``k`` points for a query, the missing entries
  have id -1, score NaN and label "".
* Exact indexes: the vectors are a variable; the graph is one matrix product
  and ``tf.math.top_k`` (plain TensorFlow, any process loads it).

``tfpipe_index.json`` beside ``saved_model.pb`` records engine, metric, k,
dim, count and whether the ScaNN ops are needed.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np
import tensorflow as tf

from tfpipe.index.base import Index, check_k

INFO_FILE = "tfpipe_index.json"

# ScaNN's serialized files, in the order of ScannState's tensors, with the
# dtype of the placeholder ScaNN uses for an absent one.
_SCANN_ASSETS = (
    ("scann_config.pb", tf.string),
    ("serialized_partitioner.pb", tf.string),
    ("datapoint_to_token.npy", tf.int32),
    ("ah_codebook.pb", tf.string),
    ("hashed_dataset.npy", tf.uint8),
    ("int8_dataset.npy", tf.int8),
    ("int8_multipliers.npy", tf.float32),
    ("dp_norms.npy", tf.float32),
    ("dataset.npy", tf.float32),
)


def _label_table(index: Index) -> tf.lookup.StaticHashTable:
    keys = tf.range(len(index), dtype=tf.int64)
    values = tf.constant(index.labels, dtype=tf.string)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default_value="")


def _scann_state_tensors(index: Index) -> list[tf.Tensor]:
    """The index's ScaNN searcher as the nine tensors of ``scann_ops.ScannState``."""
    with tempfile.TemporaryDirectory() as tmp:
        index.searcher.serialize(tmp, relative_path=True)
        known = {name for name, _ in _SCANN_ASSETS} | {"scann_assets.pbtxt"}
        unsupported = sorted(set(os.listdir(tmp)) - known)
        if unsupported:
            raise ValueError(f"this ScaNN configuration writes {unsupported}, which ScaNN's TF ops do not load")
        tensors = []
        for name, dtype in _SCANN_ASSETS:
            path = os.path.join(tmp, name)
            if not os.path.exists(path):
                tensors.append(tf.zeros([], dtype=dtype))
            elif name.endswith(".npy"):
                tensors.append(tf.constant(np.load(path, allow_pickle=False), dtype=dtype))
            else:
                with open(path, "rb") as f:
                    tensors.append(tf.constant([f.read()], dtype=tf.string))
    return tensors


class _ScannServing(tf.Module):
    def __init__(self, index: Index, k: int):
        super().__init__(name="scann_index")
        from scann.scann_ops.py import scann_ops

        self.state = scann_ops.ScannState(_scann_state_tensors(index))
        self.labels = _label_table(index)
        pre, leaves = index.scann_arguments(k)
        self._search_args = (int(k), int(pre), int(leaves))
        self._cosine = index.metric == "cosine"
        self.serve = tf.function(
            self._serve, input_signature=[tf.TensorSpec([None, index.dim], tf.float32, name="queries")]
        )

    def _serve(self, queries):
        from scann.scann_ops.py import scann_ops

        if self._cosine:
            with tf.device("/CPU:0"):  # the op, and device, of Index.prepare_queries: identical bits
                queries = tf.math.l2_normalize(queries, axis=1)
        k, pre, leaves = self._search_args
        handle = self.state.recreate_handle()
        ids, scores = scann_ops.scann_search_batched(handle, queries, k, pre, leaves, True)
        missing = tf.math.is_nan(scores)
        ids = tf.where(missing, tf.constant(-1, tf.int64), tf.cast(ids, tf.int64))
        return {"ids": ids, "scores": scores, "labels": self.labels.lookup(ids)}


class _ExactServing(tf.Module):
    def __init__(self, index: Index, k: int):
        super().__init__(name="exact_index")
        self.vectors = tf.Variable(index.space_vectors, trainable=False, name="vectors")
        self.labels = _label_table(index)
        self._k = int(k)
        self._cosine = index.metric == "cosine"
        self.serve = tf.function(
            self._serve, input_signature=[tf.TensorSpec([None, index.dim], tf.float32, name="queries")]
        )

    def _serve(self, queries):
        if self._cosine:
            with tf.device("/CPU:0"):
                queries = tf.math.l2_normalize(queries, axis=1)
        scores = tf.matmul(queries, self.vectors, transpose_b=True)
        scores, ids = tf.math.top_k(scores, self._k)
        ids = tf.cast(ids, tf.int64)
        return {"ids": ids, "scores": scores, "labels": self.labels.lookup(ids)}


def search_module(index: Index, k: int) -> tf.Module:
    """The ``tf.Module`` of ``index``'s in-graph search (``module.serve(queries)`` ->
    ``{"ids", "scores", "labels"}`` as the module docstring says), to be saved alone
    (:func:`export_saved_model`) or inside a larger serving graph (a DeViSE model's label
    search)."""
    k = check_k(k, len(index))
    return _ScannServing(index, k) if index.engine == "scann" else _ExactServing(index, k)


def export_saved_model(index: Index, directory: str, *, k: int = 10) -> dict[str, Any]:
    """Writes ``index`` as a SavedModel to ``directory`` (see the module docstring); returns its info."""
    k = check_k(k, len(index))
    module = search_module(index, k)
    tf.saved_model.save(module, directory, signatures={"serving_default": module.serve})
    info = {
        "engine": index.engine,
        "metric": index.metric,
        "k": k,
        "dim": index.dim,
        "count": len(index),
        "signature": "serving_default",
        "inputs": {"queries": f"float32[batch, {index.dim}]"},
        "outputs": {"ids": f"int64[batch, {k}]", "scores": f"float32[batch, {k}]", "labels": f"string[batch, {k}]"},
        "needs_scann_ops": index.engine == "scann",
        "load": ("import scann; tf.saved_model.load(dir)" if index.engine == "scann" else "tf.saved_model.load(dir)"),
    }
    with open(os.path.join(directory, INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def load_saved_model(directory: str):
    """``tf.saved_model.load`` of an exported index, registering ScaNN's ops first when it needs them."""
    info_path = os.path.join(directory, INFO_FILE)
    if os.path.isfile(info_path):
        with open(info_path, encoding="utf-8") as f:
            if json.load(f).get("needs_scann_ops"):
                import scann  # noqa: F401  (registers the Scann>* TensorFlow ops)
    return tf.saved_model.load(directory)


def load_with_ops(directory: str, info: dict[str, Any]):
    """``tf.saved_model.load`` of a task's export whose info says which custom ops its graph holds:
    ScaNN's (``needs_scann_ops``) and tensorflow-text's (``needs_tensorflow_text``, default true:
    the in-graph word tokenizer's ``case_fold_utf8``), registered first."""
    if info.get("needs_scann_ops"):
        import scann  # noqa: F401  (registers ScaNN's TensorFlow ops)
    if info.get("needs_tensorflow_text", True):
        import tensorflow_text  # noqa: F401  (case_fold_utf8)
    return tf.saved_model.load(directory)


def read_export_info(directory: str, info_file: str) -> dict[str, Any] | None:
    """A task export's info file (``info_file``, relative to the SavedModel ``directory``), or None
    when the directory has none (it is not that task's export)."""
    path = os.path.join(directory, info_file)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_export(directory: str, info_file: str) -> tuple[Any, dict[str, Any]]:
    """``(tf.saved_model.load(directory), info)`` of a task's export, the custom ops its info names
    registered first (:func:`load_with_ops`)."""
    info = read_export_info(directory, info_file) or {}
    return load_with_ops(directory, info), info
