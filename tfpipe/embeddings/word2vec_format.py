"""Word vector files: the word2vec formats (the C tool's and gensim's), and the skip-gram
run's ``vectors.npy`` + ``words.txt``.

Both formats start with a header line ``"<count> <dim>\\n"`` (ASCII), then one
record per word, in file order:

* text: ``word v1 v2 ... vd`` on one line, fields separated by single spaces
  (a trailing space before the newline, as the C tool writes, is accepted);
* binary: the word's UTF-8 bytes, one space, then ``d`` little-endian float32
  (``4 d`` bytes), optionally followed by ``"\\n"`` (the C tool writes it,
  gensim does not; a reader skips newlines before a word).

Words are UTF-8 and may hold any character except white space (it separates
the fields; :func:`save` refuses such words, and an empty word).

Duplicate words: :func:`load` keeps the first record of a word and warns
(what gensim does; published vector files do contain a few duplicates), or
raises with ``duplicates="error"``.  :func:`save` refuses duplicates: a file
written here never has them.  A header count that disagrees with the records
(missing or extra records) is an error, as is a record of the wrong dimension,
a value that is not a number, or a word that is not UTF-8; the message names
the line (text) or the byte offset (binary).

The skip-gram artifact (what ``python -m tfpipe.train`` exports for skip-gram
beside its word2vec files): :data:`VECTORS_NPY`, a float32 ``[n, d]`` NumPy
array, and :data:`WORDS_TXT`, its words one per line (UTF-8, each line ending
in ``"\\n"``) in the rows' order.  :func:`load_skipgram_vectors` is the one
reader of the pair; :func:`load_npy` and :func:`read_words` read one file each.
"""
from __future__ import annotations

import mmap
import os
import warnings
from typing import Sequence

import numpy as np

DUPLICATES = ("first", "error")


class Word2VecFormatError(ValueError):
    """A word2vec file that cannot be read as it claims to be; the message says where."""


# --------------------------------------------------------------------------- writing


def _check_words(words: Sequence[str], vectors: np.ndarray) -> None:
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array [n, d], got shape {vectors.shape}")
    if len(words) != vectors.shape[0]:
        raise ValueError(f"{len(words)} words but {vectors.shape[0]} vectors: they must match one to one")
    if vectors.shape[1] < 1:
        raise ValueError("vectors must have at least one dimension")
    seen: dict[str, int] = {}
    for i, word in enumerate(words):
        if not isinstance(word, str) or not word:
            raise ValueError(f"word {i} is {word!r}: words must be non-empty strings")
        if any(c.isspace() for c in word):
            raise ValueError(
                f"word {i} {word!r} contains white space, which separates fields in the word2vec formats"
            )
        if word in seen:
            raise ValueError(f"duplicate word {word!r} at positions {seen[word]} and {i}")
        seen[word] = i
    if not np.all(np.isfinite(vectors)):
        bad = int(np.argwhere(~np.isfinite(vectors))[0][0])
        raise ValueError(f"vector of word {bad} ({words[bad]!r}) holds NaN or infinity")


def save(path: str, words: Sequence[str], vectors: np.ndarray, *, binary: bool) -> None:
    """Writes ``words`` and their ``vectors`` ``[n, d]`` as a word2vec text or binary file.

    Values are stored as float32; the text format writes 9 significant digits,
    which reads back to the identical float32.  The file is written to a
    temporary name and renamed, so a reader never sees half a file.
    """
    words = list(words)
    vectors = np.asarray(vectors, dtype=np.float32)
    _check_words(words, vectors)
    n, d = vectors.shape
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(f"{n} {d}\n".encode("ascii"))
        if binary:
            little = vectors.astype("<f4", copy=False)
            for word, row in zip(words, little):
                f.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
        else:
            line = " ".join(["%.9g"] * d) + "\n"
            for word, row in zip(words, vectors.tolist()):
                f.write((word + " " + line % tuple(row)).encode("utf-8"))
    os.replace(tmp, path)


# --------------------------------------------------------------------------- reading


def _header(data: bytes, path: str) -> tuple[int, int, int]:
    """``(count, dim, offset of the first record)``."""
    end = data.find(b"\n")
    if end < 0:
        raise Word2VecFormatError(f"{path}: no header line ('<count> <dim>'): the file has no newline")
    raw = data[:end]
    try:
        fields = raw.decode("ascii").split()
        count, dim = (int(x) for x in fields)
    except ValueError:
        raise Word2VecFormatError(
            f"{path}, line 1: header {raw[:80]!r} is not '<count> <dim>' (two integers): "
            "is this a word2vec file (a GloVe file has no header)?"
        ) from None
    if count < 0 or dim < 1:
        raise Word2VecFormatError(f"{path}, line 1: header says {count} words of dimension {dim}")
    return count, dim, end + 1


def _looks_like_text(data: bytes, start: int, dim: int) -> bool:
    """Whether the first record parses as a text record of ``dim`` numbers."""
    end = data.find(b"\n", start)
    line = data[start:] if end < 0 else data[start:end]
    try:
        parts = line.decode("utf-8").rstrip().split(" ")
        if len(parts) != dim + 1:
            return False
        for x in parts[1:]:
            float(x)
    except (UnicodeDecodeError, ValueError):
        return False
    return True


class _Records:
    """Words and a preallocated ``[count, dim]`` array filled record by record."""

    def __init__(self, count: int, dim: int, policy: str):
        self.words: list[str] = []
        self.vectors = np.empty((count, dim), dtype=np.float32)
        self.index: dict[str, int] = {}
        self.duplicates: list[str] = []
        self.policy = policy

    def add(self, word: str, where: str) -> np.ndarray | None:
        """The row to fill for ``word``, or None for a duplicate (kept out)."""
        if word in self.index:
            if self.policy == "error":
                raise Word2VecFormatError(
                    f"{where}: duplicate word {word!r} (first seen as record {self.index[word] + 1})"
                )
            self.duplicates.append(word)
            return None
        self.index[word] = len(self.words)
        self.words.append(word)
        return self.vectors[len(self.words) - 1]

    def result(self) -> tuple[list[str], np.ndarray, list[str]]:
        return self.words, self.vectors[: len(self.words)], self.duplicates


def _read_text(data, start: int, count: int, dim: int, path: str, policy: str):
    records = _Records(count, dim, policy)
    pos = start
    size = len(data)
    for i in range(count):
        line_no = i + 2
        if pos >= size:
            raise Word2VecFormatError(
                f"{path}: the header announces {count} words but the file ends after {i} records "
                f"(line {line_no} missing): truncated file or wrong count"
            )
        end = data.find(b"\n", pos)
        end = size if end < 0 else end
        raw = data[pos:end]
        pos = end + 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Word2VecFormatError(f"{path}, line {line_no}: not UTF-8 ({e.reason} at byte {e.start})") from None
        parts = text.rstrip().split(" ")
        if len(parts) != dim + 1:
            raise Word2VecFormatError(
                f"{path}, line {line_no}: {len(parts) - 1} values after the word {parts[0]!r}, "
                f"the header says dimension {dim}"
            )
        if not parts[0]:
            raise Word2VecFormatError(f"{path}, line {line_no}: empty word")
        try:
            vector = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            bad = next(x for x in parts[1:] if not _is_number(x))
            raise Word2VecFormatError(f"{path}, line {line_no}: value {bad!r} is not a number") from None
        row = records.add(parts[0], f"{path}, line {line_no}")
        if row is not None:
            row[:] = vector
    return (*records.result(), _more(data, pos))


def _more(data, pos: int) -> bool:
    """Whether anything but white space follows ``pos`` (looks at a bounded window)."""
    return bool(data[pos : pos + (1 << 16)].strip())


def _is_number(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def _read_binary(data, start: int, count: int, dim: int, path: str, policy: str):
    records = _Records(count, dim, policy)
    width = 4 * dim
    pos = start
    size = len(data)
    for i in range(count):
        while pos < size and data[pos] == 0x0A:  # the C tool's newline after each vector
            pos += 1
        if pos >= size:
            raise Word2VecFormatError(
                f"{path}: the header announces {count} words but the file ends after {i} records "
                f"(at byte {pos}): truncated file or wrong count"
            )
        space = data.find(b" ", pos)
        if space < 0:
            raise Word2VecFormatError(
                f"{path}, byte {pos}: record {i + 1} has no space after its word (truncated file?)"
            )
        raw = data[pos:space]
        if not raw:
            raise Word2VecFormatError(f"{path}, byte {pos}: record {i + 1} has an empty word")
        try:
            word = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Word2VecFormatError(
                f"{path}, byte {pos + e.start}: the word of record {i + 1} is not UTF-8 ({e.reason})"
            ) from None
        if "\n" in word:
            raise Word2VecFormatError(
                f"{path}, byte {pos}: the word of record {i + 1} holds a newline: the vectors before it "
                f"are not {dim} float32 each (wrong dimension in the header?)"
            )
        if space + 1 + width > size:
            raise Word2VecFormatError(
                f"{path}, byte {space + 1}: record {i + 1} ({word!r}) needs {width} bytes of vector, "
                f"only {size - space - 1} left: truncated file or wrong dimension"
            )
        row = records.add(word, f"{path}, byte {pos}")
        if row is not None:
            row[:] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + width
    return (*records.result(), _more(data, pos))


def is_binary(path: str) -> bool:
    """Whether a word2vec file is in the binary format (its first record is not a text line
    of ``dim`` numbers)."""
    with open(path, "rb") as f:
        head = f.read(1 << 20)  # a text record of 1,000 dimensions is about 15 KB
    count, dim, start = _header(head, path)
    return count > 0 and not _looks_like_text(head, start, dim)


def load(
    path: str,
    *,
    limit: int | None = None,
    binary: bool | None = None,
    duplicates: str = "first",
) -> tuple[list[str], np.ndarray]:
    """Reads a word2vec text or binary file; returns ``(words, float32 vectors [n, d])``.

    Args:
      path: the file.
      limit: read only the first ``limit`` records (``None``: all, and the file
        must hold exactly the header's count).
      binary: ``None`` detects the format (text when the first record parses as
        a line of ``dim`` numbers, binary otherwise); ``True``/``False`` forces it.
      duplicates: ``"first"`` keeps the first record of a repeated word and
        warns (gensim's choice); ``"error"`` raises.

    Raises :class:`Word2VecFormatError` (a ``ValueError``) naming the line or
    byte offset of the first problem.
    """
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates={duplicates!r}; valid choices: {list(DUPLICATES)}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise Word2VecFormatError(f"{path}: empty file, no header line ('<count> <dim>')")
        # A memory map: files of millions of vectors are read without a copy of their bytes.
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            count, dim, start = _header(data[: 1 << 16], path)
            if binary is None:
                binary = count > 0 and not _looks_like_text(data[start : start + (1 << 20)], 0, dim)
            wanted = count if limit is None else min(count, limit)
            reader = _read_binary if binary else _read_text
            words, vectors, dups, extra = reader(data, start, wanted, dim, path, duplicates)
            vectors = vectors.copy() if len(vectors) < wanted else vectors
    if limit is None and extra:
        raise Word2VecFormatError(
            f"{path}: more records than the {count} the header announces (wrong count, or "
            f"{'a text file read as binary' if binary else 'a binary file read as text'}?)"
        )
    if dups:
        shown = ", ".join(repr(w) for w in dups[:5]) + (" ..." if len(dups) > 5 else "")
        warnings.warn(
            f"{path}: {len(dups)} duplicate word record(s) ignored, the first record of each kept: {shown}",
            stacklevel=2,
        )
    return words, vectors


# --------------------------------------------------------------------------- skip-gram artifact

VECTORS_NPY = "vectors.npy"
WORDS_TXT = "words.txt"


class MissingFileError(FileNotFoundError, ValueError):
    """A file of a vector artifact does not exist (a ``FileNotFoundError``, and a ``ValueError``
    like the other problems of these files); the message names it."""


class MissingWordsError(MissingFileError):
    """The words file of a ``.npy`` array does not exist."""


def load_npy(path: str) -> np.ndarray:
    """The ``[n, d]`` array of a ``.npy`` file, as stored (no pickles)."""
    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such file")
    try:
        vectors = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{path}: not a NumPy array file of numbers ({e})") from None
    if vectors.ndim != 2:
        raise ValueError(f"{path}: holds an array of shape {vectors.shape}, expected [n, d]")
    return vectors


def read_words(path: str) -> list[str]:
    """The words of a ``words.txt`` file, one per line (UTF-8; a last line without its
    newline counts too)."""
    if not os.path.isfile(path):
        raise MissingWordsError(f"{path}: no such file (the words of the vectors, one per line)")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def load_skipgram_vectors(path: str, words_path: str | None = None) -> tuple[list[str], np.ndarray]:
    """``(words, float32 vectors [n, d])`` of a skip-gram run's ``vectors.npy`` + ``words.txt``.

    ``path`` is the run directory (its :data:`VECTORS_NPY` and :data:`WORDS_TXT`)
    or a ``.npy`` file, whose words are read from ``words_path`` (default: the
    ``words.txt`` beside it).  A missing file raises :class:`MissingFileError`
    (:class:`MissingWordsError` for the words); a words file that does not hold
    one word per row is a ``ValueError``.
    """
    if os.path.isdir(path):
        path = os.path.join(path, VECTORS_NPY)
    vectors = load_npy(path)
    words_path = words_path or os.path.join(os.path.dirname(os.path.abspath(path)), WORDS_TXT)
    if not os.path.isfile(words_path):
        raise MissingWordsError(
            f"{path} is a bare array: its words are read from {words_path}, which does not exist"
        )
    words = read_words(words_path)
    if len(words) != len(vectors):
        raise ValueError(f"{len(words)} words in {words_path} but {len(vectors)} vectors in {path}: "
                         "they must match one to one")
    return words, np.asarray(vectors, dtype=np.float32)
