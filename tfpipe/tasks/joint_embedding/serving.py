"""A joint_embedding (SJE) run as a SavedModel: text -> its nearest images, image bytes -> its classes.

    python -m tfpipe.export --model_dir artifacts/runs/sje_char_cnn_rnn_flowers102
    python -m tfpipe.predict --model EXPORT --text "a flower with yellow petals"
    python -m tfpipe.predict --model EXPORT --image F.jpg --classes classes.tsv

One SavedModel of the run's evaluated model (``<run>/final`` after model selection) with

``search_text``                 ``texts: string [None]`` -> ``{"labels": string [None, k] ("<image id>
                                (<class>)"), "ids": int64 [None, k] (rows of the run's image index),
                                "scores": float32 [None, k] (theta(v) . phi(t), eq. 2)}``: the run's text
                                preprocessing in the graph (:func:`text_inputs`: Reed's character
                                quantization ``tfpipe.text.quantize.quantize``, or the words of
                                ``tfpipe.embeddings.label_vectors.words`` looked up in the run's
                                vocabulary as word ids or the BoW indicator) -> ``phi`` (the run's
                                ``text_encoder.keras``) -> the search of the run's image index
                                (``<run>/image_index``, ``tfpipe.index.saved_model.search_module``: exact
                                below ``model.scann_from`` images, ScaNN's ops above).  An ``attributes``
                                run reads class vectors, not text: it has no ``search_text``.
``classify_images``             (also ``serving_default``) ``images: string [None]`` (encoded JPEG, PNG,
                                GIF, BMP), ``class_names: string [C]``, ``class_texts: string [T]``,
                                ``text_class: int32 [T]`` (the index into ``class_names`` of each text)
                                -> ``{"classes": string [None, min(k, C)], "scores": float32 [None,
                                min(k, C)]}``: the class table is given at serve time, a class's embedding
                                is the mean ``phi`` of its texts (eq. 8, ``tf.math.unsorted_segment_mean``);
                                an image is decoded -> the eval view its cached feature was made from
                                (``image_pipeline.eval_view``, the features manifest's image size and crop)
                                -> the manifest's visual model (EfficientNet-Lite0, frozen, pooled; ImageNet
                                weights read from the installed package at export time) -> ``theta(v)``
                                (centred on ``<run>/image_mean.npy`` and unit-normed when the run's
                                ``model.image_norm`` is ``center_l2``) -> ``theta(v) . class embedding``
                                -> top-k.  An ``attributes`` run takes ``class_names`` and
                                ``class_attributes: float32 [C, A]`` instead of texts.

``assets.extra/joint_embedding.json`` (:func:`read_info`) lists the signatures, ``k``, the encoder and
what it reads, the visual model, image size and crop, and ``needs_scann_ops`` (``import scann`` before
``tf.saved_model.load``; :func:`load` does it, and registers tensorflow-text's ops that the word
tokenizer's case folding needs).  As in ``tfpipe.tasks.devise.serving``: a training record's image was
scaled to shorter side 256 before its feature was cached, an image given here is scaled in one step.
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Sequence

import numpy as np

# The in-graph word tokenizer, one definition shared with the retrieval export (tfpipe.data.word_inputs,
# beside the Python word_ids it equals); ``words`` is this module's name for it.
from tfpipe.data.word_inputs import graph_word_ids, graph_words, token_pattern

DEFAULT_K = 5  # answers per query, as the devise export

INFO_FILE = os.path.join("assets.extra", "joint_embedding.json")
SEARCH_TEXT = "search_text"
CLASSIFY_IMAGES = "classify_images"
POOLED = "pooled"


# --------------------------------------------------------------------------- the text path, in the graph

words = graph_words


def text_inputs(reads: str, texts, *, l0: int | None = None, table=None, vocab_words: int = 0,
                length: int | None = None, pattern: str | None = None) -> dict[str, Any]:
    """In the graph: the encoder inputs of raw ``texts`` (string ``[batch]``), as
    ``joint_embedding.encode_texts`` makes them in Python: ``chars`` (``texts.chars``, Reed's
    forward quantization of the first ``l0`` characters), ``word_ids`` (``texts.word_ids``: the
    first ``length`` vocabulary words' ids, words outside the vocabulary dropped) or ``bow``
    (``texts.bow``: sorted distinct vocabulary positions + 1, padded to the batch's widest row, at
    least 1).  ``table``: ``tfpipe.text.tokenize.vocab_table`` of the run's vocabulary."""
    import tensorflow as tf

    from tfpipe.text.tokenize import FIRST_WORD_ID

    texts = tf.convert_to_tensor(texts, tf.string)
    if reads == "chars":
        from tfpipe.text import alphabet
        from tfpipe.text.quantize import quantize

        return {"chars": quantize(texts, alphabet.get("reed"), int(l0))}
    if reads == "word_ids":
        return {"word_ids": graph_word_ids(texts, table, int(length), pattern)}
    if reads != "bow":
        raise ValueError(f"an encoder reading {reads!r} has no text inputs")
    ids = graph_word_ids(texts, table, pattern=pattern)  # ragged, misses (OOV) dropped
    positions = ids - FIRST_WORD_ID + 1  # the bag's ids: vocabulary position + 1, 0 pads
    present = tf.math.bincount(positions, minlength=vocab_words + 1, maxlength=vocab_words + 1,
                               binary_output=True, axis=-1, dtype=tf.int32)
    where = tf.where(present[:, 1:] > 0)  # row-major: each row's ids ascending
    rows = tf.RaggedTensor.from_value_rowids(tf.cast(where[:, 1] + 1, tf.int32), where[:, 0],
                                             nrows=tf.shape(texts, out_type=tf.int64)[0])
    width = tf.maximum(tf.reduce_max(tf.concat([rows.row_lengths(), [0]], 0)), 1)
    shape = tf.stack([tf.shape(texts, out_type=tf.int64)[0], width])
    feature_ids = rows.to_tensor(default_value=0, shape=shape)
    return {"feature_ids": feature_ids, "feature_values": tf.cast(feature_ids > 0, tf.float32)}


# --------------------------------------------------------------------------- export

def _model_inputs(text_model) -> dict[str, Any]:
    from tfpipe.tasks.joint_embedding.model import _named_inputs

    return _named_inputs(text_model)


def export(run_dir: str, out: str, *, k: int = DEFAULT_K) -> str:
    """Writes the SavedModel of the run in ``run_dir`` (the evaluated one: ``Task.run_with_model``)
    to ``out`` (replaced) and ``assets.extra/joint_embedding.json``; returns ``out``."""
    import tensorflow as tf

    from tfpipe.data import image_pipeline
    from tfpipe.index import manifest as index_manifest
    from tfpipe.index import saved_model
    from tfpipe.models import vision
    from tfpipe.tasks import joint_embedding as je
    from tfpipe.tasks.joint_embedding.keys import encoder_of, model_key
    from tfpipe.text.tokenize import vocab_table
    from tfpipe.training import datasets, runs

    cfg = runs.load_config(run_dir)
    enc = encoder_of(cfg)
    reads = enc.reads
    saved = runs.read_json(os.path.join(run_dir, je.TEXTS_FILE)) or {}
    vocab = saved.get("vocab")
    data = datasets.open_data(cfg.data.dir)
    features = data.manifest.features
    if features.get("views", 1) != 1:
        raise ValueError(f"{data.path} holds {features['views']} views per image; the exported model computes "
                         "the single eval view, so export a run trained on --views 1 features")
    names = [o["name"] for o in features.get("outputs", [{"name": POOLED}])]
    if names != [POOLED]:
        raise ValueError(f"{data.path} holds the visual model's outputs {names}; an SJE run reads the pooled feature "
                         "alone (beam_jobs.extract_features without extra outputs)")
    size, crop = int(features["image_size"]), float(features["crop_fraction"])
    index_dir = os.path.join(run_dir, je.IMAGE_INDEX_DIR)
    if reads != "attributes" and not os.path.isdir(index_dir):
        raise FileNotFoundError(f"{index_dir}: no index of the evaluated images for search_text (python -m "
                                "tfpipe.evaluate --model_dir <the run> writes it)")
    visual = vision.build(features["model"], image_size=size, outputs=(POOLED,), trainable="frozen")
    text_model = je.load_text_model(run_dir)
    model_inputs = _model_inputs(text_model)
    mean = None
    if model_key(cfg, "image_norm") == "center_l2":
        mean = np.load(os.path.join(run_dir, je.IMAGE_MEAN_FILE)).astype(np.float32)
    has_text = reads != "attributes"
    search, index_info = None, None
    if has_text:
        image_index = index_manifest.load_index(index_dir)
        search = saved_model.search_module(image_index, min(k, len(image_index)))
        index_info = {"images": len(image_index), "search": image_index.engine, "metric": image_index.metric,
                      "k": min(k, len(image_index))}
    l0 = int(model_key(cfg, "l0"))
    length = int(model_key(cfg, "bag_words" if enc.vectors else "max_words"))
    pattern = token_pattern() if reads in ("word_ids", "bow") else None

    class JointEmbeddingServing(tf.Module):
        def __init__(self):
            super().__init__(name="joint_embedding_serving")
            self.visual, self.text_model, self.search = visual, text_model, search
            self.mean = None if mean is None else tf.constant(mean)
            self.table = vocab_table(list(vocab)) if reads in ("word_ids", "bow") else None

        def phi(self, inputs: dict[str, Any]):
            x = {n: tf.cast(inputs[n], t.dtype) for n, t in model_inputs.items()}
            x = x if len(x) > 1 else next(iter(x.values()))
            return tf.cast(self.text_model(x, training=False), tf.float32)

        def phi_texts(self, texts):
            return self.phi(text_inputs(reads, texts, l0=l0, table=self.table, vocab_words=len(vocab or []),
                                        length=length, pattern=pattern))

        def theta(self, images):
            views = image_pipeline.eval_views_of_bytes(images, size, crop)
            v = tf.cast(self.visual(views, training=False)[POOLED], tf.float32)
            v = tf.reshape(v, [tf.shape(v)[0], -1])
            if self.mean is None:
                return v
            c = v - self.mean
            # image_embedding's (v - mean) / max(|v - mean|, 1e-12)
            return c / tf.maximum(tf.norm(c, axis=1, keepdims=True), 1e-12)

        def top_classes(self, images, class_names, class_emb):
            scores = tf.matmul(self.theta(images), class_emb, transpose_b=True)
            top = tf.minimum(tf.constant(k, tf.int32), tf.shape(class_names)[0])
            scores, ids = tf.math.top_k(scores, top)
            return {"classes": tf.gather(class_names, ids), "scores": scores}

    module = JointEmbeddingServing()
    signatures = {}
    if has_text:
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
        def search_text(texts):
            found = module.search.serve(module.phi_texts(texts))
            return {"labels": found["labels"], "ids": found["ids"], "scores": found["scores"]}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images"),
                                      tf.TensorSpec([None], tf.string, name="class_names"),
                                      tf.TensorSpec([None], tf.string, name="class_texts"),
                                      tf.TensorSpec([None], tf.int32, name="text_class")])
        def classify_images(images, class_names, class_texts, text_class):
            num = tf.shape(class_names)[0]
            checks = [
                tf.debugging.assert_equal(tf.shape(class_texts)[0], tf.shape(text_class)[0],
                                          message="class_texts and text_class must have one entry per text"),
                tf.debugging.assert_non_negative(text_class, message="text_class must index class_names"),
                tf.debugging.assert_less(text_class, num, message="text_class must index class_names"),
            ]
            with tf.control_dependencies(checks):
                counts = tf.math.unsorted_segment_sum(tf.ones_like(text_class), text_class, num)
            with tf.control_dependencies([tf.debugging.assert_positive(
                    counts, message="every class of class_names needs at least one text (eq. 8)")]):
                emb = tf.math.unsorted_segment_mean(module.phi_texts(class_texts), text_class, num)
            return module.top_classes(images, class_names, emb)

        module.search_text = search_text
        signatures[SEARCH_TEXT] = search_text.get_concrete_function()
    else:
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images"),
                                      tf.TensorSpec([None], tf.string, name="class_names"),
                                      tf.TensorSpec([None, None], tf.float32, name="class_attributes")])
        def classify_images(images, class_names, class_attributes):
            with tf.control_dependencies([tf.debugging.assert_equal(
                    tf.shape(class_attributes)[0], tf.shape(class_names)[0],
                    message="class_attributes must have one row per class of class_names")]):
                emb = module.phi({"attributes": class_attributes})
            return module.top_classes(images, class_names, emb)

    module.classify_images = classify_images
    signatures[CLASSIFY_IMAGES] = classify_images.get_concrete_function()
    signatures["serving_default"] = signatures[CLASSIFY_IMAGES]
    if os.path.exists(out):
        shutil.rmtree(out)
    tf.saved_model.save(module, out, signatures=signatures)
    classify_inputs = ({"images": "string[batch]: encoded image bytes (JPEG, PNG, GIF, BMP)",
                        "class_names": "string[C]", "class_texts": "string[T]",
                        "text_class": "int32[T]: the index into class_names of each text"} if has_text else
                       {"images": "string[batch]: encoded image bytes (JPEG, PNG, GIF, BMP)",
                        "class_names": "string[C]", "class_attributes": "float32[C, A]: each class's attribute vector"})
    info: dict[str, Any] = {
        "task": "joint_embedding", "model": cfg.model_name, "model_dir": run_dir, "k": k,
        "encoder": model_key(cfg, "encoder"), "reads": reads, "embedding": model_key(cfg, "embedding"),
        "image_norm": model_key(cfg, "image_norm"), "l0": l0 if reads == "chars" else None,
        "vocabulary": None if vocab is None else len(vocab),
        "words": length if reads == "word_ids" else None,
        "signatures": {
            **({SEARCH_TEXT: {"inputs": {"texts": "string[batch]"},
                              "outputs": {"labels": f"string[batch, {index_info['k']}]",
                                          "ids": f"int64[batch, {index_info['k']}]",
                                          "scores": f"float32[batch, {index_info['k']}]"},
                              "index": index_info}} if has_text else {}),
            CLASSIFY_IMAGES: {"inputs": classify_inputs,
                              "outputs": {"classes": f"string[batch, min({k}, C)]",
                                          "scores": f"float32[batch, min({k}, C)]"}},
        },
        "default": CLASSIFY_IMAGES,
        "no_text_signature": None if has_text else (
            "encoder attributes reads class attribute vectors, not text: no search_text; classify_images "
            "takes class_attributes"),
        "visual_model": features["model"], "image_size": size, "crop_fraction": crop,
        "needs_scann_ops": bool(index_info and index_info["search"] == "scann"),
        "needs_tensorflow_text": reads in ("word_ids", "bow"),
    }
    os.makedirs(os.path.join(out, "assets.extra"), exist_ok=True)
    runs.write_json(os.path.join(out, INFO_FILE), info)
    shutil.copy(os.path.join(run_dir, runs.CONFIG_FILE), os.path.join(out, "assets.extra", runs.CONFIG_FILE))
    return out


def usage(out: str) -> list[str]:
    """The commands that use an export written to ``out`` (printed by ``python -m tfpipe.export``)."""
    info = read_info(out) or {}
    lines = []
    if SEARCH_TEXT in info.get("signatures", {SEARCH_TEXT: None}):
        lines.append(f"python -m tfpipe.predict --model {out} --text 'a flower with yellow petals'")
    lines.append(f"python -m tfpipe.predict --model {out} --image FILE.jpg --classes CLASSES.tsv"
                 + ("   (rows: class_name<TAB>text, several per class)" if info.get("reads") != "attributes"
                    else "   (rows: class_name<TAB>attribute values, one row per class)"))
    return lines


# --------------------------------------------------------------------------- serving helpers

def read_info(model: str) -> dict[str, Any] | None:
    """``assets.extra/joint_embedding.json`` of an exported joint_embedding model, or None."""
    from tfpipe.index.saved_model import read_export_info

    return read_export_info(model, INFO_FILE)


def load(model: str):
    """``(tf.saved_model.load(model), info)``: ScaNN's and tensorflow-text's ops registered first
    when the export needs them."""
    from tfpipe.index.saved_model import load_export

    return load_export(model, INFO_FILE)


def search_text(model: str, texts: Sequence[str]) -> list[dict[str, Any]]:
    """Each text's nearest images: ``[{"text", "labels", "ids", "scores"}]``."""
    import tensorflow as tf

    loaded, info = load(model)
    if SEARCH_TEXT not in loaded.signatures:
        raise ValueError(f"{model} is an export of an SJE run with text encoder {info.get('encoder')} (it reads "
                         "class attribute vectors, not text): it has no text search")
    out = loaded.signatures[SEARCH_TEXT](texts=tf.constant(list(texts), tf.string))
    return [{"text": t, "labels": [x.decode("utf-8") for x in out["labels"][i].numpy()],
             "ids": [int(x) for x in out["ids"][i].numpy()],
             "scores": [float(x) for x in out["scores"][i].numpy()]} for i, t in enumerate(texts)]


def read_class_table(path: str, reads: str) -> dict[str, Any]:
    """A ``--classes`` TSV: ``class_name<TAB>text`` rows (several per class; classes in order of first
    appearance) -> ``{"class_names", "class_texts", "text_class"}``; an attributes export:
    ``class_name<TAB>v1<TAB>v2...`` (one row per class) -> ``{"class_names", "class_attributes"}``.
    Blank lines and lines starting with ``#`` are skipped; a malformed row raises ``ValueError``."""
    names: list[str] = []
    where: dict[str, int] = {}
    texts, text_class, vectors = [], [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
                raise ValueError(f"--classes {path}:{n}: expected class_name<TAB>"
                                 + ("attribute values" if reads == "attributes" else "text"))
            name = parts[0].strip()
            if reads == "attributes":
                if name in where:
                    raise ValueError(f"--classes {path}:{n}: class {name!r} twice (one attribute row per class)")
                try:
                    vectors.append([float(v) for v in parts[1:]])
                except ValueError:
                    raise ValueError(f"--classes {path}:{n}: attribute values must be numbers") from None
                if len(vectors[-1]) != len(vectors[0]):
                    raise ValueError(f"--classes {path}:{n}: {len(vectors[-1])} attribute values, the first row "
                                     f"has {len(vectors[0])}")
            else:
                texts.append("\t".join(parts[1:]))
                text_class.append(where[name] if name in where else len(names))
            if name not in where:
                where[name] = len(names)
                names.append(name)
    if not names:
        raise ValueError(f"--classes {path}: no class rows")
    if reads == "attributes":
        return {"class_names": names, "class_attributes": np.asarray(vectors, np.float32)}
    return {"class_names": names, "class_texts": texts, "text_class": np.asarray(text_class, np.int32)}


def classify_images(model: str, images: Sequence[bytes], classes: dict[str, Any]) -> list[dict[str, Any]]:
    """Each image's top classes among ``classes`` (:func:`read_class_table`'s dict):
    ``[{"classes": [...], "scores": [...]}]``."""
    import tensorflow as tf

    loaded, _ = load(model)
    inputs = {"images": tf.constant(list(images), tf.string),
              "class_names": tf.constant(classes["class_names"], tf.string)}
    if "class_attributes" in classes:
        inputs["class_attributes"] = tf.constant(classes["class_attributes"], tf.float32)
    else:
        inputs["class_texts"] = tf.constant(classes["class_texts"], tf.string)
        inputs["text_class"] = tf.constant(classes["text_class"], tf.int32)
    out = loaded.signatures[CLASSIFY_IMAGES](**inputs)
    return [{"classes": [x.decode("utf-8") for x in out["classes"][i].numpy()],
             "scores": [float(x) for x in out["scores"][i].numpy()]} for i in range(len(images))]
