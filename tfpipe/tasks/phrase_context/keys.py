"""The phrase_context task's model keys, their defaults and checks (one definition, read by every part).

Three models (``model.name``), the three trained parts of the predicted-context paper's pipeline
(its Figure 3):

``phrase_generator``  the cached visual feature -> 64-d bottleneck ``x`` -> eq. 1 over the softmax
                      vocabulary, trained with sampled softmax (section 3.2); reads an
                      ``image_phrases`` data directory (``beam_jobs.phrase_pairs``).
``phrase_encoder``    the dual encoder over bags of unigrams + bigrams (200-d, section 3.3), trained on
                      phrase-phrase pairs that share an image with in-batch softmax; reads the same
                      directory's ``pairs``.
``multimodal``        concat[visual embedding, context] -> fully connected -> softmax (section 3.5),
                      and its baselines (``model.inputs``: visual only, context only); reads a
                      downstream ``features`` directory.

``MODEL_KEYS`` maps each key to its default and the models that read it; an unknown key, a wrong
value or a missing run directory names the valid choices.
"""
from __future__ import annotations

import os
from typing import Any

from tfpipe import config as config_lib
from tfpipe.losses import PREDICTED_CONTEXT_SCALE
from tfpipe.models.fusion import VISUAL_EMBEDDING_DIM
from tfpipe.models.phrase_encoder import EMBEDDING_DIM as TEXT_DIM
from tfpipe.models.phrase_encoder import TOP_PHRASES
from tfpipe.models.phrase_generator import BOTTLENECK_DIM

GENERATOR, ENCODER, MULTIMODAL = "phrase_generator", "phrase_encoder", "multimodal"
MODELS = (GENERATOR, ENCODER, MULTIMODAL)
SAMPLERS = ("log_uniform", "uniform")
CONTEXTS = ("prototypes", "softmax")   # the phrase search's output space (Table 2: large vs small)
INPUTS = ("visual", "context")

# Every model key, its default, and the models that read it.
MODEL_KEYS: dict[str, tuple[Any, tuple[str, ...]]] = {
    # phrase_generator
    "features": (None, (GENERATOR,)),              # source name (the records' name) -> its features directory
    "softmax_size": (1000, (GENERATOR,)),          # K: the most frequent phrases get a softmax row w_c
    "prototype_min_images": (2, (GENERATOR,)),     # m: every phrase with >= m images gets a prototype (eq. 2)
    "dim": (BOTTLENECK_DIM, (GENERATOR, ENCODER)),  # the bottleneck (generator) / text embedding (encoder) size
    "hidden": ([1024], (GENERATOR, MULTIMODAL)),   # fully connected ReLU layers before the bottleneck / softmax
    "dropout": (0.0, (GENERATOR, MULTIMODAL)),
    "scale": (PREDICTED_CONTEXT_SCALE, (GENERATOR, ENCODER)),  # s of eq. 1's logits s * cos (the paper: 1)
    "num_sampled": (100, (GENERATOR,)),            # sampled softmax negatives per batch
    "sampler": ("log_uniform", (GENERATOR,)),      # negatives drawn by frequency (ids are in frequency order)
    "subtract_log_q": (True, (GENERATOR,)),        # the log Q correction of sampled softmax
    "scann_from": (10_000, (GENERATOR,)),          # phrase indexes: exact below this many phrases, ScaNN above
    "zero_shot": ({}, (GENERATOR,)),               # name -> downstream features dir: section 4.3's zero-shot rows
    # phrase_encoder
    "min_gram_count": (1, (ENCODER,)),             # a unigram / bigram needs this many phrases to get a row
    "symmetric": (True, (ENCODER,)),               # in-batch softmax both ways (a pair has no direction)
    # multimodal
    "generator": (None, (MULTIMODAL,)),            # a phrase_generator run directory
    "encoder": (None, (MULTIMODAL,)),              # a phrase_encoder run directory
    "context": ("prototypes", (MULTIMODAL,)),      # search the prototypes (eqs. 2-3) or the softmax rows w_c
    "top_phrases": (TOP_PHRASES, (MULTIMODAL,)),
    "inputs": (list(INPUTS), (MULTIMODAL,)),       # [visual, context]: multimodal; [visual]: baseline; [context]
    "visual_embedding_dim": (VISUAL_EMBEDDING_DIM, (MULTIMODAL,)),
    "train_fraction": (1.0, (MULTIMODAL,)),        # Table 1: the training images kept per class
    "tensorboard_images": (6, (MULTIMODAL,)),      # test images drawn with their phrases and both predictions
    "baseline": (None, (MULTIMODAL,)),             # a visual-only multimodal run: its prediction beside ours
}
# Where a model's default differs from the table's.
MODEL_DEFAULTS: dict[tuple[str, str], Any] = {
    (ENCODER, "dim"): TEXT_DIM,
    (MULTIMODAL, "dropout"): 0.5,
}


def default(model: str, key: str) -> Any:
    return MODEL_DEFAULTS.get((model, key), MODEL_KEYS[key][0])


def model_key(cfg: config_lib.Config, key: str) -> Any:
    value = cfg.model.get(key, default(cfg.model_name, key))
    if key in ("scale", "dropout", "train_fraction") and isinstance(value, str):
        value = float(value)
    return value


def _positive_int(cfg, key: str) -> int:
    value = model_key(cfg, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r} must be a positive int "
                                     f"(default {default(cfg.model_name, key)})")
    return value


def _number(cfg, key: str, *, low: float, high: float | None = None, low_open: bool = False) -> float:
    try:
        value = float(model_key(cfg, key))
    except (TypeError, ValueError):
        value = float("nan")
    ok = (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + ("" if high is None else f" and <= {high}")
        raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r} must be a number {bound}")
    return value


def _choice(cfg, key: str, valid) -> None:
    if model_key(cfg, key) not in valid:
        raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r}; valid: {', '.join(map(str, valid))}")


def hidden_layers(cfg: config_lib.Config) -> tuple[int, ...]:
    value = model_key(cfg, "hidden")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or any(not isinstance(h, int) or isinstance(h, bool) or h < 1
                                                   for h in value):
        raise config_lib.ConfigError(f"model.hidden={cfg.model.get('hidden')!r} must be a list of positive ints "
                                     f"(default {MODEL_KEYS['hidden'][0]})")
    return tuple(int(h) for h in value)


def model_inputs(cfg: config_lib.Config) -> tuple[str, ...]:
    value = model_key(cfg, "inputs")
    if isinstance(value, str):
        value = [value]
    if (not isinstance(value, (list, tuple)) or not value or any(v not in INPUTS for v in value)
            or len(set(value)) != len(value)):
        raise config_lib.ConfigError(f"model.inputs={cfg.model.get('inputs')!r} must be a non-empty list of distinct "
                                     f"names among {', '.join(INPUTS)} ([visual, context]: multimodal; [visual]: "
                                     "the visual-only baseline; [context]: text only)")
    return tuple(v for v in INPUTS if v in value)


def check_model(cfg: config_lib.Config) -> None:
    """Raises ``ConfigError`` naming the valid keys or choices for a wrong key or value."""
    name = cfg.model_name
    valid = [k for k, (_, users) in MODEL_KEYS.items() if name in users]
    config_lib.check_model_keys(cfg, valid)
    if name in (GENERATOR, ENCODER):
        _positive_int(cfg, "dim")
        _number(cfg, "scale", low=0.0, low_open=True)
    if name in (GENERATOR, MULTIMODAL):
        hidden_layers(cfg)
        _number(cfg, "dropout", low=0.0, high=0.99)
    if name == GENERATOR:
        features = model_key(cfg, "features")
        if not isinstance(features, dict) or not features or any(not isinstance(v, str) for v in features.values()):
            raise config_lib.ConfigError(
                "model.features must map each image source of the phrase data (the records' name, e.g. "
                "flickr8k_1k, tiny_imagenet) to its features directory (beam_jobs.extract_features)")
        for key in ("softmax_size", "prototype_min_images", "num_sampled", "scann_from"):
            _positive_int(cfg, key)
        sets = model_key(cfg, "zero_shot")
        if not isinstance(sets, dict) or any(not isinstance(v, str) for v in sets.values()):
            raise config_lib.ConfigError("model.zero_shot must map a name to a downstream features directory "
                                         "(e.g. flowers102: artifacts/data/flowers102_all/features_efficientnet_lite0_224)")
        _choice(cfg, "sampler", SAMPLERS)
        _choice(cfg, "subtract_log_q", (True, False))
    if name == ENCODER:
        _positive_int(cfg, "min_gram_count")
        _choice(cfg, "symmetric", (True, False))
    if name == MULTIMODAL:
        inputs = model_inputs(cfg)
        _choice(cfg, "context", CONTEXTS)
        _positive_int(cfg, "top_phrases")
        _positive_int(cfg, "visual_embedding_dim")
        _number(cfg, "train_fraction", low=0.0, high=1.0, low_open=True)
        value = model_key(cfg, "tensorboard_images")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise config_lib.ConfigError(f"model.tensorboard_images={value!r} must be an int >= 0")
        baseline = model_key(cfg, "baseline")
        if baseline is not None and (not isinstance(baseline, str) or not baseline):
            raise config_lib.ConfigError(f"model.baseline={baseline!r} must be a run directory of a visual-only "
                                         "multimodal run (model.inputs: [visual]) or unset")
        if "context" in inputs or model_key(cfg, "tensorboard_images"):
            for key, what in (("generator", "a phrase_generator run directory (configs/phrase_generator.yaml)"),
                              ("encoder", "a phrase_encoder run directory (configs/phrase_encoder.yaml)")):
                if not model_key(cfg, key):
                    raise config_lib.ConfigError(f"model.{key} is required with a context input: {what}")


def require_runs(cfg: config_lib.Config) -> None:
    """The runs a multimodal config names have finished (checked when a run starts: shipped configs
    name directories that earlier commands write)."""
    from tfpipe.training import runs

    for key in ("generator", "encoder"):
        path = model_key(cfg, key)
        if path and not os.path.exists(os.path.join(path, runs.TRAIN_RESULTS)):
            raise config_lib.ConfigError(f"model.{key}={path!r} is not a finished run ({runs.TRAIN_RESULTS} "
                                         f"missing): train it first (python -m tfpipe.train --config "
                                         f"configs/phrase_{'generator' if key == 'generator' else 'encoder'}.yaml)")
    baseline = model_key(cfg, "baseline")
    if baseline:
        from tfpipe.tasks.phrase_context.layout import CLASSIFIER_FILE

        if not os.path.exists(os.path.join(baseline, CLASSIFIER_FILE)):
            raise config_lib.ConfigError(f"model.baseline={baseline!r} is not a finished multimodal run "
                                         f"({CLASSIFIER_FILE} missing): train the visual-only config first")
        theirs = runs.load_config(baseline)
        inputs = model_inputs(theirs)
        if inputs != ("visual",):
            raise config_lib.ConfigError(f"model.baseline={baseline!r} is a run on inputs {list(inputs)}; the "
                                         "baseline is a visual-only run (model.inputs: [visual])")
        if os.path.abspath(str(theirs.data.dir)) != os.path.abspath(str(cfg.data.dir)):
            raise config_lib.ConfigError(f"model.baseline={baseline!r} was trained on {theirs.data.dir}, this run "
                                         f"reads {cfg.data.dir}: the baseline classifies the same downstream set")
