"""Image corpus readers: list the images of a dataset layout (no decoding) as items.

Every reader yields, in a stable order, one :class:`ImageItem` per image it
finds or is told about, and one :class:`~tfpipe.data.corpora.Rejected` for each
line or entry it cannot use, so ``read == written + rejected`` holds downstream
(the preprocessing job counts every item; decoding happens later, in parallel,
and may reject an item too: :mod:`tfpipe.data.images`).

Layouts (the ``--layout`` of ``beam_jobs.preprocess_images``):

``folders``
    A class per folder: ``root/<class>/<file>`` or, with ``images_subdir``,
    ``root/<class>/<images_subdir>/<file>`` (Tiny-ImageNet's
    ``train/<wnid>/images/``).  Classes are the folder names; files with an
    image extension (:data:`IMAGE_EXTENSIONS`) are images, any other file in an
    image folder is rejected as ``not_an_image``.
``annotations``
    Tiny-ImageNet's ``val_annotations.txt``: ``file<TAB>wnid<TAB>box...`` per line,
    files in ``images_dir``.
``labels_csv``
    A CSV with a header holding ``image`` and ``class_name`` columns (Oxford-102
    Flowers' ``labels.csv``: ``image,class_id,class_name``; CUB-100's
    ``image,class_name``); images are ``images_dir/<image>``.
``captions_csv``
    Captions as CSV ``image,caption`` with a header (Flickr8k's
    ``captions_1k.txt``): one item per image with all its captions in file order.
``flickr8k_token``
    Flickr8k's ``Flickr8k.token.txt``: ``<image>#<n><TAB><caption>`` per line.
``coco``
    A COCO caption JSON (``captions_train2017.json``): ``images`` (``id``,
    ``file_name``) and ``annotations`` (``image_id``, ``caption``).
``reed``
    Reed et al.'s released layout (``cvpr2016_cub`` / ``cvpr2016_flowers``): an
    image list (one ``<class>/<file>`` per line, relative to ``images/``) and,
    for each image, ``text_c10/<class>/<file stem>.txt`` holding its ten
    descriptions one per line; the class is the first path component.

Ids are stable: the image's path relative to the layout's root, with ``/``
(``train/n01443537/images/n01443537_0.JPEG``, ``jpg/image_06734.jpg``).  A
listed image whose file does not exist is rejected as ``missing_image``; a
caption whose image is not among the images a caption reader is given
(``known``, e.g. the images of a split file) as ``unknown_image``.
"""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

from tfpipe.data.rows import RAW_CHARS, Rejected, open_binary

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

# Rejection reasons of the readers (more come from decoding: tfpipe.data.images).
MISSING_IMAGE = "missing_image"
UNKNOWN_IMAGE = "unknown_image"
NOT_AN_IMAGE = "not_an_image"
MALFORMED_LINE = "malformed_line"
MISSING_CAPTIONS = "missing_captions"
EMPTY_CLASS = "empty_class"  # a class a split file names that has no images
UNKNOWN_CLASS = "unknown_class"  # an image of a class the class list does not hold
REASONS = (MISSING_IMAGE, UNKNOWN_IMAGE, NOT_AN_IMAGE, MALFORMED_LINE, MISSING_CAPTIONS,
           EMPTY_CLASS, UNKNOWN_CLASS)


class ImageItem(NamedTuple):
    """An image to preprocess: where it is and what is known of it before decoding.

    ``class_name`` is "" for an image without a class (captioned sets);
    ``split`` is the split a layout gives (Tiny-ImageNet's folders), "" when a
    split rule decides it; ``order`` sorts the items of one source in file order.
    """

    image_id: str
    path: str
    class_name: str = ""
    captions: tuple[str, ...] = ()
    split: str = ""
    order: tuple = ()


Item = ImageItem | Rejected


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _rel(root: str, path: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _exists(path: str) -> bool:
    return os.path.isfile(path)


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """``(1-based line number, line without its end)`` of a UTF-8 text file (``.gz`` too)."""
    with open_binary(path) as f:
        text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
        for number, line in enumerate(text, start=1):
            yield number, line.rstrip("\r\n")


def _raw(line: str) -> str:
    return line[:RAW_CHARS]


# --------------------------------------------------------------------------- labelled images


def folders(root: str, *, images_subdir: str = "", split: str = "", id_root: str | None = None,
            classes: Sequence[str] | None = None) -> Iterator[Item]:
    """``root/<class>[/<images_subdir>]/<file>``: classes sorted by folder name (or the
    given ``classes``, whose folders must all exist), files sorted by name."""
    id_root = root if id_root is None else id_root
    source = os.path.basename(os.path.normpath(root))
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if classes is not None:
        missing = sorted(set(classes) - set(names))
        if missing:
            raise FileNotFoundError(f"class folder(s) {missing[:5]} not in {root}")
        names = list(classes)
    for c, name in enumerate(names):
        folder = os.path.join(root, name, images_subdir) if images_subdir else os.path.join(root, name)
        if not os.path.isdir(folder):
            yield Rejected(source, c, MISSING_IMAGE, f"class {name!r} has no folder {folder}", name)
            continue
        for i, file in enumerate(sorted(os.listdir(folder))):
            path = os.path.join(folder, file)
            if os.path.isdir(path):
                continue
            rel = _rel(id_root, path)
            if not _is_image(file):
                yield Rejected(source, c, NOT_AN_IMAGE,
                               f"{rel}: not an image extension {list(IMAGE_EXTENSIONS)}", rel)
                continue
            yield ImageItem(rel, path, name, (), split, (source, c, i))


def annotations(path: str, images_dir: str, *, split: str = "", id_root: str | None = None
                ) -> Iterator[Item]:
    """Tiny-ImageNet's ``val_annotations.txt``: ``file<TAB>wnid<TAB>...`` per line."""
    id_root = os.path.dirname(images_dir) if id_root is None else id_root
    source = os.path.basename(path)
    for number, line in _lines(path):
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0] or not fields[1]:
            yield Rejected(source, number, MALFORMED_LINE,
                           "expected 'file<TAB>class<TAB>...'", _raw(line))
            continue
        file, wnid = fields[0], fields[1]
        image = os.path.join(images_dir, file)
        if not _exists(image):
            yield Rejected(source, number, MISSING_IMAGE, f"{image} does not exist", _raw(line))
            continue
        yield ImageItem(_rel(id_root, image), image, wnid, (), split, (source, number))


def _csv_rows(path: str) -> Iterator[tuple[int, list[str] | None, str]]:
    """``(line number, fields or None when malformed, raw line)`` after the header."""
    for number, line in _lines(path):
        try:
            fields = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            fields = None
        yield number, fields, line


def labels_csv(path: str, images_dir: str, *, id_root: str | None = None,
               class_column: str = "class_name", image_column: str = "image") -> Iterator[Item]:
    """A CSV with a header naming an ``image`` and a ``class_name`` column."""
    id_root = os.path.dirname(path) if id_root is None else id_root
    source = os.path.basename(path)
    rows = _csv_rows(path)
    _, header, _ = next(rows, (0, None, ""))
    if not header or image_column not in header or class_column not in header:
        raise ValueError(f"{path}: the header must name the columns {image_column!r} and "
                         f"{class_column!r}, got {header}")
    ii, ci = header.index(image_column), header.index(class_column)
    for number, fields, line in rows:
        if not line.strip():
            continue
        if fields is None or len(fields) != len(header) or not fields[ii] or not fields[ci]:
            yield Rejected(source, number, MALFORMED_LINE,
                           f"expected {len(header)} fields {header}", _raw(line))
            continue
        image = os.path.join(images_dir, fields[ii])
        if not _exists(image):
            yield Rejected(source, number, MISSING_IMAGE, f"{image} does not exist", _raw(line))
            continue
        yield ImageItem(_rel(id_root, image), image, fields[ci], (), "", (source, number))


# --------------------------------------------------------------------------- captioned images


def _captioned(rows: Iterable[tuple[int, str | None, str, str]], images_dir: str, source: str,
               id_root: str, known: Callable[[str], bool] | None) -> Iterator[Item]:
    """Groups ``(line, image file or None when malformed, caption, raw)`` rows per image in
    first-seen order; an image is emitted once with all its captions."""
    order: list[str] = []
    captions: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    for number, file, caption, raw in rows:
        if file is None or not caption.strip():
            yield Rejected(source, number, MALFORMED_LINE, "expected an image and a caption",
                           _raw(raw))
            continue
        if known is not None and not known(file):
            yield Rejected(source, number, UNKNOWN_IMAGE,
                           f"caption for {file!r}, which is not among the listed images", _raw(raw))
            continue
        if file not in captions:
            order.append(file)
            captions[file] = []
            first_line[file] = number
        captions[file].append(" ".join(caption.split()))
    for file in order:
        image = os.path.join(images_dir, file)
        if not _exists(image):
            yield Rejected(source, first_line[file], MISSING_IMAGE,
                           f"{image} does not exist ({len(captions[file])} captions)", file)
            continue
        yield ImageItem(_rel(id_root, image), image, "", tuple(captions[file]), "",
                        (source, first_line[file]))


def captions_csv(path: str, images_dir: str, *, id_root: str | None = None,
                 known: Callable[[str], bool] | None = None) -> Iterator[Item]:
    """CSV ``image,caption`` (header first); ``known(file)`` says which images exist for the
    caller (default: every image the file names)."""
    id_root = os.path.dirname(images_dir) if id_root is None else id_root
    source = os.path.basename(path)

    def rows():
        it = _csv_rows(path)
        _, header, _ = next(it, (0, None, ""))
        if not header or header[:2] != ["image", "caption"]:
            raise ValueError(f"{path}: expected the header 'image,caption', got {header}")
        for number, fields, line in it:
            if not line.strip():
                continue
            ok = fields is not None and len(fields) == 2 and fields[0]
            yield number, fields[0] if ok else None, fields[1] if ok else "", line

    return _captioned(rows(), images_dir, source, id_root, known)


def flickr8k_token(path: str, images_dir: str, *, id_root: str | None = None,
                   known: Callable[[str], bool] | None = None) -> Iterator[Item]:
    """Flickr8k's token file: ``<image>#<n><TAB><caption>`` per line."""
    id_root = os.path.dirname(images_dir) if id_root is None else id_root
    source = os.path.basename(path)

    def rows():
        for number, line in _lines(path):
            if not line.strip():
                continue
            key, tab, caption = line.partition("\t")
            file, hash_, n = key.partition("#")
            ok = bool(tab and hash_ and file and n.isdigit())
            yield number, file if ok else None, caption if ok else "", line

    return _captioned(rows(), images_dir, source, id_root, known)


def coco(path: str, images_dir: str, *, id_root: str | None = None) -> Iterator[Item]:
    """A COCO caption JSON: every listed image with its captions (annotation order); an
    annotation of an image id the file does not list is ``unknown_image``."""
    id_root = os.path.dirname(images_dir) if id_root is None else id_root
    source = os.path.basename(path)
    with open_binary(path) as f:
        data = json.load(f)
    files = {int(im["id"]): im["file_name"] for im in data.get("images", [])}
    captions: dict[int, list[str]] = {i: [] for i in files}
    for n, ann in enumerate(data.get("annotations", [])):
        image_id, caption = ann.get("image_id"), ann.get("caption", "")
        if image_id not in files:
            yield Rejected(source, n, UNKNOWN_IMAGE,
                           f"annotation {ann.get('id')} names image id {image_id}, not in 'images'",
                           json.dumps(ann)[:RAW_CHARS])
        elif not str(caption).strip():
            yield Rejected(source, n, MALFORMED_LINE, "empty caption", json.dumps(ann)[:RAW_CHARS])
        else:
            captions[image_id].append(" ".join(str(caption).split()))
    for n, (image_id, file) in enumerate(files.items()):
        image = os.path.join(images_dir, file)
        if not _exists(image):
            yield Rejected(source, n, MISSING_IMAGE, f"{image} does not exist", file)
            continue
        if not captions[image_id]:
            yield Rejected(source, n, MISSING_CAPTIONS, f"image id {image_id} has no caption", file)
            continue
        yield ImageItem(_rel(id_root, image), image, "", tuple(captions[image_id]), "",
                        (source, n))


def reed(root: str, image_list: str, *, text_dir: str = "text_c10", images_dir: str = "images"
         ) -> Iterator[Item]:
    """Reed et al.'s layout: ``image_list`` lines ``<class>/<file>`` (relative to
    ``root/images``), descriptions in ``root/text_c10/<class>/<stem>.txt`` (one per line)."""
    source = os.path.basename(image_list)
    for number, line in _lines(image_list):
        rel = line.strip()
        if not rel:
            continue
        parts = rel.split("/")
        if len(parts) < 2 or not _is_image(rel):
            yield Rejected(source, number, MALFORMED_LINE, "expected '<class>/<image file>'",
                           _raw(line))
            continue
        image = os.path.join(root, images_dir, rel)
        if not _exists(image):
            yield Rejected(source, number, MISSING_IMAGE, f"{image} does not exist", _raw(line))
            continue
        text = os.path.join(root, text_dir, os.path.splitext(rel)[0] + ".txt")
        if not _exists(text):
            yield Rejected(source, number, MISSING_CAPTIONS, f"{text} does not exist", _raw(line))
            continue
        captions = tuple(" ".join(t.split()) for _, t in _lines(text) if t.strip())
        if not captions:
            yield Rejected(source, number, MISSING_CAPTIONS, f"{text} holds no description",
                           _raw(line))
            continue
        yield ImageItem(_rel(root, image), image, parts[0], captions, "", (source, number))


def read_list(path: str) -> list[str]:
    """The non-blank stripped lines of a file (a class or image list)."""
    return [line.strip() for _, line in _lines(path) if line.strip()]
