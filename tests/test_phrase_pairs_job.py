"""``python -m beam_jobs.phrase_pairs`` on tiny inputs made here (phrase counts, ids, pairs and
rejected rows checked by hand), the reading side (``tfpipe.data.phrase_records``) and its
vocabulary cut, the record kinds, and one bounded run over the built Flickr8k-1k records."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from beam_jobs import phrase_pairs
from tfpipe.data import manifest as manifest_lib
from tfpipe.data import phrase_records as pr
from tfpipe.data import schema
from tfpipe.data.datadir import DataDir
from tests.records_fixture import IN_MEMORY
from tests.records_fixture import write_records_dir as _write_dir

JPEG = b"\xff\xd8not-decoded"  # the job never decodes an image
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


CAPTIONS = {  # train images and their captions
    "c1": ["A dog runs.", "The dog is brown."],
    "c2": ["A brown dog."],
    "c3": ["A goldfish and a cat."],
    "c4": [],  # malformed: no caption
    "c5": ["On the..."],  # only stop words: no candidate phrase
}
CLASSES = [
    {"index": 0, "name": "n01443537", "wnid": "n01443537", "synset": "goldfish.n.01", "text": "goldfish"},
    {"index": 1, "name": "not_a_class", "wnid": "", "synset": "", "text": "nothing"},
]
CLASS_IMAGES = {"g1": 0, "g2": 0, "b1": 1, "u1": schema.UNLABELLED, "x1": 5}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("phrase_inputs")
    caps = _write_dir(root / "caps", schema.KIND_IMAGE_CAPTIONS, {
        "train": [schema.encode_image_captions(example_id=i, image=JPEG, height=2, width=2, captions=c)
                  for i, c in CAPTIONS.items()],
        "test": [schema.encode_image_captions(example_id="t1", image=JPEG, height=2, width=2,
                                              captions=["A dog."])],
    }, dataset="tiny_captions")
    classes = _write_dir(root / "classes", schema.KIND_IMAGE, {
        "train": [schema.encode_image(example_id=i, image=JPEG, height=2, width=2, label=lab)
                  for i, lab in CLASS_IMAGES.items()],
    }, classes=CLASSES, dataset="tiny_classes")
    return {"captions": caps, "classes": classes, "root": root}


def _run(argv):
    cfg, pipeline_args = phrase_pairs.parse(argv + IN_MEMORY)
    phrase_pairs.execute(cfg, pipeline_args)
    return DataDir.open(cfg.output_dir)


@pytest.fixture(scope="module")
def job(inputs, tmp_path_factory):
    pytest.importorskip("nltk")
    out = tmp_path_factory.mktemp("phrases")
    return _run(["--captions_dir", inputs["captions"], "--classes_dir", inputs["classes"],
                 "--output_dir", str(out), "--max_n", "2", "--min_images", "2",
                 "--hypernym_depth", "1"])


# By hand (max_n 2, min_images 2, depth 1).  Caption n-grams per image (stop-only dropped):
#   c1: dog runs a_dog dog_runs | dog brown the_dog dog_is is_brown;  c2: brown dog a_brown brown_dog
#   c3: goldfish cat a_goldfish goldfish_and a_cat;  c5: none;  c4: rejected (missing_captions)
# Images per caption n-gram: dog 2, brown 2, every other 1 (dropped: below min_images).
# Lemma phrases of goldfish.n.01 and cyprinid.n.01 (g1, g2): goldfish, carassius auratus,
# cyprinid, cyprinid fish, 2 images each; goldfish also from c3: 3 images, source both.
# b1: no synset; u1: unlabelled; x1: label 5 of 2 classes.
PHRASES = [  # id order: images descending, then the string
    (0, "goldfish", 3, "both"),
    (1, "brown", 2, "captions"),
    (2, "carassius auratus", 2, "lemmas"),
    (3, "cyprinid", 2, "lemmas"),
    (4, "cyprinid fish", 2, "lemmas"),
    (5, "dog", 2, "captions"),
]
IMAGES = {"c1": [1, 5], "c2": [1, 5], "c3": [0], "g1": [0, 2, 3, 4], "g2": [0, 2, 3, 4]}
PAIRS = [(0, 2, 2), (0, 3, 2), (0, 4, 2), (1, 5, 2), (2, 3, 2), (2, 4, 2), (3, 4, 2)]
REJECTED = {"c4": "missing_captions", "c5": "no_phrase", "b1": "no_synset", "u1": "unlabelled",
            "x1": "unknown_class"}


def test_phrases_ids_and_sources_by_hand(job):
    assert [tuple(p) for p in pr.read_phrases(job)] == PHRASES
    with open(job.file(pr.PHRASES_FILE)) as f:
        assert f.readline() == "id\tphrase\timages\tsource\n"


def test_image_records_and_pairs_by_hand(job):
    ids, labels, sources, phrase_ids = pr.read_image_phrases(job)
    assert ids == sorted(IMAGES)  # one shard, sorted by id; the test split was not read
    assert {i: p.tolist() for i, p in zip(ids, phrase_ids)} == IMAGES
    assert labels.tolist() == [-1, -1, -1, 0, 0] and labels.dtype == np.int64
    assert sources == ["tiny_captions"] * 3 + ["tiny_classes"] * 2
    first, second, images = pr.read_pairs(job)
    assert list(zip(first.tolist(), second.tolist(), images.tolist())) == PAIRS
    assert first.dtype == second.dtype == images.dtype == np.int64


def test_rejected_rows_and_accounting(job):
    with open(job.file("rejected.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    assert {r["raw"]: r["reason"] for r in rows} == REJECTED
    assert all(r["detail"] for r in rows)
    m = job.manifest
    assert m.kind == schema.KIND_IMAGE_PHRASES and m.splits.keys() == {"train", "pairs"}
    by = m.counts["by_source"]
    assert {k: (v["read"], v["written"], v["rejected"]) for k, v in by.items()} == {
        "tiny_captions": (5, 3, 2), "tiny_classes": (5, 2, 3)}
    assert by["tiny_captions"]["rejected_by_reason"] == {"missing_captions": 1, "no_phrase": 1}
    assert by["tiny_classes"]["rejected_by_reason"] == {"no_synset": 1, "unknown_class": 1, "unlabelled": 1}
    assert (m.counts["read"], m.counts["written"], m.counts["rejected"]) == (10, 5, 5)
    assert m.counts["coverage"] == 0.5
    assert m.counts["phrases"] == {"total": 6, "by_source": {"captions": 2, "lemmas": 3, "both": 1},
                                   "with_at_least_images": {"2": 6, "3": 1, "5": 0, "10": 0, "20": 0, "50": 0}}
    assert m.counts["pairs"] == {"pairs": 7, "capped_images": 0, "capped_pair_occurrences": 0}
    assert m.counts["phrases_per_image"] == {"mean": 2.6, "median": 2.0, "max": 4}  # 2, 2, 1, 4, 4
    assert m.splits["train"].count == 5 and m.splits["train"].class_counts == [2, 0]
    assert m.splits["pairs"].count == 7 and m.class_names == ["n01443537", "not_a_class"]
    for split in ("train", "pairs"):
        (shard,) = m.splits[split].shards
        assert shard.sha256 == manifest_lib.file_sha256(job.file(shard.file))
    assert m.source["parameters"]["max_n"] == 2 and m.source["inputs"]["classes"]["dir"].endswith("classes")


def test_a_pair_cap_pairs_the_most_frequent_phrases_and_counts_the_rest(inputs, tmp_path):
    data = _run(["--captions_dir", inputs["captions"], "--classes_dir", inputs["classes"],
                 "--output_dir", str(tmp_path / "out"), "--max_n", "2", "--max_pair_phrases", "2",
                 "--num_shards", "3"])
    first, second, images = pr.read_pairs(data)
    # g1, g2 pair only ids 0 and 2 (their two most frequent): 5 of their 6 pairs left out each.
    assert sorted(zip(first.tolist(), second.tolist(), images.tolist())) == [(0, 2, 2), (1, 5, 2)]
    assert data.manifest.counts["pairs"] == {"pairs": 2, "capped_images": 2, "capped_pair_occurrences": 10}
    # Three shards per split (some empty), the same images as with one.
    assert [len(data.manifest.splits[s].shards) for s in ("train", "pairs")] == [3, 3]
    ids, _, _, phrase_ids = pr.read_image_phrases(data)
    assert {i: p.tolist() for i, p in zip(ids, phrase_ids)} == IMAGES


def test_the_vocabularies_cut_softmax_and_prototypes(job):
    ph = pr.read_phrases(job)
    softmax, prototype = pr.vocabularies(ph, softmax_size=2, prototype_min_images=2)
    assert softmax.tolist() == [0, 1] and prototype.tolist() == [0, 1, 2, 3, 4, 5]
    softmax, prototype = pr.vocabularies(ph, softmax_size=6, prototype_min_images=3)
    assert softmax.tolist() == [0, 1, 2, 3, 4, 5] and prototype.tolist() == [0]
    with pytest.raises(ValueError, match="P=6"):
        pr.vocabularies(ph, softmax_size=7, prototype_min_images=2)
    with pytest.raises(ValueError, match="prototype vocabulary is empty"):
        pr.vocabularies(ph, softmax_size=2, prototype_min_images=4)
    with pytest.raises(ValueError, match="softmax_size"):
        pr.vocabularies(ph, softmax_size=0, prototype_min_images=2)
    with pytest.raises(ValueError, match="empty"):
        pr.vocabularies([], softmax_size=1, prototype_min_images=1)


def test_read_phrases_names_a_bad_line(tmp_path):
    good = pr.phrases_tsv([pr.Phrase(0, "dog", 3, "captions"), pr.Phrase(1, "cat", 2, "lemmas")])
    (tmp_path / pr.PHRASES_FILE).write_text(good)
    assert [p.phrase for p in pr.read_phrases(str(tmp_path))] == ["dog", "cat"]
    for text, match in [
        (good.replace("1\tcat", "2\tcat"), r":3: id 2, expected 1"),
        (good.replace("\t2\tlemmas", "\t5\tlemmas"), r":3: images 5"),
        (good.replace("lemmas", "queries"), r":3: source 'queries'"),
        (good.replace("id\tphrase", "n\tphrase"), r":1: expected the header"),
        (good.replace("cat", "dog"), r":3: empty or repeated phrase 'dog'"),
    ]:
        (tmp_path / pr.PHRASES_FILE).write_text(text)
        with pytest.raises(pr.PhraseFileError, match=match):
            pr.read_phrases(str(tmp_path))


def test_the_record_kinds_round_trip_and_check_their_values():
    raw = schema.encode_image_phrases(example_id="img", phrase_ids=[0, 4, 9], label=3, name="src")
    got = schema.parse(tf.constant([raw]), kind=schema.KIND_IMAGE_PHRASES)
    assert got["id"].numpy()[0] == b"img" and got["label"].numpy()[0] == 3
    assert got["name"].numpy()[0] == b"src" and got["phrase_ids"].to_list() == [[0, 4, 9]]
    pair = schema.encode_phrase_pair(first=2, second=7, images=4)
    assert list(schema.encode_phrase_pairs([(2, 7, 4)])) == [pair]
    got = schema.parse(tf.constant([pair]), kind=schema.KIND_PHRASE_PAIRS)
    assert [got[k].numpy()[0] for k in ("first", "second", "images")] == [2, 7, 4]
    for ids in ([], [3, 3], [4, 1], [-1, 2]):
        with pytest.raises(ValueError, match="img"):
            schema.encode_image_phrases(example_id="img", phrase_ids=ids)
    for a, b, n in ((3, 3, 1), (4, 1, 1), (-1, 2, 1), (0, 1, 0)):
        with pytest.raises(ValueError, match="phrase pair"):
            schema.encode_phrase_pair(first=a, second=b, images=n)


def test_the_phrase_words_are_the_caption_vocabularys_words():
    from tfpipe.embeddings.label_vectors import words as vocabulary_words
    from tfpipe.text import phrases

    for text in ("A Dog's frisbee-catch, 2 times!", "ÉCOLE Über_straße R2D2", "Ｆｕｌｌ width", "ﬁne"):
        assert phrases.words(text) == vocabulary_words(text)


def test_bad_flags_name_the_choices(inputs, tmp_path, capsys):
    cases = [
        ([], "give --captions_dir"),
        (["--captions_dir", inputs["captions"], "--max_n", "0"], "--max_n 0: must be an integer >= 1"),
        (["--captions_dir", inputs["captions"], "--min_images", "0"], "--min_images 0"),
        (["--classes_dir", inputs["classes"], "--hypernym_depth", "-1"], "--hypernym_depth -1"),
        (["--captions_dir", inputs["captions"], "--max_pair_phrases", "1"], "0 (no cap) or an integer >= 2"),
        (["--captions_dir", inputs["captions"], "--splits", "val"], "its splits: test, train"),
        (["--captions_dir", inputs["classes"]], "it must hold 'image_captions' records"),
        (["--classes_dir", inputs["captions"]], "it must hold 'image' records"),
        (["--captions_dir", str(tmp_path / "nowhere")], "no such directory"),
        (["--captions_dir", inputs["captions"], "--no_such_flag", "1"], "no_such_flag"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as e:
            phrase_pairs.parse(argv + ["--output_dir", str(tmp_path / "out")])
        assert e.value.code == 2
        assert message in capsys.readouterr().err, argv


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        phrase_pairs.parse(["--help"])
    text = capsys.readouterr().out
    for flag in ("--captions_dir", "--classes_dir", "--splits", "--max_n", "--min_images",
                 "--hypernym_depth", "--output_dir", "--max_pair_phrases", "--num_shards"):
        assert flag in text


def _built(name):
    path = os.path.join(REPO, "artifacts", "data", name)
    if not os.path.exists(os.path.join(path, "manifest.json")):
        pytest.skip(f"{path} not built (python -m beam_jobs.preprocess_images --dataset {name}, "
                    "from ../shared/data)")
    return path


def test_real_flickr8k_captions_give_a_consistent_vocabulary_and_pairs(tmp_path):
    """Bounded: the 700 Flickr8k-1k train images only, 1- and 2-grams (about 30 s)."""
    from tfpipe.tasks.retrieval.captions import read_captions

    captions = _built("flickr8k_1k")
    data = _run(["--captions_dir", captions, "--output_dir", str(tmp_path / "out"), "--max_n", "2"])
    ph = pr.read_phrases(data)
    ids, labels, sources, phrase_ids = pr.read_image_phrases(data)
    source_ids = read_captions(captions, "train")
    c = data.manifest.counts
    assert c["read"] == len(source_ids) == c["written"] + c["rejected"]
    assert set(ids) <= set(source_ids) and len(ids) == c["written"]  # ids exactly as in the source
    assert all(p.images >= 2 and p.source == "captions" for p in ph)
    counted = np.bincount(np.concatenate(phrase_ids), minlength=len(ph))
    assert counted.tolist() == [p.images for p in ph]  # a phrase's count is its images
    assert "dog" in {p.phrase for p in ph[:20]}
    first, second, images = pr.read_pairs(data)
    assert np.all(first < second) and len(set(zip(first.tolist(), second.tolist()))) == len(first)
    sizes = np.asarray([len(p) for p in phrase_ids])
    assert images.sum() == (sizes * (sizes - 1) // 2).sum()  # every pair occurrence counted once
    assert np.all(images <= np.minimum(counted[first], counted[second]))
