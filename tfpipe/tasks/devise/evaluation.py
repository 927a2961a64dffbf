"""DeViSE's evaluation: Table 1 (the training labels) and Table 2 (zero-shot label sets).

Frome et al. 2013, section 4.  An image is ranked against a candidate set through the run's
:class:`tfpipe.index.LabelIndex` (``labels.build_index``): the query is the projected image
``M v`` (DeViSE, random embeddings) or ConSE's convex combination (below), the answer the
nearest labels of the candidate subset by cosine, which ranks labels exactly as the paper's
``t . M v`` does (unit label vectors, footnote 2).  The returned top-k become a score matrix
over the candidates (labels not returned score -inf), on which ``tfpipe.metrics`` computes

* flat hit@k (``metrics.top_k_accuracy``): the true label among the k best;
* hierarchical precision@k (``metrics.hierarchical_precision_at_k``) over WordNet's hypernym
  graph of the candidates' synsets (``wordnet.hierarchy_edges``; a class without a synset is
  an isolated node: its ground truth is itself alone).

The softmax baseline ranks the training labels by its probabilities.  On a zero-shot set it
cannot name a zero-shot label (hit@k = 0 by construction) but its hierarchical precision over
zero-shot + training labels is defined: that row is in Table 2 as in the paper.

**ConSE** (Norouzi et al. 2014, "Zero-shot learning by convex combination of semantic
embeddings", eq. 1-2 there): ``f(x) = (1 / Z) sum_{t=1..T} p(y_t | x) s(y_t)`` over the softmax's
T most probable training labels ``y_t`` with their unit label vectors ``s``, ``Z = sum_t p(y_t|x)``;
its nearest labels of a candidate set are its prediction (T = ``model.conse_top``, 10 as there).

**Chance**: hit@k = k / C for C candidates; hierarchical precision@k of uniformly random scores
(seed 0) over the same images and hierarchy.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

FLAT_KS = (1, 2, 5, 10)               # Table 1
HIERARCHICAL_KS = (2, 5, 10, 20)      # Table 1 (@1 equals hit@1)
ZERO_SHOT_KS = (1, 2, 5, 10, 20)      # Table 2, flat and hierarchical
CHANCE_SEED = 0


def conse_embedding(probabilities: np.ndarray, label_matrix: np.ndarray, top: int) -> np.ndarray:
    """ConSE's ``f(x)`` (module docstring) of softmax ``probabilities [N, C]`` over the training
    labels whose unit vectors are ``label_matrix [C, d]``: ``[N, d]``."""
    p = np.asarray(probabilities, np.float32)
    m = np.asarray(label_matrix, np.float32)
    if p.ndim != 2 or m.ndim != 2 or p.shape[1] != m.shape[0]:
        raise ValueError(f"probabilities {p.shape} and label matrix {m.shape} do not match")
    t = int(min(max(int(top), 1), p.shape[1]))
    best = np.argsort(-p, axis=1, kind="stable")[:, :t]
    weights = np.take_along_axis(p, best, axis=1)
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return np.einsum("nt,ntd->nd", weights, m[best]).astype(np.float32)


def embed(model, features: np.ndarray, *, batch_size: int) -> np.ndarray:
    """The projected image ``M v`` of a DeViSE (or random-embeddings) model: its ``projection``
    layer's output (``model.projection_model``)."""
    from tfpipe.tasks.devise.model import projection_model

    return np.asarray(projection_model(model).predict(features, batch_size=batch_size, verbose=0), np.float32)


def ranked_scores(index, queries: np.ndarray, candidates: Sequence[str], k: int) -> np.ndarray:
    """``[N, len(candidates)]`` scores: the ``k`` nearest candidates of each query (cosine) as the
    label index returns them, -inf for the rest."""
    k = min(int(k), len(candidates))
    found = index.nearest(queries, k, labels=list(candidates))
    position = {key: j for j, key in enumerate(candidates)}
    scores = np.full((len(queries), len(candidates)), -np.inf, np.float32)
    cols = np.array([[position[key] for key in row] for row in found.labels], np.int64).reshape(len(queries), k)
    np.put_along_axis(scores, cols, found.scores, axis=1)
    return scores


def hierarchy(synsets: Sequence[str | None]) -> tuple[list, list[int]]:
    """``(graph, dropped)``: ``wordnet.hierarchy_edges`` of the candidates' synsets; a synset that
    occurs twice (a zero-shot class that is also a training class) keeps its first occurrence and
    the later ones become isolated nodes (their positions are ``dropped``)."""
    from tfpipe.text import wordnet

    first: dict[str, int] = {}
    clean: list[str | None] = []
    dropped: list[int] = []
    for i, s in enumerate(synsets):
        if s and s in first:
            clean.append(None)
            dropped.append(i)
            continue
        if s:
            first[s] = i
        clean.append(s or None)
    return wordnet.hierarchy_edges(clean), dropped


def metrics_of(scores: np.ndarray, truth: np.ndarray, graph, *, flat_ks: Sequence[int],
               hierarchical_ks: Sequence[int]) -> dict[str, Any]:
    """``{"hit_at_k": {k: v}, "hierarchical_precision_at_k": {k: v}}`` (string keys); precision@k
    only for ``k`` up to the number of candidates."""
    from tfpipe import metrics

    hits = metrics.top_k_accuracy(scores, truth, ks=flat_ks)
    hks = [k for k in hierarchical_ks if k <= scores.shape[1]]
    hp = metrics.hierarchical_precision_at_k(scores, truth, graph, ks=hks) if hks else {}
    return {"hit_at_k": {str(k): float(v) for k, v in hits.items()},
            "hierarchical_precision_at_k": {str(k): float(v) for k, v in hp.items()}}


def chance(num_images: int, truth: np.ndarray, num_candidates: int, graph, *, flat_ks: Sequence[int],
           hierarchical_ks: Sequence[int]) -> dict[str, Any]:
    """The chance row: hit@k = k / C exactly; hierarchical precision@k of random scores."""
    rng = np.random.default_rng(CHANCE_SEED)
    scores = rng.random((num_images, num_candidates)).astype(np.float32)
    row = metrics_of(scores, truth, graph, flat_ks=flat_ks, hierarchical_ks=hierarchical_ks)
    row["hit_at_k"] = {str(k): min(1.0, k / num_candidates) for k in flat_ks}
    return row
