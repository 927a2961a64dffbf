"""Building a model from a config and a data manifest; loading a trained one for inference."""
from __future__ import annotations

import os

import keras

from typing import Any

from tfpipe import config as config_lib
from tfpipe.data.datadir import DataDir
from tfpipe.text import tokenize
from tfpipe.training import devices, runs


def data_keys(data: DataDir, num_features: int | None = None, with_vocab: bool = True) -> dict[str, Any]:
    """The data-derived model keys (``tfpipe.models.DATA_KEYS``) of a data directory
    (``num_features``: the size of a bag model's feature table, from its featurizer;
    ``vocab``, the vocabulary words, is read only ``with_vocab``)."""
    manifest = data.manifest
    return {
        "num_classes": manifest.num_classes,
        "l0": manifest.l0,
        "alphabet_size": len(manifest.alphabet_chars),
        "vocab_size": tokenize.vocab_size(manifest.vocab_words),
        "max_words": manifest.max_words,
        "vocab": data.vocab() if with_vocab else None,
        "num_features": num_features,
    }


def build_model(cfg: config_lib.Config, data: DataDir, num_features: int | None = None) -> keras.Model:
    """``models.build(model.name, **model keys, **data keys)`` under the current dtype policy."""
    from tfpipe import models

    keys = data_keys(data, num_features,
                     with_vocab="vocab" in models.config_keys(cfg.model_name))
    missing = set(models.DATA_KEYS) - set(keys)
    if missing:  # the registry grew a data key this function does not know
        raise RuntimeError(f"no manifest value for data key(s) {sorted(missing)}")
    return models.build(cfg.model_name, **cfg.model_kwargs, **{k: keys[k] for k in models.DATA_KEYS})


def load_model(model_dir: str, cfg: config_lib.Config, data: DataDir,
               num_features: int | None = None) -> keras.Model:
    """The run's final ``model.keras`` as a float32 model (for evaluation and export).

    A model trained under a mixed policy is rebuilt under float32 and given
    the trained weights (its variables are float32 in every policy), so
    evaluation and serving run the same arithmetic on any device.
    """
    from tfpipe import models  # noqa: F401  (registers the custom layers for deserialization)

    path = os.path.join(model_dir, runs.MODEL_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: train first with `python -m tfpipe.train --model_dir {model_dir}`")
    model = keras.models.load_model(path, compile=False)
    # A loaded Functional model reports the global policy; its layers keep their own.
    if all(layer.compute_dtype == "float32" for layer in model.layers if layer.weights):
        return model
    with devices.precision_scope("float32"):
        rebuilt = build_model(cfg, data, num_features)
    rebuilt.set_weights(model.get_weights())
    return rebuilt
