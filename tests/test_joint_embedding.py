"""Task ``joint_embedding`` (Reed et al. 2016, DS-SJE / DA-SJE): batches, texts, evaluation and a
tiny real run that must never let a val / test class shape training."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks.joint_embedding import batches, evaluation
from tfpipe.tasks.joint_embedding import texts as texts_lib

# --------------------------------------------------------------------------- batches


def _batch_inputs():
    """Images and texts of classes 0..5 where only 1, 3, 4, 5 are drawn; 0 and 2 are decoys
    (their rows carry negative values, the drawn classes' rows their class number)."""
    rng = np.random.default_rng(0)
    image_labels = np.array([0, 1, 1, 2, 3, 3, 3, 4, 5, 5, 0, 2, 4, 1], np.int64)
    rng.shuffle(image_labels)
    text_labels = np.array([2, 1, 3, 0, 4, 5, 5, 1, 0, 3, 4, 2], np.int64)
    rng.shuffle(text_labels)
    decoys = {0, 2}
    # feature row r = [label, r]; text row r = [label, 1000 + r]; decoy classes negated.
    sign = lambda y: -1 if int(y) in decoys else 1  # noqa: E731
    features = np.array([[sign(y) * (y + 1), r] for r, y in enumerate(image_labels)], np.float32)
    text = np.array([[sign(y) * (y + 1), 1000 + r] for r, y in enumerate(text_labels)], np.int64)
    return features, image_labels, {"tok": text}, text_labels, [1, 3, 4, 5]


def _epochs(ds, steps, epochs):
    out = []
    for inputs, picked in ds.take(steps * epochs):
        out.append((inputs["features"].numpy(), inputs["tok"].numpy(), picked.numpy()))
    return out


def test_batches_hold_distinct_classes_matching_rows_of_the_given_classes_only():
    features, image_labels, text_inputs, text_labels, classes = _batch_inputs()
    ds, steps = batches.epoch_batches(features, image_labels, text_inputs, text_labels, classes,
                                      batch_classes=3, seed=7, first_epoch=0, epochs=4)
    assert steps == len(classes)  # an epoch is n_classes batches
    got = _epochs(ds, steps, 4)
    assert len(got) == steps * 4
    assert len(list(ds)) == steps * 4  # the dataset ends after the last epoch
    seen_classes = set()
    for x, t, picked in got:
        assert x.shape == (3, 2) and t.shape == (3, 2) and picked.shape == (3,)
        assert len(set(picked.tolist())) == 3  # B distinct classes
        for i, p in enumerate(picked):
            c = classes[p]
            seen_classes.add(c)
            # The image row and the text row at position i are of the class at position i ...
            assert x[i, 0] == c + 1 and image_labels[int(x[i, 1])] == c
            assert t[i, 0] == c + 1 and text_labels[int(t[i, 1]) - 1000] == c
        # ... and no row of a decoy class (0, 2) is ever drawn.
        assert (x[:, 0] > 0).all() and (t[:, 0] > 0).all()
    assert seen_classes == set(classes)
    # Every row of a drawn class is reachable: over 12 epochs (~36 draws a class) each of its 2-3 rows shows up.
    many, _ = batches.epoch_batches(features, image_labels, text_inputs, text_labels, classes,
                                    batch_classes=3, seed=7, first_epoch=0, epochs=12)
    drawn = _epochs(many, steps, 12)
    assert {int(x[i, 1]) for x, _, _ in drawn for i in range(3)} == {r for r, y in enumerate(image_labels)
                                                                    if y in classes}
    assert {int(t[i, 1]) - 1000 for _, t, _ in drawn for i in range(3)} == {r for r, y in enumerate(text_labels)
                                                                           if y in classes}
    assert all((x[:, 0] > 0).all() and (t[:, 0] > 0).all() for x, t, _ in drawn)


def test_batch_size_is_min_of_batch_classes_and_classes_and_draws_are_stateless():
    features, image_labels, text_inputs, text_labels, classes = _batch_inputs()
    ds, steps = batches.epoch_batches(features, image_labels, text_inputs, text_labels, classes,
                                      batch_classes=40, seed=3, first_epoch=0, epochs=2)
    got = _epochs(ds, steps, 2)
    assert all(sorted(p.tolist()) == [0, 1, 2, 3] for _, _, p in got)  # B = min(40, 4): every class
    # The same (seed, epoch, step) gives the same batch; another seed or step another one.
    images, texts = batches.ClassRows(image_labels, classes), batches.ClassRows(text_labels, classes)

    def one(seed, epoch, step):
        return [a.numpy().tolist() for a in batches.batch_indices(images, texts, batch_classes=3, seed=seed,
                                                                  epoch=epoch, step=step)]

    assert one(5, 2, 1) == one(5, 2, 1)
    assert len({json.dumps(one(5, e, s)) for e in range(3) for s in range(4)}) > 6
    assert one(5, 2, 1) != one(6, 2, 1)
    # A run resumed at epoch 2 sees exactly epochs 2.. of the uninterrupted one.
    full, steps = batches.epoch_batches(features, image_labels, text_inputs, text_labels, classes,
                                        batch_classes=3, seed=11, first_epoch=0, epochs=4)
    resumed, _ = batches.epoch_batches(features, image_labels, text_inputs, text_labels, classes,
                                       batch_classes=3, seed=11, first_epoch=2, epochs=4)
    a, b = _epochs(full, steps, 4)[2 * steps:], _epochs(resumed, steps, 2)
    assert len(b) == len(list(resumed)) == 2 * steps
    for (x1, t1, p1), (x2, t2, p2) in zip(a, b):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(t1, t2)
        np.testing.assert_array_equal(p1, p2)
    # A class with no text row cannot be drawn from: an error, not a silent wrong row.
    with pytest.raises(ValueError, match=r"classes \[5\] have no rows"):
        batches.ClassRows(text_labels[text_labels != 5], classes)


# --------------------------------------------------------------------------- evaluation by hand


def test_class_embeddings_are_the_mean_of_each_class_text_rows():
    phi = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0], [5.0, 5.0]], np.float32)
    text_classes = np.array([0, 1, 0, 1])
    emb = evaluation.class_embeddings(phi, text_classes, 2)
    np.testing.assert_allclose(emb, [[0.5, 2.0], [4.0, 3.5]])  # (row0+row2)/2, (row1+row3)/2
    # rows restricts a class to the chosen text rows.
    np.testing.assert_allclose(evaluation.class_embeddings(phi, text_classes, 2, rows=[[2], [1, 3]]),
                               [[0.0, 4.0], [4.0, 3.5]])
    with pytest.raises(ValueError, match="class position 2 has no text"):
        evaluation.class_embeddings(phi, text_classes, 3)


def test_recognition_and_retrieval_on_a_hand_made_score_matrix():
    # 5 images x 2 classes.  Labels 0, 0, 0, 1, 1.
    scores = np.array([[0.9, 0.1],    # img0 (c0): predicts 0 -> right
                       [0.2, 0.8],    # img1 (c0): predicts 1 -> wrong
                       [0.7, 0.3],    # img2 (c0): predicts 0 -> right
                       [0.6, 0.4],    # img3 (c1): predicts 0 -> wrong
                       [0.1, 0.5]])   # img4 (c1): predicts 1 -> right
    labels = np.array([0, 0, 0, 1, 1])
    r = evaluation.recognition_and_retrieval(scores, labels, ap_k=2)
    # top1 = 3 / 5; per class: c0 2/3, c1 1/2 -> mean 7/12.
    assert r["top1"] == pytest.approx(3 / 5)
    assert r["top1_per_class"] == pytest.approx(7 / 12)
    # Class 0 ranks images by column 0: img0 .9 (rel), img2 .7 (rel), img3 .6, img1 .2, img4 .1.
    #   precision@2 = 2/2; AP@2 = (1/1 + 2/2) / min(2, 3) = 1.
    # Class 1 ranks by column 1: img1 .8, img4 .5 (rel), img3 .4 (rel), img2 .3, img0 .1.
    #   precision@2 = 1/2; AP@2 = (1/2) / min(2, 2) = 1/4.
    assert set(r) == {"top1", "top1_per_class", "precision_at_2", "ap_at_2"}
    assert r["precision_at_2"] == pytest.approx((1 + 0.5) / 2)
    assert r["ap_at_2"] == pytest.approx((1 + 0.25) / 2)
    # k is capped at the number of images: ap_k 50 on 5 images is @5.
    r5 = evaluation.recognition_and_retrieval(scores, labels)
    assert set(r5) == {"top1", "top1_per_class", "precision_at_5", "ap_at_5"}
    # @5: class 0: 3/5; class 1: 2/5 -> 1/2.  AP class 0: (1 + 1 + 3/4) / 3 = 11/12 (img1 at rank 4);
    # class 1: (1/2 + 2/3) / 2 = 7/12  -> mean 3/4.
    assert r5["precision_at_5"] == pytest.approx(0.5)
    assert r5["ap_at_5"] == pytest.approx((11 / 12 + 7 / 12) / 2)
    # zero_shot is recognition_and_retrieval of features @ class_emb^T.
    feats, emb = np.eye(5, 2, dtype=np.float32) + 0.1, np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    assert evaluation.zero_shot(feats, labels, emb) == evaluation.recognition_and_retrieval(feats @ emb.T, labels)


def test_chance_is_one_over_c_and_the_mean_class_share():
    labels = np.array([0, 0, 0, 1, 2, 2])  # N = 6, n_c = 3, 1, 2
    c = evaluation.chance(labels, 3, draws=5, seed=1)
    assert c["top1"] == c["top1_per_class"] == pytest.approx(1 / 3)
    assert c["precision_at_6"] == pytest.approx(np.mean([3 / 6, 1 / 6, 2 / 6]))
    assert c["ap_draws"] == 5 and 0 < c["ap_at_6"] <= 1
    # The true AP of random rankings is the mean of seeded draws (same seed -> same value).
    assert evaluation.chance(labels, 3, draws=5, seed=1)["ap_at_6"] == c["ap_at_6"]


def test_figure4_has_a_row_per_text_count_and_the_last_is_zero_shot_with_all_texts():
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(6, 4)).astype(np.float32)
    text_classes = np.array([0, 0, 0, 1, 2, 2])  # at most 3 texts a class
    features = rng.normal(size=(9, 4)).astype(np.float32)
    labels = np.array([0, 1, 2] * 3)
    rows = evaluation.figure4(phi, text_classes, features, labels, 3, draws=4, seed=0)
    assert [r["texts"] for r in rows] == [1, 2, 3]
    assert [r["classes_with_at_least"] for r in rows] == [3, 2, 1]
    full = evaluation.zero_shot(features, labels, evaluation.class_embeddings(phi, text_classes, 3))
    assert rows[-1]["top1"] == pytest.approx(full["top1"]) and rows[-1]["top1_std"] == 0.0
    assert rows[-1]["top1_per_class"] == pytest.approx(full["top1_per_class"])


# --------------------------------------------------------------------------- metrics.average_precision @k


def test_average_precision_at_k_by_hand_with_a_tie_and_k_out_of_range():
    from tfpipe import metrics

    scores = np.array([[0.9, 0.8, 0.8, 0.3, 0.1]])
    rel = np.array([[1, 0, 1, 0, 1]], bool)
    # Ties rank the irrelevant item first: order item0 (rel), item1 (irr), item2 (rel), item3, item4 (rel).
    # Precision at relevant ranks: 1/1, 2/3, 3/5.
    assert metrics.average_precision(scores, rel)[0] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # AP@3: (1 + 2/3) / min(3, 3) = 5/9; AP@2: (1) / min(2, 3) = 1/2; AP@1: 1.
    assert metrics.average_precision(scores, rel, k=3)[0] == pytest.approx(5 / 9)
    assert metrics.average_precision(scores, rel, k=2)[0] == pytest.approx(1 / 2)
    assert metrics.average_precision(scores, rel, k=1)[0] == pytest.approx(1.0)
    # Fewer relevant than k: the denominator is #relevant.  Query 2: one relevant at rank 2 -> AP@4 = (1/2) / 1.
    two = metrics.average_precision(np.array([[0.9, 0.8, 0.8, 0.3, 0.1], [0.5, 0.4, 0.3, 0.2, 0.1]]),
                                    np.array([[1, 0, 1, 0, 1], [0, 1, 0, 0, 0]], bool), k=4)
    np.testing.assert_allclose(two, [(1 + 2 / 3) / 3, 1 / 2])
    for k in (0, 6):
        with pytest.raises(ValueError, match=r"k=.* must be in \[1, 5\]"):
            metrics.average_precision(scores, rel, k=k)


# --------------------------------------------------------------------------- texts


def test_chars_is_reeds_quantization_with_l0():
    from tfpipe.text import alphabet
    from tfpipe.text.quantize import quantize_py

    texts = ["A yellow flower, with petals!", "", "x" * 50]
    got = texts_lib.chars(texts, 20)
    assert got.dtype == np.uint8 and got.shape == (3, 20)
    reed = alphabet.get("reed")
    for row, t in zip(got, texts):
        assert row.tolist() == list(quantize_py(t, reed, 20))
    assert got[0].any() and not got[1].any()  # an empty text is all padding


def test_word_ids_and_bow_layouts():
    vocab = ["petals", "yellow", "a"]
    ids = texts_lib.word_ids(["A yellow zzz flower with yellow petals", "nothing known"], vocab, 5)
    # FIRST_WORD_ID (2) + position; unknown words dropped, 0 pads.
    assert ids.dtype == np.int64
    assert ids.tolist() == [[4, 3, 3, 2, 0], [0, 0, 0, 0, 0]]
    assert texts_lib.word_ids(["a a a a a a a"], vocab, 3).tolist() == [[4, 4, 4]]
    b = texts_lib.bow(["Yellow petals, yellow petals and a stem", "zzz"], vocab)
    # ids = position + 1, each word once, values 1; padding 0.
    assert b["feature_ids"].tolist() == [[1, 2, 3], [0, 0, 0]]
    assert b["feature_values"].tolist() == [[1, 1, 1], [0, 0, 0]]
    assert b["feature_ids"].dtype == np.int32 and b["feature_values"].dtype == np.float32


def test_vocabulary_orders_by_count_then_alphabet_and_filters_known():
    texts = ["the red rose", "The red tulip", "a blue rose", "zinnia"]
    # counts: the 2, red 2, rose 2, a 1, blue 1, tulip 1, zinnia 1
    assert texts_lib.vocabulary(texts) == ["red", "rose", "the", "a", "blue", "tulip", "zinnia"]
    assert texts_lib.vocabulary(texts, known={"rose", "a", "zinnia", "nope"}) == ["rose", "a", "zinnia"]


def _cub_dir(tmp_path):
    d = tmp_path / "cub"
    d.mkdir()
    (d / texts_lib.ATTRIBUTE_CLASSES).write_text("1 001.Foo_Bar\n2 002.Baz_Qux\n3 003.Red_Bird\n\n")
    (d / texts_lib.ATTRIBUTE_MATRIX).write_text("10 20 30\n40 50 60\n70 80 90.5\n")
    return str(d)


def test_read_attribute_matrix_matches_names_and_divides_by_100(tmp_path):
    path = _cub_dir(tmp_path)
    m = texts_lib.read_attribute_matrix(path, ["Red_Bird", "Foo_Bar"])
    assert m.dtype == np.float32
    np.testing.assert_allclose(m, [[0.7, 0.8, 0.905], [0.1, 0.2, 0.3]], rtol=1e-6)
    with pytest.raises(texts_lib.TextError, match=r"no attributes for 1 .*Blue_Jay"):
        texts_lib.read_attribute_matrix(path, ["Foo_Bar", "Blue_Jay"])
    texts, matrix = texts_lib.read_attributes(path, ["Baz_Qux", "Foo_Bar"])
    assert texts.labels.tolist() == [0, 1] and texts.texts == ["attributes: Baz_Qux", "attributes: Foo_Bar"]
    np.testing.assert_allclose(matrix, [[0.4, 0.5, 0.6], [0.1, 0.2, 0.3]])


# --------------------------------------------------------------------------- a tiny real run

DIM = 16
SPLIT_OF = ["train"] * 8 + ["val"] * 3 + ["test"] * 3  # 14 classes
NAMES = [f"class_{i:02d}" for i in range(len(SPLIT_OF))]
NO_TEXT = 5  # a train class without any description
COLORS, SHAPES = ["red", "blue", "green", "white"], ["round", "star", "bell", "cup"]


def _tag(i: int) -> str:
    """A word only class i's texts hold (letters only: one vocabulary word)."""
    return "zq" + chr(ord("a") + i) * 3


def _class_texts(i: int) -> list[str]:
    if i == NO_TEXT:
        return []
    color, shape = COLORS[i % 4], SHAPES[(i // 4 + i) % 4]
    texts = [f"a {color} {shape} flower called {_tag(i)}", f"{shape} shaped {color} petals of the {_tag(i)}"]
    if i % 2:
        texts.append(f"the {_tag(i)} has {color} leaves")
    return texts


def _write_descriptions(path: str) -> str:
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.data import records, schema

    os.makedirs(path, exist_ok=True)
    encoded, per_class = [], []
    for label, name in enumerate(NAMES):
        texts = _class_texts(label)
        per_class.append(len(texts))
        encoded += [schema.encode_class_description(example_id=f"tiny:{label}:{k}", label=label, name=name, text=t)
                    for k, t in enumerate(texts)]
    shard = records.write_shard(path, records.shard_name("all", 0, 1), encoded)
    manifest_lib.write(manifest_lib.Manifest(
        alphabet="", alphabet_chars="", l0=0, max_words=0, vocab_file="", vocab_words=0, class_names=list(NAMES),
        splits={"all": manifest_lib.Split(count=len(encoded), class_counts=per_class, shards=[shard])},
        compression="", counts={"read": len(NAMES), "written": len(encoded), "rejected": 0, "rejected_by_reason": {},
                                "augmented": 0},
        rejected_file="", source={"writer": "tests"}, dataset="tiny", kind=schema.KIND_CLASS_DESCRIPTIONS,
        classes=[{"name": n, "descriptions": c} for n, c in zip(NAMES, per_class)]), path)
    return path


@pytest.fixture(scope="module")
def sje_data(tmp_path_factory):
    from tests.features_fixture import write_features_dir

    root = tmp_path_factory.mktemp("sje")
    rng = np.random.default_rng(0)
    # Compositional features: a colour vector + a shape vector (what the texts name) + noise.
    color_v, shape_v = rng.normal(size=(4, DIM)) * 2, rng.normal(size=(4, DIM)) * 2
    splits: dict[str, list] = {"train": [], "val": [], "test": []}
    for i, split in enumerate(SPLIT_OF):
        centre = color_v[i % 4] + shape_v[(i // 4 + i) % 4]
        for n in range(5 if split == "train" else 4):
            splits[split].append((f"{split}/{i}/{n}", (centre + rng.normal(size=DIM) * 0.3).astype(np.float32), i))
    classes = [{"index": i, "name": n, "text": n, "wnid": "", "synset": "", "split": s}
               for i, (n, s) in enumerate(zip(NAMES, SPLIT_OF))]
    data = write_features_dir(str(root / "features"), names=NAMES, classes=classes, splits=splits,
                              features={"model": "none", "image_size": 0, "precision": "float32"})
    return {"data": data, "descriptions": _write_descriptions(str(root / "descriptions")), "splits": splits,
            "root": root}


def _cfg(sje_data, encoder, **model):
    return config_lib.from_dict({
        "task": "joint_embedding", "data": {"dir": sje_data["data"]},
        "model": {"name": "sje", "encoder": encoder, "descriptions": sje_data["descriptions"], "batch_classes": 4,
                  "figure4_draws": 2, **model},
        "train": {"epochs": 2, "learning_rate": 0.003, "seed": 0},
        "eval": {"split": "test", "batch_size": 64},
    })


def _classes_of(split):
    return [i for i, s in enumerate(SPLIT_OF) if s == split]


def _words_only_in(splits) -> set[str]:
    inside = {w for i, s in enumerate(SPLIT_OF) if s in splits for t in _class_texts(i) for w in t.lower().split()}
    outside = {w for i, s in enumerate(SPLIT_OF) if s not in splits for t in _class_texts(i) for w in t.lower().split()}
    return inside - outside


def test_the_training_batches_hold_no_val_or_test_class(sje_data, tmp_path):
    task = tasks.get("joint_embedding")
    cfg = _cfg(sje_data, "bow")
    task.check(cfg)
    plan = task.build(cfg, task.open_data(cfg), str(tmp_path / "m"), first_epoch=0, verbose=0,
                      steps_per_execution=lambda n: 1)
    fit = plan.state["fit"]
    assert fit == [c for c in _classes_of("train") if c != NO_TEXT] and plan.steps == len(fit)
    assert plan.state["fit_uncovered"] == [NAMES[NO_TEXT]]
    # Per class: its image rows and its text input rows (every text of the dataset, encoded).
    run_texts = plan.state["texts"]
    images = {}
    for split, rows in sje_data["splits"].items():
        for _, x, label in rows:
            images.setdefault(label, []).append(np.asarray(x, np.float32))
    def ids_of(row):  # a bow row's word ids without the padding
        return tuple(int(v) for v in row if v)

    text_rows = {c: {ids_of(r) for r in run_texts.inputs(np.flatnonzero(run_texts.texts.labels == c))["feature_ids"]}
                 for c in range(len(NAMES)) if _class_texts(c)}
    assert all(len(text_rows[c]) == len(_class_texts(c)) for c in text_rows)  # distinct rows per class
    seen = set()
    for inputs, picked in plan.train_ds.take(2 * plan.steps):
        ids = inputs["feature_ids"].numpy()
        for i, p in enumerate(picked.numpy()):
            c = fit[int(p)]
            seen.add(c)
            assert SPLIT_OF[c] == "train" and c != NO_TEXT
            x = inputs["features"].numpy()[i]
            assert any(np.array_equal(x, v) for v in images[c])  # an image of that class ...
            assert not any(np.array_equal(x, v) for o in range(len(NAMES)) if o != c for v in images[o])
            row = ids_of(ids[i])
            assert row in text_rows[c]  # ... and a text of that class
            assert not any(row in text_rows[o] for o in text_rows if SPLIT_OF[o] != "train")
    assert seen == set(fit)
    # Val / test-only words never reach the training vocabulary; train words do.
    vocab = set(run_texts.vocab)
    assert not vocab & _words_only_in({"val", "test"})
    assert {_tag(c) for c in fit} <= vocab


@pytest.mark.parametrize("encoder,options", [
    ("bow", {}),
    ("char_cnn_rnn", {"l0": 80, "encoder_options": {"rnn_units": 16}}),
])
def test_a_tiny_run_selects_on_val_trains_final_on_train_val_and_evaluates_test(sje_data, tmp_path, encoder, options):
    from tfpipe.training import loop, runs

    task = tasks.get("joint_embedding")
    cfg = _cfg(sje_data, encoder, **options)
    model_dir = str(tmp_path / encoder)
    trained = loop.run(task, cfg, model_dir, verbose=0)
    train_cls = [NAMES[c] for c in _classes_of("train") if c != NO_TEXT]
    val_cls = [NAMES[c] for c in _classes_of("val")]
    # The selection run: train classes only; val_top1 every epoch.
    assert trained["fit_splits"] == ["train"] and trained["fit_classes"] == len(train_cls)
    assert trained["classes_without_text"] == [NAMES[NO_TEXT]] and trained["val_classes"] == 3
    with open(os.path.join(model_dir, "texts.json")) as f:
        sel_texts = json.load(f)
    assert sel_texts["fit_classes"] == train_cls and sel_texts["classes_without_text"] == [NAMES[NO_TEXT]]
    # The final run: train + val classes, the selected number of epochs.
    final_dir = os.path.join(model_dir, "final")
    final = runs.read_json(os.path.join(final_dir, runs.TRAIN_RESULTS))
    assert final["fit_splits"] == ["train", "val"] and final["fit_classes"] == len(train_cls) + len(val_cls)
    assert trained["final_model"]["fit_classes"] == len(train_cls) + len(val_cls)
    with open(os.path.join(final_dir, "texts.json")) as f:
        final_texts = json.load(f)
    assert final_texts["fit_classes"] == sorted(train_cls + val_cls)
    assert 1 <= final["epochs"] <= 2 and final["epochs"] == trained["best_epoch"] + 1
    if encoder == "bow":
        assert not set(sel_texts["vocab"]) & _words_only_in({"val", "test"})
        assert not set(final_texts["vocab"]) & _words_only_in({"test"})
        assert {_tag(c) for c in _classes_of("val")} <= set(final_texts["vocab"])  # the final run reads val texts
    else:
        assert sel_texts["vocab"] is None and sel_texts["reads"] == "chars"
    # results.json: the test classes' zero-shot figures.
    with open(os.path.join(model_dir, "results.json")) as f:
        results = json.load(f)
    assert results["split"] == "test" and results["classes"] == 3 and results["images"] == 12
    assert results["texts"] == sum(len(_class_texts(c)) for c in _classes_of("test"))
    assert set(results["metrics"]) == {"top1", "top1_per_class", "precision_at_12", "ap_at_12"}
    assert all(0.0 <= v <= 1.0 for v in results["metrics"].values())
    assert results["chance"]["top1"] == pytest.approx(1 / 3)
    assert results["chance"]["precision_at_12"] == pytest.approx(1 / 3)
    assert [r["texts"] for r in results["figure4"]] == [1, 2, 3]  # test classes 11, 12, 13: 3, 2, 3 texts
    assert results["figure4"][-1]["top1"] == pytest.approx(results["metrics"]["top1"])
    assert results["texts_per_class"] == [len(_class_texts(c)) for c in _classes_of("test")]
    # python -m tfpipe.evaluate's path: reloading the final model gives the same figures.
    again = task.evaluate(model_dir, cfg, data_dir=sje_data["data"], split="test")
    assert again["model_dir"] == final_dir
    assert again["metrics"] == pytest.approx(results["metrics"])
    assert again["figure4"][-1]["top1"] == pytest.approx(results["figure4"][-1]["top1"])


def test_read_descriptions_of_other_classes_is_a_text_error(sje_data):
    texts = texts_lib.read_descriptions(sje_data["descriptions"], NAMES)
    assert texts.count(len(NAMES)).tolist() == [len(_class_texts(c)) for c in range(len(NAMES))]
    with pytest.raises(texts_lib.TextError, match=r"other classes than the image data \(14 against 14; the first "
                                                  r"difference is at class 3\)"):
        texts_lib.read_descriptions(sje_data["descriptions"], NAMES[:3] + ["other"] + NAMES[4:])
    with pytest.raises(texts_lib.TextError, match=r"14 against 13"):
        texts_lib.read_descriptions(sje_data["descriptions"], NAMES[:-1])
    with pytest.raises(texts_lib.TextError, match=r"holds 'features' records, not class_descriptions"):
        texts_lib.read_descriptions(sje_data["data"], NAMES)


# --------------------------------------------------------------------------- config errors


def test_config_errors_name_the_valid_choices(sje_data):
    task = tasks.get("joint_embedding")
    task.check(_cfg(sje_data, "bow"))  # the base config is fine
    with pytest.raises(config_lib.ConfigError, match=r"model.encoder='char_gru'; valid text encoders: char_cnn_rnn, "
                                                      r"word_cnn_rnn, char_cnn, word_cnn, char_lstm, word_lstm, bow, "
                                                      r"word2vec, attributes"):
        task.check(_cfg(sje_data, "char_gru"))
    with pytest.raises(config_lib.ConfigError, match=r"model.embedding='both'; valid: ds, da$"):
        task.check(_cfg(sje_data, "bow", embedding="both"))
    cfg = _cfg(sje_data, "bow")
    cfg.train.optimizer = "adam"
    with pytest.raises(config_lib.ConfigError, match=r"train.optimizer='adam' is not read .* RMSprop"):
        task.check(cfg)
    with pytest.raises(config_lib.ConfigError, match=r"model.encoder=attributes needs model.attributes"):
        task.check(_cfg(sje_data, "attributes"))
    with pytest.raises(config_lib.ConfigError, match=r"does not train model.name='devise'.*sje"):
        task.check(config_lib.from_dict({"task": "joint_embedding", "data": {"dir": sje_data["data"]},
                                         "model": {"name": "devise"}}))


def test_read_descriptions_takes_every_caption_of_image_caption_records_as_a_text_of_its_class(tmp_path):
    # Reed et al.'s own data (text_c10 sentences per image) arrives as image_captions records: each
    # caption becomes a text of its image's class.
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.data import records, schema

    names = ["Foo", "Bar"]
    rows = [("img0", 0, ["a red bird", "small red wings"]), ("img1", 1, ["a blue bird"]), ("img2", 0, ["red crown"])]
    encoded = [schema.encode_image_captions(example_id=i, image=b"\xff\xd8not-decoded", height=2, width=2,
                                            captions=caps, label=label) for i, label, caps in rows]
    shard = records.write_shard(str(tmp_path), records.shard_name("train", 0, 1), encoded)
    manifest_lib.write(manifest_lib.Manifest(
        alphabet="", alphabet_chars="", l0=0, max_words=0, vocab_file="", vocab_words=0, class_names=names,
        splits={"train": manifest_lib.Split(count=3, class_counts=[2, 1], shards=[shard])}, compression="",
        counts={"read": 3, "written": 3, "rejected": 0, "rejected_by_reason": {}, "augmented": 0},
        rejected_file="", source={"writer": "tests"}, dataset="tiny_captions", kind=schema.KIND_IMAGE_CAPTIONS,
        classes=[{"name": n} for n in names]), str(tmp_path))
    got = texts_lib.read_descriptions(str(tmp_path), names)
    assert sorted(zip(got.labels.tolist(), got.texts, got.ids)) == [
        (0, "a red bird", "img0#0"), (0, "red crown", "img2#0"), (0, "small red wings", "img0#1"),
        (1, "a blue bird", "img1#0")]
    assert got.count(2).tolist() == [3, 1]
