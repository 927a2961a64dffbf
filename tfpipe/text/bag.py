"""Bag-of-features vectors as TF ops: the inputs of Zhang et al. (2015)'s comparison models.

Section 3.1 of the paper: "For the normal bag-of-words, we use the counts of
each word as the features.  For the TFIDF version, we use the counts as the
term-frequency.  The inverse document frequency is the logarithm of the
division between total number of samples and number of samples with the word
in the training subset.  The features are normalized by dividing the largest
feature value."  Bag-of-ngrams and bag-of-means "are computed the same way".

So for a document with feature counts ``c_j`` (``j`` over the features it
contains, out of a fixed table of ``F`` features):

* counts:  ``v_j = c_j / max_i c_i``
* TF-IDF:  ``v_j = c_j * idf_j / max_i (c_i * idf_i)`` with ``idf_j = log(N / df_j)``

where ``N`` is the number of training documents and ``df_j`` the number of
them that contain feature ``j``.  A feature that occurs in every document has
``idf = 0`` and so value 0; a document whose values are all 0 keeps all-zero
values (no division by zero).

The result is sparse: per document the ids of its distinct features (feature
``j`` of the table has id ``j + 1``; id 0 is padding) in increasing order and
their values, as ragged tensors; :func:`pad` turns them into the dense
``[batch, K]`` pair the linear models take (``K`` = most features in any
document of the batch; padding has id 0 and value 0).

Options beyond the paper (for comparisons with other toolkits; the paper's
choices are the defaults): ``idf="smooth"`` is scikit-learn's
``log((1 + N) / (1 + df)) + 1``; ``normalize="l2"`` divides by the row's L2
norm instead of its largest value, ``"none"`` keeps raw values;
``sublinear_tf`` replaces a count ``c`` by ``1 + log(c)``.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

PAD_ID = 0
IDF_KINDS = ("paper", "smooth")
NORMALIZATIONS = ("max", "l2", "none")


def idf(df: np.ndarray, num_docs: int, kind: str = "paper") -> np.ndarray:
    """``log(num_docs / df)`` per feature (the paper's inverse document frequency), or with
    ``kind="smooth"`` scikit-learn's ``log((1 + num_docs) / (1 + df)) + 1``.

    ``df`` must be in ``1..num_docs`` (a feature counted on the training subset
    occurs in at least one of its documents).
    """
    if kind not in IDF_KINDS:
        raise ValueError(f"idf={kind!r}; valid choices: {', '.join(IDF_KINDS)}")
    df = np.asarray(df, dtype=np.float64)
    if num_docs <= 0:
        raise ValueError(f"num_docs must be positive, got {num_docs}")
    if df.size and (df.min() < 1 or df.max() > num_docs):
        raise ValueError(
            f"document frequencies must be in 1..{num_docs} (the training documents); "
            f"got min {df.min():g}, max {df.max():g}"
        )
    if kind == "smooth":
        return np.log((1.0 + num_docs) / (1.0 + df)) + 1.0
    return np.log(num_docs / df)


def counts(ids: tf.RaggedTensor, num_features: int) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """Distinct feature ids per row (increasing) and how often each occurs.

    ``ids`` is ``int64 [batch, (n)]``; ids ``<= 0`` (misses and padding) are
    dropped, ids must be ``<= num_features``.  Returns ``(ids, counts)``,
    ``int64`` and ``float32``, both ragged ``[batch, (distinct)]``.
    """
    ids = tf.cast(ids, tf.int64)
    batch = ids.nrows(out_type=tf.int64)
    rows = ids.value_rowids()
    flat = ids.flat_values
    keep = flat > 0
    rows, flat = tf.boolean_mask(rows, keep), tf.boolean_mask(flat, keep)
    width = tf.constant(num_features + 1, tf.int64)
    # One key per (row, feature); sorting the distinct keys orders rows, then features.
    keys, _, occurrences = tf.unique_with_counts(rows * width + flat, out_idx=tf.int64)
    order = tf.argsort(keys)
    keys, occurrences = tf.gather(keys, order), tf.gather(occurrences, order)
    out_rows = keys // width
    return (
        tf.RaggedTensor.from_value_rowids(keys % width, out_rows, nrows=batch),
        tf.RaggedTensor.from_value_rowids(tf.cast(occurrences, tf.float32), out_rows, nrows=batch),
    )


def normalize_l2(values: tf.RaggedTensor) -> tf.RaggedTensor:
    """Divides every row by its L2 norm (all-zero rows stay 0)."""
    flat = values.flat_values
    norm = tf.sqrt(tf.math.unsorted_segment_sum(flat * flat, values.value_rowids(), values.nrows()))
    return values.with_flat_values(tf.math.divide_no_nan(flat, tf.gather(norm, values.value_rowids())))


def normalize_max(values: tf.RaggedTensor) -> tf.RaggedTensor:
    """Divides every row by its largest value (rows whose largest value is 0 stay 0)."""
    rows = values.value_rowids()
    flat = values.flat_values
    row_max = tf.math.unsorted_segment_max(flat, rows, values.nrows())
    denom = tf.gather(row_max, rows)
    return values.with_flat_values(tf.math.divide_no_nan(flat, denom))


def weigh(ids: tf.RaggedTensor, values: tf.RaggedTensor, weights: tf.Tensor) -> tf.RaggedTensor:
    """``values * weights[ids]`` (``weights`` indexed by feature id, ``weights[0]`` for padding)."""
    return values.with_flat_values(values.flat_values * tf.gather(weights, ids.flat_values))


def pad(ids: tf.RaggedTensor, values: tf.RaggedTensor) -> dict[str, tf.Tensor]:
    """The dense ``{"feature_ids": int32 [B, K], "feature_values": float32 [B, K]}`` pair."""
    return {
        "feature_ids": tf.cast(ids.to_tensor(default_value=PAD_ID), tf.int32),
        "feature_values": values.to_tensor(default_value=0.0),
    }


def sparse(
    ids: tf.RaggedTensor,
    num_features: int,
    weights: tf.Tensor | None = None,
    *,
    normalize: str = "max",
    sublinear_tf: bool = False,
) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """Feature ids of each document's tokens -> its distinct ids and their values (ragged).

    Values are counts (``weights=None``) or counts times ``weights[id]`` (the
    idf, indexed by feature id), then divided by the row's largest value
    (``normalize="max"``, the paper's), its L2 norm (``"l2"``) or left as they are
    (``"none"``); ``sublinear_tf`` uses ``1 + log(count)`` for the counts.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize={normalize!r}; valid choices: {', '.join(NORMALIZATIONS)}")
    distinct, occurrences = counts(ids, num_features)
    if sublinear_tf:
        occurrences = occurrences.with_flat_values(1.0 + tf.math.log(occurrences.flat_values))
    if weights is not None:
        occurrences = weigh(distinct, occurrences, tf.cast(weights, tf.float32))
    if normalize == "max":
        occurrences = normalize_max(occurrences)
    elif normalize == "l2":
        occurrences = normalize_l2(occurrences)
    return distinct, occurrences


def bag(
    ids: tf.RaggedTensor, num_features: int, weights: tf.Tensor | None = None
) -> dict[str, tf.Tensor]:
    """:func:`sparse`, padded into the model's dense ``(ids, values)`` inputs."""
    return pad(*sparse(ids, num_features, weights))
