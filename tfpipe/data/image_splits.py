"""Split rules for image datasets: given, from a split file, by class (zero-shot), or carved.

:func:`assign` gives every :class:`~tfpipe.data.image_sources.ImageItem` its split
(or rejects it) under one rule:

``given``
    The split the layout gives (Tiny-ImageNet: ``train/`` is train, ``val/`` is test).
``image_file``
    A TSV ``image<TAB>split`` with a header (``flickr8k_1k/split.tsv``), keyed by
    the image's file name; an image the file lists but no reader produced is
    rejected as ``missing_image``; a produced image the file does not list as
    ``unknown_image``.
``class_file``
    Zero-shot splits **by class**: a TSV with a header holding a class column
    (``class_name``, else ``wnid``, else the first column) and ``split``
    (``*/zero_shot_classes.tsv``).  Every image of a class goes to that class's
    split, so an image of an unseen class can never land in a training split.
    The value ``seen`` keeps the image's own split (given, else carved), so
    Tiny-ImageNet's seen classes keep train/test while its ``unseen`` classes
    form the split ``unseen``.  A class the file names without any image is
    rejected as ``empty_class``; an image of a class the file does not name as
    ``unknown_class``.
``carve``
    The project's agreed stratified split (:mod:`tfpipe.data.splits`): per class in
    class order, one ``random.Random(seed)``, the first ``round(test_fraction * n)``
    of the shuffled file-order keys are test; ``val_fraction > 0`` then carves val
    from the rest the same way with ``seed + 1`` (``val_fraction`` of the rest).
    Flowers-102 with test_fraction 0.2, seed 0 is the README's 80/20 rule.
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Sequence

from tfpipe.data import splits as splits_lib
from tfpipe.data.rows import Rejected
from tfpipe.data.image_sources import (
    EMPTY_CLASS, MISSING_IMAGE, UNKNOWN_CLASS, UNKNOWN_IMAGE, ImageItem, _lines,
)

RULES = ("given", "image_file", "class_file", "carve")
SEEN = "seen"  # a class_file value: the image keeps its own (given or carved) split


def _tsv(path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    rows = [(n, line.split("\t")) for n, line in _lines(path) if line.strip()]
    if not rows:
        raise ValueError(f"{path} is empty; expected a header line and rows")
    header = [h.strip() for h in rows[0][1]]
    if "split" not in header:
        raise ValueError(f"{path}: the header must name a 'split' column, got {header}")
    return header, rows[1:]


def read_image_splits(path: str) -> dict[str, str]:
    """``image file name -> split`` of a TSV ``image<TAB>split`` with a header."""
    header, rows = _tsv(path)
    ii, si = (header.index("image") if "image" in header else 0), header.index("split")
    out: dict[str, str] = {}
    for n, fields in rows:
        if len(fields) != len(header):
            raise ValueError(f"{path}:{n}: expected {len(header)} fields {header}")
        out[fields[ii].strip()] = fields[si].strip()
    return out


def read_class_splits(path: str) -> dict[str, str]:
    """``class -> split`` of a zero-shot class file (class column: ``class_name``, else
    ``wnid``, else the first one)."""
    header, rows = _tsv(path)
    key = next((c for c in ("class_name", "wnid") if c in header), header[0])
    ki, si = header.index(key), header.index("split")
    out: dict[str, str] = {}
    for n, fields in rows:
        if len(fields) != len(header):
            raise ValueError(f"{path}:{n}: expected {len(header)} fields {header}")
        name = fields[ki].strip()
        if name in out:
            raise ValueError(f"{path}:{n}: class {name!r} is listed twice")
        out[name] = fields[si].strip()
    return out


def _carve(items: list[ImageItem], classes: Sequence[str], test_fraction: float,
           val_fraction: float, seed: int) -> dict[str, str]:
    """``image id -> split`` of the agreed stratified rule (module docstring)."""
    index = {c: i for i, c in enumerate(classes)}
    by_label: dict[int, list] = {}
    for item in items:
        by_label.setdefault(index.get(item.class_name, 0), []).append((item.order, item.image_id))
    test = splits_lib.held_out_keys(by_label, test_fraction, seed)
    split = {key[1]: "test" for key in test}
    if val_fraction > 0:
        rest = {label: [k for k in keys if k not in test] for label, keys in by_label.items()}
        val = splits_lib.held_out_keys(rest, val_fraction, seed + 1)
        split.update({key[1]: "val" for key in val})
    return {item.image_id: split.get(item.image_id, "train") for item in items}


def assign(items: Iterable[ImageItem], rule: str, *, classes: Sequence[str] = (),
           class_splits: Mapping[str, str] | None = None,
           image_splits: Mapping[str, str] | None = None, source: str = "",
           test_fraction: float = 0.2, val_fraction: float = 0.0, seed: int = 0,
           ) -> tuple[list[ImageItem], list[Rejected]]:
    """The items with their split set under ``rule`` and the items (or listed entries)
    rejected by it; ``source`` names the split file in the rejections."""
    if rule not in RULES:
        raise ValueError(f"unknown split rule {rule!r}; valid rules: {list(RULES)}")
    items = list(items)
    rejected: list[Rejected] = []
    if rule == "given":
        bad = [it.image_id for it in items if not it.split]
        if bad:
            raise ValueError(f"split rule 'given' but {len(bad)} image(s) have no split "
                             f"(e.g. {bad[0]}); use --split carve, image_file or class_file")
        return items, rejected
    if rule == "carve":
        split = _carve(items, classes, test_fraction, val_fraction, seed)
        return [it._replace(split=split[it.image_id]) for it in items], rejected
    if rule == "image_file":
        if image_splits is None:
            raise ValueError("split rule 'image_file' needs the image split file")
        out, seen = [], set()
        for it in items:
            name = os.path.basename(it.image_id)
            if name not in image_splits:
                rejected.append(Rejected(source, 0, UNKNOWN_IMAGE,
                                         f"{it.image_id} is not in the split file", it.image_id))
                continue
            seen.add(name)
            out.append(it._replace(split=image_splits[name]))
        for n, name in enumerate(sorted(set(image_splits) - seen)):
            rejected.append(Rejected(source, n, MISSING_IMAGE,
                                     f"the split file lists {name!r} but no image of it was read",
                                     name))
        return out, rejected
    if class_splits is None:
        raise ValueError("split rule 'class_file' needs the class split file")
    needs_carve = [it for it in items if class_splits.get(it.class_name) == SEEN and not it.split]
    carved = _carve(needs_carve, classes, test_fraction, val_fraction, seed) if needs_carve else {}
    out, present = [], set()
    for it in items:
        split = class_splits.get(it.class_name)
        if split is None:
            rejected.append(Rejected(source, 0, UNKNOWN_CLASS,
                                     f"{it.image_id}: class {it.class_name!r} is not in the class "
                                     "split file", it.image_id))
            continue
        present.add(it.class_name)
        if split == SEEN:
            split = it.split or carved[it.image_id]
        out.append(it._replace(split=split))
    for n, name in enumerate(c for c in class_splits if c not in present):
        rejected.append(Rejected(source, n, EMPTY_CLASS,
                                 f"class {name!r} ({class_splits[name]}) has no images", name))
    return out, rejected
