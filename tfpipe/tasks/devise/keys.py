"""The devise task's model keys, their defaults and checks (one definition, read by every part).

``MODEL_KEYS`` maps each ``model.*`` key to its default and the models that read it; an unknown
key, a wrong value or a missing file names the valid choices.
"""
from __future__ import annotations

import os
from typing import Any

from tfpipe import config as config_lib
from tfpipe.tasks.devise import labels as labels_lib

SOFTMAX, DEVISE, RANDOM = "devise_softmax", "devise", "devise_random"
MODELS = (SOFTMAX, DEVISE, RANDOM)
LOSS_FORMS = ("truncated", "full")
OPTIMIZERS = ("adagrad",) + tuple(config_lib.OPTIMIZERS)
SCHEDULES = ("constant", "paper_step", "cosine")
# Every model key, its default, and the models that read it.
MODEL_KEYS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "optimizer": ("adagrad", MODELS),
    "label_vectors": (None, (DEVISE, SOFTMAX)),
    "label_sets": (None, (DEVISE, SOFTMAX)),
    "center_vectors": (False, (DEVISE, SOFTMAX)),
    "loss_form": ("truncated", (DEVISE, RANDOM)),
    "margin": (0.1, (DEVISE, RANDOM)),
    "loss_seed": (0, (DEVISE, RANDOM)),
    "classes_with_vectors": (None, (SOFTMAX, RANDOM)),
    "dim": (500, (RANDOM,)),
    "label_seed": (0, (RANDOM,)),
    "conse_top": (10, (SOFTMAX,)),
    "scann_from": (10_000, MODELS),
    "visual_top": (None, MODELS),
    "init_from": (None, MODELS),
}
OUTPUT = "pooled"
LABELS_FILE = labels_lib.LABELS_FILE
TRAIN_KEYS = ("training_time_s", "examples_per_sec", "epochs_run", "mixed_precision", "params")


def model_key(cfg: config_lib.Config, key: str) -> Any:
    default, _ = MODEL_KEYS[key]
    value = cfg.model.get(key, default)
    if key == "margin" and isinstance(value, str):
        value = float(value)
    return value


def check_model(cfg: config_lib.Config) -> None:
    name = cfg.model_name
    valid = [k for k, (_, users) in MODEL_KEYS.items() if name in users]
    config_lib.check_model_keys(cfg, valid)
    if model_key(cfg, "optimizer") not in OPTIMIZERS:
        raise config_lib.ConfigError(
            f"model.optimizer={model_key(cfg, 'optimizer')!r}; valid optimizers: {', '.join(OPTIMIZERS)} "
            "(adagrad: the paper's)")
    if name in (DEVISE, RANDOM):
        if model_key(cfg, "loss_form") not in LOSS_FORMS:
            raise config_lib.ConfigError(
                f"model.loss_form={model_key(cfg, 'loss_form')!r}; valid forms: {', '.join(LOSS_FORMS)} "
                "(truncated: the paper's)")
        try:
            margin = float(model_key(cfg, "margin"))
        except (TypeError, ValueError):
            margin = -1.0
        if not margin > 0:
            raise config_lib.ConfigError(f"model.margin={cfg.model.get('margin')!r} must be a positive number "
                                         "(the paper: 0.1)")
    if name == RANDOM and (not isinstance(model_key(cfg, "dim"), int) or model_key(cfg, "dim") < 1):
        raise config_lib.ConfigError(f"model.dim={cfg.model.get('dim')!r} must be a positive int (e.g. 500)")
    if name == DEVISE and not model_key(cfg, "label_vectors"):
        raise config_lib.ConfigError(
            "model devise needs model.label_vectors: a skip-gram run directory (vectors.npy + words.txt, "
            "e.g. artifacts/runs/skipgram_text_corpora_ns) or a word2vec file; devise_random uses random "
            "unit vectors instead, devise_softmax none")
    if name == SOFTMAX and model_key(cfg, "label_vectors") and model_key(cfg, "classes_with_vectors"):
        raise config_lib.ConfigError("set model.label_vectors (classes with a vector, ConSE and zero-shot sets) "
                                     "or model.classes_with_vectors (classes with a vector only), not both")
    if labels_lib.parse_label_sets(model_key(cfg, "label_sets")) and not model_key(cfg, "label_vectors"):
        raise config_lib.ConfigError("model.label_sets needs model.label_vectors: the zero-shot labels' vectors")
    if not isinstance(model_key(cfg, "center_vectors"), bool):
        raise config_lib.ConfigError(f"model.center_vectors={cfg.model.get('center_vectors')!r} must be true or false")
    if model_key(cfg, "visual_top") is not None:
        from tfpipe.models import vision

        if model_key(cfg, "visual_top") not in vision.TOP_TAPS:
            raise config_lib.ConfigError(f"model.visual_top={model_key(cfg, 'visual_top')!r}; valid: "
                                         f"{', '.join(vision.TOP_TAPS)} (the cached map the fine-tuned top starts from)")
    init = model_key(cfg, "init_from")
    if init is not None and not isinstance(init, str):
        raise config_lib.ConfigError(f"model.init_from={init!r} must be a run directory (stage 1)")
    for key in ("conse_top", "scann_from"):
        value = model_key(cfg, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise config_lib.ConfigError(f"model.{key}={cfg.model.get(key)!r} must be a positive int "
                                         f"(default {MODEL_KEYS[key][0]})")


def require_vectors(cfg: config_lib.Config) -> None:
    """The label vectors and zero-shot data directories the config names exist (checked when a
    run starts, like its data: a shipped config names runs and data that earlier commands write)."""
    restrict = model_key(cfg, "classes_with_vectors")
    if restrict and not os.path.exists(_vectors_file(restrict)):
        raise config_lib.ConfigError(
            f"model.classes_with_vectors={restrict!r}: {_vectors_file(restrict)} does not exist")
    path = model_key(cfg, "label_vectors")
    if path and not os.path.exists(_vectors_file(path)):
        raise config_lib.ConfigError(
            f"model.label_vectors={path!r}: {_vectors_file(path)} does not exist (train the skip-gram run "
            "first: python -m tfpipe.train --config configs/skipgram_text_corpora_ns.yaml, or point at a "
            "word2vec file)")
    init = model_key(cfg, "init_from")
    if init and not os.path.exists(os.path.join(init, "model.keras")):
        raise config_lib.ConfigError(f"model.init_from={init!r}: no model.keras there (train the stage-1 run first)")
    from tfpipe.training import datasets

    for name, spec in labels_lib.parse_label_sets(model_key(cfg, "label_sets")).items():
        try:
            datasets.open_data(spec["data"])
        except (datasets.DataError, FileNotFoundError) as e:
            raise config_lib.ConfigError(f"model.label_sets.{name}: {e}") from None


def _vectors_file(path: str) -> str:
    from tfpipe.embeddings import word2vec_format

    return os.path.join(path, word2vec_format.VECTORS_NPY) if os.path.isdir(path) else path
