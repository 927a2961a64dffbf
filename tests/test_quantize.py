"""Character quantization against the paper's rules, with hand-computed indices."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_path
from tfpipe.text import alphabet as alphabet_lib
from tfpipe.text import quantize as q

PAPER = alphabet_lib.PAPER
FULL = alphabet_lib.FULL


def test_paper_alphabet_shape():
    assert PAPER.size == 70  # 26 letters + 10 digits + 33 others + newline
    index = PAPER.index_map()
    assert index["a"] == 1 and index["z"] == 26
    assert index["0"] == 27 and index["9"] == 36
    assert index[","] == 38 and index["}"] == 69
    assert index["\n"] == 70
    # The paper lists '-' twice; like the authors' code the last position wins.
    assert index["-"] == 60
    assert index["A"] == 1 and index["Z"] == 26  # lower-casing
    assert " " not in index
    # Every index but the shadowed first '-' (37) is reachable.
    assert sorted(set(index.values())) == [i for i in range(1, 71) if i != 37]


def test_full_alphabet_distinguishes_case():
    index = FULL.index_map()
    assert FULL.size == 96
    assert index["a"] == 1 and index["A"] == 27 and index["Z"] == 52
    assert index["0"] == 53


def test_unknown_alphabet_names_valid_ones():
    with pytest.raises(ValueError, match=r"valid alphabets: \['full', 'paper', 'reed'\]"):
        alphabet_lib.get("ascii")


def test_reed_alphabet_reads_forward_hand_computed():
    # Reed et al.: the 70 positions with a space (70) for the new-line, first character first,
    # the first l0 kept. "Ab c!\n" -> a=1, b=2, space=70, c=3, !=41, new-line not in it (0).
    reed = alphabet_lib.REED
    assert reed.size == 70 and reed.chars[-1] == " " and not reed.backward
    out = q.quantize(["Ab c!\n", "abcdefgh"], reed, 6).numpy()
    assert out.tolist() == [[1, 2, 70, 3, 41, 0], [1, 2, 3, 4, 5, 6]]
    assert q.quantize_py("Ab c!\n", reed, 6) == out[0].tolist()


def test_backward_order_and_padding_hand_computed():
    # "Ab c!" backward is "!c bA": ! -> 41 (36 + 5th "other"), c -> 3, space -> 0, b -> 2, A -> 1.
    out = q.quantize(["Ab c!"], PAPER, 8).numpy()
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[41, 3, 0, 2, 1, 0, 0, 0]])


def test_keeps_only_the_last_l0_characters():
    # Characters beyond l0 are ignored; backward reading keeps the text's end.
    out = q.quantize(["abcdefgh"], PAPER, 3).numpy()
    np.testing.assert_array_equal(out, [[8, 7, 6]])  # h g f


def test_full_alphabet_keeps_case():
    out = q.quantize(["aA"], FULL, 3).numpy()
    np.testing.assert_array_equal(out, [[27, 1, 0]])


def test_non_alphabet_and_non_ascii_map_to_zero():
    out = q.quantize(["é€x\t"], PAPER, 5).numpy()
    np.testing.assert_array_equal(out, [[0, 24, 0, 0, 0]])


def test_invalid_utf8_bytes_do_not_crash():
    out = q.quantize([b"a\xffb"], PAPER, 4).numpy()
    np.testing.assert_array_equal(out, [[2, 0, 1, 0]])


def test_empty_batch_and_empty_string():
    assert q.quantize([], PAPER, 4).numpy().shape == (0, 4)
    np.testing.assert_array_equal(q.quantize([""], PAPER, 2).numpy(), [[0, 0]])


def test_rejects_bad_length():
    with pytest.raises(ValueError, match="l0 must be positive"):
        q.quantize(["a"], PAPER, 0)


@pytest.mark.parametrize("alphabet", [PAPER, FULL], ids=["paper", "full"])
def test_tf_and_python_quantizers_agree_on_real_text(alphabet):
    path = shared_path("ag_news", "test.csv")
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        texts = [" ".join(row[1:]).replace("\\n", "\n") for row in csv.reader(f)][:500]
    tf_ids = q.quantize(texts, alphabet, 1014).numpy()
    py_ids = np.array([q.quantize_py(t, alphabet, 1014) for t in texts], dtype=np.uint8)
    np.testing.assert_array_equal(tf_ids, py_ids)
