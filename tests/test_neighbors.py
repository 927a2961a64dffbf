"""python -m tfpipe.neighbors: nearest terms by cosine, from every vector source, and clear errors."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from tfpipe import neighbors as nb
from tfpipe.embeddings import word2vec_format

WORDS = ["a", "b", "c", "d", "e"]
VECTORS = np.array([[1, 0], [2, 0.2], [0, 1], [-1, 0], [0, 0]], np.float32)
COS_AB = 2 / math.sqrt(4.04)


def _index(words=WORDS, vectors=VECTORS, engine="exact"):
    return nb.word_index(words, vectors, engine=engine)


def test_nearest_by_cosine_without_the_query_itself():
    found = nb.neighbors(_index(), ["a"], k=3)["a"]
    # b is nearest; c and e both have cosine 0 (e is the zero vector): the lower row first.
    assert [n.word for n in found] == ["b", "c", "e"]
    assert found[0].score == pytest.approx(COS_AB, rel=1e-6)
    assert found[1].score == pytest.approx(0.0, abs=1e-6)
    last = nb.neighbors(_index(), ["a"], k=4)["a"][-1]
    assert last.word == "d" and last.score == pytest.approx(-1.0)


def test_several_words_and_case_folding():
    found = nb.neighbors(_index(), ["A", "c"], k=1)
    assert list(found) == ["A", "c"]
    assert found["A"][0].word == "b"  # 'A' is not in the vocabulary, its case-folded 'a' is
    assert found["c"][0].word == "b"  # cos(c, b) = 0.2 / |b| > 0 = cos(c, a) = cos(c, d) = cos(c, e)


def test_a_phrase_is_the_mean_of_its_unit_vectors():
    # "a c": (1, 0) and (0, 1) -> (1, 1)/sqrt 2; a and c themselves are left out.
    found = nb.neighbors(_index(), ["a c"], k=3)["a c"]
    assert [n.word for n in found] == ["b", "e", "d"]
    assert found[0].score == pytest.approx(2.2 / math.sqrt(2) / math.sqrt(4.04), rel=1e-5)
    assert found[2].score == pytest.approx(-1 / math.sqrt(2), rel=1e-5)


def test_a_multi_word_label_is_looked_up_whole_and_phrases_need_word_vectors():
    from tfpipe import index

    labels = ["tiger shark", "b", "c", "d", "e"]
    idx = index.build(VECTORS, labels, engine="exact", metric="cosine")  # labels, not words
    assert nb.neighbors(idx, ["tiger shark"], k=1)["tiger shark"][0].word == "b"
    with pytest.raises(ValueError, match="text queries need an index of word vectors"):
        nb.neighbors(idx, ["b c"], k=1)


def test_unknown_words_list_close_spellings():
    idx = _index(["apple", "apply", "banana", "cherry"], np.eye(4, dtype=np.float32))
    with pytest.raises(nb.UnknownWordError) as info:
        nb.neighbors(idx, ["appel", "cherry", "zzzzzz"], k=1)
    assert info.value.suggestions == {"appel": ["apple", "apply"], "zzzzzz": []}
    message = str(info.value)
    assert "not in the vocabulary of 4 words" in message and "'appel' (closest: apple, apply)" in message
    assert "'zzzzzz' (no close spelling)" in message
    with pytest.raises(nb.UnknownWordError, match="'shark'"):  # a phrase names its unknown word
        nb.neighbors(idx, ["apple shark"], k=1)


def test_k_is_checked():
    with pytest.raises(ValueError, match=r"k=5 but the vocabulary has 5 words \(4 besides the query\)"):
        nb.neighbors(_index(), ["a"], k=5)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        nb.neighbors(_index(), ["a"], k=0)


# --------------------------------------------------------------------------- the command line


def _run(capsys, *argv):
    code = nb.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("suffix", [".bin", ".txt"])
def test_cli_reads_word2vec_files(tmp_path, capsys, suffix):
    path = str(tmp_path / f"v{suffix}")
    word2vec_format.save(path, WORDS, VECTORS, binary=suffix == ".bin")
    code, out, _ = _run(capsys, "a", "--vectors", path, "--k", "2", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["engine"] == "exact" and result["metric"] == "cosine" and result["count"] == 5
    assert [n["word"] for n in result["neighbors"]["a"]] == ["b", "c"]
    assert result["neighbors"]["a"][0]["score"] == pytest.approx(COS_AB, abs=1e-6)


def test_cli_npy_with_words_and_run_dir(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    np.save(run / "vectors.npy", VECTORS)
    (run / "words.txt").write_text("".join(w + "\n" for w in WORDS), encoding="utf-8")
    code, out, _ = _run(capsys, "a", "--run_dir", str(run), "--k", "1")
    assert code == 0
    assert out.splitlines()[1:] == ["a:", f"    1  b  {COS_AB:.4f}"]
    code, out, _ = _run(capsys, "d", "--vectors", str(run / "vectors.npy"), "--k", "1", "--json")
    assert json.loads(out)["neighbors"]["d"][0]["word"] == "c"  # cos 0 (c, e: the lower row) beats a, b
    # a bare .npy elsewhere needs --words
    np.save(tmp_path / "bare.npy", VECTORS)
    code, _, err = _run(capsys, "a", "--vectors", str(tmp_path / "bare.npy"))
    assert code == 2 and "words.txt, which does not exist (give --words FILE" in err
    code, out, _ = _run(capsys, "a", "--vectors", str(tmp_path / "bare.npy"), "--words", str(run / "words.txt"),
                        "--k", "1", "--json")
    assert code == 0 and json.loads(out)["neighbors"]["a"][0]["word"] == "b"


def test_cli_saved_index_and_scann_engine(tmp_path, capsys):
    from tfpipe import index

    index.build(VECTORS, WORDS, engine="exact", metric="cosine", labels_kind="words").save(str(tmp_path / "idx"))
    code, out, _ = _run(capsys, "a", "--index", str(tmp_path / "idx"), "--k", "3", "--json")
    assert code == 0 and [n["word"] for n in json.loads(out)["neighbors"]["a"]] == ["b", "c", "e"]
    path = str(tmp_path / "v.bin")
    word2vec_format.save(path, WORDS, VECTORS, binary=True)
    code, out, _ = _run(capsys, "a", "--vectors", path, "--engine", "scann", "--k", "1", "--json")
    assert code == 0 and json.loads(out)["engine"] == "scann"
    assert json.loads(out)["neighbors"]["a"][0]["word"] == "b"


def test_cli_errors(tmp_path, capsys):
    path = str(tmp_path / "v.txt")
    word2vec_format.save(path, WORDS, VECTORS, binary=False)
    code, out, err = _run(capsys, "a", "x", "--vectors", path)
    assert code == 2 and out == "" and "error: not in the vocabulary of 5 words: 'x'" in err
    code, _, err = _run(capsys, "a", "--run_dir", str(tmp_path / "nowhere"))
    assert code == 2 and "has no vectors.npy" in err
    code, _, err = _run(capsys, "a", "--vectors", str(tmp_path / "v.csv"))
    assert code == 2 and "valid choices" in err
    with pytest.raises(SystemExit):
        nb.main(["a", "--vectors", path, "--index", str(tmp_path)])  # one source only
    assert "not allowed with argument" in capsys.readouterr().err


def test_real_vectors_have_sensible_neighbours(capsys):
    """The all-text skip-gram vectors, when trained here: 'oil' sits among energy-market words."""
    if not os.path.isfile(os.path.join(nb.DEFAULT_RUN_DIR, "vectors.npy")):
        pytest.skip(f"no trained vectors in {nb.DEFAULT_RUN_DIR} (python -m tfpipe.train --config "
                    "configs/skipgram_shared_all.yaml)")
    found = nb.neighbors(nb.open_index(), ["oil"], k=10)["oil"]
    assert {"crude", "prices", "barrel"} & {n.word for n in found}
