"""Word tokenization and vocabulary ids."""
from __future__ import annotations

import pytest

from tfpipe.text import tokenize as tok


def test_tokenize_case_folds_and_splits_punctuation():
    tokens = tok.tokenize(["Hello, World!"]).to_list()
    assert tokens == [[b"hello", b",", b"world", b"!"]]


def test_word_ids_with_oov_and_cap():
    table = tok.vocab_table(["the", "cat"])
    ids = tok.word_ids(["The dog ate the cat", "cat"], table, 4).to_list()
    # the -> 2, dog -> OOV 1, ate -> OOV 1, the -> 2 (cap at 4 tokens)
    assert ids == [[2, 1, 1, 2], [3]]
    assert tok.vocab_size(2) == 4


def test_word_ids_rejects_bad_cap():
    with pytest.raises(ValueError, match="max_words must be positive"):
        tok.word_ids(["a"], tok.vocab_table(["a"]), 0)
