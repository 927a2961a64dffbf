"""A devise run as a SavedModel: raw image bytes -> its top-k labels, one signature per candidate set.

    python -m tfpipe.export --model_dir artifacts/runs/devise_tiny_imagenet
    python -m tfpipe.predict --model artifacts/runs/devise_tiny_imagenet/export --image cat.jpg [--labels unseen]

One graph (Frome et al. 2013, section 3.3, "at test time"): decode the bytes
(``tf.io.decode_image``: JPEG, PNG, GIF's first frame, BMP; RGB) -> the eval view the cached
features were made from (``tfpipe.data.image_pipeline.eval_view`` with the features manifest's
image size and crop fraction) -> the visual model (``tfpipe.models.vision.build``: the
manifest's model, frozen, its ImageNet weights read from the installed package at export time)
-> the run's ``model.keras`` up to the projection ``M v`` (a stage-2 run: the frozen visual model
up to its ``model.visual_top`` map, then the run's fine-tuned top and ``M``) -> the nearest labels of the candidate
set in the run's label index (``labels.build_index``), searched in the graph by
``tfpipe.index.saved_model.search_module`` (exact below ``model.scann_from`` labels, ScaNN's
ops from there up; each signature's search holds only its own candidates, so no label of another
set can be returned).

Signatures, each ``images: string [None]`` ->
``{"labels": string [None, k] (index keys <set>/<class name>), "texts": string [None, k]
(readable class texts), "scores": float32 [None, k] (cosine; the softmax baseline: probability),
"embedding": float32 [None, d] (M v; the softmax baseline: the probabilities)}``:

``seen`` (also ``serving_default``)   the training labels;
``<set>``                             a zero-shot set of ``model.label_sets`` alone (DeViSE-0);
``<set>_and_seen``                    that set and the training labels (DeViSE+seen).

A softmax-baseline run has ``seen`` only (its top-k probabilities).  ``assets.extra/devise.json``
lists the signatures with their candidate counts, ``k``, the visual model and image size; the
SavedModel needs only TensorFlow to load (and ``import scann`` first when a search is ScaNN's:
``needs_scann_ops``).  Differences from the training features: a stored record's image was
already scaled to shorter side 256 by ``beam_jobs.preprocess_images``; an image given here is
scaled from its own size in one step.
"""
from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

INFO_FILE = os.path.join("assets.extra", "devise.json")
DEFAULT_K = 5
SEEN_SUFFIX = "_and_seen"


def signature_name(set_name: str, with_seen: bool) -> str:
    return set_name + (SEEN_SUFFIX if with_seen else "")


def candidate_keys(subsets: dict[str, list[str]], seen: str) -> dict[str, list[str]]:
    """Signature name -> the label keys it ranks: ``seen``, each set, each set + ``seen``."""
    out = {seen: subsets[seen]}
    for name, keys in subsets.items():
        if name == seen:
            continue
        out[signature_name(name, False)] = keys
        out[signature_name(name, True)] = keys + subsets[seen]
    return out


def export(model_dir: str, cfg, out: str, *, model, k: int = DEFAULT_K) -> str:
    """Writes the run's SavedModel to ``out`` (replaced) and ``assets.extra/devise.json``."""
    import tensorflow as tf

    from tfpipe import index as index_lib
    from tfpipe.data import image_pipeline
    from tfpipe.index import saved_model
    from tfpipe.models import vision
    from tfpipe.tasks import devise
    from tfpipe.tasks.devise import labels as labels_lib
    from tfpipe.training import datasets, runs

    data = datasets.open_data(cfg.data.dir)
    features = data.manifest.features
    if features["views"] != 1:
        raise ValueError(f"{data.path} holds {features['views']} views per image; the exported model computes "
                         "the single eval view, so export a run trained on --views 1 features")
    size, crop = int(features["image_size"]), float(features["crop_fraction"])
    tap = devise.feature_output(cfg)  # pooled, or the map a stage-2 run's visual top starts from
    visual = vision.build(features["model"], image_size=size, outputs=(tap,), trainable="frozen")
    sets, label_index = labels_lib.load(model_dir)
    text_of = {labels_lib.label_key(s.name, r["name"]): r["text"] for s in sets.values() for r in s.labels}
    softmax = cfg.model_name == devise.SOFTMAX
    if softmax:
        head = model
        keys = sets[labels_lib.SEEN].keys
        searches = {labels_lib.SEEN: None}
        counts, engines = {labels_lib.SEEN: len(keys)}, {labels_lib.SEEN: "softmax"}
    else:
        from tfpipe.tasks.devise.model import projection_model

        head = projection_model(model)
        by_signature = candidate_keys(label_index.subsets, labels_lib.SEEN)
        row = {key: i for i, key in enumerate(label_index.labels)}
        vectors = label_index.index.vectors
        scann_from = int(devise.model_key(cfg, "scann_from"))
        searches, counts, engines = {}, {}, {}
        for name, members in by_signature.items():
            sub = index_lib.build(vectors[[row[m] for m in members]], members, metric="cosine",
                                  engine="scann" if len(members) >= scann_from else "exact")
            searches[name] = saved_model.search_module(sub, min(k, len(members)))
            counts[name], engines[name] = len(members), sub.engine

    class DeviseServing(tf.Module):
        def __init__(self):
            super().__init__(name="devise_serving")
            self.visual, self.head = visual, head
            self.searches = {n: s for n, s in searches.items() if s is not None}
            self.texts = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(list(text_of)), tf.constant(list(text_of.values()))),
                default_value="")
            if softmax:
                self.keys = tf.constant(keys)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def embed(self, images):  # traced once, shared by every signature
            views = image_pipeline.eval_views_of_bytes(images, size, crop)
            features = self.visual(views, training=False)[tap]
            features = tf.reshape(tf.cast(features, tf.float32), [tf.shape(features)[0], -1])
            return tf.cast(self.head(features, training=False), tf.float32)

        def answer(self, name, images):
            embedding = self.embed(images)
            if softmax:
                scores, ids = tf.math.top_k(embedding, min(k, len(keys)))
                labels = tf.gather(self.keys, ids)
            else:
                found = self.searches[name].serve(embedding)
                scores, labels = found["scores"], found["labels"]
            return {"labels": labels, "texts": self.texts.lookup(labels), "scores": scores, "embedding": embedding}

    module = DeviseServing()
    spec = tf.TensorSpec([None], tf.string, name="images")
    signatures = {}
    def signature(name):
        return tf.function(lambda images: module.answer(name, images), input_signature=[spec])

    for name in searches:
        fn = signature(name)
        setattr(module, f"serve_{name}", fn)
        signatures[name] = fn.get_concrete_function()
    signatures["serving_default"] = signatures[labels_lib.SEEN]
    if os.path.exists(out):
        shutil.rmtree(out)
    tf.saved_model.save(module, out, signatures=signatures)
    info: dict[str, Any] = {
        "task": "devise", "model": cfg.model_name, "model_dir": model_dir, "k": k,
        "signatures": {n: {"candidates": counts[n], "search": engines[n]} for n in searches},
        "default": labels_lib.SEEN,
        "visual_model": features["model"], "image_size": size, "crop_fraction": crop,
        "needs_scann_ops": "scann" in engines.values(),
        "inputs": {"images": "string[batch]: encoded image bytes (JPEG, PNG, GIF, BMP)"},
        "outputs": {"labels": f"string[batch, <= {k}]", "texts": f"string[batch, <= {k}]",
                    "scores": f"float32[batch, <= {k}]", "embedding": "float32[batch, d]"},
    }
    os.makedirs(os.path.join(out, "assets.extra"), exist_ok=True)
    runs.write_json(os.path.join(out, INFO_FILE), info)
    shutil.copy(os.path.join(model_dir, runs.CONFIG_FILE), os.path.join(out, "assets.extra", runs.CONFIG_FILE))
    return out


def read_info(model: str) -> dict[str, Any] | None:
    """``assets.extra/devise.json`` of an exported devise model, or None for another export."""
    from tfpipe.training import runs

    return runs.read_json(os.path.join(model, INFO_FILE))


def signature(model: str, labels: str | None = None):
    """``(the signature of candidate set labels, the export's info)`` of an exported devise model,
    loaded with ``tf.saved_model.load`` alone (ScaNN's ops registered first when a search needs
    them); ``labels`` None: ``seen``; an unknown one names the valid ones."""
    import tensorflow as tf

    info = read_info(model) or {}
    name = labels or info.get("default", "serving_default")
    valid = list(info.get("signatures", {}))
    if valid and name not in valid:
        raise ValueError(f"--labels {name!r} is not a candidate set of {model}; valid: {', '.join(valid)}")
    if info.get("needs_scann_ops"):
        import scann  # noqa: F401  (registers ScaNN's TensorFlow ops)
    return tf.saved_model.load(model).signatures[name], info


def predict(model: str, images: list[bytes], *, labels: str | None = None) -> list[dict[str, Any]]:
    """Each image's top-k labels from an exported devise model (``signature``):
    ``[{"labels": [...], "texts": [...], "scores": [...]}]``; ``labels``: the candidate set."""
    import tensorflow as tf

    serve, _ = signature(model, labels)
    out = serve(images=tf.constant(images, dtype=tf.string))
    result = []
    for i in range(len(images)):
        result.append({"labels": [x.decode("utf-8") for x in out["labels"][i].numpy()],
                       "texts": [x.decode("utf-8") for x in out["texts"][i].numpy()],
                       "scores": [float(x) for x in np.asarray(out["scores"][i])]})
    return result
