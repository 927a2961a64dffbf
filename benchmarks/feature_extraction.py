"""Frozen image features images/s: the Extractor (float32, mixed bfloat16) beside plain
``model.predict`` and ONNX Runtime on the same EfficientNet-Lite0.

    python -m benchmarks.feature_extraction [--model efficientnet_lite0] [--num_images 200]
                                            [--batch_size 50] [--passes 2] [--image_size 224]
                                            [--skip_onnx] [--out FILE.json]

Input: the first ``--num_images`` Tiny-ImageNet val images of ``../shared/data``
(``val_annotations.txt`` order), each opened with PIL, converted to RGB and
resized to ``--image_size`` with the bilinear filter, into one ``uint8 [N, H, W, 3]``
array (without the data: seeded random pixels, and the JSON says so).  Loading is
timed once and apart; every figure below is over the same array, in batches of
``--batch_size``, ``pooled`` features (1280-d) of the ImageNet-pretrained model:

* ``extractor_float32`` / ``extractor_mixed_bfloat16``:
  :class:`tfpipe.models.vision.features.Extractor` (its compiled ``tf.function``,
  ``training=False``), the way the Beam job calls it;
* ``keras_predict``: the peer one writes by hand, ``model.predict(images,
  batch_size=...)`` on the float32 Extractor's Keras model (float32 arrays);
* ``onnxruntime``: the Extractor's float32 function exported with tf2onnx
  (``convert.from_function``, uint8 input, opset 17) and run by an ONNX Runtime CPU
  session (default threads), when ``tf2onnx`` and ``onnxruntime`` import and the
  export works; otherwise the JSON holds the reason instead of a figure.

Each path runs one warm-up batch first (tracing, graph optimisation: reported as
``warmup_s``), then ``--passes`` timed passes over all images, the paths taking
turns within each pass so that a change in a shared machine's load falls on all of
them alike; ``images_per_s`` is from each path's median pass.  The peers' features are checked against the float32
Extractor's (``max_abs_diff``; ``min_cosine`` for bfloat16).  ``ratios``: each
path's images/s over ``keras_predict``'s, and bfloat16 and ONNX Runtime over the
float32 Extractor.  ``cpu`` lists the CPU's flags that matter for bfloat16
(``avx512_bf16``, ``amx_bf16``: without them bfloat16 is emulated and slower).
TensorFlow uses its default thread pools (every core); other jobs on a shared
machine move every figure (the JSON records the load average before and after).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import platform
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

SHARED_DATA = os.environ.get("TFPIPE_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def log(message: str) -> None:
    print(f"[feature_extraction] {message}", file=sys.stderr, flush=True)


def cpu_info() -> dict[str, Any]:
    """The CPU model and which of :data:`CPU_FLAGS` it has (``tfpipe.training.devices.cpu_flags``)."""
    from tfpipe.training import devices

    flags = devices.cpu_flags()
    model = platform.processor() or None
    try:
        with open(devices.CPUINFO, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(), **{flag: flag in flags for flag in CPU_FLAGS},
            "bf16_in_hardware": devices.cpu_has_native_bf16()}


def load_images(num_images: int, image_size: int) -> tuple[np.ndarray, str, float]:
    """``uint8 [N, S, S, 3]`` PIL-loaded Tiny-ImageNet val images (or seeded noise), the source, seconds."""
    from PIL import Image

    started = time.perf_counter()
    root = os.path.join(SHARED_DATA, "tiny_imagenet", "val")
    annotations = os.path.join(root, "val_annotations.txt")
    if os.path.exists(annotations):
        with open(annotations, encoding="utf-8") as f:
            names = [line.split("\t")[0] for line in f if line.strip()][:num_images]
        images = np.stack([
            np.asarray(Image.open(os.path.join(root, "images", name)).convert("RGB")
                       .resize((image_size, image_size), Image.BILINEAR))
            for name in names])
        source = f"tiny_imagenet val, first {len(names)} of val_annotations.txt, PIL bilinear to {image_size}"
    else:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (num_images, image_size, image_size, 3), dtype=np.uint8)
        source = f"random uint8 pixels (seed 0): {annotations} is absent"
    return images, source, time.perf_counter() - started


def time_paths(paths: dict[str, tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]], *, batch_size: int,
               passes: int) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Each path ``name -> (fn, images)``: one warm-up batch, then ``passes`` timed passes over all
    images, the paths taking turns within each pass (so a change in the machine's load falls on
    all of them alike); the figures and each path's features from its last pass."""
    figures: dict[str, dict[str, Any]] = {}
    for name, (fn, images) in paths.items():
        log(f"warm-up: {name}")
        started = time.perf_counter()
        fn(images[:batch_size])
        figures[name] = {"warmup_s": round(time.perf_counter() - started, 2), "pass_s": []}
    features: dict[str, np.ndarray] = {}
    for i in range(passes):
        for name, (fn, images) in paths.items():
            log(f"pass {i + 1}/{passes}: {name}")
            started = time.perf_counter()
            features[name] = np.concatenate([fn(images[j:j + batch_size]) for j in range(0, len(images), batch_size)])
            figures[name]["pass_s"].append(round(time.perf_counter() - started, 3))
    for name, (_, images) in paths.items():
        figures[name]["images_per_s"] = round(len(images) / statistics.median(figures[name]["pass_s"]), 2)
    return figures, features


def _agreement(features: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    cos = np.sum(features * reference, 1) / (np.linalg.norm(features, axis=1) * np.linalg.norm(reference, axis=1))
    return {"max_abs_diff": float(np.abs(features - reference).max()), "min_cosine": round(float(cos.min()), 6)}


def onnx_session(extractor) -> tuple[Callable[[np.ndarray], np.ndarray] | None, dict[str, Any]]:
    """ONNX Runtime on the tf2onnx export of the float32 Extractor's model (the Extractor's own
    ``engine="onnxruntime"``: uint8 images -> pooled), and what to report about it;
    ``(None, reason)`` when that cannot be had."""
    from tfpipe.models.vision.features import Extractor

    tried = "pip install tf2onnx onnxruntime (into the venv)"
    try:
        onnx = Extractor(extractor.name, image_size=extractor.image_size, outputs=("pooled",),
                         engine="onnxruntime", model=extractor.model)
    except RuntimeError as e:
        return None, {"status": "unavailable", "reason": str(e), "tried": tried}
    info = {k: v for k, v in onnx.engine_info.items() if k != "engine"}
    return (lambda x: onnx(x)["pooled"]), {"status": "done", **info}


def reference_dim(extractor) -> int:
    return int(extractor.model.output["pooled"].shape[-1])


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    if "images_per_s" not in a or "images_per_s" not in b:
        return None
    return round(a["images_per_s"] / b["images_per_s"], 3)


def run(*, model_name: str = "efficientnet_lite0", num_images: int = 200, batch_size: int = 50, passes: int = 2,
        image_size: int = 224, onnx: bool = True) -> dict[str, Any]:
    """The JSON document this benchmark prints (see the module docstring); ``model_name`` another
    registered visual model (with its default weights, each build seeded alike)."""
    import keras

    from tfpipe.models.vision.features import Extractor

    load_before = list(os.getloadavg())
    started = time.time()
    images, source, load_s = load_images(num_images, image_size)
    log(f"{len(images)} images ({source}) loaded in {load_s:.1f} s")

    keras.utils.set_random_seed(0)  # the same weights in both builds for a model without pretrained ones
    f32 = Extractor(model_name, image_size=image_size, outputs=("pooled",), engine="keras")
    keras.utils.set_random_seed(0)
    bf16 = Extractor(model_name, image_size=image_size, precision="mixed_bfloat16", outputs=("pooled",),
                     engine="keras")
    model = f32.model  # the peer: the same Keras model through model.predict
    runs = {
        "extractor_float32": (lambda x: f32(x)["pooled"], images),
        "extractor_mixed_bfloat16": (lambda x: bf16(x)["pooled"], images),
        "keras_predict": (lambda x: model.predict(x, batch_size=batch_size, verbose=0)["pooled"],
                          images.astype(np.float32)),
    }
    onnx_info = {"status": "skipped", "reason": "--skip_onnx"}
    if onnx:
        log("exporting to ONNX")
        session, onnx_info = onnx_session(f32)
        if session is not None:
            runs["onnxruntime"] = (session, images)
    figures, features = time_paths(runs, batch_size=batch_size, passes=passes)
    paths: dict[str, Any] = {}
    for name in ("extractor_float32", "extractor_mixed_bfloat16", "keras_predict", "onnxruntime"):
        paths[name] = {**(onnx_info if name == "onnxruntime" else {}), **figures.get(name, {})}
        if name in features and name != "extractor_float32":
            paths[name].update(_agreement(features[name], features["extractor_float32"]))

    base = paths["keras_predict"]
    ratios = {f"{name}_over_keras_predict": _ratio(p, base) for name, p in paths.items() if name != "keras_predict"}
    ratios["mixed_bfloat16_over_float32"] = _ratio(paths["extractor_mixed_bfloat16"], paths["extractor_float32"])
    ratios["onnxruntime_over_extractor_float32"] = _ratio(paths["onnxruntime"], paths["extractor_float32"])
    return {
        "benchmark": "feature_extraction",
        "model": model_name + (" (ImageNet weights)" if model_name == "efficientnet_lite0" else "")
        + f", pooled {reference_dim(f32)}-d",
        "settings": {"num_images": int(len(images)), "image_size": image_size, "batch_size": batch_size,
                     "passes": passes, "images": source, "load_s": round(load_s, 2)},
        "paths": paths,
        "ratios": ratios,
        "cpu": cpu_info(),
        "env": output.environment(started, load_before),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="python -m benchmarks.feature_extraction", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="efficientnet_lite0", help="visual model (default: %(default)s)")
    p.add_argument("--num_images", type=int, default=200, help="images (default: %(default)s)")
    p.add_argument("--batch_size", type=int, default=50, help="images per call (default: %(default)s)")
    p.add_argument("--passes", type=int, default=2, help="timed passes per path (default: %(default)s)")
    p.add_argument("--image_size", type=int, default=224, help="input size (default: %(default)s)")
    p.add_argument("--skip_onnx", action="store_true", help="leave ONNX Runtime out")
    p.add_argument("--out", default=None, metavar="FILE.json", help="also write the JSON here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    for name in ("num_images", "batch_size", "passes"):
        if getattr(args, name) < 1:
            print(f"error: --{name} must be >= 1, got {getattr(args, name)}", file=sys.stderr)
            sys.exit(2)
    if args.image_size < 32:
        print(f"error: --image_size must be >= 32, got {args.image_size}", file=sys.stderr)
        sys.exit(2)
    result = run(model_name=args.model, num_images=args.num_images, batch_size=args.batch_size, passes=args.passes,
                 image_size=args.image_size, onnx=not args.skip_onnx)
    return output.emit(result, args.out)


if __name__ == "__main__":
    main()
