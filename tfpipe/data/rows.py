"""The rows a corpus reader yields and the reading primitives every reader shares.

A reader turns one input row into a :class:`RawExample` (a good row) or a
:class:`Rejected` (a row for the dead-letter file, with a reason of
:data:`REASONS`), never raising on bad rows, so ``read == written + rejected``
can be checked downstream (``+ excluded``: an :class:`Excluded` row is one that
a reader left out on purpose, e.g. a caption of a held-out image).
:func:`open_binary` opens local, remote and gzipped files; :func:`_decoded_lines`
gives a file's numbered, decoded lines or the rejections of too-long and undecodable
ones.  The labelled formats
(:mod:`tfpipe.data.corpora`), the unlabelled ones (:mod:`tfpipe.data.text_corpora`)
and the image listings (:mod:`tfpipe.data.image_sources`) all build on this module.
"""
from __future__ import annotations

import gzip
import os
from typing import Iterator, NamedTuple

DEFAULT_MAX_LINE_CHARS = 100_000
RAW_CHARS = 500  # how much of a rejected row's raw text is kept

# Rejection reasons (the keys of ``rejected_by_reason`` in the manifest).
LINE_TOO_LONG = "line_too_long"
INVALID_ENCODING = "invalid_encoding"
BLANK_LINE = "blank_line"
UNBALANCED_QUOTES = "unbalanced_quotes"
MALFORMED_CSV = "malformed_csv"
WRONG_FIELD_COUNT = "wrong_field_count"
MALFORMED_LINE = "malformed_line"
BAD_JSON = "bad_json"
BAD_LABEL = "bad_label"
LABEL_OUT_OF_RANGE = "label_out_of_range"
EMPTY_TEXT = "empty_text"
NOT_CONTENT = "not_content"  # a dictd header entry, a MediaWiki redirect (tfpipe.data.text_corpora)
MALFORMED_XML = "malformed_xml"
REASONS = (
    LINE_TOO_LONG,
    INVALID_ENCODING,
    BLANK_LINE,
    UNBALANCED_QUOTES,
    MALFORMED_CSV,
    WRONG_FIELD_COUNT,
    MALFORMED_LINE,
    BAD_JSON,
    BAD_LABEL,
    LABEL_OUT_OF_RANGE,
    EMPTY_TEXT,
    NOT_CONTENT,
    MALFORMED_XML,
)

_READ_CHUNK = 1 << 20


class RawExample(NamedTuple):
    """A good row: stable id, cleaned text and 0-based label.

    ``row`` is the 1-based line number (0-based index for TFDS) in its source;
    it orders a source's rows for the stratified split.
    """

    example_id: str
    text: str
    label: int
    row: int = 0


class Rejected(NamedTuple):
    """A row that could not be used, for the dead-letter file."""

    source: str
    row: int
    reason: str
    detail: str
    raw: str


class Excluded(NamedTuple):
    """A good row left out on purpose (``--exclude_images``: a caption of a held-out image).

    Not a rejection: it is not written to the dead letter but counted apart, so that
    ``read == written + rejected + excluded``.  ``key`` is what excluded it (the image).
    """

    source: str
    row: int
    key: str


Item = RawExample | Rejected


# --------------------------------------------------------------------------- files


def open_binary(path: str):
    """Opens a local or remote (``gs://``, ...) file for binary reading; ``.gz`` is unzipped."""
    if "://" in path:
        import tensorflow as tf  # remote file systems only

        f = tf.io.gfile.GFile(path, "rb")
    else:
        f = open(path, "rb")
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=f, mode="rb")
    return f


def path_exists(path: str) -> bool:
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.exists(path)
    return os.path.isfile(path)


class _Line(NamedTuple):
    number: int  # 1-based
    data: bytes  # without the line terminator; only a prefix when too long
    too_long: bool
    length: int  # full length in bytes


def _iter_lines(f, max_bytes: int) -> Iterator[_Line]:
    """Splits a binary stream into lines without holding an over-long line in memory."""
    buf = bytearray()
    number = 0
    skipping = False  # inside an over-long line: drop bytes until its end
    skipped_prefix = b""
    skipped_len = 0
    eof = False
    while True:
        if not eof:
            chunk = f.read(_READ_CHUNK)
            if chunk:
                buf += chunk
            else:
                eof = True
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if skipping:
                if end < 0:
                    skipped_len += len(buf) - start
                    start = len(buf)
                    break
                skipped_len += end - start
                number += 1
                yield _Line(number, skipped_prefix, True, skipped_len)
                skipping = False
                start = end + 1
                continue
            if end < 0:
                pending = len(buf) - start
                if pending > max_bytes:
                    skipping = True
                    skipped_prefix = bytes(buf[start : start + 4 * RAW_CHARS])
                    skipped_len = pending
                    start = len(buf)
                break
            length = end - start
            number += 1
            if length > max_bytes:
                yield _Line(number, bytes(buf[start : start + 4 * RAW_CHARS]), True, length)
            else:
                yield _Line(number, bytes(buf[start:end]), False, length)
            start = end + 1
        del buf[:start]
        if eof:
            break
    if skipping:
        number += 1
        yield _Line(number, skipped_prefix, True, skipped_len)
    elif buf:
        number += 1
        yield _Line(number, bytes(buf), len(buf) > max_bytes, len(buf))


def _truncate(text: str) -> str:
    return text[:RAW_CHARS]


def _raw(data: bytes, encoding: str) -> str:
    return _truncate(data.decode(encoding, errors="backslashreplace"))


def _decoded_lines(
    path: str, source: str, encoding: str, max_line_chars: int
) -> Iterator[tuple[int, str] | Rejected]:
    """``(line number, text)`` per line, or a ``Rejected`` for too-long / undecodable lines."""
    is_utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    # No codec we expect needs more than 4 bytes per character: longer lines are
    # rejected without decoding them (or holding them in memory).
    max_bytes = max_line_chars * 4
    with open_binary(path) as f:
        for line in _iter_lines(f, max_bytes):
            data = line.data
            if line.too_long:
                yield Rejected(
                    source, line.number, LINE_TOO_LONG,
                    f"line of {line.length} bytes is longer than max_line_chars={max_line_chars}",
                    _raw(data, encoding),
                )
                continue
            if data.endswith(b"\r"):
                data = data[:-1]
            if line.number == 1 and is_utf8 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as e:
                yield Rejected(source, line.number, INVALID_ENCODING, f"not valid {encoding}: {e}",
                               _raw(data, encoding))
                continue
            if len(text) > max_line_chars:
                yield Rejected(
                    source, line.number, LINE_TOO_LONG,
                    f"line of {len(text)} characters is longer than max_line_chars={max_line_chars}",
                    _truncate(text),
                )
                continue
            yield line.number, text


class ReadOptions(NamedTuple):
    """How one file is read: its class list, encoding, limits and id prefix."""

    class_names: tuple[str, ...]
    encoding: str
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS
    source: str = ""  # id prefix (defaults to the file's base name)
