"""Character-level ConvNets of Zhang, Zhao & LeCun (2015), section 2.3, Tables 1 and 2.

Both models are 9 layers deep: 6 temporal convolutions and 3 fully connected
layers.  Input: ``uint8[B, l0]`` character indices named ``"chars"`` (0 = not
in the alphabet), which the paper expands to ``l0 x alphabet_size`` one-hot
frames (section 2.2) for ``conv1`` to convolve.

Layer 1 is computed as a gather (``first_layer="gather"``, the default): a
one-hot frame picks one row of each of the kernel's 7 taps, so output frame
``t`` of ``conv1`` is ``bias + sum_{j < 7} W[j, chars[t + j] - 1]`` (index 0,
the all-zero frame, adds nothing), :class:`tfpipe.layers.IndexConv1D`.  That is
exactly the paper's convolution of the one-hot frames, without forming them
(in training, the fused C++ op of :mod:`tfpipe.ops.index_conv` where it runs;
``first_layer="gather_keras"``: ``keras.ops`` only); ``first_layer="one_hot"`` builds the paper's form itself (:class:`tfpipe.layers.OneHot`,
layer ``one_hot``, then a ``Conv1D``).  Either way ``conv1`` holds the kernel
``[7, alphabet_size, conv_features]`` and the bias ``[conv_features]``, so
weights move between the two (the models' ``get_weights`` lists match; a Keras
``.weights.h5`` file names a layer's entry by its class, so such a file loads
only into the form that wrote it).

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

The model is an encoder and a head (``tfpipe.models.encoders``,
``tfpipe.models.heads``): :func:`char_cnn_encoder` (character input, then
:func:`conv_trunk`, the convolutions and ``fc7``, ``fc8`` with their dropout,
shared with the word-based ConvNets of section 3, ``tfpipe.models.word_cnn``)
gives a ``[B, fc_units]`` embedding, and the softmax head adds ``fc9`` and the
float32 softmax.  Both sizes are one builder (:func:`char_cnn`,
:func:`char_cnn_encoder`) and the table :data:`VARIANTS`; each is registered
as a model and as an encoder under ``char_cnn_small`` / ``char_cnn_large``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import keras

from tfpipe.layers.index_conv import GATHER, IndexConv1D, check_first_layer, one_hot_conv1d
from tfpipe.models import encoders, heads, register
from tfpipe.models.encoders import Encoding
from tfpipe.models.registry import variant
from tfpipe.text.alphabet import PAPER_L0

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


def check_trunk(*, dropout: float, init_std: float) -> None:
    """Raises ``ValueError`` for trunk hyper-parameters the ConvNet cannot take."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if init_std <= 0:
        raise ValueError(f"init_std must be positive, got {init_std}")


def check_hyperparameters(*, num_classes: int, dropout: float, init_std: float) -> None:
    """Raises ``ValueError`` for hyper-parameters the ConvNet classifier cannot take."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    check_trunk(dropout=dropout, init_std=init_std)


def gaussian(init_std: float) -> keras.initializers.Initializer:
    """The paper's weight initializer, N(0, ``init_std``) (section 2.3); one per layer."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=init_std)


def conv_trunk(
    inputs: Any,
    *,
    conv_features: int,
    fc_units: int,
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    pool_sizes: Sequence[int] = POOL_SIZES,
    dropout: float = 0.5,
    init_std: float,
    alphabet_size: int | None = None,
    first_layer: str = GATHER,
) -> Any:
    """The paper's ConvNet without its output layer: ``[B, fc_units]``.

    ``inputs`` are frames ``[B, L, D]`` (the word ConvNets' embeddings) when
    ``alphabet_size`` is None, else character indices ``[B, L]`` whose one-hot
    frames ``conv1`` convolves, computed as ``first_layer`` says (``"gather"``
    or ``"one_hot"``, :func:`tfpipe.layers.index_conv.one_hot_conv1d`; the
    module docstring).  The one definition of the stack shared by the character
    and word ConvNets (section 2.3 and section 3): one convolution per kernel
    size (stride 1, 'valid', ReLU; layers ``conv1..``), max-pooling after those with a pool size
    (``pool1..``), ``flatten``, and two ``fc_units`` ReLU layers each followed by
    dropout (``fc7``/``dropout7``, ``fc8``/``dropout8`` for six convolutions).
    Weights are drawn from N(0, ``init_std``), biases start at zero.  ``inputs``
    must be at least :func:`min_l0` long (the caller says which input setting
    fixes it).  The classifier's ``fc9`` and softmax are
    :func:`tfpipe.models.heads.softmax` (see :func:`output_layer_name`).
    """
    check_trunk(dropout=dropout, init_std=init_std)
    check_first_layer(first_layer)
    plan = _plan(kernel_sizes, pool_sizes)
    h = inputs
    for i, (kernel, pool) in enumerate(plan, start=1):
        if i == 1 and alphabet_size is not None:
            h = one_hot_conv1d(
                h, first_layer=first_layer, vocab_size=alphabet_size, filters=conv_features, kernel_size=kernel,
                activation="relu", kernel_initializer=gaussian(init_std), bias_initializer="zeros", name="conv1",
            )
        else:
            h = keras.layers.Conv1D(
                conv_features,
                kernel,
                strides=1,
                padding="valid",
                activation="relu",
                kernel_initializer=gaussian(init_std),
                bias_initializer="zeros",
                name=f"conv{i}",
            )(h)
        if pool:
            h = keras.layers.MaxPooling1D(pool_size=pool, strides=pool, name=f"pool{i}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    n = len(plan)
    for j in (n + 1, n + 2):
        h = keras.layers.Dense(
            fc_units, activation="relu", kernel_initializer=gaussian(init_std), bias_initializer="zeros",
            name=f"fc{j}",
        )(h)
        h = keras.layers.Dropout(dropout, name=f"dropout{j}")(h)
    return h


def output_layer_name(kernel_sizes: Sequence[int] = KERNEL_SIZES) -> str:
    """The classifier's last fully connected layer: ``fc9`` after six convolutions and ``fc7``, ``fc8``."""
    return f"fc{len(kernel_sizes) + 3}"


def softmax_head(embedding: Any, *, num_classes: int, kernel_sizes: Sequence[int], init_std: float) -> Any:
    """The ConvNet's output: ``fc9`` (N(0, ``init_std``) weights) and the float32 softmax."""
    return heads.softmax(
        embedding, num_classes=num_classes, kernel_initializer=gaussian(init_std),
        name=output_layer_name(kernel_sizes),
    )


def char_cnn_encoder(
    *,
    l0: int = PAPER_L0,
    alphabet_size: int = PAPER_ALPHABET_SIZE,
    conv_features: int,
    fc_units: int,
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    pool_sizes: Sequence[int] = POOL_SIZES,
    dropout: float = 0.5,
    init_std: float,
    first_layer: str = GATHER,
) -> Encoding:
    """``chars`` ``uint8 [B, l0]`` -> :func:`conv_trunk` (``conv1`` over the one-hot characters,
    as a gather or on the ``one_hot`` frames: ``first_layer``): ``[B, fc_units]``."""
    check_trunk(dropout=dropout, init_std=init_std)
    check_first_layer(first_layer)
    frame_lengths(l0, kernel_sizes, pool_sizes)  # clear error for a too-short l0
    chars = keras.Input(shape=(l0,), dtype="uint8", name="chars")
    embedding = conv_trunk(
        chars,
        conv_features=conv_features,
        fc_units=fc_units,
        kernel_sizes=kernel_sizes,
        pool_sizes=pool_sizes,
        dropout=dropout,
        init_std=init_std,
        alphabet_size=alphabet_size,
        first_layer=first_layer,
    )
    return Encoding(chars, embedding)


def char_cnn(
    *,
    name: str,
    num_classes: int,
    l0: int = PAPER_L0,
    alphabet_size: int = PAPER_ALPHABET_SIZE,
    conv_features: int,
    fc_units: int,
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    pool_sizes: Sequence[int] = POOL_SIZES,
    dropout: float = 0.5,
    init_std: float,
    first_layer: str = GATHER,
) -> keras.Model:
    """The Char-CNN classifier ``name``: :func:`char_cnn_encoder` + the softmax head (``fc9``)."""
    check_hyperparameters(num_classes=num_classes, dropout=dropout, init_std=init_std)
    encoding = char_cnn_encoder(
        l0=l0,
        alphabet_size=alphabet_size,
        conv_features=conv_features,
        fc_units=fc_units,
        kernel_sizes=kernel_sizes,
        pool_sizes=pool_sizes,
        dropout=dropout,
        init_std=init_std,
        first_layer=first_layer,
    )
    probs = softmax_head(encoding.embedding, num_classes=num_classes, kernel_sizes=kernel_sizes, init_std=init_std)
    return encoding.model(probs, name=name)


# The paper's two sizes (Tables 1 and 2): one builder each for the classifier and the encoder.
VARIANTS = {
    "char_cnn_small": (
        SMALL, "The paper's small Char-CNN: 256 conv features, 1024 FC units, N(0, 0.05) weights."),
    "char_cnn_large": (
        LARGE, "The paper's large Char-CNN: 1024 conv features, 2048 FC units, N(0, 0.02) weights."),
}


def _classifier(name: str) -> Callable[..., keras.Model]:
    sizes, doc = VARIANTS[name]
    return register(name, feature="chars")(variant(char_cnn, name, defaults=sizes, fixed={"name": name}, doc=doc))


def _encoder(name: str) -> Callable[..., Encoding]:
    sizes, doc = VARIANTS[name]
    return encoders.register(name, features=("chars",))(
        variant(char_cnn_encoder, f"{name}_encoder", defaults=sizes, doc=f"{doc} The encoder: up to dropout8.")
    )


char_cnn_small = _classifier("char_cnn_small")
char_cnn_large = _classifier("char_cnn_large")
char_cnn_small_encoder = _encoder("char_cnn_small")
char_cnn_large_encoder = _encoder("char_cnn_large")


def flops_per_example(model_or_config: keras.Model | dict[str, Any]) -> int:
    """Forward FLOPs per example (2 x multiply-adds) of the convolutions and dense layers.

    Takes a built model (any model made of ``Conv1D``/``IndexConv1D``/``Dense``
    layers: counted from the layers' shapes) or a Char-CNN config dict with the
    builder's keys (``num_classes`` required; an optional ``"model":
    "char_cnn_large"`` picks the large defaults, small otherwise).  Pooling,
    ReLU, softmax, biases and the one-hot expansion are not counted.

    These are the paper's model's FLOPs: an ``IndexConv1D`` ``conv1`` counts as
    the one-hot convolution it equals (``2 x frames x kernel x alphabet x
    features``), whichever ``first_layer`` computes it.  The gather itself
    multiplies nothing: per example it adds ``frames x (kernel - 1) x features``
    gathered kernel entries (1,008 x 6 x 256 = 1,548,288 additions for the small
    model's ``conv1`` at ``l0 = 1014``, against 252,887,040 FLOPs of its one-hot
    form).
    """
    if isinstance(model_or_config, keras.Model):
        total = 0
        for layer in model_or_config.layers:
            if isinstance(layer, (keras.layers.Conv1D, IndexConv1D)):
                kernel, cin, cout = layer.kernel.shape
                frames = layer.output.shape[1]
                total += 2 * frames * kernel * cin * cout
            elif isinstance(layer, keras.layers.Dense):
                cin, cout = layer.kernel.shape
                total += 2 * cin * cout
        return int(total)
    config = dict(model_or_config)
    name = config.pop("model", "char_cnn_small")
    if name not in VARIANTS:
        raise ValueError(f"model {name!r}: flops from a config know {' and '.join(VARIANTS)}")
    defaults = {
        "l0": PAPER_L0,
        "alphabet_size": PAPER_ALPHABET_SIZE,
        "kernel_sizes": KERNEL_SIZES,
        "pool_sizes": POOL_SIZES,
        **VARIANTS[name][0],
    }
    unknown = sorted(set(config) - set(defaults) - {"num_classes", "dropout", "init_std", "first_layer"})
    if unknown or "num_classes" not in config:
        raise ValueError(
            f"config needs num_classes and takes {sorted(defaults) + ['dropout', 'first_layer', 'model']}; "
            f"got unknown {unknown}"
        )
    check_first_layer(config.get("first_layer", GATHER))
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
