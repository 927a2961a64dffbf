"""task devise: DeViSE's score and hinge rank loss through the model the task builds, and the
three models trained through the shared loop on a tiny synthetic features directory."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tfpipe import config as config_lib
from tfpipe import tasks
from tfpipe.tasks import devise

DIM = 8
# (readable text, WordNet synset, split): the last seen class has no vector in the tiny table.
CLASSES = [
    ("goldfish, Carassius auratus", "goldfish.n.01", "seen"),
    ("Egyptian cat", "egyptian_cat.n.01", "seen"),
    ("tabby, tabby cat", "tabby.n.01", "seen"),
    ("school bus", "school_bus.n.01", "seen"),
    ("sports car, sport car", "sports_car.n.01", "seen"),
    ("zzyzx qwv", None, "seen"),
    ("tiger shark, Galeocerdo cuvieri", "tiger_shark.n.01", "unseen"),
    ("shark bus", None, "unseen"),
]
WORDS = ["goldfish", "egyptian", "cat", "tabby", "school", "bus", "sports", "car", "tiger", "shark"]
PER_CLASS = {"train": 12, "test": 4, "unseen": 4}


# --------------------------------------------------------------------------- hand-computed examples


def _model(table, kernel):
    model = devise.build_model("devise", input_dim=kernel.shape[0], num_classes=len(table),
                               label_matrix=np.asarray(table, np.float32))
    model.get_layer("projection").set_weights([np.asarray(kernel, np.float32)])
    return model


def test_score_is_t_M_v_and_the_loss_is_eq_1_on_two_classes():
    # M = identity (2-d), v = (1, 0.5); T = unit e1, e2: scores (1, 0.5).
    model = _model([[1.0, 0.0], [0.0, 1.0]], np.eye(2))
    assert [w.name for w in model.trainable_weights] == ["kernel"]  # M only: T is frozen, no bias
    v = np.array([[1.0, 0.5], [0.2, 0.25]], np.float32)
    scores = model(v).numpy()
    np.testing.assert_allclose(scores, [[1.0, 0.5], [0.2, 0.25]], rtol=1e-6)
    y = np.array([0, 0])
    # Example 1: 0.1 - 1 + 0.5 < 0 -> 0; example 2: 0.1 - 0.2 + 0.25 = 0.15.
    for form in ("full", "truncated"):
        loss = devise.hinge_loss(2, margin=0.1, form=form, seed=0)
        np.testing.assert_allclose(loss.call(y, scores).numpy(), [0.0, 0.15], atol=1e-6)
        np.testing.assert_allclose(float(loss(y, scores)), 0.075, atol=1e-6)  # batch mean


def test_three_classes_full_sum_and_truncated_first_violation():
    # M maps v (3-d) to 2-d; T rows are unit vectors; scores by hand: t_j . M v.
    kernel = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # Keras Dense: x @ kernel, i.e. M = kernel^T
    s2 = np.sqrt(0.5)
    table = [[1.0, 0.0], [0.0, 1.0], [s2, s2]]
    model = _model(table, kernel)
    v = np.array([[0.5, 0.0, 0.0], [0.3, 0.0, 0.1]], np.float32)  # M v = (0.5, 0), (0.4, 0.1)
    scores = model(v).numpy()
    expect = [[0.5, 0.0, 0.5 * s2], [0.4, 0.1, 0.5 * s2]]
    np.testing.assert_allclose(scores, expect, rtol=1e-6)
    y = np.array([0, 1])
    # Example 1 (label 0, s = .5): j=1: .1-.5+0 <0 -> 0; j=2: .1-.5+.35355 = -0.0464 -> 0.  Loss 0.
    # Example 2 (label 1, s = .1): j=0: .1-.1+.4 = .4; j=2: .1-.1+.35355 = .35355.  Full: .75355.
    full = devise.hinge_loss(3, margin=0.1, form="full", seed=0)
    np.testing.assert_allclose(full.call(y, scores).numpy(), [0.0, 0.4 + 0.5 * s2], atol=1e-6)
    # Truncated: the first violating wrong label in a random order -- either term, never the sum;
    # the orders are drawn from (seed, step), so the same step gives the same value.
    import keras

    step = keras.Variable(0, dtype="int64", trainable=False)
    seen = set()
    for k in range(12):
        truncated = devise.hinge_loss(3, margin=0.1, form="truncated", seed=k)
        truncated.attach(step)
        out = truncated.call(y, scores).numpy()
        assert out[0] == 0.0
        assert min(abs(out[1] - 0.4), abs(out[1] - 0.5 * s2)) < 1e-6
        np.testing.assert_allclose(truncated.call(y, scores).numpy(), out)
        seen.add(round(float(out[1]), 5))
    assert seen == {0.4, round(0.5 * s2, 5)}


# --------------------------------------------------------------------------- synthetic data


@pytest.fixture(scope="module")
def features_dir(tmp_path_factory):
    from tests.features_fixture import write_features_dir, write_word_vectors

    root = tmp_path_factory.mktemp("devise")
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(len(CLASSES), DIM)).astype(np.float32) * 3
    splits = {}
    for split, per in PER_CLASS.items():
        wanted = [i for i, c in enumerate(CLASSES) if (c[2] == "unseen") == (split == "unseen")]
        splits[split] = [(f"{split}/{i}/{n}", centres[i] + rng.normal(size=DIM).astype(np.float32) * 0.5, i)
                         for i in wanted for n in range(per)]
    names = [f"n{i:08d}" for i in range(len(CLASSES))]
    classes = [{"index": i, "name": names[i], "text": t, "wnid": names[i], "synset": s, "split": sp}
               for i, (t, s, sp) in enumerate(CLASSES)]
    data = write_features_dir(str(root / "features"), names=names, classes=classes, splits=splits,
                              features={"model": "none", "image_size": 0, "precision": "float32"})
    return {"data": data, "vectors": write_word_vectors(str(root / "vectors"), WORDS, 6)}


def _cfg(features_dir, model, **train):
    return config_lib.from_dict({
        "task": "devise", "data": {"dir": features_dir["data"]}, "model": model,
        "train": {"epochs": 2, "batch_size": 16, "learning_rate": 0.1, "schedule": "constant", **train},
        "eval": {"split": "test", "batch_size": 64},
    })


@pytest.mark.parametrize("model", [
    {"name": "devise_softmax"},
    {"name": "devise", "loss_form": "truncated"},
    {"name": "devise_random", "dim": 5, "loss_form": "full"},
    {"name": "devise_softmax", "classes_with_vectors": True},
])
def test_each_model_trains_through_the_shared_loop_and_writes_results(features_dir, tmp_path, model):
    from tfpipe.training import loop

    if model["name"] == "devise":
        model = {**model, "label_vectors": features_dir["vectors"]}
    if model.get("classes_with_vectors"):  # the softmax ranks the devise run's candidates
        model = {**model, "classes_with_vectors": features_dir["vectors"]}
    cfg = _cfg(features_dir, model)
    run_dir = str(tmp_path / "run")
    task = tasks.resolve(cfg)
    assert task.name == "devise"
    train = loop.run(task, cfg, run_dir, verbose=0)
    assert train["epochs_run"] == 2 and train["training_time_s"] > 0
    with open(os.path.join(run_dir, "results.json")) as f:
        results = json.load(f)
    assert results["model"] == model["name"] and results["split"] == "test"
    assert set(results["hit_at_k"]) == {"1", "2", "5", "10"}
    assert set(results["hierarchical_precision_at_k"]) == {"2", "5"}  # 10, 20 > the candidates
    if model["name"] == "devise" or model.get("classes_with_vectors"):
        # "zzyzx qwv" has no vector: out of the candidates, its images out of train and test.
        assert results["candidate_classes"] == 5 and results["uncovered_classes"] == ["zzyzx qwv"]
        assert results["images_left_out"] == {"n00000005": PER_CLASS["test"]}
        assert train["images_left_out"]["train"] == {"n00000005": PER_CLASS["train"]}
        assert train["uncovered_classes"] == ["zzyzx qwv"]
        assert features_dir["vectors"] in (train["label_vectors"], train["classes_with_vectors"])
        assert results["partial_classes"] == []
    else:
        assert results["candidate_classes"] == 6 and results["uncovered_classes"] == []
    # Well-separated clusters: every model learns them in two epochs far above chance (1/5, 1/6);
    # hit@10 covers every candidate.
    assert results["hit_at_k"]["1"] >= 0.5 and results["hit_at_k"]["10"] == 1.0
    assert results["hierarchical_precision_at_k"]["2"] > 0.4
    assert results["num_examples"] == results["candidate_classes"] * PER_CLASS["test"]
    # python -m tfpipe.evaluate reloads model.keras and gives the same figures.
    from tfpipe import evaluate

    again, path = evaluate.evaluate(run_dir)
    assert path.endswith("results.json")
    assert again["hit_at_k"] == pytest.approx(results["hit_at_k"])
    assert again["hierarchical_precision_at_k"] == pytest.approx(results["hierarchical_precision_at_k"])
    with open(os.path.join(run_dir, "labels.json")) as f:
        labels = json.load(f)
    assert [r["index"] for r in labels["sets"]["seen"]["labels"]] == list(range(results["candidate_classes"]))
    assert "zero_shot" not in results  # no model.label_sets
    # TensorBoard extras: the mistakes image always; the projector with the label vectors where there are any.
    logs = os.path.join(run_dir, "logs")
    assert os.listdir(os.path.join(logs, "mistakes"))
    has_vectors = model["name"] != "devise_softmax" or "label_vectors" in model
    assert os.path.exists(os.path.join(logs, "projector", "projector_config.pbtxt")) == has_vectors
    if model["name"] != "devise_softmax":
        from tfpipe.training import projector

        rows = projector.read_metadata_tsv(os.path.join(logs, "projector", "image_embeddings.tsv"))
        assert len(rows) == results["num_examples"] and {r["kind"] for r in rows} == {"image"}


# --------------------------------------------------------------------------- errors


def test_unknown_models_keys_and_missing_vectors_are_clear_errors(features_dir, tmp_path):
    task = tasks.get("devise")
    assert task.record_kind == "features" and set(task.model_names()) == set(devise.MODELS)
    assert not set(devise.MODELS) & set(tasks.get("classification").model_names())
    with pytest.raises(config_lib.ConfigError, match=r"does not train model.name='devise_svm'.*"
                                                      r"devise_softmax, devise, devise_random"):
        task.check(_cfg(features_dir, {"name": "devise_svm"}))
    with pytest.raises(config_lib.ConfigError, match=r"model devise needs model.label_vectors.*devise_random"):
        task.check(_cfg(features_dir, {"name": "devise"}))
    missing = str(tmp_path / "no_such_run")
    task.check(_cfg(features_dir, {"name": "devise", "label_vectors": missing}))  # keys are fine...
    with pytest.raises(config_lib.ConfigError, match=r"no_such_run.*does not exist"):
        devise.require_vectors(_cfg(features_dir, {"name": "devise", "label_vectors": missing}))
    with pytest.raises(config_lib.ConfigError, match=r"model.loss_form='sum'; valid forms: truncated, full"):
        task.check(_cfg(features_dir, {"name": "devise_random", "loss_form": "sum"}))
    with pytest.raises(config_lib.ConfigError, match=r"unknown key\(s\) for model 'devise_softmax': margin; "
                                                      r"valid keys: name, optimizer"):
        task.check(_cfg(features_dir, {"name": "devise_softmax", "margin": 0.2}))
    with pytest.raises(config_lib.ConfigError, match=r"model.optimizer='adadelta'; valid optimizers: adagrad"):
        task.check(_cfg(features_dir, {"name": "devise_softmax", "optimizer": "adadelta"}))
    with pytest.raises(config_lib.ConfigError, match=r"train.optimizer='adam' is not read.*model.optimizer"):
        task.check(_cfg(features_dir, {"name": "devise_softmax"}, optimizer="adam"))
    task.check(_cfg(features_dir, {"name": "devise_random", "optimizer": "sgd"}))  # fine


def test_a_data_dir_of_another_kind_is_refused(features_dir, tmp_path):
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.training import datasets

    other = str(tmp_path / "text")
    os.makedirs(other)
    m = manifest_lib.load(features_dir["data"])
    import dataclasses

    manifest_lib.write(dataclasses.replace(m, kind="text"), other)
    cfg = _cfg(features_dir, {"name": "devise_softmax"})
    cfg.data.dir = other
    with pytest.raises(datasets.DataError, match=r"holds 'text' records; task 'devise' reads 'features'"):
        tasks.get("devise").open_data(cfg)


# --------------------------------------------------------------------------- zero-shot (Table 2)


def _zero_shot_run(features_dir, tmp_path, name):
    from tfpipe.training import loop

    model = {"name": name, "label_vectors": features_dir["vectors"],
             "label_sets": {"unseen": {"data": features_dir["data"], "splits": "unseen"}}}
    if name == "devise":
        model["loss_form"] = "full"
    cfg = _cfg(features_dir, model)
    run_dir = str(tmp_path / name)
    loop.run(tasks.resolve(cfg), cfg, run_dir, verbose=0)
    with open(os.path.join(run_dir, "results.json")) as f:
        return run_dir, json.load(f)


def test_zero_shot_sets_rank_the_unseen_images_against_their_own_labels_and_with_the_seen(features_dir, tmp_path):
    from tfpipe.tasks.devise import labels as labels_lib

    run_dir, results = _zero_shot_run(features_dir, tmp_path, "devise")
    zs = results["zero_shot"]["unseen"]
    n_unseen = 2 * PER_CLASS["unseen"]
    assert zs["images"] == n_unseen and zs["candidates"] == 2 and zs["splits"] == ["unseen"]
    assert zs["classes_without_synset"] == ["shark bus"]
    rows = zs["rows"]
    assert set(rows) == {"DeViSE-0", "DeViSE+seen"}
    assert rows["DeViSE-0"]["candidates"] == 2 and rows["DeViSE+seen"]["candidates"] == 2 + 5
    # Two candidates: hit@2 (and beyond) is every image; chance is k / C exactly.
    assert rows["DeViSE-0"]["hit_at_k"]["2"] == 1.0 and rows["DeViSE-0"]["hit_at_k"]["20"] == 1.0
    assert zs["chance"]["-0"]["hit_at_k"] == {"1": 0.5, "2": 1.0, "5": 1.0, "10": 1.0, "20": 1.0}
    assert zs["chance"]["+seen"]["hit_at_k"]["1"] == pytest.approx(1 / 7)
    assert set(rows["DeViSE+seen"]["hierarchical_precision_at_k"]) == {"1", "2", "5"}  # k <= 7 candidates
    # One label index, a subset per candidate set, saved with the run; its keys name the set.
    sets, index = labels_lib.load(run_dir)
    assert set(index.subsets) == {"seen", "unseen"}
    assert index.subsets["unseen"] == ["unseen/n00000006", "unseen/n00000007"]
    assert len(index.subsets["seen"]) == 5 and all(k.startswith("seen/") for k in index.subsets["seen"])
    np.testing.assert_allclose(np.linalg.norm(sets["unseen"].matrix, axis=1), 1.0, rtol=1e-5)


def test_the_softmax_baseline_has_zero_hits_on_unseen_labels_and_conse_ranks_them(features_dir, tmp_path):
    _, results = _zero_shot_run(features_dir, tmp_path, "devise_softmax")
    rows = results["zero_shot"]["unseen"]["rows"]
    assert set(rows) == {"softmax", "ConSE(T=10)-0", "ConSE(T=10)+seen"}
    # The softmax names only training labels: no zero-shot hit at any k, by construction.
    assert all(v == 0.0 for v in rows["softmax"]["hit_at_k"].values())
    assert rows["softmax"]["candidates"] == 7
    assert rows["ConSE(T=10)-0"]["hit_at_k"]["2"] == 1.0  # two candidates


def test_conse_is_the_probability_weighted_mean_of_the_top_t_label_vectors():
    from tfpipe.tasks.devise import evaluation

    m = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]], np.float32)
    # T = 2: image 1 -> (0.5 e1 + 0.3 e2) / 0.8 = (0.625, 0.375); image 2 -> (0.7 m3 + 0.2 e2) / 0.9.
    out = evaluation.conse_embedding(p, m, 2)
    np.testing.assert_allclose(out, [[0.625, 0.375], [0.42 / 0.9, (0.56 + 0.2) / 0.9]], rtol=1e-6)
    np.testing.assert_allclose(evaluation.conse_embedding(p, m, 3), p @ m, rtol=1e-6)  # T = C: the full mean
    with pytest.raises(ValueError, match="do not match"):
        evaluation.conse_embedding(p, m[:2], 2)


def test_ranked_scores_keep_the_index_answer_and_never_a_label_outside_the_candidates():
    from tfpipe.index import LabelIndex
    from tfpipe.tasks.devise import evaluation

    keys = ["seen/a", "seen/b", "zs/c", "zs/d"]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0], [0, 0, 1]], np.float32)
    index = LabelIndex(keys, vectors, subsets={"seen": keys[:2], "zs": keys[2:]})
    q = np.array([[1, 0, 0], [0, 0.2, 1]], np.float32)
    s = evaluation.ranked_scores(index, q, index.subsets["zs"], k=1)
    # Query 1 is nearest seen/a, but only zs labels may answer: zs/c (cosine .9939), zs/d -inf.
    assert s.shape == (2, 2) and np.isneginf(s[0, 1]) and np.isneginf(s[1, 0])
    np.testing.assert_allclose([s[0, 0], s[1, 1]], [0.9 / np.hypot(0.9, 0.1), 1 / np.hypot(0.2, 1)], rtol=1e-5)


def test_a_synset_shared_by_a_zero_shot_and_a_training_class_is_one_node():
    from tfpipe.tasks.devise import evaluation

    graph, dropped = evaluation.hierarchy(["tabby.n.01", None, "egyptian_cat.n.01", "tabby.n.01"])
    assert dropped == [3] and (3, 3) in graph and (1, 1) in graph


def test_label_sets_are_checked(features_dir, tmp_path):
    task = tasks.get("devise")
    vec = features_dir["vectors"]
    with pytest.raises(config_lib.ConfigError, match=r"label_sets needs model.label_vectors"):
        task.check(_cfg(features_dir, {"name": "devise_softmax", "label_sets": {"u": features_dir["data"]}}))
    with pytest.raises(config_lib.ConfigError, match=r"label_sets.u: unknown key\(s\) split; valid keys: data, splits"):
        task.check(_cfg(features_dir, {"name": "devise", "label_vectors": vec,
                                       "label_sets": {"u": {"data": features_dir["data"], "split": "x"}}}))
    with pytest.raises(config_lib.ConfigError, match=r"'seen' is not a valid set name"):
        task.check(_cfg(features_dir, {"name": "devise", "label_vectors": vec,
                                       "label_sets": {"seen": features_dir["data"]}}))
    missing = {"u": {"data": str(tmp_path / "nothing")}}
    cfg = _cfg(features_dir, {"name": "devise", "label_vectors": vec, "label_sets": missing})
    task.check(cfg)  # the data is checked when the run starts
    with pytest.raises(config_lib.ConfigError, match=r"model.label_sets.u: .*nothing"):
        devise.require_vectors(cfg)


# --------------------------------------------------------------------------- stage 2: the visual top


def test_the_visual_top_continues_the_full_model_from_its_stride16_map():
    import keras

    from tfpipe.models import vision

    full = vision.build("efficientnet_lite0", image_size=32, outputs=("stride16", "pooled"), trainable="frozen")
    top = vision.top("efficientnet_lite0", tap="stride16", image_size=32)
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype(np.float32)
    out = full(images)
    np.testing.assert_allclose(np.asarray(top(out["stride16"])), np.asarray(out["pooled"]), atol=1e-5)
    kinds = {type(layer).__name__ for layer in top.layers if layer.trainable_weights}
    assert "BatchNormalization" not in kinds and "Conv2D" in kinds and "DepthwiseConv2D" in kinds
    assert all(not w.trainable for layer in top.layers if isinstance(layer, keras.layers.BatchNormalization)
               for w in layer.weights)
    with pytest.raises(ValueError, match=r"valid|one of"):
        vision.top("efficientnet_lite0", tap="stride32")


def test_stage_2_fine_tunes_the_top_from_cached_maps_starting_from_the_stage_1_projection(tmp_path):
    from tests.features_fixture import write_features_dir, write_word_vectors
    from tfpipe.training import loop

    rng = np.random.default_rng(1)
    shape, pooled = [2, 2, 112], 1280  # stride16 at 32 px, EfficientNet-Lite0
    texts = ["goldfish", "tabby cat", "school bus"]
    centres = rng.normal(size=(3, int(np.prod(shape)))).astype(np.float32)
    splits = {s: [(f"{s}/{c}/{n}", np.concatenate([np.maximum(centres[c] + rng.normal(size=centres.shape[1]) * 0.3, 0),
                                                   rng.normal(size=pooled)]).astype(np.float32), c)
                  for c in range(3) for n in range(per)] for s, per in (("train", 6), ("test", 2))}
    names = [f"n{i}" for i in range(3)]
    classes = [{"index": i, "name": names[i], "text": t, "synset": None} for i, t in enumerate(texts)]
    data = write_features_dir(str(tmp_path / "features"), names=names, classes=classes, splits=splits,
                              features={"model": "efficientnet_lite0", "image_size": 32, "crop_fraction": 0.875,
                                        "precision": "float32"}, outputs={"stride16": shape, "pooled": [pooled]})
    vectors = write_word_vectors(str(tmp_path / "vectors"), ["goldfish", "tabby", "cat", "school", "bus"], 6)

    def cfg(model, epochs):
        return config_lib.from_dict({"task": "devise", "data": {"dir": data}, "model": model,
                                     "train": {"epochs": epochs, "batch_size": 6, "learning_rate": 0.01,
                                               "schedule": "constant"}, "eval": {"split": "test", "batch_size": 64}})

    stage1 = str(tmp_path / "stage1")
    loop.run(tasks.resolve(c := cfg({"name": "devise", "label_vectors": vectors}, 1)), c, stage1, verbose=0)
    stage2_cfg = cfg({"name": "devise", "label_vectors": vectors, "visual_top": "stride16", "init_from": stage1}, 1)
    # Before training: the stage-1 projection is copied; the top holds ImageNet weights.
    model = devise.build_model("devise", input_dim=int(np.prod(shape)), num_classes=3,
                               label_matrix=np.eye(3, 6, dtype=np.float32),
                               visual_top=devise.visual_top_spec(stage2_cfg, tasks.get("devise").open_data(stage2_cfg)))
    assert devise.init_head(model, stage1) == ["projection"]
    np.testing.assert_array_equal(model.get_layer("projection").get_weights()[0],
                                  devise.load_model(stage1).get_layer("projection").get_weights()[0])
    stage2 = str(tmp_path / "stage2")
    train = loop.run(tasks.resolve(stage2_cfg), stage2_cfg, stage2, verbose=0)
    assert train["epochs_run"] == 1 and train["params"] > 2_000_000  # the top's 2.7 M weights take part
    with open(os.path.join(stage2, "results.json")) as f:
        first = json.load(f)
    assert first["num_examples"] == 6
    # A fresh process loads the saved stage-2 model (its visual top's custom initializers) and
    # evaluates it to the same figures.
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-m", "tfpipe.evaluate", "--model_dir", stage2], cwd=repo,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(stage2, "results.json")) as f:
        assert json.load(f)["hit_at_k"] == pytest.approx(first["hit_at_k"])
    bad = cfg({"name": "devise", "label_vectors": vectors, "visual_top": "stride8"}, 1)
    with pytest.raises(config_lib.ConfigError, match=r"visual_top='stride8'; valid: stride16"):
        tasks.get("devise").check(bad)


def test_the_gradient_of_eq_1_with_respect_to_M_is_the_sum_over_violators_by_hand():
    import keras
    import tensorflow as tf

    kernel = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # Keras Dense: x @ kernel, i.e. M = kernel^T
    s2 = np.sqrt(0.5)
    table = np.array([[1.0, 0.0], [0.0, 1.0], [s2, s2]])
    model = _model(table, kernel)
    v = np.array([[0.5, 0.0, 0.0], [0.3, 0.0, 0.1]], np.float32)
    y = np.array([0, 1])
    # Example 1 violates nothing.  Example 2 (label 1): both wrong labels violate, so
    # d loss_2 / d kernel = v_2 (t_0 - t_1)^T + v_2 (t_2 - t_1)^T; the batch mean halves it.
    v2 = v[1][:, None]
    expect_full = (v2 @ (table[0] - table[1])[None] + v2 @ (table[2] - table[1])[None]) / 2
    step = keras.Variable(0, dtype="int64", trainable=False)
    kernel_var = model.get_layer("projection").kernel
    for form, seed in (("full", 0),) + tuple(("truncated", k) for k in range(6)):
        loss = devise.hinge_loss(3, margin=0.1, form=form, seed=seed)
        loss.attach(step)
        with tf.GradientTape() as tape:
            value = loss(y, model(v))
        grad = tape.gradient(value, kernel_var).numpy()
        if form == "full":
            np.testing.assert_allclose(grad, expect_full, atol=1e-6)
        else:  # one violator, whichever the order visits first
            options = [v2 @ (table[j] - table[1])[None] / 2 for j in (0, 2)]
            assert min(np.abs(grad - o).max() for o in options) < 1e-6
