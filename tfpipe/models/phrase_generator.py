"""The phrase generator of the predicted-context paper (section 3.2, eq. 1), on a cached visual feature.

The paper's generator is a ResNet-101 trained on web query-image pairs whose output is shrunk
"to a 64-dimensional bottleneck layer", followed by a softmax over the queries whose weights
``w_c`` score the bottleneck ``x`` by the cosine distance (eq. 1).  Our stand-in trunk is
EfficientNet-Lite0, frozen, whose pooled 1280-d feature is cached by the images pipeline; the
trainable part starts from it:

* :func:`bottleneck` (``keras.Model`` named ``"bottleneck"``): ``features [B, feature_dim]`` ->
  ``Dense(h, relu)`` (``hidden1``, ``hidden2``, ...; each followed by ``Dropout(dropout)``
  ``dropout1`` ... when ``dropout > 0``) -> ``Dense(dim)`` (``embedding``) -> ``x`` (float32,
  ``[B, dim]``, 64 by default): the image embedding of eq. 1, which the prototype job (eq. 2)
  and the phrase search (eq. 3) run alone.
* :func:`phrase_generator`: ``features`` -> the bottleneck (a nested model, ``get_layer(
  BOTTLENECK)``) -> :class:`tfpipe.layers.CosineSoftmax` (``get_layer(PHRASE_SOFTMAX)``): float32
  logits ``scale * cos(x, w_c)`` over the ``num_phrases`` softmax phrases.  Its output is the
  full softmax's logits (evaluation, zero-shot); training computes the sampled softmax
  (:func:`tfpipe.losses.sampled_cosine_softmax_loss`) from ``x`` and the layer's ``kernel``.

Written with Keras layers only (any backend); mixed precision computes the dense layers in the
policy's dtype, while ``x`` and the logits are float32.
"""
from __future__ import annotations

import operator
from typing import Sequence

import keras

from tfpipe.layers import CosineSoftmax
from tfpipe.layers.cosine_softmax import PREDICTED_CONTEXT_SCALE

FEATURE_DIM = 1280          # EfficientNet-Lite0's pooled feature (our stand-in for ResNet-101's)
BOTTLENECK_DIM = 64         # "we shrink the ResNet output to a 64-dimensional bottleneck layer"
HIDDEN = (1024,)
BOTTLENECK = "bottleneck"   # the bottleneck sub-model's name inside phrase_generator
PHRASE_SOFTMAX = "phrase_softmax"  # the CosineSoftmax layer's name
FEATURES_INPUT = "features"


def _positive(value: object, key: str, who: str, least: int = 1) -> int:
    """``value`` as an int of at least ``least`` (a bool, a float or a string is an error)."""
    try:
        number = operator.index(value)  # int and numpy integers, not bool-as-float or "3"
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or number < least:
        what = "a positive integer" if least == 1 else f"an integer of at least {least}"
        raise ValueError(f"{who}: {key} must be {what}, got {value!r}")
    return number


def _hidden(hidden: Sequence[int], who: str) -> tuple[int, ...]:
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise ValueError(f"{who}: hidden must be a list of layer sizes (may be empty), got {hidden!r}")
    return tuple(_positive(h, "every hidden size", who) for h in hidden)


def _dropout(dropout: float, who: str) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"{who}: dropout must be a rate in [0, 1), got {dropout!r}")
    return float(dropout)


def bottleneck(
    *,
    feature_dim: int = FEATURE_DIM,
    hidden: Sequence[int] = HIDDEN,
    dim: int = BOTTLENECK_DIM,
    dropout: float = 0.0,
    name: str = BOTTLENECK,
) -> keras.Model:
    """The cached pooled feature -> the ``dim``-d bottleneck ``x`` (section 3.2), a ``keras.Model``.

    Input ``"features"`` ``[B, feature_dim]``; ``hidden`` ReLU layers (``hidden1`` ...), then the
    linear ``embedding`` to ``dim`` and its float32 cast ``x``.  ``hidden=()`` is a single
    linear map.
    """
    who = "bottleneck"
    feature_dim = _positive(feature_dim, "feature_dim", who)
    dim = _positive(dim, "dim", who)
    sizes = _hidden(hidden, who)
    rate = _dropout(dropout, who)
    features = keras.Input(shape=(feature_dim,), name=FEATURES_INPUT)
    h = features
    for i, units in enumerate(sizes, start=1):
        h = keras.layers.Dense(units, activation="relu", name=f"hidden{i}")(h)
        if rate > 0:
            h = keras.layers.Dropout(rate, name=f"dropout{i}")(h)
    h = keras.layers.Dense(dim, name="embedding")(h)
    x = keras.layers.Activation("linear", dtype="float32", name="x")(h)
    return keras.Model(features, x, name=name)


def phrase_generator(
    *,
    num_phrases: int,
    feature_dim: int = FEATURE_DIM,
    hidden: Sequence[int] = HIDDEN,
    dim: int = BOTTLENECK_DIM,
    dropout: float = 0.0,
    scale: float = PREDICTED_CONTEXT_SCALE,
) -> keras.Model:
    """``features [B, feature_dim]`` -> float32 logits ``[B, num_phrases]`` of eq. 1.

    The bottleneck is the nested model ``get_layer(BOTTLENECK)`` (:func:`bottleneck` with the
    same keys) and the output layer ``get_layer(PHRASE_SOFTMAX)``, a
    :class:`~tfpipe.layers.CosineSoftmax` of ``scale`` whose ``kernel [num_phrases, dim]``
    holds the ``w_c``.
    """
    num_phrases = _positive(num_phrases, "num_phrases", "phrase_generator", least=2)
    trunk = bottleneck(feature_dim=feature_dim, hidden=hidden, dim=dim, dropout=dropout, name=BOTTLENECK)
    features = keras.Input(shape=(int(feature_dim),), name=FEATURES_INPUT)
    x = trunk(features)
    logits = CosineSoftmax(num_phrases, scale=scale, name=PHRASE_SOFTMAX)(x)
    return keras.Model(features, logits, name="phrase_generator")
