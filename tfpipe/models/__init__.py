"""Model registry: ``build(name, **config)`` returns the Keras model registered as ``name``.

A builder is a plain function with keyword-only arguments registered with
``@register("name", feature=...)``; ``feature`` names the model input the
trainer feeds it (:data:`FEATURES`: ``"chars"``, ``"word_ids"`` or one of the
bag-of-features kinds, see ``tfpipe.training.features``).  The trainer calls ``build`` with the model's config
section plus the data-derived keys of :data:`DATA_KEYS` (taken from the
manifest); a builder receives only the data keys its signature accepts, and
any other key it does not accept is an error that lists the valid ones.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import keras

# Keys the trainer derives from the data directory's manifest and passes to every builder.
# ``vocab`` is the list of vocabulary words (word id = position + 2) and ``num_features``
# the size of a bag model's feature space (its featurizer's table).
DATA_KEYS = ("num_classes", "l0", "alphabet_size", "vocab_size", "max_words", "vocab", "num_features")

# Model inputs: quantized characters, word ids, or a bag of features computed from the text
# (bag models take ``{"feature_ids": int32 [B, K], "feature_values": float32 [B, K]}``).
FEATURES = ("chars", "word_ids", "bow", "bow_tfidf", "ngrams", "ngrams_tfidf", "bag_of_means")

Builder = Callable[..., keras.Model]
_BUILDERS: dict[str, Builder] = {}
_FEATURES: dict[str, str] = {}


def register(name: str, *, feature: str = "chars") -> Callable[[Builder], Builder]:
    """Decorator registering a builder (keyword-only arguments) under ``name``;
    ``feature`` (one of :data:`FEATURES`) is the input the model takes."""
    if feature not in FEATURES:
        raise ValueError(f"feature {feature!r} for model {name!r}; valid features: {list(FEATURES)}")

    def decorate(fn: Builder) -> Builder:
        if name in _BUILDERS and _BUILDERS[name] is not fn:
            raise ValueError(f"model {name!r} is already registered (by {_BUILDERS[name].__module__})")
        positional = [
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.kind is not inspect.Parameter.KEYWORD_ONLY
        ]
        if positional:
            raise TypeError(
                f"builder {fn.__qualname__} for {name!r} must take keyword-only arguments; "
                f"put `*` before {positional}"
            )
        _BUILDERS[name] = fn
        _FEATURES[name] = feature
        return fn

    return decorate


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_BUILDERS)


def _builder(name: str) -> Builder:
    try:
        return _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered models: {names()}") from None


def feature_of(name: str) -> str:
    """The input feature model ``name`` takes (one of :data:`FEATURES`)."""
    _builder(name)
    return _FEATURES[name]


def config_keys(name: str, *, include_data_keys: bool = True) -> list[str]:
    """The keys ``name``'s builder accepts, in signature order.

    With ``include_data_keys=False``, only the keys a config file sets (the
    data keys among them are filled in from the manifest by the trainer).
    """
    keys = list(inspect.signature(_builder(name)).parameters)
    return keys if include_data_keys else [k for k in keys if k not in DATA_KEYS]


def required_keys(name: str) -> list[str]:
    """The keys ``name``'s builder needs (no default value)."""
    return [
        p.name
        for p in inspect.signature(_builder(name)).parameters.values()
        if p.default is inspect.Parameter.empty
    ]


def build(name: str, **config: Any) -> keras.Model:
    """Builds the model registered as ``name`` from ``config``.

    Data keys (:data:`DATA_KEYS`) the builder does not take are dropped; any
    other unknown key raises ``ValueError`` naming the valid keys.
    """
    fn = _builder(name)
    accepted = config_keys(name)
    unknown = sorted(k for k in config if k not in accepted and k not in DATA_KEYS)
    if unknown:
        raise ValueError(
            f"unknown config key(s) {unknown} for model {name!r}; valid keys: {accepted}"
        )
    missing = [k for k in required_keys(name) if k not in config]
    if missing:
        raise ValueError(f"model {name!r} needs {missing}; valid keys: {accepted}")
    return fn(**{k: _numeric(fn, k, v) for k, v in config.items() if k in accepted})


def _numeric(fn: Builder, key: str, value: Any) -> Any:
    """A float key written ``1e-4`` (which YAML 1.1 reads as a string) becomes a float."""
    annotation = str(inspect.signature(fn).parameters[key].annotation)
    if isinstance(value, str) and annotation.startswith("float"):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"model key {key!r} must be a number, got {value!r}") from None
    return value


# Model modules register their builders on import (keep these after the registry).
from tfpipe.models import char_cnn  # noqa: E402,F401
from tfpipe.models import linear, skipgram, word_cnn, word_lstm  # noqa: E402,F401
