"""tf.data for image records: views checked against hand-made images, augmentation on the
training split only, caption modes, class filters and shard checks."""
from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfpipe.data import image_pipeline as ip
from tfpipe.data import image_records, manifest as manifest_lib, records, schema
from tfpipe.data.datadir import DataDir
from tfpipe.data.pipeline import CorruptShardError
from tfpipe.text import alphabet as alphabet_lib


def write_data(path, rows, kind="image", classes=("a", "b", "c"), captions=None):
    """A data directory of ``rows`` (id, label, uint8 image array) in one train and one test
    shard, written with the real encoder and manifest builder."""
    enc = image_records.RecordEncoder(kind, vocab=["a", "dog", "cat"], max_words=6)
    shards, counts = {}, {}
    for split in ("train", "test"):
        split_rows = [image_records.ImageRow(i, lab, classes[lab] if lab >= 0 else "",
                                             jpeg_of(a), a.shape[0], a.shape[1],
                                             tuple(captions[i]) if captions else ())
                      for i, lab, a, s in rows if s == split]
        shards[split] = [records.write_shard(str(path), records.shard_name(split, 0, 1),
                                             enc.encode(split_rows))]
        counts[split] = [sum(1 for r in split_rows if r.label == c) for c in range(len(classes))]
    table = [{"name": c, "text": c, "wnid": "", "synset": "", "split": ""} for c in classes]
    m = image_records.build_manifest(
        kind=kind, class_table=table if kind == "image" else [], shards=shards,
        class_counts=counts if kind == "image" else {"train": [], "test": []},
        counts={s: len(shards[s]) and shards[s][0].records for s in shards},
        read=len(rows), rejected_by_reason={}, rejected_file="rejected.jsonl", compression="",
        images={}, source={}, dataset="t", alphabet="reed" if captions else "",
        l0=alphabet_lib.REED_L0 if captions else 0, max_words=6 if captions else 0)
    manifest_lib.write(m, str(path))
    return DataDir.open(str(path))


def jpeg_of(array):
    out = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(out, format="JPEG", quality=100, subsampling=0)
    return out.getvalue()


def quadrants(h=64, w=64):
    """An image of four flat colours: red top-left, green top-right, blue bottom-left, white
    bottom-right (JPEG keeps flat regions nearly exact)."""
    a = np.zeros([h, w, 3], np.uint8)
    a[: h // 2, : w // 2] = (255, 0, 0)
    a[: h // 2, w // 2:] = (0, 255, 0)
    a[h // 2:, : w // 2] = (0, 0, 255)
    a[h // 2:, w // 2:] = (255, 255, 255)
    return a


def test_ten_views_are_the_corners_centre_and_mirrors():
    image = tf.constant(quadrants())
    views = ip.ten_views(image, 16, crop_fraction=0.5).numpy()  # resized to 32, crops of 16
    assert views.shape == (10, 16, 16, 3)
    colour = lambda v: tuple(np.round(v[8, 8]).astype(int))  # noqa: E731
    assert [colour(v) for v in views[:4]] == [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    centre = views[4]  # the central crop holds a bit of each quadrant
    assert tuple(np.round(centre[0, 0])) == (255, 0, 0) and tuple(np.round(centre[-1, -1])) == (255, 255, 255)
    np.testing.assert_allclose(views[5:], views[:5, :, ::-1])


def test_eval_view_is_the_central_crop_of_the_resized_image():
    a = np.arange(8 * 12 * 3, dtype=np.float32).reshape(8, 12, 3) % 251
    view = ip.eval_view(tf.constant(a.astype(np.uint8)), 8, crop_fraction=1.0).numpy()
    np.testing.assert_allclose(view, a[:, 2:10], atol=1e-3)  # shorter side already 8: a pure crop


def test_train_view_is_a_seeded_crop_and_flip_of_the_resized_image():
    a = np.random.default_rng(0).integers(0, 255, [20, 20, 3]).astype(np.uint8)
    big = ip._resize_shorter(tf.constant(a), 20).numpy()  # no-op resize
    seen = set()
    for s in range(12):
        v = ip.train_view(tf.constant(a), 16, tf.constant([s, 1], tf.int64), crop_fraction=0.8).numpy()
        again = ip.train_view(tf.constant(a), 16, tf.constant([s, 1], tf.int64), crop_fraction=0.8)
        np.testing.assert_array_equal(v, again.numpy())  # a pure function of the seed
        found = [(t, l, f) for t in range(5) for l in range(5) for f in (0, 1)
                 if np.allclose((big[t:t + 16, l:l + 16][:, ::-1] if f else big[t:t + 16, l:l + 16]), v)]
        assert len(found) == 1
        seen.add(found[0])
    assert len(seen) > 6 and {f for _, _, f in seen} == {0, 1}


def test_labelled_dataset_eval_and_training(tmp_path):
    rows = [(f"img:{i}", i % 3, quadrants(32, 48), "train") for i in range(9)] + \
           [(f"t:{i}", i % 3, quadrants(32, 48), "test") for i in range(3)]
    data = write_data(tmp_path, rows)
    batches = list(ip.make_image_dataset(data, "test", image_size=16, batch_size=2))
    assert [b["image"].shape[0] for b in batches] == [2, 1]
    assert batches[0]["id"].numpy().tolist() == [b"t:0", b"t:1"]
    assert batches[0]["label"].numpy().tolist() == [0, 1]
    train = [b["id"].numpy().tolist() for b in ip.make_image_dataset(
        data, "train", image_size=16, batch_size=9, training=True, seed=3)]
    assert sorted(train[0]) == sorted(f"img:{i}".encode() for i in range(9))
    assert train[0] != sorted(train[0])  # shuffled
    only = ip.make_image_dataset(data, "train", image_size=16, batch_size=20, classes=[2])
    assert next(iter(only))["label"].numpy().tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="training split only"):
        ip.make_image_dataset(data, "test", augment=True)
    with pytest.raises(ValueError, match="valid modes"):
        ip.make_image_dataset(data, "test", captions="first")
    with pytest.raises(ValueError, match="no captions"):
        ip.make_image_dataset(data, "test", captions="all")
    with open(data.shard_paths("test")[0], "ab") as f:
        f.write(b"junk")
    with pytest.raises(CorruptShardError, match="test-00000-of-00001"):
        ip.make_image_dataset(data, "test")


def test_caption_modes(tmp_path):
    caps = {"x:0": ["a dog", "a cat", "dog dog"], "x:1": ["cat"], "y:0": ["a a dog", "cat a"]}
    rows = [("x:0", -1, quadrants(), "train"), ("x:1", -1, quadrants(), "train"),
            ("y:0", -1, quadrants(), "test")]
    data = write_data(tmp_path, rows, kind="image_captions", classes=(), captions=caps)
    every = next(iter(ip.make_image_dataset(data, "train", image_size=8, captions="all")))
    assert [[c.decode() for c in row] for row in every["captions"].to_list()] == [caps["x:0"], caps["x:1"]]
    assert every["caption_word_ids"].to_list()[0] == [[2, 3], [2, 4], [3, 3]]  # a=2 dog=3 cat=4
    assert every["caption_chars"].shape[-1] == 201
    pairs = next(iter(ip.make_image_dataset(data, "test", image_size=8, captions="each")))
    assert pairs["caption"].numpy().tolist() == [b"a a dog", b"cat a"]
    assert pairs["caption_index"].numpy().tolist() == [0, 1] and pairs["image"].shape == (2, 8, 8, 3)
    assert pairs["caption_word_ids"].numpy().tolist() == [[2, 2, 3, 0, 0, 0], [4, 2, 0, 0, 0, 0]]
    picked = set()
    for seed in range(8):
        b = next(iter(ip.make_image_dataset(data, "train", image_size=8, captions="random",
                                            training=True, seed=seed, batch_size=2)))
        got = dict(zip(b["id"].numpy().tolist(), b["caption"].numpy().tolist()))
        assert got[b"x:1"] == b"cat"
        assert got[b"x:0"].decode() in caps["x:0"]
        picked.add(got[b"x:0"])
        chars = b["caption_chars"].numpy()[b["id"].numpy().tolist().index(b"x:0")]
        from tfpipe.text import quantize as q

        assert chars.tolist() == q.quantize_py(got[b"x:0"].decode(), alphabet_lib.REED, 201)
    assert len(picked) > 1
