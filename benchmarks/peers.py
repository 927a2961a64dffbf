"""The peers: scikit-learn TF-IDF + logistic regression and fastText on the agreed splits.

    python -m benchmarks.peers [--datasets ag_news trec mr] [--quick] [--out FILE.json]
                               [--data_root ../shared/data]

For each dataset (the agreed splits of ``../shared/data/README.md``, read with
``tfpipe.data.corpora`` and split with ``tfpipe.data.splits`` exactly as the
preprocessing job does; AG's News text = title + " " + description):

* **scikit-learn**: ``TfidfVectorizer(ngram_range=(1, n), sublinear_tf=True)``
  + ``LogisticRegression(C=10, max_iter=1000)`` for n = 1, 2, 5; each is
  reported, and the best is the peer's figure.  ``sublinear_tf`` and ``C=10``
  are the settings behind the README's reference figures (scikit-learn's
  defaults, C=1 without sublinear tf, lose 2-3 points on TREC and MR).
* **fastText** (``fasttext-wheel``): ``train_supervised`` with 25 epochs and
  its other defaults (dim 100, lr 0.1), unigrams and bigrams (``wordNgrams``
  1 and 2); the better one is the peer's figure.  Texts are lower-cased and
  white space collapsed (fastText's own classification examples lower-case),
  and the training file is shuffled with seed 0: fastText reads it in order,
  and a file sorted by class (MR) drives SGD to ~55 %.  One thread and
  ``seed=0`` make the run deterministic (two Hogwild threads move the figures
  by +-0.2 points from run to run).  Accuracy is counted over every test text
  with the low-level ``predict`` binding (the Python ``predict`` of fastText
  0.9.2 fails under NumPy 2); a text with no token counts as wrong.

"Best of" picks on the test split, as the README's reference figures do, so it
is an optimistic figure for the peers.  Training time is the wall time of
fitting on the train split (vectorizer + classifier; fastText's
``train_supervised``), without reading the corpus.

Prints one JSON line (see :func:`run`); ``--out`` also writes it to a file for
``python -m tfpipe.report --peers FILE.json``.  ``--quick`` runs only the
1-2-gram scikit-learn model and the bigram fastText model.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from typing import Any, Sequence

from tfpipe import cli  # noqa: E402

from benchmarks.output import write

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_ROOT = os.environ.get("TFPIPE_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))

SKLEARN = "scikit-learn TF-IDF LR"
FASTTEXT = "fastText"
DATASETS = ("ag_news", "trec", "mr")

# The agreed splits (../shared/data/README.md): input files relative to the data root, their
# corpora format, and either separate test files or the stratified fraction carved from the input.
CORPORA: dict[str, dict[str, Any]] = {
    "ag_news": {"format": "zhang_csv", "input": ["ag_news/test.csv"], "test_input": [],
                "test_fraction": 0.2, "seed": 0},
    "trec": {"format": "trec", "input": ["trec/train_5500.label"], "test_input": ["trec/TREC_10.label"]},
    "mr": {"format": "line_per_class", "input": ["mr/rt-polarity.pos", "mr/rt-polarity.neg"],
           "test_input": [], "test_fraction": 0.2, "seed": 0},
}

# Accuracy (%) measured side by side on these splits (../shared/data/README.md).
REFERENCE_ACCURACY_PCT = {
    SKLEARN: {"ag_news": 87.4, "trec": 88.2, "mr": 78.5},
    FASTTEXT: {"ag_news": 85.8, "trec": 89.6, "mr": 78.1},
}

NGRAM_RANGES = ((1, 1), (1, 2), (1, 5))
LOGREG_C = 10.0
FASTTEXT_WORD_NGRAMS = (1, 2)
FASTTEXT_EPOCHS = 25


@dataclasses.dataclass
class Corpus:
    """One dataset's agreed train/test split."""

    name: str
    class_names: list[str]
    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    rejected: int = 0  # rows the corpus reader could not use (none on the shared corpora)


def input_paths(name: str, data_root: str = DEFAULT_DATA_ROOT) -> tuple[list[str], list[str]]:
    """``(train or whole-corpus files, test files)`` of dataset ``name`` under ``data_root``."""
    spec = _spec(name)
    return ([os.path.join(data_root, p) for p in spec["input"]],
            [os.path.join(data_root, p) for p in spec["test_input"]])


def _spec(name: str) -> dict[str, Any]:
    try:
        return CORPORA[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {sorted(CORPORA)}") from None


def load_corpus(name: str, data_root: str = DEFAULT_DATA_ROOT) -> Corpus:
    """The agreed split of dataset ``name``, read as ``beam_jobs.preprocess`` reads it.

    Carved splits key each row by ``(input file position, line number)``, the
    keys the preprocessing job gives ``splits.held_out_keys``.
    """
    from tfpipe.data import corpora, splits

    spec = _spec(name)
    inputs, tests = input_paths(name, data_root)
    missing = [p for p in inputs + tests if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(f"{name}: {missing} not found (the corpora live in ../shared/data "
                                "beside the repository; --data_root moves it)")
    fmt = spec["format"]
    classes = corpora.class_names(fmt, inputs + tests)
    rejected = 0

    def read(paths: list[str]) -> list[tuple[tuple[int, int], Any]]:
        nonlocal rejected
        keyed = []
        for position, path in enumerate(paths):
            for item in corpora.read_files(fmt, [path], classes=classes)[1]:
                if isinstance(item, corpora.Rejected):
                    rejected += 1
                else:
                    keyed.append(((position, item.row), item))
        return keyed

    train = read(inputs)
    if tests:
        test = read(tests)
    else:
        by_label: dict[int, list[tuple[int, int]]] = {}
        for key, item in train:
            by_label.setdefault(item.label, []).append(key)
        held = splits.held_out_keys(by_label, spec["test_fraction"], spec["seed"])
        test = [(k, it) for k, it in train if k in held]
        train = [(k, it) for k, it in train if k not in held]
    return Corpus(
        name, list(classes),
        [it.text for _, it in train], [it.label for _, it in train],
        [it.text for _, it in test], [it.label for _, it in test],
        rejected,
    )


def _accuracy(predicted: Sequence[int], labels: Sequence[int]) -> float:
    return sum(int(p == y) for p, y in zip(predicted, labels)) / max(len(labels), 1)


def sklearn_tfidf_lr(corpus: Corpus, ngram_ranges: Sequence[tuple[int, int]] = NGRAM_RANGES) -> dict[str, Any]:
    """TF-IDF + logistic regression for each n-gram range; the best one's figures on top.

    Returns ``{"accuracy", "error_pct", "training_time_s", "best", "variants"}``
    with ``variants["1-n"] = {"accuracy", "training_time_s", "features"}``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    variants = {}
    for low, high in ngram_ranges:
        start = time.perf_counter()
        vectorizer = TfidfVectorizer(ngram_range=(low, high), sublinear_tf=True)
        features = vectorizer.fit_transform(corpus.train_texts)
        classifier = LogisticRegression(C=LOGREG_C, max_iter=1000).fit(features, corpus.train_labels)
        elapsed = time.perf_counter() - start
        predicted = classifier.predict(vectorizer.transform(corpus.test_texts))
        variants[f"{low}-{high}"] = {
            "accuracy": _accuracy([int(p) for p in predicted], corpus.test_labels),
            "training_time_s": round(elapsed, 3),
            "features": int(features.shape[1]),
        }
    return _best(variants)


def _best(variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    name = max(variants, key=lambda k: variants[k]["accuracy"])  # first of equals: the simpler one
    best = variants[name]
    return {"accuracy": best["accuracy"], "error_pct": round(100.0 * (1.0 - best["accuracy"]), 4),
            "training_time_s": best["training_time_s"], "best": name, "variants": variants}


def _fasttext_line(text: str) -> str:
    return " ".join(text.lower().split())


def fasttext_supervised(corpus: Corpus, word_ngrams: Sequence[int] = FASTTEXT_WORD_NGRAMS, *,
                        epochs: int = FASTTEXT_EPOCHS, seed: int = 0, threads: int = 1) -> dict[str, Any]:
    """fastText ``train_supervised`` for each ``wordNgrams`` value; the best one's figures on top.

    Returns ``{"accuracy", "error_pct", "training_time_s", "best", "variants"}``
    with ``variants["wordNgrams=k"] = {"accuracy", "training_time_s"}``.
    """
    import fasttext

    work = tempfile.mkdtemp(prefix="tfpipe_fasttext_")
    try:
        order = list(range(len(corpus.train_texts)))
        random.Random(seed).shuffle(order)
        train_file = os.path.join(work, "train.txt")
        with open(train_file, "w", encoding="utf-8") as f:
            for i in order:
                f.write(f"__label__{corpus.train_labels[i]} {_fasttext_line(corpus.train_texts[i])}\n")
        variants = {}
        for k in word_ngrams:
            start = time.perf_counter()
            model = fasttext.train_supervised(train_file, epoch=epochs, wordNgrams=k, thread=threads,
                                              seed=seed, verbose=0)
            elapsed = time.perf_counter() - start
            predicted = []
            for text in corpus.test_texts:
                # model.predict wraps this binding with np.array(copy=False), which NumPy 2 rejects.
                top = model.f.predict(_fasttext_line(text) + "\n", 1, 0.0, "strict")
                predicted.append(int(top[0][1][len("__label__"):]) if top else -1)
            variants[f"wordNgrams={k}"] = {
                "accuracy": _accuracy(predicted, corpus.test_labels),
                "training_time_s": round(elapsed, 3),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _best(variants)


def run(datasets: Sequence[str] = DATASETS, *, data_root: str = DEFAULT_DATA_ROOT,
        quick: bool = False, log=None) -> dict[str, Any]:
    """Both peers on each dataset; the JSON document this benchmark prints.

    ``{"benchmark": "peers", "quick", "datasets": {name: {"train", "test",
    "classes", "rejected", "peers": {SKLEARN: {...}, FASTTEXT: {...}}}},
    "reference_accuracy_pct", "checks", "env"}``; each peer entry as returned by
    :func:`sklearn_tfidf_lr` / :func:`fasttext_supervised` plus
    ``reference_accuracy_pct`` (README) and ``delta_vs_reference_pts``.
    ``log`` (default: stderr) receives progress lines.
    """
    import fasttext  # noqa: F401  (fail before any work when it is missing)
    import sklearn

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    for name in datasets:
        _spec(name)
    ngram_ranges = ((1, 2),) if quick else NGRAM_RANGES
    word_ngrams = (2,) if quick else FASTTEXT_WORD_NGRAMS
    out: dict[str, Any] = {}
    checks = {}
    for name in datasets:
        corpus = load_corpus(name, data_root)
        log(f"peers: {name}: {len(corpus.train_texts)} train / {len(corpus.test_texts)} test")
        peers = {SKLEARN: sklearn_tfidf_lr(corpus, ngram_ranges), FASTTEXT: fasttext_supervised(corpus, word_ngrams)}
        for peer, result in peers.items():
            reference = REFERENCE_ACCURACY_PCT[peer].get(name)
            result["reference_accuracy_pct"] = reference
            if reference is not None:
                delta = round(100.0 * result["accuracy"] - reference, 2)
                result["delta_vs_reference_pts"] = delta
                checks[f"{name}: {peer} within 0.5 points of the README"] = abs(delta) <= 0.5
            log(f"peers: {name}: {peer} {100 * result['accuracy']:.2f} % ({result['best']}, "
                f"{result['training_time_s']:.1f} s; reference {reference})")
        out[name] = {"train": len(corpus.train_texts), "test": len(corpus.test_texts),
                     "classes": corpus.class_names, "rejected": corpus.rejected, "peers": peers}
    return {
        "benchmark": "peers",
        "quick": quick,
        "datasets": out,
        "reference_accuracy_pct": REFERENCE_ACCURACY_PCT,
        "checks": checks,
        "env": {"cpus": os.cpu_count(), "python": platform.python_version(),
                "scikit_learn": sklearn.__version__, "fasttext_threads": 1},
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=sorted(CORPORA),
                   help="datasets to run (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="only the 1-2-gram scikit-learn model and the bigram fastText model")
    p.add_argument("--data_root", default=DEFAULT_DATA_ROOT,
                   help="folder holding ag_news/, trec/, mr/ (default: ../shared/data beside the repo)")
    p.add_argument("--out", default=None, metavar="FILE.json",
                   help="also write the JSON here (for python -m tfpipe.report --peers FILE.json)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    try:
        result = run(args.datasets, data_root=args.data_root, quick=args.quick)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if args.out:
        write(result, args.out)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
