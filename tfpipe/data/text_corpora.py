"""Unlabelled text corpora for ``beam_jobs.preprocess``: ``dictd``, ``nltk_zip``, ``mediawiki``, ``text``,
``captions_csv``.

The readers of :mod:`tfpipe.data.corpora` for corpora with no labels (word vectors: DeViSE's
language model).  Their one class is ``text`` (label 0), so they mix with each other, and with
the labelled formats under ``--unlabelled``.  A *row* of these formats is an example (an
entry, a paragraph) or a rejected piece, not a physical line: each reader yields one
``RawExample`` or ``Rejected`` per row, so ``read == written + rejected`` holds as for the
line formats.  ``row`` is unique within a file (it orders the file's rows for the split).

``dictd``
    A dictd dictionary's text (GCIDE's ``gcide.dict.gz``; gzip/dictzip or plain), parsed by
    :mod:`tfpipe.text.dictd`: one example per headword entry, its cleaned text (headword line,
    then one line per sense / note / synonym list; no pronunciations, etymologies, source tags
    or quotations).  Id ``<file>:<line of the headword>``.  The ``00-database-*`` header
    entries are rejected as ``not_content``; an entry with nothing but its headword and part
    of speech as ``empty_text``; undecodable or over-long lines as for the line formats.
``nltk_zip``
    An NLTK corpus zip (``brown.zip``, ``movie_reviews.zip``, ...), read with NLTK's own corpus
    readers on the zip (``nltk.data.ZipFilePathPointer``), with the file pattern and encoding
    that ``nltk.corpus`` declares for the corpus the zip is named after (Brown: the tagged
    reader, tags stripped; unknown names: every ``*.txt`` but READMEs, in ``--encoding``).
    One example per paragraph (a block between blank lines; the words joined by one space).
    Id ``<zip>/<member>:<n>``, ``n`` counting the member's paragraphs from 1.  A member that
    does not decode is one ``invalid_encoding`` row; a member with no text one ``empty_text``.
``mediawiki``
    A MediaWiki XML dump (``.xml`` or ``.xml.bz2``), streamed with ``iterparse``: one example per
    paragraph of each main-namespace article, cleaned of markup by :mod:`tfpipe.text.wikitext`
    (headings stay as paragraphs of their own).  Id ``<file>:<page id>.<n>``.  Redirects and
    pages outside the main namespace are one ``not_content`` row each, an article with no text
    left one ``empty_text`` row, a broken XML stream one ``malformed_xml`` row (the rows
    before it are kept).  The XML's own encoding declaration decides the encoding.
``text``
    Plain text (``.txt``, ``.gz``): one example per paragraph (non-blank lines up to a blank
    line, joined by one space).  Id ``<file>:<first line of the paragraph>``.  Undecodable or
    over-long lines are rejected as for the line formats (and end the paragraph).

``captions_csv``
    Image captions as CSV with a header line naming an image column (``image``, else
    ``image_id``, ``image_name``, ``filename`` or ``file_name``) and a caption column
    (``caption``, else ``text`` or ``sentence``), e.g. Flickr8k's ``image,caption`` files: one
    example per caption line, the caption as its text (not cut).  The header line is not a row.
    Each row sits on one line (a caption holding a comma is quoted, ``""`` a quote in it).  A
    line that does not parse is rejected as ``unbalanced_quotes`` or ``malformed_csv``, one with
    another field count than the header's as ``wrong_field_count``, one without an image name as
    ``malformed_line``, an empty caption as ``empty_text``; a header naming no image or caption
    column rejects every line as ``malformed_csv`` (``beam_jobs.preprocess`` checks the header
    before it starts: :func:`caption_columns`).  Id ``<file>:<line>``.  ``exclude_images``
    (``--exclude_images SPLIT_FILE:SPLITS``): the captions of those images (matched by the base
    name of the image field) come out as :class:`~tfpipe.data.rows.Excluded` rows, neither
    examples nor rejections, so ``read == written + rejected + excluded``.

Long paragraphs: a paragraph (or entry) of more than :data:`MAX_WORDS` whitespace-separated
words is cut, at its lines (``text``, ``nltk_zip``: NLTK's sentence lines) or sentences
(``mediawiki``), into examples of at most that many words (word2vec.c's sentence limit; pass
``--max_words 1000`` so the records keep them whole).  A single line or sentence longer than
that stays one example (``--max_words`` truncates it).  ``dictd`` entries are not cut.
"""
from __future__ import annotations

import csv
import os
import re
from typing import Collection, Iterable, Iterator, Sequence

from tfpipe.data import rows as corpora  # the row types and reading primitives (not the formats)
from tfpipe.data.rows import Excluded, RawExample, ReadOptions, Rejected

MAX_WORDS = 1000  # word2vec.c's MAX_SENTENCE_LENGTH

# nltk.corpus's declarations: reader, file pattern, encoding ("" = --encoding)
_NLTK_CORPORA = {
    "abc": ("plain", r"(?!\.).*\.txt", [("science", "latin_1"), ("rural", "utf8")]),
    "brown": ("tagged", r"c[a-z]\d\d", "ascii"),
    "inaugural": ("plain", r"(?!\.).*\.txt", "latin1"),
    "movie_reviews": ("plain", r"(?!\.).*\.txt", "ascii"),
    "state_union": ("plain", r"(?!\.).*\.txt", "ISO-8859-2"),
    "webtext": ("plain", r"(?!README|\.).*\.txt", "ISO-8859-2"),
}
_NLTK_DEFAULT = ("plain", r"(?!\.)(?!(?:.*/)?README)(?:.*/)?[^/]*\.txt", "")


def _chunks(units: Iterable[tuple[int, str]], max_words: int = MAX_WORDS) -> Iterator[tuple[int, str]]:
    """``(key of its first unit, text)`` pieces of ``units`` (``(key, text)`` in order) joined by
    one space, each at most ``max_words`` words unless one unit alone is longer."""
    keys: list[int] = []
    texts: list[str] = []
    words = 0
    for key, text in units:
        n = len(text.split())
        if not n:
            continue
        if texts and words + n > max_words:
            yield keys[0], " ".join(texts)
            keys, texts, words = [], [], 0
        keys.append(key)
        texts.append(text)
        words += n
    if texts:
        yield keys[0], " ".join(texts)


# --------------------------------------------------------------------------- dictd


def read_dictd(path: str, opts: ReadOptions) -> Iterator[corpora.Item]:
    from tfpipe.text import dictd

    source = opts.source
    rejected: list[Rejected] = []

    def lines() -> Iterator[tuple[int, str]]:
        for item in corpora._decoded_lines(path, source, opts.encoding, opts.max_line_chars):
            if isinstance(item, Rejected):
                rejected.append(item)
                continue
            yield item

    for entry in dictd.entries(lines(), headers=True):
        yield from rejected
        rejected.clear()
        if dictd.is_header(entry.headword):
            yield Rejected(source, entry.line, corpora.NOT_CONTENT,
                           f"dictd header entry {entry.headword!r}", corpora._truncate(entry.text))
            continue
        head, _, body = entry.text.partition("\n")
        if not body.strip() and len(head.split()) <= len(entry.headword.split()) + 3:
            yield Rejected(source, entry.line, corpora.EMPTY_TEXT,
                           f"entry {entry.headword!r} has no text beyond its headword line",
                           corpora._truncate(entry.text))
            continue
        yield RawExample(f"{source}:{entry.line}", entry.text, 0, entry.line)
    yield from rejected


# --------------------------------------------------------------------------- nltk_zip


def _nltk_reader(path: str, opts: ReadOptions):
    """``(NLTK corpus reader on the zip, member prefix)``."""
    import zipfile

    from nltk.corpus.reader import PlaintextCorpusReader, TaggedCorpusReader
    from nltk.data import ZipFilePathPointer
    from nltk.tokenize import LineTokenizer, WhitespaceTokenizer

    import nltk

    if "://" in path:  # zipfile needs a seekable local file: copy a remote zip first
        import shutil
        import tempfile

        local = os.path.join(tempfile.mkdtemp(prefix="tfpipe-nltk-"), os.path.basename(path))
        with corpora.open_binary(path) as f, open(local, "wb") as out:
            shutil.copyfileobj(f, out)
        path = local
    # NLTK reads only under its data directories (nltk.pathsec): authorize the zip's own
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in nltk.data.path:
        nltk.data.path.append(folder)
    archive = zipfile.ZipFile(path)
    names = [n for n in archive.namelist() if not n.endswith("/")]
    tops = {n.split("/", 1)[0] + "/" if "/" in n else "" for n in names}
    top = tops.pop() if len(tops) == 1 else ""
    name = os.path.basename(path)
    name = name[:-4] if name.lower().endswith(".zip") else name
    kind, pattern, encoding = _NLTK_CORPORA.get(name, _NLTK_DEFAULT)
    root = ZipFilePathPointer(archive, top)
    if kind == "tagged":
        reader = TaggedCorpusReader(root, pattern, encoding=encoding or opts.encoding)
    else:
        reader = PlaintextCorpusReader(
            root, pattern, word_tokenizer=WhitespaceTokenizer(),
            # NLTK's own sentence splitter (punkt) needs downloaded data; the corpora's files
            # hold a sentence a line, or at least wrap at sentence-ish places
            sent_tokenizer=LineTokenizer(blanklines="discard"),
            encoding=encoding or opts.encoding)
    return reader, top


def read_nltk_zip(path: str, opts: ReadOptions) -> Iterator[corpora.Item]:
    source = opts.source
    reader, top = _nltk_reader(path, opts)
    row = 0
    for fileid in sorted(reader.fileids()):
        member = top + fileid
        try:
            paras = [[" ".join(sent) for sent in para] for para in reader.paras(fileid)]
        except UnicodeDecodeError as e:
            row += 1
            yield Rejected(source, row, corpora.INVALID_ENCODING, f"{member}: {e}", member)
            continue
        n = 0
        for para in paras:
            for _, text in _chunks(enumerate(para)):
                row += 1
                n += 1
                yield RawExample(f"{source}/{member}:{n}", text, 0, row)
        if not n:
            row += 1
            yield Rejected(source, row, corpora.EMPTY_TEXT, f"{member}: no text", member)


# --------------------------------------------------------------------------- mediawiki

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element, name: str):
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def read_mediawiki(path: str, opts: ReadOptions) -> Iterator[corpora.Item]:
    import bz2
    import xml.etree.ElementTree as ET

    from tfpipe.text import wikitext

    source = opts.source
    row = 0
    with corpora.open_binary(path) as raw:
        stream = bz2.BZ2File(raw) if path.endswith(".bz2") else raw
        events = ET.iterparse(stream, events=("start", "end"))
        root = None
        try:
            for event, element in events:
                if event == "start":
                    if root is None:
                        root = element
                    continue
                if _local(element.tag) != "page":
                    continue
                title = (_child(element, "title").text if _child(element, "title") is not None
                         else "") or ""
                ns = (_child(element, "ns").text if _child(element, "ns") is not None else "0") or "0"
                page_id = (_child(element, "id").text if _child(element, "id") is not None
                           else "") or str(row + 1)
                redirect = _child(element, "redirect")
                revision = _child(element, "revision")
                text_el = _child(revision, "text") if revision is not None else None
                text = (text_el.text if text_el is not None else "") or ""
                what = f"page {page_id} {title!r}"
                if redirect is not None:
                    row += 1
                    yield Rejected(source, row, corpora.NOT_CONTENT,
                                   f"{what}: redirect to {redirect.get('title', '')!r}",
                                   corpora._truncate(text))
                elif ns.strip() != "0":
                    row += 1
                    yield Rejected(source, row, corpora.NOT_CONTENT,
                                   f"{what}: namespace {ns.strip()}, not an article",
                                   corpora._truncate(text))
                else:
                    # a long paragraph's sentences are joined back up to MAX_WORDS, never
                    # across paragraphs
                    n = 0
                    for paragraph in wikitext.paragraphs(text):
                        pieces = ([paragraph] if len(paragraph.split()) <= MAX_WORDS else
                                  [t for _, t in _chunks(enumerate(_SENTENCE_END.split(paragraph)))])
                        for piece in pieces:
                            row += 1
                            n += 1
                            yield RawExample(f"{source}:{page_id}.{n}", piece, 0, row)
                    if not n:
                        row += 1
                        yield Rejected(source, row, corpora.EMPTY_TEXT,
                                       f"{what}: no text left after markup removal",
                                       corpora._truncate(text))
                if root is not None:
                    root.clear()  # the pages already read
        except ET.ParseError as e:
            row += 1
            yield Rejected(source, row, corpora.MALFORMED_XML, f"XML parse error: {e}", "")


# --------------------------------------------------------------------------- text


def read_text(path: str, opts: ReadOptions) -> Iterator[corpora.Item]:
    source = opts.source
    paragraph: list[tuple[int, str]] = []

    def flush() -> Iterator[corpora.Item]:
        for first, text in _chunks(paragraph):
            yield RawExample(f"{source}:{first}", text, 0, first)
        paragraph.clear()

    for item in corpora._decoded_lines(path, source, opts.encoding, opts.max_line_chars):
        if isinstance(item, Rejected):
            yield from flush()
            yield item
            continue
        number, line = item
        if not line.strip():
            yield from flush()
            continue
        paragraph.append((number, line.strip()))
    yield from flush()


# --------------------------------------------------------------------------- captions_csv

IMAGE_COLUMNS = ("image", "image_id", "image_name", "filename", "file_name")
CAPTION_COLUMNS = ("caption", "text", "sentence")


def _csv_fields(line: str) -> list[str]:
    return next(csv.reader([line], strict=True))


def caption_columns(header: Sequence[str]) -> tuple[int, int]:
    """``(image column, caption column)`` indexes of a ``captions_csv`` header (names compared
    stripped and lower-cased, the first of :data:`IMAGE_COLUMNS` / :data:`CAPTION_COLUMNS`
    present wins); a ValueError naming the valid names otherwise."""
    names = [h.strip().lower() for h in header]
    image = next((names.index(c) for c in IMAGE_COLUMNS if c in names), None)
    caption = next((names.index(c) for c in CAPTION_COLUMNS if c in names), None)
    if image is None or caption is None:
        raise ValueError(
            f"the header {list(header)} names no {'image' if image is None else 'caption'} "
            f"column: captions_csv needs an image column ({' / '.join(IMAGE_COLUMNS)}) and a "
            f"caption column ({' / '.join(CAPTION_COLUMNS)})")
    return image, caption


def caption_header(path: str, encoding: str = "utf-8",
                   max_line_chars: int = corpora.DEFAULT_MAX_LINE_CHARS) -> list[str]:
    """The header fields of a ``captions_csv`` file (its first non-blank line); a ValueError when
    it has none or the header does not parse or name the columns (:func:`caption_columns`)."""
    for item in corpora._decoded_lines(path, "", encoding, max_line_chars):
        if isinstance(item, Rejected):
            raise ValueError(f"{path}:{item.row}: the header line is unreadable ({item.detail})")
        if item[1].strip():
            try:
                header = _csv_fields(item[1])
            except csv.Error as e:
                raise ValueError(f"{path}:{item[0]}: the header does not parse: {e}") from None
            caption_columns(header)
            return header
    raise ValueError(f"{path} is empty: captions_csv needs a header line (e.g. image,caption)")


def read_captions_csv(path: str, opts: ReadOptions,
                      exclude_images: Collection[str] = ()) -> Iterator[corpora.Item]:
    source = opts.source
    header: list[str] | None = None
    columns: tuple[int, int] | None = None
    bad_header = ""
    for item in corpora._decoded_lines(path, source, opts.encoding, opts.max_line_chars):
        if isinstance(item, Rejected):
            yield item
            continue
        number, line = item
        if header is None and not line.strip():
            continue  # blank lines before the header: not rows
        try:
            fields = _csv_fields(line) if line.strip() else []
        except csv.Error as e:
            if header is None:
                header, bad_header = [], f"the header line does not parse: {e}"
                yield Rejected(source, number, corpora.MALFORMED_CSV, bad_header,
                               corpora._truncate(line))
                continue
            reason = (corpora.UNBALANCED_QUOTES if "unexpected end of data" in str(e)
                      else corpora.MALFORMED_CSV)
            yield Rejected(source, number, reason, f"CSV parse error: {e}", corpora._truncate(line))
            continue
        if header is None:  # the header line: not a row unless it is unusable
            header = fields
            try:
                columns = caption_columns(header)
            except ValueError as e:
                bad_header = str(e)
                yield Rejected(source, number, corpora.MALFORMED_CSV, bad_header,
                               corpora._truncate(line))
            continue
        if not line.strip():
            yield Rejected(source, number, corpora.BLANK_LINE, "blank line", corpora._truncate(line))
            continue
        if columns is None:
            yield Rejected(source, number, corpora.MALFORMED_CSV, bad_header,
                           corpora._truncate(line))
            continue
        if len(fields) != len(header):
            yield Rejected(source, number, corpora.WRONG_FIELD_COUNT,
                           f"{len(fields)} fields, expected {len(header)} {header}",
                           corpora._truncate(line))
            continue
        image, caption = fields[columns[0]].strip(), fields[columns[1]].strip()
        if not image:
            yield Rejected(source, number, corpora.MALFORMED_LINE, "no image name",
                           corpora._truncate(line))
        elif not caption:
            yield Rejected(source, number, corpora.EMPTY_TEXT, "the caption is empty",
                           corpora._truncate(line))
        elif exclude_images and os.path.basename(image) in exclude_images:
            yield Excluded(source, number, os.path.basename(image))
        else:
            yield RawExample(f"{source}:{number}", caption, 0, number)


READERS = {
    "dictd": read_dictd,
    "nltk_zip": read_nltk_zip,
    "mediawiki": read_mediawiki,
    "text": read_text,
    "captions_csv": read_captions_csv,
}
# the formats whose rows belong to images: read_file's exclude_images applies to them
IMAGE_KEYED = ("captions_csv",)
