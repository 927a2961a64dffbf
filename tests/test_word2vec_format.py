"""word2vec text/binary files: round trips, interoperability with gensim, clear errors."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from tfpipe.embeddings import word2vec_format as w2v

WORDS = ["the", "café", "日本", "straße", "naïve", "😀", "x"]


def _vectors(n: int = len(WORDS), d: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, d)).astype(np.float32)
    v[0, 0] = 1e-30  # tiny and large magnitudes survive the text format too
    v[1, 1] = -3.4e38
    return v


@pytest.mark.parametrize("binary", [False, True])
def test_round_trip_is_exact_and_detects_the_format(tmp_path, binary):
    path = str(tmp_path / "v.w2v")
    vectors = _vectors()
    w2v.save(path, WORDS, vectors, binary=binary)
    assert w2v.is_binary(path) is binary
    words, loaded = w2v.load(path)
    assert words == WORDS
    assert loaded.dtype == np.float32 and loaded.shape == vectors.shape
    np.testing.assert_array_equal(loaded, vectors)
    words, loaded = w2v.load(path, binary=binary)
    np.testing.assert_array_equal(loaded, vectors)


def test_file_layout_by_hand(tmp_path):
    text, binary = str(tmp_path / "t.txt"), str(tmp_path / "b.bin")
    vectors = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    w2v.save(text, ["a", "é"], vectors, binary=False)
    w2v.save(binary, ["a", "é"], vectors, binary=True)
    assert open(text, "rb").read() == "2 2\na 1.5 -2\né 0.25 3\n".encode("utf-8")
    expected = b"2 2\n" + b"a " + struct.pack("<2f", 1.5, -2.0) + b"\n" + "é ".encode() + struct.pack("<2f", 0.25, 3.0) + b"\n"
    assert open(binary, "rb").read() == expected


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_what_we_write(tmp_path, binary):
    gensim_models = pytest.importorskip("gensim.models")
    path = str(tmp_path / "ours")
    vectors = _vectors()
    w2v.save(path, WORDS, vectors, binary=binary)
    kv = gensim_models.KeyedVectors.load_word2vec_format(path, binary=binary)
    assert list(kv.index_to_key) == WORDS
    np.testing.assert_array_equal(kv.vectors, vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_we_read_what_gensim_writes(tmp_path, binary):
    gensim_models = pytest.importorskip("gensim.models")
    path = str(tmp_path / "theirs")
    vectors = _vectors(seed=1)
    kv = gensim_models.KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(WORDS, vectors)
    kv.save_word2vec_format(path, binary=binary)  # gensim's binary has no newline after a vector
    words, loaded = w2v.load(path)  # format detected
    assert words == WORDS
    np.testing.assert_array_equal(loaded, vectors)


def test_c_tool_text_layout_trailing_space_and_crlf(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"2 3\r\nfoo 0.100000 -0.200000 0.300000 \r\nbar 1 2 3 \r\n")
    words, vectors = w2v.load(str(path))
    assert words == ["foo", "bar"]
    np.testing.assert_array_equal(vectors, np.array([[0.1, -0.2, 0.3], [1, 2, 3]], np.float32))


def test_limit_reads_the_first_records(tmp_path):
    path = str(tmp_path / "v")
    vectors = _vectors()
    for binary in (False, True):
        w2v.save(path, WORDS, vectors, binary=binary)
        words, loaded = w2v.load(path, limit=3)
        assert words == WORDS[:3]
        np.testing.assert_array_equal(loaded, vectors[:3])
        assert w2v.load(path, limit=0)[1].shape == (0, 5)


def test_empty_file_of_zero_words(tmp_path):
    path = str(tmp_path / "empty")
    w2v.save(path, [], np.zeros((0, 4), np.float32), binary=True)
    words, vectors = w2v.load(path)
    assert words == [] and vectors.shape == (0, 4)


# --------------------------------------------------------------------------- errors


def _write(tmp_path, data: bytes) -> str:
    path = tmp_path / "bad"
    path.write_bytes(data)
    return str(path)


def test_bad_header_names_line_1(tmp_path):
    with pytest.raises(w2v.Word2VecFormatError, match=r"line 1: header .* is not '<count> <dim>'"):
        w2v.load(_write(tmp_path, b"the 0.1 0.2\n"))
    with pytest.raises(w2v.Word2VecFormatError, match="no header"):
        w2v.load(_write(tmp_path, b""))


def test_text_dimension_mismatch_names_the_line(tmp_path):
    with pytest.raises(w2v.Word2VecFormatError, match=r"line 3: 2 values after the word 'b', the header says dimension 3"):
        w2v.load(_write(tmp_path, b"2 3\na 1 2 3\nb 1 2\n"), binary=False)


def test_text_value_not_a_number_names_the_line(tmp_path):
    with pytest.raises(w2v.Word2VecFormatError, match=r"line 2: value 'x1' is not a number"):
        w2v.load(_write(tmp_path, b"1 2\na 1 x1\n"), binary=False)


def test_text_missing_and_extra_records(tmp_path):
    with pytest.raises(w2v.Word2VecFormatError, match=r"announces 3 words but the file ends after 2 records"):
        w2v.load(_write(tmp_path, b"3 1\na 1\nb 2\n"))
    with pytest.raises(w2v.Word2VecFormatError, match="more records than the 1"):
        w2v.load(_write(tmp_path, b"1 1\na 1\nb 2\n"))


def test_binary_truncated_vector_names_the_byte_offset(tmp_path):
    data = b"2 2\na " + struct.pack("<2f", 1, 2) + b"\nb " + struct.pack("<f", 3)
    offset = len(b"2 2\na ") + 8 + len(b"\nb ")
    with pytest.raises(w2v.Word2VecFormatError, match=rf"byte {offset}: record 2 \('b'\) needs 8 bytes"):
        w2v.load(_write(tmp_path, data), binary=True)


def test_binary_missing_records(tmp_path):
    data = b"3 1\na " + struct.pack("<f", 1) + b"\n"
    with pytest.raises(w2v.Word2VecFormatError, match="announces 3 words but the file ends after 1 records"):
        w2v.load(_write(tmp_path, data), binary=True)


def test_binary_word_not_utf8_names_the_byte(tmp_path):
    data = b"1 1\n\xff\xfe " + struct.pack("<f", 1)
    with pytest.raises(w2v.Word2VecFormatError, match=r"byte 4: the word of record 1 is not UTF-8"):
        w2v.load(_write(tmp_path, data), binary=True)


def test_duplicates_keep_the_first_and_warn_or_raise(tmp_path):
    path = _write(tmp_path, b"3 1\na 1\nb 2\na 3\n")
    with pytest.warns(UserWarning, match=r"1 duplicate word record\(s\) ignored.*'a'"):
        words, vectors = w2v.load(path)
    assert words == ["a", "b"]
    np.testing.assert_array_equal(vectors, [[1], [2]])
    with pytest.raises(w2v.Word2VecFormatError, match=r"line 4: duplicate word 'a' \(first seen as record 1\)"):
        w2v.load(path, duplicates="error")
    with pytest.raises(ValueError, match=r"valid choices: \['first', 'error'\]"):
        w2v.load(path, duplicates="last")


def test_save_refuses_what_the_formats_cannot_hold(tmp_path):
    path = str(tmp_path / "out")
    v = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="white space"):
        w2v.save(path, ["a b", "c"], v, binary=False)
    with pytest.raises(ValueError, match="white space"):
        w2v.save(path, ["a\u00a0", "c"], v, binary=True)
    with pytest.raises(ValueError, match="duplicate word 'a' at positions 0 and 1"):
        w2v.save(path, ["a", "a"], v, binary=True)
    with pytest.raises(ValueError, match="non-empty"):
        w2v.save(path, ["", "a"], v, binary=True)
    with pytest.raises(ValueError, match="2 words but 3 vectors"):
        w2v.save(path, ["a", "b"], np.zeros((3, 3)), binary=True)
    with pytest.raises(ValueError, match="NaN"):
        w2v.save(path, ["a", "b"], np.array([[0, np.nan, 0], [0, 0, 0]]), binary=False)
    import os

    assert not os.path.exists(path)  # nothing half-written


# --------------------------------------------------------------------------- skip-gram artifact


def _artifact(directory, words=("the", "café", "日本"), n=None) -> np.ndarray:
    vectors = _vectors(len(words) if n is None else n, 4)
    np.save(directory / w2v.VECTORS_NPY, vectors)
    (directory / w2v.WORDS_TXT).write_text("".join(w + "\n" for w in words), encoding="utf-8")
    return vectors


def test_skipgram_vectors_read_from_a_run_directory_or_its_npy(tmp_path):
    vectors = _artifact(tmp_path)
    for path in (str(tmp_path), str(tmp_path / w2v.VECTORS_NPY)):
        words, loaded = w2v.load_skipgram_vectors(path)
        assert words == ["the", "café", "日本"]
        assert loaded.dtype == np.float32
        np.testing.assert_array_equal(loaded, vectors)
    other = tmp_path / "other.txt"
    other.write_text("a\nb\nc", encoding="utf-8")  # a last line without its newline counts
    assert w2v.read_words(str(other)) == ["a", "b", "c"]
    assert w2v.load_skipgram_vectors(str(tmp_path / w2v.VECTORS_NPY), str(other))[0] == ["a", "b", "c"]


def test_skipgram_vector_errors_name_the_file(tmp_path):
    with pytest.raises(w2v.MissingFileError, match="vectors.npy: no such file"):
        w2v.load_skipgram_vectors(str(tmp_path))
    assert issubclass(w2v.MissingFileError, FileNotFoundError) and issubclass(w2v.MissingFileError, ValueError)
    np.save(tmp_path / "bare.npy", _vectors(3, 2))
    with pytest.raises(w2v.MissingWordsError, match="bare array: its words are read from .*words.txt, which does not exist"):
        w2v.load_skipgram_vectors(str(tmp_path / "bare.npy"))
    _artifact(tmp_path, words=("a", "b"), n=3)
    with pytest.raises(ValueError, match="2 words in .*words.txt but 3 vectors in .*: they must match one to one"):
        w2v.load_skipgram_vectors(str(tmp_path))
    np.save(tmp_path / w2v.VECTORS_NPY, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"holds an array of shape \(3,\), expected \[n, d\]"):
        w2v.load_npy(str(tmp_path / w2v.VECTORS_NPY))
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="not a NumPy array file of numbers"):
        w2v.load_npy(str(tmp_path / "junk.npy"))
