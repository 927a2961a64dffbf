"""Pretrained word vectors aligned to word ids (tfpipe.embeddings.pretrained)."""
from __future__ import annotations

import numpy as np
import pytest

from tfpipe.embeddings import pretrained

# A tiny cased word2vec vocabulary (file order = most frequent first).
W2V_WORDS = ["the", "Paris", "paris", "Berlin", "APPLE", "Apple", "Straße"]
W2V_VECTORS = np.array(
    [
        [0.5, -1.0, 0.25, 2.0],
        [1.0, 1.0, 1.0, 1.0],
        [-2.0, 0.0, 3.0, 0.5],
        [0.0, 4.0, -1.5, 1.0],
        [7.0, 7.0, 7.0, 7.0],
        [8.0, 8.0, 8.0, 8.0],
        [-0.5, 0.5, -0.5, 0.5],
    ],
    dtype=np.float32,
)


def write_word2vec_text(path, words, vectors) -> str:
    """Writes a word2vec text file: a "count dim" header, then "word v1 ... vd" lines."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for word, vector in zip(words, vectors):
            f.write(word + " " + " ".join(repr(float(v)) for v in vector) + "\n")
    return str(path)


@pytest.fixture
def word2vec_file(tmp_path) -> str:
    """The tiny vectors as a word2vec text file."""
    return write_word2vec_text(tmp_path / "tiny.w2v.txt", W2V_WORDS, W2V_VECTORS)


def test_rows_follow_word_ids_and_prefer_the_exact_word():
    vocab = ["the", "paris", "berlin", "apple", "zzz", "strasse"]
    matrix, coverage = pretrained.embedding_matrix(vocab, W2V_WORDS, W2V_VECTORS, vocab_size=8, init_std=0.1)
    assert matrix.shape == (8, 4) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0.0)  # padding
    np.testing.assert_array_equal(matrix[2], W2V_VECTORS[0])  # the
    np.testing.assert_array_equal(matrix[3], W2V_VECTORS[2])  # "paris" exactly, not "Paris"
    np.testing.assert_array_equal(matrix[4], W2V_VECTORS[3])  # berlin <- "Berlin"
    np.testing.assert_array_equal(matrix[5], W2V_VECTORS[4])  # apple <- "APPLE", the first folded match
    np.testing.assert_array_equal(matrix[7], W2V_VECTORS[6])  # strasse <- "Straße" (case folding)
    assert coverage == 5 / 6
    # OOV (row 1) and the missing "zzz" (row 6): random, distinct, not the zero pad row.
    assert np.abs(matrix[1]).min() > 0 and np.abs(matrix[6]).min() > 0
    assert not np.allclose(matrix[1], matrix[6])


def test_random_rows_are_seeded_and_scaled():
    vocab = [f"w{i}" for i in range(4000)]  # none in the file
    words, vectors = ["a", "b"], np.array([[3.0, -3.0], [-3.0, 3.0]], dtype=np.float32)  # std 3
    first, coverage = pretrained.embedding_matrix(vocab, words, vectors, vocab_size=4002, seed=7)
    again, _ = pretrained.embedding_matrix(vocab, words, vectors, vocab_size=4002, seed=7)
    other, _ = pretrained.embedding_matrix(vocab, words, vectors, vocab_size=4002, seed=8)
    assert coverage == 0.0
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first[1:], other[1:])
    assert abs(first[1:].std() - 3.0) < 0.1 and abs(first[1:].mean()) < 0.1  # the file's scale
    chosen, _ = pretrained.embedding_matrix(vocab, words, vectors, vocab_size=4002, init_std=0.05)
    assert abs(chosen[1:].std() - 0.05) < 0.002


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="vocab_size=9 does not match the vocabulary: 6 words need 8 rows"):
        pretrained.embedding_matrix(["a"] * 6, W2V_WORDS, W2V_VECTORS, vocab_size=9)
    with pytest.raises(ValueError, match=r"\[len\(words\), dim\]"):
        pretrained.embedding_matrix(["a"], W2V_WORDS[:3], W2V_VECTORS, vocab_size=3)
    assert pretrained.embedding_matrix([], W2V_WORDS, W2V_VECTORS, vocab_size=2)[1] == 1.0


def test_fold_matches_the_tokenizer_case_folding():
    tf_text = pytest.importorskip("tensorflow_text")
    words = ["Straße", "ＡＢＣ", "ǄEMAL", "ΣΊΣΥΦΟΣ", "ﬁne", "İstanbul", "ÉCOLE", "e\u0301cole",
             "soft\u00adhyphen", "zero\u200bwidth", "Plain", "MiXeD-42"]
    expected = [w.decode("utf-8") for w in tf_text.case_fold_utf8(words).numpy()]
    assert [pretrained.fold(w) for w in words] == expected
    assert pretrained.fold("soft\u00adhyphen") == "softhyphen"


def test_load_embedding_matrix_reads_the_file_and_reports_coverage(word2vec_file, capsys):
    matrix = pretrained.load_embedding_matrix(
        word2vec_file, ["paris", "nowhere"], vocab_size=4, embedding_dim=4, who="m"
    )
    np.testing.assert_allclose(matrix[2], W2V_VECTORS[2])
    assert "1 of 2 vocabulary words (50.0 %)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="set the model's embedding_dim to 4"):
        pretrained.load_embedding_matrix(word2vec_file, ["paris"], vocab_size=3, embedding_dim=300)
    with pytest.raises(ValueError, match="needs the vocabulary"):
        pretrained.load_embedding_matrix(word2vec_file, None, vocab_size=3, embedding_dim=4)


@pytest.mark.parametrize("binary", [False, True])
def test_load_vectors_reads_both_word2vec_formats(tmp_path, binary):
    from tfpipe.embeddings import word2vec_format

    path = str(tmp_path / "v.bin")
    if binary:
        word2vec_format.save(path, W2V_WORDS, W2V_VECTORS, binary=True)
    else:
        write_word2vec_text(path, W2V_WORDS, W2V_VECTORS)
    words, vectors = pretrained.load_vectors(path)
    assert words == W2V_WORDS and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, W2V_VECTORS)
