"""tfpipe.text.phrases: what a phrase is (normalization, caption n-grams, class lemmas)."""
from __future__ import annotations

import pytest

from tfpipe.text import phrases


def test_the_stop_words_are_nltks_english_list():
    assert len(phrases.STOP_WORDS) == 179  # nltk.corpus.stopwords.words("english")
    assert {"the", "a", "and", "on", "is", "don", "t", "s", "don't", "wouldn't"} <= phrases.STOP_WORDS
    assert not {"dog", "man", "red", "two", "water"} & phrases.STOP_WORDS


@pytest.mark.parametrize("text, expected", [
    ("  A Dog's  ball!", "a dog s ball"),
    ("Hard-leaved Pocket_Orchid", "hard leaved pocket orchid"),
    ("Two dogs, 3 balls.", "two dogs 3 balls"),
    ("ÉCOLE Über", "école über"),
    ("R2D2", "r 2 d 2"),  # runs of letters, or of digits
    ("...", ""),
    ("", ""),
])
def test_normalize(text, expected):
    assert phrases.normalize(text) == expected
    assert phrases.normalize(expected) == expected  # a phrase string is its own normal form


def test_caption_phrases_are_the_ngrams_that_are_not_stop_words_only():
    assert phrases.caption_phrases("A dog on the grass") == [
        "dog", "grass",
        "a dog", "dog on", "the grass",  # "on the" is stop words only
        "a dog on", "dog on the", "on the grass",
    ]
    assert phrases.caption_phrases("A dog on the grass", max_n=1) == ["dog", "grass"]


def test_caption_phrases_are_unique_in_first_seen_order():
    # words: the dog and the dog
    assert phrases.caption_phrases("The dog and the DOG.") == [
        "dog", "the dog", "dog and", "the dog and", "dog and the", "and the dog"]
    assert phrases.caption_phrases("It is in the...") == []
    assert phrases.caption_phrases("") == []


def test_caption_phrases_rejects_a_bad_width():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_n"):
            phrases.caption_phrases("a dog", max_n=bad)


def test_is_stop_only():
    assert phrases.is_stop_only("on the") and phrases.is_stop_only("")
    assert not phrases.is_stop_only("on the grass")


@pytest.fixture(scope="module")
def wordnet():
    pytest.importorskip("nltk")
    from tfpipe.text import wordnet as wn

    try:
        wn.reader()
    except ImportError as e:
        pytest.skip(f"no WordNet: {e}")
    return wn


def test_class_phrases_of_goldfish(wordnet):
    # WordNet 3.0: goldfish.n.01 (n01443537) has lemmas goldfish, Carassius_auratus; its one
    # hypernym is cyprinid.n.01 (cyprinid, cyprinid_fish), whose is cypriniform_fish.n.01.
    assert phrases.class_phrases("n01443537", hypernym_depth=0) == ["goldfish", "carassius auratus"]
    one = ["goldfish", "carassius auratus", "cyprinid", "cyprinid fish"]
    assert phrases.class_phrases("n01443537") == one
    assert phrases.class_phrases("goldfish.n.01", hypernym_depth=1) == one
    assert phrases.class_phrases("n01443537", hypernym_depth=2) == one + ["cypriniform fish"]


def test_class_phrases_are_unique_and_normalized(wordnet):
    # egyptian_cat.n.01's hypernym domestic_cat.n.01 has lemmas domestic_cat, house_cat,
    # Felis_domesticus, Felis_catus.
    got = phrases.class_phrases("n02124075", hypernym_depth=1)
    assert got == ["egyptian cat", "domestic cat", "house cat", "felis domesticus", "felis catus"]
    assert all(phrases.normalize(p) == p for p in got)


def test_class_phrases_errors_name_the_input(wordnet):
    with pytest.raises(ValueError, match="n99999999"):
        phrases.class_phrases("n99999999")
    with pytest.raises(ValueError, match="neither an ImageNet id"):
        phrases.class_phrases("goldfish")
    with pytest.raises(ValueError, match="nosuch.n.01"):
        phrases.class_phrases("nosuch.n.01")
    with pytest.raises(ValueError, match="hypernym_depth"):
        phrases.class_phrases("n01443537", hypernym_depth=-1)
