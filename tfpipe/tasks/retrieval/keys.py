"""The retrieval task's model keys, their defaults and checks (one definition, read by every part).

``model.name`` is ``cse`` (You et al. 2018's text CNN, ``tfpipe.models.cse_text``) or ``vse``
(the VSE-style baseline: the mean of the word vectors, then a linear map); both share the image
side and the global loss.  The paper's numbers are the defaults: embedding 1024, margin
``alpha = 0.5`` (eq. 1), ``gamma = 0`` (eq. 5), Adam lr 1e-3 and batch 128 (``train``).
"""
from __future__ import annotations

import os
from typing import Any

from tfpipe import config as config_lib
from tfpipe.losses import NEGATIVES, YOU2018_GLOBAL_MARGIN, YOU2018_INTERMEDIATE_MARGIN

CSE = "cse"
VSE = "vse"
MODELS = (CSE, VSE)
VISUAL = ("top", "frozen")  # stages 6-7 and the head fine-tune from cached stride-16 maps, or nothing does

# Every model key and its default.
MODEL_KEYS: dict[str, Any] = {
    "word_vectors": None,          # a skip-gram run directory or word2vec file (initialises the 300-d words)
    "captions": None,              # the image_captions data directory (default: the features' source)
    "dim": 1024,                   # the global embedding size d (section 4.1)
    "margin": YOU2018_GLOBAL_MARGIN,           # alpha of eq. 1
    "gamma": YOU2018_INTERMEDIATE_MARGIN,      # gamma of eq. 5
    "intermediate": True,          # add the intermediate loss (eqs. 5-6); CSE only
    "negatives": "sum",            # eq. 1's sum over the batch, or VSE++'s hardest negative
    "visual": "top",
    "max_words": 32,               # words kept per caption
    "length_chunks": 4,            # the text tower runs on this many length-sorted slices of a batch (exact)
    "text_options": {},            # extra keyword arguments of the text encoder (filters, kernels ...)
    "cross_test": {},              # name -> {data: features dir, captions: image_captions dir}: Table 5 analogs
    "scann_from": 10_000,          # search indexes: exact below this many items, ScaNN above
    "tensorboard_images": 4,       # test images drawn with their top-3 captions in TensorBoard
}


def model_key(cfg: config_lib.Config, key: str) -> Any:
    value = cfg.model.get(key, MODEL_KEYS[key])
    if key in ("margin", "gamma") and isinstance(value, str):
        value = float(value)
    return value


def _choice(cfg, key: str, valid) -> None:
    if model_key(cfg, key) not in valid:
        raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r}; valid: {', '.join(map(str, valid))}")


def check_model(cfg: config_lib.Config) -> None:
    """Raises ``ConfigError`` naming the valid keys or choices for a wrong key or value."""
    config_lib.check_model_keys(cfg, MODEL_KEYS)
    _choice(cfg, "negatives", NEGATIVES)
    _choice(cfg, "visual", VISUAL)
    _choice(cfg, "intermediate", (True, False))
    if model_key(cfg, "intermediate") and cfg.model_name != CSE:
        raise config_lib.ConfigError(f"model.intermediate=true needs local features: only model.name={CSE!r} has "
                                     f"them (set model.intermediate: false for {cfg.model_name!r})")
    if not model_key(cfg, "word_vectors"):
        raise config_lib.ConfigError("model.word_vectors is required: a skip-gram run directory (python -m tfpipe.train "
                                     "--config configs/skipgram_cse_text.yaml) or a word2vec file")
    for key in ("dim", "max_words", "scann_from", "length_chunks"):
        value = model_key(cfg, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r} must be a positive int "
                                         f"(default {MODEL_KEYS[key]})")
    value = model_key(cfg, "tensorboard_images")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise config_lib.ConfigError(f"model.tensorboard_images={value!r} must be an int >= 0")
    for key in ("margin", "gamma"):
        try:
            value = float(model_key(cfg, key))
        except (TypeError, ValueError):
            value = -1.0
        if not value >= 0:
            raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r} must be a number >= 0 "
                                         f"(default {MODEL_KEYS[key]})")
    if not isinstance(model_key(cfg, "text_options"), dict):
        raise config_lib.ConfigError("model.text_options must be a mapping of text encoder keyword arguments")
    cross = model_key(cfg, "cross_test")
    if not isinstance(cross, dict) or any(not isinstance(v, dict) or "data" not in v or set(v) - {"data", "captions"}
                                          for v in cross.values()):
        raise config_lib.ConfigError("model.cross_test must map a name to {data: <features dir>, captions: "
                                     "<image_captions dir>} (captions optional: the features' source)")


def require_inputs(cfg: config_lib.Config) -> None:
    """The word vectors the config names exist (checked when a run starts: shipped configs name
    directories that earlier commands write)."""
    vectors = model_key(cfg, "word_vectors")
    probe = os.path.join(vectors, "vectors.bin") if os.path.isdir(vectors) else vectors
    if not os.path.exists(probe):
        raise config_lib.ConfigError(f"model.word_vectors={vectors!r}: {probe} does not exist (python -m tfpipe.train "
                                     "--config configs/skipgram_cse_text.yaml)")
