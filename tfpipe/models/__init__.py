"""Model registry: ``build(name, **config)`` returns the Keras model registered as ``name``.

A builder is a plain function with keyword-only arguments registered with
``@register("name", feature=...)``; ``feature`` names the model input the
trainer feeds it (:data:`FEATURES`, defined by ``tfpipe.data.features``:
``"chars"``, ``"word_ids"`` or one of the bag-of-features kinds).  The trainer
calls ``build`` with the model's config section plus the data-derived keys of
:data:`DATA_KEYS` (taken from the manifest); a builder receives only the data
keys its signature accepts, and any other key it does not accept is an error
that lists the valid ones.

Every model of Zhang et al. (2015) Table 4 is a text encoder followed by a
head: :mod:`tfpipe.models.encoders` registers the encoders (input ->
embedding) and :mod:`tfpipe.models.heads` the heads (embedding -> output:
softmax classifier, projection into a joint space).  The model modules
(``char_cnn``, ``word_cnn``, ``word_lstm``, ``linear``, ``word_mean``) hold
each architecture's encoder and the classifiers composed from it;
``skipgram`` is a word-vector model of its own.
"""
from __future__ import annotations

from typing import Any, Callable

import keras

from tfpipe.data.features import FEATURES
from tfpipe.models import registry

# Keys the trainer derives from the data directory's manifest and passes to every builder.
# ``vocab`` is the list of vocabulary words (word id = position + 2) and ``num_features``
# the size of a bag model's feature space (its featurizer's table).
DATA_KEYS = ("num_classes", "l0", "alphabet_size", "vocab_size", "max_words", "vocab", "num_features")

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
        registry.check_signature(fn, kind="model", name=name)
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
    keys = registry.keys(_builder(name))
    return keys if include_data_keys else [k for k in keys if k not in DATA_KEYS]


def required_keys(name: str) -> list[str]:
    """The keys ``name``'s builder needs (no default value)."""
    return registry.required(_builder(name))


def build(name: str, **config: Any) -> keras.Model:
    """Builds the model registered as ``name`` from ``config``.

    Data keys (:data:`DATA_KEYS`) the builder does not take are dropped; any
    other unknown key raises ``ValueError`` naming the valid keys.
    """
    return registry.call(_builder(name), config, kind="model", name=name, ignored=DATA_KEYS)


# Model modules register their builders on import (keep these after the registry).
from tfpipe.models import encoders, heads  # noqa: E402,F401
from tfpipe.models import char_cnn, cnn_rnn, linear, skipgram, word_cnn, word_lstm, word_mean  # noqa: E402,F401
from tfpipe.models import cse_text  # noqa: E402,F401
