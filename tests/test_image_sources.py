"""Image readers, split rules and decoding checks on small fixtures made here (and the shared
layouts' counts when ../shared/data is present)."""
from __future__ import annotations

import collections
import io
import json
import os

import pytest
from PIL import Image

from tests.conftest import shared_path
from tfpipe.data import image_datasets, image_sources, image_splits
from tfpipe.data import images as images_lib
from tfpipe.data.corpora import Rejected


def jpeg(w: int = 8, h: int = 6, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), color).save(out, format="JPEG", quality=95)
    return out.getvalue()


def write(path, data: bytes | str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return str(path)


def split_items(items):
    items = list(items)
    good = [i for i in items if isinstance(i, image_sources.ImageItem)]
    bad = [i for i in items if isinstance(i, Rejected)]
    return good, bad


# --------------------------------------------------------------------------- readers


def test_folders_reader_classes_files_and_non_images(tmp_path):
    root = tmp_path / "train"
    for c in ("n02", "n01"):
        for i in range(2):
            write(root / c / "images" / f"{c}_{i}.JPEG", jpeg())
    write(root / "n01" / "images" / "notes.txt", "not an image")
    write(root / "n01" / "n01_boxes.txt", "outside images/: not read")
    good, bad = split_items(image_sources.folders(str(root), images_subdir="images",
                                                  split="train", id_root=str(tmp_path)))
    assert [(g.image_id, g.class_name, g.split) for g in good] == [
        ("train/n01/images/n01_0.JPEG", "n01", "train"), ("train/n01/images/n01_1.JPEG", "n01", "train"),
        ("train/n02/images/n02_0.JPEG", "n02", "train"), ("train/n02/images/n02_1.JPEG", "n02", "train")]
    assert [(b.reason, b.raw) for b in bad] == [("not_an_image", "train/n01/images/notes.txt")]
    # A given class order wins; a class without a folder is an error before anything runs.
    good, _ = split_items(image_sources.folders(str(root), images_subdir="images",
                                                classes=["n02", "n01"]))
    assert [g.class_name for g in good] == ["n02", "n02", "n01", "n01"]
    with pytest.raises(FileNotFoundError, match="n09"):
        list(image_sources.folders(str(root), classes=["n01", "n09"]))


def test_annotations_reader_missing_and_malformed(tmp_path):
    images = tmp_path / "val" / "images"
    write(images / "val_0.JPEG", jpeg())
    ann = write(tmp_path / "val" / "val_annotations.txt",
                "val_0.JPEG\tn01\t0\t0\t5\t5\nval_1.JPEG\tn02\t0\t0\t5\t5\njunk\n")
    good, bad = split_items(image_sources.annotations(ann, str(images), split="test"))
    assert [(g.image_id, g.class_name, g.split) for g in good] == [("images/val_0.JPEG", "n01", "test")]
    assert [(b.reason, b.row) for b in bad] == [("missing_image", 2), ("malformed_line", 3)]


def test_labels_csv_reader(tmp_path):
    write(tmp_path / "jpg" / "a.jpg", jpeg())
    write(tmp_path / "jpg" / "b.jpg", jpeg())
    csv_path = write(tmp_path / "labels.csv", 'image,class_id,class_name\na.jpg,1,pink primrose\n'
                     'b.jpg,2,"sweet, pea"\nc.jpg,2,sweet pea\nd.jpg,3\n')
    good, bad = split_items(image_sources.labels_csv(csv_path, str(tmp_path / "jpg")))
    assert [(g.image_id, g.class_name) for g in good] == [("jpg/a.jpg", "pink primrose"),
                                                          ("jpg/b.jpg", "sweet, pea")]
    assert [(b.reason, b.row) for b in bad] == [("missing_image", 4), ("malformed_line", 5)]
    with pytest.raises(ValueError, match="'class_name'"):
        list(image_sources.labels_csv(write(tmp_path / "x.csv", "file,label\n"), str(tmp_path)))


def test_captions_csv_groups_captions_and_rejects_unknown_images(tmp_path):
    for name in ("1.jpg", "2.jpg"):
        write(tmp_path / "images" / name, jpeg())
    caps = write(tmp_path / "captions.txt", "image,caption\n1.jpg,A dog  runs .\n2.jpg,A cat.\n"
                 '1.jpg,"A dog, brown."\n3.jpg,Ghost.\n4.jpg,Not listed.\n1.jpg,\n')
    good, bad = split_items(image_sources.captions_csv(
        caps, str(tmp_path / "images"), known={"1.jpg", "2.jpg", "3.jpg"}.__contains__))
    assert [(g.image_id, g.captions) for g in good] == [
        ("images/1.jpg", ("A dog runs .", "A dog, brown.")), ("images/2.jpg", ("A cat.",))]
    assert sorted((b.reason, b.row) for b in bad) == [
        ("malformed_line", 7), ("missing_image", 5), ("unknown_image", 6)]


def test_flickr8k_token_reader(tmp_path):
    write(tmp_path / "Images" / "10_a.jpg", jpeg())
    tok = write(tmp_path / "Flickr8k.token.txt",
                "10_a.jpg#0\tA child climbs .\n10_a.jpg#1\tA girl .\nbad line\n11_b.jpg#0\tGone .\n")
    good, bad = split_items(image_sources.flickr8k_token(tok, str(tmp_path / "Images")))
    assert [(g.image_id, g.captions) for g in good] == [("Images/10_a.jpg", ("A child climbs .", "A girl ."))]
    assert sorted((b.reason, b.row) for b in bad) == [("malformed_line", 3), ("missing_image", 4)]


def test_coco_reader(tmp_path):
    for name in ("000001.jpg", "000002.jpg"):
        write(tmp_path / "val2017" / name, jpeg())
    data = {"images": [{"id": 1, "file_name": "000001.jpg"}, {"id": 2, "file_name": "000002.jpg"},
                       {"id": 3, "file_name": "000003.jpg"}],
            "annotations": [{"id": 10, "image_id": 1, "caption": "A plane. "},
                            {"id": 11, "image_id": 9, "caption": "Orphan."},
                            {"id": 12, "image_id": 1, "caption": "Water\nand sky."},
                            {"id": 13, "image_id": 3, "caption": "Missing file."}]}
    path = write(tmp_path / "annotations" / "captions_val2017.json", json.dumps(data))
    good, bad = split_items(image_sources.coco(path, str(tmp_path / "val2017")))
    assert [(g.image_id, g.captions) for g in good] == [("val2017/000001.jpg", ("A plane.", "Water and sky."))]
    assert sorted(b.reason for b in bad) == ["missing_captions", "missing_image", "unknown_image"]


def test_reed_layout_reader(tmp_path):
    """Reed et al.'s released layout: images/<class>/<file>, text_c10/<class>/<stem>.txt."""
    root = tmp_path / "cvpr2016_cub"
    for cls, stem in (("001.Black_footed_Albatross", "Black_Footed_Albatross_0001_796111"),
                      ("002.Laysan_Albatross", "Laysan_Albatross_0002_1027")):
        write(root / "images" / cls / f"{stem}.jpg", jpeg())
        write(root / "text_c10" / cls / f"{stem}.txt",
              "".join(f"this bird has feature {k} .\n" for k in range(10)))
    write(root / "images" / "002.Laysan_Albatross" / "no_text.jpg", jpeg())
    listing = write(root / "images.txt", "001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg\n"
                    "002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg\n"
                    "002.Laysan_Albatross/no_text.jpg\n002.Laysan_Albatross/gone.jpg\nnonsense\n")
    good, bad = split_items(image_sources.reed(str(root), listing))
    assert [(g.image_id, g.class_name, len(g.captions)) for g in good] == [
        ("images/001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg",
         "001.Black_footed_Albatross", 10),
        ("images/002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg", "002.Laysan_Albatross", 10)]
    assert good[0].captions[3] == "this bird has feature 3 ."
    assert [(b.reason, b.row) for b in bad] == [("missing_captions", 3), ("missing_image", 4),
                                                ("malformed_line", 5)]
    # Through the generic layout with a by-class split file.
    splits = write(root / "classes.tsv", "class_name\tsplit\n001.Black_footed_Albatross\ttrain\n"
                   "002.Laysan_Albatross\ttest\n003.Sooty_Albatross\tval\n")
    out = image_datasets.layout("reed", [listing], root=str(root), split="class_file",
                                class_file=splits)
    assert out.kind == "image_captions"
    assert [(i.class_name, i.split) for i in out.items] == [
        ("001.Black_footed_Albatross", "train"), ("002.Laysan_Albatross", "test")]
    assert collections.Counter(r.reason for r in out.rejected)["empty_class"] == 1


# --------------------------------------------------------------------------- split rules


def _items(spec):
    return [image_sources.ImageItem(f"{c}/{i}.jpg", "", c, (), given, ("s", n))
            for n, (c, i, given) in enumerate(spec)]


def test_zero_shot_split_never_puts_an_unseen_class_in_train():
    items = _items([(c, i, "train" if i < 3 else "test") for c in "abcde" for i in range(4)])
    class_splits = {"a": "seen", "b": "seen", "c": "unseen", "d": "train", "e": "test", "f": "val"}
    out, rejected = image_splits.assign(items, "class_file", classes=list("abcde"),
                                        class_splits=class_splits)
    split_of = collections.defaultdict(set)
    for it in out:
        split_of[it.class_name].add(it.split)
    assert dict(split_of) == {"a": {"train", "test"}, "b": {"train", "test"}, "c": {"unseen"},
                              "d": {"train"}, "e": {"test"}}
    assert [(r.reason, r.raw) for r in rejected] == [("empty_class", "f")]
    out, rejected = image_splits.assign(items, "class_file", class_splits={"a": "train"})
    assert {it.class_name for it in out} == {"a"}
    assert collections.Counter(r.reason for r in rejected) == {"unknown_class": 16}


def test_carve_is_the_agreed_stratified_rule():
    from tfpipe.data import splits as splits_lib

    items = _items([(c, i, "") for c in "ab" for i in range(10)])
    out, _ = image_splits.assign(items, "carve", classes=["a", "b"], test_fraction=0.2, seed=0)
    test = {it.image_id for it in out if it.split == "test"}
    keys = {0: [(("s", n), f"a/{n}.jpg") for n in range(10)],
            1: [(("s", 10 + n), f"b/{n}.jpg") for n in range(10)]}
    assert test == {k[1] for k in splits_lib.held_out_keys(keys, 0.2, 0)}
    assert collections.Counter(it.split for it in out) == {"train": 16, "test": 4}
    out, _ = image_splits.assign(items, "carve", classes=["a", "b"], test_fraction=0.2,
                                 val_fraction=0.25, seed=0)
    assert collections.Counter(it.split for it in out) == {"train": 12, "test": 4, "val": 4}


def test_image_file_split_rejects_missing_and_unlisted():
    items = _items([("", 1, ""), ("", 2, "")])
    out, rejected = image_splits.assign(items, "image_file",
                                        image_splits={"1.jpg": "train", "7.jpg": "test"})
    assert [(it.image_id, it.split) for it in out] == [("/1.jpg", "train")]
    assert sorted(r.reason for r in rejected) == ["missing_image", "unknown_image"]


def test_split_rule_errors_name_the_choices():
    with pytest.raises(ValueError, match=r"valid rules: \['given', 'image_file', 'class_file', 'carve'\]"):
        image_splits.assign([], "random")
    with pytest.raises(ValueError, match="have no split"):
        image_splits.assign(_items([("a", 0, "")]), "given")


# --------------------------------------------------------------------------- decoding


def test_prepare_reasons_for_bad_images():
    good = jpeg(40, 20)
    cases = {"empty_file": b"", "undecodable_image": b"this is not an image at all",
             "truncated_image": good[: len(good) // 2]}
    for reason, data in cases.items():
        with pytest.raises(images_lib.ImageError) as e:
            images_lib.prepare(data, images_lib.Resize())
        assert e.value.reason == reason, (reason, e.value)
    with pytest.raises(images_lib.ImageError) as e:
        images_lib.read_file("/nonexistent/x.jpg")
    assert e.value.reason == "unreadable_file"


def test_prepare_resizes_and_keeps_untouched_jpegs():
    small = jpeg(40, 20)
    kept = images_lib.prepare(small, images_lib.Resize("shorter", 256))
    assert kept.jpeg == small and (kept.width, kept.height) == (40, 20)  # no second compression
    down = images_lib.prepare(small, images_lib.Resize("shorter", 10))
    assert (down.width, down.height) == (20, 10) and (down.original_width, down.original_height) == (40, 20)
    assert Image.open(io.BytesIO(down.jpeg)).size == (20, 10)
    up = images_lib.prepare(small, images_lib.Resize("shorter", 64, upscale=True))
    assert (up.width, up.height) == (128, 64)
    exact = images_lib.prepare(small, images_lib.Resize("exact", 32))
    assert (exact.width, exact.height) == (32, 32)
    png = io.BytesIO()
    Image.new("L", (5, 7), 128).save(png, format="PNG")
    grey = images_lib.prepare(png.getvalue(), images_lib.Resize())
    im = Image.open(io.BytesIO(grey.jpeg))
    assert im.format == "JPEG" and im.mode == "RGB" and im.size == (5, 7)
    with pytest.raises(ValueError, match="valid modes"):
        images_lib.Resize("crop")


# --------------------------------------------------------------------------- shared layouts


@pytest.mark.parametrize("name, rule, splits, classes", [
    ("tiny_imagenet", "", {"train": 30300, "test": 10100}, 202),
    ("tiny_imagenet", "class_file", {"train": 24300, "test": 8100, "unseen": 8000}, 202),
    ("flowers102", "", {"train": 2912, "val": 919, "test": 942}, 102),
    ("flowers102", "carve", {"train": 3788, "test": 985}, 102),
    ("cub100", "", {"train": 1800, "val": 900, "test": 900}, 100),
    ("flickr8k_1k", "", {"train": 700, "val": 100, "test": 200}, 0),
    ("coco_mini", "", {"test": 159}, 0),
])
def test_presets_list_the_shared_data_as_its_readme_says(name, rule, splits, classes):
    root = os.path.dirname(shared_path(name))
    listing = image_datasets.preset(name, root, split=rule)
    assert dict(collections.Counter(i.split for i in listing.items)) == splits
    assert len(listing.classes) == classes and not listing.rejected
    if rule == "class_file":  # no image of a test/unseen class is in train
        split_of = {c.name: c.split for c in listing.classes}
        assert all(split_of[i.class_name] in ("seen", "train") for i in listing.items
                   if i.split == "train")
    if name == "flickr8k_1k":
        assert sum(len(i.captions) for i in listing.items) == 5000
    if name == "coco_mini":
        assert sum(len(i.captions) for i in listing.items) == 795
