"""The unlabelled corpus formats (dictd, nltk_zip, mediawiki, text) of tfpipe.data.text_corpora,
tfpipe.text.wikitext, and the Beam text job over several of them at once."""
from __future__ import annotations

import bz2
import collections
import gzip
import itertools
import os
import zipfile

import pytest

from tests.conftest import shared_path
from tests.test_dictd import SAMPLE as DICTD_SAMPLE
from tfpipe.data import corpora, text_corpora
from tfpipe.text import wikitext


def _read(fmt: str, path: str, **kw) -> list:
    opts = corpora.ReadOptions(("text",), kw.pop("encoding", corpora.default_encoding(fmt)), **kw)
    return list(corpora.read_file(fmt, str(path), opts))


def _good(items):
    return [i for i in items if isinstance(i, corpora.RawExample)]


def _bad(items):
    return [i for i in items if isinstance(i, corpora.Rejected)]


# --------------------------------------------------------------------------- wikitext

WIKI = """{{Infobox thing
| name = {{nowrap|The Thing}}
| image = x.png
}}
'''Thing''' is a [[concept]] in [[philosophy|philosophical]] ''thought''.<ref name="a">{{cite book|title=T}}
spanning

lines</ref> It has [[Property (philosophy)|properties]].<ref name="a"/><!-- hidden
comment --> See [http://example.org the site] and [http://bare.example].
[[File:Thing.jpg|thumb|left|A [[picture]] of a thing]]

==History==
{| class="wikitable"
|-
| cell || {{flag|X}}
|}
* First item with&nbsp;space &amp; <span style="x">styled</span> text
# Second item<br/>broken
<math>x^2</math>Math is gone.
[[Category:Things]] [[fr:Chose]] __NOTOC__
"""


def test_wikitext_paragraphs():
    assert wikitext.paragraphs(WIKI) == [
        "Thing is a concept in philosophical thought. It has properties. See the site and .",
        "History",
        "First item with space & styled text Second item broken Math is gone.",
    ]


def test_wikitext_unbalanced_template_does_not_swallow_the_page():
    text = "Intro {{broken template\n\nSecond paragraph stays.\n\n{{ok|x}}Third."
    paragraphs = wikitext.paragraphs(text)
    assert paragraphs[-1] == "Third." and "Second paragraph stays." in paragraphs


def test_chunks_cut_long_paragraphs_at_units():
    units = [(1, "a b c"), (2, "d e"), (3, "f g h i"), (4, "j")]
    assert list(text_corpora._chunks(units, max_words=5)) == [(1, "a b c d e"), (3, "f g h i j")]
    # a unit longer than the limit stays whole
    assert list(text_corpora._chunks([(1, "a b"), (2, "c d e f g h")], max_words=3)) == [
        (1, "a b"), (2, "c d e f g h")]


# --------------------------------------------------------------------------- dictd


def test_dictd_reader(tmp_path):
    path = tmp_path / "mini.dict.gz"
    with gzip.open(path, "wb") as f:
        # a cp1252 byte in a quotation: that line is rejected, its entry is kept
        f.write(DICTD_SAMPLE.replace("benefits.   ", "benefit\x92s.", 1).encode("latin-1"))
        f.write(b'\nEmpty \\Emp"ty\\, n.\n   [1913 Webster]\n')
    items = _read("dictd", path)
    good, bad = _good(items), _bad(items)
    assert [g.example_id for g in good] == ["mini.dict.gz:13", "mini.dict.gz:29", "mini.dict.gz:34",
                                            "mini.dict.gz:42"]
    assert good[0].text.startswith("Benefit, n.\n1. An act of kindness") and good[0].label == 0
    assert [(b.reason, b.row) for b in bad] == [
        (corpora.NOT_CONTENT, 2), (corpora.NOT_CONTENT, 5), (corpora.INVALID_ENCODING, 19),
        (corpora.EMPTY_TEXT, 50)]
    assert "00-database-url" in bad[0].detail and "'Empty'" in bad[3].detail
    assert corpora.guess_format([str(path)]) == "dictd"


# --------------------------------------------------------------------------- nltk_zip


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_nltk_zip_tagged_brown(tmp_path):
    path = _zip(tmp_path / "brown.zip", {
        "brown/README": b"not text",
        "brown/cats.txt": b"ca01 news\n",
        "brown/ca01": b"\n\n\tThe/at Fulton/np-tl jury/nn said/vbd ./.\n\tIt/pps ended/vbd ./.\n\n\n"
                      b"\tThe/at end/nn ./.\n",
        "brown/ca02": b"\n\n",
    })
    items = _read("nltk_zip", path)
    assert [(i.example_id, i.text, i.row) for i in _good(items)] == [
        ("brown.zip/brown/ca01:1", "The Fulton jury said . It ended .", 1),
        ("brown.zip/brown/ca01:2", "The end .", 2),
    ]
    assert [(b.reason, b.detail, b.row) for b in _bad(items)] == [
        (corpora.EMPTY_TEXT, "brown/ca02: no text", 3)]


def test_nltk_zip_plain_unknown_corpus(tmp_path):
    path = _zip(tmp_path / "mine.zip", {
        "mine/README": b"about",
        "mine/a.txt": "First line of one.\nSecond line.\n\nNext paragraph\u00e9.\n".encode(),
        "mine/sub/b.txt": b"\xff\xfe broken",
    })
    items = _read("nltk_zip", path)
    assert [(i.example_id, i.text) for i in _good(items)] == [
        ("mine.zip/mine/a.txt:1", "First line of one. Second line."),
        ("mine.zip/mine/a.txt:2", "Next paragraph\u00e9."),
    ]
    (bad,) = _bad(items)
    assert bad.reason == corpora.INVALID_ENCODING and bad.detail.startswith("mine/sub/b.txt")


# --------------------------------------------------------------------------- mediawiki

_XML = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">
  <siteinfo><sitename>Wikipedia</sitename></siteinfo>
  <page><title>Redirected</title><ns>0</ns><id>10</id><redirect title="Thing" />
    <revision><id>1</id><text xml:space="preserve">#REDIRECT [[Thing]]</text></revision></page>
  <page><title>Thing</title><ns>0</ns><id>12</id>
    <revision><id>2</id><text xml:space="preserve">{text}</text></revision></page>
  <page><title>Wikipedia:About</title><ns>4</ns><id>13</id>
    <revision><id>3</id><text xml:space="preserve">Project page.</text></revision></page>
  <page><title>Only a box</title><ns>0</ns><id>14</id>
    <revision><id>4</id><text xml:space="preserve">{{{{Infobox|a=b}}}}</text></revision></page>
</mediawiki>
"""


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_mediawiki_reader(tmp_path):
    path = tmp_path / "wiki.xml.bz2"
    with bz2.open(path, "wt", encoding="utf-8") as f:
        f.write(_XML.replace("{text}", _xml_escape(WIKI)).replace("{{{{", "{{").replace("}}}}", "}}"))
    items = _read("mediawiki", path)
    assert [(i.example_id, i.text, i.row) for i in _good(items)] == [
        ("wiki.xml.bz2:12.1", wikitext.paragraphs(WIKI)[0], 2),
        ("wiki.xml.bz2:12.2", "History", 3),
        ("wiki.xml.bz2:12.3", wikitext.paragraphs(WIKI)[2], 4),
    ]
    assert [(b.reason, b.row) for b in _bad(items)] == [
        (corpora.NOT_CONTENT, 1), (corpora.NOT_CONTENT, 5), (corpora.EMPTY_TEXT, 6)]
    assert "redirect to 'Thing'" in _bad(items)[0].detail
    assert "namespace 4" in _bad(items)[1].detail
    assert corpora.guess_format([str(path)]) == "mediawiki"


def test_mediawiki_broken_xml_keeps_rows_before(tmp_path):
    path = tmp_path / "cut.xml"
    whole = _XML.replace("{text}", "Some text.").replace("{{{{", "{{").replace("}}}}", "}}")
    path.write_text(whole[: whole.index("<page><title>Wikipedia:About")] + "<page><title>x</ti")
    items = _read("mediawiki", path)
    assert [i.example_id for i in _good(items)] == ["cut.xml:12.1"]
    assert _bad(items)[-1].reason == corpora.MALFORMED_XML


# --------------------------------------------------------------------------- text


def test_text_reader_paragraphs(tmp_path):
    path = tmp_path / "book.txt.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"Title\n\n  First line\nsecond line\n\n\n\xff bad byte\nafter bad\n\nlast\n")
    items = _read("text", path)
    assert [(i.example_id, i.text, i.row) for i in _good(items)] == [
        ("book.txt.gz:1", "Title", 1), ("book.txt.gz:3", "First line second line", 3),
        ("book.txt.gz:8", "after bad", 8), ("book.txt.gz:10", "last", 10)]
    assert [(b.reason, b.row) for b in _bad(items)] == [(corpora.INVALID_ENCODING, 7)]


def test_unlabelled_formats_have_one_class():
    for fmt in corpora.UNLABELLED_FORMATS:
        assert corpora.resolve_classes(fmt, ["whatever"]).names == ["text"]


# --------------------------------------------------------------------------- the Beam job


def test_preprocess_mixed_unlabelled_corpora(tmp_path):
    from tests.test_preprocess import _load, _run

    dict_path = tmp_path / "mini.dict"
    dict_path.write_text(DICTD_SAMPLE)
    zip_path = _zip(tmp_path / "brown.zip", {
        "brown/ca01": b"\tThe/at jury/nn said/vbd ./.\n\n\tIt/pps ended/vbd ./.\n"})
    wiki = tmp_path / "wiki.xml"
    wiki.write_text(_XML.replace("{text}", _xml_escape(WIKI)).replace("{{{{", "{{").replace("}}}}", "}}"))
    txt = tmp_path / "book.txt"
    txt.write_text("Para one.\n\nPara two\ncontinues.\n\n" + "".join(f"Line {i}.\n\n" for i in range(6)))
    out = str(tmp_path / "out")
    # one format a corpus: FORMAT:PATH for each input
    m = _run("--unlabelled", "--input", f"dictd:{dict_path}", f"nltk_zip:{zip_path}",
             f"mediawiki:{wiki}", f"text:{txt}", "--output_dir", out, "--ngram_vocab_size", "0", "--max_words", "1000",
             "--test_fraction", "0.2")
    assert m.class_names == ["text"]
    assert m.source["input_formats"] == ["dictd", "nltk_zip", "mediawiki", "text"]
    counts = m.counts
    # dictd: 4 entries + 2 headers; brown: 2 paragraphs; wiki: 3 paragraphs + 3 pages rejected;
    # text: 8 paragraphs
    assert counts["read"] == 6 + 2 + 6 + 8
    assert counts["written"] == 4 + 2 + 3 + 8
    assert counts["rejected_by_reason"] == {"not_content": 4, "empty_text": 1}
    _, data = _load(out)
    ids = data["train"]["id"] + data["test"]["id"]
    assert sorted(ids) == sorted(
        ["mini.dict:13", "mini.dict:29", "mini.dict:34", "mini.dict:42",
         "brown.zip/brown/ca01:1", "brown.zip/brown/ca01:2",
         "wiki.xml:12.1", "wiki.xml:12.2", "wiki.xml:12.3",
         "book.txt:1", "book.txt:3"] + [f"book.txt:{6 + 2 * i}" for i in range(6)])
    assert data["test"]["id"]  # each corpus carves its own test rows
    assert set(data["train"]["label"]) == {0}


def test_preprocess_without_unlabelled_is_one_class_text(tmp_path):
    from tests.test_preprocess import _run

    txt = tmp_path / "book.txt"
    txt.write_text("".join(f"Paragraph {i}.\n\n" for i in range(10)))
    m = _run("--format", "text", "--input", str(txt), "--output_dir", str(tmp_path / "o"),
             "--ngram_vocab_size", "0")
    assert m.class_names == ["text"] and m.counts["written"] == 10


# --------------------------------------------------------------------------- real corpora


def _head(fmt, path, n):
    opts = corpora.ReadOptions(("text",), corpora.default_encoding(fmt), source=os.path.basename(path))
    return list(itertools.islice(corpora.read_file(fmt, path, opts), n))


def test_real_gcide_reader():
    items = _head("dictd", shared_path("text", "gcide.dict.gz"), 300)
    reasons = collections.Counter(b.reason for b in _bad(items))
    assert reasons == {"not_content": 4}  # 00-database-url/-short/-long/-info
    good = _good(items)
    assert good[0].example_id == "gcide.dict.gz:103" and good[0].text.startswith("0 adj.")
    assert all("[1913 Webster]" not in g.text and "\\" not in g.text for g in good)


@pytest.mark.parametrize("name", ["brown", "movie_reviews", "abc", "state_union", "inaugural",
                                  "webtext"])
def test_real_nltk_zips(name):
    path = shared_path("text", "nltk", f"{name}.zip")
    items = _head("nltk_zip", path, 200)
    good = _good(items)
    assert len(good) == 200 and not _bad(items)
    assert all(len(g.text.split()) <= text_corpora.MAX_WORDS or " " not in g.text for g in good)
    assert good[0].example_id.startswith(f"{name}.zip/{name}/") and good[0].example_id.endswith(":1")
    if name == "brown":
        assert good[0].text.startswith("The Fulton County Grand Jury said Friday")
        assert "/at" not in good[0].text


def test_real_mediawiki():
    items = _read("mediawiki", shared_path("text", "enwiki-shortened.xml.bz2"),
                  source="enwiki-shortened.xml.bz2")
    good, bad = _good(items), _bad(items)
    pages = {g.example_id.rpartition(":")[2].split(".")[0] for g in good}
    assert len(pages) + len(bad) == 206  # every page is an article with text or a rejected row
    assert collections.Counter(b.reason for b in bad) == {"not_content": 100}
    anarchism = [g.text for g in good if g.example_id.startswith("enwiki-shortened.xml.bz2:12.")]
    assert anarchism[0].startswith("Anarchism is a political philosophy that advocates self-governed")
    for g in good:
        for mark in ("{{", "}}", "<ref", "[[", "]]", "'''", "{|"):
            assert mark not in g.text, (mark, g.example_id)


def test_real_shakespeare():
    items = _head("text", shared_path("text", "shaks12.txt.gz"), 500)
    assert not _bad(items) and len(items) == 500
    assert any("Shakespeare" in g.text for g in items)
