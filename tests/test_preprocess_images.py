"""``python -m beam_jobs.preprocess_images`` end to end on fixtures made here: records, manifest,
dead letter, the by-class split in the written shards, and caption quantization parity between
the Beam-written records and an exported (saved and reloaded) TF graph."""
from __future__ import annotations

import collections
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from beam_jobs import preprocess_images
from tests.conftest import shared_path
from tests.test_image_sources import jpeg, write
from tfpipe.data import schema
from tfpipe.data.datadir import DataDir
from tfpipe.text import alphabet as alphabet_lib
from tfpipe.text import quantize as quantize_lib
from tfpipe.text import tokenize as tokenize_lib

IN_MEMORY = ["--runner=DirectRunner", "--direct_running_mode=in_memory",
             "--direct_num_workers=1"]


def run(argv):
    cfg, pipeline_args, _ = preprocess_images.parse(argv + IN_MEMORY)
    preprocess_images.execute(cfg, pipeline_args)
    return DataDir.open(cfg.output_dir)


def read(data: DataDir, split: str) -> list[dict]:
    out = []
    for path in data.shard_paths(split):
        for raw in tf.data.TFRecordDataset(path):
            parsed = schema.parse(tf.reshape(raw, [1]), l0=data.manifest.l0 or None,
                                  kind=data.kind)
            out.append({k: (v.to_list()[0] if isinstance(v, tf.RaggedTensor) else v.numpy()[0])
                        for k, v in parsed.items()})
    return out


@pytest.fixture
def labelled(tmp_path):
    """Class folders with every kind of bad file, and a zero-shot class split file."""
    root = tmp_path / "birds"
    for c, n in (("albatross", 4), ("crow", 3), ("heron", 3)):
        for i in range(n):
            write(root / c / f"{i}.jpg", jpeg(30 + i, 20, (10 * i, 80, 160)))
    write(root / "crow" / "empty.jpg", b"")
    write(root / "crow" / "cut.jpg", jpeg(64, 64)[:300])
    write(root / "heron" / "text.jpg", b"GIF89a but not really an image")
    write(root / "heron" / "readme.md", "notes")
    splits = write(tmp_path / "zero_shot.tsv", "class_name\tsplit\nalbatross\ttrain\n"
                   "crow\ttrain\nheron\ttest\nswan\tval\n")
    return root, splits


def test_labelled_job_records_manifest_dead_letter_and_zero_shot_split(labelled, tmp_path):
    root, splits = labelled
    data = run(["--layout", "folders", "--input", str(root), "--split", "class_file",
                "--class_splits", splits, "--resize", "exact", "--image_size", "16",
                "--output_dir", str(tmp_path / "out")])
    m = data.manifest
    assert m.kind == "image" and m.class_names == ["albatross", "crow", "heron"]
    assert {s: (e.count, e.class_counts) for s, e in m.splits.items()} == {
        "train": (7, [4, 3, 0]), "test": (3, [0, 0, 3])}
    assert m.counts["read"] == 10 + 5 and m.counts["written"] == 10
    assert m.counts["rejected_by_reason"] == {"empty_class": 1, "empty_file": 1, "not_an_image": 1,
                                              "truncated_image": 1, "undecodable_image": 1}
    assert [(c["name"], c["split"]) for c in m.classes] == [
        ("albatross", "train"), ("crow", "train"), ("heron", "test")]
    with open(data.file(m.rejected_file)) as f:
        dead = [json.loads(line) for line in f]
    assert sorted((d["reason"], d["raw"]) for d in dead) == [
        ("empty_class", "swan"), ("empty_file", "birds/crow/empty.jpg"),
        ("not_an_image", "birds/heron/readme.md"), ("truncated_image", "birds/crow/cut.jpg"),
        ("undecodable_image", "birds/heron/text.jpg")]
    train, test = read(data, "train"), read(data, "test")
    assert {r["name"] for r in train} == {b"albatross", b"crow"}  # the unseen class never in train
    assert {r["name"] for r in test} == {b"heron"} and {r["label"] for r in test} == {2}
    ids = [r["id"] for r in train]
    assert ids == sorted(ids) and ids[0] == b"birds/albatross/0.jpg"
    image = tf.io.decode_jpeg(train[0]["image"]).numpy()
    assert image.shape == (16, 16, 3) and (train[0]["height"], train[0]["width"]) == (16, 16)
    for split in ("train", "test"):  # checksums in the manifest are the files'
        from tfpipe.data import manifest as manifest_lib

        for shard, path in zip(m.splits[split].shards, data.shard_paths(split)):
            assert manifest_lib.file_sha256(path) == shard.sha256


def test_direct_runner_defaults_to_one_in_memory_worker(labelled):
    root, _ = labelled
    _, args, _ = preprocess_images.parse(["--layout", "folders", "--input", str(root)])
    assert args[-2:] == ["--direct_num_workers=1", "--direct_running_mode=in_memory"]
    _, args, _ = preprocess_images.parse(["--layout", "folders", "--input", str(root),
                                          "--direct_running_mode=multi_processing"])
    assert args == ["--direct_running_mode=multi_processing"]


def test_bad_flags_name_the_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        preprocess_images.parse(["--dataset", "imagenet21k"])
    assert e.value.code == 2
    assert "tiny_imagenet" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        preprocess_images.parse(["--layout", "folders"])
    assert "needs --input" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        preprocess_images.parse(["--layout", "folders", "--input", str(tmp_path), "--frobnicate"])
    assert "Beam pipeline options): --frobnicate" in capsys.readouterr().err


@pytest.fixture
def captioned(tmp_path):
    images = tmp_path / "flickr" / "images"
    captions = {"a.jpg": ["A dog runs on the grass .", "A brown dog ."],
                "b.jpg": ["Two children play in the water .", "Kids splash !"],
                "c.jpg": ["A man rides a bike .", "Cyclist on a road ."]}
    lines = ["image,caption"]
    for name, caps in captions.items():
        write(images / name, jpeg(12, 10))
        lines += [f"{name},{c}" for c in caps]
    lines += ["ghost.jpg,A caption for an image the split file does not list ."]
    write(tmp_path / "flickr" / "captions.txt", "\n".join(lines) + "\n")
    write(tmp_path / "flickr" / "split.tsv", "image\tsplit\na.jpg\ttrain\nb.jpg\ttrain\n"
          "c.jpg\ttest\nlost.jpg\ttest\n")
    return tmp_path / "flickr", captions


def test_caption_job_and_quantization_parity_with_an_exported_graph(captioned, tmp_path):
    root, captions = captioned
    data = run(["--layout", "captions_csv", "--input", str(root / "captions.txt"),
                "--images_dir", str(root / "images"), "--root", str(root),
                "--image_splits", str(root / "split.tsv"), "--output_dir", str(tmp_path / "out")])
    m = data.manifest
    assert m.kind == "image_captions" and (m.alphabet, m.l0) == ("reed", 201)
    assert {s: e.count for s, e in m.splits.items()} == {"train": 2, "test": 1}
    assert m.counts["rejected_by_reason"] == {"missing_image": 1, "unknown_image": 1}
    vocab = data.vocab()
    assert "dog" in vocab and "cyclist" not in vocab  # counted on train captions only
    rows = read(data, "train") + read(data, "test")
    texts = [c.decode() for r in rows for c in r["captions"]]
    assert texts == [c for name in ("a.jpg", "b.jpg", "c.jpg") for c in captions[name]]

    # The exported graph: quantizer + tokenizer + vocabulary lookup saved and reloaded.
    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tokenize_lib.vocab_table(vocab)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, t):
            return {"chars": quantize_lib.quantize(t, alphabet_lib.REED, 201),
                    "words": tokenize_lib.word_ids(t, self.table, m.max_words).to_tensor()}

    export = str(tmp_path / "serving")
    tf.saved_model.save(Serving(), export)
    served = tf.saved_model.load(export)(tf.constant(texts))
    stored_chars = np.array([c for r in rows for c in r["caption_chars"]], np.uint8)
    np.testing.assert_array_equal(stored_chars, served["chars"].numpy())
    py = np.array([quantize_lib.quantize_py(t, alphabet_lib.REED, 201) for t in texts])
    np.testing.assert_array_equal(stored_chars, py)
    stored_words = [w for r in rows for w in r["caption_word_ids"]]
    for got, want in zip(stored_words, served["words"].numpy()):
        assert got == [int(w) for w in want[: len(got)]] and not want[len(got):].any()
    assert stored_words[0][:2] == [2 + vocab.index("a"), 2 + vocab.index("dog")]
    assert 1 in stored_words[-1]  # "cyclist" is out of the train vocabulary


def test_a_test_only_set_takes_another_datas_vocabulary(captioned, tmp_path):
    root, _ = captioned
    common = ["--layout", "captions_csv", "--input", str(root / "captions.txt"),
              "--images_dir", str(root / "images"), "--root", str(root)]
    train = run(common + ["--image_splits", str(root / "split.tsv"),
                          "--output_dir", str(tmp_path / "a")])
    other = run(common + ["--split", "carve", "--test_fraction", "1.0", "--vocab_from", train.path,
                          "--output_dir", str(tmp_path / "b")])
    assert other.vocab() == train.vocab()
    assert list(other.manifest.splits) == ["test"] and other.manifest.splits["test"].count == 3


def test_real_flowers_zero_shot_job(tmp_path):
    """Flowers-102 with its agreed zero-shot classes: the README's counts, a synset per class
    where WordNet knows the flower, and no unseen class in train."""
    root = os.path.dirname(shared_path("flowers102"))
    data = run(["--dataset", "flowers102", "--data_root", root, "--image_size", "64",
                "--output_dir", str(tmp_path / "flowers")])
    m = data.manifest
    assert {s: e.count for s, e in m.splits.items()} == {"train": 2912, "val": 919, "test": 942}
    assert m.counts["read"] == m.counts["written"] == 4773
    unseen = {c["name"] for c in m.classes if c["split"] != "train"}
    train = {m.class_names[i] for i, n in enumerate(m.splits["train"].class_counts) if n}
    assert len(train) == 62 and not (train & unseen)


@pytest.mark.slow
@pytest.mark.parametrize("name, extra, splits", [
    ("tiny_imagenet", ["--split", "class_file"], {"train": 24300, "test": 8100, "unseen": 8000}),
    ("cub100", [], {"train": 1800, "val": 900, "test": 900}),
    ("flickr8k_1k", [], {"train": 700, "val": 100, "test": 200}),
    ("coco_mini", [], {"test": 159}),
])
def test_every_shared_preset_preprocesses_to_its_readme_counts(name, extra, splits, tmp_path):
    root = os.path.dirname(shared_path(name))
    data = run(["--dataset", name, "--data_root", root, *extra,
                "--output_dir", str(tmp_path / name)])
    m = data.manifest
    assert {s: e.count for s, e in m.splits.items()} == splits
    assert m.counts["rejected"] == 0 and m.counts["read"] == sum(splits.values())
    if m.kind == "image_captions":
        captions = sum(len(r["captions"]) for s in splits for r in read(data, s))
        assert captions == 5 * sum(splits.values())
    if name == "tiny_imagenet":
        assert sum(1 for c in m.classes if c["synset"]) == 202
        unseen = {c["name"] for c in m.classes if c["split"] == "unseen"}
        assert len(unseen) == 40
        assert not unseen & {m.class_names[i] for i, n in enumerate(m.splits["train"].class_counts) if n}
