"""python -m tfpipe.evaluate / export / predict on a run trained on tiny data."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfpipe.models  # noqa: F401  (registers the layers model.keras files use)
from tests.conftest import TOY_CLASSES
from tfpipe import evaluate, export, metrics, models, predict, train
from tfpipe.data import manifest as manifest_lib
from tfpipe.data.datadir import DataDir
from tfpipe.text import alphabet, quantize, tokenize
from tfpipe.training import modeling, runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXTS = ["Coach says the team will win the league match.", "Stock price and bank shares fell",
         "New planet study from the space lab", "", "UNICODE café ☕ 123"]


@pytest.fixture(scope="module")
def run_dir(tiny_data_dir, tmp_path_factory) -> str:
    model_dir = str(tmp_path_factory.mktemp("run"))
    sets = ["model.conv_features=16", "model.fc_units=32", "model.kernel_sizes=[7,3,3]",
            "model.pool_sizes=[3,0,3]", "train.epochs=2", "train.batch_size=20",
            "train.optimizer=adam", "train.learning_rate=0.003", "train.confusion_every=0",
            "train.tensorboard_filters=0"]
    argv = ["--data_dir", tiny_data_dir, "--model_dir", model_dir, "--verbose", "0"]
    for s in sets:
        argv += ["--set", s]
    assert train.main(argv) == 0
    return model_dir


def test_evaluate_writes_consistent_results(run_dir, tiny_data_dir, capsys):
    assert evaluate.main(["--model_dir", run_dir]) == 0  # data dir from the run's config
    out = capsys.readouterr().out
    assert "confusion matrix" in out and "accuracy" in out and "results.json" in out
    r = json.load(open(os.path.join(run_dir, "results.json")))
    cm = np.array(r["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == r["num_examples"] == 30
    assert r["class_names"] == TOY_CLASSES
    assert r["test_accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert r["test_error_pct"] == pytest.approx(100 * (1 - r["test_accuracy"]))
    assert r["accuracy"] == r["test_accuracy"] and r["split"] == "test"
    for i, name in enumerate(TOY_CLASSES):
        assert r["per_class_accuracy"][name] == pytest.approx(cm[i, i] / cm[i].sum())
        assert r["class_counts"][name] == cm[i].sum() == 10
    trained = json.load(open(os.path.join(run_dir, "train_results.json")))
    assert r["training_time_s"] == trained["training_time_s"]
    assert r["examples_per_sec"] == trained["examples_per_sec"]

    # The same numbers from the Keras model applied to the stored characters directly.
    m = manifest_lib.load(tiny_data_dir)
    model = keras.models.load_model(os.path.join(run_dir, "model.keras"), compile=False)
    ds = tf.data.TFRecordDataset(m.shard_paths(tiny_data_dir, "test")).batch(1000)
    from tfpipe.data import schema

    parsed = schema.parse(next(iter(ds)), m.l0)
    probs = model.predict(parsed[schema.CHARS], verbose=0)
    expected = metrics.confusion_matrix(parsed[schema.LABEL].numpy(), probs.argmax(1), 3)
    np.testing.assert_array_equal(cm, expected)
    # The loss matches Keras' own evaluation of the final validation epoch.
    assert r["test_loss"] == pytest.approx(trained["final"]["val_loss"], rel=1e-4)
    assert r["test_accuracy"] == pytest.approx(trained["final"]["val_accuracy"])


def test_evaluate_another_split_goes_to_its_own_file(run_dir):
    results, path = evaluate.evaluate(run_dir, split="train")
    assert path == os.path.join(run_dir, "results_train.json")
    assert results["num_examples"] == 120 and "train_accuracy" in results


def test_evaluate_errors(tmp_path, run_dir, capsys):
    assert evaluate.main(["--model_dir", str(tmp_path)]) == 2
    assert "is an empty directory, not a run directory" in capsys.readouterr().err
    assert evaluate.main(["--model_dir", run_dir, "--split", "dev"]) == 2
    assert "split 'dev' not in" in capsys.readouterr().err


def test_mixed_precision_run_is_evaluated_and_served_in_float32(tiny_data_dir, tmp_path):
    run = str(tmp_path / "run")
    argv = ["--data_dir", tiny_data_dir, "--model_dir", run, "--verbose", "0",
            "--set", "model.conv_features=8", "--set", "model.fc_units=16",
            "--set", "model.kernel_sizes=[7,3,3]", "--set", "model.pool_sizes=[3,0,3]",
            "--set", "train.epochs=1", "--set", "train.batch_size=20",
            "--set", "train.mixed_precision=mixed_bfloat16", "--set", "train.confusion_every=0"]
    assert train.main(argv) == 0
    trained = keras.models.load_model(os.path.join(run, "model.keras"), compile=False)
    assert trained.get_layer("conv1").compute_dtype == "bfloat16"
    cfg = runs.load_config(run)
    model = modeling.load_model(run, cfg, DataDir.open(tiny_data_dir))
    assert {layer.compute_dtype for layer in model.layers if layer.weights} == {"float32"}
    for a, b in zip(model.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert keras.config.dtype_policy().name == "float32"


def _keras_probs(run_dir: str, data_dir: str, texts: list[str]) -> np.ndarray:
    m = manifest_lib.load(data_dir)
    model = keras.models.load_model(os.path.join(run_dir, "model.keras"), compile=False)
    chars = quantize.quantize(tf.constant(texts), alphabet.get(m.alphabet), m.l0)
    return model.predict(chars, verbose=0)


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("served"))
    assert export.main(["--model_dir", run_dir, "--out", out]) == 0
    for name in ("class_names.json", "manifest.json", "config.yaml"):
        assert os.path.exists(os.path.join(out, "assets.extra", name))
    return out


def test_export_then_predict_in_a_fresh_process(exported, run_dir, tiny_data_dir, capsys):
    out = exported
    proc = subprocess.run(
        [sys.executable, "-m", "tfpipe.predict", "--model", out, "--json", *TEXTS],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["text"] for r in lines] == TEXTS
    served = np.array([[r["probabilities"][c] for c in TOY_CLASSES] for r in lines])
    expected = _keras_probs(run_dir, tiny_data_dir, TEXTS)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)
    assert [r["class_name"] for r in lines] == [TOY_CLASSES[i] for i in expected.argmax(1)]
    assert [r["class_id"] for r in lines] == list(expected.argmax(1))

    # The plain-text output names the class and every probability.
    capsys.readouterr()
    assert predict.main(["--model", out, TEXTS[0]]) == 0
    printed = capsys.readouterr().out
    assert printed.split("\t")[0] == lines[0]["class_name"]
    assert all(name in printed for name in TOY_CLASSES)


def test_serving_signature(exported):
    loaded = tf.saved_model.load(exported)
    assert set(loaded.signatures) == {"serve", "serving_default"}
    serve = loaded.signatures["serve"]
    (spec,) = serve.structured_input_signature[1].values()
    assert spec.dtype == tf.string and spec.shape.as_list() == [None]
    result = serve(text=tf.constant(["a b c", "xyz"]))
    assert result["probabilities"].dtype == tf.float32 and result["probabilities"].shape == (2, 3)
    assert result["class_id"].dtype == tf.int64 and result["class_name"].dtype == tf.string
    np.testing.assert_allclose(result["probabilities"].numpy().sum(1), 1.0, rtol=1e-5)


def test_predict_without_an_export_says_how(tmp_path, capsys):
    assert predict.main(["--model", str(tmp_path / "none"), "hello"]) == 2
    assert "python -m tfpipe.export" in capsys.readouterr().err


@pytest.fixture
def word_model(monkeypatch):
    """A test-only word model (word ids -> mean embedding -> softmax) in the registry."""

    def build(*, num_classes: int, vocab_size: int, max_words: int, dim: int = 8) -> keras.Model:
        ids = keras.Input([max_words], dtype="int64", name="word_ids")
        h = keras.layers.Embedding(vocab_size, dim, mask_zero=True)(ids)
        h = keras.layers.GlobalAveragePooling1D()(h)
        return keras.Model(ids, keras.layers.Dense(num_classes, activation="softmax")(h))

    monkeypatch.setitem(models._BUILDERS, "test_bag_of_words", build)
    monkeypatch.setitem(models._FEATURES, "test_bag_of_words", "word_ids")
    return "test_bag_of_words"


def test_word_model_export_uses_the_vocabulary(word_model, tiny_data_dir, tmp_path):
    run = str(tmp_path / "run")
    argv = ["--data_dir", tiny_data_dir, "--model_dir", run, "--verbose", "0",
            "--set", f"model.name={word_model}",
            "--set", "train.epochs=1", "--set", "train.batch_size=20", "--set", "train.optimizer=adam"]
    assert train.main(argv) == 0
    results, _ = evaluate.evaluate(run)
    assert results["num_examples"] == 30
    out = export.export(run, str(tmp_path / "served"))
    serve = tf.saved_model.load(out).signatures["serve"]
    texts = ["The team won the match today", "bank stock price"]
    served = serve(text=tf.constant(texts))["probabilities"].numpy()

    m = manifest_lib.load(tiny_data_dir)
    table = tokenize.vocab_table(DataDir(tiny_data_dir, m).vocab())
    ids = tokenize.word_ids(tf.constant(texts), table, m.max_words).to_tensor(shape=[None, m.max_words])
    assert int(tf.reduce_max(ids)) > tokenize.OOV_ID  # known words map to vocabulary ids
    model = keras.models.load_model(os.path.join(run, "model.keras"), compile=False)
    np.testing.assert_allclose(served, model.predict(ids, verbose=0), rtol=1e-5, atol=1e-6)


def test_ngram_tfidf_model_trains_evaluates_and_serves_raw_strings(tiny_data_dir, tmp_path):
    """A bag model end to end: its features are computed from text in training, evaluation and
    the exported SavedModel by the same featurizer."""
    from tfpipe.data import features

    run = str(tmp_path / "run")
    argv = ["--data_dir", tiny_data_dir, "--model_dir", run, "--verbose", "0",
            "--set", "model.name=ngrams_tfidf", "--set", "model.l2=1e-5",
            "--set", "train.epochs=3", "--set", "train.batch_size=16", "--set", "train.optimizer=adam",
            "--set", "train.learning_rate=0.05", "--set", "train.schedule=constant"]
    assert train.main(argv) == 0
    results, _ = evaluate.evaluate(run)
    assert results["feature"] == "ngrams_tfidf" and results["accuracy"] > 0.8  # topic words: easy
    out = export.export(run, str(tmp_path / "served"))
    serve = tf.saved_model.load(out).signatures["serve"]
    texts = ["The team won the match today", "bank stock price and profit", "gene study in the lab"]
    served = serve(text=tf.constant(texts))
    m = manifest_lib.load(tiny_data_dir)
    featurizer = features.make("ngrams_tfidf", DataDir(tiny_data_dir, m))
    model = keras.models.load_model(os.path.join(run, "model.keras"), compile=False)
    np.testing.assert_allclose(served["probabilities"].numpy(),
                               model.predict(featurizer(tf.constant(texts)), verbose=0), rtol=1e-5, atol=1e-6)
    assert [c.decode() for c in served["class_name"].numpy()] == ["Sports", "Business", "Science"]
