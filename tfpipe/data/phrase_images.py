"""Image-phrase pairs in memory: the phrase records (``beam_jobs.phrase_pairs``) joined with each
source's cached visual features, for the phrase generator's training and the prototypes (eq. 2).

The phrase data directory (``beam_jobs.phrase_pairs``) names each image by the id of its source
image records and its source in the record's ``name``; ``model.features`` gives each source's
features directory (``beam_jobs.extract_features``: the frozen pooled EfficientNet-Lite0 output,
the stand-in for the paper's ResNet trunk).  The join is checked: an image of the phrase records
without a cached feature is an error naming it and the directory to extract.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from tfpipe.data import phrase_records
from tfpipe.data.feature_records import read_split as read_features


class PhraseDataError(ValueError):
    """The phrase records and the cached features do not match."""


@dataclasses.dataclass
class PhraseImages:
    """Images with their phrases: ``features [n, d]``, ``phrase_ids[i]`` the sorted ids of image
    ``i``'s phrases (ids into ``phrases.tsv``: frequency order)."""

    ids: list[str]
    sources: list[str]
    features: np.ndarray
    phrase_ids: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, rows: np.ndarray) -> "PhraseImages":
        rows = np.asarray(rows, np.int64)
        return PhraseImages([self.ids[i] for i in rows], [self.sources[i] for i in rows], self.features[rows],
                            [self.phrase_ids[i] for i in rows])

    def pairs(self, below: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(image row, phrase id)`` of every image-phrase pair (the paper's query-image pairs),
        only phrase ids ``< below`` when given (the softmax vocabulary)."""
        rows, phrases = [], []
        for i, ids in enumerate(self.phrase_ids):
            keep = ids if below is None else ids[ids < below]
            rows.append(np.full(len(keep), i, np.int64))
            phrases.append(keep.astype(np.int64))
        if not rows:
            return np.zeros([0], np.int64), np.zeros([0], np.int64)
        return np.concatenate(rows), np.concatenate(phrases)


def _source_splits(manifest) -> list[str]:
    """The source splits the phrase job read (its parameters), ``train`` when not recorded."""
    source = getattr(manifest, "source", None) or {}
    params = source.get("parameters", source) if isinstance(source, dict) else {}
    splits = params.get("splits") if isinstance(params, dict) else None
    if isinstance(splits, str):
        splits = [s for s in splits.split(",") if s]
    return list(splits or ["train"])


def read_phrase_images(phrase_dir: str, features: Mapping[str, str], *, split: str = "train",
                       verify: str = "size") -> PhraseImages:
    """The images of ``phrase_dir``'s ``split`` with their cached features (``model.features``:
    source -> features directory) and phrase ids."""
    from tfpipe.data.datadir import DataDir

    ids, _, sources, phrase_ids = phrase_records.read_image_phrases(phrase_dir, split)
    unknown = sorted(set(sources) - set(features))
    if unknown:
        raise PhraseDataError(f"{phrase_dir}: images from source(s) {', '.join(map(repr, unknown))} but "
                              f"model.features names {', '.join(map(repr, features)) or 'none'}: add each source's "
                              "features directory")
    table: dict[str, np.ndarray] = {}
    dims = set()
    for source, fdir in features.items():
        if source not in sources:
            continue
        data = DataDir.open(fdir)
        stored = [s for s in _source_splits(DataDir.open(phrase_dir).manifest) if s in data.manifest.splits]
        for s in stored or ["train"]:
            x, _, names = read_features(data, s, batch_size=1024, verify=verify, with_ids=True)
            dims.add(x.shape[1])
            table.update({(source, n): row for n, row in zip(names, x)})
    if len(dims) > 1:
        raise PhraseDataError(f"the features directories of model.features have different sizes {sorted(dims)}: "
                              "extract them with the same visual model")
    missing = [(s, i) for s, i in zip(sources, ids) if (s, i) not in table]
    if missing:
        s, i = missing[0]
        raise PhraseDataError(f"{phrase_dir}: {len(missing)} image(s) without a cached feature, e.g. {i!r} of "
                              f"{s!r} (not in {features[s]}): extract that directory's features "
                              "(python -m beam_jobs.extract_features)")
    x = np.stack([table[(s, i)] for s, i in zip(sources, ids)]).astype(np.float32) if ids else np.zeros([0, 0])
    return PhraseImages(list(ids), list(sources), x, [np.asarray(p, np.int64) for p in phrase_ids])
