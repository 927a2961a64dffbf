"""Classification, ranking, retrieval and zero-shot metrics (pure NumPy).

Conventions: a confusion matrix ``cm`` has rows = true class and columns =
predicted class, ``cm[i, j]`` = number of examples of class ``i`` predicted as
``j``.  Accuracy is ``trace(cm) / sum(cm)``; the paper reports the test error
in percent, ``100 * (1 - accuracy)``.

Ranking metrics (everything below ``summary``) share these conventions:

* Scores: higher is better; a score matrix ``[N, C]`` gives, per row (an
  image, a query), one score per candidate (a label, a text, a database item).
  ``-inf`` is allowed (a masked candidate); NaN is an error.
* Ties are pessimistic and deterministic: a relevant item that ties in score
  with irrelevant ones is ranked after all of them.  The rank of a true item
  with score ``s`` is ``1 + #(other items scoring >= s)``; for set-valued
  relevance (precision@k, AP, hierarchical precision@k) the irrelevant tied
  items are ordered first.  So a model that scores everything equally gets no
  credit it would not get for every order of its ties.
* ``k`` larger than the number of candidates: rank thresholds (hit@k, R@K) are
  still defined (every rank is <= k, so the value is 1.0); precision@k needs k
  ranked items, so it raises ``ValueError``.
* Fewer than ``k`` relevant items (a class with 30 images and k = 50):
  precision@k still divides by ``k`` (the fraction of the top-k slots that are
  relevant), so its maximum is ``num_relevant / k``.
* Ranks are 1-based.  Empty inputs raise ``ValueError`` saying what is empty.

Papers: Frome et al. 2013 (DeViSE) section 4: flat hit@k and hierarchical
precision@k; Reed et al. 2016 section 5.2: zero-shot top-1 (averaged per
class) and "AP@50"; You et al. 2018 section 4, Tables 1-2: R@1/5/10, median
rank for sentence and image retrieval and their Sum (``retrieval_summary`` from
ranks, so Table 4's per-query "Best" of two rankings can be scored), and their
chance level (``chance_retrieval``).
"""
from __future__ import annotations

from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """``int64[num_classes, num_classes]`` counts; labels outside ``[0, num_classes)`` are an error."""
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} has labels outside [0, {num_classes})")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def accuracy(cm: np.ndarray) -> float:
    """Fraction of examples on the diagonal (0.0 for an empty matrix)."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def error_pct(cm: np.ndarray) -> float:
    """Test error in percent, as the paper's tables report it."""
    return 100.0 * (1.0 - accuracy(cm))


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Per true class, the fraction predicted correctly (recall); NaN for a class with no examples."""
    support = cm.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def row_normalized(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows of a class with no examples stay 0)."""
    support = cm.sum(axis=1, keepdims=True).astype(np.float64)
    return cm / np.maximum(support, 1)


def summary(cm: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, error %, per-class accuracy (by name, None when a class is absent) and the matrix."""
    if cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(class_names)} class names")
    per_class = per_class_accuracy(cm)
    return {
        "accuracy": accuracy(cm),
        "error_pct": error_pct(cm),
        "num_examples": int(cm.sum()),
        "class_names": list(class_names),
        "per_class_accuracy": {
            name: (None if np.isnan(a) else float(a)) for name, a in zip(class_names, per_class)
        },
        "class_counts": {name: int(n) for name, n in zip(class_names, cm.sum(axis=1))},
        "confusion_matrix": cm.astype(int).tolist(),
    }


# --------------------------------------------------------------------------- ranking: input checks


def _scores_2d(scores: np.ndarray, name: str, rows: str, cols: str) -> np.ndarray:
    """``float64[rows, cols]`` with at least one row and one column and no NaN."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        raise ValueError(f"{name} is empty (shape {s.shape}): need at least one of the {rows} and one of the {cols}")
    if s.ndim != 2:
        raise ValueError(f"{name} must be 2-D [{rows}, {cols}], got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError(f"{name} contains NaN")
    return s


def _int_vector(values: Sequence[int], name: str, length: int, upper: int, what: str) -> np.ndarray:
    """``int64[length]`` with every value in ``[0, upper)``."""
    v = np.asarray(values)
    if v.size == 0:
        raise ValueError(f"{name} is empty")
    if v.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer {what} ids, got dtype {v.dtype}")
    v = v.astype(np.int64)
    if v.ndim != 1 or len(v) != length:
        raise ValueError(f"{name} has shape {v.shape} but the scores have {length} rows/columns for it")
    if v.min() < 0 or v.max() >= upper:
        raise ValueError(f"{name} has {what} ids outside [0, {upper})")
    return v


def _ks(ks: int | Sequence[int]) -> tuple[int, ...]:
    """A non-empty tuple of positive ints (one int is a 1-tuple)."""
    ks = (ks,) if isinstance(ks, (int, np.integer)) else tuple(ks)
    if not ks:
        raise ValueError("ks is empty: give at least one k")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"every k must be a positive integer, got {k!r}")
    return tuple(int(k) for k in ks)


def _relevance(relevance: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    rel = np.asarray(relevance)
    if rel.shape != shape:
        raise ValueError(f"relevance has shape {rel.shape} but scores have shape {shape}")
    if rel.dtype != np.bool_:
        if not np.isin(rel, (0, 1)).all():
            raise ValueError("relevance must be binary (bool or 0/1)")
        rel = rel.astype(bool)
    return rel


_ROW_BLOCK = 1024  # rows per block in the rank counts, so a [rows, cols] boolean temporary stays bounded


def _pessimistic_hits(scores: np.ndarray, relevant: np.ndarray, k: int) -> np.ndarray:
    """Per row, how many relevant items are in the top ``k`` when tied irrelevant items go first.

    ``t`` = the k-th largest score; the items above ``t`` are all in; of the
    ``k - n_above`` slots left, the irrelevant items tied at ``t`` take theirs first.
    """
    m = scores.shape[1]
    t = np.partition(scores, m - k, axis=1)[:, m - k][:, None]
    above, tie = scores > t, scores == t
    n_above, m_above = above.sum(axis=1), (above & relevant).sum(axis=1)
    n_tie, m_tie = tie.sum(axis=1), (tie & relevant).sum(axis=1)
    return m_above + np.maximum(0, (k - n_above) - (n_tie - m_tie))


# --------------------------------------------------------------------------- nearest-neighbour recall


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / k, where ``truth`` is ``[b, k]`` and ``found`` ``[b, >= k]``.

    The recall of an approximate nearest-neighbour search against the exact
    top-k ids (``python -m tfpipe.index evaluate`` and ``benchmarks.index_search``).
    Only the first ``k`` columns of ``found`` count; each true id counts once
    (a repeated found id is one hit).
    """
    found, truth = np.asarray(found), np.asarray(truth)
    if truth.ndim != 2 or found.ndim != 2 or len(found) != len(truth) or found.shape[1] < truth.shape[1]:
        raise ValueError(f"found {found.shape} and truth {truth.shape} must be [b, >= k] and [b, k]")
    k = truth.shape[1]
    if len(truth) == 0 or k == 0:
        raise ValueError("recall of no queries or k = 0 is undefined")
    hits = (truth[:, :, None] == found[:, None, :k]).any(axis=2).sum(axis=1)
    return float(hits.mean() / k)


# --------------------------------------------------------------------------- flat hit@k, zero-shot top-1


def true_label_ranks(scores: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """``int64[N]``: the 1-based rank of each row's true label among the ``C`` columns of ``scores [N, C]``.

    Pessimistic ties: rank = 1 + #(other labels scoring >= the true label's
    score), so a true label tied with others is ranked after all of them.
    """
    s = _scores_2d(scores, "scores", "images", "labels")
    y = _int_vector(labels, "labels", s.shape[0], s.shape[1], "label")
    ranks = np.empty(len(y), dtype=np.int64)
    for start in range(0, len(y), _ROW_BLOCK):
        block = s[start:start + _ROW_BLOCK]
        true = block[np.arange(len(block)), y[start:start + _ROW_BLOCK]][:, None]
        ranks[start:start + _ROW_BLOCK] = (block >= true).sum(axis=1)  # counts the true label itself: 1 + others
    return ranks


def top_k_accuracy(scores: np.ndarray, labels: Sequence[int],
                   ks: int | Sequence[int] = (1, 2, 5, 10)) -> dict[int, float]:
    """Flat hit@k (DeViSE, Frome et al. 2013 section 4, Tables 1-2): for each k, the fraction of rows
    of ``scores [N, C]`` whose true label is among the k highest-scoring labels.

    Ties are pessimistic (see ``true_label_ranks``).  ``k >= C`` is allowed and
    gives 1.0 (every label is within the top k).  Returns ``{k: fraction}``.
    """
    ks = _ks(ks)
    ranks = true_label_ranks(scores, labels)
    return {k: float(np.mean(ranks <= k)) for k in ks}


def zero_shot_top1(scores: np.ndarray, labels: Sequence[int]) -> dict[str, float | np.ndarray]:
    """Zero-shot top-1 accuracy (Reed et al. 2016 section 5.2, eq. 8, Table 1 "Top-1 Acc").

    ``scores [N, C]``: the compatibility of each test image with each unseen
    class (e.g. the image embedding dotted with the class's averaged text
    embedding); the prediction is the arg max over classes.  Returns
    ``accuracy`` (over images), ``per_class_accuracy`` (``float64[C]``, NaN
    for a class with no test images) and ``mean_per_class_accuracy`` (mean over
    the classes that have images: the per-class average Reed et al. report).
    A tie for the top score counts as wrong (pessimistic, see ``true_label_ranks``).
    """
    ranks = true_label_ranks(scores, labels)
    y = np.asarray(labels, dtype=np.int64)
    num_classes = np.asarray(scores).shape[1]
    correct = (ranks == 1).astype(np.float64)
    support = np.bincount(y, minlength=num_classes)
    hits = np.bincount(y, weights=correct, minlength=num_classes)
    per_class = np.full(num_classes, np.nan)
    present = support > 0
    per_class[present] = hits[present] / support[present]
    return {
        "accuracy": float(correct.mean()),
        "mean_per_class_accuracy": float(per_class[present].mean()),
        "per_class_accuracy": per_class,
    }


# --------------------------------------------------------------------------- hierarchical precision@k


LabelGraph = Mapping[Hashable, Iterable[Hashable]] | Iterable[tuple[Hashable, Hashable]]


def _node(x: Hashable) -> Hashable:
    return int(x) if isinstance(x, np.integer) else x


def label_graph(graph: LabelGraph) -> dict[Hashable, set[Hashable]]:
    """Undirected adjacency ``{node: neighbours}`` from a mapping ``node -> neighbours`` or ``(parent, child)`` edges.

    Edges are followed both ways (up to parents, down to children), as in the
    DeViSE hierarchical metric; nodes need not be labels (e.g. inner WordNet
    synsets), and a self-loop is ignored.
    """
    adj: dict[Hashable, set[Hashable]] = {}

    def add(a: Hashable, b: Hashable) -> None:
        a, b = _node(a), _node(b)
        adj.setdefault(a, set())
        adj.setdefault(b, set())
        if a != b:
            adj[a].add(b)
            adj[b].add(a)

    if isinstance(graph, Mapping):
        for node, neighbours in graph.items():
            adj.setdefault(_node(node), set())
            for other in neighbours:
                add(node, other)
    else:
        for edge in graph:
            try:
                a, b = edge
            except (TypeError, ValueError):
                raise ValueError(f"an edge must be a (parent, child) pair, got {edge!r}") from None
            add(a, b)
    return adj


def _cumulative_rings(adj: Mapping[Hashable, set[Hashable]], label: int, k: int,
                      candidates: set[int]) -> list[frozenset]:
    """The sets at radius 0, 1, ... (true label plus candidates within R hops), up to the first with >= k labels
    or until the true label's connected component is exhausted."""
    found = {label}
    sets = [frozenset(found)]
    seen = {label}
    ring = [label]
    while len(found) < k and ring:
        nxt = []
        for node in ring:
            for other in adj.get(node, ()):
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        ring = nxt
        found.update(n for n in ring if n in candidates)  # the whole ring at once
        sets.append(frozenset(found))
    return sets


def _ground_truth(sets: list[frozenset], k: int) -> frozenset:
    """The first cumulative set with >= k labels, else the largest (the component ran out)."""
    return next((g for g in sets if len(g) >= k), sets[-1])


def hierarchical_ground_truth(graph: LabelGraph, label: int, k: int, candidates: Iterable[int]) -> frozenset:
    """The DeViSE ground-truth label set for a true ``label`` and a ``k`` (Frome et al. 2013 section 4).

    Breadth-first from the true label over the undirected hierarchy: the set
    at radius R is the true label plus every candidate label within R hops of
    it.  R grows one whole ring at a time (all candidates at distance R+1 are
    added together) and stops at the first R whose set holds at least ``k``
    labels, so the set may hold more than ``k``.  Paths may pass through
    nodes that are not candidates (inner synsets of the hierarchy); only
    candidates enter the set.  If the true label's connected component runs
    out first, the set is every candidate reachable from it (fewer than ``k``;
    precision@k then cannot reach 1).  At ``k = 1`` the set is the true label
    alone, so hierarchical precision@1 is flat hit@1 (DeViSE Table 1 note).
    """
    k = _ks(k)[0]
    cands = {_node(c) for c in candidates}
    label = _node(label)
    if label not in cands:
        raise ValueError(f"true label {label!r} is not among the candidate labels")
    return _ground_truth(_cumulative_rings(label_graph(graph), label, k, cands), k)


def hierarchical_precision_at_k(scores: np.ndarray, labels: Sequence[int], graph: LabelGraph,
                                ks: int | Sequence[int] = (1, 2, 5, 10, 20),
                                candidates: Iterable[int] | None = None) -> dict[int, float]:
    """Hierarchical precision@k (DeViSE, Frome et al. 2013 section 4, Tables 1 and 3).

    ``scores [N, C]`` rank the labels ``0..C-1`` for each test image;
    ``labels [N]`` are the true labels; ``graph`` is the label hierarchy over
    label ids (and any inner nodes), see ``label_graph``.  ``candidates`` (label
    ids, default all ``C``) are the labels the model chooses among and the
    only ones that may enter a ground-truth set; every true label must be
    one.  Per image and k: the model's top-k candidate labels, the ground-truth
    set of ``hierarchical_ground_truth`` (BFS by whole rings until it holds
    >= k candidates), precision = |top-k ∩ set| / k; the mean over images.

    Ties are pessimistic: labels outside the set that tie with labels inside
    it at the k-th score take the top-k slots first.  ``k`` larger than the
    number of candidates raises ``ValueError`` (there are not k predictions).
    Returns ``{k: mean precision}``.
    """
    s = _scores_2d(scores, "scores", "images", "labels")
    n, c = s.shape
    y = _int_vector(labels, "labels", n, c, "label")
    ks = _ks(ks)
    if candidates is None:
        cand = np.arange(c)
    else:
        cand = np.unique(np.asarray(list(candidates), dtype=np.int64))
        if cand.size == 0:
            raise ValueError("candidates is empty")
        if cand.min() < 0 or cand.max() >= c:
            raise ValueError(f"candidates has label ids outside [0, {c})")
    cand_set = set(cand.tolist())
    outside = sorted(set(np.unique(y).tolist()) - cand_set)
    if outside:
        raise ValueError(f"true labels {outside[:5]} are not among the candidate labels")
    if max(ks) > len(cand):
        raise ValueError(f"k = {max(ks)} exceeds the {len(cand)} candidate labels: precision@k needs k predictions")
    adj = label_graph(graph)
    sub = s[:, cand]
    hits = dict.fromkeys(ks, 0)
    for label in np.unique(y).tolist():
        sets = _cumulative_rings(adj, label, max(ks), cand_set)  # one BFS per true label serves every k
        rows = np.flatnonzero(y == label)
        for k in ks:
            members = np.isin(cand, list(_ground_truth(sets, k)))
            for start in range(0, len(rows), _ROW_BLOCK):
                block = sub[rows[start:start + _ROW_BLOCK]]
                hits[k] += int(_pessimistic_hits(block, np.broadcast_to(members, block.shape), k).sum())
    return {k: hits[k] / (n * k) for k in ks}


# --------------------------------------------------------------------------- precision@k, AP, mAP


def precision_at_k(scores: np.ndarray, relevance: np.ndarray, k: int) -> np.ndarray:
    """``float64[Q]``: per query row of ``scores [Q, M]``, the fraction of its top-k items that are relevant.

    ``relevance [Q, M]`` is binary.  Ties at the k-th score are pessimistic
    (tied irrelevant items take the slots first).  The denominator is always
    ``k``: a query with fewer than k relevant items cannot reach 1.0.
    ``k > M`` raises ``ValueError``.
    """
    s = _scores_2d(scores, "scores", "queries", "items")
    rel = _relevance(relevance, s.shape)
    k = _ks(k)[0]
    if k > s.shape[1]:
        raise ValueError(f"k = {k} exceeds the {s.shape[1]} ranked items: precision@k needs k items")
    return _pessimistic_hits(s, rel, k) / k


def average_precision(scores: np.ndarray, relevance: np.ndarray, k: int | None = None) -> np.ndarray:
    """``float64[Q]``: per query row, average precision = the mean over its relevant items of the
    precision at each one's rank (the standard non-interpolated AP).  With ``k``, AP@k: the sum of
    the precision at each relevant rank within the top ``k``, over ``min(k, number relevant)``.

    Ranking: by decreasing score, tied irrelevant items before tied relevant
    ones (pessimistic, deterministic).  A query with no relevant item has no
    AP and raises ``ValueError``.
    """
    s = _scores_2d(scores, "scores", "queries", "items")
    rel = _relevance(relevance, s.shape)
    empty = np.flatnonzero(~rel.any(axis=1))
    if empty.size:
        raise ValueError(f"query {int(empty[0])} has no relevant items: average precision is undefined")
    order = np.lexsort((rel, -s), axis=1)  # primary: score descending; then irrelevant (False) first
    r = np.take_along_axis(rel, order, axis=1).astype(np.float64)
    precision = np.cumsum(r, axis=1) / np.arange(1, s.shape[1] + 1)
    if k is None:
        return (precision * r).sum(axis=1) / r.sum(axis=1)
    if not 1 <= int(k) <= s.shape[1]:
        raise ValueError(f"k={k} must be in [1, {s.shape[1]}] (the number of items)")
    k = int(k)
    return (precision[:, :k] * r[:, :k]).sum(axis=1) / np.minimum(r.sum(axis=1), k)


def mean_average_precision(scores: np.ndarray, relevance: np.ndarray, k: int | None = None) -> float:
    """mAP (mAP@k with ``k``): the mean over query rows of ``average_precision``."""
    return float(average_precision(scores, relevance, k).mean())


def _class_queries(scores: np.ndarray, labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``scores [N, C]`` read by columns: queries ``[C, N]`` and relevance (image of that class) ``[C, N]``."""
    s = _scores_2d(scores, "scores", "images", "class queries")
    y = _int_vector(labels, "labels", s.shape[0], s.shape[1], "class")
    rel = y[None, :] == np.arange(s.shape[1])[:, None]
    empty = np.flatnonzero(~rel.any(axis=1))
    if empty.size:
        raise ValueError(f"class {int(empty[0])} has no test images: drop its column before ranking images by class")
    return s.T, rel


def class_query_precision_at_k(scores: np.ndarray, labels: Sequence[int], k: int = 50) -> float:
    """Reed et al. 2016's "AP@50" (section 5.2, Table 1): each class's text embedding is a query that
    ranks all test images; the fraction of its top ``k`` images that are of that class; the mean over classes.

    ``scores [N, C]`` is the same image-by-class compatibility matrix as for
    ``zero_shot_top1``, read by columns.  The denominator is ``k`` even for a
    class with fewer than ``k`` images (its maximum is then ``count / k``);
    ``k > N`` raises ``ValueError``; ties are pessimistic; every class must
    have at least one image.
    """
    queries, rel = _class_queries(scores, labels)
    return float(precision_at_k(queries, rel, k).mean())


def class_query_map(scores: np.ndarray, labels: Sequence[int], k: int | None = None) -> float:
    """Mean over class queries of the true average precision of the images they rank, over the
    top ``k`` with ``k`` (see ``class_query_precision_at_k`` for the layout and
    ``average_precision`` for AP@k and ties)."""
    queries, rel = _class_queries(scores, labels)
    return mean_average_precision(queries, rel, k)


# --------------------------------------------------------------------------- image-text retrieval


def retrieval_ranks(similarity: np.ndarray, text_to_image: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks for bidirectional image-sentence retrieval (You et al. 2018 section 4).

    ``similarity [num_images, num_texts]``; ``text_to_image [num_texts]`` gives
    each text's image (e.g. 5 captions per image).  Returns
    ``(image_to_text [num_images], text_to_image [num_texts])``: an image's
    rank is the best rank of any of its own texts among all texts; a text's
    rank is that of its image among all images.  Ties are pessimistic: an
    image's first own text comes after every other text scoring as high, a
    text's image after every other image scoring as high.  Every image needs
    at least one text.
    """
    s = _scores_2d(similarity, "similarity", "images", "texts")
    num_images, num_texts = s.shape
    m = _int_vector(text_to_image, "text_to_image", num_texts, num_images, "image")
    without = np.flatnonzero(np.bincount(m, minlength=num_images) == 0)
    if without.size:
        raise ValueError(f"image {int(without[0])} has no texts: its image-to-text rank is undefined")
    true = s[m, np.arange(num_texts)]
    i2t = np.empty(num_images, dtype=np.int64)
    t2i = np.zeros(num_texts, dtype=np.int64)
    for start in range(0, num_images, _ROW_BLOCK):
        block = s[start:start + _ROW_BLOCK]
        own = m[None, :] == np.arange(start, start + len(block))[:, None]
        best = np.where(own, block, -np.inf).max(axis=1)[:, None]
        i2t[start:start + len(block)] = 1 + ((block >= best) & ~own).sum(axis=1)
        t2i += (block >= true[None, :]).sum(axis=0)  # counts the text's own image: 1 + others
    return i2t, t2i


def _retrieval_layout(i2t: dict, t2i: dict, ks: tuple[int, ...]) -> dict:
    """``{"image_to_text": i2t, "text_to_image": t2i, "sum_pct": 100 * sum of every R@K}``."""
    out = {"image_to_text": i2t, "text_to_image": t2i}
    out["sum_pct"] = 100.0 * sum(out[d][f"r{k}"] for d in ("image_to_text", "text_to_image") for k in ks)
    return out


def _rank_vector(ranks: Sequence[int], name: str) -> np.ndarray:
    r = np.asarray(ranks)
    if r.size == 0:
        raise ValueError(f"{name} is empty")
    if r.ndim != 1 or r.dtype.kind not in "iu" or r.min() < 1:
        raise ValueError(f"{name} must be a 1-D vector of 1-based integer ranks, got shape {r.shape} dtype {r.dtype}")
    return r.astype(np.int64)


def retrieval_summary(image_to_text_ranks: Sequence[int], text_to_image_ranks: Sequence[int],
                      ks: Sequence[int] = (1, 5, 10)) -> dict:
    """R@K and median rank in both directions and their Sum, from 1-based ranks (You et al. 2018,
    Tables 1-2; the layout of ``bidirectional_retrieval``).

    ``image_to_text_ranks [num_images]`` (sentence retrieval: per image, the rank
    of its best own text) and ``text_to_image_ranks [num_texts]`` (image
    retrieval: per text, the rank of its image), e.g. from ``retrieval_ranks``,
    or combined per query as in You et al.'s Table 4 "Best" (the minimum of two
    rankings' ranks).  Each direction holds ``r{K}`` (the fraction of queries
    with rank <= K) and ``median_rank`` (``np.median`` of the ranks: the mean of
    the two middle ranks for an even count); ``sum_pct`` is the Sum column, the
    sum of every R@K of both directions in percent.
    """
    ks = _ks(ks)
    directions = {}
    for name, ranks in (("image_to_text", image_to_text_ranks), ("text_to_image", text_to_image_ranks)):
        r = _rank_vector(ranks, f"{name}_ranks")
        directions[name] = {f"r{k}": float(np.mean(r <= k)) for k in ks}
        directions[name]["median_rank"] = float(np.median(r))
    return _retrieval_layout(directions["image_to_text"], directions["text_to_image"], ks)


def bidirectional_retrieval(similarity: np.ndarray, text_to_image: Sequence[int],
                            ks: Sequence[int] = (1, 5, 10), *,
                            text_to_image_similarity: np.ndarray | None = None) -> dict:
    """R@K and median rank in both directions and their Sum (You et al. 2018, Tables 1-2).

    ``image_to_text`` is the papers' "sentence retrieval" (an image queries
    the texts), ``text_to_image`` their "image retrieval"; each holds
    ``r{K}`` (fraction of queries whose rank, from ``retrieval_ranks``, is
    <= K) and ``median_rank`` (the median of the 1-based ranks; the mean of the
    two middle ranks for an even count).  ``sum_pct`` is the Sum column: the
    sum of all the R@K of both directions in percent (six values for K = 1, 5, 10).
    See ``retrieval_summary`` for the same from ranks.

    ``text_to_image_similarity`` (same shape ``[num_images, num_texts]``), when
    given, scores image retrieval while ``similarity`` scores sentence
    retrieval: the two directions of a model whose score is not symmetric, such
    as You et al.'s context and early-fusion scores (section 4.4, Table 4),
    where the query's modality supplies the attention.
    """
    ks = _ks(ks)
    i2t, t2i = retrieval_ranks(similarity, text_to_image)
    if text_to_image_similarity is not None:
        other = np.asarray(text_to_image_similarity)
        if other.shape != np.shape(similarity):
            raise ValueError(f"text_to_image_similarity has shape {other.shape} "
                             f"but similarity has {np.shape(similarity)}")
        _, t2i = retrieval_ranks(other, text_to_image)
    return retrieval_summary(i2t, t2i, ks)


def _distribution_median(cdf: np.ndarray) -> float:
    """The median of a distribution on ``1..len(cdf)`` with ``cdf[r - 1] = P(rank <= r)``: the
    first ``r`` with ``P(rank <= r) >= 1/2``, or ``r + 1/2`` when that is exactly 1/2 (the
    ``np.median`` convention, the mean of the two middle values)."""
    tol = 1e-12
    r = int(np.argmax(cdf >= 0.5 - tol))  # 0-based: rank r + 1
    return float(r + 1.5) if abs(cdf[r] - 0.5) <= tol and r + 1 < len(cdf) else float(r + 1)


def chance_retrieval(text_to_image: Sequence[int], ks: Sequence[int] = (1, 5, 10), *,
                     num_images: int | None = None) -> dict:
    """The expected R@K and the median rank of a uniformly random ranking, in the layout of
    ``bidirectional_retrieval`` (the chance level of You et al. 2018's Tables 1-4).

    ``text_to_image [M]`` gives each text's image among ``N`` images (``num_images``,
    default ``max + 1``; every image needs a text); image ``i`` has ``m_i`` texts.

    * Sentence retrieval (``image_to_text``): an image ranks all ``M`` texts in a
      random order; it scores a hit at K when any of its ``m_i`` own texts is in
      the top K, so ``P(rank_i > r) = C(M - m_i, r) / C(M, r)`` (hypergeometric:
      no own text among the first r) and ``E[R@K] = mean_i 1 - C(M - m_i, K) / C(M, K)``.
      The ratio of binomials is the product ``prod_{j < r} (M - m_i - j) / (M - j)``
      (stable for any M; 0 once ``r > M - m_i``).
    * Image retrieval (``text_to_image``): a text ranks the ``N`` images in a random
      order, its rank is uniform on ``1..N`` and ``E[R@K] = min(K, N) / N``.

    ``median_rank`` is the median of the rank distribution (for sentence retrieval
    the mixture over images, each weighted 1/N): the first r with
    ``P(rank <= r) >= 1/2``, or ``r + 1/2`` when that probability is exactly 1/2,
    as ``np.median`` would give (so ``(N + 1) / 2`` for image retrieval).  It is
    the limit of the median rank of a random model as the test set grows, not the
    exact expectation of a sample median.  ``sum_pct`` is 100 times the sum of the
    expected R@K (exactly the expected Sum).
    """
    ks = _ks(ks)
    m = np.asarray(text_to_image)
    if num_images is None:
        if m.size == 0:
            raise ValueError("text_to_image is empty")
        if m.dtype.kind not in "iu":
            raise ValueError(f"text_to_image must be integer image ids, got dtype {m.dtype}")
        num_images = int(m.max()) + 1
    n = int(num_images)
    m = _int_vector(m, "text_to_image", m.size, n, "image")
    num_texts = len(m)
    per_image = np.bincount(m, minlength=n)
    without = np.flatnonzero(per_image == 0)
    if without.size:
        raise ValueError(f"image {int(without[0])} has no texts: its image-to-text rank is undefined")
    # survival[r] = P(rank > r) for r = 0..M, mixed over images: one cumulative product per distinct m_i.
    j = np.arange(num_texts, dtype=np.float64)
    survival = np.zeros(num_texts + 1)
    counts, weights = np.unique(per_image, return_counts=True)
    for own, weight in zip(counts.tolist(), weights.tolist()):
        factors = np.maximum(num_texts - own - j, 0.0) / (num_texts - j)
        survival += (weight / n) * np.concatenate([[1.0], np.cumprod(factors)])
    i2t = {f"r{k}": float(1.0 - survival[min(k, num_texts)]) for k in ks}
    i2t["median_rank"] = _distribution_median(1.0 - survival[1:])
    t2i = {f"r{k}": min(k, n) / n for k in ks}
    t2i["median_rank"] = _distribution_median(np.arange(1, n + 1) / n)
    return _retrieval_layout(i2t, t2i, ks)
