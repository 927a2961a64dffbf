"""SJE Char-CNN-RNN: text-encoder training examples/s through the task's model beside a plain
Keras model of the same layers (float32 and mixed_bfloat16), and zero-shot evaluation time.

    python -m benchmarks.sje_throughput [--steps N] [--batch 40] [--warmup 2]
                                        [--config configs/sje_char_cnn_rnn_flowers102.yaml]
                                        [--data_dir DIR] [--run_dir DIR] [--out FILE.json]

Prints one JSON object:

* ``training``: per dtype policy (``float32``, ``mixed_bfloat16``; set with
  ``tfpipe.training.devices.set_precision`` before each model is built, the previous global
  policy restored at the end) two compiled models trained on the same random batch
  (``chars`` uint8 ``[B, 201]`` in 1..70, ``features`` float32 ``[B, 1280]``):

  - ``tfpipe``: the task's model, ``joint_embedding.model.build_text_model`` (the registered
    ``char_cnn_rnn`` encoder) -> ``build_model`` (``[v | phi]``), ``uniform_init``, loss
    ``SJELoss(form="code", symmetric=True)`` (DS-SJE), ``make_optimizer`` (RMSprop) of
    ``--config``;
  - ``plain``: the same layers written here with ``keras.layers`` only (one-hot by
    ``keras.ops.one_hot`` in a small layer, Conv1D 384 k4 relu, MaxPool 3/3, Conv1D 512 k4 relu,
    MaxPool 3/3, Conv1D 256 k4 relu, MaxPool 3/2, SimpleRNN 256 relu with every output,
    GlobalAveragePooling1D, Dense 1280, float32 concatenation with ``features``), the same
    uniform +-0.08 initialisation, the same loss and a fresh optimizer of the same kind.

  Both are compiled with Keras' defaults otherwise (``jit_compile`` as resolved is reported).
  Each model makes ``--warmup`` ``train_on_batch`` calls (the first traces and compiles), then
  ``--steps`` timed calls, the two models taking turns step by step so that both see the same
  machine load.  ``examples_per_s`` is ``B`` over the median step time; ``examples_per_cpu_s``
  is ``B`` over the median process CPU time of a step (all threads: less sensitive to what else
  runs on a shared machine).  Ratios: ``tfpipe_over_plain`` per policy and
  ``bf16_over_float32`` per model (>1 means faster).

* ``zero_shot``: the test split of ``--data_dir`` (``read_split``), its classes and random
  class embeddings ``[C, D]`` (seeded normal; or, when ``--run_dir/final/text_encoder.keras``
  exists, also the task's own ``evaluate`` of that trained model, reporting its
  ``zero_shot_eval_time_s`` and ``eval_time_s``).  ``evaluation.zero_shot`` (scores, top-1,
  per-class top-1, Reed's precision@50 and AP@50) and ``metrics.zero_shot_top1`` on the score
  matrix are timed beside a naive per-image Python loop computing the same top-1 (one
  ``class_emb @ x_i`` per image, a tie for the top counting as wrong as in ``metrics``); the
  median of ``--eval_repeats`` runs each.  The top-1 of all three must agree.  Missing data is
  ``{"skipped": reason}``.

``cpu``: the CPU model and the flags that matter to bfloat16 (``benchmarks.feature_extraction
.cpu_info``); without AVX512-BF16 or AMX-BF16 TensorFlow emulates bfloat16 arithmetic on the
CPU and mixed_bfloat16 is expected to be slower than float32 (the ``note`` says so).  Every
figure moves with the load of a shared machine (``env`` records the load average).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import gc
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

DEFAULT_CONFIG = os.path.join("configs", "sje_char_cnn_rnn_flowers102.yaml")
DEFAULT_RUN_DIR = os.path.join("artifacts", "runs", "sje_char_cnn_rnn_flowers102")
POLICIES = ("float32", "mixed_bfloat16")
L0, ALPHABET, DIM = 201, 70, 1280
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "avx512f", "avx2")


def log(message: str) -> None:
    print(f"[sje_throughput] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the two models


def tfpipe_model(cfg):
    """The task's training model, loss and optimizer (as ``JointEmbedding.build`` makes them)."""
    from tfpipe.tasks.joint_embedding import model as model_lib
    from tfpipe.tasks.joint_embedding.keys import model_key

    text_model = model_lib.build_text_model(cfg, dim=DIM, vocab=None, vectors=None, vector_dim=None,
                                            num_attributes=None)
    model = model_lib.build_model(cfg, text_model, dim=DIM)
    model_lib.uniform_init(model, float(model_key(cfg, "init_range")), cfg.train.seed)
    loss = model_lib.SJELoss(DIM, symmetric=True, form="code")
    model.compile(optimizer=model_lib.make_optimizer(cfg), loss=loss)
    return model


def plain_model(cfg):
    """The same layers in plain Keras, the same loss and optimizer kind."""
    import keras
    from keras import ops

    from tfpipe.tasks.joint_embedding import model as model_lib
    from tfpipe.tasks.joint_embedding.keys import model_key

    class PlainOneHot(keras.layers.Layer):
        """chars 1..depth -> columns 0..depth-1 (0 -> the zero row: one_hot of -1)."""

        def __init__(self, depth, **kwargs):
            super().__init__(**kwargs)
            self.depth = depth

        def call(self, x):
            return ops.one_hot(ops.cast(x, "int32") - 1, self.depth, dtype=self.compute_dtype)

    r = float(model_key(cfg, "init_range"))
    init = keras.initializers.RandomUniform(-r, r, seed=cfg.train.seed)
    conv = dict(padding="valid", activation="relu", kernel_initializer=init, bias_initializer="zeros")
    chars = keras.Input(shape=(L0,), dtype="uint8", name="chars")
    features = keras.Input(shape=(DIM,), name="features")
    h = PlainOneHot(ALPHABET)(chars)
    h = keras.layers.Conv1D(384, 4, **conv)(h)
    h = keras.layers.MaxPooling1D(3, 3)(h)
    h = keras.layers.Conv1D(512, 4, **conv)(h)
    h = keras.layers.MaxPooling1D(3, 3)(h)
    h = keras.layers.Conv1D(256, 4, **conv)(h)
    h = keras.layers.MaxPooling1D(3, 2)(h)
    h = keras.layers.SimpleRNN(256, activation="relu", return_sequences=True, kernel_initializer=init,
                               recurrent_initializer=init, bias_initializer="zeros")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    phi = keras.layers.Dense(DIM, kernel_initializer=init, bias_initializer="zeros")(h)
    out = keras.layers.Concatenate(axis=-1, dtype="float32")([features, phi])
    model = keras.Model({"features": features, "chars": chars}, out, name="plain_char_cnn_rnn")
    loss = model_lib.SJELoss(DIM, symmetric=True, form="code")
    model.compile(optimizer=model_lib.make_optimizer(cfg), loss=loss)
    return model


def first_conv(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv1D):
            return layer
        if isinstance(layer, keras.Model):
            return first_conv(layer)
    raise ValueError(f"{model.name} has no Conv1D")


def batch(size: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = {"features": rng.standard_normal((size, DIM)).astype(np.float32),
         "chars": rng.integers(1, ALPHABET + 1, size=(size, L0)).astype(np.uint8)}
    return x, np.zeros((size, 1), np.float32)


def time_policy(cfg, policy: str, *, batch_size: int, steps: int, warmup: int, seed: int) -> dict[str, Any]:
    """Both models under ``policy``: warm-up, then ``steps`` timed steps taking turns."""
    import tensorflow as tf

    from tfpipe.training import devices

    devices.set_precision(policy)
    x, y = batch(batch_size, seed)
    models = {"tfpipe": tfpipe_model(cfg), "plain": plain_model(cfg)}
    x = {name: {k: tf.constant(v) for k, v in x.items()} for name in models}
    y = tf.constant(y)
    figures: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        started = time.perf_counter()
        for _ in range(warmup):
            loss = model.train_on_batch(x[name], y)
        figures[name] = {"params": int(model.count_params()), "warmup_s": round(time.perf_counter() - started, 2),
                         "jit_compile": bool(getattr(model, "jit_compile", False)),
                         "loss_after_warmup": float(np.asarray(loss)), "step_s": [], "cpu_s": []}
    for i in range(steps):
        for name, model in models.items():
            wall, cpu = time.perf_counter(), time.process_time()
            model.train_on_batch(x[name], y)
            figures[name]["step_s"].append(time.perf_counter() - wall)
            figures[name]["cpu_s"].append(time.process_time() - cpu)
        log(f"{policy}: step {i + 1}/{steps}: " + ", ".join(f"{n} {f['step_s'][-1]:.2f} s" for n, f in figures.items()))
    for name, f in figures.items():
        step, cpu = statistics.median(f["step_s"]), statistics.median(f["cpu_s"])
        f.update(examples_per_s=round(batch_size / step, 2), examples_per_cpu_s=round(batch_size / cpu, 2),
                 median_step_s=round(step, 4), best_step_s=round(min(f["step_s"]), 4),
                 median_cpu_s_per_step=round(cpu, 4))
        f["conv_compute_dtype"] = first_conv(models[name]).compute_dtype
        del f["step_s"], f["cpu_s"]
    figures["tfpipe_over_plain"] = {
        "examples_per_s": round(figures["tfpipe"]["examples_per_s"] / figures["plain"]["examples_per_s"], 3),
        "examples_per_cpu_s": round(figures["tfpipe"]["examples_per_cpu_s"] / figures["plain"]["examples_per_cpu_s"], 3)}
    del models
    gc.collect()
    return figures


def training(args, cfg) -> dict[str, Any]:
    import keras

    before = keras.config.dtype_policy().name
    out: dict[str, Any] = {"batch": args.batch, "steps": args.steps, "warmup": args.warmup, "l0": L0,
                           "alphabet": ALPHABET, "dim": DIM, "loss": "DS-SJE, code form",
                           "optimizer": "RMSprop (joint_embedding.model.make_optimizer)"}
    try:
        for policy in POLICIES:
            out[policy] = time_policy(cfg, policy, batch_size=args.batch, steps=args.steps, warmup=args.warmup,
                                      seed=args.seed)
    finally:
        keras.config.set_dtype_policy(before)
    out["policy_restored"] = keras.config.dtype_policy().name
    out["bf16_over_float32"] = {
        name: {k: round(out["mixed_bfloat16"][name][k] / out["float32"][name][k], 3)
               for k in ("examples_per_s", "examples_per_cpu_s")}
        for name in ("tfpipe", "plain")}
    return out


# --------------------------------------------------------------------------- zero-shot evaluation


def naive_top1(x: np.ndarray, y: np.ndarray, class_emb: np.ndarray) -> float:
    """Top-1 one image at a time; a tie for the top score counts as wrong (as ``metrics``)."""
    correct = 0
    for i in range(len(x)):
        s = class_emb @ x[i]
        top = s[y[i]]
        if not (s > top).any() and int((s == top).sum()) == 1:
            correct += 1
    return correct / len(x)


def timed(fn, repeats: int) -> tuple[Any, float]:
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return out, statistics.median(times)


def zero_shot(args) -> dict[str, Any]:
    from tfpipe import metrics
    from tfpipe.data.feature_records import read_split
    from tfpipe.tasks import joint_embedding
    from tfpipe.tasks.joint_embedding import evaluation
    from tfpipe.training import datasets

    if not os.path.exists(os.path.join(args.data_dir, "manifest.json")):
        return {"skipped": f"no features data at {args.data_dir} (manifest.json missing): README "
                           "'Zero-shot from descriptions' makes it"}
    data = datasets.open_data(args.data_dir)
    if "test" not in data.manifest.splits:
        return {"skipped": f"{args.data_dir} has no test split"}
    started = time.perf_counter()
    with datasets.reading(data, ["test"]):
        x, y = read_split(data, "test", batch_size=1024, verify="size")
    read_s = time.perf_counter() - started
    classes = joint_embedding.split_classes(data.manifest, "test")
    keep = np.isin(y, classes)
    x, y = x[keep], joint_embedding.positions(y[keep], classes)
    rng = np.random.default_rng(args.seed)
    class_emb = rng.standard_normal((len(classes), x.shape[1])).astype(np.float32)
    reps = args.eval_repeats
    full, full_s = timed(lambda: evaluation.zero_shot(x, y, class_emb), reps)
    top1_vec, top1_vec_s = timed(lambda: metrics.zero_shot_top1(x @ class_emb.T, y)["accuracy"], reps)
    top1_naive, naive_s = timed(lambda: naive_top1(x, y, class_emb), reps)
    out: dict[str, Any] = {
        "data_dir": args.data_dir, "split": "test", "images": int(len(y)), "classes": len(classes),
        "dim": int(x.shape[1]), "read_split_s": round(read_s, 3), "class_embeddings": "random normal (seeded)",
        "repeats": reps,
        "evaluation_zero_shot_s": round(full_s, 5), "evaluation_zero_shot_metrics": full,
        "vectorised_top1_s": round(top1_vec_s, 5), "naive_loop_top1_s": round(naive_s, 5),
        "top1": {"evaluation": full["top1"], "vectorised": top1_vec, "naive_loop": top1_naive},
        "top1_agree": bool(full["top1"] == top1_vec == top1_naive),
        "ratio_naive_over_evaluation_zero_shot": round(naive_s / full_s, 2),
        "ratio_naive_over_vectorised_top1": round(naive_s / top1_vec_s, 2),
        "note": "evaluation.zero_shot also computes per-class top-1, precision@50 and AP@50, the naive loop "
                "only top-1: ratio_naive_over_vectorised_top1 compares like with like; the times are "
                "milliseconds on a shared machine and move from run to run",
    }
    final = os.path.join(args.run_dir, joint_embedding.FINAL_DIR)
    if os.path.exists(os.path.join(final, "text_encoder.keras")) and os.path.exists(os.path.join(final, "config.yaml")):
        from tfpipe import tasks
        from tfpipe.training import runs

        log(f"task evaluate of the trained model in {final}")
        r = tasks.get("joint_embedding").evaluate(final, runs.load_config(final), data_dir=args.data_dir, split="test")
        out["trained_run"] = {"model_dir": final, "zero_shot_eval_time_s": round(r["zero_shot_eval_time_s"], 3),
                              "eval_time_s": round(r["eval_time_s"], 3), "metrics": r["metrics"],
                              "images": r["images"], "classes": r["classes"], "texts": r["texts"]}
    else:
        out["trained_run"] = {"skipped": f"no trained run at {final} (text_encoder.keras, config.yaml)"}
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m benchmarks.sje_throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5,
                   help="timed train_on_batch steps per model and policy (5: about 3 minutes on 2 busy "
                        "cores without bf16 hardware, where a bf16 step takes ~8 s)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (the first compiles)")
    p.add_argument("--batch", type=int, default=40, help="batch size (the task's batch_classes: 40)")
    p.add_argument("--config", default=os.path.join(ROOT, DEFAULT_CONFIG), help="the task config (optimizer, init)")
    p.add_argument("--data_dir", default=None, help="features data directory (default: the config's data.dir)")
    p.add_argument("--run_dir", default=os.path.join(ROOT, DEFAULT_RUN_DIR))
    p.add_argument("--eval_repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip_training", action="store_true")
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    for name in ("steps", "warmup", "batch", "eval_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.batch < 2:
        p.error("--batch must be >= 2 (the SJE loss compares the classes of a batch)")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    started, loadavg = time.time(), list(os.getloadavg())
    args = parse_args(argv)
    from tfpipe import config as config_lib

    cfg = config_lib.load(args.config)
    if args.data_dir is None:
        d = cfg.data.dir
        args.data_dir = d if os.path.isabs(d) else os.path.join(ROOT, d)
    cpu = cpu_info()
    flags = {f: cpu.get(f) for f in BF16_FLAGS}
    note = ("this CPU has AVX512-BF16 or AMX-BF16: bfloat16 runs in hardware" if cpu["bf16_in_hardware"] else
            "this CPU has neither AVX512-BF16 nor AMX-BF16"
            + ("" if cpu.get("avx512f") else " (nor AVX-512)")
            + ": TensorFlow has no native bfloat16 arithmetic here and emulates it in software, so mixed_bfloat16 "
              "is expected to be slower than float32 here; its figures say nothing about bf16 hardware")
    result: dict[str, Any] = {"benchmark": "sje_throughput", "encoder": "char_cnn_rnn",
                              "cpu": {"model": cpu["model"], "cores": cpu["cores"], **flags,
                                      "bf16_in_hardware": cpu["bf16_in_hardware"]},
                              "note": note}
    if args.skip_training:
        result["training"] = {"skipped": "--skip_training"}
    else:
        result["training"] = training(args, cfg)
    result["zero_shot"] = zero_shot(args)
    result["env"] = output.environment(started, loadavg)
    return output.emit(result, args.out)


if __name__ == "__main__":
    main()
