"""A retrieval (CSE) run as a SavedModel: text -> its nearest test images, image bytes -> its nearest captions.

    python -m tfpipe.export --model_dir artifacts/runs/cse_flickr8k
    python -m tfpipe.predict --model EXPORT --text "a dog runs through the grass"
    python -m tfpipe.predict --model EXPORT --image F.jpg [--image ...]

One SavedModel of a finished retrieval run (You et al. 2018's image-sentence retrieval in the
joint space of the global embeddings ``v`` and ``s``, compared by cosine, section 3) with

``search_text``                 ``texts: string [None]`` -> ``{"labels": string [None, k] (image ids),
                                "ids": int64 [None, k] (rows of the run's image index), "scores": float32
                                [None, k] (cos(v, s))}``: the run's word ids in the graph
                                (``tfpipe.data.word_inputs.graph_word_ids``, equal to the Python
                                ``word_ids``: ``label_vectors.words`` looked up in the run's vocabulary,
                                unknown words dropped, the first ``model.max_words`` kept) -> the text
                                tower (``text_encoder.keras``) -> unit ``s`` -> the search of the run's
                                index of the evaluated split's images (``<run>/image_index``,
                                ``tfpipe.index.saved_model.search_module``: exact below
                                ``model.scann_from`` items, ScaNN's ops above).
``search_images``               (also ``serving_default``) ``images: string [None]`` (encoded JPEG, PNG,
                                GIF, BMP) -> ``{"labels": string [None, k] ("<image id>: <caption>"),
                                "ids": int64 [None, k] (rows of the caption index), "scores": float32
                                [None, k]}``: decoded -> the eval view the cached maps were made from
                                (``image_pipeline.eval_views_of_bytes``, the features manifest's image
                                size and crop) -> the whole EfficientNet-Lite0 (ImageNet weights read from
                                the installed package at export time): its stride-16 map for a
                                ``model.visual: top`` run, whose image tower holds the fine-tuned stages
                                6-7 and head; its stage-6 map and pooled vector for a ``frozen`` run (the
                                tower's ``local`` and ``pooled`` inputs) -> the image tower
                                (``image_encoder.keras``) -> unit ``v`` -> the search of the run's caption
                                index (``<run>/caption_index``).

``k`` (default 10, the largest R@K of the paper's tables) is cut to an index's size.
``assets.extra/retrieval.json`` (:func:`read_info`) lists the signatures, ``k``, the text tower's
vocabulary and word count, the visual model, image size and crop, and ``needs_scann_ops`` (``import
scann`` before ``tf.saved_model.load``; :func:`load` does it, and registers tensorflow-text's ops that
the word tokenizer's case folding needs).  As in the devise and joint_embedding exports: a training
record's image was scaled to shorter side 256 before its maps were cached, an image given here is
scaled in one step.
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Sequence

DEFAULT_K = 10  # answers per query: R@10, the largest cut-off of You et al.'s Tables 1-5

INFO_FILE = os.path.join("assets.extra", "retrieval.json")
SEARCH_TEXT = "search_text"
SEARCH_IMAGES = "search_images"
MAPS = "stride16"  # the cached map a top run's image tower starts from
FROZEN_OUTPUTS = ("stage6", "pooled")  # what a frozen run's image tower reads, as (local, pooled)


def _index_info(index, k: int) -> dict[str, Any]:
    return {"items": len(index), "search": index.engine, "metric": index.metric, "k": k}


def export(run_dir: str, out: str, *, k: int = DEFAULT_K, data_dir: str | None = None) -> str:
    """Writes the SavedModel of the finished retrieval run in ``run_dir`` to ``out`` (replaced) with
    ``assets.extra/retrieval.json``; returns ``out``.  ``data_dir``: the features directory whose
    manifest gives the visual model, image size and crop (default the run's ``data.dir``)."""
    import tensorflow as tf

    from tfpipe.data import image_pipeline
    from tfpipe.data.word_inputs import graph_word_ids, token_pattern
    from tfpipe.index import manifest as index_manifest
    from tfpipe.index import saved_model
    from tfpipe.models import vision
    from tfpipe.tasks import retrieval
    from tfpipe.tasks.retrieval import captions as captions_lib
    from tfpipe.tasks.retrieval import model as model_lib
    from tfpipe.tasks.retrieval.keys import model_key
    from tfpipe.text.tokenize import vocab_table
    from tfpipe.training import datasets, runs

    if int(k) < 1:
        raise ValueError(f"k={k} must be a positive int")
    cfg = runs.load_config(run_dir)
    vocab = (runs.read_json(os.path.join(run_dir, retrieval.VOCAB_FILE)) or {}).get("vocab")
    if vocab is None:
        raise FileNotFoundError(f"{os.path.join(run_dir, retrieval.VOCAB_FILE)}: no vocabulary (is {run_dir} a "
                                "finished retrieval run?)")
    index_dirs = {name: os.path.join(run_dir, name) for name in (retrieval.IMAGE_INDEX_DIR, retrieval.CAPTION_INDEX_DIR)}
    for path in index_dirs.values():
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{path}: no index of the evaluated split (python -m tfpipe.evaluate --model_dir "
                                    f"{run_dir} writes it)")
    data = datasets.open_data(data_dir or cfg.data.dir)
    features = data.manifest.features
    if features.get("views", 1) != 1:
        raise ValueError(f"{data.path} holds {features['views']} views per image; the exported model computes the "
                         "single eval view, so export a run trained on --views 1 features")
    captions_lib.map_shape(data.path)  # the stride-16 maps are there (else: the error that says how)
    for key in ("model", "image_size", "crop_fraction"):
        if key not in features:
            raise ValueError(f"{data.path}: its features manifest has no {key!r} (written by "
                             "beam_jobs.extract_features); the export needs it to compute the eval view")
    name, size, crop = features["model"], int(features["image_size"]), float(features["crop_fraction"])
    visual_mode = model_key(cfg, "visual")
    taps = (MAPS,) if visual_mode == "top" else FROZEN_OUTPUTS
    visual = vision.build(name, image_size=size, outputs=taps, trainable="frozen")
    image_encoder, text_encoder = model_lib.load_encoders(run_dir)
    max_words = int(model_key(cfg, "max_words"))
    image_index = index_manifest.load_index(index_dirs[retrieval.IMAGE_INDEX_DIR])
    caption_index = index_manifest.load_index(index_dirs[retrieval.CAPTION_INDEX_DIR])
    k_images, k_captions = min(int(k), len(image_index)), min(int(k), len(caption_index))
    pattern = token_pattern()

    def unit(x):
        with tf.device("/CPU:0"):  # the op, and device, of tfpipe.index.base.unit_queries
            return tf.math.l2_normalize(tf.cast(x, tf.float32), axis=1)

    class RetrievalServing(tf.Module):
        def __init__(self):
            super().__init__(name="retrieval_serving")
            self.visual, self.image_encoder, self.text_encoder = visual, image_encoder, text_encoder
            self.image_search = saved_model.search_module(image_index, k_images)
            self.caption_search = saved_model.search_module(caption_index, k_captions)
            self.table = vocab_table(list(vocab))

        def s(self, texts):
            """Unit global text embeddings of raw texts."""
            ids = graph_word_ids(texts, self.table, max_words, pattern)
            return unit(self.text_encoder(ids, training=False)["global"])

        def v(self, images):
            """Unit global image embeddings of encoded images."""
            views = image_pipeline.eval_views_of_bytes(images, size, crop)
            out = self.visual(views, training=False)
            inputs = ({"maps": out[MAPS]} if visual_mode == "top"
                      else {"local": out[FROZEN_OUTPUTS[0]], "pooled": out[FROZEN_OUTPUTS[1]]})
            return unit(self.image_encoder(inputs, training=False)["global"])

    module = RetrievalServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def search_text(texts):
        found = module.image_search.serve(module.s(texts))
        return {"labels": found["labels"], "ids": found["ids"], "scores": found["scores"]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def search_images(images):
        found = module.caption_search.serve(module.v(images))
        return {"labels": found["labels"], "ids": found["ids"], "scores": found["scores"]}

    module.search_text, module.search_images = search_text, search_images
    images_fn = search_images.get_concrete_function()
    signatures = {SEARCH_TEXT: search_text.get_concrete_function(), SEARCH_IMAGES: images_fn,
                  "serving_default": images_fn}
    if os.path.exists(out):
        shutil.rmtree(out)
    tf.saved_model.save(module, out, signatures=signatures)
    indexes = {SEARCH_TEXT: _index_info(image_index, k_images), SEARCH_IMAGES: _index_info(caption_index, k_captions)}
    info: dict[str, Any] = {
        "task": "retrieval", "model": cfg.model_name, "model_dir": run_dir, "data_dir": data.path, "k": int(k),
        "visual": visual_mode, "intermediate": bool(model_key(cfg, "intermediate")),
        "vocabulary": len(vocab), "max_words": max_words,
        "signatures": {
            SEARCH_TEXT: {"inputs": {"texts": "string[batch]"},
                          "outputs": {"labels": f"string[batch, {k_images}]: image ids",
                                      "ids": f"int64[batch, {k_images}]", "scores": f"float32[batch, {k_images}]"},
                          "index": indexes[SEARCH_TEXT]},
            SEARCH_IMAGES: {"inputs": {"images": "string[batch]: encoded image bytes (JPEG, PNG, GIF, BMP)"},
                            "outputs": {"labels": f"string[batch, {k_captions}]: '<image id>: <caption>'",
                                        "ids": f"int64[batch, {k_captions}]",
                                        "scores": f"float32[batch, {k_captions}]"},
                            "index": indexes[SEARCH_IMAGES]},
        },
        "default": SEARCH_IMAGES,
        "visual_model": name, "visual_outputs": list(taps), "image_size": size, "crop_fraction": crop,
        "needs_scann_ops": any(i["search"] == "scann" for i in indexes.values()),
        "needs_tensorflow_text": True,
    }
    os.makedirs(os.path.join(out, "assets.extra"), exist_ok=True)
    runs.write_json(os.path.join(out, INFO_FILE), info)
    shutil.copy(os.path.join(run_dir, runs.CONFIG_FILE), os.path.join(out, "assets.extra", runs.CONFIG_FILE))
    return out


def usage(out: str) -> list[str]:
    """The commands that use an export written to ``out`` (printed by ``python -m tfpipe.export``)."""
    return [f"python -m tfpipe.predict --model {out} --text 'a dog runs through the grass'   (nearest test images)",
            f"python -m tfpipe.predict --model {out} --image FILE.jpg [--image ...]   (nearest test captions)"]


# --------------------------------------------------------------------------- serving helpers

def read_info(model: str) -> dict[str, Any] | None:
    """``assets.extra/retrieval.json`` of an exported retrieval model, or None."""
    from tfpipe.index.saved_model import read_export_info

    return read_export_info(model, INFO_FILE)


def load(model: str):
    """``(tf.saved_model.load(model), info)``: ScaNN's and tensorflow-text's ops registered first
    when the export needs them."""
    from tfpipe.index.saved_model import load_export

    return load_export(model, INFO_FILE)


def _answers(out, n: int) -> list[dict[str, Any]]:
    return [{"labels": [x.decode("utf-8") for x in out["labels"][i].numpy()],
             "ids": [int(x) for x in out["ids"][i].numpy()],
             "scores": [float(x) for x in out["scores"][i].numpy()]} for i in range(n)]


def search_text(model: str, texts: Sequence[str], *, loaded=None) -> list[dict[str, Any]]:
    """Each text's nearest images: ``[{"text", "labels" (image ids), "ids", "scores"}]``.
    ``loaded``: the SavedModel already loaded (:func:`load`)."""
    import tensorflow as tf

    loaded = loaded if loaded is not None else load(model)[0]
    texts = list(texts)
    out = loaded.signatures[SEARCH_TEXT](texts=tf.constant(texts, tf.string))
    return [{"text": t, **a} for t, a in zip(texts, _answers(out, len(texts)))]


def search_images(model: str, images: Sequence[bytes], *, loaded=None) -> list[dict[str, Any]]:
    """Each encoded image's nearest captions: ``[{"labels" ("<image id>: <caption>"), "ids",
    "scores"}]``.  ``loaded``: the SavedModel already loaded (:func:`load`)."""
    import tensorflow as tf

    loaded = loaded if loaded is not None else load(model)[0]
    images = list(images)
    out = loaded.signatures[SEARCH_IMAGES](images=tf.constant(images, tf.string))
    return _answers(out, len(images))
