"""Our skip-gram against gensim's Word2Vec: training speed, and the vectors' worth downstream.

    python -m benchmarks.skipgram [--datasets ag_news trec mr] [--dim D] [--epochs E]
                                  [--workers N] [--means K] [--skip_downstream] [--out FILE.json]

For each dataset (the agreed split, ``artifacts/data/<dataset>``, preprocessed
here when missing, as ``benchmarks.comparison_models`` does):

1. **Ours**: ``python -m tfpipe.train --config configs/skipgram_<dataset>.yaml``
   (word2vec.c's settings: skip-gram, negative sampling with 5 negatives,
   window 5, subsampling 1e-3, min_count 5, alpha 0.025 decaying linearly,
   300 dimensions; 5 / 20 / 10 epochs on ag_news / trec / mr), without the
   held-out pass (``eval.split=train``), ``model.threads`` = ``--workers``.
   Words/s = the words trained (the train split's tokens of words seen
   ``min_count`` times, every epoch) over the training time of the epochs'
   steps (checkpoints left out), from its ``train_results.json``.  The config
   as shipped trains on the fused kernel (``model.kernel: auto``); ``ours_graph``
   is the same config on the batched TF kernel (``model.kernel=graph``), and
   ``profile`` times one step's parts per pair (:func:`profile_steps`).
   Ours and gensim alternate ``--repeats`` times; the run of median words/s is
   reported, with every run's figure.
2. **gensim** ``Word2Vec`` (benchmark extra) on the *same tokens*: the word ids
   of the same train-split records mapped back to words (what our trainer
   reads), with the same settings (``sg=1``, ``negative``, ``window``,
   ``sample``, ``min_count``, ``epochs``, ``alpha``, ``min_alpha = alpha *
   1e-4`` as word2vec.c, ``ns_exponent``; ``hs=1, negative=0`` for a
   hierarchical-softmax config) and ``workers`` threads.  Words/s counts the
   same words (tokens of words kept by ``min_count``, times the epochs) over
   the wall time of ``Word2Vec.train`` (the vocabulary scan is left out, as
   ours leaves out its counting).  Its vectors are written with gensim's own
   ``save_word2vec_format`` (binary).
3. **Downstream** (unless ``--skip_downstream``), each side's vectors, test
   split accuracy:

   * the registered ``bag_of_means`` model (``configs/bag_of_means_<dataset>.yaml``,
     ``model.embeddings`` set to the side's ``vectors.bin``) with ``--means``
     clusters (default :data:`DEFAULT_MEANS` = 500, not the paper's 5,000: these
     corpora have only 971 (trec), 3,281 (mr) and 5,009 (ag_news) words seen
     more than 5 times, so at 5,000 means (nearly) every word is its own
     cluster, bag-of-means becomes a bag of words and the vectors no longer
     matter: measured at 5,000 means, 86.51 vs 86.45 % on ag_news and the
     very same accuracy on trec and mr);
   * mean-of-vectors logistic regression (scikit-learn, benchmark extra): a
     text is the mean of its words' unit-normed vectors (words without a
     vector skipped, a text with none is the zero vector), then
     ``LogisticRegression(C=MEAN_LR_C)`` on the train split.

Threads: the fused kernel and gensim get ``--workers`` threads (default: the
number of cores); the graph kernel runs TensorFlow's default thread pools.
Both run in turn on the same machine; on a shared machine the load of other
jobs moves both figures (the JSON records the load average).

Prints one JSON line (:func:`run`): settings, per dataset ``ours`` and
``gensim`` (words/s, training time, vocabulary, both downstream accuracies;
ours also the first epoch's time, which includes tracing the train step, and
the words/s of the later epochs)
and ``ratios`` (``words_per_sec``: ours / gensim; ``bag_of_means_accuracy``
and ``mean_vector_lr_accuracy``: ours / gensim, and ``..._diff_pts`` the
difference in points).  Progress and the children's
output go to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any, Sequence

from tfpipe import cli  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import comparison_models as cm  # noqa: E402
from benchmarks import peers as peers_lib  # noqa: E402

DATASETS = ("ag_news", "trec", "mr")
DEFAULT_OUT_DIR = os.path.join("artifacts", "bench", "skipgram")
WORD2VEC_MIN_RATE_FRACTION = 1e-4  # word2vec.c's floor of the decaying rate (tfpipe.models.skipgram)
DEFAULT_MEANS = 500  # bag-of-means clusters here (see the module docstring)
MEAN_LR_C = 10.0  # inverse L2 strength of the mean-of-vectors logistic regression (as benchmarks.peers)


def log(message: str) -> None:
    print(f"[skipgram] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- settings and corpus


def skipgram_config(dataset: str, overrides: Sequence[str] = ()):
    """The resolved skip-gram config of ``dataset`` (``configs/skipgram_<dataset>.yaml``)."""
    from tfpipe import config as config_lib

    return config_lib.load(os.path.join(ROOT, "configs", f"skipgram_{dataset}.yaml"), overrides)


def settings_of(cfg) -> dict[str, Any]:
    """The settings both trainers share, read from our config (model defaults filled in)."""
    import inspect

    from tfpipe.models import skipgram as sg

    defaults = {k: p.default for k, p in inspect.signature(sg.SkipGram.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    model = {**defaults, **cfg.model_kwargs}
    return {
        "loss": model["loss"], "dim": int(model["dim"]), "window": int(model["window"]),
        "negatives": int(model["negatives"]), "noise_power": float(model["noise_power"]),
        "subsample": float(model["subsample"]), "min_count": int(model["min_count"]),
        "epochs": int(cfg.train.epochs), "alpha": float(cfg.train.learning_rate),
        "min_alpha": float(cfg.train.learning_rate) * WORD2VEC_MIN_RATE_FRACTION,
        "schedule": cfg.train.schedule, "batch_size_pairs": int(cfg.train.batch_size),
        "share_negatives": int(model["share_negatives"]),
    }


def split_words(data_dir: str, split: str) -> tuple[list[list[str]], list[int]]:
    """Every record of ``split`` as the words our trainer reads (word ids mapped back; padding and
    out-of-vocabulary ids dropped; a text may end up empty), and the labels."""
    import numpy as np

    from tfpipe.data import pipeline
    from tfpipe.data.datadir import DataDir
    from tfpipe.text.tokenize import FIRST_WORD_ID

    data = DataDir.open(data_dir)
    vocab = np.array([""] * FIRST_WORD_ID + data.vocab(), dtype=object)
    texts, labels = [], []
    for x, y in pipeline.make_dataset(data, split, feature="word_ids", batch_size=1024):
        for row in x.numpy():
            texts.append(vocab[row[row >= FIRST_WORD_ID]].tolist())
        labels += y.numpy().tolist()
    return texts, labels


def train_sentences(data_dir: str) -> list[list[str]]:
    """The train split's non-empty texts as the words our trainer reads (see :func:`split_words`)."""
    return [s for s in split_words(data_dir, "train")[0] if s]


def mean_vectors(texts: list[list[str]], vectors_path: str):
    """``float32 [len(texts), d]``: each text's mean of its words' unit-normed vectors."""
    import numpy as np

    from tfpipe.embeddings import word2vec_format

    words, vectors = word2vec_format.load(vectors_path)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    row = {w: i for i, w in enumerate(words)}
    out = np.zeros((len(texts), vectors.shape[1]), np.float32)
    for i, text in enumerate(texts):
        rows = [row[w] for w in text if w in row]
        if rows:
            out[i] = unit[rows].mean(axis=0)
    return out


def mean_vector_lr(train: tuple[list, list], test: tuple[list, list], vectors_path: str) -> dict[str, Any]:
    """Accuracy on ``test`` of logistic regression on mean word vectors fitted on ``train``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    x_train, x_test = mean_vectors(train[0], vectors_path), mean_vectors(test[0], vectors_path)
    clf = LogisticRegression(C=MEAN_LR_C, max_iter=2000).fit(x_train, train[1])
    accuracy = float(np.mean(clf.predict(x_test) == np.asarray(test[1])))
    return {"accuracy": accuracy, "C": MEAN_LR_C, "test_examples": len(test[1]),
            "seconds": round(time.perf_counter() - start, 1)}


# --------------------------------------------------------------------------- the two trainers


def train_ours(dataset: str, run_dir: str, overrides: Sequence[str], timeout_s: float | None) -> dict[str, Any]:
    """Trains our skip-gram in a child process; its figures from ``train_results.json``."""
    cmd = [sys.executable, "-m", "tfpipe.train", "--config", os.path.join("configs", f"skipgram_{dataset}.yaml"),
           "--model_dir", run_dir, "--verbose", "2", "--fresh"]
    for item in overrides:
        cmd += ["--set", item]
    code, tail, wall = cm.run_step(cmd, timeout_s=timeout_s)
    if code != 0:
        return {"status": "failed", "exit_code": code, "tail": tail}
    with open(os.path.join(run_dir, "train_results.json"), encoding="utf-8") as f:
        r = json.load(f)
    from tfpipe.training import runs

    # The first epoch also traces the train step's tf.function (a fixed cost, which gensim does
    # not have): the rate of the later epochs shows how much of a short run's time that is.
    epochs = [p["train_time_s"] for p in runs.read_progress(run_dir)]
    later = sum(epochs[1:])
    return {
        "status": "trained", "words_per_sec": r["words_per_sec"], "training_time_s": r["training_time_s"],
        "first_epoch_s": round(epochs[0], 3) if epochs else None,
        "words_per_sec_after_first_epoch": (r["words_per_epoch"] * (len(epochs) - 1) / later) if later else None,
        "words_trained": r["words_trained"], "words_per_epoch": r["words_per_epoch"],
        "vocabulary_size": r["vocabulary_size"], "final_loss": r["final"].get("loss"),
        "wall_s_with_startup": round(wall, 1), "vectors": os.path.join(run_dir, "vectors.bin"),
    }


def train_gensim(sentences: list[list[str]], settings: dict[str, Any], workers: int, out_path: str,
                 seed: int = 0) -> dict[str, Any]:
    """Trains gensim's Word2Vec with ``settings`` on ``sentences``; writes its binary vectors."""
    import gensim
    from gensim.models import Word2Vec
    from gensim.models.word2vec_inner import FAST_VERSION

    hs = settings["loss"] == "hierarchical_softmax"
    model = Word2Vec(
        vector_size=settings["dim"], window=settings["window"], min_count=settings["min_count"],
        sample=settings["subsample"], sg=1, hs=int(hs), negative=0 if hs else settings["negatives"],
        ns_exponent=settings["noise_power"], alpha=settings["alpha"], min_alpha=settings["min_alpha"],
        epochs=settings["epochs"], workers=workers, seed=seed, max_final_vocab=None,
    )
    model.build_vocab(sentences)
    kept = {w for w in model.wv.index_to_key}
    words_per_epoch = sum(1 for s in sentences for w in s if w in kept)
    start = time.perf_counter()
    cpu = time.process_time()
    effective, raw = model.train(sentences, total_examples=model.corpus_count, epochs=settings["epochs"],
                                 compute_loss=False)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    model.wv.save_word2vec_format(out_path, binary=True)
    words = words_per_epoch * settings["epochs"]
    return {
        "status": "trained", "words_per_sec": words / seconds, "training_time_s": seconds,
        "training_cpu_time_s": cpu, "words_trained": words, "words_per_epoch": words_per_epoch,
        "vocabulary_size": len(model.wv), "effective_words": int(effective), "raw_words": int(raw),
        "workers": workers, "gensim": gensim.__version__, "fast_version": FAST_VERSION, "vectors": out_path,
    }


def bag_of_means(dataset: str, vectors: str, run_dir: str, means: int, timeout_s: float | None) -> dict[str, Any]:
    """Trains and evaluates ``configs/bag_of_means_<dataset>.yaml`` on ``vectors`` with ``means`` clusters."""
    config = os.path.join("configs", f"bag_of_means_{dataset}.yaml")
    code, tail, wall = cm.run_step(
        [sys.executable, "-m", "tfpipe.train", "--config", config, "--model_dir", run_dir, "--verbose", "2",
         "--fresh", "--set", f"model.embeddings={vectors}", "--set", f"model.means={means}"], timeout_s=timeout_s)
    if code == 0:
        code, tail, _ = cm.run_step([sys.executable, "-m", "tfpipe.evaluate", "--model_dir", run_dir],
                                    timeout_s=timeout_s)
    if code != 0:
        return {"status": "failed", "exit_code": code, "tail": tail}
    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as f:
        results = json.load(f)
    clusters = os.path.join(run_dir, "clusters.tsv")
    words = sum(1 for line in open(clusters, encoding="utf-8") if not line.startswith("#")) if os.path.exists(clusters) else None
    return {"status": "trained", "accuracy": results["test_accuracy"], "test_examples": results["num_examples"],
            "means": means, "clustered_words": words, "wall_s": round(wall, 1), "run_dir": run_dir}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


# --------------------------------------------------------------------------- one run


def profile_steps(data_dir: str, settings: dict[str, Any], *, threads: int, steps: int = 20) -> dict[str, Any]:
    """Where a training step's time goes, per pair (microseconds, median of ``steps`` steps on the
    train split's real pairs): the graph kernel's whole plain-SGD step of ``batch_size_pairs``
    pairs, its forward terms alone (gathers, scores, word2vec's factors: ``SkipGram._terms``)
    and the rest (the two ``scatter_add`` row updates and the update tensors), against the fused
    kernel on batches of sentences (``threads`` threads)."""
    import numpy as np
    import keras
    import tensorflow as tf

    from tfpipe.data import skipgram_pairs as sd
    from tfpipe.data.datadir import DataDir
    from tfpipe.models import skipgram as sg
    from tfpipe.text.tokenize import FIRST_WORD_ID

    data = DataDir.open(data_dir)
    _, counts = sd.read_counts(data)
    common = dict(window=settings["window"], subsample=settings["subsample"], min_count=settings["min_count"])

    def model(kernel: str):
        m = sg.SkipGram(vocab_size=len(counts) + FIRST_WORD_ID, vocab_counts=counts, dim=settings["dim"],
                        loss=settings["loss"], negatives=settings["negatives"], kernel=kernel, threads=threads,
                        share_negatives=settings["share_negatives"], **common)
        m.compile(keras.optimizers.SGD(settings["alpha"]))
        return m

    def median_us(fn, batches, per_batch) -> float:
        fn(batches[0])  # trace
        times, units = [], []
        for b in batches[1: steps + 1]:
            start = time.perf_counter()
            n = fn(b)
            times.append(time.perf_counter() - start)
            units.append(per_batch(b, n))
        rate = np.array(times) / np.maximum(np.array(units, dtype=np.float64), 1)
        return round(float(np.median(rate)) * 1e6, 3)

    pairs = list(sd.pairs_dataset(data, "train", batch_size=settings["batch_size_pairs"], seed=0, **common)
                 .take(steps + 1))
    graph = model("graph")
    rate = tf.constant(settings["alpha"], tf.float32)
    step = tf.function(lambda b: graph.sgd_step(b["target"], b["context"], rate))
    terms = tf.function(lambda b: graph._terms(tf.cast(b["target"], tf.int64), b["context"], None)[0])
    size = lambda b, n: int(b["target"].shape[0])  # noqa: E731
    out = {"pairs_per_graph_step": settings["batch_size_pairs"],
           "graph_step_us_per_pair": median_us(lambda b: step(b).numpy(), pairs, size),
           "graph_terms_us_per_pair": median_us(lambda b: terms(b).numpy(), pairs, size)}
    out["graph_updates_us_per_pair"] = round(out["graph_step_us_per_pair"] - out["graph_terms_us_per_pair"], 3)
    fused = model("auto")
    if fused.active_kernel == "fused":
        fused.set_keep_probabilities(sd.keep_probabilities(counts, **{k: common[k] for k in ("min_count", "subsample")}))
        sentences = list(sd.sentences_dataset(data, "train", seed=0).take(steps + 1))
        call = tf.function(lambda b: fused.fused_step(b["word_ids"], rate)[1])
        out["fused_us_per_pair"] = median_us(lambda b: int(call(b)), sentences, lambda b, n: n)
        out["fused_threads"] = threads
        out["graph_step_over_fused"] = round(out["graph_step_us_per_pair"] / out["fused_us_per_pair"], 2)
    else:
        out["fused"] = fused.kernel_note
    return out


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median words/s (its figures, plus every run's words/s)."""
    done = [r for r in runs if r.get("status") == "trained"]
    if not done:
        return runs[0]
    ranked = sorted(done, key=lambda r: r["words_per_sec"])
    return {**ranked[len(ranked) // 2], "words_per_sec_runs": [round(r["words_per_sec"]) for r in runs
                                                                 if r.get("status") == "trained"]}


def run_dataset(dataset: str, *, out_dir: str, data_root: str, overrides: Sequence[str], workers: int,
                downstream: bool, means: int, timeout_s: float | None, repeats: int = 1,
                graph: bool = True, profile: bool = True) -> dict[str, Any]:
    """The trainers (and bag-of-means on each one's vectors) on ``dataset``; its JSON entry.

    ``ours`` is the config as shipped (``model.kernel: auto``, the fused kernel where it builds,
    with ``model.threads`` = ``workers``), ``ours_graph`` the same config on the batched TF
    kernel; ours and gensim alternate ``repeats`` times and the run of median words/s is
    reported (downstream on the first run's vectors)."""
    from tfpipe import paths

    cfg = skipgram_config(dataset, overrides)
    data_dir = cfg.data.dir
    if os.path.normpath(data_dir) != os.path.normpath(os.path.join(paths.HOME, "data", dataset)):
        raise ValueError(f"configs/skipgram_{dataset}.yaml reads {data_dir}, not the agreed split's directory")
    ready, preprocess = cm.prepare_data(dataset, [data_dir], data_root=data_root, skip_existing=True,
                                        timeout_s=timeout_s)
    if ready[data_dir]:
        return {"status": "failed", "why": ready[data_dir], "preprocess": preprocess}
    settings = settings_of(cfg)
    base = os.path.join(out_dir, dataset)
    sentences = train_sentences(data_dir)
    ours_runs, gensim_runs = [], []
    for k in range(repeats):
        suffix = "" if k == 0 else f"_{k}"
        log(f"{dataset}: ours, run {k + 1} of {repeats} ({settings})")
        ours_runs.append(train_ours(dataset, os.path.join(base, f"skipgram_ours{suffix}"),
                                    [*overrides, f"model.threads={workers}"], timeout_s))
        log(f"{dataset}: gensim ({workers} workers), run {k + 1} of {repeats}")
        gensim_runs.append(train_gensim(sentences, settings, workers,
                                        os.path.join(base, f"skipgram_gensim{suffix}", "vectors.bin"),
                                        seed=cfg.train.seed))
    ours, theirs = _median_run(ours_runs), _median_run(gensim_runs)
    first = {"ours": ours_runs[0], "gensim": gensim_runs[0]}
    entry_graph = None
    if graph:
        log(f"{dataset}: ours on the graph kernel")
        entry_graph = train_ours(dataset, os.path.join(base, "skipgram_ours_graph"),
                                 [*overrides, "model.kernel=graph"], timeout_s)
    log(f"{dataset}: words/s ours {ours.get('words_per_sec') or 0:,.0f}, gensim {theirs['words_per_sec']:,.0f}"
        + (f", graph kernel {entry_graph.get('words_per_sec') or 0:,.0f}" if entry_graph else ""))
    if downstream:
        train, test = split_words(data_dir, "train"), split_words(data_dir, "test")
        for name, side in (("ours", ours), ("gensim", theirs)):
            side["vectors"] = first[name]["vectors"]
            if side.get("status") == "trained":
                side["bag_of_means"] = bag_of_means(dataset, side["vectors"], os.path.join(base, f"bag_of_means_{name}"),
                                                    means, timeout_s)
                side["mean_vector_lr"] = mean_vector_lr(train, test, side["vectors"])
                log(f"{dataset}: {name}'s vectors: bag-of-means {side['bag_of_means'].get('accuracy')}, "
                    f"mean-vector LR {side['mean_vector_lr']['accuracy']}")
    ratios = {"words_per_sec": _ratio(ours.get("words_per_sec"), theirs.get("words_per_sec")),
              # ours without the first epoch (tracing the step) against gensim's whole run
              "words_per_sec_after_first_epoch": _ratio(ours.get("words_per_sec_after_first_epoch"),
                                                        theirs.get("words_per_sec"))}
    if entry_graph is not None:
        ratios["graph_kernel_words_per_sec"] = _ratio(entry_graph.get("words_per_sec"), theirs.get("words_per_sec"))
        ratios["fused_over_graph_words_per_sec"] = _ratio(ours.get("words_per_sec"), entry_graph.get("words_per_sec"))
    for task in ("bag_of_means", "mean_vector_lr"):
        acc = [(side.get(task) or {}).get("accuracy") for side in (ours, theirs)]
        ratios[f"{task}_accuracy"] = _ratio(*acc)
        ratios[f"{task}_accuracy_diff_pts"] = round(100 * (acc[0] - acc[1]), 2) if None not in acc else None
    entry = {"status": "done", "settings": settings, "train_sentences": len(sentences), "ours": ours,
             "gensim": theirs, "ours_graph": entry_graph, "ratios": ratios, "preprocess": preprocess}
    if profile:
        log(f"{dataset}: profile of one step")
        entry["profile"] = profile_steps(data_dir, settings, threads=workers)
    return entry


def run(datasets: Sequence[str] = DATASETS, *, out_dir: str = DEFAULT_OUT_DIR,
        data_root: str = peers_lib.DEFAULT_DATA_ROOT, dim: int | None = None, epochs: int | None = None,
        workers: int | None = None, means: int = DEFAULT_MEANS, downstream: bool = True,
        timeout_s: float | None = None, repeats: int = 1, graph: bool = True,
        profile: bool = True) -> dict[str, Any]:
    """The JSON document this benchmark prints: ``{"benchmark": "skipgram", "datasets": {name:
    {settings, ours, gensim, ratios}}, "ratios": {name: ratios}, "threads", "env"}``."""
    import gensim  # noqa: F401  (fail before any work when the benchmark extra is missing)

    if downstream:
        import sklearn  # noqa: F401

    workers = workers or os.cpu_count() or 1
    overrides = ["eval.split=train"]
    if dim is not None:
        overrides.append(f"model.dim={dim}")
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    started = time.time()
    out = {}
    for dataset in datasets:
        out[dataset] = run_dataset(dataset, out_dir=out_dir, data_root=data_root, overrides=overrides,
                                   workers=workers, downstream=downstream, means=means, timeout_s=timeout_s,
                                   repeats=repeats, graph=graph, profile=profile)
    return {
        "benchmark": "skipgram",
        "datasets": out,
        "ratios": {name: entry.get("ratios") for name, entry in out.items()},
        "threads": {"ours_fused_kernel": workers, "ours_graph_kernel": f"TensorFlow default thread pools "
                    f"({os.cpu_count()} cores)", "gensim_workers": workers},
        "repeats": repeats,
        "env": {"cpus": os.cpu_count(), "python": platform.python_version(), "gensim": gensim.__version__,
                "load_average_at_end": list(os.getloadavg()), "wall_s": round(time.time() - started, 1)},
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m benchmarks.skipgram", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS,
                   help="datasets to run (default: %(default)s)")
    p.add_argument("--dim", type=int, default=None, help="vector dimension (default: the configs', 300)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the configs': 5 / 20 / 10)")
    p.add_argument("--workers", type=int, default=None, help="gensim threads (default: the number of cores)")
    p.add_argument("--means", type=int, default=DEFAULT_MEANS,
                   help="bag-of-means clusters (default: %(default)s; see the module docstring)")
    p.add_argument("--skip_downstream", action="store_true", help="only the training speed, no bag-of-means")
    p.add_argument("--repeats", type=int, default=3,
                   help="runs of ours and gensim, alternating; the median is reported (default: %(default)s)")
    p.add_argument("--skip_graph", action="store_true", help="leave out the graph kernel's run")
    p.add_argument("--skip_profile", action="store_true", help="leave out the per-pair profile")
    p.add_argument("--out_dir", default=DEFAULT_OUT_DIR, help="run directories (default: %(default)s)")
    p.add_argument("--data_root", default=peers_lib.DEFAULT_DATA_ROOT,
                   help="folder holding ag_news/, trec/, mr/ (default: ../shared/data beside the repo)")
    p.add_argument("--timeout_s", type=float, default=None, help="limit per child process")
    p.add_argument("--out", default=None, metavar="FILE.json", help="also write the JSON here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    for name in ("dim", "epochs", "workers", "means", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            print(f"error: --{name} must be >= 1, got {value}", file=sys.stderr)
            sys.exit(2)
    result = run(args.datasets, out_dir=args.out_dir, data_root=args.data_root, dim=args.dim, epochs=args.epochs,
                 workers=args.workers, means=args.means, downstream=not args.skip_downstream,
                 timeout_s=args.timeout_s, repeats=args.repeats, graph=not args.skip_graph,
                 profile=not args.skip_profile)
    if args.out:
        peers_lib.write(result, args.out)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
