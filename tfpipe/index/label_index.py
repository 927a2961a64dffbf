"""DeViSE label index: an embedding -> its nearest labels, within a candidate subset.

Frome et al. 2013, section 3.3: label terms are represented by their (unit
normed) language-model vectors; at test time an image's projected vector is
compared with them and "the nearest labels in the embedding space" are the
prediction, found with a tree or hashing index rather than a linear scan.
Section 4.2 scores the same model against different candidate label sets:
the training labels, zero-shot labels only, or training + zero-shot labels.

So a :class:`LabelIndex` holds one vector per label (labels unique) and named
subsets of them (e.g. ``{"train": [...], "zero_shot": [...]}``);
:meth:`LabelIndex.nearest` restricts the answer to one subset, a union of
subsets, or an explicit list of labels.  The metric defaults to cosine: the
paper's unit-normed vectors with dot-product similarity (its footnote 2).
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np

from tfpipe.index.base import Index, SearchResult

SUBSETS_FILE = "subsets.json"
ROLE = "label_index"


class LabelIndex:
    """Nearest labels of embeddings, optionally restricted to named candidate subsets."""

    def __init__(
        self,
        labels: Sequence[str],
        embeddings: np.ndarray,
        *,
        subsets: Mapping[str, Sequence[str]] | None = None,
        engine: str = "exact",
        metric: str = "cosine",
        params: dict[str, Any] | None = None,
    ):
        """``labels[i]`` has vector ``embeddings[i]``; ``subsets`` names candidate sets of labels.

        The engine defaults to exact: label sets (1,000 to 21,000 in the paper)
        are small enough for brute force; pass ``engine="scann"`` for more.
        """
        from tfpipe.index import build

        labels = list(labels)
        _check_unique(labels)
        self._init(build(embeddings, labels, engine=engine, metric=metric, params=params), subsets or {})

    def _init(self, index: Index, subsets: Mapping[str, Sequence[str]]) -> None:
        self.index = index
        self._subsets: dict[str, list[str]] = {}
        for name, members in subsets.items():
            self.add_subset(name, members)

    @classmethod
    def from_index(cls, index: Index, subsets: Mapping[str, Sequence[str]] | None = None) -> "LabelIndex":
        """A label index over an existing index (built with unique labels)."""
        if not index.has_labels:
            raise ValueError("a label index needs an index built with labels")
        _check_unique(index.labels)
        self = cls.__new__(cls)
        self._init(index, subsets or {})
        return self

    # ----------------------------------------------------------------- subsets

    @property
    def labels(self) -> list[str]:
        return self.index.labels

    @property
    def subsets(self) -> dict[str, list[str]]:
        """Named candidate subsets (name -> labels)."""
        return {name: list(members) for name, members in self._subsets.items()}

    def add_subset(self, name: str, labels: Sequence[str]) -> None:
        """Names a candidate subset; every label must be in the index."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"subset name must be a non-empty string, got {name!r}")
        if isinstance(labels, (str, bytes)):
            raise ValueError(f"subset {name!r}: labels must be a sequence of labels, not a single string")
        members = list(dict.fromkeys(labels))
        self.index.rows_of(members)  # unknown labels -> ValueError naming them
        self._subsets[name] = members

    def candidates(self, subset: str | Sequence[str] | None) -> list[str] | None:
        """Labels of a subset name, of a union of subset names, or None (all labels)."""
        if subset is None:
            return None
        names = [subset] if isinstance(subset, str) else list(subset)
        unknown = [n for n in names if n not in self._subsets]
        if unknown or not names:
            raise ValueError(f"unknown subset(s) {unknown or names}; valid subsets: {sorted(self._subsets)}")
        return list(dict.fromkeys(label for n in names for label in self._subsets[n]))

    # ----------------------------------------------------------------- search

    def nearest(
        self,
        embeddings: np.ndarray,
        k: int = 5,
        *,
        subset: str | Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
        batch_size: int | None = None,
    ) -> SearchResult:
        """The ``k`` nearest labels of each embedding ``[b, d]`` (or ``[d]``), best first.

        ``subset``: a subset name or a list of names (their union, e.g.
        ``["train", "zero_shot"]``); ``labels``: an explicit candidate list
        instead.  Neither: all labels.
        """
        if subset is not None and labels is not None:
            raise ValueError("give subset or labels, not both")
        candidates = self.candidates(subset) if labels is None else list(labels)
        return self.index.search(embeddings, k, candidates=candidates, batch_size=batch_size)

    # ----------------------------------------------------------------- persistence

    def save(self, directory: str) -> None:
        """Saves the index (see ``Index.save``) with ``subsets.json``, checksummed by the manifest."""
        from tfpipe.index import manifest

        data = (json.dumps(self._subsets, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
        manifest.save_index(self.index, directory, extra={"role": ROLE}, extra_files={SUBSETS_FILE: data})

    @classmethod
    def load(cls, directory: str) -> "LabelIndex":
        from tfpipe.index import manifest

        info = manifest.read_manifest(directory, verify=False)
        if info.get("extra", {}).get("role") != ROLE or SUBSETS_FILE not in info["files"]:
            raise ValueError(f"{directory}: not a label index (saved by LabelIndex.save)")
        index = manifest.load_index(directory)  # verifies every checksum
        with open(f"{directory}/{SUBSETS_FILE}", encoding="utf-8") as f:
            subsets = json.load(f)
        return cls.from_index(index, subsets)


def _check_unique(labels: Sequence[str]) -> None:
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise ValueError(f"label {label!r} appears twice (rows {seen[label]} and {i}): labels must be unique")
        seen[label] = i
