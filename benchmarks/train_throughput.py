"""Char-CNN training throughput on this CPU: layer 1 as a gather (the fused C++ op and the
``keras.ops`` form) against the one-hot layer, float32 against mixed_bfloat16, for the small and
the large model, against matmul peaks measured in the same run.

    python -m benchmarks.train_throughput [--quick] [--models char_cnn_small char_cnn_large]
        [--first_layers gather gather_keras one_hot] [--precisions float32 mixed_bfloat16]
        [--steps N] [--batch_size 128] [--l0 1014] [--out FILE.json]

Input: ``--batch_size`` rows of AG's News ``test.csv`` (``../shared/data/ag_news``, title and
description joined, quantized by :func:`tfpipe.text.quantize.quantize` with the paper's alphabet
to ``l0`` indices, labels 0..3); without that file, seeded random indices ``0..70`` and labels
(``data`` in the JSON says which).  Every figure is over that one batch.

Prints one JSON line (and writes it, indented, to ``--out``); per model (``char_cnn_small``,
``char_cnn_large``: Zhang et al. 2015, Tables 1 and 2):

``layer1``
    per precision and first layer (``gather``: :class:`tfpipe.layers.IndexConv1D` as training
    runs it by default, the fused op of :mod:`tfpipe.ops.index_conv` where it runs;
    ``gather_keras``: the same layer in ``keras.ops``; ``one_hot``: ``OneHot`` + ``Conv1D``,
    :func:`tfpipe.layers.index_conv.one_hot_conv1d`), the time of
    ``conv1`` alone (with its ReLU), forward and backward: the gradient with respect to its kernel
    and bias for a fixed random upstream gradient, inside one ``tf.function``, the way a train step
    computes it (no gradient flows to the integer input).  Best and median of the timed repeats;
    ``one_hot_over_gather`` (``one_hot_over_gather_keras``) is the one-hot time over the gather
    time (best / best).  ``gather_implementation`` says whether ``gather`` ran the fused op, and
    ``gather_fused_note`` why not.
``train``
    per precision and first layer, whole-model ``train_on_batch`` examples/s (best and median
    step; SGD with momentum, sparse cross-entropy), GFLOP/s and the fraction of the matmul peak;
    ``gather_over_one_hot`` and ``gather_keras_over_one_hot`` (examples/s, best / best) per
    precision, and ``bf16_over_float32``
    per first layer.
``flops_per_example_*``
    ``forward``: the paper's model's FLOPs (:func:`tfpipe.models.char_cnn.flops_per_example`: 2 x
    multiply-adds of the convolutions and dense layers, conv1 counted as the one-hot convolution
    whichever layer computes it); ``train``: 3 x forward; ``train_exact``: minus conv1's input
    gradient, which training never computes; ``train_without_conv1``: the matrix products the
    gather model does (``train_exact`` minus conv1's forward and kernel-gradient products).

Fractions of peak: a float32 run's GFLOP/s (``train`` FLOPs) over the float32 matmul peak
(``fraction_of_peak``; ``_exact`` with ``train_exact``), a mixed_bfloat16 run's over the bfloat16
peak (and ``fraction_of_float32_peak``), best step over best peak, median over median
(``fraction_of_peak_median``) and per CPU second of the process (``fraction_of_peak_cpu_time``).
The peaks (``matmul_peak_gflops``, ``matmul_peak_bf16_gflops``) are the best rates of one
``n x n`` ``tf.matmul`` in a ``tf.function`` (``2 n^3`` FLOPs), sampled before the runs and after
every timed step (training or layer 1), so they see the machine as the runs do.

``targets``: layer 1 gather at least 5 x faster than one-hot (float32, each model), whole-model
char_cnn_small float32 training at least 1.25 x faster with the gather, and float32 training of
the small gather model at half the float32 peak; ``meets`` says which hold in this run.
``cpu``: the CPU model, its bfloat16-relevant flags (``tfpipe.training.devices.cpu_flags``, via
``benchmarks.feature_extraction.cpu_info``) and ``cpu_native_bf16``
(``tfpipe.training.devices.cpu_has_native_bf16``: mixed_bfloat16 runs in hardware).

On a shared machine every wall-clock figure moves with what else runs (the load average is
recorded before and after); runs of one model take turns step by step, so the same-run ratios
compare like with like, and the CPU-time fraction does not depend on load.  ``--quick``: a smoke
run (batch 16, one timed step, three layer-1 repeats; noisy figures).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

from tfpipe import cli  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = ("char_cnn_small", "char_cnn_large")
FIRST_LAYERS = ("gather", "gather_keras", "one_hot")
PRECISIONS = ("float32", "mixed_bfloat16")
AG_NEWS_TEST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
                            "ag_news", "test.csv")
TARGET_LAYER1 = 5.0  # one_hot / gather time of conv1 forward + backward
TARGET_TRAIN_SMALL = 1.25  # gather / one_hot examples/s, char_cnn_small float32
TARGET_FRACTION_OF_PEAK = 0.5


def _threads(args) -> None:
    import tensorflow as tf

    if args.intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    if args.inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)


class MatmulPeak:
    """Samples the rate of one ``n x n`` matmul inside a tf.function (``2 n^3`` FLOPs).

    Each sample records GFLOP per wall second and per CPU second of this
    process (``time.process_time``: all its threads); the best of every kind is kept.
    """

    def __init__(self, n: int = 2048, dtype: str = "float32"):
        import tensorflow as tf

        self.flops = 2 * n**3
        self.a = tf.cast(tf.random.normal([n, n]), dtype)
        self.b = tf.cast(tf.random.normal([n, n]), dtype)
        self.fn = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.matmul(a, b), "float32")))
        self.fn(self.a, self.b).numpy()
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def sample(self, trials: int = 1) -> None:
        for _ in range(trials):
            wall, cpu = time.perf_counter(), time.process_time()
            self.fn(self.a, self.b).numpy()
            self.wall.append(self.flops / (time.perf_counter() - wall) / 1e9)
            self.cpu.append(self.flops / max(time.process_time() - cpu, 1e-9) / 1e9)

    def summary(self) -> dict:
        return {"gflops": round(max(self.wall), 1), "gflops_median": round(statistics.median(self.wall), 1),
                "gflops_per_cpu_s": round(max(self.cpu), 1), "samples": len(self.wall)}


def batch(batch_size: int, l0: int, num_classes: int = 4):
    """``(chars uint8 [batch_size, l0], labels, source)``: AG's News test rows quantized with the
    paper's alphabet when the file is there, else seeded random indices (``source`` says which)."""
    import numpy as np

    path = os.path.normpath(AG_NEWS_TEST)
    if os.path.exists(path):
        import itertools

        import tensorflow as tf

        from tfpipe.data import corpora
        from tfpipe.text import alphabet
        from tfpipe.text.quantize import quantize

        classes = tuple(corpora.class_names("zhang_csv", [path]))
        items = corpora.read_file("zhang_csv", path, corpora.ReadOptions(classes, "utf-8"))
        rows = [item for item in itertools.islice(items, batch_size) if isinstance(item, corpora.RawExample)]
        if len(rows) == batch_size and len(classes) == num_classes:
            chars = quantize(tf.constant([r.text for r in rows]), alphabet.get("paper"), l0).numpy()
            labels = np.array([r.label for r in rows], dtype=np.int64)
            return chars, labels, f"ag_news test.csv, first {batch_size} rows, paper alphabet"
    rng = np.random.default_rng(0)
    chars = rng.integers(0, 71, size=(batch_size, l0), dtype=np.uint8)
    labels = rng.integers(0, num_classes, size=(batch_size,))
    return chars, labels, "random indices 0..70 (AG's News test.csv not found)"


def _timed(fn, steps: int, warmup: int, between_steps) -> dict:
    """Wall and CPU seconds of ``steps`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        between_steps()
    return {"walls": walls, "cpus": cpus}


def layer1_runner(name: str, first_layer: str, precision: str, chars):
    """A ``tf.function`` computing conv1 of ``name`` (with its ReLU) on ``chars`` and the gradient
    of its kernel and bias for a fixed random upstream gradient; returns a callable that runs it."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfpipe.layers.index_conv import one_hot_conv1d
    from tfpipe.models import char_cnn

    sizes = char_cnn.VARIANTS[name][0]
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        inputs = keras.Input(shape=(chars.shape[1],), dtype="uint8", name="chars")
        out = one_hot_conv1d(inputs, first_layer=first_layer, vocab_size=char_cnn.PAPER_ALPHABET_SIZE,
                             filters=sizes["conv_features"], kernel_size=char_cnn.KERNEL_SIZES[0],
                             activation="relu", kernel_initializer=char_cnn.gaussian(sizes["init_std"]),
                             name="conv1")
        model = keras.Model(inputs, out)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    shape = (chars.shape[0], chars.shape[1] - char_cnn.KERNEL_SIZES[0] + 1, sizes["conv_features"])
    upstream = tf.constant(np.random.default_rng(1).normal(size=shape), dtype=model.outputs[0].dtype)
    x = tf.constant(chars)
    variables = model.trainable_variables

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = model(x, training=True)
        return tape.gradient(y, variables, output_gradients=upstream)

    def run():
        return [g.numpy() for g in step()]

    run.conv1 = model.get_layer("conv1")
    return run


def train_runner(name: str, first_layer: str, precision: str, chars, labels, jit_compile: bool):
    """A fresh ``name`` model under ``precision``; returns a callable doing one ``train_on_batch``."""
    import keras
    import numpy as np

    from tfpipe import models

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        # The fused op has no XLA kernel: an XLA-compiled step computes the gather in keras.ops.
        built = "gather_keras" if jit_compile and first_layer == "gather" else first_layer
        model = models.build(name, num_classes=4, l0=chars.shape[1], first_layer=built)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                      loss="sparse_categorical_crossentropy", jit_compile=jit_compile)
    finally:
        keras.mixed_precision.set_global_policy(previous)

    def step():
        loss = model.train_on_batch(chars, labels)
        if not np.isfinite(loss):
            raise RuntimeError(f"{name} {first_layer} {precision}: loss became {loss}")

    return step


def _interleaved(runners: dict, steps: int, warmup: int, between_steps) -> dict:
    """Times every runner ``steps`` times, the runners taking turns step by step."""
    for fn in runners.values():
        for _ in range(warmup):
            fn()
    times = {key: {"walls": [], "cpus": []} for key in runners}
    for _ in range(steps):
        for key, fn in runners.items():
            t = _timed(fn, 1, 0, between_steps)
            times[key]["walls"] += t["walls"]
            times[key]["cpus"] += t["cpus"]
    return times


def flops(name: str, l0: int) -> dict:
    """The model's FLOPs per example (the module docstring's ``flops_per_example_*``)."""
    from tfpipe.models import char_cnn

    sizes = char_cnn.VARIANTS[name][0]
    forward = char_cnn.flops_per_example({"model": name, "num_classes": 4, "l0": l0})
    conv1 = 2 * (l0 - char_cnn.KERNEL_SIZES[0] + 1) * char_cnn.KERNEL_SIZES[0] * char_cnn.PAPER_ALPHABET_SIZE \
        * sizes["conv_features"]
    train = 3 * forward
    return {"forward": forward, "train": train, "train_exact": train - conv1,
            "train_without_conv1": train - 3 * conv1}


def measure(args) -> dict:
    import tensorflow as tf

    from benchmarks.feature_extraction import cpu_info
    from tfpipe.training import devices

    _threads(args)
    started, load_before = time.time(), [round(v, 2) for v in os.getloadavg()]
    chars, labels, source = batch(args.batch_size, args.l0)
    peaks = {"float32": MatmulPeak(args.matmul_n), "bfloat16": MatmulPeak(args.matmul_n, "bfloat16")}

    def sample_peaks():
        for peak in peaks.values():
            peak.sample()

    for _ in range(args.matmul_trials):
        sample_peaks()
    result = {
        "benchmark": "train_throughput",
        "data": source,
        "l0": args.l0,
        "batch_size": args.batch_size,
        "steps_timed": args.steps,
        "layer1_repeats": args.layer1_repeats,
        "jit_compile": args.jit_compile,
        "cpu": {**cpu_info(), "cpu_native_bf16": devices.cpu_has_native_bf16()},
    }
    runs = [(p, f) for p in args.precisions for f in args.first_layers]
    for name in args.models:
        runners = {run: layer1_runner(name, run[1], run[0], chars) for run in runs}
        layer1 = _interleaved(runners, args.layer1_repeats, 1, sample_peaks)
        gathers = {p: runners[(p, f)].conv1 for p, f in runs if f == "gather"}
        implementation = {
            "gather_implementation": {p: "fused" if c.fused_note == "" else "keras" for p, c in gathers.items()},
            "gather_fused_note": {p: c.fused_note for p, c in gathers.items() if c.fused_note}}
        times = _interleaved({run: train_runner(name, run[1], run[0], chars, labels, args.jit_compile)
                              for run in runs}, args.steps, args.warmup, sample_peaks)
        result[name] = {"flops_per_example": flops(name, args.l0), "layer1": layer1, "train": times,
                        "implementation": implementation}
    result["matmul_peak"] = {dtype: peak.summary() for dtype, peak in peaks.items()}
    for name in args.models:
        result[name] = _summarize(result[name], args, result["matmul_peak"], peaks)
    result["targets"] = _targets(result, args)
    result["env"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "wall_s": round(time.time() - started, 1),
        "tensorflow": tf.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "python": platform.python_version(),
    }
    return result


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3)


def _summarize(raw: dict, args, summary: dict, peaks: dict) -> dict:
    """Seconds and rates rounded, ratios and fractions of peak (the module docstring)."""
    count = raw["flops_per_example"]
    layer1: dict = {}
    for (precision, first_layer), t in raw["layer1"].items():
        layer1.setdefault(precision, {})[first_layer] = {
            "fwd_bwd_s_best": round(min(t["walls"]), 4), "fwd_bwd_s_median": round(statistics.median(t["walls"]), 4),
            "fwd_bwd_cpu_s_best": round(min(t["cpus"]), 4)}
    for rows in layer1.values():
        for gather in ("gather", "gather_keras"):
            if {gather, "one_hot"} <= set(rows):
                rows[f"one_hot_over_{gather}"] = _ratio(rows["one_hot"]["fwd_bwd_s_best"],
                                                        rows[gather]["fwd_bwd_s_best"])
                rows[f"one_hot_over_{gather}_cpu_time"] = _ratio(rows["one_hot"]["fwd_bwd_cpu_s_best"],
                                                                 rows[gather]["fwd_bwd_cpu_s_best"])
    f32_best, f32_median, f32_cpu = max(peaks["float32"].wall), statistics.median(peaks["float32"].wall), \
        max(peaks["float32"].cpu)
    train: dict = {}
    for (precision, first_layer), t in raw["train"].items():
        peak = peaks["float32" if precision == "float32" else "bfloat16"]
        best, median, best_cpu = max(peak.wall), statistics.median(peak.wall), max(peak.cpu)
        rate = args.batch_size / min(t["walls"])
        rate_median = args.batch_size / statistics.median(t["walls"])
        rate_cpu = args.batch_size / min(t["cpus"])
        gflops, gflops_median, gflops_cpu = (r * count["train"] / 1e9 for r in (rate, rate_median, rate_cpu))
        row = {
            "step_s_best": round(min(t["walls"]), 3), "step_s_median": round(statistics.median(t["walls"]), 3),
            "examples_per_s": round(rate, 3), "examples_per_s_median": round(rate_median, 3),
            "examples_per_cpu_s": round(rate_cpu, 3),
            "gflops": round(gflops, 1), "gflops_median": round(gflops_median, 1),
            "gflops_per_cpu_s": round(gflops_cpu, 1),
            "fraction_of_peak": round(gflops / best, 3),
            "fraction_of_peak_exact": round(gflops * count["train_exact"] / count["train"] / best, 3),
            "fraction_of_peak_median": round(gflops_median / median, 3),
            "fraction_of_peak_cpu_time": round(gflops_cpu / best_cpu, 3),
        }
        if precision != "float32":
            row["fraction_of_float32_peak"] = round(gflops / f32_best, 3)
            row["fraction_of_float32_peak_median"] = round(gflops_median / f32_median, 3)
            row["fraction_of_float32_peak_cpu_time"] = round(gflops_cpu / f32_cpu, 3)
        train.setdefault(precision, {})[first_layer] = row
    for rows in train.values():
        for gather in ("gather", "gather_keras"):
            if {gather, "one_hot"} <= set(rows):
                rows[f"{gather}_over_one_hot"] = _ratio(rows[gather]["examples_per_s"],
                                                        rows["one_hot"]["examples_per_s"])
                rows[f"{gather}_over_one_hot_cpu_time"] = _ratio(rows[gather]["examples_per_cpu_s"],
                                                                 rows["one_hot"]["examples_per_cpu_s"])
    if "float32" in train:
        for precision in [p for p in train if p != "float32"]:
            train["bf16_over_float32"] = {
                first_layer: _ratio(train[precision][first_layer]["examples_per_s"],
                                    train["float32"][first_layer]["examples_per_s"])
                for first_layer in args.first_layers}
    return {"flops_per_example": count, "layer1": layer1, "train": train, **raw.get("implementation", {})}


def _targets(result: dict, args) -> dict:
    """The issue's targets and whether this run meets them (None where a run is missing)."""
    def get(*keys):
        node = result
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    meets = {}
    for name in MODELS:
        ratio = get(name, "layer1", "float32", "one_hot_over_gather")
        meets[f"{name}_layer1"] = None if ratio is None else ratio >= TARGET_LAYER1
    ratio = get("char_cnn_small", "train", "float32", "gather_over_one_hot")
    meets["char_cnn_small_train"] = None if ratio is None else ratio >= TARGET_TRAIN_SMALL
    fraction = get("char_cnn_small", "train", "float32", "gather", "fraction_of_peak")
    meets["char_cnn_small_fraction_of_peak"] = None if fraction is None else fraction >= TARGET_FRACTION_OF_PEAK
    return {"layer1_one_hot_over_gather": TARGET_LAYER1, "char_cnn_small_train_gather_over_one_hot":
            TARGET_TRAIN_SMALL, "fraction_of_peak": TARGET_FRACTION_OF_PEAK, "meets": meets}


def parse_args(argv=None):
    p = cli.ArgumentParser(prog="python -m benchmarks.train_throughput", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="batch 16, one timed step, three layer-1 repeats (a smoke run, noisier figures)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--first_layers", nargs="+", default=list(FIRST_LAYERS), choices=FIRST_LAYERS)
    p.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    p.add_argument("--steps", type=int, default=None, help="timed train steps per run (default 5, quick 1)")
    p.add_argument("--layer1_repeats", type=int, default=None, help="timed layer-1 repeats (default 8, quick 3)")
    p.add_argument("--warmup", type=int, default=2, help="untimed train steps first (graph building, caches)")
    p.add_argument("--batch_size", type=int, default=None, help="default 128 (the paper's), quick 16")
    p.add_argument("--l0", type=int, default=1014, help="input length (the paper's 1014)")
    p.add_argument("--jit_compile", action="store_true",
                   help="compile the train step with XLA (slower on this CPU; the fused gather op has no XLA "
                        "kernel, so the whole-model gather runs are gather_keras then)")
    p.add_argument("--matmul_n", type=int, default=2048, help="matrix size of the peak measurement")
    p.add_argument("--matmul_trials", type=int, default=5, help="peak samples before the runs")
    p.add_argument("--intra_op", type=int, default=0, help="TF intra-op threads (0: TF's default)")
    p.add_argument("--inter_op", type=int, default=0, help="TF inter-op threads (0: TF's default)")
    p.add_argument("--out", default=None, help="also write the JSON, indented, to this file")
    args = p.parse_args(argv)
    if args.steps is None:
        args.steps = 1 if args.quick else 5
    if args.layer1_repeats is None:
        args.layer1_repeats = 3 if args.quick else 8
    if args.batch_size is None:
        args.batch_size = 16 if args.quick else 128
    if args.quick:
        args.warmup = min(args.warmup, 1)
        args.matmul_trials = min(args.matmul_trials, 2)
        args.matmul_n = min(args.matmul_n, 1024)
    for key in ("steps", "layer1_repeats", "batch_size", "matmul_n", "matmul_trials"):
        if getattr(args, key) < 1:
            p.error(f"--{key} must be at least 1, got {getattr(args, key)}")
    from tfpipe.models import char_cnn

    if args.l0 < char_cnn.min_l0():
        p.error(f"--l0 must be at least {char_cnn.min_l0()} (the convolution stack), got {args.l0}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = measure(args)
    print(json.dumps(result, sort_keys=False))
    if args.out:
        from benchmarks import output

        output.write(result, args.out)
    return result


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
