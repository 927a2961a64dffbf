"""The joint_embedding task's model keys, their defaults and checks (one definition, read by every part).

``model.encoder`` names the text encoder phi(t) by the paper's row name (Reed et al. 2016,
Table 1); :data:`ENCODERS` maps it to the registered encoder (``tfpipe.models.encoders``) and
says what it reads and whether a projection head maps it to the image dimension.
"""
from __future__ import annotations

import os
from typing import Any, NamedTuple

from tfpipe import config as config_lib

SJE = "sje"
MODELS = (SJE,)
EMBEDDINGS = ("ds", "da")      # DS-SJE (both directions of eq. 1), DA-SJE (the image direction only)
LOSS_FORMS = ("code", "max")   # the authors' code (sum over violators / B^2), the paper's eqs. 5-7
SELECTION = ("val", "none")
IMAGE_NORMS = ("none", "center_l2")  # theta(v) = v (the code's), or v minus the training images' mean, unit length    # model selection on the val classes then train + val, or train alone


class TextEncoder(NamedTuple):
    """``registered``: the encoder in ``tfpipe.models.encoders``; ``reads``: ``chars``,
    ``word_ids``, ``bow`` (the binary word indicator) or ``attributes`` (the class vector);
    ``own_dim``: it ends in its own linear map to ``dim`` (else a projection head does);
    ``vectors``: it reads fixed word vectors (``model.word_vectors``)."""

    registered: str
    reads: str
    own_dim: bool
    vectors: bool = False


ENCODERS: dict[str, TextEncoder] = {
    "char_cnn_rnn": TextEncoder("char_cnn_rnn", "chars", True),
    "word_cnn_rnn": TextEncoder("word_cnn_rnn", "word_ids", True),
    "char_cnn": TextEncoder("char_cnn_doc", "chars", True),
    "word_cnn": TextEncoder("word_cnn_doc", "word_ids", True),
    "char_lstm": TextEncoder("char_lstm", "chars", False),
    "word_lstm": TextEncoder("word_lstm", "word_ids", False),
    "bow": TextEncoder("bag", "bow", False),
    "word2vec": TextEncoder("word_mean", "word_ids", False, vectors=True),
    "attributes": TextEncoder("attributes", "attributes", False),
}

# Every model key and its default.
MODEL_KEYS: dict[str, Any] = {
    "encoder": None,
    "embedding": "ds",
    "loss_form": "code",
    "descriptions": None,        # a class_descriptions data directory (beam_jobs.describe_classes)
    "attributes": None,          # CUB's directory with the class attribute matrix (encoder attributes)
    "word_vectors": None,        # a skip-gram run or word2vec file (encoder word2vec)
    "batch_classes": 40,         # B: distinct classes per batch, one image and one text each
    "rho": 0.99,                 # RMSprop's decay (torch optim.rmsprop's alpha default)
    "epsilon": 1e-8,             # RMSprop's epsilon (torch optim.rmsprop's)
    "lr_decay": 0.98,            # x per epoch of n_train_classes batches
    "init_range": 0.08,          # uniform +-0.08 (params:uniform(-0.08, 0.08))
    "l0": 201,                   # characters kept (section 5)
    "max_words": 30,             # words kept by the word-sequence encoders (section 5)
    "bag_words": 200,            # words read by BoW and word2vec (no order: the whole description)
    "selection": "val",
    "image_norm": "none",
    "encoder_options": {},       # extra keyword arguments of the registered encoder (units, dropout ...)
    "first_layer": "gather",     # the char CNN encoders' conv1: a gather of kernel rows, or one_hot + Conv1D
    "figure4_draws": 10,         # random subsets per text count in the Figure 4 analog
    "scann_from": 10_000,        # text -> image search: exact below this many images, ScaNN above
}


def model_key(cfg: config_lib.Config, key: str) -> Any:
    value = cfg.model.get(key, MODEL_KEYS[key])
    if key in ("rho", "epsilon", "lr_decay", "init_range") and isinstance(value, str):
        value = float(value)
    return value


def encoder_of(cfg: config_lib.Config) -> TextEncoder:
    return ENCODERS[model_key(cfg, "encoder")]


def _choice(cfg, key: str, valid) -> None:
    if model_key(cfg, key) not in valid:
        raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r}; valid: {', '.join(valid)}")


def check_model(cfg: config_lib.Config) -> None:
    """Raises ``ConfigError`` naming the valid choices for a wrong key or value."""
    config_lib.check_model_keys(cfg, MODEL_KEYS)
    if model_key(cfg, "encoder") not in ENCODERS:
        raise config_lib.ConfigError(f"model.encoder={cfg.model.get('encoder')!r}; valid text encoders: "
                                     f"{', '.join(ENCODERS)}")
    _choice(cfg, "embedding", EMBEDDINGS)
    _choice(cfg, "loss_form", LOSS_FORMS)
    _choice(cfg, "selection", SELECTION)
    _choice(cfg, "image_norm", IMAGE_NORMS)
    enc = encoder_of(cfg)
    if enc.reads == "attributes":
        if not model_key(cfg, "attributes"):
            raise config_lib.ConfigError("model.encoder=attributes needs model.attributes: the directory holding "
                                         "cub200_classes.txt and cub200_class_attribute_labels_continuous.txt")
    elif not model_key(cfg, "descriptions"):
        raise config_lib.ConfigError(f"model.encoder={model_key(cfg, 'encoder')} needs model.descriptions: a "
                                     "class_descriptions data directory (python -m beam_jobs.describe_classes)")
    if enc.vectors and not model_key(cfg, "word_vectors"):
        raise config_lib.ConfigError("model.encoder=word2vec needs model.word_vectors: a skip-gram run directory "
                                     "(e.g. artifacts/runs/skipgram_text_corpora_ns) or a word2vec file")
    for key in ("batch_classes", "l0", "max_words", "bag_words", "figure4_draws", "scann_from"):
        value = model_key(cfg, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r} must be a positive int "
                                         f"(default {MODEL_KEYS[key]})")
    if model_key(cfg, "batch_classes") < 2:
        raise config_lib.ConfigError("model.batch_classes must be at least 2 (a batch needs a wrong class)")
    for key in ("rho", "epsilon", "lr_decay", "init_range"):
        try:
            value = float(model_key(cfg, key))
        except (TypeError, ValueError):
            value = -1.0
        if not value > 0 or (key in ("rho", "lr_decay") and value > 1):
            raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r} must be a number in (0, 1] "
                                         f"(default {MODEL_KEYS[key]})" if key in ("rho", "lr_decay") else
                                         f"model.{key}={cfg.model.get(key)!r} must be a positive number "
                                         f"(default {MODEL_KEYS[key]})")
    if not isinstance(model_key(cfg, "encoder_options"), dict):
        raise config_lib.ConfigError("model.encoder_options must be a mapping of encoder keyword arguments")
    if "first_layer" in cfg.model:
        _check_first_layer(cfg)


def _check_first_layer(cfg: config_lib.Config) -> None:
    """``model.first_layer`` is a valid choice and the encoder has such a layer (imports Keras,
    so only when the key is set)."""
    from tfpipe.layers.index_conv import FIRST_LAYERS
    from tfpipe.models import encoders

    _choice(cfg, "first_layer", FIRST_LAYERS)
    takers = [row for row, enc in ENCODERS.items() if "first_layer" in encoders.config_keys(enc.registered)]
    if model_key(cfg, "encoder") not in takers:
        raise config_lib.ConfigError(
            f"model.first_layer is for the encoders whose first layer convolves one-hot characters "
            f"({', '.join(takers)}), not model.encoder={model_key(cfg, 'encoder')}")


def require_inputs(cfg: config_lib.Config) -> None:
    """The descriptions, attributes and word vectors the config names exist (checked when a run
    starts: shipped configs name directories that earlier commands write)."""
    for key, what in (("descriptions", "manifest.json"), ("attributes", "cub200_classes.txt")):
        path = model_key(cfg, key)
        if path and not os.path.exists(os.path.join(path, what)):
            hint = ("python -m beam_jobs.describe_classes (README, 'Class descriptions')" if key == "descriptions"
                    else "CUB's attribute files (../shared/data/cub100)")
            raise config_lib.ConfigError(f"model.{key}={path!r}: no {what} there ({hint})")
    vectors = model_key(cfg, "word_vectors")
    if vectors and encoder_of(cfg).vectors:
        probe = os.path.join(vectors, "vectors.npy") if os.path.isdir(vectors) else vectors
        if not os.path.exists(probe):
            raise config_lib.ConfigError(
                f"model.word_vectors={vectors!r}: {probe} does not exist (python -m tfpipe.train --config "
                "configs/skipgram_text_corpora_ns.yaml)")
