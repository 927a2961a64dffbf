"""DeViSE's labels: which classes are candidates, their unit label vectors, and the one label index.

Frome et al. 2013, section 3.3: a label is represented by the unit-normed language-model vector
of its text; section 4.2 scores one trained model against several candidate sets (the training
labels, zero-shot labels only, zero-shot + training labels).  Here every candidate set is a named
subset of one :class:`tfpipe.index.LabelIndex` (``label_index/`` in the run directory), which both
``evaluation`` and the exported model (``serving``) search:

``seen``            the training classes that have a label vector (Table 1's candidates).
``<set name>``      each zero-shot set of ``model.label_sets``: the classes of another features
                    directory (or of another split of the same one) that have a vector, e.g. the
                    40 unseen Tiny-ImageNet classes, Flowers-102, CUB-100 (Table 2's DeViSE-0);
                    DeViSE+seen is the union of a set with ``seen``.

A label's key in the index is ``<set>/<class name>`` (``seen/n02124075``, ``flowers102/pink
primrose``): keys are unique even where two sets share a name.  Its vector is
``tfpipe.embeddings.label_vectors.label_vector`` of the class table's ``text`` (Tiny-ImageNet's
``words.txt`` names, Flowers' names, CUB's names with ``_`` as spaces), unit-normed.  A class whose
text has no covered word is *uncovered*: never a candidate, listed with its images left out; a class
covered by only some words of its synonym is *partial* and listed too.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

from tfpipe import config as config_lib

SEEN = "seen"
INDEX_DIR = "label_index"
LABELS_FILE = "labels.json"
# model.label_sets entries: {data: DIR, splits: "a+b"}; splits default to every split with images.
SET_KEYS = ("data", "splits")


@dataclasses.dataclass
class LabelSet:
    """One candidate set: the classes of ``data_dir`` (images in ``splits``) that have a vector."""

    name: str
    data_dir: str | None
    splits: list[str]
    labels: list[dict[str, Any]]          # one record per candidate: index, name, text, synset, words
    matrix: np.ndarray | None             # unit rows [len(labels), d], or None (softmax without vectors)
    uncovered: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    partial: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    source: str | None = None

    @property
    def classes(self) -> list[int]:
        """The candidates' class indices in their data directory, in score order."""
        return [r["index"] for r in self.labels]

    @property
    def keys(self) -> list[str]:
        return [label_key(self.name, r["name"]) for r in self.labels]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "data_dir": self.data_dir, "splits": self.splits, "source": self.source,
                "labels": self.labels, "uncovered": self.uncovered, "partial": self.partial}


def label_key(set_name: str, class_name: str) -> str:
    return f"{set_name}/{class_name}"


def class_records(manifest, classes: Sequence[int]) -> list[dict[str, Any]]:
    """``{index, name, text, synset, wnid}`` of class indices (a missing synset is None)."""
    table = manifest.classes or [{} for _ in manifest.class_names]
    out = []
    for i in classes:
        entry = table[i] if i < len(table) else {}
        name = manifest.class_names[i]
        out.append({"index": int(i), "name": name, "text": entry.get("text") or name,
                    "synset": entry.get("synset") or None, "wnid": entry.get("wnid") or None})
    return out


def classes_with_images(manifest, splits: Sequence[str]) -> list[int]:
    """Class indices with at least one image in any of ``splits``, in class order."""
    counts = np.zeros(len(manifest.class_names), np.int64)
    for s in splits:
        if s not in manifest.splits:
            raise config_lib.ConfigError(f"split {s!r} is not in the data directory; its splits: "
                                         f"{', '.join(manifest.splits)}")
        counts += np.asarray(manifest.splits[s].class_counts, np.int64)
    return [int(i) for i in np.flatnonzero(counts > 0)]


def cover(records: list[dict[str, Any]], words) -> tuple[list[dict[str, Any]], np.ndarray | None,
                                                        list[dict[str, Any]], list[dict[str, Any]]]:
    """``(kept, unit matrix, uncovered, partial)`` of class records against a word table."""
    from tfpipe.embeddings import label_vectors as lv

    kept, rows, uncovered, partial = [], [], [], []
    for rec in records:
        found = lv.label_vector(rec["text"], words)
        if not found.covered:
            uncovered.append({**rec, "missing": list(found.missing)})
            continue
        info = {**rec, "synonym": found.synonym, "words": list(found.words), "status": found.status}
        if not found.full:
            info["missing"] = list(found.missing)
            partial.append(info)
        kept.append(info)
        rows.append(lv.unit(found.vector))
    matrix = np.stack(rows).astype(np.float32) if rows else None
    return kept, matrix, uncovered, partial


_WORDS: dict[str, Any] = {}


def word_table(path: str, *, center: bool = False):
    """The word table of a skip-gram run directory or word2vec file (read once per process);
    ``center``: ``WordTable.centered`` (``model.center_vectors``)."""
    from tfpipe.embeddings import label_vectors as lv

    key = (os.path.abspath(path), bool(center))
    if key not in _WORDS:
        table = lv.WordTable.load(path)
        _WORDS[key] = table.centered() if center else table
    return _WORDS[key]


def random_matrix(n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` random unit vectors (the paper's "random embeddings" row), from ``seed``."""
    from tfpipe.index.base import unit_rows

    rng = np.random.default_rng(int(seed))
    return unit_rows(rng.standard_normal((n, int(dim))).astype(np.float32))


def seen_set(manifest, classes: Sequence[int], *, vectors: str | None, restrict: str | None = None,
             random: tuple[int, int] | None = None, center: bool = False) -> LabelSet:
    """The training classes as candidates.

    ``vectors``: their label vectors come from this word table (DeViSE; the softmax baseline with
    vectors for ConSE); uncovered classes are left out.  ``restrict``: only the classes this table
    covers are kept, without taking its vectors (the random-embeddings row ranks the same classes).
    ``random``: ``(dim, seed)`` random unit vectors for the kept classes.  None of them: every class,
    no matrix (the softmax baseline)."""
    records = class_records(manifest, classes)
    table = vectors or restrict
    if table is None:
        kept, matrix, uncovered, partial = records, None, [], []
    else:
        kept, matrix, uncovered, partial = cover(records, word_table(table, center=center))
        if vectors is None:
            matrix, partial = None, []
            kept = [{k: v for k, v in r.items() if k in ("index", "name", "text", "synset", "wnid")} for r in kept]
        if len(kept) < 2:
            raise config_lib.ConfigError(
                f"only {len(kept)} of {len(records)} training classes have a vector in {table}: nothing to rank")
    if random is not None:
        dim, seed = random
        matrix = random_matrix(len(kept), dim, seed)
    source = (f"random unit vectors, dim {random[0]}, seed {random[1]}" if random is not None
              else f"{vectors} (centered)" if vectors and center else vectors)
    return LabelSet(SEEN, None, ["train"], kept, matrix, uncovered, partial, source)


def parse_label_sets(value: Any) -> dict[str, dict[str, Any]]:
    """``model.label_sets`` checked: ``{name: {data: DIR, splits: [..] | None}}``."""
    if value in (None, {}):
        return {}
    if not isinstance(value, Mapping):
        raise config_lib.ConfigError(
            "model.label_sets must map a set name to {data: FEATURES_DIR, splits: 'a+b'}, e.g. "
            "{unseen: {data: artifacts/data/tiny_imagenet/features_efficientnet_lite0_224, splits: unseen}}")
    out = {}
    for name, spec in value.items():
        if not isinstance(name, str) or not name or "/" in name or "+" in name or name == SEEN:
            raise config_lib.ConfigError(f"model.label_sets: {name!r} is not a valid set name (a word without "
                                         f"'/' or '+', not {SEEN!r})")
        if isinstance(spec, str):
            spec = {"data": spec}
        if not isinstance(spec, Mapping) or "data" not in spec:
            raise config_lib.ConfigError(f"model.label_sets.{name} needs data: a features directory")
        unknown = sorted(set(spec) - set(SET_KEYS))
        if unknown:
            raise config_lib.ConfigError(f"model.label_sets.{name}: unknown key(s) {', '.join(unknown)}; "
                                         f"valid keys: {', '.join(SET_KEYS)}")
        splits = spec.get("splits")
        if isinstance(splits, str):
            splits = [s for s in splits.split("+") if s]
        out[name] = {"data": str(spec["data"]), "splits": list(splits) if splits else None}
    return out


def zero_shot_set(name: str, spec: Mapping[str, Any], vectors: str | None, *, center: bool = False) -> LabelSet:
    """A zero-shot candidate set of ``model.label_sets`` (its data directory must exist)."""
    from tfpipe.training import datasets

    data = datasets.open_data(spec["data"])
    manifest = data.manifest
    splits = spec["splits"] or [s for s, info in manifest.splits.items() if info.count]
    records = class_records(manifest, classes_with_images(manifest, splits))
    if vectors is None:
        return LabelSet(name, data.path, splits, records, None, [], [], None)
    kept, matrix, uncovered, partial = cover(records, word_table(vectors, center=center))
    return LabelSet(name, data.path, splits, kept, matrix, uncovered, partial,
                    f"{vectors} (centered)" if center else vectors)


# --------------------------------------------------------------------------- the label index


def build_index(sets: Sequence[LabelSet], *, scann_from: int):
    """One :class:`tfpipe.index.LabelIndex` over every set's vectors, a subset per set; the exact
    engine below ``scann_from`` labels, ScaNN from there up (cosine: the paper's unit vectors and
    dot product, footnote 2)."""
    from tfpipe.index import LabelIndex

    with_vectors = [s for s in sets if s.matrix is not None and len(s.labels)]
    if not with_vectors:
        return None
    keys = [k for s in with_vectors for k in s.keys]
    matrix = np.concatenate([s.matrix for s in with_vectors]).astype(np.float32)
    engine = "scann" if len(keys) >= scann_from else "exact"
    return LabelIndex(keys, matrix, subsets={s.name: s.keys for s in with_vectors}, engine=engine, metric="cosine")


def save(model_dir: str, model_name: str, sets: Sequence[LabelSet], training_classes: Sequence[int], index) -> None:
    """``labels.json`` (every set's candidates, uncovered and partial classes) and ``label_index/``."""
    body = {"model": model_name, "training_classes": list(training_classes),
            "sets": {s.name: s.to_json() for s in sets}}
    with open(os.path.join(model_dir, LABELS_FILE), "w", encoding="utf-8") as f:
        json.dump(body, f, indent=2, ensure_ascii=False)
        f.write("\n")
    if index is not None:
        index.save(os.path.join(model_dir, INDEX_DIR))


def load(model_dir: str) -> tuple[dict[str, LabelSet], Any]:
    """``({set name: LabelSet}, LabelIndex or None)`` of a finished devise run (matrices from the index)."""
    path = os.path.join(model_dir, LABELS_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: {model_dir} is not a finished devise run")
    with open(path, encoding="utf-8") as f:
        body = json.load(f)
    index = None
    if os.path.isdir(os.path.join(model_dir, INDEX_DIR)):
        from tfpipe.index import LabelIndex

        index = LabelIndex.load(os.path.join(model_dir, INDEX_DIR))
    sets = {}
    row = {key: i for i, key in enumerate(index.labels)} if index is not None else {}
    for name, s in body["sets"].items():
        matrix = None
        if index is not None and name in index.subsets:
            rows = [row[key] for key in index.subsets[name]]
            matrix = index.index.vectors[rows].astype(np.float32)
        sets[name] = LabelSet(name, s["data_dir"], s["splits"], s["labels"], matrix, s["uncovered"],
                              s["partial"], s["source"])
    return sets, index
