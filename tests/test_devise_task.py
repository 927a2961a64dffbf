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
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.data import records, schema

    root = tmp_path_factory.mktemp("devise")
    data = str(root / "features")
    os.makedirs(data)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(len(CLASSES), DIM)).astype(np.float32) * 3
    splits = {}
    for split, per in PER_CLASS.items():
        wanted = [i for i, c in enumerate(CLASSES) if (c[2] == "unseen") == (split == "unseen")]
        recs, counts = [], [0] * len(CLASSES)
        for i in wanted:
            for n in range(per):
                x = centres[i] + rng.normal(size=DIM).astype(np.float32) * 0.5
                recs.append(schema.encode_features(example_id=f"{split}/{i}/{n}", features=x, label=i))
                counts[i] += 1
        order = rng.permutation(len(recs))
        shard = records.write_shard(data, records.shard_name(split, 0, 1), [recs[j] for j in order])
        splits[split] = manifest_lib.Split(count=len(recs), class_counts=counts, shards=[shard])
    from tfpipe.data import feature_records

    outputs, view_dim = feature_records.layout({"pooled": [DIM]})
    names = [f"n{i:08d}" for i in range(len(CLASSES))]
    classes = [{"index": i, "name": names[i], "text": t, "wnid": names[i], "synset": s, "split": sp}
               for i, (t, s, sp) in enumerate(CLASSES)]
    total = sum(s.count for s in splits.values())
    manifest = manifest_lib.Manifest(
        alphabet="", alphabet_chars="", l0=0, max_words=0, vocab_file="", vocab_words=0, class_names=names,
        splits=splits, compression="",
        counts={"read": total, "written": total, "rejected": 0, "rejected_by_reason": {}, "augmented": 0},
        rejected_file="", source={"job": "tests"}, dataset="tiny_synthetic", kind=schema.KIND_FEATURES,
        classes=classes, features={"model": "none", "image_size": 0, "precision": "float32", "views": 1,
                                   "outputs": outputs, "view_dim": view_dim})
    manifest_lib.write(manifest, data)
    # A tiny skip-gram run directory: vectors.npy + words.txt.
    vectors = str(root / "vectors")
    os.makedirs(vectors)
    np.save(os.path.join(vectors, "vectors.npy"), rng.normal(size=(len(WORDS), 6)).astype(np.float32))
    with open(os.path.join(vectors, "words.txt"), "w") as f:
        f.write("".join(w + "\n" for w in WORDS))
    return {"data": data, "vectors": vectors}


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
    assert results["hit_at_k"]["1"] >= 0.6 and results["hit_at_k"]["10"] == 1.0
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
    assert [r["index"] for r in labels["labels"]] == list(range(results["candidate_classes"]))


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
