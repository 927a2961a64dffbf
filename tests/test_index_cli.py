"""`python -m tfpipe.index build|search|evaluate|export` (main(argv) in process, one real subprocess)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfpipe.index.__main__ import main, parse_params


def clustered(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(20, d)).astype(np.float32)
    return (c[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture
def words_file(tmp_path) -> str:
    """A word2vec text file: two clear groups of words (animals, vehicles)."""
    from tfpipe.embeddings import word2vec_format

    words = ["cat", "dog", "kitten", "puppy", "car", "truck", "bus", "van"]
    vectors = np.array(
        [[1, 0.1, 0], [0.9, 0.3, 0], [1, 0.2, 0.05], [0.8, 0.4, 0], [0, 0.1, 1], [0, 0.2, 0.9], [0.1, 0, 1], [0, 0.3, 1]],
        dtype=np.float32,
    )
    path = str(tmp_path / "vectors.txt")
    word2vec_format.save(path, words, vectors, binary=False)
    return path


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_parse_params():
    assert parse_params(["num_leaves=20", "reorder_k=null", "scoring=ah", "x=0.5"]) == {
        "num_leaves": 20, "reorder_k": None, "scoring": "ah", "x": 0.5,
    }
    with pytest.raises(ValueError, match="expected key=value"):
        parse_params(["num_leaves"])


def test_build_search_npy_with_labels(tmp_path, capsys):
    vectors = np.array([[10, 0], [0, 1], [1, 1], [-1, 0]], dtype=np.float32)
    np.save(tmp_path / "v.npy", vectors)
    (tmp_path / "labels.txt").write_text("a\nb\nc\nd\n")
    out_dir = str(tmp_path / "idx")
    code, out, _ = run(capsys, ["build", "--vectors", str(tmp_path / "v.npy"), "--labels", str(tmp_path / "labels.txt"),
                                "--out", out_dir, "--engine", "exact", "--metric", "cosine"])
    assert code == 0
    info = json.loads(out)
    assert (info["engine"], info["metric"], info["count"], info["dim"], info["labels_kind"]) == ("exact", "cosine", 4, 2, "labels")
    np.save(tmp_path / "q.npy", np.array([1.0, 0.5], dtype=np.float32))
    code, out, _ = run(capsys, ["search", "--index", out_dir, "--vector", str(tmp_path / "q.npy"), "--k", "3"])
    assert code == 0
    # cosine: c 0.948683, a 0.894427, b 0.447214 (hand-computed)
    assert [line.split() for line in out.splitlines()] == [["1", "0.94868", "c"], ["2", "0.89443", "a"], ["3", "0.44721", "b"]]
    (tmp_path / "cand.txt").write_text("b\nd\n")
    code, out, _ = run(capsys, ["search", "--index", out_dir, "--vector", str(tmp_path / "q.npy"), "--k", "2",
                                "--candidates", str(tmp_path / "cand.txt"), "--json"])
    assert code == 0 and json.loads(out)["labels"] == ["b", "d"]


def test_text_search_on_word_vectors(tmp_path, capsys, words_file):
    out_dir = str(tmp_path / "words")
    code, out, _ = run(capsys, ["build", "--vectors", words_file, "--out", out_dir, "--metric", "cosine"])
    assert code == 0 and json.loads(out)["labels_kind"] == "words"
    code, out, err = run(capsys, ["search", "--index", out_dir, "--text", "Cat and kitten", "--k", "2", "--json"])
    assert code == 0, err
    answer = json.loads(out)
    assert answer["words"] == ["cat", "kitten"] and answer["labels"] == ["dog", "puppy"]  # query words left out
    assert "and" in err  # unknown words are reported
    # an index whose labels are not words refuses text
    np.save(tmp_path / "v.npy", np.eye(3, dtype=np.float32))
    run(capsys, ["build", "--vectors", str(tmp_path / "v.npy"), "--out", str(tmp_path / "plain"), "--engine", "exact"])
    code, _, err = run(capsys, ["search", "--index", str(tmp_path / "plain"), "--text", "cat"])
    assert code == 2 and "text queries need an index of word vectors" in err


def test_evaluate_prints_one_json_line(tmp_path, capsys):
    x = clustered(3000, 16)
    q = clustered(100, 16, seed=0)[:100] + 0.01
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q.astype(np.float32))
    for engine in ("exact", "scann"):
        out_dir = str(tmp_path / engine)
        assert run(capsys, ["build", "--vectors", str(tmp_path / "x.npy"), "--out", out_dir, "--engine", engine])[0] == 0
        code, out, _ = run(capsys, ["evaluate", "--index", out_dir, "--queries", str(tmp_path / "q.npy"), "--k", "10"])
        assert code == 0 and len(out.splitlines()) == 1
        result = json.loads(out)
        assert {"recall_at_k", "qps", "exact_qps"} <= set(result) and result["queries"] == 100
        assert result["qps"] > 0 and result["exact_qps"] > 0
        if engine == "exact":
            assert result["recall_at_k"] == 1.0
        else:
            assert result["recall_at_k"] >= 0.95


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    np.save(tmp_path / "v.npy", np.eye(4, dtype=np.float32))
    code, _, err = run(capsys, ["build", "--vectors", str(tmp_path / "v.npy"), "--out", str(tmp_path / "i"),
                                "--param", "leaves=3"])
    assert code == 2 and "unknown scann parameter(s) ['leaves']" in err
    (tmp_path / "labels.txt").write_text("a\nb\n")
    code, _, err = run(capsys, ["build", "--vectors", str(tmp_path / "v.npy"), "--labels", str(tmp_path / "labels.txt"),
                                "--out", str(tmp_path / "i")])
    assert code == 2 and "2 labels for 4 vectors" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--vectors", str(tmp_path / "v.npy"), "--out", str(tmp_path / "i"), "--engine", "faiss"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'faiss'" in capsys.readouterr().err
    run(capsys, ["build", "--vectors", str(tmp_path / "v.npy"), "--out", str(tmp_path / "i"), "--engine", "exact"])
    np.save(tmp_path / "q.npy", np.ones((1, 4), dtype=np.float32))
    code, _, err = run(capsys, ["search", "--index", str(tmp_path / "i"), "--vector", str(tmp_path / "q.npy")])
    assert code == 2 and "k=10 is larger than the index (4 vectors)" in err
    np.save(tmp_path / "q.npy", np.ones((1, 3), dtype=np.float32))
    code, _, err = run(capsys, ["search", "--index", str(tmp_path / "i"), "--vector", str(tmp_path / "q.npy"), "--k", "2"])
    assert code == 2 and "dimension mismatch" in err
    code, _, err = run(capsys, ["search", "--index", str(tmp_path / "nowhere"), "--vector", str(tmp_path / "q.npy")])
    assert code == 2 and "no such file or directory, expected an index directory" in err


def test_module_entry_point_build_and_export(tmp_path):
    """The real `python -m tfpipe.index` in a subprocess: build a ScaNN index, then export it."""
    np.save(tmp_path / "x.npy", clustered(500, 8))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-m", "tfpipe.index"]
    script = (
        "import sys; from tfpipe.index.__main__ import main; "
        f"a = main(['build', '--vectors', {str(tmp_path / 'x.npy')!r}, '--out', {str(tmp_path / 'idx')!r}]); "
        f"b = main(['export', '--index', {str(tmp_path / 'idx')!r}, '--out', {str(tmp_path / 'sm')!r}, '--k', '3']); "
        "sys.exit(a or b)"
    )
    # one interpreter for both commands (TensorFlow starts once), then `-m` itself for --help
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["engine"] == "scann" and lines[0]["count"] == 500
    assert lines[1]["needs_scann_ops"] and os.path.exists(tmp_path / "sm" / "saved_model.pb")
    helped = subprocess.run(cmd + ["--help"], capture_output=True, text=True, env=env, timeout=300)
    assert helped.returncode == 0 and "build" in helped.stdout and "evaluate" in helped.stdout
