"""Nearest words by cosine similarity, for quick checks of word vectors (exact, brute force)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def nearest(words: Sequence[str], vectors: np.ndarray, query: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` words whose vectors are most cosine-similar to ``query``'s, best first.

    ``query`` itself is left out; ties keep the vocabulary order.  A query not
    among ``words`` is an error.  Zero vectors have similarity 0 to everything.
    """
    words = list(words)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(words) != len(vectors):
        raise ValueError(f"{len(words)} words and vectors of shape {vectors.shape}: expected [len(words), d]")
    try:
        q = words.index(query)
    except ValueError:
        raise KeyError(f"{query!r} is not among the {len(words)} words") from None
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
    sims = unit @ unit[q]
    sims[q] = -np.inf
    order = np.argsort(-sims, kind="stable")[: min(k, len(words) - 1)]
    return [(words[i], float(sims[i])) for i in order]
