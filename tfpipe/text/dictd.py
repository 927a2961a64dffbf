"""Entries of a dictd dictionary in text form (GCIDE's ``gcide.dict.gz``), cleaned of markup.

The dictd ``.dict`` file is plain text (gzip or dictzip compressed, or not) found through an
``.index`` of offsets; this module reads the text alone, so it finds the entries from their
layout, the one GCIDE's converter writes:

- ``00-database-url``, ``00-database-short``, ... header entries come first (the last of them,
  ``00-database-info``, runs on to the first real entry); :func:`iter_entries` skips them
  unless ``headers=True``.
- An entry starts at a column-0 line that follows a blank line (or starts the file) and
  carries a ``\\pronunciation\\`` -- on that line or on the next one, which starts with ``\\``
  (``antidisestablishmentarianism`` / ``\\an`ti*dis...\\``).  The headword line may go on in
  further column-0 lines (``Brachycephaly \\...\\, Brachycephalism`` / ``\\...\\, n.``).  Any
  other column-0 line (a stray ``[1913 Webster]``, a table row) belongs to the entry before.
- The body is indented: senses ``1. ...`` at 3 spaces, their continuation at 6, quotations
  at 9 or more, ``[1913 Webster]`` / ``[WordNet 1.5]`` source tags after each paragraph.

One :class:`Entry` per headword block (GCIDE has one block per part of speech: ``Benefit``
the noun and ``Benefit`` the verb are two entries).  ``Entry.text`` is cleaned of markup:

- pronunciations ``\\Ben"e*fit\\`` (and the phonetic respelling in parentheses right after
  one) are dropped;
- GCIDE's character codes become plain letters (``[a^]`` -> ``a``, ``['e]`` -> ``e``,
  ``[ae]`` -> ``ae``, ``[beta]`` -> ``beta``), so ``C[oe]lenterata`` -> ``Coelenterata``;
- every remaining ``[...]`` is dropped: etymologies (``[OE. benefet, ...]``), usage labels
  (``[Obs.]``, ``[R.]``), source tags (collected into ``Entry.source`` first);
- ``{cross refs}`` keep their words, without the syllable marks (``{Gre*ga"ri*ous*ly}`` ->
  ``Gregariously``); an asterisk between two letters anywhere else goes too;
- quotations (paragraphs indented 9 or more spaces) are dropped, and so are attributions
  (``--Shak.``, ``--Ps. ciii. 2.``: ``--`` glued to a word, to the end of its line), unless
  ``quotations=True`` keeps both.

``Entry.text`` has one line per paragraph: the first is the cleaned headword line (headword
and part of speech, ``Benefit, n.``), then each sense (``1. An act of kindness; ...``), note
(``Note: ...``), synonym list (``Syn: ...``) or unnumbered definition on a line of its own.
:func:`definitions` splits that text into the definitions proper.
"""
from __future__ import annotations

import gzip
import re
from typing import IO, Iterable, Iterator, NamedTuple

__all__ = ["Entry", "iter_entries", "entries", "definitions", "clean", "is_header", "open_text"]


class Entry(NamedTuple):
    """One headword block of the dictionary.

    headword: the headword as written before its first pronunciation (``Benefit``,
        ``Benefit society``); character codes translated.
    text: the cleaned entry, one paragraph a line (see the module docstring); the first line
        is the headword line.
    source: the entry's source tags, distinct, in order, joined by ``"; "`` (``"1913 Webster"``,
        ``"WordNet 1.5 +PJC; 1913 Webster"``); ``""`` when it has none.
    line: 1-based number of the headword line in the (decompressed) file.
    """

    headword: str
    text: str
    source: str
    line: int


# ------------------------------------------------------------------------------ reading


def open_text(path: str) -> IO[str]:
    """Open ``path`` as text, gunzipping it when it starts with the gzip magic (``.gz``, ``.dz``)."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


_HEADER = re.compile(r"^00-?database")


_PARAGRAPH_END = re.compile(r"^\s+(?:\[[^\]]*\]\s*\S*|.*--\S.*)$")


def _blocks(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    """(1-based line of the headword, raw lines) for each entry, header entries included,
    from ``(line number, line)`` pairs."""
    start = 0
    current: list[str] = []
    prev_blank, prev = True, ""
    pending: tuple[int, str] | None = None  # a column-0 line after a blank, not yet decided
    for number, raw in lines:
        line = raw.rstrip("\r\n")
        if pending is not None:
            p_number, p_line = pending
            pending = None
            if line.startswith("\\"):  # the pronunciation is on the line after the headword
                if current:
                    yield start, current
                start, current = p_number, [p_line]
            else:
                current.append(p_line)
        blank = not line.strip()
        after_paragraph = prev_blank or (
            # a headword line straight after a paragraph that ends in a source tag or an
            # attribution (``--Locke.`` then ``0 \\0\\ adj.``), with no blank line between
            _PARAGRAPH_END.match(prev) is not None and "\\" in line[1:]
        )
        if not blank and not line[0].isspace() and after_paragraph:
            if _HEADER.match(line) or "\\" in line:
                if current:
                    yield start, current
                start, current = number, [line]
            else:
                pending = (number, line)
        elif current or not blank:
            if not current:
                start = number
            current.append(line)
        prev_blank, prev = blank, line
    if pending is not None:
        current.append(pending[1])
    if current:
        yield start, current


def iter_entries(path: str, *, headers: bool = False, quotations: bool = False) -> Iterator[Entry]:
    """The entries of the dictd text file ``path`` (gzipped or not), in file order.

    headers: also yield the ``00-database-*`` entries (their text is cleaned like any other).
    quotations: keep quotations and their ``--Author`` attributions in ``Entry.text``.
    """
    with open_text(path) as f:
        yield from entries(enumerate(f, 1), headers=headers, quotations=quotations)


def entries(lines: Iterable[tuple[int, str]], *, headers: bool = False,
            quotations: bool = False) -> Iterator[Entry]:
    """:func:`iter_entries` over ``(1-based line number, line)`` pairs already read (numbers
    may skip lines a caller dropped; ``Entry.line`` keeps the numbers given)."""
    for line, raw in _blocks(lines):
        if is_header(raw[0]) and not headers:
            continue
        yield parse_entry(raw, line, quotations=quotations)


def is_header(headword_line: str) -> bool:
    """Whether a headword line opens a dictd header entry (``00-database-info``, ...)."""
    return bool(_HEADER.match(headword_line))


# ----------------------------------------------------------------------------- cleaning

# ``[1913 Webster]``, ``[WordNet 1.5 +PJC]``, ``[Webster 1913 Suppl. + AS]``, ``[Century Dict. 1906]``
_SOURCE_NAME = (
    r"(?:1913\s+Webster|Webster\s+1913(?:\s+Suppl\.?)?|WordNet(?:\s+\d+\.\d+|\s+sense\s+\d+)?"
    r"|PJC\.?|Century\s+Dict\.?(?:\s+\d{4})?|RDH|AS|MW10|MI11|RHUD|JC|JG|WE1|RP|GG|wn1)"
)
_SOURCE_TAG = re.compile(r"\[(\s*\+?\s*" + _SOURCE_NAME + r"(?:\s*\+?\s*" + _SOURCE_NAME + r")*\s*)\]")

_TAG_THEN_WORD = re.compile(r"(?m)^[ \t]*" + _SOURCE_TAG.pattern + r"[ \t]+\S+[ \t]*$")

# ``\Ben"e*fit\`` (may wrap onto the next line), then an optional phonetic respelling
# ``([a^]n*[o^]p"l[-o]*th[=e]r)`` -- parentheses holding respelling marks only.
_PRONUNCIATION = re.compile(
    r"\\(?:[^\\\n]|\n(?![ \t]*\n)){0,160}?\\(?:[ \t]*\([^()\n]*[*\"`\[][^()\n]*\))?"
)

# a respelling on its own: no spaces, with syllable / accent marks or character codes
_RESPELLING = re.compile(r"\((?=[^()\s]*[*\"`\[])[^()\s]+\)")

_NAMED_CODES = {
    "imac": "i", "aum": "a", "eth": "th", "th": "th", "ng": "ng", "asl": "a", "add": "a",
    "udd": "u", "yogh": "y", "root": "", "deg": " degrees", "sect": "", "nbsp": " ",
    "ldqo": '"', "rdqo": '"', "rarr": "->", "dag": "", "para": "", "sec": "", "min": "",
    "flat": "", "bar": "", "zdot": "z", "mdot": "m", "ncir": "n", "mtil": "m", "tsdo": "t",
    "edh": "th", "Edh": "Th",
    "alpha": "alpha", "beta": "beta", "gamma": "gamma", "delta": "delta", "epsilon": "epsilon",
    "zeta": "zeta", "eta": "eta", "theta": "theta", "iota": "iota", "kappa": "kappa",
    "lambda": "lambda", "mu": "mu", "nu": "nu", "xi": "xi", "omicron": "omicron", "pi": "pi",
    "rho": "rho", "sigma": "sigma", "tau": "tau", "upsilon": "upsilon", "phi": "phi",
    "chi": "chi", "psi": "psi", "omega": "omega",
}
# accented letters: a mark before (``[=e]``, ``['e]``, ``[.a]``, ``[-o]``, ``[~n]``, ``[,c]``,
# ``[*a]``, ``[^o]``) or a circumflex after (``[a^]``, ``[oo^]``); ligatures ``[ae]`` ``[oe]``.
_LETTER_CODE = re.compile(
    r"\[(?:[=\"'`~.\-,*^]([A-Za-z]|ae|oe|oo|AE|OE)|([A-Za-z]|oo|ae|oe)\^|(ae|oe|AE|OE))\]"
)
_NAMED_CODE = re.compile(r"\[(" + "|".join(sorted(_NAMED_CODES, key=len, reverse=True)) + r")\]")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_BRACES = re.compile(r"\{([^{}]*)\}")
_SYLLABLE_MARKS = re.compile(r"[*\"`]")
_INNER_ASTERISK = re.compile(r"(?<=\w)\*(?=\w)")
_ATTRIBUTION = re.compile(r"(?<!\S)--(?=[^\s\-])[^\n]*")
_SENSE = re.compile(r"^\s{0,8}(?:\d{1,2}\.|\([a-z]\)|Syn:|Note:)\s")
_QUOTATION_INDENT = 9


def _letters(match: re.Match) -> str:
    return next(g for g in match.groups() if g)


def translate_codes(text: str) -> str:
    """GCIDE character codes to plain letters: ``C[oe]lenterata`` -> ``Coelenterata``."""
    text = _LETTER_CODE.sub(_letters, text)
    return _NAMED_CODE.sub(lambda m: _NAMED_CODES[m.group(1)], text)


def clean(text: str, *, quotations: bool = False) -> str:
    """One paragraph (or any GCIDE text) without markup, whitespace collapsed to single spaces."""
    text = _RESPELLING.sub("", _PRONUNCIATION.sub("", text))
    text = translate_codes(text)
    for _ in range(3):  # nested brackets go from the inside out
        text, n = _BRACKETS.subn("", text)
        if not n:
            break
    for _ in range(3):
        text, n = _BRACES.subn(lambda m: _SYLLABLE_MARKS.sub("", m.group(1)), text)
        if not n:
            break
    text = _INNER_ASTERISK.sub("", text)
    if not quotations:
        text = _ATTRIBUTION.sub("", text)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([,;.:])", r"\1", text).strip(" ,;")


def _sources(raw: str) -> str:
    seen: list[str] = []
    for match in _SOURCE_TAG.finditer(raw):
        tag = re.sub(r"\s+", " ", match.group(1)).strip()
        if tag not in seen:
            seen.append(tag)
    return "; ".join(seen)


def _headword(first: str) -> str:
    head = first.split("\\", 1)[0]
    return re.sub(r"\s+", " ", translate_codes(head)).strip(" ,")


def parse_entry(raw: list[str], line: int = 1, *, quotations: bool = False) -> Entry:
    """The :class:`Entry` of one block of raw lines (the headword line first)."""
    text = "\n".join(raw)
    source = _sources(text)
    # ``[1913 Webster] Amperemeter``: the converter left the next headword after a source tag
    text = _TAG_THEN_WORD.sub("", text)
    # Pronunciations, codes and brackets go from the whole block first: an etymology runs
    # from the headword line onto the next ones, a pronunciation may wrap.  What follows a
    # removed span joins its first line, so the line structure otherwise survives.
    text = _RESPELLING.sub("", _PRONUNCIATION.sub("", text))
    text = translate_codes(text)
    for _ in range(3):
        text, n = _BRACKETS.subn("", text)
        if not n:
            break
    lines = text.split("\n")
    n_head = 1
    while n_head < len(lines) and lines[n_head].strip() and not lines[n_head][0].isspace():
        n_head += 1
    paragraphs = [clean(" ".join(lines[:n_head]), quotations=quotations)]
    current: list[str] = []
    skipping = False

    def close() -> None:
        if current:
            cleaned = clean(" ".join(current), quotations=quotations)
            if cleaned:
                paragraphs.append(cleaned)
            current.clear()

    prev_blank = False
    for body in lines[n_head:]:
        if not body.strip():
            close()
            prev_blank = True
            continue
        indent = len(body) - len(body.lstrip())
        starts_block = prev_blank or not current and not skipping
        prev_blank = False
        if starts_block:
            close()
            skipping = indent >= _QUOTATION_INDENT and not quotations
        if skipping:
            continue
        if _SENSE.match(body) and current:
            close()
        current.append(body)
    close()
    return Entry(_headword(raw[0]), "\n".join(p for p in paragraphs if p), source, line)


# -------------------------------------------------------------------------- definitions

_NUMBERED = re.compile(r"^(\d{1,2})\.\s+")  # sense numbers (a year such as "1691." is not one)
_NOT_DEFINITION = re.compile(r"^(?:Syn|Note|See also|Usage)\s*:", re.IGNORECASE)


def definitions(entry: Entry) -> list[str]:
    """The definitions of ``entry``: its numbered senses, without their numbers, in order.

    ``1. An act of kindness; a favor conferred.`` -> ``An act of kindness; a favor conferred.``
    An entry without numbered senses gives each paragraph after the headword line that is not
    a ``Syn:`` / ``Note:`` paragraph (``Beneficient`` -> ``["Beneficent."]``).  Lettered
    sub-senses ``(a) ...`` join the sense before them.  ``[]`` when nothing is left.
    """
    paragraphs = entry.text.split("\n")[1:]
    senses: list[str] = []
    numbered = any(_NUMBERED.match(p) for p in paragraphs)
    for paragraph in paragraphs:
        if _NOT_DEFINITION.match(paragraph):
            continue
        if numbered:
            match = _NUMBERED.match(paragraph)
            if match:
                senses.append(paragraph[match.end():].strip())
            elif paragraph.startswith("(") and re.match(r"^\([a-z]\)\s", paragraph) and senses:
                senses[-1] = f"{senses[-1]} {paragraph}"
        else:
            senses.append(paragraph)
    return [s for s in senses if s]
