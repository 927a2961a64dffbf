"""tfpipe.embeddings.label_vectors (a label name's vector) and label_coverage (the report)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.conftest import shared_path
from tfpipe.embeddings import label_coverage
from tfpipe.embeddings.label_vectors import WordTable, label_vector, synonyms, words

# hand-made 2-d vectors, deliberately not unit length
TABLE = {
    "pink": np.array([3.0, 4.0]),       # unit (0.6, 0.8)
    "primrose": np.array([0.0, 2.0]),   # unit (0, 1)
    "goldfish": np.array([5.0, 0.0]),   # unit (1, 0)
    "black": np.array([0.0, -5.0]),     # unit (0, -1)
    "footed": np.array([2.0, 0.0]),     # unit (1, 0)
    "albatross": np.array([1.0, 1.0]),  # unit (1/sqrt2, 1/sqrt2)
    "cat": np.array([0.0, 0.5]),        # unit (0, 1)
    "terrier": np.array([-2.0, 0.0]),   # unit (-1, 0)
}
R = 1 / math.sqrt(2)


def test_words_and_synonyms():
    assert words("Black_footed_Albatross") == ["black", "footed", "albatross"]
    assert words("hard-leaved pocket orchid") == ["hard", "leaved", "pocket", "orchid"]
    assert words("Brewer's Sparrow, St. Bernard mp3") == ["brewer", "s", "sparrow", "st", "bernard", "mp", "3"]
    assert synonyms("goldfish, Carassius auratus,") == ["goldfish", "Carassius auratus"]


def test_multi_word_name_is_the_mean_of_unit_vectors():
    r = label_vector("pink primrose", TABLE)
    assert r.full and r.status == "full" and r.words == ("pink", "primrose") and r.missing == ()
    np.testing.assert_allclose(r.vector, [0.3, 0.9], atol=1e-6)
    r = label_vector("Black_footed_Albatross", TABLE)
    np.testing.assert_allclose(r.vector, [(0 + 1 + R) / 3, (-1 + 0 + R) / 3], atol=1e-6)
    assert r.vector.dtype == np.float32


def test_first_fully_covered_synonym_wins():
    r = label_vector("goldfish, Carassius auratus", TABLE)
    assert r.synonym == "goldfish" and r.full
    np.testing.assert_allclose(r.vector, [1.0, 0.0], atol=1e-6)
    # a later synonym, when the first is not fully covered
    r = label_vector("Carassius auratus, goldfish", TABLE)
    assert r.synonym == "goldfish" and r.full


def test_partial_then_uncovered():
    r = label_vector("Egyptian cat", TABLE)
    assert r.status == "partial" and r.words == ("cat",) and r.missing == ("egyptian",)
    np.testing.assert_allclose(r.vector, [0.0, 1.0], atol=1e-6)
    # the first synonym with a covered word; no synonym is complete
    r = label_vector("yorkshire terrier, yorkie", TABLE)
    assert r.synonym == "yorkshire terrier" and r.missing == ("yorkshire",)
    np.testing.assert_allclose(r.vector, [-1.0, 0.0], atol=1e-6)
    r = label_vector("zzz qqq, www", TABLE)
    assert r.status == "uncovered" and r.vector is None and r.missing == ("zzz", "qqq", "www")
    assert label_vector("", TABLE).status == "uncovered"


def test_word_table_folds_case_first_row_wins():
    table = WordTable(["Paris", "paris", "cat"], np.array([[1, 0], [0, 1], [1, 1]], np.float32))
    assert "paris" in table and "Paris" not in table and len(table) == 2
    np.testing.assert_array_equal(table["paris"], [1, 0])


def _tiny_dirs(tmp_path):
    ti = tmp_path / "tiny_imagenet"
    ti.mkdir()
    (ti / "wnids.txt").write_text("n1\nn2\nn3")  # no newline at the end, as the real file
    (ti / "words.txt").write_text("n1\tgoldfish, Carassius auratus\nn2\tEgyptian cat\nn9\tother\n")
    fl = tmp_path / "flowers102"
    fl.mkdir()
    (fl / "cat_to_name.json").write_text(json.dumps({"10": "zzz", "2": "pink primrose", "1": "cat"}))
    cub = tmp_path / "cub100"
    cub.mkdir()
    (cub / "labels.csv").write_text("image,class_name\na/1.jpg,Black_footed_Albatross\n"
                                    "b/1.jpg,Yorkshire_Terrier\na/2.jpg,Black_footed_Albatross\n")
    return ti, fl, cub


def test_read_labels(tmp_path):
    ti, fl, cub = _tiny_dirs(tmp_path)
    assert label_coverage.read_labels(str(ti)).names == ["goldfish, Carassius auratus", "Egyptian cat", "n3"]
    assert label_coverage.read_labels(str(fl / "cat_to_name.json")).names == ["cat", "pink primrose", "zzz"]
    labels = label_coverage.read_labels(str(cub))
    assert labels.dataset == "cub100" and labels.names == ["Black_footed_Albatross", "Yorkshire_Terrier"]
    csv_ids = tmp_path / "labels.csv"
    csv_ids.write_text("image,class_id,class_name\nx,2,b\ny,1,a\nz,2,b\n")
    assert label_coverage.read_labels(str(csv_ids)).names == ["a", "b"]


def test_cli_report(tmp_path, capsys):
    ti, fl, cub = _tiny_dirs(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    np.save(run / "vectors.npy", np.stack(list(TABLE.values())).astype(np.float32))
    (run / "words.txt").write_text("\n".join(TABLE) + "\n")
    out = tmp_path / "coverage.json"
    assert label_coverage.main(["--vectors", str(run), "--labels", str(ti), str(fl), str(cub),
                                "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tiny_imagenet: 3 labels" in text and "full 1, partial 1, uncovered 1" in text
    assert "uncovered 'n3'" in text and "partial   'Egyptian cat'" in text
    report = json.loads(out.read_text())
    by = {d["dataset"]: d for d in report["datasets"]}
    assert by["flowers102"]["full"] == 2 and by["flowers102"]["uncovered_names"] == [
        {"name": "zzz", "missing": ["zzz"]}]
    assert by["cub100"]["partial_names"][0]["missing"] == ["yorkshire"]
    assert report["words"] == len(TABLE) and report["dim"] == 2


def test_cli_vocab_before_training(tmp_path, capsys):
    ti, _, _ = _tiny_dirs(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "vocab.tsv").write_text("goldfish\t9\t3\ncat\t5\t2\negyptian\t4\t1\n")
    assert label_coverage.main(["--vocab", str(data), "--labels", str(ti)]) == 0
    assert "full 1, partial 1, uncovered 1" in capsys.readouterr().out  # egyptian: 4 < 5
    assert label_coverage.main(["--vocab", str(data / "vocab.tsv"), "--min_count", "4",
                                "--labels", str(ti)]) == 0
    assert "full 2, partial 0, uncovered 1" in capsys.readouterr().out


@pytest.mark.parametrize("dataset, count", [("tiny_imagenet", 202), ("flowers102", 102), ("cub100", 100)])
def test_real_label_files(dataset, count):
    labels = label_coverage.read_labels(shared_path(dataset))
    assert len(labels.names) == count and len(set(labels.names)) >= count - 2
    assert all(labels.names)
