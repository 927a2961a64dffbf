"""The retrieval task's Keras models and loss (You et al. 2018, section 3, eqs. 1-8).

Towers, kept apart so evaluation and serving run each alone:

* **image** (``image_encoder``): the cached stride-16 maps -> the visual top (EfficientNet-Lite0's
  stages 6-7 and head, ``tfpipe.models.vision.top``; trainable with ``model.visual: top``) ->
  ``pooled`` -> dense ``d``: the global ``v``; and stage 6's ``7 x 7 x 192`` map reshaped to 49
  regions: the local ``l_v``.  With ``model.visual: frozen`` the top's two outputs are computed
  once and cached too, and the tower starts from them.
* **text** (``text_encoder``): word ids -> ``cse_text`` (the paper's text CNN: the global ``s``
  and the second highway layer's local ``l_s``), or ``vse`` (the mean of the word vectors ->
  dense ``d``, no local features).

The training model outputs ``[v | s]`` (global loss only) or ``[v | s | c_v | c_s]`` with the
attention contexts of eqs. 2-4 (``c_v`` from ``l_v`` with ``s`` as the query, ``c_s`` from ``l_s``
with ``v``); :func:`retrieval_loss` splits it into eq. 1 plus eq. 5 on the pairs eq. 6 keeps.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe.tasks.retrieval.keys import CSE, model_key

IMAGE_MODEL_FILE = "image_encoder.keras"
TEXT_MODEL_FILE = "text_encoder.keras"
LOCAL_TAP = "stage6"


def _keras():
    import keras

    return keras


def _named(model) -> dict[str, Any]:
    inputs = model.inputs if isinstance(model.inputs, (list, tuple)) else [model.inputs]
    return {t.name.split(":")[0]: t for t in inputs}


def image_input_shapes(cfg: config_lib.Config, map_shape: list[int], image_size: int) -> dict[str, tuple]:
    """The image tower's inputs: ``{"maps"}`` (the visual top trains) or ``{"local", "pooled"}``
    (the frozen top's outputs, cached)."""
    if model_key(cfg, "visual") == "top":
        return {"maps": tuple(map_shape)}
    top = frozen_top(image_size)
    out = top.output
    return {"local": tuple(out["local"].shape[1:]), "pooled": tuple(out["pooled"].shape[1:])}


def frozen_top(image_size: int, model: str = "efficientnet_lite0"):
    """The visual top with its stage-6 map, frozen: what ``model.visual: frozen`` caches.

    Built in float32 whatever the run's dtype policy, like the cached stride-16 maps it reads:
    a mixed_bfloat16 training run and a later float32 ``tfpipe.evaluate`` then compute the very
    same cached features (a bfloat16 copy would round them differently in each)."""
    from tfpipe.models import vision
    from tfpipe.training import devices

    with devices.precision_scope("float32"):
        top = vision.top(model, tap="stride16", image_size=image_size, local=LOCAL_TAP)
    top.trainable = False
    return top


def build_image_encoder(cfg: config_lib.Config, *, map_shape: list[int], image_size: int, model: str = "efficientnet_lite0"):
    """The image tower: its inputs -> ``{"global": v [B, d]}`` and, with the intermediate loss,
    ``"local"``: the regions mapped to ``d`` (eq. 2, ``l'_v [B, R, d]``)."""
    keras = _keras()
    from tfpipe.models import vision

    dim = int(model_key(cfg, "dim"))
    shapes = image_input_shapes(cfg, map_shape, image_size)
    inputs = {name: keras.Input(shape=shape, name=name) for name, shape in shapes.items()}
    if "maps" in inputs:
        out = vision.top(model, tap="stride16", image_size=image_size, local=LOCAL_TAP)(inputs["maps"])
        local, pooled = out["local"], out["pooled"]
    else:
        local, pooled = inputs["local"], inputs["pooled"]
    v = keras.layers.Dense(dim, name="image_global")(pooled)
    out = {"global": keras.layers.Activation("linear", dtype="float32", name="v")(v)}
    if model_key(cfg, "intermediate"):
        regions = int(np.prod(local.shape[1:3]))
        local = keras.layers.Reshape((regions, int(local.shape[-1])), name="regions")(local)  # T(l_v)
        local = keras.layers.Dense(dim, name="image_local")(local)  # eq. 2: T(l_v) W_v + b_v
        out["local"] = keras.layers.Activation("linear", dtype="float32", name="l_v")(local)
    return keras.Model(inputs, out, name="image_encoder")


def build_text_encoder(cfg: config_lib.Config, *, vocab: list[str], vectors: str, vector_dim: int):
    """The text tower: ``word_ids [B, T]`` (any ``T``) -> ``{"global": s [B, d]}`` plus, for CSE with
    the intermediate loss, ``"local"``: the words' local features mapped to ``d`` (eq. 2,
    ``l'_s [B, T, d]``) and ``"mask": [B, T]`` (1 for a word, 0 for padding)."""
    keras = _keras()
    from tfpipe.models import encoders, heads
    from tfpipe.text.tokenize import vocab_size

    dim = int(model_key(cfg, "dim"))
    options = dict(model_key(cfg, "text_options"))
    common = {"vocab_size": vocab_size(len(vocab)), "input_length": None,  # batches are cut to their longest caption
              "vocab": list(vocab), "embeddings": vectors, "embedding_dim": int(vector_dim)}
    if cfg.model_name == CSE:
        enc = encoders.encode("cse_text", **{**common, **options})
        s = enc.embedding
        if int(s.shape[-1]) != dim:
            raise config_lib.ConfigError(f"the text CNN's sentence embedding has {int(s.shape[-1])} dimensions "
                                         f"(4 kernels x filters), model.dim is {dim}: make them agree")
        out = {"global": keras.layers.Activation("linear", dtype="float32", name="s")(s)}
        if model_key(cfg, "intermediate"):
            local = keras.layers.Dense(dim, name="text_local")(enc.local)  # eq. 2 for the words: l_s W_s + b_s
            out["local"] = keras.layers.Activation("linear", dtype="float32", name="l_s")(local)
            out["mask"] = keras.layers.Activation("linear", dtype="float32", name="mask")(enc.local_mask)
    else:
        enc = encoders.encode("word_mean", **{**common, "train_embeddings": True, **options})
        s = heads.apply("projection", enc.embedding, dim=dim, use_bias=True, name="text_global")
        out = {"global": keras.layers.Activation("linear", dtype="float32", name="s")(s)}
    return enc.model(out, name="text_encoder")


def build_model(cfg: config_lib.Config, image_encoder, text_encoder):
    """The training model: ``{<image inputs>, "word_ids"}`` -> ``[v | s]`` or, with the
    intermediate loss, ``[v | s | c_v | c_s]`` (float32)."""
    keras = _keras()
    from tfpipe.layers import AttentionContext, LengthChunked

    inputs = {name: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=name) for name, t in _named(image_encoder).items()}
    word_ids = keras.Input(shape=(None,), dtype="int64", name="word_ids")
    image = image_encoder(inputs)
    # the same outputs as text_encoder(word_ids), on length-sorted chunks each cut to its longest caption
    text = LengthChunked(text_encoder, int(model_key(cfg, "length_chunks")), name="text_chunks")(word_ids)
    parts = [image["global"], text["global"]]
    if model_key(cfg, "intermediate"):
        # eqs. 3-4 on the towers' mapped local features (eq. 2 is their last dense layer)
        c_v = AttentionContext(None, dtype="float32", name="visual_context")([image["local"], text["global"]])
        c_s = AttentionContext(None, dtype="float32", name="textual_context")([text["local"], image["global"]],
                                                                         mask=text["mask"])
        parts += [c_v, c_s]
    out = keras.layers.Concatenate(axis=-1, dtype="float32", name="pairs")(parts)
    return keras.Model({**inputs, "word_ids": word_ids}, out, name=f"{cfg.model_name}_retrieval")


def loss_parts(y_pred, *, dim: int, margin: float, gamma: float, intermediate: bool, negatives: str):
    """``(global, intermediate)`` loss of a batch: eq. 1 on ``(v, s)``; eq. 5 on ``(c_v, s)`` and
    ``(v, c_s)`` for the pairs whose global loss is positive (eq. 6), or 0."""
    import tensorflow as tf

    from tfpipe import losses

    y = tf.cast(y_pred, tf.float32)
    v, s = y[:, :dim], y[:, dim:2 * dim]
    glob = losses.bidirectional_ranking_loss(v, s, margin, negatives=negatives)
    if not intermediate:
        return glob, tf.constant(0.0, tf.float32)
    c_v, c_s = y[:, 2 * dim:3 * dim], y[:, 3 * dim:]
    active = losses.ranking_active_pairs(v, s, margin)
    return glob, losses.intermediate_ranking_loss(c_v, s, v, c_s, active, gamma, negatives=negatives)


def retrieval_loss(cfg: config_lib.Config):
    """The compiled loss (global + intermediate) and the two metrics that log each part."""
    keras = _keras()
    kw = {"dim": int(model_key(cfg, "dim")), "margin": float(model_key(cfg, "margin")),
          "gamma": float(model_key(cfg, "gamma")), "intermediate": bool(model_key(cfg, "intermediate")),
          "negatives": model_key(cfg, "negatives")}

    class RetrievalLoss(keras.losses.Loss):
        def call(self, y_true, y_pred):
            glob, inter = loss_parts(y_pred, **kw)
            return glob + inter

    # Each part repeated once per pair, so that the epoch means weight batches as the loss's does
    # (by their size): the two logged parts then add up to the logged loss.
    def global_loss(y_true, y_pred):
        import tensorflow as tf

        return tf.fill(tf.shape(y_pred)[:1], loss_parts(y_pred, **kw)[0])

    def intermediate_loss(y_true, y_pred):
        import tensorflow as tf

        return tf.fill(tf.shape(y_pred)[:1], loss_parts(y_pred, **kw)[1])

    # A sum over the batch (eq. 1), not a mean: the loss is already a scalar.
    loss = RetrievalLoss(name="cse_loss" if kw["intermediate"] else "global_loss", reduction="sum")
    metrics = [keras.metrics.MeanMetricWrapper(global_loss, name="global_loss")]
    if kw["intermediate"]:
        metrics.append(keras.metrics.MeanMetricWrapper(intermediate_loss, name="intermediate_loss"))
    return loss, metrics


def make_optimizer(cfg: config_lib.Config):
    """Adam (section 4.1: lr 1e-3), the project's optimizer factory with ``train.optimizer: adam``."""
    from tfpipe.training import optimizers

    return optimizers.make_optimizer(cfg.train)


def load_encoders(run_dir: str):
    """``(image_encoder, text_encoder)`` saved with a run."""
    import importlib
    import os

    keras = _keras()
    # The custom layers, the text encoder's and the visual top's initializers, registered for loading.
    for module in ("tfpipe.layers", "tfpipe.models.cse_text", "tfpipe.models.vision"):
        importlib.import_module(module)

    return (keras.saving.load_model(os.path.join(run_dir, IMAGE_MODEL_FILE), compile=False),
            keras.saving.load_model(os.path.join(run_dir, TEXT_MODEL_FILE), compile=False))
