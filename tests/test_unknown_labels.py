"""Labels outside the classes: inferred class lists stay dense, unknown labels are never silent.

Without a class file one zhang_csv row labelled 99 among 1..4 used to make 99 classes (95 of
them empty) without a word.  Now the classes are the dense run of the train files' labels and
the 99 row is an unknown label: dead-lettered as label_out_of_range with a warning
(``--unknown_labels reject``, the default) or a one-line stop before Beam starts
(``--unknown_labels error``).  The manifest records the class file actually used (``--classes``
or the ``classes.txt`` beside the input) and where the classes came from.
"""
from __future__ import annotations

import json
import os

import pytest

from beam_jobs import preprocess
from tfpipe.data import corpora

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1", "--l0", "32",
             "--ngram_vocab_size", "0"]
WORDS = {1: "apple anchor arrow", 2: "banana bridge bell", 3: "grape garden glass",
         4: "kiwi kite king"}


def _csv(path, labels, extra=()) -> str:
    lines = [f'"{c}","title {i}","{WORDS.get(c, "odd words")} {i}"' for i, c in enumerate(labels)]
    lines += list(extra)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _four_classes_and_a_99(tmp_path) -> str:
    return _csv(tmp_path / "d.csv", [i % 4 + 1 for i in range(40)], ['"99","stray","a typo"'])


# --------------------------------------------------------------------------- corpora


def test_inferred_zhang_classes_are_dense_and_name_the_unknown_labels(tmp_path):
    path = _four_classes_and_a_99(tmp_path)
    found = corpora.resolve_classes("zhang_csv", [path])
    assert found.names == ["1", "2", "3", "4"]
    assert (found.source, found.classes_file, found.inferred_from) == ("labels", None, "1..4")
    assert found.unknown == {99: 1} and found.first == {99: "d.csv:41"}
    assert found.unknown_rows == 1
    # The reader rejects the row with the inferred list, as before with a class file.
    _, items = corpora.read_files("zhang_csv", [path])
    bad = [i for i in items if isinstance(i, corpora.Rejected)]
    assert [(b.row, b.reason) for b in bad] == [(41, corpora.LABEL_OUT_OF_RANGE)]


def test_inference_counts_the_train_files_only(tmp_path):
    train = _csv(tmp_path / "train.csv", [1, 2, 3] * 5)
    test = _csv(tmp_path / "test.csv", [1, 2, 3, 4])
    found = corpora.resolve_classes("zhang_csv", [train, test], train_paths=[train])
    assert found.names == ["1", "2", "3"]  # class 4 has no train row
    assert found.unknown == {4: 1} and found.first == {4: "test.csv:4"}
    # Without roles (a carved split) every file is train.
    assert corpora.resolve_classes("zhang_csv", [train, test]).names == ["1", "2", "3", "4"]


def test_zero_based_and_classless_zhang_labels(tmp_path):
    zero = _csv(tmp_path / "zero.csv", [0, 1, 2, 3] * 3)
    found = corpora.resolve_classes("zhang_csv", [zero])
    assert found.names == ["1", "2", "3"] and found.unknown == {0: 3}
    no_one = _csv(tmp_path / "no_one.csv", [2, 3, 4])
    with pytest.raises(ValueError, match="has class 1 .*1-based.*classes seen: \\[2, 3, 4\\]"):
        corpora.resolve_classes("zhang_csv", [no_one])


def test_class_file_beside_the_input_is_reported_and_scanned_on_request(tmp_path):
    path = _csv(tmp_path / "d.csv", [1, 2, 3, 7])
    beside = tmp_path / "classes.txt"
    beside.write_text("A\nB\nC\n")
    found = corpora.resolve_classes("zhang_csv", [path])
    assert (found.names, found.source, found.classes_file) == (["A", "B", "C"], "classes_beside",
                                                               str(beside))
    assert found.unknown == {}  # not scanned: the reader rejects the 7 row
    assert corpora.resolve_classes("zhang_csv", [path], scan=True).unknown == {7: 1}
    mine = tmp_path / "mine.txt"
    mine.write_text("p\nq\nr\ns\nt\nu\nv\n")
    found = corpora.resolve_classes("zhang_csv", [path], classes_file=str(mine), scan=True)
    assert (found.source, found.classes_file, found.unknown) == ("classes_file", str(mine), {})


def test_numeric_tsv_and_jsonl_labels(tmp_path):
    tsv = tmp_path / "d.tsv"
    tsv.write_text("a\t0\nb\t1\nc\t2\nd\t2\ne\t9\n")
    found = corpora.resolve_classes("tsv", [str(tsv)])
    assert found.names == ["0", "1", "2"] and found.inferred_from == "0..2"
    assert found.unknown == {"9": 1} and found.first == {"9": "d.tsv:5"}
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": label}) + "\n"
                             for t, label in (("a", 0), ("b", 1), ("c", 5))))
    found = corpora.resolve_classes("jsonl", [str(jsonl)])
    assert found.names == ["0", "1"] and found.unknown == {"5": 1}
    # Label names are all classes; with a class file, an index past it is unknown, a name that
    # is not a class is a bad label (the reader's bad_label), not an unknown label.
    names = tmp_path / "names.txt"
    names.write_text("news\nsports\n")
    tsv.write_text("a\tnews\nb\t1\nc\t7\nd\tcooking\n")
    found = corpora.resolve_classes("tsv", [str(tsv)], classes_file=str(names), scan=True)
    assert found.names == ["news", "sports"] and found.unknown == {"7": 1}


# --------------------------------------------------------------------------- the CLI


def _manifest(out: str) -> dict:
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def test_cli_rejects_an_unknown_label_with_a_warning_by_default(tmp_path, capsys):
    path = _four_classes_and_a_99(tmp_path)
    out = str(tmp_path / "out")
    assert preprocess.main(["--input", path, "--output_dir", out, *IN_MEMORY]) == 0
    captured = capsys.readouterr()
    assert ("warning: 1 zhang_csv row with labels outside the classes 1..4 inferred from the "
            "labels of the train files (class 5 has no row there): label 99 (1 row, first at "
            "d.csv:41): they go to rejected.jsonl as label_out_of_range") in captured.err
    assert "WARNING: 1 row(s) had labels outside the 4 classes and were rejected" in captured.out
    m = _manifest(out)
    assert m["class_names"] == ["1", "2", "3", "4"]
    assert m["counts"]["read"] == 41 == m["counts"]["written"] + m["counts"]["rejected"]
    assert m["counts"]["rejected_by_reason"] == {"label_out_of_range": 1}
    assert m["source"]["classes_file"] is None and m["source"]["classes_from"] == "labels"
    assert m["source"]["classes_inferred_from"] == "1..4"
    assert m["source"]["unknown_labels"] == "reject"
    assert m["source"]["unknown_labels_seen"] == {"99": 1}
    with open(os.path.join(out, "rejected.jsonl"), encoding="utf-8") as f:
        dead = [json.loads(line) for line in f]
    assert [(d["row"], d["reason"], d["detail"]) for d in dead] == [
        (41, "label_out_of_range", "class 99 not in 1..4")]


@pytest.fixture
def no_beam(monkeypatch):
    def fail(*_args, **_kwargs):
        raise AssertionError("Beam must not start when --unknown_labels error stops the job")

    monkeypatch.setattr(preprocess, "execute", fail)


def _stops(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        preprocess.main(argv)
    assert exc.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines()
           if not line.startswith("WARNING:")]
    assert len(err) == 1
    return err[0]


def test_cli_unknown_labels_error_stops_before_beam(tmp_path, capsys, no_beam):
    path = _four_classes_and_a_99(tmp_path)
    line = _stops(["--input", path, "--output_dir", str(tmp_path / "o"), "--unknown_labels",
                   "error"], capsys)
    assert line.startswith("error: 1 zhang_csv row with labels outside the classes 1..4 inferred")
    assert "label 99 (1 row, first at d.csv:41): fix those rows, list every class in --classes " \
           "FILE, or pass --unknown_labels reject" in line
    # With a class file too (classes.txt beside the input): the labels are scanned first.
    other = tmp_path / "other"
    other.mkdir()
    path = _csv(other / "d.csv", [1, 2, 3, 7, 8, 8])
    (other / "classes.txt").write_text("A\nB\nC\n")
    line = _stops(["--input", path, "--unknown_labels", "error"], capsys)
    assert f"3 zhang_csv rows with labels outside the 3 classes of {other / 'classes.txt'}" in line
    assert "labels 7 (1 row, first at d.csv:4), 8 (2 rows, first at d.csv:5)" in line
    # A test-file label that no train row has.
    train = _csv(tmp_path / "train.csv", [1, 2, 3] * 4)
    test = _csv(tmp_path / "test.csv", [1, 2, 3, 4])
    line = _stops(["--input", train, "--test_input", test, "--unknown_labels", "error"], capsys)
    assert "outside the classes 1..3 inferred from the labels of the train files (class 4 has " \
           "no row there): label 4 (1 row, first at test.csv:4)" in line


def test_manifest_records_the_class_file_used(tmp_path, capsys):
    path = _csv(tmp_path / "d.csv", [1, 2, 3] * 6)
    beside = tmp_path / "classes.txt"
    beside.write_text("A\nB\nC\n")
    out = str(tmp_path / "out")
    assert preprocess.main(["--input", path, "--output_dir", out, *IN_MEMORY]) == 0
    m = _manifest(out)
    assert m["class_names"] == ["A", "B", "C"]
    assert m["source"]["classes_file"] == str(beside)  # was null
    assert m["source"]["classes_from"] == "classes_beside"
    mine = tmp_path / "mine.txt"
    mine.write_text("x\ny\nz\n")
    cfg, _ = preprocess.parse(["--input", path, "--classes", str(mine), "--output_dir", out])
    assert cfg.source_info["classes_file"] == str(mine)
    assert cfg.source_info["classes_from"] == "classes_file"
    assert cfg.class_names == ("x", "y", "z")
