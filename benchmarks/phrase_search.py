"""Phrase search (eq. 3) at scale: ScaNN against the exact engine through ``tfpipe.index.QueryIndex``.

    python -m benchmarks.phrase_search [--generator RUN [--query_features DIR] | --prototypes DIR --queries FILE.npy]
                                       [--total 100000] [--noise 0.5] [--k 10]
                                       [--num_queries 10000] [--threads N] [--seed 0]
                                       [--out FILE.json]
                                       [--export DIR [--images DIR|GLOB] [--num_images 64]]

"Predicted context" paper, section 3.2: an image's phrases are the prototypes ``phi_c`` (eq. 2)
nearest its bottleneck embedding ``x`` by cosine, ``q* = argmin_c d(phi_c, x)`` (eq. 3), searched
with ScaNN because the paper's phrase set is large (40 million).  This measures that search on a
prototype set grown to ``--total`` phrases (at least 100,000 by default):

* **prototypes** (the real phrases): ``--generator RUN``, a trained phrase generator with its
  prototype index (``beam_jobs.prototypes``; the default when ``artifacts/runs/phrase_generator``
  has one), the queries being the bottleneck embeddings of ``--query_features``' test images
  (Flowers-102 by default); or ``--prototypes DIR``, a saved ``QueryIndex`` (any index
  directory of ``tfpipe.index.manifest.save_index`` with labels), with ``--queries FILE.npy``, the
  query embeddings ``float [b, d]`` in the same space.  Without either, a clearly
  labelled **fallback** (``source.kind == "fallback_tiny_imagenet_projection"``): the cached
  Tiny-ImageNet pooled features (``--features_dir``, 1280-d EfficientNet-Lite0 at 224), centred on
  the train mean and mapped to 64-d by a fixed seeded Gaussian projection
  (``N(0, 1/64)`` entries, ``--seed``); the "prototypes" are the class means of the projected
  train images (``tfpipe.index.prototypes``, eq. 2, one phrase per class name) and the queries
  ``--num_queries`` projected test images (a seeded sample, in record order; all of them when
  fewer).  The stored ``artifacts/data/tiny_imagenet`` holds the 162 seen classes in ``train`` and
  ``test`` (24,300 / 8,100 images; its ``unseen`` split is not read): 162 real prototypes.  Not phrases of a
  trained phrase generator: it stands in until the issue's prototypes exist.
* **distractors** (:func:`grow`): copies of the real rows plus Gaussian noise scaled to the real
  rows' spread, renormalised, until ``--total`` rows; labels ``<phrase>/distractor<j>``.

Engines, built on the same grown set: ``QueryIndex(phrases, vectors, engine="exact" | "scann")``
(cosine; ScaNN with tfpipe's defaults for the set's size and ``num_threads = --threads``).
Figures: ``build_s`` (wall time of the ``QueryIndex`` constructor), then one warm-up search and
the timed batched ``top_phrases(queries, k)`` of every query (best wall time of up to three runs,
``benchmarks.index_search.timed_search``): ``qps`` and ``cpu_qps`` (queries per CPU second of the
process: steadier on a shared machine); ScaNN's ``recall_at_k`` against the exact ids
(``tfpipe.metrics.recall_at_k``).  Side figures: ``real_share_of_exact_top_k`` (how many of the
exact answers are real prototypes rather than distractors) and, on the fallback, the top-1
class accuracy of each engine (the class of the phrase a query's nearest row was copied from).

The end-to-end figure (raw image -> phrases + class per second): ``--export DIR`` (a phrase_context
export, ``tfpipe.tasks.phrase_context.serving``) times the first ``--num_images`` (64) JPEGs of
``--images`` (default the Oxford-102 ones) through the SavedModel, beside the in-memory numpy path
(``context.ContextModel`` + the classifier on as many precomputed features of the run's eval split),
with the ratio (:func:`export_end_to_end`, :func:`time_end_to_end`).  Without ``--export`` the JSON
says ``"end_to_end": {"skipped": ...}``.

``cpu`` is the CPU model and flags (as ``benchmarks.feature_extraction``); every figure moves with
the load of a shared machine (the JSON records the load average before and after).  Progress goes
to stderr; the last line of stdout is the JSON document; ``--out`` also writes it to a file.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import gc
import statistics
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

from tfpipe import cli  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import output  # noqa: E402
from benchmarks.feature_extraction import cpu_info  # noqa: E402
from benchmarks.index_search import WARMUP_QUERIES, limit_threads, timed_search  # noqa: E402

DEFAULT_TOTAL = 100_000
DEFAULT_NOISE = 0.5
DEFAULT_K = 10
DEFAULT_QUERIES = 10_000
DEFAULT_DIM = 64
SEED = 0
SUFFIX = "/distractor"
FALLBACK = "fallback_tiny_imagenet_projection"
DEFAULT_GENERATOR = os.path.join(ROOT, "artifacts", "runs", "phrase_generator")
DEFAULT_EXPORT = os.path.join(ROOT, "artifacts", "runs", "flowers102_multimodal_10", "export")
DEFAULT_QUERY_FEATURES = os.path.join(ROOT, "artifacts", "data", "flowers102_all", "features_efficientnet_lite0_224")
DEFAULT_FEATURES = os.path.join(ROOT, "artifacts", "data", "tiny_imagenet", "features_efficientnet_lite0_224")
DEFAULT_IMAGES = os.path.join(ROOT, "..", "shared", "data", "flowers102", "jpg")  # --export: the JPEGs timed
DEFAULT_NUM_IMAGES = 64
ENGINES = ("exact", "scann")

Log = Callable[[str], None]


def log_stderr(message: str) -> None:
    print(f"[phrase_search] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the grown set


def grow(vectors: np.ndarray, labels: Sequence[str], total: int, noise: float = DEFAULT_NOISE,
         seed: int = SEED) -> tuple[np.ndarray, list[str]]:
    """``(float32 [total, d], total labels)``: the ``n`` real rows as given, then ``total - n``
    distractors.

    Distractor ``j`` (0-based) copies real row ``j % n`` (every row gets as many copies, give or
    take one): its unit vector plus ``noise * s * N(0, I)``, ``s`` the per-dimension standard
    deviation of the real unit rows (their spread), renormalised to unit length; its label is the
    row's label + ``/distractor<c>``, ``c = j // n + 1`` the copy number.  A single real row has
    no spread: its copies are duplicates.  ``ValueError`` for ``total < n``, a negative noise,
    mismatched or repeated labels, zero or non-finite rows, or a distractor label that collides
    with a real one.
    """
    from tfpipe.index.base import check_labels, check_vectors, unit_rows

    x = check_vectors(vectors)
    labels = check_labels(list(labels), len(x))
    n, d = x.shape
    if total < n:
        raise ValueError(f"total={total} is smaller than the {n} real rows: the set can only grow")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if (np.linalg.norm(x, axis=1) == 0).any():
        raise ValueError("a real row is zero: its cosine is undefined and it cannot be copied")
    if len(set(labels)) != n:
        raise ValueError("the real labels repeat: every phrase must be unique")
    units = unit_rows(x.astype(np.float32))
    m = total - n
    source = np.arange(m) % n
    rng = np.random.default_rng(seed)
    spread = units.std(axis=0).astype(np.float32)
    copies = units[source] + np.float32(noise) * spread * rng.standard_normal((m, d), dtype=np.float32)
    copies = unit_rows(copies)
    copy_labels = [f"{labels[s]}{SUFFIX}{j // n + 1}" for j, s in enumerate(source.tolist())]
    clash = set(copy_labels) & set(labels)
    if clash:
        raise ValueError(f"distractor label {sorted(clash)[0]!r} is also a real label; rename the "
                         f"phrases that end in {SUFFIX!r}<number>")
    return np.concatenate([x.astype(np.float32), copies]).astype(np.float32), labels + copy_labels


def source_rows(ids: np.ndarray, n_real: int) -> np.ndarray:
    """The real row each grown row stands for (itself, or the row it was copied from by :func:`grow`)."""
    ids = np.asarray(ids, dtype=np.int64)
    return np.where(ids < n_real, ids, (ids - n_real) % n_real)


# --------------------------------------------------------------------------- sources


def load_prototypes(directory: str, queries_file: str) -> tuple[np.ndarray, list[str], np.ndarray, dict[str, Any]]:
    """``(vectors, phrases, queries, source)`` of a saved QueryIndex and a ``.npy`` of queries."""
    from tfpipe.index import QueryIndex
    from tfpipe.index.base import check_queries

    qi = QueryIndex.load(directory)
    queries = np.load(queries_file, allow_pickle=False)
    if queries.ndim != 2:
        raise ValueError(f"{queries_file}: expected query embeddings [b, d], got shape {queries.shape}")
    queries = check_queries(queries, qi.index.dim)
    source = {"kind": "prototypes", "prototypes": os.path.abspath(directory),
              "queries_file": os.path.abspath(queries_file), "engine_saved": qi.index.engine}
    return np.asarray(qi.index.vectors, np.float32), list(qi.phrases), queries, source


def projection(in_dim: int, out_dim: int, seed: int) -> np.ndarray:
    """The fixed Gaussian projection ``float32 [in_dim, out_dim]``, entries ``N(0, 1 / out_dim)``."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((in_dim, out_dim)) / np.sqrt(out_dim)).astype(np.float32)


def fallback_source(features_dir: str, num_queries: int, *, dim: int = DEFAULT_DIM, seed: int = SEED
                    ) -> tuple[np.ndarray, list[str], np.ndarray, dict[str, Any], list[str]]:
    """``(prototypes, phrases, queries, source, query classes)`` of the fallback (module docstring)."""
    from tfpipe.data.datadir import DataDir
    from tfpipe.data.feature_records import read_split
    from tfpipe.index import prototypes

    data = DataDir.of(features_dir)
    names = list(data.manifest.class_names)
    x_train, y_train = read_split(data, "train", batch_size=1024, verify="size")
    x_test, y_test = read_split(data, "test", batch_size=1024, verify="size")
    if not len(x_train) or not len(x_test):
        raise ValueError(f"{features_dir}: the fallback needs train and test features")
    mean = x_train.mean(axis=0)
    p = projection(x_train.shape[1], dim, seed)
    phrases, protos = prototypes((x_train - mean) @ p, [names[y] for y in y_train])
    rows = np.sort(np.random.default_rng(seed).choice(len(x_test), min(num_queries, len(x_test)), replace=False))
    queries = ((x_test[rows] - mean) @ p).astype(np.float32)
    source = {"kind": FALLBACK, "features_dir": os.path.abspath(data.path),
              "model": data.manifest.features.get("model"), "image_size": data.manifest.features.get("image_size"),
              "feature_dim": int(x_train.shape[1]), "dim": dim, "projection": f"N(0, 1/{dim}) seed {seed}",
              "centred_on": "the train features' mean", "prototypes": "class means of the projected train images",
              "train_images": int(len(x_train)), "classes": int(len(phrases)),
              "queries": "projected test images (seeded sample)",
              "note": "a stand-in until the phrase generator's prototypes exist, not trained phrases"}
    return protos, phrases, queries, source, [names[y] for y in y_test[rows]]


# --------------------------------------------------------------------------- measures


def search_engines(vectors: np.ndarray, phrases: list[str], queries: np.ndarray, k: int, threads: int,
                   log: Log = log_stderr) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(figures per engine, top-k ids per engine)``: each engine's build, warm-up and timed search."""
    from tfpipe.index import QueryIndex
    # Imported here (TensorFlow, ScaNN: seconds) so that no build time includes an import.
    from tfpipe.index import exact  # noqa: F401
    from scann.scann_ops.py import scann_ops_pybind  # noqa: F401

    figures, ids = {}, {}
    for engine in ENGINES:
        params = {"num_threads": threads} if engine == "scann" else None
        log(f"{engine}: building over {len(vectors)} phrases")
        started = time.perf_counter()
        qi = QueryIndex(phrases, vectors, engine=engine, params=params)
        build_s = time.perf_counter() - started
        qi.top_phrases(queries[:WARMUP_QUERIES], k)
        ids[engine], timing = timed_search(lambda q, qi=qi: qi.top_phrases(q, k).ids, queries)
        figures[engine] = {"build_s": round(build_s, 3), **timing, "params": dict(qi.index.params)}
        log(f"{engine}: built in {build_s:.2f} s, {timing['qps']:.0f} queries/s")
        qi = None  # free this engine's index before the next is built
        gc.collect()
    from tfpipe.metrics import recall_at_k

    figures["scann"][f"recall_at_{k}"] = round(float(recall_at_k(ids["scann"], ids["exact"])), 5)
    return figures, ids


def time_end_to_end(predict: Callable[[Sequence[bytes]], Any], images: Sequence[bytes], *,
                    batch_size: int = 32, passes: int = 2) -> dict[str, Any]:
    """Images per second of ``predict`` (raw JPEG bytes -> phrases + class, e.g. the export's
    serving call): one warm-up call of ``batch_size`` images, then ``passes`` timed passes over
    every image in batches; ``images_per_s`` from the median pass."""
    if not images:
        raise ValueError("time_end_to_end needs at least one image")
    if batch_size < 1 or passes < 1:
        raise ValueError(f"batch_size and passes must be >= 1, got {batch_size}, {passes}")
    images = list(images)
    started = time.perf_counter()
    predict(images[:batch_size])
    warmup_s = time.perf_counter() - started
    pass_s = []
    for _ in range(passes):
        started = time.perf_counter()
        for i in range(0, len(images), batch_size):
            predict(images[i:i + batch_size])
        pass_s.append(time.perf_counter() - started)
    return {"images": len(images), "batch_size": batch_size, "passes": passes, "warmup_s": round(warmup_s, 3),
            "pass_s": [round(s, 3) for s in pass_s],
            "images_per_s": round(len(images) / max(statistics.median(pass_s), 1e-9), 2)}


def image_files(spec: str, limit: int = DEFAULT_NUM_IMAGES) -> list[str]:
    """The first ``limit`` files (sorted) of ``spec``: a directory's ``*.jpg`` / ``*.jpeg`` / ``*.png``,
    or a glob pattern."""
    import glob

    if os.path.isdir(spec):
        found = [f for pattern in ("*.jpg", "*.jpeg", "*.png") for f in glob.glob(os.path.join(spec, pattern))]
    else:
        found = glob.glob(spec)
    return sorted(f for f in found if os.path.isfile(f))[:limit]


def _in_memory_path(info: dict[str, Any]) -> tuple[Callable[[Sequence[np.ndarray]], Any], np.ndarray]:
    """``(predict, features)``: the run's in-memory numpy path on precomputed pooled features
    (``context.ContextModel``: bottleneck -> phrase index -> tower -> mean, then the classifier,
    as training and ``tfpipe.evaluate`` compute them) and the features of its eval split."""
    from tfpipe.index.query_index import QueryIndex
    from tfpipe.tasks.phrase_context import context as context_lib
    from tfpipe.tasks.phrase_context import features as features_lib
    from tfpipe.tasks.phrase_context import layout
    from tfpipe.tasks.phrase_context import model as model_lib
    from tfpipe.training import datasets, runs

    cfg = runs.load_config(info["model_dir"])
    inputs, k = info["inputs"], info["top_phrases"]
    classifier = model_lib.load(info["model_dir"], layout.CLASSIFIER_FILE)
    ctx = None
    if info.get("encoder"):
        ctx = context_lib.ContextModel.load(info["generator"], info["encoder"], info["phrase_index"]["context"])
    elif info.get("generator"):  # a visual-only run's phrases, for interpretability: no tower
        ctx = context_lib.ContextModel(model_lib.load(info["generator"], layout.BOTTLENECK_FILE),
                                       QueryIndex.load(info["phrase_index"]["dir"]), None,
                                       info["phrase_index"]["context"])
    features = features_lib.read(cfg, datasets.open_data(info["data_dir"]), cfg.eval.split).features

    def predict(rows: Sequence[np.ndarray]):
        f = np.stack(rows).astype(np.float32)
        x = {"visual": f} if "visual" in inputs else {}
        phrases = None
        if ctx is not None and "context" in inputs:
            x["context"], phrases = ctx(f, k)
        elif ctx is not None:
            phrases = ctx.top_phrases(f, k)[0]
        probs = np.asarray(classifier(x, training=False), np.float32)
        return phrases, probs.argmax(axis=1)

    return predict, features


def export_end_to_end(export_dir: str, files: Sequence[str], *, batch_size: int = 32, passes: int = 3,
                      log: Log = log_stderr) -> dict[str, Any]:
    """Image -> phrases + class per second through a phrase_context export
    (``tfpipe.tasks.phrase_context.serving``, loaded with ``load_with_ops``: JPEG bytes in, the visual
    model in the graph) beside the in-memory numpy path on as many precomputed features of the run's
    eval split (no decoding, no visual model): :func:`time_end_to_end` of each, same batches and passes,
    and ``export_over_in_memory`` (images/s ratio; what computing the visual model in the graph costs)."""
    import tensorflow as tf

    from tfpipe.tasks.phrase_context import serving

    loaded, info = serving.load(export_dir)
    serve = loaded.signatures[serving.CLASSIFY_IMAGES]
    images = []
    for path in files:
        with open(path, "rb") as f:
            images.append(f.read())
    log(f"end to end: {len(images)} images through {export_dir} ({'+'.join(info['inputs'])}, phrases "
        f"{(info.get('phrase_index') or {}).get('search', 'none')})")
    exported = time_end_to_end(lambda batch: serve(images=tf.constant(list(batch), tf.string)), images,
                               batch_size=batch_size, passes=passes)
    predict, features = _in_memory_path(info)
    rows = [features[i % len(features)] for i in range(len(images))]
    log(f"end to end: the in-memory path on {len(rows)} precomputed features of {info['data_dir']}")
    in_memory = time_end_to_end(predict, rows, batch_size=batch_size, passes=passes)
    return {"export": {"dir": export_dir, "inputs": info["inputs"], "top_phrases": info["top_phrases"],
                       "phrase_search": (info.get("phrase_index") or {}).get("search"),
                       "phrases": (info.get("phrase_index") or {}).get("phrases"),
                       "visual_model": info["visual_model"], "image_size": info["image_size"],
                       "files": list(files)[:3] + (["..."] if len(files) > 3 else []), **exported},
            "in_memory": {"what": "context.ContextModel + the classifier on precomputed pooled features "
                                  f"({info['data_dir']}, its eval split)", **in_memory},
            "export_over_in_memory": round(exported["images_per_s"] / max(in_memory["images_per_s"], 1e-9), 4)}


# --------------------------------------------------------------------------- run


def generator_source(run_dir: str, features_dir: str, split: str = "test"
                     ) -> tuple[np.ndarray, list[str], np.ndarray, dict[str, Any]]:
    """``(prototypes, phrases, queries, source)`` of a trained phrase generator: its prototype index
    (``beam_jobs.prototypes``) and, as queries, the bottleneck embeddings of a downstream features
    directory's ``split`` (real images the phrase search serves)."""
    from tfpipe.data.datadir import DataDir
    from tfpipe.data.feature_records import read_split
    from tfpipe.index import QueryIndex
    from tfpipe.tasks.phrase_context import context as context_lib
    from tfpipe.tasks.phrase_context import layout
    from tfpipe.tasks.phrase_context import model as model_lib

    qi = QueryIndex.load(context_lib.index_dir(run_dir, "prototypes"))
    x, _ = read_split(DataDir.open(features_dir), split, batch_size=1024, verify="size")
    bottleneck = model_lib.load(run_dir, layout.BOTTLENECK_FILE)
    queries = np.asarray(bottleneck.predict(x, batch_size=1024, verbose=0), np.float32)
    source = {"kind": "generator_prototypes", "generator": os.path.abspath(run_dir),
              "prototypes": os.path.abspath(context_lib.index_dir(run_dir, "prototypes")),
              "queries": f"bottleneck x of {os.path.abspath(features_dir)} split {split}",
              "engine_saved": qi.index.engine}
    return np.asarray(qi.index.vectors, np.float32), list(qi.phrases), queries, source


def run(*, prototypes_dir: str | None = None, queries_file: str | None = None, generator: str | None = None,
        query_features: str = DEFAULT_QUERY_FEATURES,
        features_dir: str = DEFAULT_FEATURES, total: int = DEFAULT_TOTAL, noise: float = DEFAULT_NOISE,
        k: int = DEFAULT_K, num_queries: int = DEFAULT_QUERIES, threads: int | None = None, seed: int = SEED,
        end_to_end: Callable[[], dict[str, Any]] | None = None, log: Log = log_stderr) -> dict[str, Any]:
    """The JSON document: ``{"benchmark": "phrase_search", "source", "prototypes", "queries", "k",
    "engines": {"exact", "scann"}, "ratios", "real_share_of_exact_top_k", "end_to_end", "config",
    "cpu", "env"}``.

    ``end_to_end``: a callable returning :func:`time_end_to_end`'s figures (e.g. ``lambda:
    time_end_to_end(serve, images)``); ``None`` reports the figure as not measured.
    """
    load_before, started = list(os.getloadavg()), time.time()
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    thread_setup = limit_threads(threads)
    classes = None
    if prototypes_dir:
        real, phrases, queries, source = load_prototypes(prototypes_dir, queries_file)
    elif generator:
        real, phrases, queries, source = generator_source(generator, query_features)
    else:
        real, phrases, queries, source, classes = fallback_source(features_dir, num_queries, seed=seed)
    log(f"{source['kind']}: {len(real)} real prototypes ({real.shape[1]}-d), {len(queries)} queries")
    if k > total:
        raise ValueError(f"k={k} is larger than the grown set ({total})")
    vectors, labels = grow(real, phrases, total, noise, seed)
    figures, ids = search_engines(vectors, labels, queries, k, threads, log)
    ratio = lambda a, b: None if not b else round(a / b, 3)  # noqa: E731
    result: dict[str, Any] = {
        "benchmark": "phrase_search",
        "source": source,
        "prototypes": {"real": int(len(real)), "distractors": int(total - len(real)), "total": int(total),
                       "dim": int(vectors.shape[1]), "noise": noise, "seed": seed},
        "queries": int(len(queries)),
        "k": k,
        "engines": figures,
        "ratios": {"scann_qps_over_exact_qps": ratio(figures["scann"]["qps"], figures["exact"]["qps"]),
                   "scann_cpu_qps_over_exact_cpu_qps": ratio(figures["scann"]["cpu_qps"],
                                                             figures["exact"]["cpu_qps"]),
                   "build_scann_over_exact": ratio(figures["scann"]["build_s"], figures["exact"]["build_s"])},
        "real_share_of_exact_top_k": round(float((ids["exact"] < len(real)).mean()), 5),
    }
    if classes is not None:
        result["top1_class_accuracy"] = {
            engine: round(float(np.mean([phrases[s] == c for s, c in zip(source_rows(ids[engine][:, 0], len(real)),
                                                                          classes)])), 5)
            for engine in ENGINES}
        result["top1_class_chance"] = round(1.0 / len(real), 5)
    result["end_to_end"] = (end_to_end() if end_to_end is not None else
                            {"skipped": "not measured: pass --export DIR (a phrase_context export of python -m "
                                        "tfpipe.export; run(end_to_end=lambda: export_end_to_end(DIR, files)))"})
    result["config"] = {"total": total, "noise": noise, "k": k, "num_queries": num_queries, "threads": threads,
                        "seed": seed, "metric": "cosine", "thread_setup": thread_setup}
    result["cpu"] = cpu_info()
    result["env"] = output.environment(started, load_before)
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m benchmarks.phrase_search", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prototypes", default=None, metavar="DIR",
                   help="a saved QueryIndex (index directory with phrases); default: the Tiny-ImageNet fallback")
    p.add_argument("--queries", default=None, metavar="FILE.npy", help="query embeddings [b, d] (with --prototypes)")
    p.add_argument("--generator", default=None, metavar="RUN",
                   help="a phrase_generator run with its prototype index: its prototypes, and as queries the "
                   "bottleneck embeddings of --query_features' test split (default: artifacts/runs/phrase_generator "
                   "when it has a prototype index and --prototypes is not given, else the fallback)")
    p.add_argument("--query_features", default=DEFAULT_QUERY_FEATURES,
                   help="--generator: the features whose test images are the queries (default: %(default)s)")
    p.add_argument("--features_dir", default=None,
                   help=f"the fallback's cached pooled features (default: {DEFAULT_FEATURES}; giving it picks the "
                   "fallback)")
    p.add_argument("--total", type=int, default=DEFAULT_TOTAL, help="phrases after growing (default %(default)s)")
    p.add_argument("--noise", type=float, default=DEFAULT_NOISE,
                   help="distractor noise, in units of the real rows' spread (default %(default)s)")
    p.add_argument("--k", type=int, default=DEFAULT_K, help="phrases per query (default %(default)s)")
    p.add_argument("--num_queries", type=int, default=DEFAULT_QUERIES,
                   help="fallback: test images used as queries (default %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="threads of both engines (default: this process's CPUs)")
    p.add_argument("--seed", type=int, default=SEED, help="distractors, projection and query sample (default %(default)s)")
    p.add_argument("--out", default=None, metavar="FILE.json", help="also write the JSON here")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="a phrase_context export (python -m tfpipe.export --model_dir <multimodal run>): also time "
                   "image -> phrases + class through it beside the in-memory path (end_to_end; default: "
                   "artifacts/runs/flowers102_multimodal_10/export when it exists and the prototypes are a generator's)")
    p.add_argument("--images", default=DEFAULT_IMAGES, metavar="DIR|GLOB",
                   help="--export: the images timed, a directory or a glob (default: %(default)s)")
    p.add_argument("--num_images", type=int, default=DEFAULT_NUM_IMAGES,
                   help="--export: the first this many of --images (default %(default)s)")
    args = p.parse_args(argv)
    if (args.generator is None and not args.prototypes and args.features_dir is None
            and os.path.isdir(os.path.join(DEFAULT_GENERATOR, "prototype_index"))
            and os.path.isdir(args.query_features)):
        args.generator = DEFAULT_GENERATOR
    if args.features_dir is None:
        args.features_dir = DEFAULT_FEATURES
    if args.generator and args.prototypes:
        p.error("give --generator or --prototypes/--queries, not both")
    if args.generator and not os.path.isdir(os.path.join(args.generator, "prototype_index")):
        p.error(f"--generator {args.generator}: no prototype_index (python -m beam_jobs.prototypes --model_dir "
                f"{args.generator})")
    if bool(args.prototypes) != bool(args.queries):
        p.error("--prototypes and --queries go together: the queries must be embeddings of the prototypes' space")
    for flag in ("total", "k", "num_queries", "threads", "num_images"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            p.error(f"--{flag} must be >= 1, got {value}")
    if not args.noise >= 0:
        p.error(f"--noise must be >= 0, got {args.noise}")
    for path, what in ((args.prototypes, "an index directory"), (args.queries, "a .npy file")):
        if path and not os.path.exists(path):
            p.error(f"{path} does not exist: expected {what}")
    if not args.prototypes and not args.generator and not os.path.isfile(
            os.path.join(args.features_dir, "manifest.json")):
        p.error(f"{args.features_dir} has no manifest.json: the fallback needs the cached Tiny-ImageNet features "
                "(python -m beam_jobs.extract_features --data_dir artifacts/data/tiny_imagenet), or give "
                "--prototypes and --queries")
    args.image_files = []
    if args.export is None and args.generator and os.path.isdir(DEFAULT_EXPORT):
        args.export = DEFAULT_EXPORT
    if args.export:
        from tfpipe.tasks.phrase_context import serving

        if serving.read_info(args.export) is None:
            p.error(f"--export {cli.describe(args.export)}, not a phrase_context export (no {serving.INFO_FILE}): "
                    "python -m tfpipe.export --model_dir <a phrase_context multimodal run> writes one")
        args.image_files = image_files(args.images, args.num_images)
        if not args.image_files:
            p.error(f"--images {args.images}: no .jpg / .jpeg / .png files (a directory or a glob)")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    try:
        result = run(prototypes_dir=args.prototypes, queries_file=args.queries, generator=args.generator,
                     query_features=args.query_features, features_dir=args.features_dir,
                     total=args.total, noise=args.noise, k=args.k, num_queries=args.num_queries,
                     threads=args.threads, seed=args.seed,
                     end_to_end=(lambda: export_end_to_end(args.export, args.image_files)) if args.export else None)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    return output.emit(result, args.out)


if __name__ == "__main__":
    main()
