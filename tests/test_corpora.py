"""Raw corpus readers: every format, every rejection reason, the real shared corpora, TFDS."""
from __future__ import annotations

import collections
import gzip
import json
import os

import pytest

from tests.conftest import shared_path
from tfpipe.data import corpora
from tfpipe.data.corpora import RawExample, Rejected


def _write(path, data: bytes | str) -> str:
    mode = "wb" if isinstance(data, bytes) else "w"
    kwargs = {} if isinstance(data, bytes) else {"encoding": "utf-8", "newline": ""}
    with open(path, mode, **kwargs) as f:
        f.write(data)
    return str(path)


def _split(items):
    good = [i for i in items if isinstance(i, RawExample)]
    bad = [i for i in items if isinstance(i, Rejected)]
    assert len(good) + len(bad) == len(items)
    return good, bad


def _reasons(bad) -> dict[int, str]:
    return {r.row: r.reason for r in bad}


# --------------------------------------------------------------------------- zhang_csv


def test_zhang_csv_joins_fields_unescapes_newlines_and_quotes(tmp_path):
    path = _write(tmp_path / "train.csv", (
        '"2","Title one","Body with \\n a break and ""quotes"""\n'
        '"1","Only, a title",""\n'
        '"3","  padded  ","x\\y stays"\n'
    ))
    _write(tmp_path / "classes.txt", "A\nB\nC\n")
    classes, items = corpora.read_files("zhang_csv", [path])
    good, bad = _split(items)
    assert classes == ["A", "B", "C"] and not bad
    assert good[0] == RawExample("train.csv:1", 'Title one Body with \n a break and "quotes"', 1, 1)
    assert good[1].text == "Only, a title" and good[1].label == 0
    assert good[2].text == "padded x\\y stays" and good[2].example_id == "train.csv:3"


def test_zhang_csv_class_sources(tmp_path):
    path = _write(tmp_path / "d.csv", '"1","a"\n"3","b"\n')
    # No classes.txt: 1..K for the dense run of labels (class 2 has no row: 3 is an unknown label,
    # not a reason for an empty class 2).
    assert corpora.class_names("zhang_csv", [path]) == ["1"]
    assert corpora.resolve_classes("zhang_csv", [path]).unknown == {3: 1}
    # classes.txt beside the file.
    _write(tmp_path / "classes.txt", "x\ny\nz\nw\n")
    assert corpora.class_names("zhang_csv", [path]) == ["x", "y", "z", "w"]
    # An explicit --classes file wins.
    other = _write(tmp_path / "mine.txt", "p\nq\nr\n")
    assert corpora.class_names("zhang_csv", [path], classes_file=other) == ["p", "q", "r"]


def test_zhang_csv_every_malformed_row_goes_to_dead_letter(tmp_path):
    lines = [
        b'"1","good one","body"',            # 1 ok
        b'"2","unbalanced,"body"',           # 2 malformed quoting
        b'"2","no closing quote',            # 3 unbalanced quotes
        b'"1","too","many","fields"',        # 4 wrong field count
        b'"x","bad label","body"',           # 5 label not an integer
        b'"9","out of range","body"',        # 6 label out of range
        b'"0","out of range","body"',        # 7 label out of range (1-based)
        b'"2","   ","  "',                   # 8 empty text
        b'"2","caf\xe9 latin-1","body"',     # 9 invalid UTF-8
        b'"2","' + b"y" * 300 + b'","b"',    # 10 too long for max_line_chars=200
        b"",                                 # 11 blank line
        b'"2","good two","body"',            # 12 ok
    ]
    path = _write(tmp_path / "bad.csv", b"\n".join(lines) + b"\n")
    _write(tmp_path / "classes.txt", "A\nB\n")
    classes, items = corpora.read_files("zhang_csv", [path], max_line_chars=200)
    good, bad = _split(items)
    assert len(items) == len(lines)  # read == written + rejected
    assert [g.example_id for g in good] == ["bad.csv:1", "bad.csv:12"]
    assert _reasons(bad) == {
        2: corpora.MALFORMED_CSV,
        3: corpora.UNBALANCED_QUOTES,
        4: corpora.WRONG_FIELD_COUNT,
        5: corpora.BAD_LABEL,
        6: corpora.LABEL_OUT_OF_RANGE,
        7: corpora.LABEL_OUT_OF_RANGE,
        8: corpora.EMPTY_TEXT,
        9: corpora.INVALID_ENCODING,
        10: corpora.LINE_TOO_LONG,
        11: corpora.BLANK_LINE,
    }
    for r in bad:
        assert r.source == "bad.csv" and r.detail and len(r.raw) <= corpora.RAW_CHARS
    assert "caf\\xe9" in next(r.raw for r in bad if r.row == 9)


def test_huge_line_is_streamed_and_rejected(tmp_path):
    big = b'"1","' + b"z" * 3_000_000 + b'"'
    path = _write(tmp_path / "huge.csv", b'"1","ok"\n' + big + b'\n"1","after"')
    _, items = corpora.read_files("zhang_csv", [path], classes=["A"], max_line_chars=1000)
    good, bad = _split(items)
    assert [g.text for g in good] == ["ok", "after"] and good[1].example_id == "huge.csv:3"
    assert [(r.row, r.reason) for r in bad] == [(2, corpora.LINE_TOO_LONG)]
    assert len(bad[0].raw) == corpora.RAW_CHARS and "3000006 bytes" in bad[0].detail
    # A huge last line without a trailing new-line is also caught.
    path = _write(tmp_path / "huge2.csv", b'"1","ok"\n' + big)
    _, items = corpora.read_files("zhang_csv", [path], classes=["A"], max_line_chars=1000)
    assert [type(i).__name__ for i in items] == ["RawExample", "Rejected"]


def test_crlf_bom_and_gzip(tmp_path):
    data = '\ufeff"1","first"\r\n"2","second"\r\n'.encode("utf-8")
    path = _write(tmp_path / "w.csv", data)
    gz = tmp_path / "w2.csv.gz"
    with gzip.open(gz, "wb") as f:
        f.write(data)
    for p in (path, str(gz)):
        _, items = corpora.read_files("zhang_csv", [p], classes=["A", "B"])
        assert [(i.text, i.label) for i in items] == [("first", 0), ("second", 1)]


# --------------------------------------------------------------------------- trec


def test_trec(tmp_path):
    path = _write(tmp_path / "q.label", (
        b"NUM:dist How far is it ?\n"
        b"HUM:ind Who is Jos\xe9 ?\n"   # latin-1
        b"FOO:bar Unknown class ?\n"
        b"no_colon_here\n"
        b"LOC:city   \n"
    ))
    classes, items = corpora.read_files("trec", [path])
    assert classes == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    good, bad = _split(items)
    assert good == [RawExample("q.label:1", "How far is it ?", 5, 1),
                    RawExample("q.label:2", "Who is José ?", 3, 2)]
    assert _reasons(bad) == {3: corpora.BAD_LABEL, 4: corpora.MALFORMED_LINE,
                             5: corpora.EMPTY_TEXT}


# --------------------------------------------------------------------------- line_per_class


def test_line_per_class(tmp_path):
    pos = _write(tmp_path / "rt-polarity.pos", b"a fine film . \nsuperb\xe9 \n")
    neg = _write(tmp_path / "rt-polarity.neg", b"dull .\n\n")
    classes, items = corpora.read_files("line_per_class", [pos, neg])
    assert classes == ["neg", "pos"]
    good, bad = _split(items)
    assert good == [RawExample("rt-polarity.pos:1", "a fine film .", 1, 1),
                    RawExample("rt-polarity.pos:2", "superbé", 1, 2),
                    RawExample("rt-polarity.neg:1", "dull .", 0, 1)]
    assert _reasons(bad) == {2: corpora.BLANK_LINE} and bad[0].source == "rt-polarity.neg"
    assert corpora.line_per_class_name("/x/sports") == "sports"
    assert corpora.line_per_class_name("/x/a.b.world.gz") == "world"
    order = _write(tmp_path / "order.txt", "pos\nneg\n")
    assert corpora.class_names("line_per_class", [pos, neg], classes_file=order) == ["pos", "neg"]
    with pytest.raises(ValueError, match="not in"):
        corpora.class_names("line_per_class", [pos, neg],
                            classes_file=_write(tmp_path / "o2.txt", "pos\n"))


# --------------------------------------------------------------------------- tsv / jsonl


def test_tsv_names_indices_and_errors(tmp_path):
    path = _write(tmp_path / "d.tsv", "good text\tsports\ntab\tinside\tnews\n"
                                      "by index\t0\nunknown\tcooking\nno tab here\n"
                                      "out of range\t7\n\tnews\n")
    classes, items = corpora.read_files("tsv", [path])
    assert classes == ["0", "7", "cooking", "news", "sports"]  # scanned, sorted names
    classes, items = corpora.read_files("tsv", [path], classes=["news", "sports"])
    good, bad = _split(items)
    assert [(g.text, g.label) for g in good] == [("good text", 1), ("tab\tinside", 0),
                                                 ("by index", 0)]
    assert _reasons(bad) == {4: corpora.BAD_LABEL, 5: corpora.WRONG_FIELD_COUNT,
                             6: corpora.LABEL_OUT_OF_RANGE, 7: corpora.EMPTY_TEXT}
    ints = _write(tmp_path / "i.tsv", "a\t0\nb\t1\nc\t2\n")
    assert corpora.class_names("tsv", [ints]) == ["0", "1", "2"]


def test_jsonl(tmp_path):
    rows = [json.dumps({"text": "hello", "label": "b"}), json.dumps({"text": "x", "label": 0}),
            "{not json", json.dumps({"text": "no label"}), json.dumps([1, 2]),
            json.dumps({"text": 5, "label": "a"}), json.dumps({"text": "t", "label": True}),
            json.dumps({"text": "y", "label": "zzz"}), json.dumps({"text": "", "label": "a"})]
    path = _write(tmp_path / "d.jsonl", "\n".join(rows) + "\n")
    classes, items = corpora.read_files("jsonl", [path], classes=["a", "b"])
    good, bad = _split(items)
    assert [(g.example_id, g.text, g.label) for g in good] == [("d.jsonl:1", "hello", 1),
                                                               ("d.jsonl:2", "x", 0)]
    assert _reasons(bad) == {3: corpora.BAD_JSON, 4: corpora.BAD_JSON, 5: corpora.BAD_JSON,
                             6: corpora.BAD_JSON, 7: corpora.BAD_JSON, 8: corpora.BAD_LABEL,
                             9: corpora.EMPTY_TEXT}


# --------------------------------------------------------------------------- registry


def test_registry_and_helpers(tmp_path):
    assert corpora.names() == ["captions_csv", "dictd", "jsonl", "line_per_class", "mediawiki",
                               "nltk_zip", "text", "trec", "tsv", "zhang_csv"]
    with pytest.raises(ValueError, match="valid formats: .*zhang_csv"):
        corpora.get_format("csv")
    assert corpora.guess_format(["a/train.csv", "b/test.csv"]) == "zhang_csv"
    assert corpora.guess_format(["x.label"]) == "trec"
    assert corpora.guess_format(["x.jsonl.gz"]) == "jsonl"
    assert corpora.guess_format(["x.csv", "y.tsv"]) is None
    assert corpora.guess_format(["rt-polarity.pos"]) is None
    assert corpora.default_encoding("trec") == "latin-1"
    assert corpora.default_encoding("line_per_class") == "latin-1"
    assert corpora.default_encoding("zhang_csv") == "utf-8"
    assert corpora.source_names(["a/x.csv", "b/y.csv"]) == ["x.csv", "y.csv"]
    assert corpora.source_names(["a/x.csv", "b/x.csv"]) == ["a/x.csv", "b/x.csv"]


def test_explicit_encoding(tmp_path):
    corpora.check_encoding("cp1252")
    with pytest.raises(ValueError, match="ASCII-compatible"):
        corpora.check_encoding("utf-16")
    with pytest.raises(ValueError, match="unknown encoding"):
        corpora.check_encoding("klingon-8")
    path = _write(tmp_path / "l.tsv", "caf\xe9\tA\n".encode("latin-1"))
    _, items = corpora.read_files("tsv", [path], classes=["A"])
    assert items[0].reason == corpora.INVALID_ENCODING
    _, items = corpora.read_files("tsv", [path], classes=["A"], encoding="latin-1")
    assert items[0].text == "café"


# --------------------------------------------------------------------------- real corpora


def test_real_ag_news():
    path = shared_path("ag_news", "test.csv")
    classes, items = corpora.read_files("zhang_csv", [path])
    good, bad = _split(items)
    assert classes == ["World", "Sports", "Business", "Sci/Tech"]
    assert len(good) == 7600 and not bad
    assert collections.Counter(g.label for g in good) == {0: 1900, 1: 1900, 2: 1900, 3: 1900}
    assert good[0].example_id == "test.csv:1" and good[-1].example_id == "test.csv:7600"
    assert sum("\n" in g.text for g in good) > 0  # the \n escapes became new-lines
    assert all("\\n" not in g.text for g in good)


def test_real_trec():
    train = shared_path("trec", "train_5500.label")
    test = shared_path("trec", "TREC_10.label")
    classes, items = corpora.read_files("trec", [train, test])
    good, bad = _split(items)
    assert classes == list(corpora.TREC_COARSE) and not bad
    by_file = collections.Counter(g.example_id.split(":")[0] for g in good)
    assert by_file == {"train_5500.label": 5452, "TREC_10.label": 500}
    assert set(g.label for g in good) == set(range(6))
    # The one latin-1 byte of train_5500.label decodes instead of being rejected.
    assert any(any(ord(c) > 127 for c in g.text) for g in good)


def test_real_mr():
    pos = shared_path("mr", "rt-polarity.pos")
    neg = shared_path("mr", "rt-polarity.neg")
    classes, items = corpora.read_files("line_per_class", [pos, neg])
    good, bad = _split(items)
    assert classes == ["neg", "pos"] and not bad
    assert collections.Counter(g.label for g in good) == {0: 5331, 1: 5331}


# --------------------------------------------------------------------------- TFDS (mocked)


def _mock_ag_news_dataset(self, *args, **kwargs):
    import tensorflow as tf

    rows = [
        {"title": "Title A", "description": "first\\nline", "label": 2},
        {"title": "", "description": "  ", "label": 0},
        {"title": "Only title", "description": "", "label": 3},
    ]
    return tf.data.Dataset.from_generator(
        lambda: iter(rows),
        output_signature={"title": tf.TensorSpec([], tf.string),
                          "description": tf.TensorSpec([], tf.string),
                          "label": tf.TensorSpec([], tf.int64)},
    )


def test_tfds_reader_without_network(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE,
                                as_dataset_fn=_mock_ag_news_dataset):
        spec, classes, _ = corpora.tfds_resolve(
            corpora.TfdsSpec("ag_news_subset", data_dir=str(tmp_path)))
        assert classes == ["World", "Sports", "Business", "Sci/Tech"]
        assert spec.text_fields == ("title", "description") and spec.unescape_newlines
        items = list(corpora.read_tfds(spec, "test"))
    good, bad = _split(items)
    assert good == [RawExample("ag_news_subset/test:0", "Title A first\nline", 2, 0),
                    RawExample("ag_news_subset/test:2", "Only title", 3, 2)]
    assert [(r.source, r.row, r.reason) for r in bad] == [
        ("ag_news_subset/test", 1, corpora.EMPTY_TEXT)]
    assert not os.listdir(tmp_path)  # nothing downloaded or prepared


def test_tfds_random_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        spec, classes, _ = corpora.tfds_resolve(
            corpora.TfdsSpec("ag_news_subset", data_dir=str(tmp_path)))
        items = list(corpora.read_tfds(spec, "train"))
        with pytest.raises(ValueError, match="no label feature"):
            corpora.tfds_resolve(corpora.TfdsSpec("ag_news_subset", data_dir=str(tmp_path),
                                                  label_field="topic"))
    assert len(items) == 6
    for i, item in enumerate(items):
        assert item.row == i
        if isinstance(item, RawExample):
            assert item.example_id == f"ag_news_subset/train:{i}" and 0 <= item.label < 4
