"""Raw corpus readers: one input row in, one ``RawExample`` or ``Rejected`` out.

Every physical line of an input file (or every example of a TFDS split) gives
exactly one item, so ``read == written + rejected`` can be checked downstream.
Readers never raise on bad rows; they describe them in a :class:`Rejected`
with a reason from :data:`REASONS`.

Formats (``--format`` of ``beam_jobs.preprocess``):

``zhang_csv``
    Zhang et al. (2015) CSV: ``"class","title","description"``.  Class is
    1-based; one or more text fields follow and are joined with one space after
    turning each ``\\n`` escape (backslash, n) into a real new-line (as the
    authors' code does; other backslashes are kept).  ``""`` is a quote inside
    a quoted field.  Each row must sit on one line.  Every line of a file must
    have the file's field count (the most common count among its first 1,000
    parseable lines).  Class names: a ``--classes`` file if given, else
    ``classes.txt`` beside the first input file, else ``"1".."K"`` inferred
    from the labels (see "Inferred classes" below).
``trec``
    ``COARSE:fine question text`` per line (Li & Roth).  The label is the
    coarse class; class names are the six coarse classes sorted
    alphabetically, ``ABBR DESC ENTY HUM LOC NUM``, whatever files are read.
``line_per_class``
    One file per class, one text per line (e.g. MR ``rt-polarity.pos`` /
    ``rt-polarity.neg``).  A file's class name is the part of its base name
    after the last ``.`` (``rt-polarity.pos`` -> ``pos``), or the whole base
    name when it has no dot; classes are sorted by name (MR: neg=0, pos=1).
``tsv``
    ``text<TAB>label`` per line (split at the *last* tab, so the text may hold
    tabs).
``jsonl``
    One JSON object per line: ``{"text": str, "label": str | int}``.
``dictd``, ``nltk_zip``, ``mediawiki``, ``text``, ``captions_csv``
    Unlabelled corpora (GCIDE, NLTK corpus zips, Wikipedia dumps, plain text, image
    captions as ``image,caption`` CSV), one class ``text``; their rows are entries,
    paragraphs or captions, not lines: see :mod:`tfpipe.data.text_corpora`.  The rows
    of ``captions_csv`` belong to images: :func:`read_file`'s ``exclude_images`` leaves
    the captions of given images out as :class:`Excluded` rows (not rejections), so
    ``read == written + rejected + excluded``.

For ``tsv`` and ``jsonl`` a label is looked up first as a class *name*; if it is
not a name but an integer it is a **0-based class index**.  Class names come
from ``--classes`` if given; otherwise from a scan of the labels: if every label
is a non-negative integer the classes are ``"0".."K-1"`` inferred as below, else
the sorted set of distinct label strings.

Inferred classes (numeric labels, no class file): the classes are the labels
that are dense from the first class (1 for ``zhang_csv``, 0 for ``tsv``/``jsonl``)
up to the first missing one, counted on the train files (all files when the test
split is carved), so no class is ever empty: ``1 2 3 4`` and one ``99`` give four
classes, not 99.  Rows whose label is outside the classes (``99``; a test-file
label no train row has) are *unknown labels*: rejected as ``label_out_of_range``
(dead letter) or a stop before the job starts, as the caller chooses
(``--unknown_labels reject|error`` of ``beam_jobs.preprocess``).
:func:`resolve_classes` returns the classes and the unknown labels it saw.

Encodings: ``trec`` and ``line_per_class`` default to ``latin-1`` (the TREC and
MR distributions are latin-1; every byte decodes, so these formats never
reject for encoding), all other formats to ``utf-8`` (a leading BOM is
dropped).  ``encoding=...`` overrides; it must be ASCII-compatible (utf-8,
latin-1, cp1252, ...; not utf-16/32).  Lines end at ``\\n``; a ``\\r`` before it
is dropped.  Texts are stripped of surrounding white space; a blank line is
rejected as ``blank_line``.  Inputs ending in ``.gz`` are read through gzip.

Example ids are stable: ``"<file base name>:<line number>"`` (1-based line
numbers) or ``"<tfds name>/<split>:<index>"`` (0-based).
"""
from __future__ import annotations

import collections
import csv
import json
import os
from typing import Callable, Collection, Iterable, Iterator, NamedTuple, Sequence

from tfpipe.data import text_corpora
from tfpipe.data.rows import (  # noqa: F401  (re-exported: the readers' row types)
    DEFAULT_MAX_LINE_CHARS, RAW_CHARS, LINE_TOO_LONG, INVALID_ENCODING, BLANK_LINE, UNBALANCED_QUOTES,
    MALFORMED_CSV, WRONG_FIELD_COUNT, MALFORMED_LINE, BAD_JSON, BAD_LABEL, LABEL_OUT_OF_RANGE,
    EMPTY_TEXT, NOT_CONTENT, MALFORMED_XML, REASONS, RawExample, Rejected, Excluded,
    Item, open_binary, path_exists, _Line, _iter_lines, _truncate,
    _raw, _decoded_lines, ReadOptions,
)

TREC_COARSE = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")

_CSV_SNIFF_LINES = 1000


# --------------------------------------------------------------------------- formats


def _check_text(source: str, number: int, text: str, label: int, line: str) -> Item:
    text = text.strip()
    if not text:
        return Rejected(source, number, EMPTY_TEXT, "the text is empty", _truncate(line))
    return RawExample(f"{source}:{number}", text, label, number)


def _label_from_name_or_index(
    value: str, class_index: dict[str, int], num_classes: int
) -> tuple[int | None, str, str]:
    """Resolves a tsv/jsonl label; returns (label, reason, detail) with label None on error."""
    value = value.strip()
    if value in class_index:
        return class_index[value], "", ""
    try:
        index = int(value)
    except ValueError:
        return None, BAD_LABEL, f"label {value!r} is neither a class name nor an integer"
    if not 0 <= index < num_classes:
        return None, LABEL_OUT_OF_RANGE, f"label index {index} not in [0, {num_classes})"
    return index, "", ""


def _zhang_text(fields: Sequence[str]) -> str:
    parts = [f.replace("\\n", "\n").strip() for f in fields]
    return " ".join(p for p in parts if p)


def _parse_csv_line(text: str) -> list[str]:
    return next(csv.reader([text], strict=True))


def _content_lines(path: str, opts: "ReadOptions") -> Iterator:
    """``(line number, line)`` of ``path``'s decoded lines; lines that cannot be decoded,
    are too long or are blank come out as :class:`Rejected` (every reader's first step)."""
    for item in _decoded_lines(path, opts.source, opts.encoding, opts.max_line_chars):
        if not isinstance(item, Rejected) and not item[1].strip():
            item = Rejected(opts.source, item[0], BLANK_LINE, "blank line", _truncate(item[1]))
        yield item


def _read_zhang_csv(path: str, opts: ReadOptions) -> Iterator[Item]:
    source = opts.source
    num_classes = len(opts.class_names)
    lines = _content_lines(path, opts)
    # The file's field count: most common count among its first parseable lines.
    head: list = []
    counts: collections.Counter = collections.Counter()
    for item in lines:
        head.append(item)
        if not isinstance(item, Rejected):
            try:
                counts[len(_parse_csv_line(item[1]))] += 1
            except csv.Error:
                pass
        if len(head) >= _CSV_SNIFF_LINES:
            break
    expected = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0] if counts else None

    def rows() -> Iterator:
        yield from head
        yield from lines

    for item in rows():
        if isinstance(item, Rejected):
            yield item
            continue
        number, line = item
        try:
            fields = _parse_csv_line(line)
        except csv.Error as e:
            reason = UNBALANCED_QUOTES if "unexpected end of data" in str(e) else MALFORMED_CSV
            yield Rejected(source, number, reason, f"CSV parse error: {e}", _truncate(line))
            continue
        if len(fields) < 2 or len(fields) != expected:
            yield Rejected(
                source, number, WRONG_FIELD_COUNT,
                f"{len(fields)} fields, expected {expected} (class and at least one text field)",
                _truncate(line),
            )
            continue
        try:
            klass = int(fields[0].strip())
        except ValueError:
            yield Rejected(source, number, BAD_LABEL, f"class {fields[0]!r} is not an integer",
                           _truncate(line))
            continue
        if not 1 <= klass <= num_classes:
            yield Rejected(source, number, LABEL_OUT_OF_RANGE,
                           f"class {klass} not in 1..{num_classes}", _truncate(line))
            continue
        yield _check_text(source, number, _zhang_text(fields[1:]), klass - 1, line)


def _read_trec(path: str, opts: ReadOptions) -> Iterator[Item]:
    source = opts.source
    class_index = {name: i for i, name in enumerate(opts.class_names)}
    for item in _content_lines(path, opts):
        if isinstance(item, Rejected):
            yield item
            continue
        number, line = item
        head, sep, question = line.partition(" ")
        coarse, colon, _fine = head.partition(":")
        if not sep or not colon:
            yield Rejected(source, number, MALFORMED_LINE,
                           "expected 'COARSE:fine question text'", _truncate(line))
            continue
        if coarse not in class_index:
            yield Rejected(source, number, BAD_LABEL,
                           f"coarse class {coarse!r} not in {list(opts.class_names)}",
                           _truncate(line))
            continue
        yield _check_text(source, number, question, class_index[coarse], line)


def line_per_class_name(path: str) -> str:
    """A ``line_per_class`` file's class name: base-name suffix after the last dot."""
    base = os.path.basename(path)
    if base.endswith(".gz"):
        base = base[:-3]
    stem, dot, suffix = base.rpartition(".")
    return suffix if dot and stem and suffix else base


def _read_line_per_class(path: str, opts: ReadOptions) -> Iterator[Item]:
    source = opts.source
    name = line_per_class_name(path)
    if name not in opts.class_names:
        raise ValueError(f"{path}: class {name!r} is not in the class list {list(opts.class_names)}")
    label = opts.class_names.index(name)
    for item in _content_lines(path, opts):
        if isinstance(item, Rejected):
            yield item
            continue
        number, line = item
        yield _check_text(source, number, line, label, line)


def _read_tsv(path: str, opts: ReadOptions) -> Iterator[Item]:
    source = opts.source
    class_index = {name: i for i, name in enumerate(opts.class_names)}
    for item in _content_lines(path, opts):
        if isinstance(item, Rejected):
            yield item
            continue
        number, line = item
        text, tab, value = line.rpartition("\t")
        if not tab:
            yield Rejected(source, number, WRONG_FIELD_COUNT, "expected 'text<TAB>label'",
                           _truncate(line))
            continue
        label, reason, detail = _label_from_name_or_index(value, class_index, len(class_index))
        if label is None:
            yield Rejected(source, number, reason, detail, _truncate(line))
            continue
        yield _check_text(source, number, text, label, line)


def _json_row(line: str) -> tuple[str, str] | tuple[None, str]:
    """``(text, label string)`` of a JSONL line, or ``(None, error)``."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        return None, f"not JSON: {e}"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    if "text" not in obj or "label" not in obj:
        return None, "missing 'text' or 'label'"
    text, label = obj["text"], obj["label"]
    if not isinstance(text, str):
        return None, "'text' is not a string"
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        return None, "'label' is not a string or integer"
    return text, str(label)


def _read_jsonl(path: str, opts: ReadOptions) -> Iterator[Item]:
    source = opts.source
    class_index = {name: i for i, name in enumerate(opts.class_names)}
    for item in _content_lines(path, opts):
        if isinstance(item, Rejected):
            yield item
            continue
        number, line = item
        text, value = _json_row(line)
        if text is None:
            yield Rejected(source, number, BAD_JSON, value, _truncate(line))
            continue
        label, reason, detail = _label_from_name_or_index(value, class_index, len(class_index))
        if label is None:
            yield Rejected(source, number, reason, detail, _truncate(line))
            continue
        yield _check_text(source, number, text, label, line)


# --------------------------------------------------------------------------- class lists


def read_classes_file(path: str) -> list[str]:
    """One class name per line (blank lines ignored), e.g. Zhang et al.'s ``classes.txt``."""
    with open_binary(path) as f:
        names = [line.strip() for line in f.read().decode("utf-8-sig").splitlines()]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"class file {path} lists no classes")
    if len(set(names)) != len(names):
        raise ValueError(f"class file {path} repeats a class name")
    return names


class LabelScan(NamedTuple):
    """Labels seen in files: ``counts`` {label: rows}, ``first`` {label: "file:line"}."""

    counts: dict
    first: dict


def _zhang_label(line: str) -> int | None:
    try:
        return int(_parse_csv_line(line)[0].strip())
    except (csv.Error, ValueError, IndexError):
        return None


def scan_labels(fmt: str, paths: Sequence[str], encoding: str | None = None,
                max_line_chars: int = DEFAULT_MAX_LINE_CHARS) -> LabelScan:
    """The labels of ``paths``' readable rows: ints for ``zhang_csv``, stripped strings for
    ``tsv``/``jsonl`` (rows whose label cannot be parsed are left out: the reader rejects them)."""
    encoding = encoding or default_encoding(fmt)
    row_label = {"zhang_csv": _zhang_label, "tsv": _tsv_label, "jsonl": _jsonl_label}[fmt]
    counts: collections.Counter = collections.Counter()
    first: dict = {}
    for path in paths:
        for item in _decoded_lines(path, "", encoding, max_line_chars):
            if isinstance(item, Rejected) or not item[1].strip():
                continue
            value = row_label(item[1])
            if isinstance(value, str):
                value = value.strip() or None
            if value is None:
                continue
            counts[value] += 1
            first.setdefault(value, f"{os.path.basename(path)}:{item[0]}")
    return LabelScan(dict(counts), first)


def dense_classes(labels: Iterable[int], start: int) -> int:
    """How many classes ``start, start+1, ...`` are all present in ``labels`` (up to the first gap)."""
    present = set(labels)
    k = 0
    while start + k in present:
        k += 1
    return k


def _tsv_label(line: str) -> str | None:
    _, tab, value = line.rpartition("\t")
    return value if tab else None


def _jsonl_label(line: str) -> str | None:
    text, value = _json_row(line)
    return value if text is not None else None


def _unlabelled(name: str) -> Callable[[str, "ReadOptions"], Iterator[Item]]:
    return text_corpora.READERS[name]


class Format(NamedTuple):
    """A registered file format: its row reader and how its class list is found."""

    name: str
    default_encoding: str
    read: Callable[[str, ReadOptions], Iterator[Item]]
    description: str


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("zhang_csv", "utf-8", _read_zhang_csv,
               '"class","title","description" CSV, class 1-based (Zhang et al. 2015)'),
        Format("trec", "latin-1", _read_trec, "COARSE:fine question lines (TREC)"),
        Format("line_per_class", "latin-1", _read_line_per_class,
               "one file per class, one text per line (MR rt-polarity.pos/.neg)"),
        Format("tsv", "utf-8", _read_tsv, "text<TAB>label lines"),
        Format("jsonl", "utf-8", _read_jsonl, '{"text": ..., "label": ...} lines'),
        # unlabelled corpora (one class, "text"): tfpipe.data.text_corpora
        Format("dictd", "utf-8", _unlabelled("dictd"),
               "dictd dictionary text (GCIDE gcide.dict.gz), one example per entry"),
        Format("nltk_zip", "utf-8", _unlabelled("nltk_zip"),
               "NLTK corpus zip (brown.zip, ...), one example per paragraph"),
        Format("mediawiki", "utf-8", _unlabelled("mediawiki"),
               "MediaWiki XML dump (.xml[.bz2]), one example per article paragraph"),
        Format("text", "utf-8", _unlabelled("text"), "plain text, one example per paragraph"),
        Format("captions_csv", "utf-8", _unlabelled("captions_csv"),
               "image captions, CSV with a header naming an image and a caption column "
               "(Flickr8k image,caption), one example per caption"),
    )
}
UNLABELLED_FORMATS = ("dictd", "nltk_zip", "mediawiki", "text", "captions_csv")
IMAGE_KEYED_FORMATS = text_corpora.IMAGE_KEYED  # rows belong to images: exclude_images applies

_EXTENSIONS = {".csv": "zhang_csv", ".label": "trec", ".tsv": "tsv", ".jsonl": "jsonl",
               ".json": "jsonl", ".dict": "dictd", ".dz": "dictd", ".zip": "nltk_zip",
               ".xml": "mediawiki"}


def names() -> list[str]:
    return sorted(FORMATS)


def get_format(name: str) -> Format:
    """The format registered as ``name``; an unknown name lists the valid ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; valid formats: {names()}") from None


def guess_format(paths: Sequence[str]) -> str | None:
    """A format from the file extensions (``.csv``, ``.label``, ``.tsv``, ``.jsonl``, ``.dict``,
    ``.zip``, ``.xml``; under ``.gz`` / ``.bz2``; plain text needs ``text``), or None."""
    found = set()
    for path in paths:
        base = path[:-3] if path.endswith(".gz") else path[:-4] if path.endswith(".bz2") else path
        found.add(_EXTENSIONS.get(os.path.splitext(base)[1].lower()))
    return found.pop() if len(found) == 1 and None not in found else None


def check_encoding(encoding: str) -> None:
    """Raises ValueError unless ``encoding`` is known and ASCII-compatible (lines end in b"\\n")."""
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if "\n ,:\t".encode(encoding) != b"\n ,:\t":
        raise ValueError(f"encoding {encoding!r} is not ASCII-compatible (utf-16/32 are not "
                         "supported; convert the file to utf-8)")


def default_encoding(fmt: str) -> str:
    return get_format(fmt).default_encoding


class ClassList(NamedTuple):
    """The classes a format's files are read with, where they came from, and the unknown labels.

    ``source``: ``"classes_file"`` (``--classes``), ``"classes_beside"`` (``classes.txt`` beside
    a ``zhang_csv`` input), ``"labels"`` (inferred from the labels), ``"fixed"`` (TREC's coarse
    classes) or ``"file_names"`` (``line_per_class``).  ``classes_file``: the class file used, or
    None.  ``unknown``: {label: rows} of the rows whose label is outside the classes (known when the
    labels were scanned: always when inferred, else only with ``scan=True``), ``first``: {label:
    "file:line"} of the first such row; ``inferred_from``: the label range the classes were inferred
    from (e.g. ``"1..4"``), "" otherwise.
    """

    names: list
    source: str
    classes_file: str | None = None
    unknown: dict = {}
    first: dict = {}
    inferred_from: str = ""

    @property
    def unknown_rows(self) -> int:
        return sum(self.unknown.values())

    def describe_unknown(self, limit: int = 5) -> str:
        """``"label 99 (1 row, first at d.csv:5)"``-style list of the unknown labels."""
        labels = sorted(self.unknown, key=lambda v: (not isinstance(v, int), v))
        parts = []
        for value in labels[:limit]:
            n = self.unknown[value]
            parts.append(f"{value!r} ({n} row{'s' if n != 1 else ''}, first at {self.first[value]})"
                         if not isinstance(value, int) else
                         f"{value} ({n} row{'s' if n != 1 else ''}, first at {self.first[value]})")
        more = len(labels) - limit
        return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def _index_of_label(fmt: str, value, names: Sequence[str]) -> int | None:
    """The 0-based class a scanned label reads as with ``names`` (as the readers resolve it)."""
    if fmt == "zhang_csv":
        return value - 1 if 1 <= value <= len(names) else None
    if value in names:
        return names.index(value)
    try:
        index = int(value)
    except ValueError:
        return -1  # neither a name nor an integer: the reader rejects it as bad_label, not unknown
    return index if 0 <= index < len(names) else None


def _unknown(fmt: str, scan: LabelScan, names: Sequence[str]) -> tuple[dict, dict]:
    unknown = {v: n for v, n in scan.counts.items() if _index_of_label(fmt, v, names) is None}
    return unknown, {v: scan.first[v] for v in unknown}


def resolve_classes(
    fmt: str,
    paths: Sequence[str],
    *,
    train_paths: Sequence[str] | None = None,
    classes_file: str | None = None,
    encoding: str | None = None,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
    scan: bool = False,
) -> ClassList:
    """The ordered class list for reading ``paths`` (train and test files together).

    An explicit ``classes_file`` wins; otherwise see the module docstring per
    format.  Classes inferred from numeric labels are counted on ``train_paths``
    (default: all ``paths``) and are dense (no empty class).  ``scan=True`` also
    scans the labels when a class file gives the classes, to report unknown labels
    before any row is read for real.
    """
    get_format(fmt)
    encoding = encoding or default_encoding(fmt)
    if fmt in UNLABELLED_FORMATS:  # no labels: the one class of tfpipe.data.text_corpora
        return ClassList(["text"], "fixed")
    if fmt == "line_per_class":
        found = sorted({line_per_class_name(p) for p in paths})
        if classes_file:
            listed = read_classes_file(classes_file)
            missing = [n for n in found if n not in listed]
            if missing:
                raise ValueError(f"file classes {missing} are not in {classes_file} ({listed})")
            return ClassList(listed, "classes_file", classes_file)
        return ClassList(found, "file_names")
    if fmt == "trec":
        if classes_file:
            return ClassList(read_classes_file(classes_file), "classes_file", classes_file)
        return ClassList(list(TREC_COARSE), "fixed")
    source, used = "classes_file", classes_file
    if not used and fmt == "zhang_csv":
        beside = os.path.join(os.path.dirname(paths[0]), "classes.txt")
        if path_exists(beside):
            source, used = "classes_beside", beside
    if used:
        names = read_classes_file(used)
        if not scan:
            return ClassList(names, source, used)
        unknown, first = _unknown(fmt, scan_labels(fmt, paths, encoding, max_line_chars), names)
        return ClassList(names, source, used, unknown, first)
    train = list(train_paths if train_paths is not None else paths)
    train_scan = scan_labels(fmt, train, encoding, max_line_chars)
    all_scan = train_scan if len(train) == len(paths) else scan_labels(fmt, paths, encoding,
                                                                        max_line_chars)
    if fmt == "zhang_csv":
        k = dense_classes(train_scan.counts, 1)
        if k == 0:
            seen = sorted(all_scan.counts)
            raise ValueError(
                f"no row of {list(train)} has class 1 (zhang_csv classes are 1-based"
                + (f"; classes seen: {seen[:10]}" if seen else "; no valid class found")
                + "): pass --classes FILE naming the classes in order")
        names = [str(c) for c in range(1, k + 1)]
        inferred = f"1..{k}"
    else:
        if not all_scan.counts:
            raise ValueError(f"no labels found in {list(paths)}; pass --classes")
        if not all(v.isdigit() for v in all_scan.counts):
            return ClassList(sorted(all_scan.counts), "labels")
        k = dense_classes((int(v) for v in train_scan.counts), 0)
        if k == 0:
            raise ValueError(f"no row of {list(train)} has label 0 (numeric tsv/jsonl labels are "
                             "0-based class indexes): pass --classes FILE naming the classes in order")
        names = [str(c) for c in range(k)]
        inferred = f"0..{k - 1}"
    unknown, first = _unknown(fmt, all_scan, names)
    return ClassList(names, "labels", None, unknown, first, inferred)


def class_names(
    fmt: str,
    paths: Sequence[str],
    *,
    classes_file: str | None = None,
    encoding: str | None = None,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
) -> list[str]:
    """The ordered class list for reading ``paths`` (``resolve_classes(...).names``)."""
    return resolve_classes(fmt, paths, classes_file=classes_file, encoding=encoding,
                           max_line_chars=max_line_chars).names


def source_names(paths: Sequence[str]) -> list[str]:
    """Id prefixes for ``paths``: base names, or the paths themselves if base names collide."""
    bases = [os.path.basename(p) for p in paths]
    if len(set(bases)) == len(bases):
        return bases
    return list(paths)


def read_file(fmt: str, path: str, opts: ReadOptions,
              exclude_images: Collection[str] = ()) -> Iterator[Item | Excluded]:
    """Yields one ``RawExample`` or ``Rejected`` per row of ``path`` (a line, or an entry,
    paragraph or caption of the unlabelled formats).  ``exclude_images`` (image file base
    names; formats of :data:`IMAGE_KEYED_FORMATS` only): those images' rows come out as
    ``Excluded`` instead."""
    reader = get_format(fmt).read
    if not opts.source:
        opts = opts._replace(source=os.path.basename(path))
    if exclude_images:
        if fmt not in IMAGE_KEYED_FORMATS:
            raise ValueError(f"exclude_images applies to the formats whose rows belong to "
                             f"images ({list(IMAGE_KEYED_FORMATS)}), not {fmt!r}")
        return reader(path, opts, exclude_images=frozenset(exclude_images))
    return reader(path, opts)


def read_files(
    fmt: str,
    paths: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    classes_file: str | None = None,
    encoding: str | None = None,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
) -> tuple[list[str], list[Item]]:
    """Convenience for tests and small corpora: the class list and all items of ``paths``."""
    encoding = encoding or default_encoding(fmt)
    if classes is None:
        classes = class_names(fmt, paths, classes_file=classes_file, encoding=encoding,
                              max_line_chars=max_line_chars)
    items: list[Item] = []
    for path, source in zip(paths, source_names(paths)):
        opts = ReadOptions(tuple(classes), encoding, max_line_chars, source)
        items.extend(read_file(fmt, path, opts))
    return list(classes), items


# --------------------------------------------------------------------------- TFDS

# Known TFDS text datasets: which text features to join, in order, and whether
# they carry Zhang et al.'s "\n" escapes.
TFDS_PRESETS: dict[str, dict] = {
    "ag_news_subset": {"text_fields": ("title", "description"), "unescape_newlines": True},
}


class TfdsSpec(NamedTuple):
    """What to read from a TFDS dataset."""

    name: str
    data_dir: str | None = None
    text_fields: tuple[str, ...] = ()  # empty: the preset, else every Text feature
    label_field: str = "label"
    unescape_newlines: bool | None = None  # None: the preset, else False


def _tfds_builder(spec: TfdsSpec):
    import tensorflow_datasets as tfds

    return tfds.builder(spec.name, data_dir=spec.data_dir)


def tfds_resolve(spec: TfdsSpec, download: bool = True) -> tuple[TfdsSpec, list[str], dict[str, int | None]]:
    """Prepares the dataset (downloading it if needed) and resolves fields.

    Returns the completed spec, the class names (from the label's
    ``ClassLabel``) and ``{split name: number of examples or None}``.
    """
    import tensorflow_datasets as tfds

    builder = _tfds_builder(spec)
    features = builder.info.features
    if spec.label_field not in features:
        raise ValueError(f"TFDS {spec.name!r} has no label feature {spec.label_field!r}; "
                         f"features: {sorted(features.keys())}")
    label = features[spec.label_field]
    if not isinstance(label, tfds.features.ClassLabel):
        raise ValueError(f"TFDS {spec.name!r} feature {spec.label_field!r} is not a ClassLabel")
    preset = TFDS_PRESETS.get(spec.name, {})
    text_fields = tuple(spec.text_fields) or tuple(preset.get("text_fields", ())) or tuple(
        k for k, v in features.items() if isinstance(v, tfds.features.Text)
    )
    missing = [f for f in text_fields if f not in features]
    if not text_fields or missing:
        raise ValueError(f"TFDS {spec.name!r}: text fields {missing or '(none)'} not found; "
                         f"features: {sorted(features.keys())}")
    unescape = spec.unescape_newlines
    if unescape is None:
        unescape = bool(preset.get("unescape_newlines", False))
    spec = spec._replace(text_fields=text_fields, unescape_newlines=unescape)
    if download:
        builder.download_and_prepare()
    splits = {name: info.num_examples for name, info in builder.info.splits.items()}
    return spec, list(label.names), splits


def read_tfds(
    spec: TfdsSpec, split: str, start: int | None = None, end: int | None = None
) -> Iterator[Item]:
    """Yields the examples ``[start, end)`` of ``split`` (all when both are None).

    ``spec`` must come from :func:`tfds_resolve` (fields resolved, data prepared).
    """
    import tensorflow_datasets as tfds

    builder = _tfds_builder(spec)
    num_classes = builder.info.features[spec.label_field].num_classes
    offset = start or 0
    tfds_split = split if start is None and end is None else f"{split}[{offset}:{'' if end is None else end}]"
    ds = builder.as_dataset(split=tfds_split, shuffle_files=False)
    source = f"{spec.name}/{split}"
    for i, example in enumerate(tfds.as_numpy(ds)):
        index = offset + i
        parts = []
        bad = None
        for field in spec.text_fields:
            value = example[field]
            try:
                value = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            except UnicodeDecodeError as e:
                bad = Rejected(source, index, INVALID_ENCODING, f"{field}: not valid utf-8: {e}",
                               _raw(value, "utf-8"))
                break
            parts.append(value)
        if bad is not None:
            yield bad
            continue
        if spec.unescape_newlines:
            text = _zhang_text(parts)
        else:
            text = " ".join(p.strip() for p in parts if p.strip())
        label = int(example[spec.label_field])
        raw = _truncate(json.dumps({**dict(zip(spec.text_fields, parts)), "label": label}))
        if not 0 <= label < num_classes:
            yield Rejected(source, index, LABEL_OUT_OF_RANGE,
                           f"label {label} not in [0, {num_classes})", raw)
            continue
        text = text.strip()
        if not text:
            yield Rejected(source, index, EMPTY_TEXT, "the text is empty", raw)
            continue
        yield RawExample(f"{source}:{index}", text, label, index)
