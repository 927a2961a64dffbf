"""tfpipe.text.dictd: GCIDE entries from the dictd text, cleaned of markup, and their senses."""
from __future__ import annotations

import gzip

from tests.conftest import shared_path
from tfpipe.text import dictd

# The layout of GCIDE's gcide.dict (header entries, then entries at column 0), shortened.
SAMPLE = """\

00-database-url
   ftp://ftp.gnu.org/gnu/gcide

00-database-info
   This file was converted from the original database on:

The original data was distributed with the notice shown below.
No additional restrictions are claimed.

      A dictionary containing a natural history requires too
      many hands.                                 --Locke.
Benefit \\Ben"e*fit\\, n. [OE. benefet, benfeet, bienfet, F.
   bienfait, fr. L. benefactum. See {Bounty}, and {Fact}.]
   1. An act of kindness; a favor conferred.
      [1913 Webster]

            Bless the Lord, O my soul, and forget not all his
            benefits.                             --Ps. ciii. 2.
      [1913 Webster]

   2. Whatever promotes prosperity; advantage; profit. [R.]
      "The benefits of your own country." --Shak.
      [1913 Webster]

   Syn: Profit; service; use; avail. See {Advantage}.
        [1913 Webster]

Benefit \\Ben"e*fit\\, v. i.
   To gain advantage; to profit; -- said of {Gre*ga"ri*ous*ness}.
   [1913 Webster]
[1913 Webster]

antidisestablishmentarianism
\\an`ti*dis`es*tab`lish*men*ta"ri*an*ism\\

   ([a^]n*t[-e]*d[i^]s`[e^]s*t[a^]b`l[i^]sh*men*t[^a]r"[-e]*[a^]n*[i^]z'm),
   n.
   the doctrine that opposes disestablishment.
   [PJC]

Coelenterata \\C[oe]l*en`te*ra"ta\\ (s[-e]*l[e^]n`t[-e]*r[=a]"t[.a]), n. pl.
   1. (Zool.) A {C[oe]lenterata} subkingdom of [beta]-animals.
   2. Polyps and jellyfish.

   Syn: zoophytes
        [WordNet 1.5 +PJC]
        [1913 Webster]
"""


def _write(tmp_path, text=SAMPLE, gz=True):
    path = tmp_path / ("sample.dict.gz" if gz else "sample.dict")
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def test_entries_headwords_lines_and_sources(tmp_path):
    entries = list(dictd.iter_entries(_write(tmp_path)))
    assert [(e.headword, e.line) for e in entries] == [
        ("Benefit", 13),
        ("Benefit", 29),
        ("antidisestablishmentarianism", 34),
        ("Coelenterata", 42),
    ]
    assert [e.source for e in entries] == ["1913 Webster", "1913 Webster", "PJC", "WordNet 1.5 +PJC; 1913 Webster"]
    # the same from an uncompressed file
    plain = list(dictd.iter_entries(_write(tmp_path, gz=False)))
    assert plain == entries


def test_headers_are_skipped_unless_asked_for(tmp_path):
    path = _write(tmp_path)
    headers = [e for e in dictd.iter_entries(path, headers=True) if e.headword.startswith("00-database")]
    assert [e.headword for e in headers] == ["00-database-url", "00-database-info"]
    # the info entry runs on (column-0 lines with no pronunciation) to the first real entry
    assert "No additional restrictions" in headers[1].text
    assert headers[1].text.endswith("A dictionary containing a natural history requires too many hands.")


def test_text_is_cleaned_of_markup(tmp_path):
    benefit, benefit_v, anti, coel = dictd.iter_entries(_write(tmp_path))
    assert benefit.text == (
        "Benefit, n.\n"
        "1. An act of kindness; a favor conferred.\n"
        '2. Whatever promotes prosperity; advantage; profit. "The benefits of your own country."\n'
        "Syn: Profit; service; use; avail. See Advantage."
    )
    # syllable marks inside braces go; a stray column-0 source tag joins the entry and goes too
    assert benefit_v.text == "Benefit, v. i.\nTo gain advantage; to profit; -- said of Gregariousness."
    # a respelling on its own line after the pronunciation goes as well
    assert anti.text == "antidisestablishmentarianism\nn. the doctrine that opposes disestablishment."
    # character codes: [oe] -> oe, [beta] -> beta; the respelling after the pronunciation goes
    assert coel.text.split("\n")[:2] == ["Coelenterata, n. pl.", "1. (Zool.) A Coelenterata subkingdom of beta-animals."]
    for entry in (benefit, benefit_v, anti, coel):
        for mark in ("\\", "[", "]", "{", "}", "*", "--Shak", "Webster"):
            assert mark not in entry.text, (mark, entry)


def test_quotations_kept_when_asked(tmp_path):
    benefit = next(dictd.iter_entries(_write(tmp_path), quotations=True))
    assert "Bless the Lord, O my soul, and forget not all his benefits. --Ps. ciii. 2." in benefit.text
    assert "--Shak." in benefit.text


def test_definitions_split_numbered_senses(tmp_path):
    benefit, benefit_v, anti, coel = dictd.iter_entries(_write(tmp_path))
    assert dictd.definitions(benefit) == [
        "An act of kindness; a favor conferred.",
        'Whatever promotes prosperity; advantage; profit. "The benefits of your own country."',
    ]
    assert dictd.definitions(benefit_v) == ["To gain advantage; to profit; -- said of Gregariousness."]
    assert dictd.definitions(coel) == ["(Zool.) A Coelenterata subkingdom of beta-animals.", "Polyps and jellyfish."]
    made = dictd.Entry("Dog", "Dog, n.\n1. A quadruped.\n2. (Mech.)\n(a) A grappling iron.\n(b) A catch.\nNote: x", "", 1)
    assert dictd.definitions(made) == ["A quadruped.", "(Mech.) (a) A grappling iron. (b) A catch."]
    assert dictd.definitions(dictd.Entry("X", "X, n.", "", 1)) == []


def test_real_gcide():
    """The real GCIDE, read up to ``Dog`` (a quarter of the file; the Beam job's test reads it all)."""
    path = shared_path("text", "gcide.dict.gz")
    seen = {}
    n = 0
    for entry in dictd.iter_entries(path):
        n += 1
        if entry.headword in ("0", "Benefit", "Dog", "Albatross") and entry.headword not in seen:
            seen[entry.headword] = entry
        assert not entry.headword.startswith("00-database")
        if entry.headword == "Dog":
            break
    assert n > 30_000
    # the first real entry follows the header's closing quotation with no blank line between
    assert seen["0"].line == 103 and seen["0"].text.startswith("0 adj.\n1. indicating the absence")
    assert seen["Benefit"].line == 100033 and seen["Benefit"].source == "1913 Webster"
    senses = dictd.definitions(seen["Benefit"])
    assert senses[0] == "An act of kindness; a favor conferred." and len(senses) == 5
    assert dictd.definitions(seen["Dog"])[0].startswith("(Zool.) A quadruped of the genus Canis")
    assert "albatross" in seen["Albatross"].text.lower()


def test_a_year_at_a_line_start_is_not_a_sense_number(tmp_path):
    """GCIDE's Goldfish: its (a) sense wraps onto a line that starts with "1691."."""
    text = ("Goldfish \\Gold\"fish`\\, n. (Zool.)\n"
            "   (a) A small domesticated cyprinoid fish; it is said to have been introduced into Europe in\n"
            "   1691. It is often kept as an ornament.\n"
            "   (b) A California marine fish; the garibaldi.\n"
            "   [1913 Webster]\n")
    goldfish, = dictd.iter_entries(_write(tmp_path, text))
    assert dictd.definitions(goldfish) == [
        "(a) A small domesticated cyprinoid fish; it is said to have been introduced into Europe in "
        "1691. It is often kept as an ornament.", "(b) A California marine fish; the garibaldi."]
