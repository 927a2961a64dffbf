"""DeViSE serving: image -> top-5 labels/s of the exported SavedModel beside the same steps
in-process, and nearest-label search at scale (exact against ScaNN).

    python -m benchmarks.devise_serving [--run_dir artifacts/runs/devise_tiny_imagenet]
                                        [--export_dir RUN_DIR/export] [--images 64]
                                        [--labels 100000] [--queries 2000] [--out FILE.json]

Frome et al. 2013, section 3.3: at test time an image's projected vector ``M v`` is compared
with the unit label vectors and the nearest labels are the prediction, found "using a tree-based
or hashing" index rather than a linear scan.  This measures both halves on one run directory:

* **images**: ``--images`` raw JPEGs of the Tiny-ImageNet test records (``--images_dir``,
  ``test-*.tfrecord``, bytes feature ``image``) -> top-5 labels, at batch 1 and batch 32, by
  ``serving``: the export's ``seen`` signature (``tf.saved_model.load``; decode, eval view,
  visual model, projection and label search in one graph, ``tfpipe.tasks.devise.serving``), and
  ``in_process``: the same in steps, ``image_pipeline.decode`` + ``eval_view`` (a
  ``tf.function``) -> ``features.Extractor`` (``--engine``) -> the run's ``model.keras`` up to
  ``projection`` -> ``LabelIndex.nearest(subset="seen")``.  Each path makes one warm-up call of
  the batch size, then ``--passes`` timed passes over every image (the paths taking turns);
  ``images_per_s`` is from the median pass; ``ratio``: serving over in-process.  The paths must
  agree: ``top1_agreement`` is the fraction of images whose best label is the same,
  ``embedding_max_abs_diff`` the largest difference of their ``M v``.
* **label search**: a label set of ``--labels`` unit vectors (500-d): the run's own label
  vectors (its ``label_index/``), then every word of the skip-gram vocabulary (``--word_vectors``,
  centered as the run's labels were when its ``model.center_vectors`` is set), then two-word
  phrases (the mean of the two words' unit vectors, as ``label_vectors.label_vector`` makes a
  two-word label) of distinct pairs drawn with ``--seed`` from the ``--pair_words`` most frequent
  alphabetic words, until the size is reached.  Queries: ``M v`` of the first ``--queries`` cached
  test features (``evaluation.embed``).  ``index.build(engine="exact"|"scann", metric="cosine")``
  over the same vectors (ScaNN with its default params): ``build_s``, then one warm-up search
  and one timed batched search of every query for k=10 (``qps``); ScaNN's ``recall_at_10``
  against the exact ids (``tfpipe.metrics.recall_at_k``) and ``speedup`` (its qps over exact's).

``cpu`` is the CPU model and flags (as ``benchmarks.feature_extraction``); every figure moves
with the load of a shared machine (the JSON records the load average before and after).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import glob
import statistics
import sys
import time
from typing import Any, Sequence

import numpy as np

from tfpipe import cli  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import output  # noqa: E402
from benchmarks.feature_extraction import cpu_info  # noqa: E402

K_SERVE, K_SEARCH = 5, 10
BATCH_SIZES = (1, 32)


def log(message: str) -> None:
    print(f"[devise_serving] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def read_images(images_dir: str, n: int) -> list[bytes]:
    """The first ``n`` JPEGs of ``images_dir/test-*.tfrecord`` (shard order)."""
    import tensorflow as tf

    paths = sorted(glob.glob(os.path.join(images_dir, "test-*.tfrecord")))
    if not paths:
        fail(f"no test-*.tfrecord in {images_dir}")
    spec = {"image": tf.io.FixedLenFeature([], tf.string)}
    return [tf.io.parse_single_example(r, spec)["image"].numpy() for r in tf.data.TFRecordDataset(paths).take(n)]


# --------------------------------------------------------------------------- images -> top-5


def image_paths(run_dir: str, export_dir: str, engine: str):
    """``{"serving": fn, "in_process": fn}``, each ``list[bytes] -> (top-5 labels [B][5], M v [B, d])``,
    and what to report about them."""
    import tensorflow as tf

    from tfpipe.data import image_pipeline
    from tfpipe.models.vision.features import Extractor
    from tfpipe.tasks import devise
    from tfpipe.tasks.devise import labels as labels_lib, serving
    from tfpipe.tasks.devise.model import projection_model

    seen, info = serving.signature(export_dir, labels_lib.SEEN)

    def serve(images):
        out = seen(images=tf.constant(images, dtype=tf.string))
        return [[x.decode() for x in row] for row in out["labels"].numpy()], out["embedding"].numpy()

    size, crop = int(info["image_size"]), float(info["crop_fraction"])
    extractor = Extractor(info["visual_model"], image_size=size, outputs=(devise.OUTPUT,), engine=engine)
    model = devise.load_model(run_dir)
    head = projection_model(model)
    _, label_index = labels_lib.load(run_dir)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def views(images):
        one = lambda b: tf.cast(image_pipeline.eval_view(image_pipeline.decode(b), size, crop), tf.uint8)
        return tf.map_fn(one, images, fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))

    def in_process(images):
        pooled = extractor(views(tf.constant(images, dtype=tf.string)).numpy())[devise.OUTPUT]
        mv = np.asarray(head([pooled], training=False), np.float32)
        return label_index.nearest(mv, K_SERVE, subset=labels_lib.SEEN).labels, mv

    about = {"signature": labels_lib.SEEN, "candidates": info.get("signatures", {}).get(labels_lib.SEEN),
             "visual_model": info.get("visual_model"), "image_size": size, "crop_fraction": crop,
             "extractor": extractor.engine_info, "label_index_engine": label_index.index.engine}
    return {"serving": serve, "in_process": in_process}, about


def time_images(paths, images: list[bytes], batch_size: int, passes: int) -> dict[str, Any]:
    """One warm-up call per path, then ``passes`` timed passes (paths taking turns)."""
    figures: dict[str, dict[str, Any]] = {}
    for name, fn in paths.items():
        started = time.perf_counter()
        fn(images[:batch_size])
        figures[name] = {"warmup_s": round(time.perf_counter() - started, 3), "pass_s": []}
    answers: dict[str, tuple[list, np.ndarray]] = {}
    for i in range(passes):
        for name, fn in paths.items():
            log(f"batch {batch_size}, pass {i + 1}/{passes}: {name}")
            started = time.perf_counter()
            outs = [fn(images[j:j + batch_size]) for j in range(0, len(images), batch_size)]
            figures[name]["pass_s"].append(round(time.perf_counter() - started, 3))
            answers[name] = ([row for o in outs for row in o[0]], np.concatenate([o[1] for o in outs]))
    for name in paths:
        figures[name]["images_per_s"] = round(len(images) / statistics.median(figures[name]["pass_s"]), 2)
    (a_labels, a_mv), (b_labels, b_mv) = answers["serving"], answers["in_process"]
    return {**figures,
            "ratio_serving_over_in_process": round(figures["serving"]["images_per_s"]
                                                   / figures["in_process"]["images_per_s"], 3),
            "top1_agreement": float(np.mean([a[0] == b[0] for a, b in zip(a_labels, b_labels)])),
            "top5_same_set": float(np.mean([set(a) == set(b) for a, b in zip(a_labels, b_labels)])),
            "embedding_max_abs_diff": float(np.abs(a_mv - b_mv).max())}


# --------------------------------------------------------------------------- label search at scale


def label_set(run_dir: str, word_vectors: str, center: bool, size: int, pair_words: int,
              seed: int) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """``(unit vectors [n, d], labels, counts)``: the run's labels, the words, two-word phrases."""
    from tfpipe.embeddings import label_vectors as lv
    from tfpipe.index.base import unit_rows
    from tfpipe.tasks.devise import labels as labels_lib

    _, label_index = labels_lib.load(run_dir)
    real = unit_rows(label_index.index.vectors)
    table = lv.WordTable.load(word_vectors)
    if center:
        table = table.centered()
    words = list(table.index)  # folded, first row of each: frequency order
    units = unit_rows(table.vectors[[table.index[w] for w in words]])
    n_words = min(len(words), max(0, size - len(real)))
    n_phrases = max(0, size - len(real) - n_words)
    frequent = [i for i, w in enumerate(words) if w.isalpha()][:pair_words]
    if n_phrases > len(frequent) * (len(frequent) - 1) // 2:
        fail(f"{n_phrases} phrases needed but --pair_words {pair_words} makes fewer pairs")
    rng, pairs = np.random.default_rng(seed), {}
    while len(pairs) < n_phrases:
        draw = rng.choice(len(frequent), (2 * (n_phrases - len(pairs)) + 16, 2))
        for a, b in draw:
            if a != b and len(pairs) < n_phrases:
                pairs.setdefault((min(a, b), max(a, b)), None)
    pairs_ = np.array([(frequent[a], frequent[b]) for a, b in pairs], np.int64).reshape(-1, 2)
    phrases = unit_rows((units[pairs_[:, 0]] + units[pairs_[:, 1]]) / 2)
    if len(pairs_):  # the same vector label_vector makes of the two-word text
        a, b = words[pairs_[0, 0]], words[pairs_[0, 1]]
        assert np.allclose(phrases[0], lv.unit(lv.label_vector(f"{a} {b}", table).vector), atol=1e-5)
    vectors = np.concatenate([real, units[:n_words], phrases]).astype(np.float32)
    labels = (list(label_index.labels) + [f"word/{w}" for w in words[:n_words]]
              + [f"phrase/{words[a]} {words[b]}" for a, b in pairs_])
    counts = {"run_labels": len(real), "words": n_words, "phrases": len(pairs_), "total": len(labels),
              "dim": int(vectors.shape[1]), "word_vectors": word_vectors, "centered": bool(center),
              "pair_words": len(frequent), "seed": seed}
    return vectors, labels, counts


def time_search(vectors: np.ndarray, labels: list[str], queries: np.ndarray) -> dict[str, Any]:
    from tfpipe import index, metrics

    out, ids = {}, {}
    for engine in ("exact", "scann"):
        log(f"building the {engine} index over {len(vectors)} labels")
        started = time.perf_counter()
        idx = index.build(vectors, labels, engine=engine, metric="cosine")
        build_s = time.perf_counter() - started
        idx.search(queries[:100], K_SEARCH, progress=False)  # warm-up
        started = time.perf_counter()
        found = idx.search(queries, K_SEARCH, progress=False)
        search_s = time.perf_counter() - started
        ids[engine] = found.ids
        out[engine] = {"build_s": round(build_s, 2), "search_s": round(search_s, 3),
                       "qps": round(len(queries) / search_s, 1), "params": idx.params}
        if engine == "scann":  # the same index searched wider: more leaves, more exact reordering
            wide = {"num_leaves_to_search": min(idx.params["num_leaves"], 4 * idx.params["num_leaves_to_search"]),
                    "reorder_k": 10 * 4 * K_SEARCH}
            idx.search(queries[:100], K_SEARCH, progress=False, **wide)
            started = time.perf_counter()
            found = idx.search(queries, K_SEARCH, progress=False, **wide)
            search_s = time.perf_counter() - started
            ids["scann_wide"] = found.ids
            out["scann_wide"] = {"search_s": round(search_s, 3), "qps": round(len(queries) / search_s, 1),
                                 "search_params": wide}
    for name in ("scann", "scann_wide"):
        out[name]["recall_at_10"] = round(metrics.recall_at_k(ids[name], ids["exact"]), 4)
        out[name]["speedup_over_exact"] = round(out[name]["qps"] / out["exact"]["qps"], 2)
    out["speedup_scann_over_exact"] = out["scann"]["speedup_over_exact"]
    return out


def query_embeddings(run_dir: str, features_dir: str, n: int) -> np.ndarray:
    from tfpipe.data.feature_records import make_feature_dataset
    from tfpipe.tasks import devise
    from tfpipe.tasks.devise import evaluation

    feats, have = [], 0
    for x, _, _ in make_feature_dataset(features_dir, "test", with_ids=True, cache=False):
        feats.append(x.numpy())
        have += len(feats[-1])
        if have >= n:
            break
    return evaluation.embed(devise.load_model(run_dir), np.concatenate(feats)[:n], batch_size=256)


# --------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before, started = list(os.getloadavg()), time.time()
    from tfpipe.training import runs

    cfg = runs.read_saved_config(args.run_dir)
    export_dir = args.export_dir or os.path.join(args.run_dir, "export")
    images = read_images(args.images_dir, args.images)
    log(f"{len(images)} test images read")
    paths, about = image_paths(args.run_dir, export_dir, args.engine)
    by_batch = {str(b): time_images(paths, images, b, args.passes) for b in BATCH_SIZES}

    features_dir = args.features_dir or cfg["data"]["dir"]
    queries = query_embeddings(args.run_dir, features_dir, args.queries)
    log(f"{len(queries)} queries embedded")
    model_cfg = cfg.get("model", {})
    word_vectors = args.word_vectors or model_cfg.get("label_vectors")
    vectors, labels, counts = label_set(args.run_dir, word_vectors, bool(model_cfg.get("center_vectors")),
                                        args.labels, args.pair_words, args.seed)
    search = time_search(vectors, labels, queries)
    return {
        "benchmark": "devise_serving",
        "run_dir": args.run_dir, "export_dir": export_dir,
        "images": {"count": len(images), "source": f"{args.images_dir}/test-*.tfrecord", "k": K_SERVE,
                   "passes": args.passes, **about, "by_batch_size": by_batch},
        "label_search": {"labels": counts, "queries": int(len(queries)), "features_dir": features_dir,
                         "k": K_SEARCH, **search},
        "cpu": cpu_info(),
        "env": output.environment(started, load_before),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m benchmarks.devise_serving", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run_dir", default="artifacts/runs/devise_tiny_imagenet", help="(default: %(default)s)")
    p.add_argument("--export_dir", default=None, help="its SavedModel (default: RUN_DIR/export)")
    p.add_argument("--images_dir", default="artifacts/data/tiny_imagenet", help="(default: %(default)s)")
    p.add_argument("--images", type=int, default=64, help="test images timed (default: %(default)s)")
    p.add_argument("--passes", type=int, default=2, help="timed passes per path (default: %(default)s)")
    p.add_argument("--engine", default="auto", choices=("auto", "keras", "onnxruntime"),
                   help="the in-process Extractor's engine (default: %(default)s)")
    p.add_argument("--features_dir", default=None, help="cached features (default: the run's data.dir)")
    p.add_argument("--word_vectors", default=None, help="skip-gram run (default: the run's model.label_vectors)")
    p.add_argument("--labels", type=int, default=100_000, help="label set size (default: %(default)s)")
    p.add_argument("--queries", type=int, default=2000, help="queries (default: %(default)s)")
    p.add_argument("--pair_words", type=int, default=2000,
                   help="phrases pair the most frequent N words (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="phrase pairs' seed (default: %(default)s)")
    p.add_argument("--out", default=None, metavar="FILE.json", help="also write the JSON here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    for name in ("images", "passes", "labels", "queries", "pair_words"):
        if getattr(args, name) < 1:
            print(f"error: --{name} must be >= 1, got {getattr(args, name)}", file=sys.stderr)
            sys.exit(2)
    export_dir = args.export_dir or os.path.join(args.run_dir, "export")
    for path, what in ((os.path.join(args.run_dir, "config.yaml"), "a finished devise run (config.yaml)"),
                       (os.path.join(args.run_dir, "label_index"), "a devise run with its label_index/"),
                       (os.path.join(export_dir, "saved_model.pb"), "its SavedModel (python -m tfpipe.export)")):
        if not os.path.exists(path):
            fail(f"{path} does not exist: --run_dir / --export_dir must name {what}")
    result = run(args)
    return output.emit(result, args.out)


if __name__ == "__main__":
    main()
