"""Heads: what turns an encoder's embedding into a model output, registered by name.

* ``softmax``: a linear layer to ``num_classes`` logits and a float32
  softmax, the "multinomial logistic regression" every classifier of Zhang
  et al. (2015) ends with (section 2.3: the ConvNets' last fully connected
  layer, ``fc9``; section 3: the LSTM's and the linear models').
* ``projection``: a linear map into a ``dim``-dimensional joint space,
  optionally L2-normalised.  Reed et al. (2016) score an image ``v`` and a
  text ``t`` by ``F(v, t) = theta(v)^T phi(t)`` (section 3, eq. 2), the text
  embedding ``phi`` ending in "a single layer linear projection" (section
  4.4) to the image embedding's 1024 dimensions (section 5); DeViSE (Frome
  et al. 2013, section 3) maps the visual model's top layer by "a linear
  transformation" ``M`` into the word-vector space, whose vectors are unit
  normed (``use_bias=False`` is that ``M``).

A head is a function ``head(embedding, **keys)`` on a symbolic embedding
(a ``[B, D]`` tensor, or an :class:`tfpipe.models.encoders.Bag`, for which
the linear layer is a :class:`tfpipe.layers.SparseLinear`); every head's
output is float32, also under a mixed precision policy.
:func:`apply` calls a registered head by name (checking its keys),
:func:`build_head` returns one as a ``keras.Model`` on a ``[B, input_dim]``
input.
"""
from __future__ import annotations

from typing import Any, Callable

import keras

from tfpipe.layers import SparseLinear
from tfpipe.models import registry
from tfpipe.models.encoders import Bag

Head = Callable[..., Any]
_HEADS: dict[str, Head] = {}


def register(name: str) -> Callable[[Head], Head]:
    """Decorator registering a head ``fn(embedding, *, ...keys)`` under ``name``."""

    def decorate(fn: Head) -> Head:
        if name in _HEADS and _HEADS[name] is not fn:
            raise ValueError(f"head {name!r} is already registered (by {_HEADS[name].__module__})")
        registry.check_signature(fn, kind="head", name=name, positional=1)
        _HEADS[name] = fn
        return fn

    return decorate


def names() -> list[str]:
    """The registered head names, sorted."""
    return sorted(_HEADS)


def _head(name: str) -> Head:
    try:
        return _HEADS[name]
    except KeyError:
        raise ValueError(f"unknown head {name!r}; registered heads: {names()}") from None


def config_keys(name: str) -> list[str]:
    """The keys head ``name`` accepts (after the embedding), in signature order."""
    return registry.keys(_head(name), positional=1)


def required_keys(name: str) -> list[str]:
    """The keys head ``name`` needs (no default value)."""
    return registry.required(_head(name), positional=1)


def apply(name: str, embedding: Any, /, **config: Any) -> Any:
    """Head ``name`` on the symbolic ``embedding``: its output tensor (unknown keys are errors).

    ``name`` is positional-only, so that ``config`` may hold the head's own ``name`` key (its layer name).
    """
    return registry.call(_head(name), config, kind="head", name=name, args=(embedding,))


def build_head(name: str, /, *, input_dim: int, bag: bool = False, **config: Any) -> keras.Model:
    """Head ``name`` as a ``keras.Model`` (named ``<name>_head``).

    Its input is a float ``[B, input_dim]`` embedding named ``"features"``,
    or with ``bag=True`` a sparse bag of ``input_dim`` features
    (``{"feature_ids", "feature_values"}``, see :class:`~tfpipe.models.encoders.Bag`).
    """
    if int(input_dim) < 1:
        raise ValueError(f"head {name!r}: input_dim must be positive, got {input_dim}")
    if bag:
        ids = keras.Input(shape=(None,), dtype="int32", name="feature_ids")
        values = keras.Input(shape=(None,), dtype="float32", name="feature_values")
        inputs: Any = {"feature_ids": ids, "feature_values": values}
        embedding: Any = Bag(ids, values, int(input_dim))
    else:
        inputs = embedding = keras.Input(shape=(int(input_dim),), name="features")
    return keras.Model(inputs, apply(name, embedding, **config), name=f"{name}_head")


def _linear(
    embedding: Any, units: int, *, use_bias: bool, kernel_initializer: Any, kernel_regularizer: Any, name: str
) -> Any:
    """``embedding @ W (+ b)``: ``Dense`` on a tensor, ``SparseLinear`` (always with a bias) on a bag."""
    if isinstance(embedding, Bag):
        if not use_bias:
            raise ValueError(f"{name}: a linear layer on a sparse bag always has a bias (SparseLinear)")
        return SparseLinear(
            int(embedding.num_features),
            units,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            name=name,
        )([embedding.ids, embedding.values])
    return keras.layers.Dense(
        units,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        bias_initializer="zeros",
        kernel_regularizer=kernel_regularizer,
        name=name,
    )(embedding)


@register("softmax")
def softmax(
    embedding: Any,
    *,
    num_classes: int,
    kernel_initializer: Any = "glorot_uniform",
    kernel_regularizer: Any = None,
    name: str = "logits",
) -> Any:
    """Class probabilities ``[B, num_classes]``: a linear layer ``name`` (zero bias) and a float32
    ``"softmax"`` activation (Zhang et al. 2015, sections 2.3 and 3)."""
    if int(num_classes) < 2:
        raise ValueError(f"softmax head: num_classes must be at least 2, got {num_classes}")
    logits = _linear(
        embedding,
        int(num_classes),
        use_bias=True,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )
    return keras.layers.Activation("softmax", dtype="float32", name="softmax")(logits)


@register("projection")
def projection(
    embedding: Any,
    *,
    dim: int,
    normalize: bool = False,
    use_bias: bool = True,
    kernel_initializer: Any = "glorot_uniform",
    kernel_regularizer: Any = None,
    name: str = "projection",
) -> Any:
    """The embedding mapped into a ``dim``-dimensional joint space: ``[B, dim]`` float32.

    A linear layer ``name`` (Reed et al. 2016, section 4.4; DeViSE's ``M``,
    Frome et al. 2013, section 3, is ``use_bias=False``), then with
    ``normalize`` an L2 normalisation to unit length (``"<name>_l2"``,
    ``keras.layers.UnitNormalization``: a vector of squared norm below 1e-12
    is divided by 1e-6 instead, so a zero vector stays zero), otherwise a
    float32 cast (``"<name>_float32"``).
    """
    if int(dim) < 1:
        raise ValueError(f"projection head: dim must be positive, got {dim}")
    h = _linear(
        embedding,
        int(dim),
        use_bias=bool(use_bias),
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )
    if normalize:
        return keras.layers.UnitNormalization(axis=-1, dtype="float32", name=f"{name}_l2")(h)
    return keras.layers.Activation("linear", dtype="float32", name=f"{name}_float32")(h)
