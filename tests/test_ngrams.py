"""``tfpipe.text.ngrams``: the one definition of the bag-of-ngrams keys, against hand-written grams."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfpipe.text import ngrams as ngrams_lib
from tfpipe.text import tokenize as tokenize_lib


def _grams(texts, n_max):
    return [[g.decode("utf-8") for g in row] for row in ngrams_lib.ngrams(texts, n_max).to_list()]


def test_widths_in_order_joined_by_one_space_without_dedup():
    # Tokens: new york , new york (case-folded; the comma is a token of its own).
    assert _grams(["New York, New York"], 2) == [[
        "new", "york", ",", "new", "york",
        "new york", "york ,", ", new", "new york",
    ]]
    assert _grams(["A b C d"], 3) == [[
        "a", "b", "c", "d",
        "a b", "b c", "c d",
        "a b c", "b c d",
    ]]


def test_short_and_empty_texts_have_no_padding():
    assert _grams(["one", "", "two words", "Stop!!"], 3) == [
        ["one"],
        [],
        ["two", "words", "two words"],
        ["stop", "!!", "stop !!"],  # a punctuation run is one token
    ]


def test_five_grams_count():
    text = "a b c d e f"
    grams = _grams([text], 5)[0]
    assert len(grams) == 6 + 5 + 4 + 3 + 2  # widths 1..5 over 6 tokens
    assert grams[-2:] == ["a b c d e", "b c d e f"]
    # Letters and digits are separate tokens (script boundary): "w1" -> "w", "1".
    assert _grams(["w1"], 2) == [["w", "1", "w 1"]]
    assert {ngrams_lib.width(g) for g in grams} == {1, 2, 3, 4, 5}


def test_n_max_one_is_the_tokenizer():
    texts = ["Hello, World! 42 times", "Ça va ?"]
    np.testing.assert_array_equal(
        ngrams_lib.ngrams(texts, 1).flat_values.numpy(),
        tokenize_lib.tokenize(texts).flat_values.numpy())
    assert _grams(["Ça va ?"], 2) == [["ça", "va", "?", "ça va", "va ?"]]


def test_works_in_a_graph_and_keeps_the_batch():
    fn = tf.function(lambda t: ngrams_lib.ngrams(t, 2).row_lengths(),
                     input_signature=[tf.TensorSpec([None], tf.string)])
    assert fn(tf.constant(["a b c", "d", ""])).numpy().tolist() == [5, 1, 0]
    ds = tf.data.Dataset.from_tensor_slices(["x y", "z"]).batch(2).map(
        lambda t: ngrams_lib.ngrams(t, 2))
    assert next(iter(ds)).to_list() == [[b"x", b"y", b"x y"], [b"z"]]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", None])
def test_bad_n_max_is_refused(bad):
    with pytest.raises(ValueError, match="n_max must be a positive integer"):
        ngrams_lib.ngrams(["a b"], bad)


def test_numpy_integer_n_max():
    assert _grams(["a b"], np.int64(2)) == [["a", "b", "a b"]]
