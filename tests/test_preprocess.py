"""``python -m beam_jobs.preprocess``: CLI checks, the job end to end, determinism, and the
quantizer parity on the real corpora (Beam-written ids == ``quantize`` == ``quantize_py``)."""
from __future__ import annotations

import collections
import csv
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from beam_jobs import preprocess
from tests.conftest import shared_path
from tfpipe.data import corpora, embedded, pipeline, records, schema, splits
from tfpipe.data import manifest as manifest_lib
from tfpipe.data.datadir import DataDir
from tfpipe.text import alphabet as alphabet_lib
from tfpipe.text import quantize as quantize_lib
from tfpipe.text import tokenize as tokenize_lib

IN_MEMORY = ["--runner=DirectRunner", "--direct_running_mode=in_memory",
             "--direct_num_workers=1"]
THESAURUS = os.path.join(os.path.dirname(__file__), "data", "thesaurus_small.tsv")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args: str):
    return preprocess.run([*args, *IN_MEMORY])


def _load(data_dir: str):
    """The manifest and, per split, parsed numpy features of every record (in shard order)."""
    m = manifest_lib.load(data_dir)
    out = {}
    for split in m.splits:
        ds = tf.data.TFRecordDataset(m.shard_paths(data_dir, split),
                                     compression_type=m.compression)
        feats = {"id": [], "text": [], "chars": [], "label": [], "word_ids": []}
        for batch in ds.batch(4096):
            parsed = schema.parse(batch, m.l0)
            feats["id"] += [x.decode() for x in parsed["id"].numpy()]
            feats["text"] += [x.decode() for x in parsed["text"].numpy()]
            feats["chars"].append(parsed["chars"].numpy())
            feats["label"] += parsed["label"].numpy().tolist()
            feats["word_ids"] += parsed["word_ids"].to_list()
        feats["chars"] = (np.concatenate(feats["chars"]) if feats["chars"]
                          else np.zeros([0, m.l0], np.uint8))
        out[split] = feats
    return m, out


def _files(data_dir: str) -> dict[str, bytes]:
    result = {}
    for name in sorted(os.listdir(data_dir)):
        with open(os.path.join(data_dir, name), "rb") as f:
            result[name] = f.read()
    return result


# --------------------------------------------------------------------------- CLI checks


@pytest.fixture
def no_beam(monkeypatch):
    def fail(*_args, **_kwargs):
        raise AssertionError("Beam must not start on a bad command line")

    monkeypatch.setattr(preprocess, "execute", fail)


@pytest.mark.parametrize("argv, message", [
    (["--input", "/nonexistent/train.csv"], "file not found"),
    (["--input", "/nonexistent/*.csv"], "no file matches"),
    (["--format", "xml"], "invalid choice"),
    (["--bogus_flag=1"], "unrecognized arguments"),
    (["--tfds", "x", "--input", "{csv}"], "either --input or --tfds"),
    (["--test_input", "{csv}"], "needs --input"),
    (["--input", "{csv}", "--test_fraction", "0"], "--test_fraction must be in (0, 1)"),
    (["--input", "{csv}", "--encoding", "klingon"], "unknown encoding"),
    (["--input", "{csv}", "--classes", "/nonexistent/classes.txt"], "file not found"),
    (["--input", "{txt}"], "cannot tell the format"),
    (["--input", "{csv}", "--l0", "0"], "--l0 must be at least 1"),
    (["--input", "{csv}", "{csv}"], "given twice"),
    (["--input", "{csv}", "--ngram_max", "0"], "--ngram_max must be at least 1"),
    (["--input", "{csv}", "--ngram_vocab_size", "-1"], "--ngram_vocab_size must be >= 0"),
    (["--input", "{csv}", "--augment_copies", "2"], "--augment_copies needs --thesaurus"),
    (["--input", "{csv}", "--thesaurus", "{th}"], "--thesaurus is used only with"),
    (["--input", "{csv}", "--augment_copies", "1", "--thesaurus", "/nonexistent/th.tsv"],
     "--thesaurus '/nonexistent/th.tsv': file not found"),
    (["--input", "{csv}", "--augment_copies", "1", "--thesaurus", "{txt}"],
     "expected 'word<TAB>synonym"),
    (["--input", "{csv}", "--augment_copies", "-1"], "--augment_copies must be >= 0"),
    (["--input", "{csv}", "--augment_copies", "1", "--thesaurus", "{th}", "--augment_p", "0"],
     "--augment_p must be in (0, 1]"),
    (["--input", "{csv}", "--romanize", "klingon"], "unknown romanizer; valid: ['pinyin']"),
    (["--input", "{csv}", "trec:{label}"], "different class lists"),
    (["--input", "{csv}", "--dataset", " "], "--dataset must not be empty"),
])
def test_bad_command_lines_exit_2_before_beam(argv, message, tmp_path, capsys, no_beam):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('"1","a"\n')
    txt_path = tmp_path / "d.txt"
    txt_path.write_text("a\n")
    label_path = tmp_path / "q.label"
    label_path.write_text("NUM:count How many ?\n")
    argv = [a.format(csv=csv_path, txt=txt_path, th=THESAURUS, label=label_path) for a in argv]
    with pytest.raises(SystemExit) as exc:
        preprocess.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_help_explains_every_flag(capsys):
    parser = preprocess.build_parser()
    for action in parser._actions:  # pylint: disable=protected-access
        assert action.help, action.option_strings
    with pytest.raises(SystemExit) as exc:
        preprocess.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--input", "--test_input", "--format", "--tfds", "--test_fraction", "--seed",
                 "--output_dir", "--alphabet", "--l0", "--vocab_size", "--max_words",
                 "--num_shards", "--compression", "--classes", "--max_line_chars", "--encoding",
                 "--min_count", "--ngram_max", "--ngram_vocab_size", "--dataset", "--unlabelled",
                 "--thesaurus", "--augment_copies", "--augment_p", "--augment_q", "--romanize",
                 "FORMAT:", "Beam pipeline option"):
        assert flag in text


def test_runner_options_pass_through_and_direct_defaults():
    cfg, args = preprocess.parse(["--runner=FlinkRunner", "--flink_master=localhost:8081",
                                  "--environment_type=LOOPBACK", "--parallelism=4"])
    assert args == ["--runner=FlinkRunner", "--flink_master=localhost:8081",
                    "--environment_type=LOOPBACK", "--parallelism=4"]
    assert cfg.source_info["format"] == "embedded"
    _, args = preprocess.parse(["--runner=DirectRunner"])
    assert "--direct_running_mode=multi_processing" in args
    assert f"--direct_num_workers={len(os.sched_getaffinity(0))}" in args
    _, args = preprocess.parse(["--direct_running_mode=in_memory"])
    assert args == ["--direct_running_mode=in_memory"]


# --------------------------------------------------------------------------- end to end


_CLASSES = ["Alpha", "Beta", "Gamma"]
_WORDS = {0: ["apple", "anchor", "arrow"], 1: ["banana", "bridge", "bell"],
          2: ["grape", "garden", "glass"]}
_BAD_LINES = [
    b'"2","unbalanced quote',     # unbalanced_quotes
    b'"7","out of range","x"',    # label_out_of_range
    b'"two","bad label","x"',     # bad_label
    b'"1","  ",""',               # empty_text
    b'"1","caf\xe9","x"',         # invalid_encoding
    b'"1","' + b"L" * 500 + b'"',  # line_too_long (--max_line_chars 300)
    b'"1","a","b","c"',           # wrong_field_count
]


def _tiny_csv(tmp_path, n: int = 60) -> str:
    rng = random.Random(3)
    lines = []
    for i in range(n):
        label = i % 3
        words = [rng.choice(_WORDS[label]) for _ in range(6)]
        title = f"{words[0].title()} news #{i}"
        body = " ".join(words) + f", with \\n {rng.randint(0, 999)} ""units"" ."
        lines.append(f'"{label + 1}","{title}","{body}"'.encode())
        if i % 9 == 4:
            lines.append(_BAD_LINES[(i // 9) % len(_BAD_LINES)])
    lines += _BAD_LINES
    path = tmp_path / "tiny.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "classes.txt").write_text("\n".join(_CLASSES) + "\n")
    return str(path)


# --dataset: the default name is the output directory's base name, which differs between runs.
TINY_FLAGS = ["--l0", "96", "--max_words", "12", "--num_shards", "2", "--max_line_chars", "300",
              "--dataset", "tiny"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    src = tmp_path_factory.mktemp("tiny_src")
    path = _tiny_csv(src)
    out = str(tmp_path_factory.mktemp("tiny_out"))
    manifest = _run("--input", path, "--output_dir", out, *TINY_FLAGS)
    return path, out, manifest


def test_manifest_fields_and_accounting(tiny_run):
    path, out, m = tiny_run
    _, items = corpora.read_files("zhang_csv", [path], max_line_chars=300)
    good = [i for i in items if isinstance(i, corpora.RawExample)]
    bad = [i for i in items if isinstance(i, corpora.Rejected)]
    assert m == manifest_lib.load(out)
    assert m.schema_version == schema.SCHEMA_VERSION
    assert m.alphabet == "paper" and m.alphabet_chars == alphabet_lib.PAPER.chars
    assert (m.l0, m.max_words, m.compression) == (96, 12, "")
    assert m.class_names == _CLASSES
    assert m.vocab_file == "vocab.tsv" and m.rejected_file == "rejected.jsonl"
    reasons = collections.Counter(r.reason for r in bad)
    assert m.counts == {"read": len(items), "written": len(good), "rejected": len(bad),
                        "rejected_by_reason": dict(sorted(reasons.items())), "augmented": 0}
    assert m.counts["read"] == m.counts["written"] + m.counts["rejected"]
    assert set(reasons) == {corpora.UNBALANCED_QUOTES, corpora.LABEL_OUT_OF_RANGE,
                            corpora.BAD_LABEL, corpora.EMPTY_TEXT, corpora.INVALID_ENCODING,
                            corpora.LINE_TOO_LONG, corpora.WRONG_FIELD_COUNT}
    assert set(m.splits) == {"train", "test"}
    for split, entry in m.splits.items():
        assert len(entry.shards) == 2 and entry.count == sum(entry.class_counts)
        assert [s.file for s in entry.shards] == [f"{split}-0000{i}-of-00002.tfrecord"
                                                  for i in range(2)]
        pipeline.check_shards(DataDir(out, m), split, "sha256")  # sizes and sha256 match the files
        for shard in entry.shards:
            n = sum(1 for _ in tf.data.TFRecordDataset(os.path.join(out, shard.file)))
            assert n == shard.records
    assert m.splits["train"].count + m.splits["test"].count == len(good)
    assert m.splits["test"].class_counts == [round(0.2 * 20)] * 3
    assert m.source["format"] == "zhang_csv" and m.source["inputs"] == [path]
    assert m.source["split"] == {"mode": "stratified", "test_fraction": 0.2, "seed": 0}

    dead = [json.loads(line) for line in open(os.path.join(out, "rejected.jsonl"))]
    assert dead == [r._asdict() for r in bad]  # file order, every field


def test_records_hold_quantized_text_word_ids_and_the_agreed_split(tiny_run):
    path, out, m = tiny_run
    _, items = corpora.read_files("zhang_csv", [path], max_line_chars=300)
    good = {i.example_id: i for i in items if isinstance(i, corpora.RawExample)}
    by_label: dict[int, list] = {}
    for ex in good.values():
        by_label.setdefault(ex.label, []).append((0, ex.row))
    test_keys = splits.held_out_keys(by_label, 0.2, 0)

    _, data = _load(out)
    vocab = DataDir(out, m).vocab()
    assert len(vocab) == m.vocab_words
    counts = collections.Counter(
        t.decode() for t in tokenize_lib.tokenize(data["train"]["text"]).flat_values.numpy())
    assert [(w, c) for w, c in records.select_vocab(counts, 50_000)] == [
        tuple(line.split("\t")[0:1]) + (int(line.split("\t")[1]),)
        for line in open(os.path.join(out, "vocab.tsv"), encoding="utf-8").read().splitlines()]
    word_index = {w: i + tokenize_lib.FIRST_WORD_ID for i, w in enumerate(vocab)}
    for split, feats in data.items():
        for example_id, text, label in zip(feats["id"], feats["text"], feats["label"]):
            ex = good[example_id]
            assert (text, label) == (ex.text, ex.label)
            assert ((0, ex.row) in test_keys) == (split == "test")
        expected = quantize_lib.quantize(feats["text"], alphabet_lib.PAPER, 96).numpy()
        np.testing.assert_array_equal(feats["chars"], expected)
        tokens = tokenize_lib.tokenize(feats["text"])[:, :12].to_list()
        assert feats["word_ids"] == [[word_index.get(t.decode(), tokenize_lib.OOV_ID)
                                      for t in row] for row in tokens]
        # Records sorted by id inside each shard.
        for shard in m.splits[split].shards:
            ids = [schema.parse(tf.constant([r.numpy()]), 96)["id"].numpy()[0]
                   for r in tf.data.TFRecordDataset(os.path.join(out, shard.file))]
            assert ids == sorted(ids)
            assert all(records.shard_of(i.decode(), 2) == int(shard.file.split("-")[1])
                       for i in ids)


def test_same_input_gives_identical_bytes_and_matches_the_plain_writer(tiny_run, tmp_path):
    path, out, m = tiny_run
    again = str(tmp_path / "again")
    _run("--input", path, "--output_dir", again, *TINY_FLAGS)
    assert _files(again) == _files(out)

    # The plain single-process writer on the same split writes the same shards and vocab.
    _, data = _load(out)
    plain = str(tmp_path / "plain")
    records.write_dataset(
        plain,
        {s: sorted(zip(d["id"], d["text"], d["label"])) for s, d in data.items()},
        m.class_names, l0=96, max_words=12, num_shards=2)
    plain_files, beam_files = _files(plain), _files(out)
    assert m.ngram_file == "ngrams.tsv" and m.ngram_max == 5 and m.ngram_features > m.vocab_words
    for name in [s.file for e in m.splits.values() for s in e.shards] + ["vocab.tsv",
                                                                          "ngrams.tsv"]:
        assert plain_files[name] == beam_files[name], name


# --------------------------------------------------------------------------- augmentation


_AUG_TEXTS = {  # label -> texts; words of tests/data/thesaurus_small.tsv are replaceable
    0: ["Big market shares fall", "The market said no", "apple anchor arrow"],
    1: ["Fast win for the team", "A big WIN, they said", "banana bridge bell"],
    2: ["Shares of the market rose", "grape garden glass", "Said the fast fox"],
}


def _aug_csv(tmp_path) -> str:
    lines = []
    for i in range(8):
        for label, texts in _AUG_TEXTS.items():
            lines.append(f'"{label + 1}","{texts[i % 3]} #{i}"'.encode())
    lines.insert(5, _BAD_LINES[1])
    lines.insert(9, _BAD_LINES[3])
    path = tmp_path / "aug.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "classes.txt").write_text("\n".join(_CLASSES) + "\n")
    return str(path)


AUG_FLAGS = ["--l0", "64", "--max_words", "10", "--num_shards", "2", "--ngram_max", "3",
             "--ngram_vocab_size", "300", "--dataset", "aug", "--seed", "3"]


@pytest.fixture(scope="module")
def aug_runs(tmp_path_factory):
    """The same corpus without and with two thesaurus copies per train row."""
    path = _aug_csv(tmp_path_factory.mktemp("aug_src"))
    plain = str(tmp_path_factory.mktemp("aug_plain"))
    aug = str(tmp_path_factory.mktemp("aug_out"))
    m_plain = _run("--input", path, "--output_dir", plain, *AUG_FLAGS)
    m_aug = _run("--input", path, "--output_dir", aug, *AUG_FLAGS, "--thesaurus", THESAURUS,
                 "--augment_copies", "2")
    return path, (plain, m_plain), (aug, m_aug)


def test_augmented_copies_are_extra_train_records(aug_runs):
    from tfpipe.text import thesaurus as thesaurus_lib

    _, (plain, m_plain), (aug, m) = aug_runs
    _, before = _load(plain)
    _, after = _load(aug)
    # The test split is carved first and never augmented.
    assert sorted(after["test"]["id"]) == sorted(before["test"]["id"])
    assert after["test"]["text"] == before["test"]["text"]
    originals = dict(zip(before["train"]["id"], zip(before["train"]["text"],
                                                    before["train"]["label"])))
    table = thesaurus_lib.load_tsv(THESAURUS)
    expected = {}
    skipped = rows_augmented = 0
    for example_id, (text, label) in originals.items():
        copies = thesaurus_lib.augment_copies(text, table, seed=3, key=example_id, copies=2)
        kept = {f"{example_id}#th{k}": (new, label) for k, new in enumerate(copies, start=1)
                if new != text}
        skipped += 2 - len(kept)
        rows_augmented += bool(kept)
        expected.update(kept)
    got = dict(zip(after["train"]["id"], zip(after["train"]["text"], after["train"]["label"])))
    assert got == {**originals, **expected}
    # Rows without a thesaurus word (apple/banana/grape rows) give identical copies: skipped.
    assert 0 < skipped < 2 * len(originals) and rows_augmented < len(originals)
    assert all(originals[i.split("#")[0]][0] != text for i, (text, _) in expected.items())
    assert m.augmentation == {
        "thesaurus": "thesaurus_small.tsv", "thesaurus_sha256": manifest_lib.file_sha256(THESAURUS),
        "thesaurus_words": len(table), "copies": 2, "p": 0.5, "q": 0.5, "seed": 3,
        "rows_augmented": rows_augmented, "copies_written": len(expected),
        "copies_skipped_identical": skipped}
    assert len(expected) + skipped == 2 * m_plain.splits["train"].count
    # Row accounting: the rows read are written or rejected; copies are counted apart.
    assert m.counts["read"] == m.counts["written"] + m.counts["rejected"] == m_plain.counts["read"]
    assert m.counts["written"] == m_plain.counts["written"]
    assert m.counts["augmented"] == len(expected) and m_plain.counts["augmented"] == 0
    assert m.splits["train"].count == m_plain.splits["train"].count + len(expected)
    assert sum(s.records for s in m.splits["train"].shards) == m.splits["train"].count
    assert m.splits["train"].class_counts == [
        sum(1 for _, label in got.values() if label == k) for k in range(3)]
    assert m_plain.augmentation == {}
    # Statistics count the train split as written: the copies' synonyms are in it.
    vocab = set(DataDir(aug, m).vocab())
    assert "triumph" in vocab or "victory" in vocab or "stocks" in vocab
    assert not {"triumph", "victory", "stocks", "equities"} & set(
        DataDir(plain, m_plain).vocab())


def test_augmented_run_matches_the_plain_writer(aug_runs, tmp_path):
    _, _, (aug, m) = aug_runs
    _, data = _load(aug)
    splits_in = {s: sorted((i, t, lab) for i, t, lab in zip(d["id"], d["text"], d["label"])
                           if "#th" not in i) for s, d in data.items()}
    out = str(tmp_path / "plain")
    m2 = records.write_dataset(out, splits_in, m.class_names, l0=64, max_words=10, num_shards=2,
                               ngram_max=3, ngram_vocab_size=300, thesaurus=THESAURUS,
                               augment_copies=2, seed=3)
    plain_files, beam_files = _files(out), _files(aug)
    for name in [s.file for e in m.splits.values() for s in e.shards] + ["vocab.tsv",
                                                                          "ngrams.tsv"]:
        assert plain_files[name] == beam_files[name], name
    assert m2.augmentation == m.augmentation
    assert m2.splits == m.splits and m2.counts["augmented"] == m.counts["augmented"]


@pytest.mark.slow
def test_multi_processing_runner_gives_the_same_bytes(aug_runs, tmp_path):
    """The default DirectRunner mode (one worker process per core) really runs and agrees,
    also for the thesaurus copies and n-gram statistics.  Run as the real command in a fresh
    process, which also checks its stderr is free of Beam's start-up noise (the apitools
    warning and each worker's "Logging handler created": tests/test_beam_logging.py).

    Slow (three fresh TensorFlow + Beam processes, ~35 s on 2 cores).  The fast suite runs
    the same pipeline (the same DoFns) in_memory in every other test here, the command in a
    fresh process (tests/test_beam_logging.py::test_preprocess_prints_no_apitools_warning)
    and the workers' stderr filter on a child process
    (test_worker_stderr_filter_drops_exactly_the_noise_lines)."""
    from beam_jobs import beam_logging

    path, _, (aug, _) = aug_runs
    mp = str(tmp_path / "mp")
    done = subprocess.run(
        [sys.executable, "-m", "beam_jobs.preprocess", "--input", path, "--output_dir", mp,
         *AUG_FLAGS, "--thesaurus", THESAURUS, "--augment_copies", "2", "--runner=DirectRunner",
         "--direct_num_workers=2", "--direct_running_mode=multi_processing",
         "--default_sdk_harness_log_level=ERROR"],
        cwd=REPO, env=dict(os.environ, TFPIPE_HOME=str(tmp_path / "home")),
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert _files(mp) == _files(aug)
    assert "Preprocessed data 'aug'" in done.stdout
    for line in beam_logging.NOISE_LINES:
        assert line not in done.stderr, done.stderr
    assert "apitools" not in done.stderr and "Logging handler" not in done.stderr, done.stderr


# --------------------------------------------------------------------------- romanization


@pytest.mark.slow
def test_romanize_pinyin_before_everything_else(tmp_path):
    """Slow (jieba's dictionary and pypinyin load, ~11 s): the fast suite covers the job's
    romanization step with a stand-in romanizer (test_text_empty_after_romanization_is_rejected)
    and pinyin itself in tests/test_romanize.py."""
    pytest.importorskip("jieba")
    pytest.importorskip("pypinyin")
    from tfpipe.text import romanize

    texts = ["中国银行发布新闻", "北京 weather 很好", "女儿喜欢足球比赛", "上海股市今天上涨",
             "Python 是一种编程语言", "他们说中国队赢了"]
    path = tmp_path / "zh.csv"
    path.write_text("".join(f'"{1 + i % 2}","{t}"\n' for i, t in enumerate(texts * 2)),
                    encoding="utf-8")
    out = str(tmp_path / "out")
    m = _run("--input", str(path), "--output_dir", out, "--romanize", "pinyin", "--l0", "64",
             "--num_shards", "1", "--ngram_max", "2", "--dataset", "zh")
    assert m.romanize == "pinyin"
    _, data = _load(out)
    raw = {f"zh.csv:{i + 1}": t for i, t in enumerate(texts * 2)}
    for feats in data.values():
        for example_id, text in zip(feats["id"], feats["text"]):
            assert text == romanize.pinyin(raw[example_id]).strip()
            assert not any("\u4e00" <= c <= "\u9fff" for c in text)
    # Counted on the romanized text (the tokenizer splits a syllable from its tone digit).
    vocab = DataDir(out, m).vocab()
    assert {"zhong", "guo", "1", "2"} <= set(vocab)
    grams, _, _ = DataDir(out, m).feature_stats("ngrams")
    assert "zhong 1" in grams and "guo 2" in grams
    # The split is the agreed one on the labels (romanizing changes no key).
    assert m.splits["test"].count == round(0.2 * 6) * 2
    # The plain writer romanizes the same way.
    rows = {s: [(i, raw[i], lab) for i, lab in zip(d["id"], d["label"])]
            for s, d in data.items()}
    plain = str(tmp_path / "plain")
    records.write_dataset(plain, rows, m.class_names, l0=64, ngram_max=2, romanize="pinyin")
    for name in ("train-00000-of-00001.tfrecord", "test-00000-of-00001.tfrecord", "vocab.tsv",
                 "ngrams.tsv"):
        assert _files(plain)[name] == _files(out)[name], name


# --------------------------------------------------------------------------- several corpora


def _expected_test_ids(fmt: str, paths: list[str]) -> set[str]:
    """The agreed split of one corpus on its own labels (what its own run holds out)."""
    _, items = corpora.read_files(fmt, paths)
    by_label: dict = {}
    ids = {}
    for position, path in enumerate(paths):
        for item in items:
            if item.example_id.startswith(os.path.basename(path) + ":"):
                by_label.setdefault(item.label, []).append((position, item.row))
                ids[(position, item.row)] = item.example_id
    return {ids[k] for k in splits.held_out_keys(by_label, 0.2, 0)}


def test_unlabelled_union_of_formats_keeps_each_corpus_split(tmp_path):
    csv_path = tmp_path / "news.csv"
    csv_path.write_text("".join(f'"{1 + i % 4}","headline {i}"\n' for i in range(20)))
    pos, neg = tmp_path / "rt.pos", tmp_path / "rt.neg"
    pos.write_text("".join(f"good film {i}\n" for i in range(10)))
    neg.write_text("".join(f"bad film {i}\n" for i in range(15)))
    trec_train, trec_test = tmp_path / "q_train.label", tmp_path / "q_test.label"
    trec_train.write_text("NUM:count How many ?\nHUM:ind Who is it ?\nLOC:city Where ?\n")
    trec_test.write_text("DESC:def What is X ?\n")
    out = str(tmp_path / "out")
    m = _run("--unlabelled", "--input", f"zhang_csv:{csv_path}", f"line_per_class:{pos}",
             f"line_per_class:{neg}", f"trec:{trec_train}", "--test_input", f"trec:{trec_test}",
             "--output_dir", out, "--ngram_max", "2")
    assert m.class_names == ["text"]
    assert m.source["format"] == "mixed" and m.source["split"]["mode"] == "mixed"
    assert m.source["split"]["carved"] == ["zhang_csv", "line_per_class"]
    assert m.source["split"]["given"] == ["trec"]
    assert m.source["unlabelled"]["classes_read"]["line_per_class"] == ["neg", "pos"]
    _, data = _load(out)
    assert set(data["train"]["label"]) == set(data["test"]["label"]) == {0}
    expected = (_expected_test_ids("zhang_csv", [str(csv_path)])
                | _expected_test_ids("line_per_class", [str(pos), str(neg)])
                | {"q_test.label:1"})
    assert set(data["test"]["id"]) == expected
    assert len(data["train"]["id"]) == 20 + 25 + 3 - (len(expected) - 1)
    assert m.counts["read"] == m.counts["written"] == 49


def test_format_prefixes_and_labelled_mixes(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text("one\tx\ntwo\ty\n")
    jsonl = tmp_path / "b.data"
    jsonl.write_text('{"text": "three", "label": "y"}\n{"text": "four", "label": "x"}\n')
    cfg, _ = preprocess.parse(["--input", str(tsv), f"jsonl:{jsonl}", *IN_MEMORY])
    assert cfg.class_names == ("x", "y") and cfg.carve_test and not cfg.unlabelled
    assert [(s.fmt, s.group, s.split) for s in cfg.sources] == [("tsv", 0, None),
                                                                 ("jsonl", 1, None)]
    assert cfg.dataset == os.path.basename(cfg.output_dir)
    # A path whose first part is not a format name is a plain path (e.g. gs://...).
    assert preprocess._split_format("gs://bucket/x.csv") == (None, "gs://bucket/x.csv")
    assert preprocess._split_format("trec:a:b.label") == ("trec", "a:b.label")


def test_given_test_input_gzip_and_full_alphabet(tmp_path):
    train = tmp_path / "train.label"
    train.write_bytes(b"NUM:count How many ?\nHUM:ind Who WAS it ?\nLOC:city Where ?\n"
                      b"BAD line\nDESC:def What is X ?\n")
    test = tmp_path / "test.label"
    test.write_bytes(b"ENTY:animal Which Animal ?\nABBR:exp What does NASA mean ?\n")
    out = str(tmp_path / "out")
    m = _run("--input", str(train), "--test_input", str(test), "--output_dir", out,
             "--compression", "gzip", "--alphabet", "full", "--l0", "40")
    assert m.source["split"] == {"mode": "given"} and m.source["format"] == "trec"
    assert m.compression == "GZIP" and m.alphabet == "full"
    assert m.splits["train"].count == 4 and m.splits["test"].count == 2
    assert m.counts["rejected_by_reason"] == {corpora.MALFORMED_LINE: 1}
    assert all(s.file.endswith(".tfrecord.gz") for e in m.splits.values() for s in e.shards)
    _, data = _load(out)
    assert sorted(data["test"]["id"]) == ["test.label:1", "test.label:2"]
    np.testing.assert_array_equal(
        data["train"]["chars"],
        quantize_lib.quantize(data["train"]["text"], alphabet_lib.FULL, 40).numpy())
    assert data["train"]["chars"].max() > 26  # upper-case letters have their own indices


def test_embedded_corpus_into_the_default_directory(tmp_path, monkeypatch):
    default = str(tmp_path / "home" / "data" / "default")
    monkeypatch.setattr(preprocess.paths_lib, "DEFAULT_DATA_DIR", default)
    m = _run("--embedded_train", "40", "--embedded_test", "12", "--l0", "64")
    assert m == manifest_lib.load(default)
    assert m.class_names == embedded.CLASS_NAMES
    assert (m.splits["train"].count, m.splits["test"].count) == (40, 12)
    assert m.source["format"] == "embedded"
    _, data = _load(default)
    expected = {r.example_id: r.text for r in embedded.rows("train", 40)}
    assert dict(zip(data["train"]["id"], data["train"]["text"])) == expected


def _mock_tfds_dataset(self, split=None, **kwargs):
    n = 30 if str(split).startswith("train") else 8
    rows = [{"title": f"Title {i}", "description": f"body {i} of {split}", "label": i % 4}
            for i in range(n)]
    return tf.data.Dataset.from_generator(
        lambda: iter(rows),
        output_signature={"title": tf.TensorSpec([], tf.string),
                          "description": tf.TensorSpec([], tf.string),
                          "label": tf.TensorSpec([], tf.int64)})


def test_tfds_input_without_network(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    out = str(tmp_path / "out")
    with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE,
                                as_dataset_fn=_mock_tfds_dataset):
        m = _run("--tfds", "ag_news_subset", "--tfds_data_dir", str(tmp_path / "tfds"),
                 "--output_dir", out, "--l0", "32")
    assert m.class_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert m.source["tfds"] == "ag_news_subset"
    assert m.source["tfds_text_fields"] == ["title", "description"]
    assert m.counts["read"] == m.counts["written"] == 38
    _, data = _load(out)
    texts = dict(zip(data["test"]["id"], data["test"]["text"]))
    assert texts["ag_news_subset/test:3"] == "Title 3 body 3 of test"


# --------------------------------------------------------------------------- real corpora


def _readme_split(labels: list[int]) -> set[int]:
    rng = random.Random(0)
    test: set[int] = set()
    for label in sorted(set(labels)):
        indices = [i for i, lab in enumerate(labels) if lab == label]
        rng.shuffle(indices)
        test.update(indices[: round(0.2 * len(indices))])
    return test


class _RealRuns(dict):
    """The job once per shared corpus, run when a test first asks for that corpus."""

    def __init__(self, tmp_path_factory):
        super().__init__()
        self.tmp_path_factory = tmp_path_factory
        ag = shared_path("ag_news", "test.csv")
        trec = (shared_path("trec", "train_5500.label"), shared_path("trec", "TREC_10.label"))
        mr = (shared_path("mr", "rt-polarity.pos"), shared_path("mr", "rt-polarity.neg"))
        self.args = {
            "ag_news": ["--input", ag],
            "trec": ["--input", trec[0], "--test_input", trec[1]],
            "mr": ["--input", *mr, "--format", "line_per_class"],
        }

    def __missing__(self, name):
        args = self.args[name]
        out = str(self.tmp_path_factory.mktemp(name))
        manifest = _run(*args, "--output_dir", out, "--ngram_vocab_size", "0")
        self[name] = (args, out, manifest, *_load(out)[1:])
        return self[name]

    def all(self) -> list:
        return [self[name] for name in self.args]


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    """The job once per shared corpus, on first use (skipped when ../shared/data is absent).

    Without the n-gram statistics (--ngram_vocab_size 0), about half of each run: nothing
    here reads ngrams.tsv, and the Beam n-gram counting is checked byte for byte against the
    plain writer on small inputs (test_same_input_gives_identical_bytes_and_matches_the_plain_
    writer, tests/test_feature_stats.py).  AG's News (7,600 rows, the longest run) is read by
    the slow tests only; TREC and MR check the same path in the fast suite."""
    return _RealRuns(tmp_path_factory)


@pytest.mark.parametrize("corpus, fmt, sizes", [
    pytest.param("ag_news", "zhang_csv", (6080, 1520), marks=pytest.mark.slow),
    ("trec", "trec", (5452, 500)),
    ("mr", "line_per_class", (8530, 2132)),
])
def test_real_corpora_quantizer_parity(real_runs, corpus, fmt, sizes):
    """Ids the Beam job wrote == quantize(text) == quantize_py(text), on the real texts."""
    args, out, m, data = real_runs[corpus]
    assert (m.splits["train"].count, m.splits["test"].count) == sizes
    assert m.counts["rejected"] == 0 and m.l0 == 1014 and m.alphabet == "paper"
    inputs = [a for a in args if os.path.sep in a]
    _, items = corpora.read_files(fmt, inputs)
    source_text = {i.example_id: (i.text, i.label) for i in items}
    alphabet = alphabet_lib.PAPER
    checked = 0
    for feats in data.values():
        # The records hold exactly the reader's texts and labels ...
        assert [source_text[i] for i in feats["id"]] == list(zip(feats["text"], feats["label"]))
        # ... and their ids are the TF quantizer's and the per-character Python loop's.
        tf_ids = quantize_lib.quantize(feats["text"], alphabet, m.l0).numpy()
        np.testing.assert_array_equal(feats["chars"], tf_ids)
        py_ids = np.array([quantize_lib.quantize_py(t, alphabet, m.l0) for t in feats["text"]],
                          dtype=np.uint8)
        np.testing.assert_array_equal(feats["chars"], py_ids)
        checked += len(feats["id"])
    assert checked == sum(sizes)


@pytest.mark.slow
def test_real_corpora_agreed_splits_ag_news(real_runs):
    _, _, _, data = real_runs["ag_news"]
    with open(shared_path("ag_news", "test.csv"), encoding="utf-8", newline="") as f:
        labels = [int(row[0]) - 1 for row in csv.reader(f)]
    expected = {f"test.csv:{i + 1}" for i in _readme_split(labels)}
    assert set(data["test"]["id"]) == expected


def test_real_corpora_agreed_splits(real_runs):
    _, _, m, data = real_runs["mr"]
    assert m.class_names == ["neg", "pos"]
    expected = set()
    rng = random.Random(0)
    for name in ("rt-polarity.neg", "rt-polarity.pos"):  # label order: neg=0, pos=1
        with open(shared_path("mr", name), "rb") as f:
            indices = list(range(len(f.read().splitlines())))
        rng.shuffle(indices)
        expected.update(f"{name}:{i + 1}" for i in indices[: round(0.2 * len(indices))])
    assert set(data["test"]["id"]) == expected

    _, _, m, data = real_runs["trec"]
    assert m.class_names == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert {i.split(":")[0] for i in data["test"]["id"]} == {"TREC_10.label"}


@pytest.mark.slow
def test_real_unlabelled_union_for_word2vec(real_runs, tmp_path):
    """The module docstring's shared_text command: one unlabelled data directory whose
    test split is exactly the three corpora's agreed test splits (slow: a fourth real-corpus
    run; the fast test_unlabelled_union_of_formats_keeps_each_corpus_split checks the same
    path on tiny files)."""
    ag = shared_path("ag_news", "test.csv")
    trec = (shared_path("trec", "train_5500.label"), shared_path("trec", "TREC_10.label"))
    mr = (shared_path("mr", "rt-polarity.pos"), shared_path("mr", "rt-polarity.neg"))
    out = str(tmp_path / "shared_text")
    m = _run("--unlabelled", "--input", f"zhang_csv:{ag}", f"line_per_class:{mr[0]}",
             f"line_per_class:{mr[1]}", f"trec:{trec[0]}", "--test_input", f"trec:{trec[1]}",
             "--output_dir", out, "--ngram_vocab_size", "0")
    assert m.class_names == ["text"] and m.counts["rejected"] == 0
    assert (m.splits["train"].count, m.splits["test"].count) == (6080 + 8530 + 5452,
                                                                 1520 + 2132 + 500)
    _, data = _load(out)
    for split in ("train", "test"):
        expected = {i for run in real_runs.all() for i in run[3][split]["id"]}
        assert set(data[split]["id"]) == expected, split
    assert set(data["train"]["label"]) == {0}


def test_tfds_sources_are_read_in_parallel_slices(monkeypatch):
    def resolve(spec, download=True):
        return spec._replace(text_fields=("text",)), ["a", "b"], {"train": 120_000, "test": 7_600}

    monkeypatch.setattr(corpora, "tfds_resolve", resolve)
    cfg, _ = preprocess.parse(["--tfds", "some_ds", *IN_MEMORY])
    assert not cfg.carve_test and cfg.class_names == ("a", "b")
    assert [(s.split, s.path, s.start, s.end, s.index) for s in cfg.sources] == [
        ("train", "train", 0, 50_000, 0), ("train", "train", 50_000, 100_000, 0),
        ("train", "train", 100_000, 120_000, 0), ("test", "test", 0, 7_600, 1)]
    # A dataset without the test split: carve the agreed stratified split from train.
    cfg, _ = preprocess.parse(["--tfds", "some_ds", "--tfds_test_split", "validation",
                               *IN_MEMORY])
    assert cfg.carve_test and {s.split for s in cfg.sources} == {None}
    with pytest.raises(SystemExit):
        preprocess.parse(["--tfds", "some_ds", "--tfds_train_split", "nope", *IN_MEMORY])


def test_text_empty_after_romanization_is_rejected(tmp_path, monkeypatch):
    from beam_jobs import preprocess_pipeline as pl
    from tfpipe.text import romanize

    monkeypatch.setitem(romanize._ROMANIZERS, "pinyin",
                        lambda t: "" if "drop" in t else t.upper())
    monkeypatch.setattr(pl, "_ROMANIZERS", {})  # the per-process cache of the DoFn
    path = tmp_path / "r.csv"
    path.write_text('"1","keep one"\n"2","drop me"\n"1","keep two"\n"2","keep three"\n')
    out = str(tmp_path / "out")
    m = _run("--input", str(path), "--output_dir", out, "--romanize", "pinyin", "--l0", "16",
             "--ngram_vocab_size", "0")
    assert m.counts["read"] == 4 and m.counts["written"] == 3
    assert m.counts["rejected_by_reason"] == {corpora.EMPTY_TEXT: 1}
    dead = [json.loads(line) for line in open(os.path.join(out, "rejected.jsonl"))]
    assert dead == [{"source": "r.csv", "row": 2, "reason": corpora.EMPTY_TEXT,
                     "detail": "the text is empty after romanization (pinyin)",
                     "raw": "drop me"}]
    _, data = _load(out)
    assert sorted(t for d in data.values() for t in d["text"]) == ["KEEP ONE", "KEEP THREE",
                                                                    "KEEP TWO"]
