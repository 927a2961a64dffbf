"""A devise run exported and served in a fresh process on real Tiny-ImageNet JPEGs: the SavedModel's
labels are the evaluation path's (cached features -> M v -> the run's label index), and the ``unseen``
signature never returns a training label (Frome et al. 2013, section 4.2: DeViSE-0)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import shared_path
from tests.features_fixture import write_features_dir, write_word_vectors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEN, UNSEEN = 4, 2                  # classes taken from zero_shot_classes.tsv
PER = {"train": 6, "test": 2, "unseen": 3}
SIZE = 224


def _classes(root: str) -> tuple[list[str], list[str], dict[str, str]]:
    splits = {}
    with open(os.path.join(root, "zero_shot_classes.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            wnid, split = line.split()
            splits.setdefault(split, []).append(wnid)
    texts = {}
    with open(os.path.join(root, "words.txt"), encoding="utf-8") as f:
        for line in f:
            wnid, text = line.rstrip("\n").split("\t")
            texts[wnid] = text
    return splits["seen"][:SEEN], splits["unseen"][:UNSEEN], texts


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import tensorflow as tf

    from tfpipe import export
    from tfpipe.config import from_dict
    from tfpipe.data import image_pipeline
    from tfpipe.embeddings import label_vectors
    from tfpipe.models.vision.features import Extractor
    from tfpipe.tasks import resolve
    from tfpipe.training import loop

    root = shared_path("tiny_imagenet")
    seen, unseen, texts = _classes(root)
    names = seen + unseen
    files: dict[str, list[tuple[str, int]]] = {"train": [], "test": [], "unseen": []}
    for c, wnid in enumerate(names):
        images = sorted(os.listdir(os.path.join(root, "train", wnid, "images")))
        if c < SEEN:
            files["train"] += [(os.path.join(root, "train", wnid, "images", n), c) for n in images[:PER["train"]]]
            files["test"] += [(os.path.join(root, "train", wnid, "images", n), c)
                              for n in images[PER["train"]:PER["train"] + PER["test"]]]
        else:
            files["unseen"] += [(os.path.join(root, "train", wnid, "images", n), c) for n in images[:PER["unseen"]]]
    extractor = Extractor("efficientnet_lite0", SIZE, engine="keras")
    splits = {}
    for split, items in files.items():
        views = [tf.cast(image_pipeline.eval_view(tf.io.decode_jpeg(tf.io.read_file(p), channels=3), SIZE),
                         tf.uint8).numpy() for p, _ in items]
        pooled = extractor(np.stack(views))["pooled"]
        splits[split] = [(os.path.basename(p), x, c) for (p, c), x in zip(items, pooled)]
    tmp = tmp_path_factory.mktemp("devise_export")
    classes = [{"index": i, "name": w, "text": texts[w], "wnid": w, "synset": None,
                "split": "seen" if i < SEEN else "unseen"} for i, w in enumerate(names)]
    data = write_features_dir(str(tmp / "features"), names=names, classes=classes, splits=splits,
                              features={"model": "efficientnet_lite0", "image_size": SIZE, "crop_fraction": 0.875,
                                        "precision": "float32"})
    words = sorted({w for c in classes for w in label_vectors.words(c["text"])})
    vectors = write_word_vectors(str(tmp / "vectors"), words, 16)
    cfg = from_dict({
        "task": "devise", "data": {"dir": data},
        "model": {"name": "devise", "label_vectors": vectors, "label_sets": {"unseen": {"data": data, "splits": "unseen"}}},
        "train": {"epochs": 3, "batch_size": 8, "learning_rate": 0.1, "schedule": "constant"},
        "eval": {"split": "test", "batch_size": 64},
    })
    run_dir = str(tmp / "run")
    loop.run(resolve(cfg), cfg, run_dir, verbose=0)
    out = str(tmp / "export")
    assert export.main(["--model_dir", run_dir, "--out", out]) == 0
    return {"run": run_dir, "out": out, "files": files, "splits": splits, "names": names}


def _serve(out: str, images: list[str], labels: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "tfpipe.predict", "--model", out, "--json", "--labels", labels,
         *[a for p in images for a in ("--image", p)]],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_served_labels_equal_the_evaluation_path_and_unseen_never_returns_a_seen_label(exported):
    from tfpipe.tasks import devise
    from tfpipe.tasks.devise import evaluation
    from tfpipe.tasks.devise import labels as labels_lib

    with open(os.path.join(exported["out"], "assets.extra", "devise.json")) as f:
        info = json.load(f)
    assert info["signatures"] == {"seen": {"candidates": SEEN, "search": "exact"},
                                  "unseen": {"candidates": UNSEEN, "search": "exact"},
                                  "unseen_and_seen": {"candidates": SEEN + UNSEEN, "search": "exact"}}
    model = devise.load_model(exported["run"])
    _, index = labels_lib.load(exported["run"])
    for split, signature, subset in (("unseen", "unseen", "unseen"), ("test", "seen", "seen"),
                                     ("unseen", "unseen_and_seen", ["unseen", "seen"])):
        paths = [p for p, _ in exported["files"][split]]
        served = _serve(exported["out"], paths, signature)
        assert [r["image"] for r in served] == paths
        q = evaluation.embed(model, np.stack([x for _, x, _ in exported["splits"][split]]), batch_size=64)
        k = len(served[0]["labels"])
        expected = index.nearest(q, k, subset=subset)
        assert [r["labels"] for r in served] == expected.labels
        np.testing.assert_allclose([r["scores"] for r in served], expected.scores, atol=2e-4)
        if signature == "unseen":  # DeViSE-0: only zero-shot labels, whatever the image
            assert all(label.startswith("unseen/") for r in served for label in r["labels"])
            assert k == UNSEEN
    # Texts are the class table's readable names of the labels returned.
    with open(os.path.join(exported["run"], "labels.json")) as f:
        sets = json.load(f)["sets"]
    text_of = {labels_lib.label_key(n, r["name"]): r["text"] for n, s in sets.items() for r in s["labels"]}
    assert [r["texts"] for r in served] == [[text_of[k] for k in r["labels"]] for r in served]


def test_predict_names_the_valid_candidate_sets_and_refuses_a_text_model_flag_mix(exported, capsys):
    from tfpipe import predict

    image = exported["files"]["test"][0][0]
    assert predict.main(["--model", exported["out"], "--image", image, "--labels", "flowers"]) == 2
    assert "valid: seen, unseen, unseen_and_seen" in capsys.readouterr().err
    assert predict.main(["--model", exported["out"], "--image", image, "some text"]) == 2
    assert "not both" in capsys.readouterr().err
    assert predict.main(["--model", exported["out"], "--image", image + ".missing"]) == 2
    assert "no such file" in capsys.readouterr().err
    not_an_image = os.path.join(os.path.dirname(exported["out"]), "notes.jpg")
    with open(not_an_image, "w") as f:
        f.write("not an image\n")
    assert predict.main(["--model", exported["out"], "--image", image, "--image", not_an_image]) == 2
    err = capsys.readouterr().err
    assert "undecodable_image" in err and "notes.jpg" in err and "Traceback" not in err
