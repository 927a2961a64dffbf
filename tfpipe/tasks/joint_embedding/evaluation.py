"""Zero-shot recognition and retrieval from text embeddings (Reed et al. 2016, section 5.2, eq. 8).

A class's embedding is the mean of ``phi`` over its texts (eq. 8: ``f(v) = argmax_y
E_{t~T(y)} theta(v)^T phi(t)``, and ``F`` is linear in ``phi``); the scores of the test images
against the test classes are ``V C^T``:

* recognition: top-1 accuracy over images and the mean over classes of per-class top-1 (the
  number the paper's Table 1 reports);
* retrieval: each class embedding queries all test images; Reed's "AP@50" (the precision of the
  top 50, ``metrics.class_query_precision_at_k``) and the true AP@50 (average precision over the
  top 50, ``metrics.class_query_map(k=50)``), both reported;
* :func:`figure4`: top-1 as the number of texts averaged into each class embedding grows (the
  paper's Figure 4), the mean over random subsets;
* :func:`chance`: the same figures for random scores.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

AP_K = 50


def class_embeddings(phi: np.ndarray, text_classes: np.ndarray, num_classes: int, *,
                     rows: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """``[C, D]``: the mean ``phi`` of each class's texts (eq. 8); ``rows[c]`` restricts class
    ``c`` to those text rows.  A class with no text is an error."""
    phi = np.asarray(phi, np.float64)
    out = np.zeros((num_classes, phi.shape[1]), np.float64)
    for c in range(num_classes):
        idx = np.flatnonzero(text_classes == c) if rows is None else np.asarray(rows[c])
        if not len(idx):
            raise ValueError(f"class position {c} has no text to embed")
        out[c] = phi[idx].mean(axis=0)
    return out.astype(np.float32)


def recognition_and_retrieval(scores: np.ndarray, labels: np.ndarray, *, ap_k: int = AP_K) -> dict[str, float]:
    """Top-1 (images, mean per class), Reed's AP@k and the true AP@k of ``scores [N, C]``."""
    from tfpipe import metrics

    top1 = metrics.zero_shot_top1(scores, labels)
    k = min(int(ap_k), scores.shape[0])
    return {
        "top1": top1["accuracy"],
        "top1_per_class": top1["mean_per_class_accuracy"],
        f"precision_at_{k}": metrics.class_query_precision_at_k(scores, labels, k=k),
        f"ap_at_{k}": metrics.class_query_map(scores, labels, k=k),
    }


def zero_shot(features: np.ndarray, labels: np.ndarray, class_emb: np.ndarray, *, ap_k: int = AP_K) -> dict[str, float]:
    """``recognition_and_retrieval`` of images ``features [N, D]`` (class positions ``labels``)
    against ``class_emb [C, D]``."""
    scores = np.asarray(features, np.float32) @ np.asarray(class_emb, np.float32).T
    return recognition_and_retrieval(scores, labels, ap_k=ap_k)


def chance(labels: np.ndarray, num_classes: int, *, ap_k: int = AP_K, draws: int = 20, seed: int = 0) -> dict[str, Any]:
    """The figures of random scores: top-1 ``1 / C`` (exact), Reed's AP@k ``mean_c n_c / N`` (the
    expected precision of a random ranking, exact), the true AP@k as the mean of ``draws`` seeded
    random rankings."""
    labels = np.asarray(labels, np.int64)
    n = len(labels)
    k = min(int(ap_k), n)
    counts = np.bincount(labels, minlength=num_classes)
    rng = np.random.default_rng(seed)
    from tfpipe import metrics

    ap = [metrics.class_query_map(rng.random((n, num_classes)), labels, k=k) for _ in range(draws)]
    return {"top1": 1.0 / num_classes, "top1_per_class": 1.0 / num_classes,
            f"precision_at_{k}": float((counts / n).mean()), f"ap_at_{k}": float(np.mean(ap)),
            "ap_draws": int(draws)}


def figure4(phi: np.ndarray, text_classes: np.ndarray, features: np.ndarray, labels: np.ndarray, num_classes: int,
            *, draws: int, seed: int = 0) -> list[dict[str, Any]]:
    """Top-1 (images and per class) when each class embedding averages ``n`` of its texts, for
    ``n = 1 .. max texts per class`` (a class with fewer texts uses all of them): the mean over
    ``draws`` random choices of the texts (seeded), with the spread."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(text_classes == c) for c in range(num_classes)]
    most = max(len(r) for r in by_class)
    out = []
    for n in range(1, most + 1):
        top1, per_class = [], []
        for _ in range(draws if n < most else 1):
            rows = [r if len(r) <= n else rng.choice(r, size=n, replace=False) for r in by_class]
            r = zero_shot(features, labels, class_embeddings(phi, text_classes, num_classes, rows=rows))
            top1.append(r["top1"])
            per_class.append(r["top1_per_class"])
        out.append({"texts": n, "classes_with_at_least": int(sum(len(r) >= n for r in by_class)),
                    "top1": float(np.mean(top1)), "top1_std": float(np.std(top1)),
                    "top1_per_class": float(np.mean(per_class))})
    return out
