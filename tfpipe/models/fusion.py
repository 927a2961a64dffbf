"""The multimodal classifier of the predicted-context paper (section 3.5) and its two baselines.

"The input to this model consists of the concatenation of features from the 1024-dimensional
visual embedding and the 200-dimensional textual embedding.  The resulting vector is input to
a multi-stage fully connected neural network, with the output softmax layer predicting
probabilities associated with classes according to the target taxonomy."  The visual
embedding is a network's bottleneck layer (section 3.4); ours is a dense ReLU layer of 1024
units on the cached pooled EfficientNet-Lite0 feature (1280-d).

:func:`multimodal_classifier` builds, from named inputs (always a dict, also with one input):

* ``"visual"`` ``[B, visual_dim]`` -> ``visual_embedding`` ``Dense(visual_embedding_dim, relu)``;
* ``"context"`` ``[B, context_dim]``: the mean embedding of the image's top-3 predicted
  phrases (section 3.3, :func:`tfpipe.models.phrase_encoder.context_vector`), used as it is;
* ``concat`` ``[visual embedding, context]`` (in that order) -> ``hidden1``, ``hidden2`` ...
  ``Dense(h, relu)``, each followed by ``dropout1`` ... ``Dropout(dropout)`` -> the registered
  ``softmax`` head (:func:`tfpipe.models.heads.softmax`: ``logits`` and a float32 ``softmax``).

``inputs=("visual", "context")`` is the multimodal model; ``("visual",)`` the paper's
visual-only baseline and ``("context",)`` the "text only" one: the same function, so the
hidden layers are the same and only the first hidden kernel's input rows differ
(``visual_embedding_dim + context_dim``, ``visual_embedding_dim`` or ``context_dim``).
Keras layers only (any backend); under mixed precision the probabilities are float32.
"""
from __future__ import annotations

import operator
from typing import Sequence

import keras

from tfpipe.models import heads

INPUTS = ("visual", "context")       # the valid input names, in concatenation order
VISUAL_DIM = 1280                    # EfficientNet-Lite0's pooled feature
VISUAL_EMBEDDING_DIM = 1024          # "the 1024-dimensional visual embedding"
CONTEXT_DIM = 200                    # "the 200-dimensional textual embedding"
HIDDEN = (1024,)
DROPOUT = 0.5


def _positive(value: object, key: str) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        number = 0
    if isinstance(value, bool) or number < 1:
        raise ValueError(f"multimodal_classifier: {key} must be a positive integer, got {value!r}")
    return number


def check_inputs(inputs: Sequence[str] | str) -> tuple[str, ...]:
    """The model's input names in concatenation order (a single name may be given as a string);
    ``ValueError`` naming the valid choices for an unknown, repeated or empty selection."""
    names = (inputs,) if isinstance(inputs, str) else tuple(inputs)
    unknown = [n for n in names if n not in INPUTS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(
            f"multimodal_classifier: inputs must be a non-empty selection without repeats of {list(INPUTS)} "
            f"(('visual', 'context') multimodal, ('visual',) visual-only, ('context',) text only), got {inputs!r}")
    return tuple(n for n in INPUTS if n in names)


def multimodal_classifier(
    *,
    num_classes: int,
    inputs: Sequence[str] = INPUTS,
    visual_dim: int = VISUAL_DIM,
    visual_embedding_dim: int = VISUAL_EMBEDDING_DIM,
    context_dim: int = CONTEXT_DIM,
    hidden: Sequence[int] = HIDDEN,
    dropout: float = DROPOUT,
) -> keras.Model:
    """``{"visual", "context"}`` (those of ``inputs``) -> float32 class probabilities
    ``[B, num_classes]`` (the module docstring); the model is named ``"multimodal"``,
    ``"visual_only"`` or ``"text_only"``."""
    names = check_inputs(inputs)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise ValueError(f"multimodal_classifier: hidden must be a list of layer sizes (may be empty), got {hidden!r}")
    sizes = tuple(_positive(h, "every hidden size") for h in hidden)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"multimodal_classifier: dropout must be a rate in [0, 1), got {dropout!r}")
    tensors = {}
    parts = []
    if "visual" in names:
        tensors["visual"] = keras.Input(shape=(_positive(visual_dim, "visual_dim"),), name="visual")
        parts.append(keras.layers.Dense(_positive(visual_embedding_dim, "visual_embedding_dim"), activation="relu",
                                        name="visual_embedding")(tensors["visual"]))
    if "context" in names:
        tensors["context"] = keras.Input(shape=(_positive(context_dim, "context_dim"),), name="context")
        parts.append(tensors["context"])
    h = parts[0] if len(parts) == 1 else keras.layers.Concatenate(axis=-1, name="concat")(parts)
    for i, units in enumerate(sizes, start=1):
        h = keras.layers.Dense(units, activation="relu", name=f"hidden{i}")(h)
        if float(dropout) > 0:
            h = keras.layers.Dropout(float(dropout), name=f"dropout{i}")(h)
    probabilities = heads.softmax(h, num_classes=_positive(num_classes, "num_classes"))
    name = {("visual", "context"): "multimodal", ("visual",): "visual_only", ("context",): "text_only"}[names]
    return keras.Model(tensors, probabilities, name=name)
