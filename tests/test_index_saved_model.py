"""Exported SavedModels, loaded in a fresh process, give the in-process index's neighbours."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from tfpipe import index

# Runs in a fresh interpreter: tfpipe.index with the exact engine does not load ScaNN (also
# tests/test_index.py::test_import_does_not_load_scann, slow), plain TensorFlow loads the exact
# export first (no ScaNN needed), then `import scann` registers ScaNN's ops and the ScaNN
# export is loaded.  Outputs go to .npy files.
FRESH = """
import sys, numpy as np, tensorflow as tf
from tfpipe import index
idx = index.build(np.eye(3, dtype=np.float32), engine="exact"); idx.search(np.eye(3)[0], 1)
assert "scann" not in sys.modules, "tfpipe.index with the exact engine imported scann"
root = sys.argv[1]
queries = tf.constant(np.load(root + "/queries.npy"))
for name in ("exact", "scann"):
    if name == "scann":
        assert "scann" not in sys.modules
        import scann  # registers the Scann>* ops
    model = tf.saved_model.load(root + "/" + name)
    serve = model.signatures["serving_default"]
    spec = serve.structured_input_signature[1]["queries"]
    assert spec.dtype == tf.float32 and spec.shape.as_list() == [None, queries.shape[1]], spec
    out = serve(queries=queries)
    np.save(root + f"/{name}_ids.npy", out["ids"].numpy())
    np.save(root + f"/{name}_scores.npy", out["scores"].numpy())
    np.save(root + f"/{name}_labels.npy", np.array([[b.decode() for b in row] for row in out["labels"].numpy()]))
print("ok")
"""


def test_saved_models_in_a_fresh_process_match_the_index(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, 16)).astype(np.float32)
    x = (centres[rng.integers(0, 30, 2500)] + 0.3 * rng.normal(size=(2500, 16))).astype(np.float32)
    queries = (centres[rng.integers(0, 30, 40)] + 0.3 * rng.normal(size=(40, 16))).astype(np.float32)
    labels = [f"item{i}" for i in range(len(x))]
    indexes = {
        "exact": index.build(x, labels, engine="exact", metric="dot"),
        "scann": index.build(x, labels, engine="scann", metric="cosine"),  # tree + hashing + reordering
    }
    assert indexes["scann"].params["num_leaves"] == 50
    expected = {}
    for name, idx in indexes.items():
        info = index.export_saved_model(idx, str(tmp_path / name), k=7)
        assert info["needs_scann_ops"] == (name == "scann")
        assert json.loads((tmp_path / name / "tfpipe_index.json").read_text())["k"] == 7
        expected[name] = idx.search(queries, 7)
    np.save(tmp_path / "queries.npy", queries)

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout's tfpipe
    done = subprocess.run([sys.executable, "-c", FRESH, str(tmp_path)], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
    for name, res in expected.items():
        ids = np.load(tmp_path / f"{name}_ids.npy")
        assert ids.dtype == np.int64 and ids.shape == (40, 7)
        np.testing.assert_array_equal(ids, res.ids)
        np.testing.assert_allclose(np.load(tmp_path / f"{name}_scores.npy"), res.scores, rtol=1e-5, atol=1e-5)
        assert np.load(tmp_path / f"{name}_labels.npy").tolist() == res.labels


def test_load_saved_model_registers_scann_ops_and_serves_in_process(tmp_path):
    x = np.array([[10, 0], [0, 1], [1, 1], [-1, 0]], dtype=np.float32)
    idx = index.build(x, ["a", "b", "c", "d"], engine="scann", metric="cosine")
    index.export_saved_model(idx, str(tmp_path), k=2)
    model = index.load_saved_model(str(tmp_path))
    out = model.signatures["serving_default"](queries=np.array([[1.0, 0.5]], dtype=np.float32))
    assert out["ids"].numpy().tolist() == [[2, 0]]  # cosine 0.948683, 0.894427 (hand-computed)
    np.testing.assert_allclose(out["scores"].numpy(), [[0.948683, 0.894427]], rtol=1e-5)
    assert out["labels"].numpy().tolist() == [[b"c", b"a"]]
