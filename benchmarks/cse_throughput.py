"""CSE retrieval (You et al. 2018): training pairs/s on the cached stride-16 maps beside a plain
end-to-end Keras model of the same towers on raw images, float32 against mixed_bfloat16, and the
time of the retrieval evaluation (embedding, global R@K, the Table 4 fusion table).

    python -m benchmarks.cse_throughput [--steps 2] [--warmup 0] [--batch_size 128] [--max_words N]
                                        [--bf16_batch_size N] [--bf16_end_to_end] [--skip_bf16]
                                        [--skip_end_to_end] [--skip_unchunked] [--config configs/cse_flickr8k.yaml]
                                        [--eval_repeats 1] [--synthetic] [--skip_eval] [--out FILE.json]

Prints one JSON object:

* ``data``: ``"real"`` (the config's Flickr8k-1k cached maps ``data.dir``, its captions
  ``model.captions``, its word vectors ``model.word_vectors`` and the images the maps were
  computed from) or ``"synthetic"`` (``--synthetic``, or when the cached maps or the captions are
  missing: seeded normal maps of the same ``[14, 14, 112]`` shape through a ReLU, random word ids
  of random lengths up to ``max_words``, random pixels, 200 test images with 5 captions each;
  ``data_info.reason`` says why).  Without the skip-gram run the words start from random vectors
  (``data_info.word_vectors`` says which).  One training batch serves throughout: the first batch
  of epoch 0 of ``tfpipe.tasks.retrieval.batches.epoch_pairs`` (``--batch_size`` distinct images,
  one caption each, cut to its longest caption as ``trim_padding`` does); smaller batches are its
  first rows.  ``data_info.stride16_max_abs_diff``: the frozen lower part of Lite0 on the batch's
  raw images against their cached maps (the cache is ONNX Runtime's float32 run of the same net).

* ``training.float32`` (batch ``--batch_size``): two compiled models trained with
  ``train_on_batch``:

  - ``cached``: the task's model, ``retrieval.model.build_image_encoder`` (``model.visual: top``:
    EfficientNet-Lite0's stages 6-7 and head, trainable, from the cached stride-16 maps) +
    ``build_text_encoder`` (``cse_text``) -> ``build_model`` (``[v | s | c_v | c_s]``), the loss and
    metrics of ``retrieval_loss`` and ``make_optimizer`` (Adam 1e-3), as ``Retrieval.build``
    compiles them (without ``steps_per_execution``);
  - ``unchunked`` (not with ``--skip_unchunked``): the task's model with ``model.length_chunks: 1``
    (the text tower on the whole batch cut to its longest caption, instead of on length-sorted
    slices each cut to their own: ``tfpipe.layers.LengthChunked``, exact); ``chunked_over_unchunked``
    is the ratio (> 1: the slices are faster);
  - ``end_to_end`` (not with ``--skip_end_to_end``): the same model without the cache, in plain
    Keras: ``uint8 [B, 224, 224, 3]`` images (the evaluation view of ``tfpipe.data.image_pipeline``
    that ``extract_features`` cached: shorter side 256, central 224; decoded once, before timing)
    -> the whole ImageNet EfficientNet-Lite0 (``trainable=5``: blocks 11-15 and the head train,
    blocks 0-10 run frozen every step; batch normalisation frozen as in ``vision.top``) -> the same
    dense heads, text tower, loss and optimizer.  ``same_trainable_params`` checks that both train
    the same weights.

  Each model first makes two untimed steps on 2 and 3 pairs of different caption lengths
  (``trace_s``: Keras traces its train function again for the second shape with the batch and
  length dimensions relaxed, the function real training with trimmed batches runs), then
  ``--warmup`` untimed full steps, then ``--steps`` timed steps, the models taking turns step by
  step so that both see the same load.  ``traces_in_timed_steps`` (0 expected) counts retraces
  during the timed steps.  ``pairs_per_s`` is ``B`` over the median step time (``step_s`` lists
  them), ``pairs_per_cpu_s`` ``B`` over the median process CPU time of a step (all threads; less
  sensitive to other jobs).  ``cached_over_end_to_end``: the ratio (> 1: the cache is faster).

* ``training.bf16``: the cached model (and the end-to-end one with ``--bf16_end_to_end``) under
  float32 and under mixed_bfloat16 (``tfpipe.training.devices.set_precision`` before each model is
  built, the previous global policy restored at the end: ``policy_restored``) on the first
  ``--bf16_batch_size`` pairs (default: the full batch where the CPU has bf16 hardware, else 8,
  an emulated bf16 step being ~7x slower than a float32 one; the float32 figures of the same
  batch are reused when the sizes agree), with ``bf16_over_float32`` (> 1: bf16 is faster).

* ``evaluation`` (the float32 cached model's towers after their timed steps: barely trained, so
  R@K is near ``chance_sum_pct``): the 200 test images' maps and 1000 test captions (real, or
  synthetic of the same counts) embedded with the towers' ``predict`` (``eval.batch_size``) as
  ``retrieval.embed`` does, after an untimed call on ``batch + 1`` rows that traces both batch
  shapes; the global R@K (``evaluation.cosine`` + ``metrics.bidirectional_retrieval``); You et
  al.'s Table 4 (``evaluation.fusion_table``: global, context, early, late, best; its
  ``context_scores_s`` is the share of ``evaluation.context_scores``); each the median of
  ``--eval_repeats`` calls.

``cpu``: the CPU model and its bfloat16 flags (``benchmarks.feature_extraction.cpu_info``);
without AVX512-BF16 or AMX-BF16 TensorFlow emulates bfloat16 on the CPU and mixed_bfloat16 is
expected to be slower than float32 (``note`` says so, and a warning is logged).  Everything moves
with the load of a shared machine (``env`` records the load average before and after).
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

DEFAULT_CONFIG = os.path.join("configs", "cse_flickr8k.yaml")
EMULATED_BF16_BATCH = 8
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "avx512f", "avx2")
MAP_SHAPE = [14, 14, 112]
IMAGE_SIZE = 224
TOP_BLOCKS = 5  # EfficientNet-Lite0 blocks 11-15 (stages 6-7): what vision.top(tap="stride16") holds
SYNTHETIC = {"vocab": 2000, "vector_dim": 300, "test_images": 200, "captions_per_image": 5, "train_images": 700}
KS = (1, 5, 10)


def log(message: str) -> None:
    print(f"[cse_throughput] {message}", file=sys.stderr, flush=True)


def _path(p: str | None) -> str | None:
    if not p:
        return p
    return p if os.path.isabs(p) else os.path.join(ROOT, p)


# --------------------------------------------------------------------------- data


def _trim(ids: np.ndarray) -> np.ndarray:
    width = max(int((ids != 0).sum(axis=1).max(initial=1)), 1)
    return ids[:, :width]


def raw_images(captions_dir: str, split: str, ids: Sequence[str], crop_fraction: float) -> np.ndarray:
    """``uint8 [n, 224, 224, 3]``: the evaluation views of the records ``ids`` of ``split``."""
    import tensorflow as tf

    from tfpipe.data import schema
    from tfpipe.data.datadir import DataDir
    from tfpipe.data.image_pipeline import eval_views_of_bytes

    data = DataDir.open(captions_dir)
    wanted, found = set(ids), {}
    for batch in tf.data.TFRecordDataset(data.shard_paths(split)).batch(256):
        parsed = schema.parse(batch, kind=data.kind, keys=["id", "image"])
        for rid, raw in zip(parsed["id"].numpy(), parsed["image"].numpy()):
            rid = rid.decode("utf-8")
            if rid in wanted:
                found[rid] = raw
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValueError(f"{captions_dir} split {split}: no image for {len(missing)} record(s), e.g. {missing[0]!r}")
    views = eval_views_of_bytes(tf.constant([found[i] for i in ids]), IMAGE_SIZE, crop_fraction)
    return np.clip(np.round(np.asarray(views)), 0, 255).astype(np.uint8)


def real_data(cfg, args) -> dict[str, Any]:
    """The training batch, the test split and the word vectors of the config's Flickr8k-1k data."""
    from tfpipe.data.datadir import DataDir
    from tfpipe.embeddings.label_vectors import WordTable
    from tfpipe.tasks.retrieval import batches
    from tfpipe.tasks.retrieval import captions as captions_lib
    from tfpipe.tasks.retrieval.keys import model_key

    features_dir = _path(cfg.data.dir)
    caps = _path(model_key(cfg, "captions"))
    started = time.perf_counter()
    shape = captions_lib.map_shape(features_dir)
    train = captions_lib.read_split(features_dir, caps, "train", verify="size")
    test = captions_lib.read_split(features_dir, caps, "test", verify="size")
    read_s = time.perf_counter() - started
    vocab = captions_lib.train_vocabulary(train)
    max_words = int(model_key(cfg, "max_words"))
    image_rows, caption_rows = batches.epoch_pairs(train.caption_rows(), batch_size=args.batch_size,
                                                   seed=cfg.train.seed, epoch=0)[0]
    if len(image_rows) < args.batch_size:
        raise SystemExit(f"error: --batch_size {args.batch_size} is more than the {len(image_rows)} distinct "
                         "training images of a batch")
    ids = captions_lib.caption_ids([train.captions[i] for i in caption_rows], vocab, max_words)
    features = DataDir.open(features_dir).manifest.features
    started = time.perf_counter()
    images = raw_images(captions_lib.captions_dir(features_dir, caps), "train",
                        [train.image_ids[i] for i in image_rows], float(features.get("crop_fraction", 0.875)))
    decode_s = time.perf_counter() - started
    vectors = _path(model_key(cfg, "word_vectors"))
    if vectors and os.path.exists(vectors):
        vectors_file = os.path.join(vectors, "vectors.bin") if os.path.isdir(vectors) else vectors
        vector_dim, vectors_note = WordTable.load(vectors).dim, vectors
    else:
        vectors_file, vector_dim = None, SYNTHETIC["vector_dim"]
        vectors_note = f"random U(-0.05, 0.05) ({vectors} is absent: configs/skipgram_cse_text.yaml makes it)"
    return {
        "data": "real", "map_shape": shape, "image_size": int(features.get("image_size", IMAGE_SIZE)),
        "vocab": vocab, "vectors": vectors_file, "vector_dim": vector_dim,
        "batch": {"maps": train.features[image_rows].reshape([-1, *shape]).astype(np.float32),
                  "images": images, "word_ids": _trim(ids)},
        "test": {"maps": test.features.reshape([-1, *shape]).astype(np.float32),
                 "word_ids": captions_lib.caption_ids(test.captions, vocab, max_words),
                 "text_to_image": test.text_to_image},
        "info": {"data": "real", "features_dir": features_dir, "captions_dir": captions_lib.captions_dir(features_dir, caps),
                 "word_vectors": vectors_note, "train_images": train.num_images,
                 "train_captions": len(train.captions), "test_images": test.num_images,
                 "test_captions": len(test.captions), "vocabulary": len(vocab), "read_s": round(read_s, 2),
                 "decode_batch_images_s": round(decode_s, 2),
                 "batch_words": int(_trim(ids).shape[1]), "max_words": max_words},
    }


def synthetic_data(cfg, args, reason: str) -> dict[str, Any]:
    from tfpipe.tasks.retrieval.keys import model_key

    rng = np.random.default_rng(args.seed)
    max_words = int(model_key(cfg, "max_words"))
    vocab = [f"w{i}" for i in range(SYNTHETIC["vocab"])]

    def words(n: int) -> np.ndarray:
        ids = rng.integers(1, len(vocab) + 2, size=(n, max_words), dtype=np.int64)  # ids 1.. (0 is padding)
        lengths = rng.integers(min(8, max_words), max_words + 1, size=n)
        ids[np.arange(max_words)[None, :] >= lengths[:, None]] = 0
        return ids

    def maps(n: int) -> np.ndarray:
        return np.maximum(rng.standard_normal((n, *MAP_SHAPE)), 0).astype(np.float32)

    n_test, per = SYNTHETIC["test_images"], SYNTHETIC["captions_per_image"]
    b = args.batch_size
    return {
        "data": "synthetic", "map_shape": list(MAP_SHAPE), "image_size": IMAGE_SIZE, "vocab": vocab,
        "vectors": None, "vector_dim": SYNTHETIC["vector_dim"],
        "batch": {"maps": maps(b), "images": rng.integers(0, 256, (b, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8),
                  "word_ids": _trim(words(b))},
        "test": {"maps": maps(n_test), "word_ids": words(n_test * per),
                 "text_to_image": np.repeat(np.arange(n_test, dtype=np.int64), per)},
        "info": {"data": "synthetic", "reason": reason, "word_vectors": "random U(-0.05, 0.05)",
                 "test_images": n_test, "test_captions": n_test * per, "vocabulary": len(vocab),
                 "max_words": max_words, "maps": "seeded normal, ReLU", "images": "seeded random pixels"},
    }


def load_data(cfg, args) -> dict[str, Any]:
    from tfpipe.tasks.retrieval.keys import model_key

    if args.synthetic:
        return synthetic_data(cfg, args, "--synthetic")
    features_dir, caps = _path(cfg.data.dir), _path(model_key(cfg, "captions"))
    for what, d in (("cached maps", features_dir), ("captions", caps)):
        if d and not os.path.exists(os.path.join(d, "manifest.json")):
            return synthetic_data(cfg, args, f"no {what} at {d} (README, CSE: preprocess_images + extract_features "
                                             "--outputs stride16)")
    return real_data(cfg, args)


# --------------------------------------------------------------------------- the models


def end_to_end_image_encoder(cfg, image_size: int):
    """``build_image_encoder``'s tower on raw images: the whole Lite0, its top trainable."""
    import keras

    from tfpipe.models import vision
    from tfpipe.tasks.retrieval.keys import model_key

    dim = int(model_key(cfg, "dim"))
    net = vision.build("efficientnet_lite0", image_size=image_size, outputs=("stage6", "pooled"),
                       trainable=TOP_BLOCKS)
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    images = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="images")
    feats = net(keras.ops.cast(images, "float32"))
    local, pooled = feats["stage6"], feats["pooled"]
    v = keras.layers.Dense(dim, name="image_global")(pooled)
    out = {"global": keras.layers.Activation("linear", dtype="float32", name="v")(v)}
    if model_key(cfg, "intermediate"):
        regions = int(np.prod(local.shape[1:3]))
        local = keras.layers.Reshape((regions, int(local.shape[-1])), name="regions")(local)
        local = keras.layers.Dense(dim, name="image_local")(local)
        out["local"] = keras.layers.Activation("linear", dtype="float32", name="l_v")(local)
    return keras.Model({"images": images}, out, name="end_to_end_image_encoder")


def compiled(cfg, data, image_encoder):
    from tfpipe.tasks.retrieval import model as model_lib

    text_encoder = model_lib.build_text_encoder(cfg, vocab=data["vocab"], vectors=data["vectors"],
                                                vector_dim=data["vector_dim"])
    model = model_lib.build_model(cfg, image_encoder, text_encoder)
    loss, metrics = model_lib.retrieval_loss(cfg)
    model.compile(optimizer=model_lib.make_optimizer(cfg), loss=loss, metrics=metrics)
    return model, text_encoder


def trainable_params(model) -> int:
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def stride16_diff(images: np.ndarray, maps: np.ndarray) -> float:
    """Max |lower part of Lite0 on ``images`` - the cached maps| (float32 model)."""
    from tfpipe.models import vision

    lower = vision.build("efficientnet_lite0", image_size=IMAGE_SIZE, outputs=("stride16",), trainable="frozen")
    got = np.asarray(lower.predict(images.astype(np.float32), batch_size=32, verbose=0)["stride16"])
    return float(np.abs(got - maps).max())


def batch_slice(batch: dict[str, np.ndarray], rows: int, words: int | None = None) -> dict[str, np.ndarray]:
    """The first ``rows`` pairs of ``batch``, their word ids cut to their longest (or ``words``)."""
    ids = _trim(batch["word_ids"][:rows])
    return {"maps": batch["maps"][:rows], "images": batch["images"][:rows],
            "word_ids": ids if words is None else ids[:, :max(1, min(words, ids.shape[1]))]}


def count_traces(model) -> dict[str, int]:
    """Counts how often ``model.train_step`` is traced (its Python body runs only then)."""
    counter = {"traces": 0}
    step = model.train_step

    def counted(data):
        counter["traces"] += 1
        return step(data)

    model.train_step = counted  # read by make_train_function at the first train_on_batch
    return counter


def time_models(cfg, data, policy: str, *, rows: int, names: Sequence[str], steps: int, warmup: int
                ) -> tuple[dict[str, Any], Any]:
    """The models ``names`` (``cached``, ``end_to_end``) under ``policy`` on the first ``rows``
    pairs of the batch: two small tracing steps, ``warmup`` full steps, ``steps`` timed steps
    taking turns.  Returns the figures and, for float32, the cached model's two encoders."""
    import tensorflow as tf

    from tfpipe.tasks.retrieval import model as model_lib
    from tfpipe.training import devices

    devices.set_precision(policy)
    b = batch_slice(data["batch"], rows)
    tiny = [batch_slice(data["batch"], 2, max(1, b["word_ids"].shape[1] // 2)), batch_slice(data["batch"], 3)]

    def inputs(name: str, part: dict[str, np.ndarray]) -> tuple[dict[str, Any], Any]:
        key = "images" if name == "end_to_end" else "maps"
        return ({key: tf.constant(part[key]), "word_ids": tf.constant(part["word_ids"])},
                tf.zeros((len(part["word_ids"]),), tf.float32))

    models: dict[str, Any] = {}
    image_encoder = model_lib.build_image_encoder(cfg, map_shape=data["map_shape"], image_size=data["image_size"])
    models["cached"], text_encoder = compiled(cfg, data, image_encoder)
    if "unchunked" in names:  # the same model with its text tower on the whole (trimmed) batch at once
        import copy

        whole = copy.deepcopy(cfg)
        whole.model["length_chunks"] = 1
        models["unchunked"], _ = compiled(whole, data, model_lib.build_image_encoder(
            whole, map_shape=data["map_shape"], image_size=data["image_size"]))
    if "end_to_end" in names:
        models["end_to_end"], _ = compiled(cfg, data, end_to_end_image_encoder(cfg, data["image_size"]))
    figures: dict[str, dict[str, Any]] = {}
    traces: dict[str, dict[str, int]] = {}
    for name, model in models.items():
        traces[name] = count_traces(model)
        log(f"{policy} batch {rows}: {name}: tracing on 2 small slices, then {warmup} full warm-up step(s)")
        started = time.perf_counter()
        for part in tiny:
            model.train_on_batch(*inputs(name, part))
        trace_s = time.perf_counter() - started
        x, y = inputs(name, b)
        for _ in range(warmup):
            model.train_on_batch(x, y)
        figures[name] = {"params": int(model.count_params()), "trainable_params": trainable_params(model),
                         "trace_s": round(trace_s, 2), "warmup_s": round(time.perf_counter() - started - trace_s, 2),
                         "jit_compile": bool(getattr(model, "jit_compile", False)),
                         "traces_before_timing": traces[name]["traces"], "step_s": [], "cpu_s": [], "x": (x, y)}
    for i in range(steps):
        for name, model in models.items():
            x, y = figures[name]["x"]
            wall, cpu = time.perf_counter(), time.process_time()
            logs = model.train_on_batch(x, y, return_dict=True)
            figures[name]["step_s"].append(time.perf_counter() - wall)
            figures[name]["cpu_s"].append(time.process_time() - cpu)
            figures[name]["loss"] = round(float(np.asarray(logs["loss"])), 3)
        log(f"{policy} batch {rows}: step {i + 1}/{steps}: "
            + ", ".join(f"{n} {f['step_s'][-1]:.2f} s" for n, f in figures.items()))
    for name, f in figures.items():
        step, cpu = statistics.median(f["step_s"]), statistics.median(f["cpu_s"])
        f.update(pairs_per_s=round(rows / step, 2), pairs_per_cpu_s=round(rows / cpu, 2),
                 median_step_s=round(step, 3), step_s=[round(s, 3) for s in f["step_s"]],
                 median_cpu_s_per_step=round(cpu, 3),
                 traces_in_timed_steps=traces[name]["traces"] - f["traces_before_timing"])
        f["compute_dtype"] = _dense_dtype(models[name])
        del f["cpu_s"], f["x"], f["traces_before_timing"]
    out: dict[str, Any] = {"batch_size": rows, "batch_words": int(b["word_ids"].shape[1]), **figures}
    if "unchunked" in figures:
        out["length_chunks"] = int(cfg.model.get("length_chunks", 4))
        out["chunked_over_unchunked"] = {
            k: round(figures["cached"][k] / figures["unchunked"][k], 2) for k in ("pairs_per_s", "pairs_per_cpu_s")}
    if "end_to_end" in figures:
        out["same_trainable_params"] = figures["cached"]["trainable_params"] == figures["end_to_end"]["trainable_params"]
        out["cached_over_end_to_end"] = {
            k: round(figures["cached"][k] / figures["end_to_end"][k], 2) for k in ("pairs_per_s", "pairs_per_cpu_s")}
    encoders = (image_encoder, text_encoder) if policy == "float32" else None
    del models
    gc.collect()
    return out, encoders


def _dense_dtype(model) -> str:
    """The compute dtype of the image tower's global dense layer."""
    for layer in model.layers:
        if layer.name.endswith("image_encoder"):
            return layer.get_layer("image_global").compute_dtype
    return "?"


def training(cfg, data, args) -> tuple[dict[str, Any], Any]:
    import keras

    before = keras.config.dtype_policy().name
    rows = len(data["batch"]["word_ids"])
    main_models = (["cached"] + ([] if args.skip_unchunked else ["unchunked"])
                   + ([] if args.skip_end_to_end else ["end_to_end"]))
    out: dict[str, Any] = {"steps": args.steps, "warmup": args.warmup, "map_shape": data["map_shape"],
                           "image_size": data["image_size"],
                           "loss": "eq. 1 (sum of negatives) + eqs. 5-6" if cfg.model.get("intermediate", True) else "eq. 1",
                           "optimizer": f"{cfg.train.optimizer} lr {cfg.train.learning_rate}"}
    encoders = None
    try:
        out["float32"], encoders = time_models(cfg, data, "float32", rows=rows, names=main_models,
                                               steps=args.steps, warmup=args.warmup)
        if args.skip_bf16:
            out["bf16"] = {"skipped": "--skip_bf16"}
        else:
            small = min(args.bf16_batch_size, rows)
            bf16_models = ["cached"] + (["end_to_end"] if args.bf16_end_to_end else [])
            cmp: dict[str, Any] = {"batch_size": small, "models": bf16_models}
            if small == rows and all(m in out["float32"] for m in bf16_models):
                cmp["float32"] = "the float32 figures above (same batch)"
                f32 = out["float32"]
            else:
                cmp["float32"], _ = time_models(cfg, data, "float32", rows=small, names=bf16_models,
                                                steps=args.steps, warmup=args.warmup)
                f32 = cmp["float32"]
            cmp["mixed_bfloat16"], _ = time_models(cfg, data, "mixed_bfloat16", rows=small, names=bf16_models,
                                                   steps=args.steps, warmup=args.warmup)
            cmp["bf16_over_float32"] = {
                m: {k: round(cmp["mixed_bfloat16"][m][k] / f32[m][k], 3) for k in ("pairs_per_s", "pairs_per_cpu_s")}
                for m in bf16_models}
            out["bf16"] = cmp
    finally:
        keras.config.set_dtype_policy(before)
    out["policy_restored"] = keras.config.dtype_policy().name
    return out, encoders


# --------------------------------------------------------------------------- evaluation


def timed(fn, repeats: int, warm=None) -> tuple[Any, float | None, float]:
    """``(result, seconds of the untimed ``warm()`` call or None, median seconds of ``repeats`` calls)``."""
    warm_s = None
    if warm is not None:
        started = time.perf_counter()
        warm()
        warm_s = time.perf_counter() - started
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return out, warm_s, statistics.median(times)


def evaluation_times(cfg, data, encoders, args) -> dict[str, Any]:
    """The test split through the float32 cached encoders, then global R@K and Table 4, timed."""
    from tfpipe import metrics
    from tfpipe.tasks.retrieval import evaluation

    image_encoder, text_encoder = encoders
    t = data["test"]
    bs = int(cfg.eval.batch_size)
    reps = args.eval_repeats
    ids = _trim(t["word_ids"])  # as retrieval.embed: padding columns change nothing
    maps = t["maps"]
    # The untimed calls on bs + 1 rows trace both a full and a last partial batch's shapes.
    im, im_warm, im_s = timed(lambda: image_encoder.predict({"maps": maps}, batch_size=bs, verbose=0), reps,
                              warm=lambda: image_encoder.predict({"maps": maps[:bs + 1]}, batch_size=bs, verbose=0))
    tx, tx_warm, tx_s = timed(lambda: text_encoder.predict(ids, batch_size=bs, verbose=0), reps,
                              warm=lambda: text_encoder.predict(ids[:bs + 1], batch_size=bs, verbose=0))
    im = {k: np.asarray(v, np.float32) for k, v in im.items()}
    tx = {k: np.asarray(v, np.float32) for k, v in tx.items()}
    t2i = t["text_to_image"]
    glob, _, glob_s = timed(
        lambda: metrics.bidirectional_retrieval(evaluation.cosine(im["global"], tx["global"]), t2i, KS), reps)
    out: dict[str, Any] = {
        "images": int(len(maps)), "captions": int(len(ids)), "caption_words": int(ids.shape[1]),
        "batch_size": bs, "repeats": reps,
        "encoders": "the float32 cached model's towers after its timed steps (barely trained)",
        "embed_images": {"s": round(im_s, 3), "images_per_s": round(len(maps) / im_s, 1),
                         "untimed_warm_s": round(im_warm, 3)},
        "embed_captions": {"s": round(tx_s, 3), "captions_per_s": round(len(ids) / tx_s, 1),
                           "untimed_warm_s": round(tx_warm, 3)},
        "global_recall": {"s": round(glob_s, 4), "sum_pct": round(glob["sum_pct"], 2),
                          "image_to_text": {k: round(float(v), 3) for k, v in glob["image_to_text"].items()},
                          "text_to_image": {k: round(float(v), 3) for k, v in glob["text_to_image"].items()}},
        "chance_sum_pct": round(metrics.chance_retrieval(t2i, KS)["sum_pct"], 2),
    }
    if "local" in im and "local" in tx:
        table, _, fu_s = timed(lambda: evaluation.fusion_table(
            im["global"], im["local"], tx["global"], tx["local"], tx["mask"], t2i, KS), reps)
        out["fusion_table"] = {"s": round(fu_s, 3), "context_scores_s": round(table["seconds"]["scores"], 3),
                               "local_shapes": {"images": list(im["local"].shape), "captions": list(tx["local"].shape)},
                               "sum_pct": {row: round(r["sum_pct"], 2) for row, r in table["rows"].items()},
                               "global_row_matches_global_recall":
                                   bool(abs(table["rows"]["global"]["sum_pct"] - glob["sum_pct"]) < 1e-6)}
    else:
        out["fusion_table"] = {"skipped": "the towers give no local features (model.intermediate: false)"}
    out["total_s"] = round(im_s + tx_s + glob_s + out["fusion_table"].get("s", 0.0), 3)
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m benchmarks.cse_throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2,
                   help="timed train_on_batch steps per model (2: a float32 step of 128 pairs takes ~50 s on 2 "
                        "busy cores, the text CNN's three 1024-wide highways being most of it)")
    p.add_argument("--warmup", type=int, default=0,
                   help="full-batch warm-up steps after the two small tracing steps every model makes")
    p.add_argument("--batch_size", type=int, default=128, help="distinct images per batch (the paper's 128)")
    p.add_argument("--max_words", type=int, default=None, help="words kept per caption (default: the config's)")
    p.add_argument("--bf16_batch_size", type=int, default=None,
                   help="batch of the float32 / mixed_bfloat16 comparison (default --batch_size where the CPU "
                        f"has bf16 hardware, else {EMULATED_BF16_BATCH}: an emulated bf16 step is ~7x slower)")
    p.add_argument("--bf16_end_to_end", action="store_true", help="the end-to-end model in the bf16 comparison too")
    p.add_argument("--skip_bf16", action="store_true", help="no mixed_bfloat16 comparison")
    p.add_argument("--skip_end_to_end", action="store_true", help="no end-to-end model")
    p.add_argument("--skip_unchunked", action="store_true",
                   help="no comparison with the text tower on the whole batch (model.length_chunks: 1)")
    p.add_argument("--config", default=os.path.join(ROOT, DEFAULT_CONFIG))
    p.add_argument("--eval_repeats", type=int, default=1,
                   help="timed calls of each evaluation part (the median; after an untimed call on a slice)")
    p.add_argument("--synthetic", action="store_true", help="synthetic maps and words even when the data exists")
    p.add_argument("--skip_check", action="store_true", help="skip the stride-16 check of the raw images")
    p.add_argument("--skip_eval", action="store_true", help="skip the evaluation timings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    for name in ("steps", "eval_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        p.error(f"--warmup must be >= 0, got {args.warmup}")
    for name in ("batch_size", "bf16_batch_size"):
        value = getattr(args, name)
        if value is not None and value < 4:
            p.error(f"--{name} must be >= 4 (eq. 1 ranks each pair against the batch's others; the tracing "
                    f"steps use 2 and 3 pairs), got {value}")
    if args.max_words is not None and args.max_words < 1:
        p.error(f"--max_words must be >= 1, got {args.max_words}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    started, loadavg = time.time(), list(os.getloadavg())
    args = parse_args(argv)
    from tfpipe import config as config_lib

    overrides = [f"train.batch_size={args.batch_size}"]
    if args.max_words is not None:
        overrides.append(f"model.max_words={args.max_words}")
    cfg = config_lib.load(args.config, overrides)
    cpu = cpu_info()
    flags = {f: cpu.get(f) for f in BF16_FLAGS}
    note = ("this CPU has AVX512-BF16 or AMX-BF16: bfloat16 runs in hardware" if cpu["bf16_in_hardware"] else
            "this CPU has neither AVX512-BF16 nor AMX-BF16"
            + ("" if cpu.get("avx512f") else " (nor AVX-512)")
            + ": TensorFlow emulates bfloat16 arithmetic in software here, so mixed_bfloat16 is expected to be "
              "slower than float32; its figures say nothing about bf16 hardware")
    if args.bf16_batch_size is None:
        args.bf16_batch_size = args.batch_size if cpu["bf16_in_hardware"] else EMULATED_BF16_BATCH
    if not cpu["bf16_in_hardware"] and not args.skip_bf16:
        log(f"warning: {note}")
    data = load_data(cfg, args)
    log(f"data: {data['data']}" + (f" ({data['info']['reason']})" if "reason" in data["info"] else ""))
    result: dict[str, Any] = {"benchmark": "cse_throughput", "model": cfg.model_name, "config": args.config,
                              "data": data["data"], "data_info": data["info"],
                              "cpu": {"model": cpu["model"], "cores": cpu["cores"], **flags,
                                      "bf16_in_hardware": cpu["bf16_in_hardware"]},
                              "note": note}
    if not args.skip_end_to_end and not args.skip_check and data["data"] == "real":
        log("checking the frozen lower part on the raw images against the cached maps")
        result["data_info"]["stride16_max_abs_diff"] = round(stride16_diff(data["batch"]["images"], data["batch"]["maps"]), 5)
    result["training"], encoders = training(cfg, data, args)
    if args.skip_eval:
        result["evaluation"] = {"skipped": "--skip_eval"}
    else:
        log("evaluation")
        result["evaluation"] = evaluation_times(cfg, data, encoders, args)
    result["env"] = output.environment(started, loadavg)
    return output.emit(result, args.out)


if __name__ == "__main__":
    main()
