"""A multimodal phrase_context run as a SavedModel: image bytes -> its predicted phrases and its class.

    python -m tfpipe.export --model_dir artifacts/runs/flowers102_multimodal_10
    python -m tfpipe.predict --model EXPORT --image F.jpg [--image ...] [--json]

One signature, ``classify_images`` (also ``serving_default``): ``images: string [None]`` (encoded
JPEG, PNG, GIF, BMP) -> the whole predicted-context pipeline of the paper's Figure 3 in the graph:

1. decoded -> the eval view the cached features were made from (``image_pipeline.eval_views_of_bytes``
   with the features manifest's image size and crop) -> the manifest's visual model (EfficientNet-Lite0,
   frozen, pooled; ``tfpipe.models.vision.build``, ImageNet weights read from the installed package
   at export time) -> ``visual`` ``[B, 1280]``, as the devise and joint_embedding exports;
2. -> the generator run's ``bottleneck.keras`` -> ``x`` (64-d, section 3.2) -> the ``model.top_phrases``
   phrases nearest ``x`` by cosine (eq. 3) in the generator's ``prototype_index/`` (eq. 2) or
   ``softmax_index/`` (``model.context``), searched by ``tfpipe.index.saved_model.search_module``: the
   exact engine's matrix product and top-k when the index is exact, ScaNN's ops when it is ScaNN's;
3. -> the encoder run's ``phrase_tower.keras`` (its in-graph unigram + bigram lookup) -> unit-normed
   embeddings -> their mean: the 200-d ``context`` (section 3.3; ``context.ContextModel.vectors``);
4. -> the run's ``classifier.keras`` on its named inputs (``model.inputs``: visual, context or both,
   section 3.5) -> class probabilities.

Outputs: ``phrases`` string ``[B, k]`` and ``phrase_scores`` float32 ``[B, k]`` (the cosines of eq. 3,
nearest first), ``context`` float32 ``[B, 200]`` (a context run only), ``class_name`` string ``[B]``,
``class_id`` int64 ``[B]``, ``probability`` float32 ``[B]``, ``top_classes`` string ``[B, min(5, C)]``,
``top_probabilities`` float32 ``[B, min(5, C)]`` and ``probabilities`` float32 ``[B, C]``.  A visual-only
run exports without steps 2-3, unless its config names ``model.generator``: then the phrases are still
returned (for interpretability; the classifier does not read them) and no encoder is needed.

``assets.extra/phrase_context.json`` (:func:`read_info`) lists the inputs, the phrase index (engine,
phrases, k), the visual model, image size and crop, the class names, and ``needs_scann_ops`` /
``needs_tensorflow_text`` (the ops to register before ``tf.saved_model.load``: :func:`load` does it,
``tfpipe.index.saved_model.load_with_ops``).  As in the other image exports: a training record's image
was scaled to shorter side 256 before its feature was cached, an image given here is scaled in one step.
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Sequence

import numpy as np

from tfpipe import config as config_lib
from tfpipe.tasks.phrase_context import context as context_lib
from tfpipe.tasks.phrase_context import layout
from tfpipe.tasks.phrase_context import model as model_lib
from tfpipe.tasks.phrase_context.keys import MULTIMODAL, model_inputs, model_key

INFO_FILE = os.path.join("assets.extra", "phrase_context.json")
CLASSIFY_IMAGES = "classify_images"
POOLED = "pooled"          # the cached feature the classifier and the bottleneck read
TOP_CLASSES = 5            # top-5, as the evaluation's


def visual_model(data) -> tuple[Any, int, float, str]:
    """``(the frozen visual model with its pooled output, image size, crop fraction, model name)`` of
    a features directory ``data`` (``datasets.open_data``): the model its features were cached from."""
    from tfpipe.models import vision
    from tfpipe.training.datasets import DataError

    features = data.manifest.features or {}
    if features.get("views", 1) != 1:
        raise DataError(f"{data.path} holds {features['views']} views per image; the exported model computes "
                        "the single eval view, so export a run trained on --views 1 features")
    names = [o["name"] for o in features.get("outputs", [{"name": POOLED}])]
    if names != [POOLED]:
        raise DataError(f"{data.path} holds the visual model's outputs {names}; a phrase_context run reads the "
                        "pooled feature alone (beam_jobs.extract_features without extra outputs)")
    for key in ("model", "image_size", "crop_fraction"):
        if key not in features:
            raise DataError(f"{data.path}: its features manifest has no {key!r} (written by "
                            "beam_jobs.extract_features); the export needs it to compute the eval view")
    size, crop = int(features["image_size"]), float(features["crop_fraction"])
    model = vision.build(features["model"], image_size=size, outputs=(POOLED,), trainable="frozen")
    return model, size, crop, features["model"]


def _check_run(run_dir: str, cfg) -> None:
    if cfg.model_name != MULTIMODAL or not os.path.exists(os.path.join(run_dir, layout.CLASSIFIER_FILE)):
        what = (f"a {cfg.model_name!r} run" if cfg.model_name != MULTIMODAL
                else f"an unfinished multimodal run (no {layout.CLASSIFIER_FILE})")
        raise config_lib.ConfigError(
            f"--model_dir {run_dir} is {what}: python -m tfpipe.export takes a finished phrase_context multimodal "
            f"run (model.name: multimodal, with {layout.CLASSIFIER_FILE}; e.g. python -m tfpipe.train --config "
            "configs/phrase_context/flowers102_multimodal_10.yaml), whose export holds the phrase generator and "
            "encoder runs its config names")


def export(run_dir: str, cfg, out: str, *, data_dir: str | None = None) -> str:
    """Writes the SavedModel of the finished multimodal run in ``run_dir`` (config ``cfg``) to ``out``
    (replaced) with ``assets.extra/phrase_context.json`` and the run's ``config.yaml``; returns ``out``.
    ``data_dir``: the features directory whose manifest gives the visual model, image size, crop and
    class names (default the run's ``data.dir``)."""
    import tensorflow as tf

    from tfpipe.data import image_pipeline
    from tfpipe.index import saved_model
    from tfpipe.index.query_index import QueryIndex
    from tfpipe.training import datasets, runs

    _check_run(run_dir, cfg)
    inputs = model_inputs(cfg)
    with_context = "context" in inputs
    generator_dir, encoder_dir = model_key(cfg, "generator"), model_key(cfg, "encoder")
    with_phrases = with_context or bool(generator_dir)
    k = int(model_key(cfg, "top_phrases"))
    data = datasets.open_data(data_dir or cfg.data.dir)
    class_names = list(data.manifest.class_names)
    visual, size, crop, visual_name = visual_model(data)
    classifier = model_lib.load(run_dir, layout.CLASSIFIER_FILE)
    bottleneck = search = tower = None
    index_info = None
    if with_phrases:
        index_path = context_lib.index_dir(generator_dir, model_key(cfg, "context"))
        phrase_index = QueryIndex.load(index_path).index
        bottleneck = model_lib.load(generator_dir, layout.BOTTLENECK_FILE)
        search = saved_model.search_module(phrase_index, k)
        index_info = {"dir": index_path, "context": model_key(cfg, "context"), "phrases": len(phrase_index),
                      "search": phrase_index.engine, "metric": phrase_index.metric, "k": k}
    if with_context:
        tower = model_lib.load(encoder_dir, layout.TOWER_FILE)
    dim = int(tower.output_shape[-1]) if tower is not None else None
    top = min(TOP_CLASSES, len(class_names))

    class PhraseContextServing(tf.Module):
        def __init__(self):
            super().__init__(name="phrase_context_serving")
            self.visual, self.classifier = visual, classifier
            self.bottleneck, self.search, self.tower = bottleneck, search, tower
            self.class_names = tf.constant(class_names)

        def features(self, images):
            """Pooled visual features ``[B, d]`` of encoded images (step 1)."""
            views = image_pipeline.eval_views_of_bytes(images, size, crop)
            v = tf.cast(self.visual(views, training=False)[POOLED], tf.float32)
            return tf.reshape(v, [tf.shape(v)[0], -1])

        def context(self, phrases):
            """The mean of the phrases' unit tower embeddings, ``[B, k]`` strings -> ``[B, dim]`` (step 3)."""
            e = tf.cast(self.tower(tf.reshape(phrases, [-1]), training=False), tf.float32)
            e = tf.math.divide_no_nan(e, tf.norm(e, axis=-1, keepdims=True))  # context.unit: zeros stay zeros
            return tf.reduce_mean(tf.reshape(e, [tf.shape(phrases)[0], k, dim]), axis=1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        def classify_images(self, images):
            v = self.features(images)
            x, out = {}, {}
            if "visual" in inputs:
                x["visual"] = v
            if with_phrases:
                found = self.search.serve(tf.cast(self.bottleneck(v, training=False), tf.float32))
                out["phrases"], out["phrase_scores"] = found["labels"], found["scores"]
                if with_context:
                    out["context"] = x["context"] = self.context(found["labels"])
            probabilities = tf.cast(self.classifier(x, training=False), tf.float32)
            best, ids = tf.math.top_k(probabilities, top)
            out.update({"class_name": tf.gather(self.class_names, ids[:, 0]), "class_id": tf.cast(ids[:, 0], tf.int64),
                        "probability": best[:, 0], "top_classes": tf.gather(self.class_names, ids),
                        "top_probabilities": best, "probabilities": probabilities})
            return out

    module = PhraseContextServing()
    concrete = module.classify_images.get_concrete_function()
    if os.path.exists(out):
        shutil.rmtree(out)
    tf.saved_model.save(module, out, signatures={CLASSIFY_IMAGES: concrete, "serving_default": concrete})
    outputs = {}
    if with_phrases:
        outputs.update({"phrases": f"string[batch, {k}]", "phrase_scores": f"float32[batch, {k}]"})
    if with_context:
        outputs["context"] = f"float32[batch, {dim}]"
    outputs.update({"class_name": "string[batch]", "class_id": "int64[batch]", "probability": "float32[batch]",
                    "top_classes": f"string[batch, {top}]", "top_probabilities": f"float32[batch, {top}]",
                    "probabilities": f"float32[batch, {len(class_names)}]"})
    info: dict[str, Any] = {
        "task": "phrase_context", "model": cfg.model_name, "model_dir": run_dir, "data_dir": data.path,
        "inputs": list(inputs), "top_phrases": k if with_phrases else None,
        "phrases_for": None if not with_phrases else ("context" if with_context else "interpretability"),
        "generator": generator_dir if with_phrases else None, "encoder": encoder_dir if with_context else None,
        "phrase_index": index_info, "classes": len(class_names), "class_names": class_names,
        "signatures": {CLASSIFY_IMAGES: {"inputs": {"images": "string[batch]: encoded image bytes (JPEG, PNG, "
                                                              "GIF, BMP)"}, "outputs": outputs}},
        "default": CLASSIFY_IMAGES, "visual_model": visual_name, "image_size": size, "crop_fraction": crop,
        "needs_scann_ops": bool(index_info and index_info["search"] == "scann"),
        "needs_tensorflow_text": with_context,  # the tower's grams: tfpipe.text.tokenize's case_fold_utf8
    }
    os.makedirs(os.path.join(out, "assets.extra"), exist_ok=True)
    runs.write_json(os.path.join(out, INFO_FILE), info)
    shutil.copy(os.path.join(run_dir, runs.CONFIG_FILE), os.path.join(out, "assets.extra", runs.CONFIG_FILE))
    return out


def usage(out: str) -> list[str]:
    """The lines ``python -m tfpipe.export`` prints about an export written to ``out``."""
    info = read_info(out) or {}
    what = "top-%s phrases + " % info["top_phrases"] if info.get("top_phrases") else ""
    return [f"exported {out}  (images string[None] -> {what}class, top-{TOP_CLASSES} classes; inputs "
            f"{'+'.join(info.get('inputs', []))}"
            + (f"; phrase search {info['phrase_index']['search']} over {info['phrase_index']['phrases']} "
               f"{info['phrase_index']['context']} phrases" if info.get("phrase_index") else "") + ")",
            f"try: python -m tfpipe.predict --model {out} --image FILE.jpg"]


# --------------------------------------------------------------------------- serving helpers

def read_info(model: str) -> dict[str, Any] | None:
    """``assets.extra/phrase_context.json`` of an exported phrase_context model, or None."""
    from tfpipe.index.saved_model import read_export_info

    return read_export_info(model, INFO_FILE)


def load(model: str):
    """``(tf.saved_model.load(model), info)``: ScaNN's and tensorflow-text's ops registered first
    when the export needs them."""
    from tfpipe.index.saved_model import load_export

    return load_export(model, INFO_FILE)


def _decode(values) -> list[str]:
    return [x.decode("utf-8") for x in np.asarray(values).tolist()]


def classify_images(model: str, images: Sequence[bytes], *, loaded=None) -> list[dict[str, Any]]:
    """Each image's ``{"phrases", "phrase_scores" (when the export has them), "class_name",
    "probability", "top_classes", "top_probabilities"}`` from an export (``loaded``: its
    :func:`load`, to reuse)."""
    import tensorflow as tf

    if loaded is None:
        loaded, _ = load(model)
    out = loaded.signatures[CLASSIFY_IMAGES](images=tf.constant(list(images), tf.string))
    results = []
    for i in range(len(images)):
        row: dict[str, Any] = {}
        if "phrases" in out:
            row["phrases"] = _decode(out["phrases"][i].numpy())
            row["phrase_scores"] = [float(s) for s in out["phrase_scores"][i].numpy()]
        row.update({"class_name": out["class_name"][i].numpy().decode("utf-8"),
                    "probability": float(out["probability"][i]),
                    "top_classes": _decode(out["top_classes"][i].numpy()),
                    "top_probabilities": [float(p) for p in out["top_probabilities"][i].numpy()]})
        results.append(row)
    return results
