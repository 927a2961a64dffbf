"""Query (phrase) index for phrase generation: an embedding -> its top-k phrases.

"Predicted context" paper, section 3.2: a phrase (query) ``c`` is represented
by a vector, either the classifier weight ``w_c`` or the prototype

    phi_c = (1 / |S_c|) * sum_{i in S_c} x_i                              (eq. 2)

(the mean embedding of the images ``S_c`` associated with the phrase), and
generating phrases for an embedding ``x`` is the nearest-neighbour search

    q*_c = argmin_c d(phi_c, x)                                           (eq. 3)

with the cosine distance ``d``.  :class:`QueryIndex` is that search: scores are
cosine similarities ``1 - d`` (higher = nearer), ScaNN by default since the
paper's phrase set is large (40 million queries).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tfpipe.index.base import Index, SearchResult, check_vectors

ROLE = "query_index"


def prototypes(embeddings: np.ndarray, phrases: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Eq. 2: ``(unique phrases in first-seen order, float32 [m, d] mean embedding of each)``.

    ``phrases[i]`` is the phrase associated with example ``embeddings[i]``; an
    example with several phrases appears once per phrase.
    """
    phrases = list(phrases)
    x = check_vectors(embeddings, what="embeddings")
    if len(phrases) != len(x):
        raise ValueError(f"{len(phrases)} phrases for {len(x)} embeddings: one phrase per embedding row")
    order: dict[str, int] = {}
    group = np.empty(len(phrases), dtype=np.int64)
    for i, phrase in enumerate(phrases):
        if not isinstance(phrase, str) or not phrase:
            raise ValueError(f"phrase {i} is {phrase!r}: phrases must be non-empty strings")
        group[i] = order.setdefault(phrase, len(order))
    sums = np.zeros((len(order), x.shape[1]), dtype=np.float64)
    np.add.at(sums, group, x)
    counts = np.bincount(group, minlength=len(order))[:, None]
    return list(order), (sums / counts).astype(np.float32)


class QueryIndex:
    """Top-k phrases of embeddings by cosine (eq. 3)."""

    def __init__(
        self,
        phrases: Sequence[str],
        vectors: np.ndarray,
        *,
        engine: str = "scann",
        metric: str = "cosine",
        params: dict[str, Any] | None = None,
    ):
        """``vectors[i]`` represents ``phrases[i]`` (weights ``w_c`` or prototypes ``phi_c``)."""
        from tfpipe.index import build

        self.index = build(vectors, list(phrases), engine=engine, metric=metric, params=params, labels_kind="phrases")

    @classmethod
    def from_examples(cls, embeddings: np.ndarray, phrases: Sequence[str], **kwargs: Any) -> "QueryIndex":
        """An index over the prototypes (eq. 2) of examples labelled with phrases."""
        names, protos = prototypes(embeddings, phrases)
        return cls(names, protos, **kwargs)

    @classmethod
    def from_index(cls, index: Index) -> "QueryIndex":
        if not index.has_labels:
            raise ValueError("a query index needs an index built with phrases as labels")
        self = cls.__new__(cls)
        self.index = index
        return self

    @property
    def phrases(self) -> list[str]:
        return self.index.labels

    def top_phrases(self, embeddings: np.ndarray, k: int = 3, *, batch_size: int | None = None) -> SearchResult:
        """The ``k`` phrases nearest each embedding ``[b, d]`` (or ``[d]``), best first (eq. 3).

        ``k = 3`` is the paper's choice (the top three phrases are embedded and averaged, section 3.3).
        """
        return self.index.search(embeddings, k, batch_size=batch_size)

    def save(self, directory: str) -> None:
        from tfpipe.index import manifest

        manifest.save_index(self.index, directory, extra={"role": ROLE})

    @classmethod
    def load(cls, directory: str) -> "QueryIndex":
        from tfpipe.index import manifest

        return cls.from_index(manifest.load_index(directory))
