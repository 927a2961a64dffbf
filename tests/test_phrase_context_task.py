"""The predicted-context pipeline end to end on tiny data made here, through the real CLIs:

    beam_jobs.phrase_pairs (tiny captions)  ->  python -m tfpipe.train (phrase_generator, 2 epochs)
    ->  beam_jobs.prototypes (eq. 2)  ->  python -m tfpipe.train (phrase_encoder)
    ->  python -m tfpipe.train (multimodal, visual-only, text-only)  ->  python -m tfpipe.evaluate (zero-shot)

Checked by hand: the prototype index holds exactly the phrases with >= m images and each vector is
the mean bottleneck embedding of that phrase's images (eq. 2); the zero-shot top-1 is the argmax
cosine to the class names' prototypes; the multimodal run and its visual-only baseline train on
the same images; a killed multimodal run resumes to the same classifier and results; a wrong key
names the valid ones; the TensorBoard picture and results.json carry the baseline's prediction.
"""
from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest
import yaml

from tests.features_fixture import write_features_dir
from tests.records_fixture import IN_MEMORY, jpeg, write_records_dir

CONCEPTS = ("dog", "cat", "bird")
COLOURS = {"dog": (200, 120, 40), "cat": (40, 40, 40), "bird": (30, 90, 220)}
ADJECTIVES = ("brown", "small", "black", "happy")
DIM = 8
PER_CONCEPT = 10                     # phrase-data images per concept
DOWNSTREAM = {"train": 6, "val": 2, "test": 3}   # downstream images per class and split
MIN_IMAGES = 3                       # the generator's prototype_min_images (m of eq. 2)
EPOCHS = 4                           # the classifiers'


def _captions(concept: str, i: int) -> list[str]:
    caps = [f"a {ADJECTIVES[i % len(ADJECTIVES)]} {concept} sits", f"the {concept} looks up"]
    if concept == "dog" and i < 2:  # "red ball" (and "red", "ball"): 2 images, below m = 3
        caps.append("a red ball")
    return caps


def _write_yaml(path, cfg: dict) -> str:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f)
    return str(path)


def _train(config: str, model_dir: str, *sets: str) -> int:
    from tfpipe import train

    argv = ["--config", config, "--model_dir", model_dir, "--verbose", "0"]
    for s in sets:
        argv += ["--set", s]
    return train.main(argv)


def _json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Every input the pipeline reads: phrase data, its source's features, a downstream features
    directory (with the image records it was 'extracted' from) and the configs."""
    from beam_jobs import phrase_pairs
    from tfpipe.data import schema

    root = tmp_path_factory.mktemp("phrase_context")
    rng = np.random.default_rng(0)
    centers = {c: 3 * rng.normal(size=DIM) for c in CONCEPTS}
    caps, source_rows = [], []
    for c in CONCEPTS:
        for i in range(PER_CONCEPT):
            rid = f"src_{c}_{i}"
            caps.append(schema.encode_image_captions(example_id=rid, image=jpeg(COLOURS[c]), height=8, width=8,
                                                     captions=_captions(c, i)))
            source_rows.append((rid, centers[c] + rng.normal(size=DIM), 0))
    captions_dir = write_records_dir(root / "captions", schema.KIND_IMAGE_CAPTIONS, {"train": caps},
                                     dataset="tiny_captions")
    source_features = write_features_dir(str(root / "captions_features"), names=["none"],
                                         classes=[{"index": 0, "name": "none"}], splits={"train": source_rows},
                                         features={"model": "tiny"})
    cfg, pipeline_args = phrase_pairs.parse(["--captions_dir", captions_dir, "--output_dir", str(root / "phrases"),
                                             "--max_n", "2", "--min_images", "2", *IN_MEMORY])
    phrase_pairs.execute(cfg, pipeline_args)

    classes = [{"index": k, "name": c} for k, c in enumerate(CONCEPTS)]
    splits, images = {}, {}
    for split, n in DOWNSTREAM.items():
        splits[split] = [(f"{split}_{c}_{i}", centers[c] + rng.normal(size=DIM), k)
                         for k, c in enumerate(CONCEPTS) for i in range(n)]
        images[split] = [schema.encode_image(example_id=rid, image=jpeg(COLOURS[CONCEPTS[k]]), height=8, width=8,
                                             label=k) for rid, _, k in splits[split]]
    image_dir = write_records_dir(root / "downstream_images", schema.KIND_IMAGE, {"test": images["test"]},
                                  classes=classes, dataset="tiny_downstream")
    downstream = write_features_dir(str(root / "downstream_features"), names=list(CONCEPTS), classes=classes,
                                    splits=splits, features={"model": "tiny", "source": {"images": image_dir}})
    runs = root / "runs"
    train = {"optimizer": "adam", "learning_rate": 0.01, "schedule": "constant", "seed": 0}
    gen = _write_yaml(root / "generator.yaml", {
        "task": "phrase_context", "data": {"dir": str(root / "phrases"), "validation_fraction": 0.2},
        "model": {"name": "phrase_generator", "features": {"tiny_captions": source_features}, "softmax_size": 6,
                  "prototype_min_images": MIN_IMAGES, "dim": 8, "hidden": [16], "scale": 10.0, "num_sampled": 3},
        "train": {**train, "batch_size": 16, "epochs": 2}, "eval": {"batch_size": 64}})
    enc = _write_yaml(root / "encoder.yaml", {
        "task": "phrase_context", "data": {"dir": str(root / "phrases"), "validation_fraction": 0.2},
        "model": {"name": "phrase_encoder", "dim": 16, "scale": 10.0},
        "train": {**train, "batch_size": 16, "epochs": 1}, "eval": {"batch_size": 64}})

    def classifier(name: str, inputs: list[str], **model) -> str:
        return _write_yaml(root / f"{name}.yaml", {
            "task": "phrase_context", "data": {"dir": downstream},
            "model": {"name": "multimodal", "inputs": inputs, "generator": str(runs / "generator"),
                      "encoder": str(runs / "encoder"), "train_fraction": 0.5, "hidden": [16],
                      "tensorboard_images": 4, **model},
            "train": {**train, "batch_size": 4, "epochs": EPOCHS, "restore_best": True},
            "eval": {"split": "test", "validation_split": "val", "batch_size": 64}})

    return {"root": root, "phrases": str(root / "phrases"), "source_features": source_features,
            "downstream": downstream, "image_dir": image_dir, "runs": runs, "generator": gen, "encoder": enc,
            "visual": classifier("visual", ["visual"]), "text": classifier("text", ["context"]),
            "multimodal": classifier("multimodal", ["visual", "context"], baseline=str(runs / "visual"))}


@pytest.fixture(scope="module")
def pipeline(tiny):
    """The runs, in the README's order; each CLI must succeed."""
    from beam_jobs import prototypes

    runs = tiny["runs"]
    out = {name: str(runs / name) for name in ("generator", "encoder", "visual", "text", "multimodal")}
    assert _train(tiny["generator"], out["generator"]) == 0
    out["prototypes"] = prototypes.run(out["generator"], pipeline_args=IN_MEMORY)
    for name in ("encoder", "visual", "text", "multimodal"):
        assert _train(tiny[name], out[name]) == 0, name
    return out


def test_the_generator_and_encoder_write_their_files_and_results(pipeline):
    gen = _json(os.path.join(pipeline["generator"], "results.json"))
    assert gen["model"] == "phrase_generator" and gen["softmax_phrases"] == 6 and gen["epochs_run"] == 2
    assert gen["held_out_images"] > 0 and 0 <= gen["phrase_ranking"]["ap_at_10"] <= 1
    for name in ("bottleneck.keras", "phrase_generator.keras", "softmax_index", "prototype_index"):
        assert os.path.exists(os.path.join(pipeline["generator"], name)), name
    enc = _json(os.path.join(pipeline["encoder"], "results.json"))
    assert enc["model"] == "phrase_encoder" and enc["pair_retrieval"]["pairs"] == enc["held_out_pairs"] > 0
    assert os.path.exists(os.path.join(pipeline["encoder"], "phrase_tower.keras"))


def test_the_prototypes_are_the_mean_bottleneck_of_each_phrases_images(tiny, pipeline):
    """Eq. 2 by hand: phi_c = mean of x_i over the images of phrase c, for every c with >= m images."""
    from tfpipe.data import phrase_records
    from tfpipe.data.datadir import DataDir
    from tfpipe.data.feature_records import read_split
    from tfpipe.index.query_index import QueryIndex
    from tfpipe.tasks.phrase_context import layout
    from tfpipe.tasks.phrase_context import model as model_lib

    phrases = phrase_records.read_phrases(tiny["phrases"])
    ids, _, _, phrase_ids = phrase_records.read_image_phrases(tiny["phrases"])
    x, _, fids = read_split(DataDir.open(tiny["source_features"]), "train", batch_size=64, verify="size", with_ids=True)
    bottleneck = model_lib.load(pipeline["generator"], layout.BOTTLENECK_FILE)
    emb = np.asarray(bottleneck.predict(x, verbose=0), np.float64)
    row = {rid: i for i, rid in enumerate(fids)}
    members: dict[int, list[int]] = {}
    for rid, pids in zip(ids, phrase_ids):
        for c in pids.tolist():
            members.setdefault(c, []).append(row[rid])
    want = {phrases[c].phrase: emb[rows].mean(axis=0) for c, rows in members.items() if len(rows) >= MIN_IMAGES}
    assert {"dog", "cat", "bird"} <= set(want) and "red ball" not in want  # "red ball": 2 images < m
    assert any(phrases[c].images < MIN_IMAGES for c in members)            # m does cut something
    index = QueryIndex.load(os.path.join(pipeline["generator"], "prototype_index"))
    assert sorted(index.phrases) == sorted(want)
    for name, vector in zip(index.phrases, index.index.vectors):
        np.testing.assert_allclose(vector, want[name], rtol=1e-5, atol=1e-6)
    report = pipeline["prototypes"]
    assert report["prototypes"] == len(want) and report["images_rejected"] == 0
    assert report["inside_softmax"] + report["outside_softmax"] == len(want) and report["outside_softmax"] > 0


def test_the_classifiers_results_and_the_same_training_images(tiny, pipeline):
    per_class = DOWNSTREAM["train"] // 2            # train_fraction 0.5
    ids = {}
    for name, inputs in (("visual", ["visual"]), ("text", ["context"]), ("multimodal", ["visual", "context"])):
        r = _json(os.path.join(pipeline[name], "results.json"))
        assert r["inputs"] == inputs and r["split"] == "test" and r["images"] == 3 * DOWNSTREAM["test"]
        assert r["classes"] == 3 and r["chance_top1"] == pytest.approx(1 / 3) and r["train_fraction"] == 0.5
        assert 0 <= r["top1"] <= r["top5"] <= 1 and r["epochs_run"] == EPOCHS
        assert len(r["examples"]) == r["images"]   # fewer test images than evaluation.SHOWN_IMAGES
        assert all(len(e["phrases"]) == 3 and e["label"] in CONCEPTS for e in r["examples"])
        trained = _json(os.path.join(pipeline[name], "train_results.json"))
        assert trained["train_images"] == 3 * per_class and trained["val_images"] == 3 * DOWNSTREAM["val"]
        with open(os.path.join(pipeline[name], trained["train_ids_file"]), encoding="utf-8") as f:
            ids[name] = f.read().split()
        assert len(ids[name]) == 3 * per_class
        assert all(sum(i.startswith(f"train_{c}_") for i in ids[name]) == per_class for c in CONCEPTS)
    assert ids["multimodal"] == ids["visual"] == ids["text"]   # the paper's comparison: the same images
    # The top-1 in results.json is that of the saved classifier on the test features.
    from tfpipe.data.datadir import DataDir
    from tfpipe.data.feature_records import read_split
    from tfpipe.tasks.phrase_context import layout
    from tfpipe.tasks.phrase_context import model as model_lib

    x, y = read_split(DataDir.open(tiny["downstream"]), "test", batch_size=64, verify="size")
    visual = model_lib.load(pipeline["visual"], layout.CLASSIFIER_FILE)
    pred = np.asarray(visual.predict({"visual": x}, verbose=0)).argmax(axis=1)
    assert _json(os.path.join(pipeline["visual"], "results.json"))["top1"] == pytest.approx(np.mean(pred == y))


def test_the_multimodal_run_shows_the_baselines_prediction(tiny, pipeline):
    r = _json(os.path.join(pipeline["multimodal"], "results.json"))
    visual = _json(os.path.join(pipeline["visual"], "results.json"))
    base = r["baseline"]
    assert base["model_dir"] == pipeline["visual"] and base["top1"] == pytest.approx(visual["top1"])
    assert [e["baseline"] for e in r["examples"]] == [e["predicted"] for e in visual["examples"]]
    assert [e["id"] for e in r["examples"]] == [e["id"] for e in visual["examples"]]
    differ = sum(a["predicted"] != b["predicted"] for a, b in zip(r["examples"], visual["examples"]))
    assert base["differ"] == differ   # every test image is in examples here
    picture = r["tensorboard_image"]
    assert picture == {"dir": os.path.join(pipeline["multimodal"], "logs", "context"), "images": 4,
                       "thumbnails": 4, "image_dir": tiny["image_dir"]}
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(picture["dir"]))
    assert "baseline" not in visual and visual["tensorboard_image"]["thumbnails"] == 4


def test_zero_shot_through_the_evaluate_cli(tiny, pipeline, capsys):
    """Section 4.3: a class's label vector is its name's prototype / softmax row; the top-1 is the
    argmax cosine to the image's bottleneck, by hand for the prototypes."""
    from tfpipe import evaluate
    from tfpipe.data.datadir import DataDir
    from tfpipe.data.feature_records import read_split
    from tfpipe.index.query_index import QueryIndex
    from tfpipe.tasks.phrase_context import layout
    from tfpipe.tasks.phrase_context import model as model_lib

    capsys.readouterr()
    assert evaluate.main(["--model_dir", pipeline["generator"], "--data_dir", tiny["downstream"],
                          "--split", "test"]) == 0
    out = capsys.readouterr().out
    path = out.rsplit("wrote ", 1)[1].strip()
    r = _json(path)
    # its own file: the generator's results.json (held-out ranking) stays
    assert os.path.basename(path).startswith("results_zero_shot_") and path.endswith("_test.json")
    assert "phrase_ranking" in _json(os.path.join(pipeline["generator"], "results.json"))
    assert "zero-shot on" in out and "chance 33.33 %" in out
    assert r["images"] == 9 and r["classes_present"] == 3 and r["chance_top1"] == pytest.approx(1 / 3)
    assert set(r["rows"]) == {"prototypes", "softmax"}
    protos = r["rows"]["prototypes"]
    assert protos["coverage"]["exact"] == 3 and protos["classes_without_vector"] == []
    index = QueryIndex.load(os.path.join(pipeline["generator"], "prototype_index"))
    vec = {p: v for p, v in zip(index.phrases, index.index.vectors)}
    label = np.stack([vec[c] for c in CONCEPTS])
    x, y = read_split(DataDir.open(tiny["downstream"]), "test", batch_size=64, verify="size")
    b = np.asarray(model_lib.load(pipeline["generator"], layout.BOTTLENECK_FILE).predict(x, verbose=0))
    cos = (b / np.linalg.norm(b, axis=1, keepdims=True)) @ (label / np.linalg.norm(label, axis=1, keepdims=True)).T
    assert protos["top1"] == pytest.approx(np.mean(cos.argmax(axis=1) == y))
    assert 0 <= r["rows"]["softmax"]["top1"] <= 1


class Killed(BaseException):
    """Stands for a kill: not an Exception, so nothing on the way out handles it."""


def test_a_killed_multimodal_run_resumes_to_the_same_result(tiny, pipeline, tmp_path, monkeypatch):
    import keras

    from tfpipe.tasks.phrase_context import layout
    from tfpipe.training import callbacks as cb
    from tfpipe.training import runs

    original = cb.EpochBackup.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch + 1 == 2:
            raise Killed

    model_dir = str(tmp_path / "multimodal")
    with monkeypatch.context() as mp:
        mp.setattr(cb.EpochBackup, "on_epoch_end", on_epoch_end)
        with pytest.raises(Killed):
            _train(tiny["multimodal"], model_dir)
    assert runs.backup_epoch(model_dir) == 2 and not os.path.exists(os.path.join(model_dir, runs.TRAIN_RESULTS))
    assert _train(tiny["multimodal"], model_dir) == 0
    resumed, reference = (_json(os.path.join(d, "results.json")) for d in (model_dir, pipeline["multimodal"]))
    assert _json(os.path.join(model_dir, runs.TRAIN_RESULTS))["resumed_from_epoch"] == 2
    for key in ("top1", "top5", "mean_per_class_accuracy", "examples", "baseline"):
        assert resumed[key] == reference[key], key
    a, b = (keras.models.load_model(os.path.join(d, layout.CLASSIFIER_FILE), compile=False).get_weights()
            for d in (model_dir, pipeline["multimodal"]))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_wrong_key_names_the_valid_ones(tiny, tmp_path, capsys):
    assert _train(tiny["multimodal"], str(tmp_path / "bad"), "model.softmax_size=3") == 2
    err = capsys.readouterr().err
    assert "unknown key(s) for model 'multimodal': softmax_size" in err
    assert "valid keys: name, " in err and "baseline" in err and "train_fraction" in err


def test_the_baseline_key_is_checked(tiny, pipeline, tmp_path, capsys):
    from tfpipe import config as config_lib
    from tfpipe import tasks

    cfg = config_lib.from_dict({"task": "phrase_context", "data": {"dir": "x"},
                                "model": {"name": "multimodal", "inputs": ["visual"], "tensorboard_images": 0,
                                          "baseline": 3}})
    with pytest.raises(config_lib.ConfigError, match="model.baseline=3 must be a run directory"):
        tasks.resolve(cfg)
    # Not a finished run; a run that is not visual-only; one on another data directory (a copy of
    # the same records): clear errors when the run starts.
    other = shutil.copytree(tiny["downstream"], str(tmp_path / "copy_of_downstream"))
    for baseline, sets, match in (
            (str(tmp_path / "nowhere"), [], "classifier.keras missing"),
            (pipeline["text"], [], r"a run on inputs \['context'\]; the baseline is a visual-only run"),
            (pipeline["visual"], [f"data.dir={other}"], "was trained on .*downstream_features, this run reads "
                                                       ".*copy_of_downstream: the baseline classifies the same")):
        assert _train(tiny["multimodal"], str(tmp_path / "bad"), f"model.baseline={baseline}", *sets) == 2
        assert re.search(match, capsys.readouterr().err), match
