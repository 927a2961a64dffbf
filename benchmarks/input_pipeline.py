"""Input pipeline throughput on real AG's News, against a plain Python quantizer
and against the model's own training throughput, measured in one run.

    python -m benchmarks.input_pipeline [--quick] [--csv ../shared/data/ag_news/test.csv]

Steps: read the Zhang et al. CSV, take the agreed stratified 80/20 split
(``../shared/data/README.md``), write the train split as 4 TFRecord shards
with ``records.write_dataset`` (``l0=1014``), then time

* ``plain_python``: the per-character quantizer common Char-CNN repositories
  use (loop over texts, dict lookup per character into a numpy index array,
  stack a batch of 128); its output is checked against ``quantize_py``.
  ``plain_python_onehot``: the same writing a float32 one-hot array instead
  (the other common variant; slower, so not used for the ratio);
* ``pipeline``: ``make_dataset(..., training=True, epoch_samples=...)``,
  batch 128 (the paper's epoch sampling), consumed inside a ``tf.function``
  the way ``Model.fit`` consumes it, without and with ``cache=True``; and the
  same consumed by a Python ``for`` loop over the dataset;
* ``train``: char_cnn_small ``train_on_batch`` at batch 128, float32 and
  mixed_bfloat16 (best step of a few).

Prints one JSON line with examples/s of each and the ratios the issue sets
targets for: pipeline >= 50x the plain quantizer and >= 10x training.  Rates
per CPU second of this process are recorded too: on a shared machine they show
the work done per core independently of the load (the plain quantizer uses one
core, tf.data all of them).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from tfpipe import cli  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CSV = os.path.join(ROOT, "..", "shared", "data", "ag_news", "test.csv")


# ---------------------------------------------------------------------------
# Data


def load_ag_news(path: str) -> tuple[list[str], list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    """Class names, train rows and test rows (agreed split) of a Zhang et al. CSV."""
    from tfpipe.data import corpora, splits

    classes, items = corpora.read_files("zhang_csv", [path])
    rows = [(it.example_id, it.text, it.label) for it in items if isinstance(it, corpora.RawExample)]
    train_index, test_index = splits.split_labels([r[2] for r in rows], 0.2, 0)
    return list(classes), [rows[i] for i in train_index], [rows[i] for i in test_index]


# ---------------------------------------------------------------------------
# The plain baseline


def plain_quantize(texts, index: dict[str, int], l0: int):
    """One batch, the way common Char-CNN repositories do it: a Python loop per character."""
    import numpy as np

    batch = np.zeros((len(texts), l0), dtype=np.int64)
    for row, text in enumerate(texts):
        n = min(len(text), l0)
        for i in range(1, n + 1):  # backward: the last character first
            c = text[-i]
            if c in index:
                batch[row, i - 1] = index[c]
    return batch


def plain_quantize_onehot(texts, index: dict[str, int], l0: int, depth: int):
    import numpy as np

    batch = np.zeros((len(texts), l0, depth), dtype=np.float32)
    for row, text in enumerate(texts):
        n = min(len(text), l0)
        for i in range(1, n + 1):
            c = text[-i]
            if c in index:
                batch[row, i - 1, index[c] - 1] = 1.0
    return batch


def time_plain(texts, fn, batch_size: int, min_seconds: float) -> tuple[float, float]:
    """Examples per wall second and per CPU second of ``fn`` over batches of ``texts``."""
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        for b in range(0, len(texts), batch_size):
            fn(texts[b : b + batch_size])
            done += len(texts[b : b + batch_size])
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed, done / max(time.process_time() - cpu, 1e-9)


# ---------------------------------------------------------------------------
# The tf.data pipeline


def time_pipeline(ds, batches: int, warmup: int = 50, repeats: int = 3) -> tuple[float, float]:
    """Examples per wall second (best of ``repeats``) and per CPU second of ``ds``,
    consumed inside a tf.function (as Model.fit does)."""
    import tensorflow as tf

    iterator = iter(ds)

    @tf.function
    def consume(steps):
        total = tf.constant(0, tf.int64)
        for _ in tf.range(steps):
            x, y = next(iterator)
            total += tf.size(y, out_type=tf.int64)
        return total

    consume(tf.constant(warmup))
    best, best_cpu = 0.0, 0.0
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        n = int(consume(tf.constant(batches)))
        best = max(best, n / (time.perf_counter() - start))
        best_cpu = max(best_cpu, n / max(time.process_time() - cpu, 1e-9))
    return best, best_cpu


def time_pipeline_python_loop(ds, batches: int, warmup: int = 100) -> float:
    """Examples/s of a Python ``for`` loop over ``ds`` (an eager custom training loop)."""
    iterator = iter(ds)
    for _ in range(warmup):
        next(iterator)
    n, start = 0, time.perf_counter()
    for _ in range(batches):
        n += int(next(iterator)[1].shape[0])
    return n / (time.perf_counter() - start)


# ---------------------------------------------------------------------------


def measure(args) -> dict:
    import numpy as np
    import tensorflow as tf

    from benchmarks.train_throughput import train_rate
    from tfpipe.data import pipeline, records
    from tfpipe.text import alphabet as alphabet_lib
    from tfpipe.text import quantize

    classes, train_rows, test_rows = load_ag_news(args.csv)
    alphabet = alphabet_lib.PAPER
    index = alphabet.index_map()
    texts = [text for _, text, _ in train_rows]

    # The baseline computes the same ids as the project's quantizer.
    check = plain_quantize(texts[:500], index, args.l0)
    expected = np.array([quantize.quantize_py(t, alphabet, args.l0) for t in texts[:500]])
    if not np.array_equal(check, expected):
        raise AssertionError("the plain quantizer disagrees with quantize_py")

    work = args.work_dir or tempfile.mkdtemp(prefix="tfpipe_bench_")
    data_dir = os.path.join(work, "ag_news")
    try:
        start = time.perf_counter()
        records.write_dataset(
            data_dir, {"train": train_rows, "test": test_rows}, classes, l0=args.l0, num_shards=4
        )
        write_s = time.perf_counter() - start

        plain, plain_cpu = time_plain(
            texts, lambda b: plain_quantize(b, index, args.l0), args.batch_size, args.min_seconds
        )
        plain_onehot, _ = time_plain(
            texts, lambda b: plain_quantize_onehot(b, index, args.l0, alphabet.size), args.batch_size,
            args.min_seconds / 2,
        )

        def dataset(cache: bool):
            return pipeline.make_dataset(
                data_dir, "train", batch_size=args.batch_size, training=True, seed=0,
                epoch_samples=len(train_rows), cache=cache,
            )

        (uncached, uncached_cpu), (cached, cached_cpu) = (
            time_pipeline(dataset(False), args.batches), time_pipeline(dataset(True), args.batches)
        )
        rates = {
            "uncached": uncached,
            "cached": cached,
            "cached_python_loop": time_pipeline_python_loop(dataset(True), args.batches // 2),
        }
        training = {
            precision: train_rate(
                precision, batch_size=args.batch_size, steps=args.train_steps, warmup=1 if args.quick else 2,
                jit_compile=False,
                l0=args.l0, num_classes=len(classes),
            )["examples_per_s"]
            for precision in ("float32", "mixed_bfloat16")
        }
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)

    fastest_training = max(training.values())
    result = {
        "benchmark": "input_pipeline",
        "corpus": "ag_news test.csv, agreed split, train",
        "train_records": len(train_rows),
        "l0": args.l0,
        "batch_size": args.batch_size,
        "write_dataset_s": round(write_s, 2),
        "plain_python_ex_per_s": round(plain),
        "plain_python_onehot_ex_per_s": round(plain_onehot),
        "pipeline_ex_per_s": round(rates["uncached"]),
        "pipeline_cached_ex_per_s": round(rates["cached"]),
        "pipeline_cached_python_loop_ex_per_s": round(rates["cached_python_loop"]),
        "plain_python_ex_per_cpu_s": round(plain_cpu),
        "pipeline_ex_per_cpu_s": round(uncached_cpu),
        "pipeline_cached_ex_per_cpu_s": round(cached_cpu),
        "train_float32_ex_per_s": round(training["float32"], 1),
        "train_mixed_bfloat16_ex_per_s": round(training["mixed_bfloat16"], 1),
        "ratio_pipeline_to_plain": round(rates["uncached"] / plain, 1),
        "ratio_pipeline_cached_to_plain": round(rates["cached"] / plain, 1),
        "ratio_pipeline_to_training": round(rates["uncached"] / fastest_training, 1),
        "ratio_pipeline_cached_to_training": round(rates["cached"] / fastest_training, 1),
        "targets": {"pipeline_over_plain": 50, "pipeline_over_training": 10},
        "meets_target_plain": {
            "uncached": rates["uncached"] / plain >= 50,
            "cached": rates["cached"] / plain >= 50,
        },
        "meets_target_training": rates["uncached"] / fastest_training >= 10,
        "env": {
            "cpus": os.cpu_count(),
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "tensorflow": tf.__version__,
        },
    }
    return result


def parse_args(argv=None):
    p = cli.ArgumentParser(prog="python -m benchmarks.input_pipeline", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short run (noisier figures)")
    p.add_argument("--csv", default=DEFAULT_CSV, help="a Zhang et al. CSV (default: AG's News test.csv)")
    p.add_argument("--l0", type=int, default=1014)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--batches", type=int, default=None, help="pipeline batches timed (default 3000, quick 600)")
    p.add_argument("--train_steps", type=int, default=None, help="timed training steps (default 3, quick 1)")
    p.add_argument("--min_seconds", type=float, default=None, help="plain quantizer timing (default 4, quick 1)")
    p.add_argument("--work_dir", default="", help="keep the written data here (default: a temp dir)")
    args = p.parse_args(argv)
    if not os.path.exists(args.csv):
        p.error(f"{args.csv} not found (the real corpora live in ../shared/data beside the repo)")
    args.batches = args.batches or (600 if args.quick else 3000)
    args.train_steps = args.train_steps or (1 if args.quick else 3)
    args.min_seconds = args.min_seconds or (1.0 if args.quick else 4.0)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = measure(args)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
