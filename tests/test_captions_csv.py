"""The ``captions_csv`` corpus format (tfpipe.data.text_corpora) and ``--exclude_images`` of
``beam_jobs.preprocess``: captions of held-out images are left out and counted, not rejected."""
from __future__ import annotations

import collections
import csv

import pytest

from beam_jobs import preprocess
from tests.conftest import shared_path
from tfpipe.data import corpora, image_splits, text_corpora
from tfpipe.data.datadir import DataDir

CAPTIONS = (
    "image,caption\n"                                   # 1: the header, not a row
    "a.jpg,A dog runs on the grass .\n"                 # 2
    'a.jpg,"A dog , brown , runs ."\n'                  # 3: a quoted comma
    "b.jpg,A surfer rides a wave .\n"                   # 4
    "b.jpg,A man surfs .\n"                             # 5
    "c.jpg,A child throws a frisbee .\n"                # 6
    "d.jpg,A skateboarder jumps .\n"                    # 7
)
BAD = (
    'e.jpg,"An unbalanced quote\n'                       # 8: unbalanced_quotes
    "e.jpg,too,many,fields\n"                           # 9: wrong_field_count
    "e.jpg,\n"                                          # 10: empty_text
    ",A caption without its image .\n"                  # 11: malformed_line
    "\n"                                                # 12: blank_line
    "\xff\n"                                            # 13 (latin-1 byte): invalid_encoding
)
SPLITS = "image\tsplit\na.jpg\ttrain\nb.jpg\tval\nc.jpg\ttest\ne.jpg\ttest\n"  # d.jpg: unlisted


def _write(tmp_path, text: str, name: str = "captions.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8").replace("\xff".encode("utf-8"), b"\xff"))
    return str(path)


def _read(path: str, exclude=()) -> list:
    opts = corpora.ReadOptions(("text",), "utf-8", source="captions.txt")
    return list(corpora.read_file("captions_csv", path, opts, exclude_images=exclude))


def _of(items, kind):
    return [i for i in items if isinstance(i, kind)]


def test_reads_one_example_per_caption(tmp_path):
    items = _read(_write(tmp_path, CAPTIONS))
    assert len(items) == 6  # the header is not a row
    assert [(g.example_id, g.text, g.label, g.row) for g in items] == [
        ("captions.txt:2", "A dog runs on the grass .", 0, 2),
        ("captions.txt:3", "A dog , brown , runs .", 0, 3),
        ("captions.txt:4", "A surfer rides a wave .", 0, 4),
        ("captions.txt:5", "A man surfs .", 0, 5),
        ("captions.txt:6", "A child throws a frisbee .", 0, 6),
        ("captions.txt:7", "A skateboarder jumps .", 0, 7),
    ]
    assert corpora.resolve_classes("captions_csv", ["x"]).names == ["text"]
    assert "captions_csv" in corpora.UNLABELLED_FORMATS


def test_columns_found_by_name_in_any_order(tmp_path):
    path = _write(tmp_path, "id,Caption,filename\n7,A cat .,x/y.jpg\n")
    items = _read(path, exclude={"other.jpg"})
    assert [(g.example_id, g.text) for g in items] == [("captions.txt:2", "A cat .")]
    assert _of(_read(path, exclude={"y.jpg"}), corpora.Excluded) == [
        corpora.Excluded("captions.txt", 2, "y.jpg")]  # matched by the image's base name


def test_malformed_rows_are_rejected_with_a_reason(tmp_path):
    items = _read(_write(tmp_path, CAPTIONS + BAD))
    assert len(items) == 6 + 6  # read == written + rejected
    bad = _of(items, corpora.Rejected)
    assert [(b.row, b.reason) for b in bad] == [
        (8, corpora.UNBALANCED_QUOTES), (9, corpora.WRONG_FIELD_COUNT), (10, corpora.EMPTY_TEXT),
        (11, corpora.MALFORMED_LINE), (12, corpora.BLANK_LINE), (13, corpora.INVALID_ENCODING)]
    assert all(b.source == "captions.txt" and b.detail for b in bad)
    assert "expected 2" in bad[1].detail and bad[1].raw == "e.jpg,too,many,fields"


def test_a_header_without_the_columns_rejects_every_line(tmp_path):
    path = _write(tmp_path, "picture,words\na.jpg,A dog .\n")
    items = _read(path)
    assert [(i.row, i.reason) for i in items] == [(1, corpora.MALFORMED_CSV),
                                                 (2, corpora.MALFORMED_CSV)]
    assert "image column" in items[0].detail
    with pytest.raises(ValueError, match="names no image column"):
        text_corpora.caption_header(path)
    with pytest.raises(ValueError, match="is empty"):
        text_corpora.caption_header(_write(tmp_path, "\n", "empty.txt"))
    assert text_corpora.caption_header(_write(tmp_path, CAPTIONS)) == ["image", "caption"]


def test_exclusion_drops_exactly_the_val_and_test_images_captions(tmp_path):
    split_file = tmp_path / "split.tsv"
    split_file.write_text(SPLITS)
    assigned = image_splits.read_image_splits(str(split_file))
    held_out = {image for image, split in assigned.items() if split in ("val", "test")}
    assert held_out == {"b.jpg", "c.jpg", "e.jpg"}
    items = _read(_write(tmp_path, CAPTIONS + BAD), exclude=held_out)
    assert len(items) == 12  # every row is still read once
    excluded = _of(items, corpora.Excluded)
    assert [(e.row, e.key) for e in excluded] == [(4, "b.jpg"), (5, "b.jpg"), (6, "c.jpg")]
    assert [g.row for g in _of(items, corpora.RawExample)] == [2, 3, 7]  # a.jpg (train), d.jpg
    # malformed rows of an excluded image stay rejects: they are not captions
    assert [b.row for b in _of(items, corpora.Rejected)] == [8, 9, 10, 11, 12, 13]


def test_exclusion_is_only_for_image_keyed_formats(tmp_path):
    path = _write(tmp_path, "Some text.\n", "book.txt")
    opts = corpora.ReadOptions(("text",), "utf-8")
    with pytest.raises(ValueError, match="captions_csv"):
        list(corpora.read_file("text", path, opts, exclude_images={"a.jpg"}))


# --------------------------------------------------------------------------- the Beam job


def test_preprocess_counts_the_excluded_captions(tmp_path):
    from tests.test_preprocess import _load, _run

    captions = _write(tmp_path, CAPTIONS + BAD)
    split_file = tmp_path / "split.tsv"
    split_file.write_text(SPLITS)
    book = tmp_path / "book.txt"
    book.write_text("".join(f"Paragraph {i} about a dog.\n\n" for i in range(10)))
    out = str(tmp_path / "out")
    m = _run("--unlabelled", "--input", f"text:{book}", f"captions_csv:{captions}",
             "--exclude_images", f"{split_file}:val,test", "--output_dir", out,
             "--ngram_vocab_size", "0", "--test_fraction", "0.2")
    counts = m.counts
    assert counts["read"] == 10 + 12
    assert counts["excluded"] == 3
    assert counts["rejected"] == 6 and counts["written"] == 10 + 3
    assert counts["read"] == counts["written"] + counts["rejected"] + counts["excluded"]
    assert "excluded" not in counts["rejected_by_reason"]
    assert m.source["exclude_images"] == {"file": str(split_file), "splits": ["val", "test"],
                                          "images": 3, "formats": ["captions_csv"]}
    _, data = _load(out)
    ids = data["train"]["id"] + data["test"]["id"]
    captions_ids = sorted(i for i in ids if i.startswith("captions.txt:"))
    assert captions_ids == ["captions.txt:2", "captions.txt:3", "captions.txt:7"]
    texts = " ".join(data["train"]["text"] + data["test"]["text"])
    assert "surf" not in texts and "frisbee" not in texts
    with open(f"{out}/rejected.jsonl") as f:
        assert sum(1 for _ in f) == 6  # excluded captions are not in the dead letter
    assert "+ excluded 3" in preprocess.summary(DataDir(out, m))


def test_without_exclusion_the_manifest_has_no_excluded_count(tmp_path):
    from tests.test_preprocess import _run

    m = _run("--unlabelled", "--input", f"captions_csv:{_write(tmp_path, CAPTIONS)}",
             "--output_dir", str(tmp_path / "o"), "--ngram_vocab_size", "0")
    assert "excluded" not in m.counts and "exclude_images" not in m.source
    assert m.counts["read"] == m.counts["written"] == 6


@pytest.fixture
def no_beam(monkeypatch):
    def fail(*_args, **_kwargs):
        raise AssertionError("Beam must not start on a bad command line")

    monkeypatch.setattr(preprocess, "execute", fail)


@pytest.mark.parametrize("value, message", [
    ("{split}", "give --exclude_images SPLIT_FILE:SPLIT[,SPLIT...], e.g."),
    ("{split}:", "give --exclude_images SPLIT_FILE:SPLIT[,SPLIT...]"),
    ("{split}:val,", "give --exclude_images SPLIT_FILE:SPLIT[,SPLIT...]"),
    ("/nonexistent/split.tsv:val", "file not found"),
    ("{split}:dev", "assigns no image to split(s) ['dev']; its splits: ['test', 'train', 'val']"),
    ("{captions}:val", "'split' column"),
])
def test_bad_exclude_images_values_exit_2(value, message, tmp_path, capsys, no_beam):
    captions = _write(tmp_path, CAPTIONS)
    split_file = tmp_path / "split.tsv"
    split_file.write_text(SPLITS)
    value = value.format(split=split_file, captions=captions)
    with pytest.raises(SystemExit) as exc:
        preprocess.main(["--unlabelled", "--input", f"captions_csv:{captions}",
                         "--exclude_images", value])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_exclude_images_needs_a_captions_input_and_a_good_header(tmp_path, capsys, no_beam):
    split_file = tmp_path / "split.tsv"
    split_file.write_text(SPLITS)
    book = _write(tmp_path, "Some text.\n", "book.txt")
    with pytest.raises(SystemExit):
        preprocess.main(["--input", f"text:{book}", "--exclude_images", f"{split_file}:test"])
    assert "no input has that format" in capsys.readouterr().err
    bad = _write(tmp_path, "picture,words\na.jpg,A dog .\n", "bad.csv")
    with pytest.raises(SystemExit):
        preprocess.main(["--input", f"captions_csv:{bad}"])
    assert "names no image column" in capsys.readouterr().err


def test_help_explains_the_flag_and_the_format(capsys):
    with pytest.raises(SystemExit):
        preprocess.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--exclude_images SPLIT_FILE:SPLIT[,SPLIT...]" in text
    assert "counts.excluded" in text and "captions_csv" in text


# --------------------------------------------------------------------------- real data


def test_real_flickr8k_no_val_or_test_caption_survives_the_exclusion():
    captions = shared_path("flickr8k_1k", "flickr8k_all_captions.txt")
    assigned = image_splits.read_image_splits(shared_path("flickr8k_1k", "split.tsv"))
    held_out = {image for image, split in assigned.items() if split in ("val", "test")}
    assert len(held_out) == 300
    with open(captions, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    held_out_captions = {r["caption"].strip() for r in rows if r["image"] in held_out}
    items = _read(captions, exclude=held_out)
    assert len(items) == len(rows) == 40_455 and not _of(items, corpora.Rejected)
    excluded = _of(items, corpora.Excluded)
    assert len(excluded) == 5 * 300 == sum(r["image"] in held_out for r in rows)
    assert collections.Counter(e.key for e in excluded) == {image: 5 for image in held_out}
    kept = _of(items, corpora.RawExample)
    assert len(kept) == 40_455 - 1_500
    # no kept row is a held-out image's, and no kept text is a held-out caption unless some
    # other image has the very same caption
    by_line = {n: r["image"] for n, r in enumerate(rows, start=2)}
    assert not {by_line[g.row] for g in kept} & held_out
    others = {r["caption"].strip() for r in rows if r["image"] not in held_out}
    assert {g.text for g in kept} & held_out_captions <= others


def test_build_manifest_checks_read_against_written_rejected_and_excluded():
    from tfpipe.data import manifest as manifest_lib
    from tfpipe.data import records

    shard = manifest_lib.Shard(file="train-00000-of-00001.tfrecord", records=5, sha256="", bytes=0)
    kwargs = dict(alphabet="paper", l0=16, max_words=8, class_names=["text"],
                  shards={"train": [shard]}, class_counts={"train": [5]}, compression="",
                  vocab_file="vocab.tsv", vocab_words=0, ngram_file="", ngram_max=0,
                  ngram_features=0, rejected_by_reason={"blank_line": 1}, augmented=0,
                  augmentation={}, rejected_file="rejected.jsonl", source={}, dataset="d",
                  romanize="")
    m = records.build_manifest(read=9, excluded=3, **kwargs)
    assert m.counts["excluded"] == 3 and m.counts["written"] == 5 and m.counts["rejected"] == 1
    assert "excluded" not in records.build_manifest(read=6, **kwargs).counts
    with pytest.raises(RuntimeError, match="excluded=2"):
        records.build_manifest(read=9, excluded=2, **kwargs)
    with pytest.raises(RuntimeError, match="row accounting failed"):
        records.build_manifest(read=9, **kwargs)  # the 3 excluded rows unaccounted for
