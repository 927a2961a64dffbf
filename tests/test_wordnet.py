"""tfpipe.text.wordnet: ImageNet ids, class names, glosses and the hypernym graph (WordNet 3.0)."""
from __future__ import annotations

import pytest

from tests.conftest import shared_path
from tfpipe import metrics
from tfpipe.text import thesaurus
from tfpipe.text import wordnet as wn

BIRDS = "bird.n.01"
FLOWERS = ("flower.n.01", "plant.n.02")
NOT_FLOWERS = ("pteridophyte.n.01", "bryophyte.n.01")  # ferns, mosses


@pytest.fixture(scope="module", autouse=True)
def reader():
    pytest.importorskip("nltk")
    try:
        return wn.reader()
    except ImportError as e:
        pytest.skip(f"no WordNet: {e}")


def test_the_thesaurus_reads_wordnet_through_this_module(reader):
    assert thesaurus._wordnet_reader is wn.reader and thesaurus._wordnet_reader(None) is reader
    assert wn.reader() is reader  # one per process


# Hand-checked against Tiny-ImageNet's words.txt (first name) and WordNet 3.0.
@pytest.mark.parametrize("wnid, synset", [
    ("n01443537", "goldfish.n.01"),
    ("n02124075", "egyptian_cat.n.01"),
    ("n04099969", "rocking_chair.n.01"),
    ("n07749582", "lemon.n.01"),
    ("n01641577", "bullfrog.n.01"),
])
def test_imagenet_ids(wnid, synset):
    assert wn.synset_of_wnid(wnid) == synset
    assert wn.wnid_of_synset(synset) == wnid


@pytest.mark.parametrize("wnid", ["n0144353", "x01443537", "01443537", "n99999999", "n00000001", ""])
def test_bad_imagenet_ids(wnid):
    with pytest.raises(ValueError, match="ImageNet id|no WordNet 3.0 noun synset"):
        wn.synset_of_wnid(wnid)


def test_gloss_lemmas_closure():
    assert wn.gloss("goldfish.n.01") == ("small golden or orange-red freshwater fishes of Eurasia "
                                         "used as pond or aquarium fishes")
    assert wn.lemmas("goldfish.n.01") == ["goldfish", "Carassius auratus"]
    closure = wn.hypernym_closure("goldfish.n.01")
    assert closure[:2] == ["cyprinid.n.01", "cypriniform_fish.n.01"] and closure[-1] == "entity.n.01"
    assert {"fish.n.01", "vertebrate.n.01", "animal.n.01"} <= set(closure)
    assert "goldfish.n.01" not in closure and len(closure) == len(set(closure))
    assert wn.hypernym_closure("goldfish.n.01", max_hops=2) == closure[:2]
    assert wn.is_under("king_penguin.n.01", BIRDS) and not wn.is_under("goldfish.n.01", BIRDS)
    with pytest.raises(ValueError, match="no WordNet synset 'brid.n.01'"):
        wn.is_under("goldfish.n.01", "brid.n.01")


@pytest.mark.parametrize("name, under, synset", [
    # CUB: hyphens written as underscores, possessives dropped.
    ("Black_footed_Albatross", BIRDS, "black-footed_albatross.n.01"),
    ("Chuck_will_Widow", BIRDS, "chuck-will's-widow.n.01"),
    ("Clark_Nutcracker", BIRDS, "clark's_nutcracker.n.01"),
    ("Eared_Grebe", BIRDS, "black-necked_grebe.n.01"),  # eared grebe is one of its lemmas
    ("Whip_poor_Will", BIRDS, "whippoorwill.n.01"),
    ("king penguin", None, "king_penguin.n.01"),
    # "albatross": the figurative burden (.n.01) and the bird (.n.02), no tag counts.
    ("albatross", BIRDS, "albatross.n.02"),
    ("albatross", None, None),
    ("rose", None, "rose.n.01"),  # several senses, but the shrub is tagged 5 times, the rest 0
    # Flowers: closed-up, plural, and ambiguous names.
    ("globe-flower", FLOWERS, "globeflower.n.01"),
    ("sweet pea", FLOWERS, "sweet_pea.n.01"),
    ("canterbury bells", FLOWERS, None),  # two untagged canterbury_bell senses: no guess
    ("Rock_Wren", BIRDS, None),  # rock_wren.n.01 is the New Zealand one, CUB's is .n.02
    # Not a WordNet phrase: None, never the last word's synset (primrose.n.01 is Primula).
    ("pink primrose", FLOWERS, None),
    ("Groove_billed_Ani", BIRDS, None),
    ("bolero deep blue", FLOWERS, None),
    ("bird", FLOWERS, None),
    ("zzzq", None, None),
    ("", None, None),
    ("  _- ", None, None),
])
def test_synset_for_name(name, under, synset):
    assert wn.synset_for_name(name, under=under) == synset


def test_exclude_drops_a_branch():
    # The Oxford class is an amaranth; WordNet's Prince-of-Wales feathers is a New Zealand fern.
    assert wn.synset_for_name("prince of wales feathers", under=FLOWERS) == "crape_fern.n.01"
    assert wn.synset_for_name("prince of wales feathers", under=FLOWERS, exclude=NOT_FLOWERS) is None
    assert wn.noun_synsets("canterbury bells", under=FLOWERS) == ["canterbury_bell.n.01",
                                                                 "canterbury_bell.n.02"]


def test_spellings_and_head_noun():
    forms = list(wn.spellings("Chuck_will_Widow"))
    assert forms[0] == "chuck_will_widow" and "chuck-will's-widow" in forms
    assert list(wn.spellings("globe-flower"))[:3] == ["globe-flower", "globe_flower", "globeflower"]
    assert "coltsfoot" in wn.spellings("colt's foot")
    assert wn.head_noun("King_Penguin") == "penguin" and wn.head_noun("pink primrose") == "primrose"
    assert wn.head_noun("") == ""


def test_hierarchy_edges_serve_hierarchical_precision():
    classes = ["goldfish.n.01", "king_penguin.n.01", "black-footed_albatross.n.01", None,
               "emperor_penguin.n.01"]
    edges = wn.hierarchy_edges(classes)
    assert ("penguin.n.01", 1) in edges and ("penguin.n.01", 4) in edges
    assert ("albatross.n.02", 2) in edges and (3, 3) in edges
    assert not any(e[1] in ("king_penguin.n.01", "goldfish.n.01") for e in edges)  # relabelled
    cands = range(5)
    # king penguin: emperor penguin 2 hops away (via penguin), the albatross further, the fish last.
    assert metrics.hierarchical_ground_truth(edges, 1, 2, cands) == {1, 4}
    assert metrics.hierarchical_ground_truth(edges, 1, 3, cands) == {1, 2, 4}
    assert metrics.hierarchical_ground_truth(edges, 1, 4, cands) == {0, 1, 2, 4}
    assert metrics.hierarchical_ground_truth(edges, 3, 2, cands) == {3}  # no synset: alone
    with pytest.raises(ValueError, match="same synset"):
        wn.hierarchy_edges(["goldfish.n.01", "goldfish.n.01"])


def test_every_tiny_imagenet_wnid_is_a_synset_named_as_in_words_txt():
    wnids_file = shared_path("tiny_imagenet", "wnids.txt")
    words = {}
    with open(shared_path("tiny_imagenet", "words.txt"), encoding="utf-8") as f:
        for line in f:
            wnid, _, names = line.rstrip("\n").partition("\t")
            words[wnid] = names
    with open(wnids_file, encoding="utf-8") as f:
        wnids = [line.strip() for line in f if line.strip()]
    assert len(wnids) == 202
    synsets = [wn.synset_of_wnid(w) for w in wnids]
    for wnid, synset in zip(wnids, synsets):
        first = words[wnid].split(",")[0].strip().lower()
        assert first in [name.lower() for name in wn.lemmas(synset)], (wnid, synset, words[wnid])
    edges = wn.hierarchy_edges(synsets)  # 202 distinct synsets: one node each
    assert {e[1] for e in edges if isinstance(e[1], int)} == set(range(202))
