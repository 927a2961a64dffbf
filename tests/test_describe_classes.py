"""beam_jobs.describe_classes: WordNet glosses and GCIDE definitions as class_descriptions records."""
from __future__ import annotations

import json
import os

import pytest

from tests.conftest import shared_path

pytest.importorskip("nltk")

from beam_jobs import describe_classes as dc  # noqa: E402
from tfpipe.text import class_descriptions as cd  # noqa: E402

# A GCIDE-like dictd text (the layout of gcide.dict.gz: headword line with the
# pronunciation, indented senses, source tags), small enough to check every text.
MINI_DICT = """\
00-database-short
   A tiny GCIDE-like dictionary for tests

Albatross \\Al"ba*tross\\, n. [Cf. Pg. alcatraz.] (Zool.)
   A web-footed bird, of the genus {Diomedea}. See {Gony}.
   [1913 Webster]

Ani \\A"ni\\, n. (Zool.)
   A black bird of tropical America ({Crotophaga ani}), allied
   to the cuckoos.
   [1913 Webster]

Goldfish \\Gold"fish`\\, n. (Zool.)
   (a) A small domesticated cyprinoid fish ({Carassius
       auratus}); -- so named from its color.
   (b) A California marine fish of an orange or red color.
       [1913 Webster]

King \\King\\, n.
   1. A chief ruler; a sovereign; a monarch.
      [1913 Webster]

   {King penguin} (Zool.), any large species of penguin of the
      genus {Aptenodytes}. They live on islands.
      [1913 Webster]

Penguin \\Pen"guin\\, n.
   1. (Zool.) Any bird of the order {Impennes}. They are unable
      to fly.
      [1913 Webster]
   2. (Bot.) The egg-shaped fleshy fruit of a West Indian plant.
      [1913 Webster]

Penguin \\Pen"guin\\, v. t.
   To walk like a penguin.
   [1913 Webster]

Primrose \\Prim"rose`\\, n. (Bot.)
   1. An early flowering plant of the genus {Primula}.
      [1913 Webster]
   2. The color of the primrose; pale yellow.
      [1913 Webster]
   3. {Evening primrose}, an erect biennial herb.
      [1913 Webster]
"""

# What the birds below get, hand-checked against the rules of the module docstring.
KING_PENGUIN = [
    ("Large penguin on islands bordering the Antarctic Circle", "wordnet:king_penguin.n.01"),
    ("Short-legged flightless birds of cold southern especially Antarctic regions having webbed "
     "feet and wings modified as flippers", "wordnet:penguin.n.01"),  # the head noun's sense
    # The compound's definition inside King (King's own sense, a ruler, is not a bird).
    ("Any large species of penguin of the genus Aptenodytes.", "gcide:King penguin#under King"),
    ("They live on islands.", "gcide:King penguin#under King"),
    # The head noun: sense 1 names the kind (bird); sense 2 is (Bot.); the verb is no noun.
    ("Any bird of the order Impennes.", "gcide:Penguin#1"),
    ("They are unable to fly.", "gcide:Penguin#1"),
]
ALBATROSS = [
    ("A variety of albatross with black feet", "wordnet:black-footed_albatross.n.01"),
    ("Large web-footed birds of the southern hemisphere having long narrow wings; noted for "
     "powerful gliding flight", "wordnet:albatross.n.02"),  # the bird, not the burden (.n.01)
    ("A web-footed bird, of the genus Diomedea.", "gcide:Albatross#1"),  # "See Gony." dropped
]
ANI = [  # no WordNet synset for the species: the head noun's (under bird.n.01) and entry
    ("Black tropical American cuckoo", "wordnet:ani.n.01"),
    ("A black bird of tropical America (Crotophaga ani), allied to the cuckoos.", "gcide:Ani#1"),
]
GOLDFISH = [  # from its wnid; the entry's (a)/(b) senses both name a fish
    ("Small golden or orange-red freshwater fishes of Eurasia used as pond or aquarium fishes",
     "wordnet:goldfish.n.01"),
    ("A small domesticated cyprinoid fish (Carassius auratus); -- so named from its color.",
     "gcide:Goldfish#1"),
    ("A California marine fish of an orange or red color.", "gcide:Goldfish#2"),
]
BIRDS = "king penguin\nBlack_footed_Albatross\nGroove_billed_Ani\nQwxz_Blorf\ngoldfish\tn01443537\n"


@pytest.fixture(scope="module", autouse=True)
def wordnet_reader():
    from tfpipe.text import wordnet

    try:
        return wordnet.reader()
    except ImportError as e:
        pytest.skip(f"no WordNet: {e}")


@pytest.fixture
def mini_dict(tmp_path):
    path = tmp_path / "mini.dict"
    path.write_text(MINI_DICT, encoding="utf-8")
    return str(path)


def _records(data_dir: str) -> list[tuple[str, int, str, str]]:
    import tensorflow as tf

    from tfpipe.data import schema
    from tfpipe.data.datadir import DataDir

    data = DataDir.open(data_dir)
    assert data.kind == schema.KIND_CLASS_DESCRIPTIONS
    out = []
    for batch in tf.data.TFRecordDataset(data.shard_paths("all")).batch(64):
        parsed = schema.parse(batch, kind=schema.KIND_CLASS_DESCRIPTIONS)
        assert parsed["word_ids"].flat_values.shape[0] == 0  # ids are the reader's job
        for i, label, name, text in zip(*(parsed[k].numpy() for k in ("id", "label", "name", "text"))):
            out.append((i.decode(), int(label), name.decode(), text.decode()))
    return out


def test_hand_made_classes_through_the_command_line(tmp_path, mini_dict, capsys):
    classes = tmp_path / "birds.txt"
    classes.write_text(BIRDS, encoding="utf-8")
    out = str(tmp_path / "out")
    assert dc.main(["--classes", str(classes), "--under", "bird.n.01", "--gcide", mini_dict,
                    "--output_dir", out]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report == {"dataset": "birds", "classes": 5, "descriptions": 14,
                      "by_source": {"gcide": 8, "wordnet": 6}, "classes_with_synset": 3,
                      "classes_with_1": 4, "classes_with_5": 1, "classes_without": ["Qwxz_Blorf"]}
    records = _records(out)
    names = ["king penguin", "Black_footed_Albatross", "Groove_billed_Ani", "Qwxz_Blorf", "goldfish"]
    expected = {0: KING_PENGUIN, 1: ALBATROSS, 2: ANI, 4: GOLDFISH}
    want = [(f"birds:{label}:{k}", label, names[label], text)
            for label, texts in expected.items() for k, (text, _) in enumerate(texts)]
    assert records == want
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    assert manifest["kind"] == "class_descriptions" and manifest["class_names"] == names
    assert manifest["splits"]["all"]["class_counts"] == [6, 3, 2, 0, 3]
    assert manifest["source"]["report"] == report and manifest["source"]["under"] == ["bird.n.01"]
    with open(os.path.join(out, "class_table.tsv"), encoding="utf-8") as f:
        table = [line.rstrip("\n").split("\t") for line in f]
    assert table[0] == ["index", "name", "synset", "descriptions", "sources"]
    sources = {label: ",".join(dict.fromkeys(s for _, s in texts)) for label, texts in expected.items()}
    assert table[1:] == [
        ["0", "king penguin", "king_penguin.n.01", "6", sources[0]],
        ["1", "Black_footed_Albatross", "black-footed_albatross.n.01", "3", sources[1]],
        ["2", "Groove_billed_Ani", "", "2", sources[2]],
        ["3", "Qwxz_Blorf", "", "0", ""],  # listed, never dropped
        ["4", "goldfish", "goldfish.n.01", "3", sources[4]],
    ]


def test_descriptions_and_their_sources(mini_dict):
    describer = cd.Describer(cd.Dictionary.load(mini_dict), under=("bird.n.01",))
    got = describer.describe(cd.ClassSpec("king penguin", ("king penguin",)))
    assert (got.synset, got.head_synset) == ("king_penguin.n.01", "penguin.n.01")
    assert [(t.text, t.source) for t in got.descriptions] == KING_PENGUIN
    # A flower: the head noun's senses, but not its colour sense (no plant named) nor the
    # compound it defines ("Evening primrose, ..."); "pink primrose" is no WordNet noun.
    flowers = cd.Describer(cd.Dictionary.load(mini_dict), under=("flower.n.01", "plant.n.02"))
    got = flowers.describe(cd.ClassSpec("pink primrose", ("pink primrose",)))
    assert (got.synset, got.head_synset) == (None, "primrose.n.01")
    assert [(t.text, t.source) for t in got.descriptions] == [
        ("Any of numerous short-stemmed plants of the genus Primula having tufted basal leaves "
         "and showy flowers clustered in umbels or heads", "wordnet:primrose.n.01"),
        ("An early flowering plant of the genus Primula.", "gcide:Primrose#1"),
    ]
    # Without a dictionary: WordNet alone; without a domain, a bare name has no synset.
    alone = cd.Describer(None).describe(cd.ClassSpec("albatross", ("albatross",)))
    assert alone.synset is None and alone.descriptions == []


def test_sentences():
    assert cd.sentences("A bird (Anas boschas. L.) of Europe. It dives. See Duck.") == [
        "A bird (Anas boschas. L.) of Europe.", "It dives.", "See Duck."]
    assert cd.sentences("Found in the U. S. and Mexico, e.g. Texas. Also in Cuba.") == [
        "Found in the U. S. and Mexico, e.g. Texas.", "Also in Cuba."]
    assert cd.sentences("A genus (Diomedea). Many species, etc. Rare") == [
        "A genus (Diomedea).", "Many species, etc. Rare"]
    assert cd.sentences("") == []


def test_class_file_errors(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("# birds\nking penguin\n\nking penguin\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"c.txt:4: class 'king penguin' is listed twice \(first on line 2\)"):
        dc.read_class_file(str(path))
    path.write_text("\tn01443537\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"c.txt:1: expected 'name' or 'name<TAB>wnid'"):
        dc.read_class_file(str(path))
    path.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lists no classes"):
        dc.read_class_file(str(path))


def test_command_line_errors(tmp_path, mini_dict, capsys):
    classes = tmp_path / "c.txt"
    classes.write_text("king penguin\n", encoding="utf-8")
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit) as e:  # one of --dataset / --classes
        dc.main(["--output_dir", out])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        dc.main(["--dataset", "cub100", "--classes", str(classes), "--output_dir", out])
    with pytest.raises(SystemExit):
        dc.main(["--dataset", "imagenet", "--output_dir", out])
    with pytest.raises(SystemExit):
        dc.main(["--classes", str(classes), "--gcide", str(tmp_path / "no.dict"), "--output_dir", out])
    assert "--gcide" in capsys.readouterr().err
    assert dc.main(["--classes", str(classes), "--under", "brid.n.01", "--gcide", mini_dict,
                    "--output_dir", out]) == 2
    assert "no WordNet synset 'brid.n.01'" in capsys.readouterr().err
    assert dc.main(["--dataset", "cub100", "--data_root", str(tmp_path), "--gcide", "none",
                    "--output_dir", out]) == 2
    assert "labels.csv does not exist (is --data_root right?)" in capsys.readouterr().err
    assert not os.path.exists(out)


# --------------------------------------------------------------------------- the real datasets


def _dataset(name: str) -> tuple[list[cd.ClassSpec], tuple, tuple]:
    root = os.path.dirname(shared_path(name, "labels.csv" if name != "tiny_imagenet" else "wnids.txt"))
    return dc.read_classes(name, os.path.dirname(root)), *dc.DOMAINS[name]


def test_class_orders_are_the_image_jobs():
    tiny, _, _ = _dataset("tiny_imagenet")
    with open(shared_path("tiny_imagenet", "wnids.txt"), encoding="utf-8") as f:
        assert [c.name for c in tiny] == [line.strip() for line in f if line.strip()]
    assert tiny[0] == cd.ClassSpec("n02124075", ("Egyptian cat",), "n02124075")
    flowers, _, _ = _dataset("flowers102")
    with open(shared_path("flowers102", "cat_to_name.json"), encoding="utf-8") as f:
        by_id = json.load(f)
    assert [c.name for c in flowers] == [by_id[str(i)] for i in range(1, 103)]  # class_id order
    cub, _, _ = _dataset("cub100")
    assert len(cub) == 100 and cub[0].name == "Black_footed_Albatross"
    with open(shared_path("cub100", "cub200_classes.txt"), encoding="utf-8") as f:
        order = [line.split()[1].split(".", 1)[1] for line in f if line.strip()]
    assert [c.name for c in cub] == [c for c in order if c in {x.name for x in cub}]


# WordNet alone, measured: every Tiny-ImageNet wnid is a synset; 59 flower and 43 bird names
# are WordNet nouns in their domain; a head noun's sense covers most of the others.
WORDNET_ONLY = {"tiny_imagenet": (202, 202, 202), "flowers102": (102, 59, 85), "cub100": (100, 43, 88)}


@pytest.mark.parametrize("name", list(WORDNET_ONLY))
def test_real_datasets_with_wordnet_alone(name, tmp_path):
    classes, under, exclude = _dataset(name)
    manifest, described = dc.run(classes, str(tmp_path), dataset=name, gcide=None,
                                 under=under, exclude=exclude)
    report = manifest.source["report"]
    n, with_synset, with_1 = WORDNET_ONLY[name]
    assert (report["classes"], report["classes_with_synset"], report["classes_with_1"]) == (n, with_synset, with_1)
    assert report["by_source"] == {"wordnet": report["descriptions"]}
    assert len(report["classes_without"]) == n - with_1
    assert manifest.class_names == [c.name for c in classes]
    assert sum(manifest.splits["all"].class_counts) == manifest.splits["all"].count == report["descriptions"]


# With GCIDE (measured on gcide.dict.gz: parsing it takes about 16 s on one core, hence slow):
# classes with >= 1 / >= 5 texts: Tiny-ImageNet 202 / 23, Flowers 91 / 9, CUB 98 / 43.
WITH_GCIDE = {"tiny_imagenet": (202, 20), "flowers102": (88, 8), "cub100": (95, 40)}


@pytest.fixture(scope="module")
def gcide():
    return cd.Dictionary.load(shared_path("text", "gcide.dict.gz"))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WITH_GCIDE))
def test_real_datasets_with_gcide(name, gcide, tmp_path):
    classes, under, exclude = _dataset(name)
    manifest, described = dc.run(classes, str(tmp_path), dataset=name, gcide=gcide,
                                 under=under, exclude=exclude)
    report = manifest.source["report"]
    at_least_1, at_least_5 = WITH_GCIDE[name]
    assert report["classes_with_1"] >= at_least_1 and report["classes_with_5"] >= at_least_5
    assert report["by_source"]["gcide"] > report["by_source"]["wordnet"] / 2
    assert len(report["classes_without"]) == len(classes) - report["classes_with_1"]
    texts = {d.spec.name: {(t.text, t.source) for t in d.descriptions} for d in described}
    if name == "tiny_imagenet":  # n02056570: king penguin, its compound under King
        assert any(s == "gcide:King penguin#under King" for _, s in texts["n02056570"])
    if name == "cub100":
        assert ("A web-footed bird, of the genus Diomedea, of which there are several species.",
                "gcide:Albatross#1") in texts["Black_footed_Albatross"]
    if name == "flowers102":
        assert ("Lilium tigrinum, the sepals of which are blotched with black.",
                "gcide:Tiger lily#under Lily") in texts["tiger lily"]
