"""A small ConvNet trained from scratch: the visual model when no pretrained weights are wanted.

DeViSE (Frome et al. 2013) and Reed et al. (2016) start from an
ImageNet-pretrained network (:mod:`tfpipe.models.vision.efficientnet_lite`);
this model is the from-scratch alternative, a plain VGG-style stack (Simonyan
& Zisserman 2015) of stages, each a 3x3 convolution, batch normalisation,
ReLU and 2x2 max-pooling (stride 2, "same", so a stage halves the size,
rounding up).  With the default five stages of 32, 64, 128, 256 and 256
filters (0.98 M parameters) the stage outputs have strides 2 to 32, and
the outputs share the Lite0 model's names:

* ``pooled``: ``[B, filters[-1]]``, the globally average-pooled last stage (float32);
* ``stride16``: ``[B, H/16, W/16, filters[3]]``, the fourth stage's output
  (needs at least 4 stages);
* ``stride32``: ``[B, H/32, W/32, filters[4]]``, the fifth stage's output
  (needs 5 stages);
* ``logits``: ``[B, num_classes]`` after dropout and a fully connected layer,
  only when ``num_classes`` is given (float32).

Input as Lite0's: RGB ``[B, H, W, 3]`` values 0-255, scaled inside the model to
``(x - 127) / 128``.  ``trainable``: ``"all"`` (the default), ``"frozen"`` or an
int ``N`` (the last ``N`` stages and the classifier train).  ``weights`` must be
``None``: there are no pretrained weights.
"""
from __future__ import annotations

from typing import Any, Sequence

import keras

from tfpipe.models.vision.efficientnet_lite import HostVarianceScaling, _size, check_outputs

FILTERS = (32, 64, 128, 256, 256)
OUTPUTS = ("logits", "pooled", "stride16", "stride32")


def available_outputs(*, filters: Sequence[int], num_classes: int | None) -> tuple[str, ...]:
    """The output names a configuration has (``logits`` needs ``num_classes``; stride16/32 need
    4 / 5 stages)."""
    names = ["pooled"]
    if num_classes is not None:
        names.insert(0, "logits")
    names += [name for name, stages in (("stride16", 4), ("stride32", 5)) if len(filters) >= stages]
    return tuple(names)


def small_convnet(
    *,
    image_size: int | Sequence[int] = 224,
    weights: str | None = None,
    trainable: str | int = "all",
    outputs: Sequence[str] = ("pooled",),
    filters: Sequence[int] = FILTERS,
    num_classes: int | None = None,
    dropout: float = 0.2,
    dtype: str | None = None,
) -> keras.Model:
    """The small from-scratch ConvNet (layers ``stage{i}_conv/_bn/_relu/_pool``) returning the
    dict ``{name: tensor}`` of ``outputs`` (see the module docstring)."""
    if weights is not None:
        raise ValueError(f"weights={weights!r}: small_convnet trains from scratch; the only choice is None "
                         "(for ImageNet weights use efficientnet_lite0)")
    filters = [int(f) for f in filters]
    if not filters or any(f < 1 for f in filters):
        raise ValueError(f"filters must be a non-empty list of positive ints, got {filters}")
    if num_classes is not None and num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 (or None for no logits), got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    outputs = check_outputs(outputs, available_outputs(filters=filters, num_classes=num_classes), "small_convnet")
    if not (trainable in ("all", "frozen") or (isinstance(trainable, int) and not isinstance(trainable, bool)
                                               and 0 <= trainable <= len(filters))):
        raise ValueError(f"trainable={trainable!r}: choose 'frozen', 'all' or an int N in [0, {len(filters)}] "
                         "(the last N stages and the classifier train)")
    height, width = _size(image_size)

    images = keras.Input(shape=(height, width, 3), dtype="float32", name="images")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescaling", dtype=dtype)(images)
    taps: dict[str, Any] = {}
    for i, n in enumerate(filters, start=1):
        x = keras.layers.Conv2D(n, 3, padding="same", use_bias=False, name=f"stage{i}_conv", dtype=dtype,
                                kernel_initializer=HostVarianceScaling(2.0))(x)  # He et al. 2015
        x = keras.layers.BatchNormalization(epsilon=1e-3, name=f"stage{i}_bn", dtype=dtype)(x)
        x = keras.layers.ReLU(name=f"stage{i}_relu", dtype=dtype)(x)
        x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=f"stage{i}_pool", dtype=dtype)(x)
        if i == 4:
            taps["stride16"] = x
        elif i == 5:
            taps["stride32"] = x
    taps["pooled"] = pooled = keras.layers.GlobalAveragePooling2D(name="pooled", dtype="float32")(x)
    if "logits" in outputs:
        h = keras.layers.Dropout(dropout, name="dropout")(pooled)
        glorot = HostVarianceScaling(1.0, "fan_avg", "uniform")
        taps["logits"] = keras.layers.Dense(num_classes, kernel_initializer=glorot, name="logits", dtype="float32")(h)
    model = keras.Model(images, {name: taps[name] for name in outputs}, name="small_convnet")
    for layer in model.layers:
        if trainable in ("all", "frozen"):
            layer.trainable = trainable == "all"
        elif layer.name.startswith("stage"):
            layer.trainable = int(layer.name[len("stage"):].split("_", 1)[0]) > len(filters) - trainable
        else:
            layer.trainable = layer.name == "logits"
    return model
