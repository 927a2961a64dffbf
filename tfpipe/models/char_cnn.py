"""Character-level ConvNets of Zhang, Zhao & LeCun (2015), section 2.3, Tables 1 and 2.

Both models are 9 layers deep: 6 temporal convolutions and 3 fully connected
layers.  Input: ``uint8[B, l0]`` character indices named ``"chars"`` (0 = not
in the alphabet), expanded by :class:`tfpipe.layers.OneHot` to the paper's
``l0 x alphabet_size`` one-hot frames.

==========  =====================  =====================  ======  ====
layer       large                  small                  kernel  pool
==========  =====================  =====================  ======  ====
conv1..6    1024 features          256 features           7,7,3,3,3,3  3,3,-,-,-,3
fc7, fc8    2048 units             1024 units, dropout 0.5 after each
fc9         ``num_classes`` units, then softmax (float32 under mixed precision)
==========  =====================  =====================  ======  ====

Convolutions have stride 1 and no padding ('valid'), each followed by ReLU;
max-pooling is non-overlapping (pool 3, stride 3).  For input length ``l0``
the stack ends at ``(l0 - 96) / 27`` frames (34 for ``l0 = 1014``, so the small
model's first fully connected layer takes 34 x 256 = 8,704 inputs).

Initialization: every weight (convolution kernels and fully connected
matrices) is drawn from a Gaussian N(0, 0.05) for the small model and N(0, 0.02)
for the large one, as in the paper; biases start at zero (the paper does not
say; zero is the usual choice).

The stack after the input (convolutions, fully connected layers, softmax) is
:func:`conv_classifier`, shared with the word-based ConvNets of section 3
(``tfpipe.models.word_cnn``).
"""
from __future__ import annotations

from typing import Any, Sequence

import keras

from tfpipe.layers import OneHot
from tfpipe.text.alphabet import PAPER_L0
from tfpipe.models import register

PAPER_ALPHABET_SIZE = 70
KERNEL_SIZES = (7, 7, 3, 3, 3, 3)
POOL_SIZES = (3, 3, 0, 0, 0, 3)  # 0: no pooling after that convolution

SMALL = {"conv_features": 256, "fc_units": 1024, "init_std": 0.05}
LARGE = {"conv_features": 1024, "fc_units": 2048, "init_std": 0.02}


def _plan(kernel_sizes: Sequence[int], pool_sizes: Sequence[int]) -> list[tuple[int, int]]:
    kernels, pools = [int(k) for k in kernel_sizes], [int(p or 0) for p in pool_sizes]
    if len(kernels) != len(pools) or not kernels:
        raise ValueError(
            f"kernel_sizes {list(kernel_sizes)} and pool_sizes {list(pool_sizes)} must be "
            "non-empty and of the same length (one entry per convolution)"
        )
    if any(k < 1 for k in kernels) or any(p < 0 for p in pools):
        raise ValueError(f"bad kernel_sizes {kernels} or pool_sizes {pools}")
    return list(zip(kernels, pools))


def min_l0(kernel_sizes: Sequence[int] = KERNEL_SIZES, pool_sizes: Sequence[int] = POOL_SIZES) -> int:
    """The shortest input that leaves at least one frame after the convolutions (123 for the paper)."""
    needed = 1
    for kernel, pool in reversed(_plan(kernel_sizes, pool_sizes)):
        needed = needed * max(pool, 1) + kernel - 1
    return needed


def frame_lengths(
    l0: int, kernel_sizes: Sequence[int] = KERNEL_SIZES, pool_sizes: Sequence[int] = POOL_SIZES
) -> list[int]:
    """Frames after each convolution layer (after its pooling, if any).

    ``frame_lengths(1014) == [336, 110, 108, 106, 104, 34]``.
    """
    lengths, length = [], int(l0)
    for kernel, pool in _plan(kernel_sizes, pool_sizes):
        length = length - kernel + 1
        if pool:
            length //= pool
        if length < 1:
            raise ValueError(
                f"l0={l0} is too short for the convolution stack (kernels {list(kernel_sizes)}, "
                f"pools {list(pool_sizes)}): it needs l0 >= {min_l0(kernel_sizes, pool_sizes)}"
            )
        lengths.append(length)
    return lengths


def frames_after_convs(
    l0: int, kernel_sizes: Sequence[int] = KERNEL_SIZES, pool_sizes: Sequence[int] = POOL_SIZES
) -> int:
    """Frames entering the first fully connected layer: ``(l0 - 96) / 27`` for the paper's stack."""
    return frame_lengths(l0, kernel_sizes, pool_sizes)[-1]


def check_hyperparameters(*, num_classes: int, dropout: float, init_std: float) -> None:
    """Raises ``ValueError`` for hyper-parameters the ConvNet cannot take."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if init_std <= 0:
        raise ValueError(f"init_std must be positive, got {init_std}")


def conv_classifier(
    frames: Any,
    *,
    num_classes: int,
    conv_features: int,
    fc_units: int,
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    pool_sizes: Sequence[int] = POOL_SIZES,
    dropout: float = 0.5,
    init_std: float,
) -> Any:
    """The paper's ConvNet on ``frames`` ``[B, L, D]``: softmax probabilities ``[B, num_classes]``.

    The one definition of the stack shared by the character and word ConvNets
    (section 2.3 and section 3): one ``Conv1D`` per kernel size (stride 1,
    'valid', ReLU; layers ``conv1..``), max-pooling after those with a pool size
    (``pool1..``), ``flatten``, two ``fc_units`` ReLU layers each followed by
    dropout, a ``num_classes`` layer and a float32 ``softmax``.  Weights are
    drawn from N(0, ``init_std``), biases start at zero.  ``frames`` must be at
    least :func:`min_l0` long (the caller says which input setting fixes it).
    """
    check_hyperparameters(num_classes=num_classes, dropout=dropout, init_std=init_std)
    plan = _plan(kernel_sizes, pool_sizes)

    def init():
        return keras.initializers.RandomNormal(mean=0.0, stddev=init_std)

    h = frames
    for i, (kernel, pool) in enumerate(plan, start=1):
        h = keras.layers.Conv1D(
            conv_features,
            kernel,
            strides=1,
            padding="valid",
            activation="relu",
            kernel_initializer=init(),
            bias_initializer="zeros",
            name=f"conv{i}",
        )(h)
        if pool:
            h = keras.layers.MaxPooling1D(pool_size=pool, strides=pool, name=f"pool{i}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    n = len(plan)
    for j in (n + 1, n + 2):
        h = keras.layers.Dense(
            fc_units, activation="relu", kernel_initializer=init(), bias_initializer="zeros", name=f"fc{j}"
        )(h)
        h = keras.layers.Dropout(dropout, name=f"dropout{j}")(h)
    logits = keras.layers.Dense(
        num_classes, kernel_initializer=init(), bias_initializer="zeros", name=f"fc{n + 3}"
    )(h)
    return keras.layers.Activation("softmax", dtype="float32", name="softmax")(logits)


def _char_cnn(
    *,
    name: str,
    num_classes: int,
    l0: int,
    alphabet_size: int,
    conv_features: int,
    fc_units: int,
    kernel_sizes: Sequence[int],
    pool_sizes: Sequence[int],
    dropout: float,
    init_std: float,
) -> keras.Model:
    check_hyperparameters(num_classes=num_classes, dropout=dropout, init_std=init_std)
    frame_lengths(l0, kernel_sizes, pool_sizes)  # clear error for a too-short l0
    chars = keras.Input(shape=(l0,), dtype="uint8", name="chars")
    frames = OneHot(alphabet_size, name="one_hot")(chars)
    probs = conv_classifier(
        frames,
        num_classes=num_classes,
        conv_features=conv_features,
        fc_units=fc_units,
        kernel_sizes=kernel_sizes,
        pool_sizes=pool_sizes,
        dropout=dropout,
        init_std=init_std,
    )
    return keras.Model(chars, probs, name=name)


@register("char_cnn_small")
def char_cnn_small(
    *,
    num_classes: int,
    l0: int = PAPER_L0,
    alphabet_size: int = PAPER_ALPHABET_SIZE,
    conv_features: int = SMALL["conv_features"],
    fc_units: int = SMALL["fc_units"],
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    pool_sizes: Sequence[int] = POOL_SIZES,
    dropout: float = 0.5,
    init_std: float = SMALL["init_std"],
) -> keras.Model:
    """The paper's small Char-CNN: 256 conv features, 1024 FC units, N(0, 0.05) weights."""
    return _char_cnn(name="char_cnn_small", **locals())


@register("char_cnn_large")
def char_cnn_large(
    *,
    num_classes: int,
    l0: int = PAPER_L0,
    alphabet_size: int = PAPER_ALPHABET_SIZE,
    conv_features: int = LARGE["conv_features"],
    fc_units: int = LARGE["fc_units"],
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    pool_sizes: Sequence[int] = POOL_SIZES,
    dropout: float = 0.5,
    init_std: float = LARGE["init_std"],
) -> keras.Model:
    """The paper's large Char-CNN: 1024 conv features, 2048 FC units, N(0, 0.02) weights."""
    return _char_cnn(name="char_cnn_large", **locals())


def flops_per_example(model_or_config: keras.Model | dict[str, Any]) -> int:
    """Forward FLOPs per example (2 x multiply-adds) of the convolutions and dense layers.

    Takes a built model (any model made of ``Conv1D``/``Dense`` layers: counted
    from the layers' shapes) or a Char-CNN config dict with the builder's keys
    (``num_classes`` required; an optional ``"model": "char_cnn_large"`` picks
    the large defaults, small otherwise).  Pooling, ReLU, softmax, biases and
    the one-hot expansion are not counted.
    """
    if isinstance(model_or_config, keras.Model):
        total = 0
        for layer in model_or_config.layers:
            if isinstance(layer, keras.layers.Conv1D):
                kernel, cin, cout = layer.kernel.shape
                frames = layer.output.shape[1]
                total += 2 * frames * kernel * cin * cout
            elif isinstance(layer, keras.layers.Dense):
                cin, cout = layer.kernel.shape
                total += 2 * cin * cout
        return int(total)
    config = dict(model_or_config)
    variant = config.pop("model", "char_cnn_small")
    if variant not in ("char_cnn_small", "char_cnn_large"):
        raise ValueError(f"model {variant!r}: flops from a config know char_cnn_small and char_cnn_large")
    defaults = {
        "l0": PAPER_L0,
        "alphabet_size": PAPER_ALPHABET_SIZE,
        "kernel_sizes": KERNEL_SIZES,
        "pool_sizes": POOL_SIZES,
        **(LARGE if variant == "char_cnn_large" else SMALL),
    }
    unknown = sorted(set(config) - set(defaults) - {"num_classes", "dropout", "init_std"})
    if unknown or "num_classes" not in config:
        raise ValueError(
            f"config needs num_classes and takes {sorted(defaults) + ['dropout', 'model']}; "
            f"got unknown {unknown}"
        )
    c = {**defaults, **config}
    plan = _plan(c["kernel_sizes"], c["pool_sizes"])
    total, length, cin = 0, int(c["l0"]), int(c["alphabet_size"])
    for kernel, pool in plan:
        length = length - kernel + 1
        total += 2 * length * kernel * cin * c["conv_features"]
        cin = c["conv_features"]
        if pool:
            length //= pool
    width = length * cin
    for units in (c["fc_units"], c["fc_units"], c["num_classes"]):
        total += 2 * width * units
        width = units
    return int(total)
