"""What an image preprocessing run reads: a dataset's images, classes and splits, listed.

:func:`listing` turns a preset (``../shared/data`` layouts, :data:`PRESETS`) or a
generic layout (:mod:`tfpipe.data.image_sources`) plus a split rule
(:mod:`tfpipe.data.image_splits`) into a :class:`Listing`: the items with their
split, the rejected entries, the record kind and the class table.  Listing opens
no image; decoding is the job's parallel part.

Presets (``--dataset``, files under ``--data_root``, default ``../shared/data``):

================  ===============  ==============================================================
preset            kind             classes, splits
================  ===============  ==============================================================
``tiny_imagenet`` image            ``wnids.txt`` order (names from ``words.txt``); ``train/`` is
                                   train, ``val/`` test; ``--split class_file`` with
                                   ``zero_shot_classes.tsv``: seen classes keep train/test,
                                   the 40 unseen form ``unseen``
``flowers102``    image            ``class_id`` order 1..102 (``labels.csv``); ``--split
                                   class_file`` (default): ``zero_shot_classes.tsv`` 62/20/20
                                   train/val/test classes; ``carve``: the agreed 80/20 seed 0
``cub100``        image            the order of ``cub200_classes.txt`` restricted to the 100
                                   classes of ``labels.csv``; splits as flowers102 (50/25/25)
``flickr8k_1k``   image_captions   no classes; ``split.tsv`` (700/100/200 images)
``coco_mini``     image_captions   no classes; every image is test (a cross-dataset test set)
================  ===============  ==============================================================
"""
from __future__ import annotations

import csv
import os
from typing import Any, NamedTuple, Sequence

from tfpipe.data import image_sources as sources
from tfpipe.data import image_splits
from tfpipe.data.rows import Rejected

KIND_IMAGE = "image"  # == tfpipe.data.schema.KIND_IMAGE (not imported: no TF here)
KIND_IMAGE_CAPTIONS = "image_captions"

PRESETS = ("tiny_imagenet", "flowers102", "cub100", "flickr8k_1k", "coco_mini")
LAYOUTS = ("folders", "annotations", "labels_csv", "captions_csv", "flickr8k_token", "coco",
           "reed")
CAPTION_LAYOUTS = ("captions_csv", "flickr8k_token", "coco", "reed")

# The WordNet domain of each labelled preset's classes: the synsets a class name's synset
# must lie below, and those it must not (``tfpipe.text.wordnet.synset_for_name``'s ``under``
# and ``exclude``): "albatross" is the bird, not the burden; a flower is not a fern or moss.
DOMAINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tiny_imagenet": ((), ()),  # every class has its wnid's synset
    "flowers102": (("flower.n.01", "plant.n.02"), ("pteridophyte.n.01", "bryophyte.n.01")),
    "cub100": (("bird.n.01",), ()),
}


class ClassInfo(NamedTuple):
    """A row of the class table: ``name`` as in the records, a readable ``text``, the
    ImageNet/WordNet id when the layout gives one (``wnid``), the class's ``split`` under a
    by-class rule ("" otherwise)."""

    name: str
    text: str = ""
    wnid: str = ""
    split: str = ""


class Listing(NamedTuple):
    kind: str
    classes: list[ClassInfo]
    items: list[sources.ImageItem]
    rejected: list[Rejected]
    source: dict[str, Any]
    # The dataset's WordNet domain (:data:`DOMAINS`): synsets a class's synset must lie below,
    # and synsets it must not.
    synset_under: tuple[str, ...] = ()
    synset_exclude: tuple[str, ...] = ()

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]


def _drain(iterator) -> tuple[list[sources.ImageItem], list[Rejected]]:
    items, rejected = [], []
    for it in iterator:
        (rejected if isinstance(it, Rejected) else items).append(it)
    return items, rejected


def _by_class(items, classes: Sequence[str], source: str):
    """Items whose class is in ``classes``; the others rejected as ``unknown_class``."""
    known = set(classes)
    keep, rejected = [], []
    for it in items:
        if it.class_name and it.class_name not in known:
            rejected.append(Rejected(source, 0, sources.UNKNOWN_CLASS,
                                     f"{it.image_id}: class {it.class_name!r} is not in the class "
                                     "list", it.image_id))
        else:
            keep.append(it)
    return keep, rejected


def _split(items, rule: str, classes: Sequence[str], *, class_file: str = "",
           image_file: str = "", test_fraction: float = 0.2, val_fraction: float = 0.0,
           seed: int = 0):
    class_splits = image_splits.read_class_splits(class_file) if class_file else None
    image_map = image_splits.read_image_splits(image_file) if image_file else None
    return image_splits.assign(
        items, rule, classes=classes, class_splits=class_splits, image_splits=image_map,
        source=os.path.basename(class_file or image_file), test_fraction=test_fraction,
        val_fraction=val_fraction, seed=seed)


def _need(path: str) -> str:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist (is --data_root right?)")
    return path


# --------------------------------------------------------------------------- presets


def _tiny_words(root: str) -> tuple[list[str], dict[str, str]]:
    wnids = sources.read_list(_need(os.path.join(root, "wnids.txt")))
    words: dict[str, str] = {}
    with open(_need(os.path.join(root, "words.txt")), encoding="utf-8") as f:
        for line in f:
            wnid, _, text = line.rstrip("\n").partition("\t")
            words[wnid] = text
    return wnids, words


def _flowers_classes(root: str) -> list[str]:
    by_id: dict[int, str] = {}
    with open(_need(os.path.join(root, "labels.csv")), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            by_id.setdefault(int(row["class_id"]), row["class_name"])
    return [by_id[i] for i in sorted(by_id)]


def class_list(name: str, data_root: str) -> list[ClassInfo]:
    """The classes of a labelled preset in its class order (no image is listed): the one
    class order of the image job and of ``beam_jobs.describe_classes``."""
    root = os.path.join(data_root, name)
    if name == "tiny_imagenet":
        wnids, words = _tiny_words(root)
        return [ClassInfo(w, words.get(w, ""), w) for w in wnids]
    if name == "flowers102":
        return [ClassInfo(c, c) for c in _flowers_classes(root)]
    if name == "cub100":
        return [ClassInfo(c, c.replace("_", " ")) for c in cub_class_order(root)]
    labelled = [p for p in PRESETS if p not in ("flickr8k_1k", "coco_mini")]
    raise ValueError(f"{name!r} has no classes; labelled datasets: {labelled}")


def _tiny_imagenet(root: str, rule: str, **kw) -> Listing:
    wnids, words = _tiny_words(root)
    train, r1 = _drain(sources.folders(os.path.join(root, "train"), images_subdir="images",
                                       split="train", id_root=root, classes=wnids))
    val, r2 = _drain(sources.annotations(os.path.join(root, "val", "val_annotations.txt"),
                                         os.path.join(root, "val", "images"), split="test",
                                         id_root=root))
    items, r3 = _by_class(train + val, wnids, "val_annotations.txt")
    rule = rule or "given"
    class_file = os.path.join(root, "zero_shot_classes.tsv") if rule == "class_file" else ""
    items, r4 = _split(items, rule, wnids, class_file=class_file, **kw)
    class_split = image_splits.read_class_splits(class_file) if class_file else {}
    classes = [ClassInfo(w, words.get(w, ""), w, class_split.get(w, "")) for w in wnids]
    return Listing(KIND_IMAGE, classes, items, r1 + r2 + r3 + r4,
                   {"preset": "tiny_imagenet", "root": root, "split": rule})


def _labelled_csv(root: str, preset: str, rule: str, classes: list[str], images_dir: str,
                  **kw) -> Listing:
    items, r1 = _drain(sources.labels_csv(os.path.join(root, "labels.csv"),
                                          os.path.join(root, images_dir), id_root=root))
    items, r2 = _by_class(items, classes, "labels.csv")
    rule = rule or "class_file"
    class_file = os.path.join(root, "zero_shot_classes.tsv") if rule == "class_file" else ""
    items, r3 = _split(items, rule, classes, class_file=class_file, **kw)
    class_split = image_splits.read_class_splits(class_file) if class_file else {}
    table = [ClassInfo(c, c.replace("_", " "), "", class_split.get(c, "")) for c in classes]
    return Listing(KIND_IMAGE, table, items, r1 + r2 + r3,
                   {"preset": preset, "root": root, "split": rule}, *DOMAINS[preset])


def _flowers102(root: str, rule: str, **kw) -> Listing:
    return _labelled_csv(root, "flowers102", rule, _flowers_classes(root), "jpg", **kw)


def cub_class_order(root: str) -> list[str]:
    """CUB-100's classes: ``cub200_classes.txt`` order (``NNN.Name``, prefix dropped)
    restricted to the classes of ``labels.csv``."""
    with open(_need(os.path.join(root, "labels.csv")), encoding="utf-8", newline="") as f:
        present = {row["class_name"] for row in csv.DictReader(f)}
    order = [line.split(None, 1)[1].split(".", 1)[1]
             for line in sources.read_list(_need(os.path.join(root, "cub200_classes.txt")))]
    missing = sorted(present - set(order))
    if missing:
        raise ValueError(f"labels.csv classes {missing[:5]} are not in cub200_classes.txt")
    return [c for c in order if c in present]


def _cub100(root: str, rule: str, **kw) -> Listing:
    return _labelled_csv(root, "cub100", rule, cub_class_order(root), "images", **kw)


def _flickr8k_1k(root: str, rule: str, **kw) -> Listing:
    split_file = _need(os.path.join(root, "split.tsv"))
    listed = image_splits.read_image_splits(split_file)
    items, r1 = _drain(sources.captions_csv(os.path.join(root, "captions_1k.txt"),
                                            os.path.join(root, "images"), id_root=root,
                                            known=listed.__contains__))
    rule = rule or "image_file"
    items, r2 = _split(items, rule, [], image_file=split_file if rule == "image_file" else "", **kw)
    return Listing(KIND_IMAGE_CAPTIONS, [], items, r1 + r2,
                   {"preset": "flickr8k_1k", "root": root, "split": rule})


def _coco_mini(root: str, rule: str, **kw) -> Listing:
    items, rejected = [], []
    for part in ("train2017", "val2017"):
        found, bad = _drain(sources.coco(
            _need(os.path.join(root, "annotations", f"captions_{part}.json")),
            os.path.join(root, part), id_root=root))
        items += [it._replace(split="test") for it in found]
        rejected += bad
    rule = rule or "given"
    items, r2 = _split(items, rule, [], **kw)
    return Listing(KIND_IMAGE_CAPTIONS, [], items, rejected + r2,
                   {"preset": "coco_mini", "root": root, "split": rule})


_PRESET_FNS = {"tiny_imagenet": _tiny_imagenet, "flowers102": _flowers102, "cub100": _cub100,
               "flickr8k_1k": _flickr8k_1k, "coco_mini": _coco_mini}


def preset(name: str, data_root: str, *, split: str = "", test_fraction: float = 0.2,
           val_fraction: float = 0.0, seed: int = 0) -> Listing:
    """The listing of preset ``name`` under ``data_root`` (``data_root/name``)."""
    if name not in _PRESET_FNS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {list(PRESETS)}")
    if split and split not in image_splits.RULES:
        raise ValueError(f"unknown split rule {split!r}; valid rules: {list(image_splits.RULES)}")
    root = os.path.join(data_root, name)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root} does not exist: --data_root must hold {name}/")
    return _PRESET_FNS[name](root, split, test_fraction=test_fraction,
                             val_fraction=val_fraction, seed=seed)


# --------------------------------------------------------------------------- generic layouts


def layout(name: str, inputs: Sequence[str], *, images_dir: str = "", root: str = "",
           classes: Sequence[str] | None = None, split: str = "carve", class_file: str = "",
           image_file: str = "", given_split: str = "", images_subdir: str = "",
           test_fraction: float = 0.2, val_fraction: float = 0.0, seed: int = 0) -> Listing:
    """The listing of a generic ``layout`` over ``inputs`` (files, or folders for
    ``folders``; Reed's ``root`` for ``reed``, inputs its image lists)."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; valid layouts: {list(LAYOUTS)}")
    known = None
    if image_file:
        listed = image_splits.read_image_splits(image_file)
        known = listed.__contains__
    items, rejected = [], []
    for i, path in enumerate(inputs):
        given = given_split
        if name == "folders":
            it = sources.folders(path, images_subdir=images_subdir, split=given,
                                 id_root=root or os.path.dirname(os.path.normpath(path)),
                                 classes=classes)
        elif name == "annotations":
            it = sources.annotations(path, images_dir, split=given, id_root=root or None)
        elif name == "labels_csv":
            it = sources.labels_csv(path, images_dir, id_root=root or None)
        elif name == "captions_csv":
            it = sources.captions_csv(path, images_dir, id_root=root or None, known=known)
        elif name == "flickr8k_token":
            it = sources.flickr8k_token(path, images_dir, id_root=root or None, known=known)
        elif name == "coco":
            it = sources.coco(path, images_dir, id_root=root or None)
        else:
            it = sources.reed(root or os.path.dirname(path), path)
        found, bad = _drain(it)
        items += [x._replace(split=x.split or given) for x in found]
        rejected += bad
    kind = KIND_IMAGE_CAPTIONS if name in CAPTION_LAYOUTS else KIND_IMAGE
    if name == "reed" or kind == KIND_IMAGE:
        names = list(classes) if classes is not None else sorted({x.class_name for x in items})
    else:
        names = []
    if names:
        items, r = _by_class(items, names, "classes")
        rejected += r
    items, r = _split(items, split, names, class_file=class_file, image_file=image_file,
                      test_fraction=test_fraction, val_fraction=val_fraction, seed=seed)
    class_split = image_splits.read_class_splits(class_file) if class_file else {}
    table = [ClassInfo(c, c.replace("_", " "), "", class_split.get(c, "")) for c in names]
    return Listing(kind, table, items, rejected + r,
                   {"layout": name, "inputs": list(inputs), "split": split})
