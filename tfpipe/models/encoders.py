"""Text encoders: what turns a model input into an embedding, registered by name.

Zhang et al. (2015) build every Table 4 classifier as a text representation
followed by "multinomial logistic regression" (section 3); Reed et al. (2016)
reuse such encoders ``phi(t)`` as the text side of a joint image-text space
(section 3, eq. 2; section 4 lists the encoders).  An encoder here is that
first part, written once and used both ways:

* :func:`encode` ``(name, **config)`` applies encoder ``name`` to fresh
  ``keras.Input`` s and returns an :class:`Encoding` (its inputs and its
  embedding tensor), to be followed by a head (:mod:`tfpipe.models.heads`)
  in the same functional graph: the registered classifiers are made this way,
  so their layers, names and weights are those of a single flat model;
* :func:`build_encoder` ``(name, **config)`` returns the encoder alone as a
  ``keras.Model`` from the input to the embedding.

=====================  ==============  ==============================================================
encoder                input           embedding
=====================  ==============  ==============================================================
``char_cnn_small``     ``chars``       Char-CNN trunk (Zhang et al. 2.3, Tables 1-2): ``fc8`` after
``char_cnn_large``                     dropout, ``[B, fc_units]`` (1024 / 2048)
``word_cnn_lk_*``      ``word_ids``    the same trunk on a lookup table / static word2vec
``word_cnn_w2v_*``                     (Zhang et al. section 3), ``[B, fc_units]``
``word_lstm``          ``word_ids``    mean of the 512-unit LSTM outputs (Zhang et al. section 3;
                                       Reed et al. 4.3), ``[B, units]``
``word_mean``          ``word_ids``    mean of the word vectors (Reed et al. 4.4's word2vec
                                       baseline), ``[B, embedding_dim]``
``char_cnn_rnn``       ``chars``       Reed et al.'s hybrid CNN-RNN (4.2): three conv + pool stages,
``word_cnn_rnn``       ``word_ids``    a ReLU RNN, the mean over time, linear: ``[B, dim]``
                                       (``tfpipe.models.cnn_rnn``, as the rest of Reed et al.'s)
``char_cnn_doc``       ``chars``       Reed et al.'s CNN without the RNN (4.2; DocumentCNNShort /
``word_cnn_doc``       ``word_ids``    DocumentCNNWord): ReLU convs + pools, flatten, linear, dropout,
                                       linear: ``[B, dim]``; the word one convolves the one-hot
                                       vocabulary (``tfpipe.layers.IndexConv1D``)
``char_lstm``          ``chars``       mean of the 512-unit LSTM outputs over the one-hot characters
                                       before the trailing padding (Reed et al. 4.3), ``[B, units]``
``cse_text``           ``word_ids``    You et al. (2018)'s text CNN (3.3, Figure 3): word2vec
                                       embedding, causal n-gram convolutions (kernels 1, 3, 5, 7),
                                       three convolutional highways (eqs. 7-8), the max over the real
                                       words: ``[B, 4 * filters]`` (1024); also sets ``local`` (the
                                       second highway's ``[B, T, 1024]``) and ``local_mask``
                                       (``tfpipe.models.cse_text``)
``attributes``         ``attributes``  the class attribute vector itself (Reed et al.'s attribute
                                       encoder is a linear map: the head), ``[B, num_attributes]``
``bag``                a bag kind      the sparse bag-of-features vector itself, a :class:`Bag`
                                       (BoW, n-grams, their TFIDF, bag-of-means: Zhang et al.
                                       section 3; Reed et al. 4.4's BoW)
=====================  ==============  ==============================================================

The encoders are written in the module of their architecture
(``tfpipe.models.char_cnn`` etc.), next to the paper's arithmetic for them
and the classifiers composed from them; this module holds the registry and
the types an encoder returns.  Keys follow the model registry's rules
(:mod:`tfpipe.models.registry`): keyword-only arguments, and the data keys
(``tfpipe.models.DATA_KEYS``) an encoder does not take are dropped.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import keras

from tfpipe.data.features import FEATURES
from tfpipe.data.inputs import CLASS_VECTORS
from tfpipe.models import DATA_KEYS, registry


@dataclasses.dataclass(frozen=True)
class Bag:
    """A sparse bag-of-features vector ``x`` (``num_features`` entries) as the encoder's embedding.

    ``ids`` ``int32 [B, K]`` and ``values`` ``float32 [B, K]`` (the model's
    inputs ``feature_ids``/``feature_values``: ``x[ids - 1] = values``, id 0
    pads) are kept sparse: a head applies its linear map with
    :class:`tfpipe.layers.SparseLinear` instead of forming ``x``.
    """

    ids: Any
    values: Any
    num_features: int


@dataclasses.dataclass
class Encoding:
    """An encoder applied to its inputs: ``inputs`` (a ``keras.Input`` or a dict of them) and
    ``embedding`` (a ``[B, dim]`` tensor, or a :class:`Bag`).

    ``finish`` runs once the model holding the layers exists (the word models
    fill their word2vec rows there, keeping the matrix out of the saved config).
    Encoders with local (per-word or per-region) features also set ``local``,
    a ``[B, T, C]`` tensor, and ``local_mask``, ``float32 [B, T]`` with 1 for
    the real positions and 0 for padding (You et al. 2018's intermediate
    features, section 3.2); the others leave them None.
    """

    inputs: Any
    embedding: Any
    finish: Callable[[], None] | None = None
    local: Any = None
    local_mask: Any = None

    @property
    def dim(self) -> int:
        """The embedding's size (a bag's: its number of features)."""
        if isinstance(self.embedding, Bag):
            return self.embedding.num_features
        return int(self.embedding.shape[-1])

    def model(self, outputs: Any = None, *, name: str) -> keras.Model:
        """``keras.Model(inputs, outputs)`` (default: the embedding), then :attr:`finish`."""
        if outputs is None:
            outputs = self.embedding
            if isinstance(outputs, Bag):
                outputs = {"feature_ids": outputs.ids, "feature_values": outputs.values}
        model = keras.Model(self.inputs, outputs, name=name)
        if self.finish is not None:
            self.finish()
        return model


Encoder = Callable[..., Encoding]
_ENCODERS: dict[str, Encoder] = {}
_FEATURES: dict[str, tuple[str, ...]] = {}


def register(name: str, *, features: Sequence[str]) -> Callable[[Encoder], Encoder]:
    """Decorator registering an encoder (keyword-only arguments, returns an :class:`Encoding`)
    under ``name``; ``features`` (among ``tfpipe.data.features.FEATURES`` and
    ``tfpipe.data.inputs.CLASS_VECTORS``) are the inputs it takes."""
    features = tuple(features)
    valid = FEATURES + CLASS_VECTORS
    if not features or set(features) - set(valid):
        raise ValueError(f"features {list(features)} for encoder {name!r}; valid features: {list(valid)}")

    def decorate(fn: Encoder) -> Encoder:
        if name in _ENCODERS and _ENCODERS[name] is not fn:
            raise ValueError(f"encoder {name!r} is already registered (by {_ENCODERS[name].__module__})")
        registry.check_signature(fn, kind="encoder", name=name)
        _ENCODERS[name] = fn
        _FEATURES[name] = features
        return fn

    return decorate


def names() -> list[str]:
    """The registered encoder names, sorted."""
    return sorted(_ENCODERS)


def _encoder(name: str) -> Encoder:
    try:
        return _ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; registered encoders: {names()}") from None


def features_of(name: str) -> tuple[str, ...]:
    """The input features encoder ``name`` takes."""
    _encoder(name)
    return _FEATURES[name]


def config_keys(name: str, *, include_data_keys: bool = True) -> list[str]:
    """The keys encoder ``name`` accepts, in signature order (without the data keys if asked)."""
    keys = registry.keys(_encoder(name))
    return keys if include_data_keys else [k for k in keys if k not in DATA_KEYS]


def required_keys(name: str) -> list[str]:
    """The keys encoder ``name`` needs (no default value)."""
    return registry.required(_encoder(name))


def encode(name: str, /, **config: Any) -> Encoding:
    """Applies encoder ``name`` to new inputs: its :class:`Encoding`, to put a head on.

    Data keys the encoder does not take are dropped; other unknown keys and
    missing required ones raise ``ValueError`` naming the valid keys.
    """
    return registry.call(_encoder(name), config, kind="encoder", name=name, ignored=DATA_KEYS)


def build_encoder(name: str, /, **config: Any) -> keras.Model:
    """Encoder ``name`` as a ``keras.Model`` from its input to its embedding (named ``<name>_encoder``).

    A bag encoder's model returns its inputs (the sparse vector) as the dict
    ``{"feature_ids", "feature_values"}``.
    """
    return encode(name, **config).model(name=f"{name}_encoder")
