"""task: retrieval (You et al. 2018, CSE): batches, the captions join, the towers, a tiny run end to end."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tfpipe import config as config_lib
from tfpipe.tasks.retrieval import batches, captions as captions_lib


def _rows(counts):
    out, start = [], 0
    for c in counts:
        out.append(np.arange(start, start + c, dtype=np.int64))
        start += c
    return out


def test_an_epoch_visits_every_caption_once_in_batches_of_distinct_images():
    rows = _rows([5, 5, 3, 5, 1, 5, 5])  # 29 captions of 7 images, one image with 1, one with 3
    owner = np.concatenate([[i] * len(r) for i, r in enumerate(rows)])
    got = batches.epoch_pairs(rows, batch_size=3, seed=0, epoch=0)
    images = np.concatenate([b[0] for b in got])
    caps = np.concatenate([b[1] for b in got])
    assert sorted(caps.tolist()) == list(range(29))  # every caption exactly once
    np.testing.assert_array_equal(owner[caps], images)  # each caption with its own image
    assert all(len(set(b[0].tolist())) == len(b[0]) for b in got)  # distinct images per batch
    assert all(len(b[0]) <= 3 for b in got)
    # pass p holds the images with more than p captions: 7, 6, 6, 5, 5 -> 3 + 2 + 2 + 2 + 2 batches
    assert len(got) == batches.steps_per_epoch(rows, 3) == 11


def test_batches_are_a_function_of_seed_and_epoch():
    rows = _rows([5] * 20)
    a = batches.epoch_pairs(rows, batch_size=8, seed=1, epoch=3)
    b = batches.epoch_pairs(rows, batch_size=8, seed=1, epoch=3)
    c = batches.epoch_pairs(rows, batch_size=8, seed=1, epoch=4)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))


def test_the_dataset_resumes_at_an_epoch_exactly():
    rows = _rows([2, 2, 2, 2])
    images = {"maps": np.arange(4, dtype=np.float32)[:, None]}
    words = np.arange(8, dtype=np.int64)[:, None]
    steps = batches.steps_per_epoch(rows, 3)

    def take(first, n):
        ds = batches.epoch_batches(images, words, rows, batch_size=3, seed=0, first_epoch=first, epochs=3)
        return [x["word_ids"].numpy().ravel().tolist() for x, _ in ds.take(n)]

    whole = take(0, 3 * steps)
    assert take(1, 2 * steps) == whole[steps:]
    for x, _ in batches.epoch_batches(images, words, rows, batch_size=3, seed=0, first_epoch=0, epochs=1).take(2):
        # the image of every pair is the owner of its caption (captions 2i, 2i+1 belong to image i)
        np.testing.assert_array_equal(x["maps"].numpy().ravel(), x["word_ids"].numpy().ravel() // 2)


def test_split_caption_rows_group_by_image():
    split = captions_lib.Split("x", np.zeros((3, 1)), ["a", "b", "c"], ["1", "2", "3", "4"], np.array([2, 0, 2, 1]))
    assert [r.tolist() for r in split.caption_rows()] == [[1], [3], [0, 2]]


# --------------------------------------------------------------------------- a tiny run end to end

COLOURS = ["red", "blue", "green", "yellow"]
THINGS = ["dog", "boat", "kite", "horse"]
SPLITS = {"train": 12, "val": 4, "test": 4}
MAP = [4, 4, 112]  # stride-16 maps of a 64-pixel image (stage 6: 2 x 2 regions)


def _caption_rows():
    """(split, image id, captions): image k shows COLOURS[k % 4] and THINGS[(k // 4 + k) % 4]; the
    test images' captions hold a word no other split has ("zebra")."""
    rows, k = [], 0
    for split, n in SPLITS.items():
        for _ in range(n):
            colour, thing = COLOURS[k % 4], THINGS[(k // 4 + k) % 4]
            extra = "zebra" if split == "test" else "the"
            caps = [f"a {colour} {thing}", f"{extra} {thing} that is {colour}", f"{colour} {thing} outside"]
            rows.append((split, f"img{k}", caps[: 2 + k % 2], colour, thing))
            k += 1
    return rows


def _write_captions_dir(path, rows):
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.data import records, schema

    os.makedirs(path, exist_ok=True)
    splits = {}
    for split in SPLITS:
        enc = [schema.encode_image_captions(example_id=rid, image=b"\xff\xd8not-decoded", height=2, width=2,
                                            captions=caps) for s, rid, caps, *_ in rows if s == split]
        shard = records.write_shard(path, records.shard_name(split, 0, 1), enc)
        splits[split] = manifest_lib.Split(count=len(enc), class_counts=[], shards=[shard])
    manifest_lib.write(manifest_lib.Manifest(
        alphabet="", alphabet_chars="", l0=0, max_words=0, vocab_file="", vocab_words=0, class_names=[],
        splits=splits, compression="", counts={"read": len(rows), "written": len(rows), "rejected": 0,
                                                "rejected_by_reason": {}, "augmented": 0},
        rejected_file="", source={"writer": "tests"}, dataset="tiny_captions", kind=schema.KIND_IMAGE_CAPTIONS,
        classes=[]), path)
    return path


def _write_word2vec(path, words, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {dim}\n")
        for w in words:
            f.write(w + " " + " ".join(f"{x:.5f}" for x in rng.normal(size=dim)) + "\n")
    return path


@pytest.fixture(scope="module")
def cse_data(tmp_path_factory):
    from tests.features_fixture import write_features_dir

    root = tmp_path_factory.mktemp("cse")
    rows = _caption_rows()
    rng = np.random.default_rng(0)
    colour_m = {c: rng.normal(size=MAP) for c in COLOURS}
    thing_m = {t: rng.normal(size=MAP) for t in THINGS}
    feats = {s: [] for s in SPLITS}
    for split, rid, _, colour, thing in rows:
        x = (colour_m[colour] + thing_m[thing] + 0.3 * rng.normal(size=MAP)).astype(np.float32).ravel()
        feats[split].append((rid, x, 0))
    data = write_features_dir(str(root / "features"), names=["image"], classes=[{"index": 0, "name": "image"}],
                              splits=feats, outputs={"stride16": MAP},
                              features={"model": "efficientnet_lite0", "image_size": 64, "precision": "float32"})
    caps = _write_captions_dir(str(root / "captions"), rows)
    vectors = _write_word2vec(str(root / "w2v.txt"), ["a", "the", "that", "is", "outside"] + COLOURS + THINGS)
    return {"data": data, "captions": caps, "vectors": vectors, "rows": rows, "root": root}


def _cfg(cse_data, name="cse", **model):
    return config_lib.from_dict({
        "task": "retrieval", "data": {"dir": cse_data["data"]},
        "model": {"name": name, "word_vectors": cse_data["vectors"], "captions": cse_data["captions"], "dim": 64,
                  "text_options": {"filters": 16} if name == "cse" else {},
                  "max_words": 8, "intermediate": name == "cse", **model},
        "train": {"optimizer": "adam", "learning_rate": 0.003, "schedule": "constant", "batch_size": 4, "epochs": 2,
                  "restore_best": True, "seed": 0},
        "eval": {"split": "test", "validation_split": "val", "batch_size": 8},
    })


def test_the_captions_join_reads_every_caption_of_the_split_with_its_image(cse_data):
    test = captions_lib.read_split(cse_data["data"], cse_data["captions"], "test")
    want = [(rid, c) for s, rid, caps, *_ in cse_data["rows"] if s == "test" for c in caps]
    got = [(test.image_ids[i], c) for i, c in zip(test.text_to_image, test.captions)]
    assert sorted(got) == sorted(want)
    assert test.features.shape == (4, int(np.prod(MAP)))
    assert captions_lib.map_shape(cse_data["data"]) == MAP
    with pytest.raises(captions_lib.CaptionError, match="image_captions"):
        captions_lib.read_split(cse_data["data"], cse_data["data"], "test")  # a features dir is no captions dir


def test_a_tiny_cse_run_trains_selects_on_val_and_evaluates_test_with_fusion(cse_data, tmp_path):
    from tfpipe.tasks.retrieval import model as model_lib
    from tfpipe.training import loop, runs

    from tfpipe import tasks

    cfg = _cfg(cse_data)
    task = tasks.of_config(cfg)
    results = loop.run(task, cfg, str(tmp_path / "run"), verbose=0)
    ev = results["eval_results"]
    assert ev["images"] == 4 and ev["captions"] == sum(len(r[2]) for r in cse_data["rows"] if r[0] == "test")
    for d in ("image_to_text", "text_to_image"):
        assert set(ev["global"][d]) == {"r1", "r5", "r10", "median_rank"}
        assert ev["global"][d]["r10"] == 1.0  # 4 images: every rank is <= 10
    assert set(ev["fusion"]["rows"]) == {"global", "context", "early", "late", "best"}
    assert ev["fusion"]["rows"]["global"] == ev["global"]  # the fusion table's CSE row is the model itself
    assert ev["chance"]["text_to_image"]["r1"] == pytest.approx(1 / 4)
    assert len(results["history"]) == 2
    assert all({"val_sum", "val_i2t_r1", "val_t2i_median_rank", "global_loss", "intermediate_loss"} <= set(h)
               for h in results["history"])
    # the two logged parts add up to the logged loss (both are means weighted by batch size)
    assert all(h["loss"] == pytest.approx(h["global_loss"] + h["intermediate_loss"], rel=1e-4)
               for h in results["history"])
    # no test caption reaches training: "zebra" (test captions only) is not in the vocabulary
    vocab = runs.read_json(str(tmp_path / "run" / "vocab.json"))["vocab"]
    assert "zebra" not in vocab and {"red", "dog", "the"} <= set(vocab)
    # the saved towers reproduce the evaluation (what tfpipe.evaluate and serving load)
    again = task.evaluate(str(tmp_path / "run"), runs.load_config(str(tmp_path / "run")), data_dir=cse_data["data"],
                          split="test", write_indexes=False)
    assert again["global"] == ev["global"]
    image_encoder, text_encoder = model_lib.load_encoders(str(tmp_path / "run"))
    assert set(text_encoder.output) == {"global", "local", "mask"} and set(image_encoder.output) == {"global", "local"}
    assert os.path.isdir(str(tmp_path / "run" / "image_index")) and os.path.isdir(str(tmp_path / "run" / "caption_index"))
    assert ev["tensorboard_image"] == str(tmp_path / "run" / "logs" / "retrieval") and os.listdir(ev["tensorboard_image"])
    q, index_dir = task.text_queries(str(tmp_path / "run"), ["a red dog"])
    assert q.shape == (1, 64) and index_dir.endswith("image_index")


@pytest.mark.parametrize("name, model", [("vse", {}), ("cse", {"visual": "frozen", "negatives": "hardest"})])
def test_the_baseline_and_ablations_train(cse_data, tmp_path, name, model):
    from tfpipe import tasks
    from tfpipe.training import loop

    cfg = _cfg(cse_data, name, **model)
    results = loop.run(tasks.of_config(cfg), cfg, str(tmp_path / "run"), verbose=0)
    ev = results["eval_results"]
    assert ("fusion" in ev) == (name == "cse")
    if model.get("visual") == "frozen":
        # the top's outputs are cached: its 2.7 M weights are not in the model at all
        assert results["trainable_params"] == results["params"] < 2_000_000


def test_config_errors_name_the_valid_choices(cse_data):
    from tfpipe import tasks

    for model, match in (({"negatives": "semi"}, "valid: sum, hardest"), ({"visual": "all"}, "valid: top, frozen"),
                         ({"colour": 1}, "valid keys: name, word_vectors"),
                         ({"intermediate": True}, "only model.name='cse'")):
        cfg = _cfg(cse_data, "vse" if "intermediate" in model else "cse", **model)
        with pytest.raises(config_lib.ConfigError, match=match):
            tasks.of_config(cfg).check(cfg)


def test_the_tensorboard_rows_are_each_images_top_3_captions_marked_own_or_not():
    from tfpipe.tasks.retrieval import monitoring

    sim = np.array([[0.1, 0.9, 0.5, 0.7], [0.8, 0.2, 0.3, 0.3]])
    owner = np.array([0, 0, 1, 1])
    assert monitoring.retrieval_rows(sim, owner, 5) == [[(1, True), (3, False), (2, False)],
                                                      [(0, False), (2, True), (3, True)]]
    picture = monitoring.retrieval_image([np.zeros((96, 96, 3), np.uint8), None],
                                         [[("a dog", True)], [("a cat", False)]])
    assert picture.dtype == np.uint8 and picture.shape[2] == 3 and picture.shape[0] >= 2 * 96


def test_the_cached_maps_give_the_embeddings_of_the_end_to_end_model_on_real_images():
    # What training caches (beam_jobs.extract_features: the frozen lower part's stride-16 maps, by
    # the Extractor, ONNX Runtime when available) fed to the image tower equals the whole visual
    # model run end to end on the same eval views (what the export does with raw bytes).
    import glob

    import tensorflow as tf

    from tests.conftest import shared_path
    from tfpipe.data.image_pipeline import eval_views_of_bytes
    from tfpipe.models import vision
    from tfpipe.models.vision.features import Extractor
    from tfpipe.tasks.retrieval import model as model_lib

    files = sorted(glob.glob(os.path.join(shared_path("flickr8k_1k", "images"), "*.jpg")))[:3]
    raw = [open(f, "rb").read() for f in files]
    views = eval_views_of_bytes(tf.constant(raw), 224).numpy()
    pixels = np.clip(np.round(views), 0, 255).astype(np.uint8)  # the extractor's uint8 input
    maps = Extractor(image_size=224, outputs=("stride16",))(pixels)["stride16"]
    cfg = config_lib.from_dict({"task": "retrieval", "data": {"dir": "x"},
                                "model": {"name": "cse", "word_vectors": "x", "dim": 32}})
    tower = model_lib.build_image_encoder(cfg, map_shape=[14, 14, 112], image_size=224)
    cached = tower({"maps": maps})
    full = vision.build("efficientnet_lite0", image_size=224, outputs=("stage6", "pooled"))(pixels.astype(np.float32))
    np.testing.assert_allclose(np.asarray(tower.get_layer("efficientnet_lite0_top_stride16")(maps)["pooled"]),
                               np.asarray(full["pooled"]), rtol=1e-4, atol=1e-4)
    # the tower's own layers on the end-to-end outputs
    head = {"global": tower.get_layer("image_global"), "local": tower.get_layer("image_local")}
    e2e_v = head["global"](full["pooled"])
    e2e_local = head["local"](np.asarray(full["stage6"]).reshape(len(files), 49, 192))
    np.testing.assert_allclose(np.asarray(cached["global"]), np.asarray(e2e_v), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(cached["local"]), np.asarray(e2e_local), rtol=1e-4, atol=1e-4)


def test_the_frozen_top_is_float32_under_a_bfloat16_run():
    # model.visual: frozen caches the top's outputs: a mixed_bfloat16 training run and a float32
    # tfpipe.evaluate must compute the same features, so the top is built in float32 either way.
    import keras

    from tfpipe.tasks.retrieval import model as model_lib

    maps = np.random.default_rng(0).normal(size=(2, 14, 14, 112)).astype(np.float32)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        top = model_lib.frozen_top(224)
        assert keras.config.dtype_policy().name == "mixed_bfloat16"  # the run's policy is left as it was
        in_bf16_run = top.predict(maps, verbose=0)
    finally:
        keras.config.set_dtype_policy(previous)
    assert {layer.dtype_policy.name for layer in top.layers} == {"float32"}
    in_f32 = model_lib.frozen_top(224).predict(maps, verbose=0)
    for key in ("local", "pooled"):
        assert in_bf16_run[key].dtype == np.float32
        np.testing.assert_array_equal(in_bf16_run[key], in_f32[key])
