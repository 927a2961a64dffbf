"""Char-CNN small training throughput on this CPU, float32 and mixed_bfloat16,
against a float32 matmul peak measured in the same run.

    python -m benchmarks.train_throughput [--quick] [--steps N] [--batch_size 128]

Prints one JSON line:
  ``flops_per_example_forward``  analytic forward FLOPs (2 x multiply-adds of convs + dense)
  ``flops_per_example_train``    3 x forward (forward + two backward products per layer)
  ``flops_per_example_train_exact``  the same minus conv1's input gradient, which
      training never computes (the one-hot input has no trainable parent)
  ``matmul_peak_gflops``         best float32 ``tf.matmul`` rate (n x n, in a tf.function),
                                 sampled before the runs and after every timed step
  per precision: examples/s (best and median step), GFLOP/s and the fraction of
  the matmul peak: best step / best peak (``fraction_of_peak``, with 3 x forward
  FLOPs; ``fraction_of_peak_exact`` with the exact count), median / median, and
  per CPU second (``fraction_of_peak_cpu_time``: GFLOP per CPU second of the
  process, training against matmul).

Step times are taken one ``train_on_batch`` at a time after a warm-up, and a
matmul peak sample follows every step, so training and peak see the same
machine load.  On a shared machine the wall-clock figures depend on what else
runs (the load average is recorded): a 0.1 s matmul catches moments with both
cores free far more often than a multi-second training step, so best/best
understates training under load.  The CPU-time fraction does not depend on
load (it compares work per CPU second actually received) and is the figure
to trust there; on an idle machine the two agree.
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
        self.fn = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
        self.fn(self.a, self.b).numpy()
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def sample(self, trials: int = 2) -> None:
        for _ in range(trials):
            wall, cpu = time.perf_counter(), time.process_time()
            self.fn(self.a, self.b).numpy()
            self.wall.append(self.flops / (time.perf_counter() - wall) / 1e9)
            self.cpu.append(self.flops / max(time.process_time() - cpu, 1e-9) / 1e9)


def train_rate(precision: str, *, batch_size: int, steps: int, warmup: int, jit_compile: bool,
               l0: int = 1014, num_classes: int = 4, between_steps=None) -> dict:
    """Step times of char_cnn_small under ``precision`` (a fresh model).

    ``between_steps``, if given, is called after every timed step (the peak
    measurement interleaves with training so both see the same machine load).
    Returns examples/s of the best and the median step, wall clock, and
    examples per CPU second of the step with the least CPU time.
    """
    import keras
    import numpy as np

    from tfpipe import models

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        model = models.build("char_cnn_small", num_classes=num_classes, l0=l0)
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            jit_compile=jit_compile,
        )
        rng = np.random.default_rng(0)
        x = rng.integers(0, 71, size=(batch_size, l0), dtype=np.uint8)
        y = rng.integers(0, num_classes, size=(batch_size,))
        for _ in range(warmup):
            model.train_on_batch(x, y)
        walls, cpus = [], []
        for _ in range(steps):
            wall, cpu = time.perf_counter(), time.process_time()
            loss = model.train_on_batch(x, y)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            if between_steps is not None:
                between_steps()
        if not np.isfinite(loss):
            raise RuntimeError(f"{precision}: loss became {loss}")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return {
        "step_s_best": min(walls),
        "step_s_median": statistics.median(walls),
        "examples_per_s": batch_size / min(walls),
        "examples_per_s_median": batch_size / statistics.median(walls),
        "examples_per_cpu_s": batch_size / min(cpus),
    }


def measure(args) -> dict:
    import tensorflow as tf

    from tfpipe.models import char_cnn

    _threads(args)
    forward = char_cnn.flops_per_example({"num_classes": 4, "l0": args.l0})
    conv1_input_grad = 2 * (args.l0 - 6) * 7 * 70 * 256
    train_nominal = 3 * forward
    train_exact = train_nominal - conv1_input_grad

    peak = MatmulPeak(args.matmul_n)
    peak.sample(args.matmul_trials)
    result = {
        "benchmark": "train_throughput",
        "model": "char_cnn_small",
        "l0": args.l0,
        "batch_size": args.batch_size,
        "steps_timed": args.steps,
        "jit_compile": args.jit_compile,
        "flops_per_example_forward": forward,
        "flops_per_example_train": train_nominal,
        "flops_per_example_train_exact": train_exact,
    }
    for precision in args.precisions:
        result[precision] = train_rate(
            precision, batch_size=args.batch_size, steps=args.steps, warmup=args.warmup,
            jit_compile=args.jit_compile, l0=args.l0, between_steps=peak.sample,
        )
    best, median, best_cpu = max(peak.wall), statistics.median(peak.wall), max(peak.cpu)
    result["matmul_peak_gflops"] = round(best, 1)
    result["matmul_peak_gflops_median"] = round(median, 1)
    result["matmul_peak_gflops_per_cpu_s"] = round(best_cpu, 1)
    result["matmul_peak_samples"] = len(peak.wall)
    if args.bf16_peak:
        bf16 = MatmulPeak(args.matmul_n, "bfloat16")
        bf16.sample(args.matmul_trials)
        result["matmul_peak_bf16_gflops"] = round(max(bf16.wall), 1)
        result["matmul_peak_bf16_gflops_per_cpu_s"] = round(max(bf16.cpu), 1)
    for precision in args.precisions:
        rate = result[precision]
        gflops = rate["examples_per_s"] * train_nominal / 1e9
        gflops_median = rate["examples_per_s_median"] * train_nominal / 1e9
        gflops_cpu = rate["examples_per_cpu_s"] * train_nominal / 1e9
        rate.update(
            gflops=round(gflops, 1),
            gflops_median=round(gflops_median, 1),
            gflops_per_cpu_s=round(gflops_cpu, 1),
            fraction_of_peak=round(gflops / best, 3),
            fraction_of_peak_exact=round(gflops * train_exact / train_nominal / best, 3),
            fraction_of_peak_median=round(gflops_median / median, 3),
            fraction_of_peak_cpu_time=round(gflops_cpu / best_cpu, 3),
        )
        for key in ("step_s_best", "step_s_median", "examples_per_s", "examples_per_s_median",
                    "examples_per_cpu_s"):
            rate[key] = round(rate[key], 3)
    # The target compares like with like: float32 training against the float32 peak.
    fp32 = result.get("float32")
    result["target_fraction_of_peak"] = 0.5
    result["meets_target"] = None if fp32 is None else fp32["fraction_of_peak"] >= 0.5
    result["env"] = {
        "cpus": os.cpu_count(),
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "tensorflow": tf.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "python": platform.python_version(),
    }
    return result


def parse_args(argv=None):
    p = cli.ArgumentParser(prog="python -m benchmarks.train_throughput", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few steps (a smoke run, noisier figures)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per precision (default 8, quick 2)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (graph building, caches)")
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--l0", type=int, default=1014)
    p.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    p.add_argument("--jit_compile", action="store_true",
                   help="compile the train step with XLA (slower on this CPU; see the issue note)")
    p.add_argument("--matmul_n", type=int, default=2048, help="matrix size of the peak measurement")
    p.add_argument("--matmul_trials", type=int, default=5)
    p.add_argument("--bf16_peak", action="store_true", help="also measure a bfloat16 matmul peak")
    p.add_argument("--intra_op", type=int, default=0, help="TF intra-op threads (0: TF's default)")
    p.add_argument("--inter_op", type=int, default=0, help="TF inter-op threads (0: TF's default)")
    args = p.parse_args(argv)
    if args.steps is None:
        args.steps = 2 if args.quick else 8
    if args.quick:
        args.warmup = min(args.warmup, 1)
        args.matmul_trials = min(args.matmul_trials, 3)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = measure(args)
    print(json.dumps(result, sort_keys=False))
    return result


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
