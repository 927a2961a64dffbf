"""Reed et al. (2016)'s text encoders (sections 4.2-4.4 and the authors' Torch code), registered.

The hybrid CNN-RNN encoders:

A convolutional stack shortens the text to a few frames, a recurrent layer with ReLU units reads
them, and the text's embedding is a linear map of the mean of the recurrent outputs over time
("the final encoded feature is the average hidden unit activation over the sequence"):

``char_cnn_rnn``   ``chars`` ``uint8 [B, 201]`` -> one-hot (70) -> Conv(384, k4) -> MaxPool(3, 3)
                   -> Conv(512, k4) -> MaxPool(3, 3) -> Conv(256, k4) -> MaxPool(3, 2): frames
                   201 -> 198 -> 66 -> 63 -> 21 -> 18 -> 8, so ``[B, 8, 256]`` -> ReLU-RNN(256)
                   -> mean over the 8 steps -> linear ``[B, dim]``.
``word_cnn_rnn``   ``word_ids`` ``[B, 30]`` -> word embedding -> Conv(512, k3) -> Conv(512, k2)
                   -> MaxPool(3, 3) -> Conv(512, k2): frames 30 -> 28 -> 27 -> 9 -> 8, so
                   ``[B, 8, 512]`` -> ReLU-RNN(512) -> mean -> linear ``[B, dim]``.

Every convolution is 'valid' with stride 1 and a ReLU; a pooling ``(size, stride)`` is
'valid' too.  The recurrence is ``h_t = relu(x_t W + h_{t-1} U + b)`` from ``h_0 = 0``
(``keras.layers.SimpleRNN``, the code's fixed-length RNN).  Weights start uniform in
``±init_range`` (0.08, the code's), biases at zero.  The one-hot layer, the word embedding and
the mean over time are the project's (``tfpipe.layers.OneHot``, ``word_cnn.word_embedding``,
``tfpipe.layers.MeanOverTime``).  :func:`frame_lengths` is the arithmetic above.

The character encoders' first convolution (``conv1`` of ``char_cnn_rnn`` and ``char_cnn_doc``)
is computed as a gather by default (``first_layer="gather"``,
:class:`tfpipe.layers.IndexConv1D`: output frame ``t`` is ``bias + sum_{j < k} W[j,
chars[t + j] - 1]``, index 0 adding nothing), exactly the code's convolution of the one-hot
frames without forming them (in training the fused op of :mod:`tfpipe.ops.index_conv` where it
runs; ``"gather_keras"``: ``keras.ops`` only); ``first_layer="one_hot"`` builds the ``one_hot`` frames and a
``Conv1D``.  Both hold the same kernel ``[k, 70, filters]`` and bias, so weights move between them
(``get_weights`` / ``set_weights``; a Keras ``.weights.h5`` file loads only into the form that wrote it).

The code's other encoders (``modules/*.lua``):

``char_cnn_doc``   DocumentCNNShort, the CNN without the RNN: ``chars [B, 201]`` -> one-hot (70)
                   -> three times Conv(256, k4) + ReLU -> MaxPool(3, 3): frames 201 -> 198 -> 66
                   -> 63 -> 21 -> 18 -> 6 (:data:`DOC_CHAR_STAGES`) -> flatten 1536 -> linear 1024
                   (no nonlinearity: the code's ``Linear, Dropout, Linear``) -> dropout -> linear
                   ``[B, dim]``.
``word_cnn_doc``   DocumentCNNWord: ``word_ids [B, 30]`` -> Conv(256, k3) over the one-hot
                   vocabulary + ReLU (Torch's TemporalConvolution(vocab_size, 256, 3):
                   :class:`tfpipe.layers.IndexConv1D`, the exact convolution as a gather, no
                   separate embedding) -> MaxPool(3, 3) -> Conv(256, k3) + ReLU -> Conv(256, k3)
                   + ReLU: frames 30 -> 28 -> 9 -> 7 -> 5 (:data:`DOC_WORD_STAGES`) -> flatten
                   1280 -> linear 1024 -> dropout -> linear ``[B, dim]``.  (The code's comments
                   say 10, 8, 6 frames, but its ``Reshape(1280)`` = 5 x 256 is the arithmetic
                   here.)
``char_lstm``      the character LSTM (LSTM.lua, section 4.3): ``chars [B, 201]`` -> one-hot (70)
                   -> LSTM(512) -> the mean of its outputs ``[B, units]``; no linear map (the
                   task's projection head follows, as for ``word_lstm``).  Steps after the text's
                   last non-zero character (the trailing padding) are masked: they neither
                   update the state nor enter the mean.  A 0 inside the text (a character
                   outside the alphabet) is read as the all-zero frame, as in the code.  The
                   gates are Keras' (input, forget, cell, output; the code's i2h and h2h biases
                   sum to Keras' one bias), with no forget-gate bias of 1.  The LSTM runs on
                   ``CHAR_LSTM_CHUNKS`` length-sorted slices of the batch, each cut to its own
                   longest text (:class:`~tfpipe.layers.LengthChunked`): masked steps change
                   nothing, so the outputs are exactly those of all 201 steps, at the cost of
                   the real characters only.
``attributes``     the attribute baseline (AttributeEncoder.lua, a linear map of the class's
                   attribute vector): the embedding is the ``attributes`` input ``float32
                   [B, num_attributes]`` itself, and the task's projection head is the linear map.

The code draws every parameter, biases included, from U(-0.08, 0.08); here the weights are
drawn so and the biases start at zero, as for the CNN-RNNs above.
"""
from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from tfpipe.layers import LengthChunked, MeanOverTime, OneHot
from tfpipe.layers.index_conv import GATHER, check_first_layer, one_hot_conv1d
from tfpipe.models import encoders
from tfpipe.models.encoders import Encoding
from tfpipe.models.word_cnn import EMBEDDING_DIM, check_vocab_size, word_embedding
from tfpipe.text.alphabet import REED_L0

INIT_RANGE = 0.08            # the code's uniform initialisation
REED_ALPHABET_SIZE = 70      # Reed et al.'s 70 symbols (the reed alphabet)
REED_WORDS = 30              # section 5: "30 for word-level models"
# (filters, kernel, pool size, pool stride or None) per convolution.
CHAR_STAGES = ((384, 4, 3, 3), (512, 4, 3, 3), (256, 4, 3, 2))
WORD_STAGES = ((512, 3, None, None), (512, 2, 3, 3), (512, 2, None, None))
CHAR_RNN_UNITS, WORD_RNN_UNITS = 256, 512
DOC_CHAR_STAGES = ((256, 4, 3, 3), (256, 4, 3, 3), (256, 4, 3, 3))              # DocumentCNNShort
DOC_WORD_STAGES = ((256, 3, 3, 3), (256, 3, None, None), (256, 3, None, None))  # DocumentCNNWord
DOC_HIDDEN = 1024            # the document CNNs' first linear layer
CHAR_LSTM_UNITS = 512
CHAR_LSTM_CHUNKS = 4  # length-sorted slices of a batch the LSTM runs on (exact; speed only)


def frame_lengths(length: int, stages: Sequence[tuple[int, int, int | None, int | None]]) -> list[int]:
    """The sequence length after each convolution and pooling (valid, stride 1 / the pool stride):
    ``frame_lengths(201, CHAR_STAGES) == [201, 198, 66, 63, 21, 18, 8]``."""
    out = [int(length)]
    for _, kernel, pool, stride in stages:
        out.append(out[-1] - kernel + 1)
        if pool:
            out.append((out[-1] - pool) // stride + 1)
        if out[-1] < 1:
            raise ValueError(f"a text of {length} frames is too short for the stages {list(stages)}: lengths {out}")
    return out


def _uniform(init_range: float) -> keras.initializers.Initializer:
    if not init_range > 0:
        raise ValueError(f"init_range must be positive, got {init_range}")
    return keras.initializers.RandomUniform(-float(init_range), float(init_range))


def _pool(h: Any, pool: int | None, stride: int | None, i: int) -> Any:
    if not pool:
        return h
    return keras.layers.MaxPooling1D(pool_size=pool, strides=stride, padding="valid", name=f"pool{i}")(h)


def conv_stages(inputs: Any, stages: Sequence[tuple[int, int, int | None, int | None]],
                init: keras.initializers.Initializer, *, vocab_size: int | None = None,
                first_layer: str = GATHER) -> Any:
    """The 'valid' ReLU convolutions ``conv{i}`` and poolings ``pool{i}`` of ``stages`` on
    ``inputs``: frames ``[B, L, D]`` when ``vocab_size`` is None, else ids ``[B, L]`` whose one-hot
    frames (id ``i >= 1`` -> position ``i - 1``, id 0 the zero frame) ``conv1`` convolves, as a
    gather or on the ``one_hot`` frames (``first_layer``,
    :func:`tfpipe.layers.index_conv.one_hot_conv1d`)."""
    check_first_layer(first_layer)
    h = inputs
    for i, (filters, kernel, pool, stride) in enumerate(stages, start=1):
        if i == 1 and vocab_size is not None:
            h = one_hot_conv1d(h, first_layer=first_layer, vocab_size=int(vocab_size), filters=filters,
                               kernel_size=kernel, activation="relu", kernel_initializer=init,
                               bias_initializer="zeros", name="conv1")
        else:
            h = keras.layers.Conv1D(filters, kernel, padding="valid", activation="relu", kernel_initializer=init,
                                    bias_initializer="zeros", name=f"conv{i}")(h)
        h = _pool(h, pool, stride, i)
    return h


def _check_dim(dim: int) -> int:
    if int(dim) < 1:
        raise ValueError(f"dim must be positive, got {dim}")
    return int(dim)


def cnn_rnn_trunk(inputs: Any, *, stages: Sequence[tuple[int, int, int | None, int | None]], rnn_units: int,
                  dim: int, init_range: float, vocab_size: int | None = None, first_layer: str = GATHER) -> Any:
    """The shared stack on ``inputs`` (frames ``[B, L, D]``, or ids ``[B, L]`` over a one-hot
    ``vocab_size``: :func:`conv_stages`): the convolutions and poolings of ``stages``, the ReLU
    recurrence, the mean over time and the linear map to ``[B, dim]`` (the module docstring)."""
    init = _uniform(init_range)
    h = conv_stages(inputs, stages, init, vocab_size=vocab_size, first_layer=first_layer)
    h = keras.layers.SimpleRNN(int(rnn_units), activation="relu", return_sequences=True, kernel_initializer=init,
                               recurrent_initializer=init, bias_initializer="zeros", name="rnn")(h)
    h = MeanOverTime(name="mean")(h)
    return keras.layers.Dense(_check_dim(dim), kernel_initializer=init, bias_initializer="zeros",
                              name="embedding_out")(h)


@encoders.register("char_cnn_rnn", features=("chars",))
def char_cnn_rnn(*, dim: int, l0: int = REED_L0, alphabet_size: int = REED_ALPHABET_SIZE,
                 rnn_units: int = CHAR_RNN_UNITS, init_range: float = INIT_RANGE,
                 first_layer: str = GATHER) -> Encoding:
    """Char-CNN-RNN (Reed et al. 2016): ``chars [B, l0]`` -> ``[B, dim]`` (``conv1`` over the
    one-hot characters computed as ``first_layer`` says: the module docstring)."""
    check_first_layer(first_layer)
    frame_lengths(l0, CHAR_STAGES)  # a clear error for a too-short l0
    chars = keras.Input(shape=(int(l0),), dtype="uint8", name="chars")
    return Encoding(chars, cnn_rnn_trunk(chars, stages=CHAR_STAGES, rnn_units=rnn_units, dim=dim,
                                         init_range=init_range, vocab_size=int(alphabet_size),
                                         first_layer=first_layer))


@encoders.register("word_cnn_rnn", features=("word_ids",))
def word_cnn_rnn(*, dim: int, vocab_size: int, max_words: int = REED_WORDS, embedding_dim: int = EMBEDDING_DIM,
                 rnn_units: int = WORD_RNN_UNITS, init_range: float = INIT_RANGE) -> Encoding:
    """Word-CNN-RNN (Reed et al. 2016): ``word_ids [B, max_words]`` -> ``[B, dim]`` (a learned
    lookup table of ``embedding_dim``, initialised like the rest)."""
    name = "word_cnn_rnn"
    check_vocab_size(vocab_size, name)
    frame_lengths(max_words, WORD_STAGES)
    word_ids = keras.Input(shape=(int(max_words),), dtype="int64", name="word_ids")
    frames, _ = word_embedding(word_ids, vocab_size=vocab_size, embedding_dim=embedding_dim, train_embeddings=True,
                               initializer=_uniform(init_range), who=name)
    return Encoding(word_ids, cnn_rnn_trunk(frames, stages=WORD_STAGES, rnn_units=rnn_units, dim=dim,
                                            init_range=init_range))


def doc_cnn_head(h: Any, *, dim: int, dropout: float, init: keras.initializers.Initializer) -> Any:
    """The document CNNs' head on the last frames ``[B, T, C]``: ``flatten`` (frame-major, like
    Torch's Reshape) -> ``fc1`` linear 1024 (no nonlinearity) -> ``dropout`` -> ``embedding_out``
    linear ``[B, dim]``."""
    dim = _check_dim(dim)
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(DOC_HIDDEN, kernel_initializer=init, bias_initializer="zeros", name="fc1")(h)
    h = keras.layers.Dropout(float(dropout), name="dropout")(h)
    return keras.layers.Dense(dim, kernel_initializer=init, bias_initializer="zeros", name="embedding_out")(h)


@encoders.register("char_cnn_doc", features=("chars",))
def char_cnn_doc(*, dim: int, l0: int = REED_L0, alphabet_size: int = REED_ALPHABET_SIZE, dropout: float = 0.0,
                 init_range: float = INIT_RANGE, first_layer: str = GATHER) -> Encoding:
    """Reed et al.'s character CNN (DocumentCNNShort.lua): ``chars [B, l0]`` -> ``[B, dim]``
    (the module docstring; ``conv1`` computed as ``first_layer`` says)."""
    check_first_layer(first_layer)
    frame_lengths(l0, DOC_CHAR_STAGES)
    init = _uniform(init_range)
    chars = keras.Input(shape=(int(l0),), dtype="uint8", name="chars")
    h = conv_stages(chars, DOC_CHAR_STAGES, init, vocab_size=int(alphabet_size), first_layer=first_layer)
    return Encoding(chars, doc_cnn_head(h, dim=dim, dropout=dropout, init=init))


@encoders.register("word_cnn_doc", features=("word_ids",))
def word_cnn_doc(*, dim: int, vocab_size: int, max_words: int = REED_WORDS, dropout: float = 0.0,
                 init_range: float = INIT_RANGE) -> Encoding:
    """Reed et al.'s word CNN (DocumentCNNWord.lua): ``word_ids [B, max_words]`` -> ``[B, dim]``;
    its first convolution runs over the one-hot vocabulary (word id ``i >= 1`` -> position
    ``i - 1``, id 0 the zero frame) as :class:`~tfpipe.layers.IndexConv1D`."""
    name = "word_cnn_doc"
    check_vocab_size(vocab_size, name)
    frame_lengths(max_words, DOC_WORD_STAGES)
    init = _uniform(init_range)
    word_ids = keras.Input(shape=(int(max_words),), dtype="int64", name="word_ids")
    h = conv_stages(word_ids, DOC_WORD_STAGES, init, vocab_size=int(vocab_size))  # conv1: the gather
    return Encoding(word_ids, doc_cnn_head(h, dim=dim, dropout=dropout, init=init))


@keras.saving.register_keras_serializable(package="tfpipe")
class TrailingPaddingMask(keras.layers.Layer):
    """ids ``[B, L]`` -> bool ``[B, L]``: true up to and including the last non-zero id of each row,
    false on the trailing zeros (the padding after a text); zeros inside a text stay true.  A
    right-padded mask, so Keras' LSTM may still use cuDNN."""

    def call(self, ids):
        seen = ops.cumsum(ops.cast(ops.flip(ops.not_equal(ids, 0), axis=1), "int32"), axis=1)
        return ops.flip(seen > 0, axis=1)

    def compute_output_spec(self, ids):
        return keras.KerasTensor(ids.shape, dtype="bool")


@encoders.register("char_lstm", features=("chars",))
def char_lstm(*, l0: int = REED_L0, alphabet_size: int = REED_ALPHABET_SIZE, units: int = CHAR_LSTM_UNITS,
              init_range: float = INIT_RANGE, chunks: int = CHAR_LSTM_CHUNKS) -> Encoding:
    """Reed et al.'s character LSTM: ``chars [B, l0]`` -> one-hot -> ``lstm`` -> ``mean`` over the
    steps before the trailing padding: ``[B, units]`` (the module docstring)."""
    if int(units) < 1:
        raise ValueError(f"char_lstm: units must be positive, got {units}")
    if int(l0) < 1:
        raise ValueError(f"char_lstm: l0 must be positive, got {l0}")
    init = _uniform(init_range)
    chars = keras.Input(shape=(int(l0),), dtype="uint8", name="chars")
    steps = keras.Input(shape=(None,), dtype="uint8", name="chars")  # one length-sorted slice, trimmed
    mask = TrailingPaddingMask(name="mask")(steps)
    frames = OneHot(int(alphabet_size), name="one_hot")(steps)
    h = keras.layers.LSTM(int(units), return_sequences=True, kernel_initializer=init, recurrent_initializer=init,
                          bias_initializer="zeros", unit_forget_bias=False, name="lstm")(frames, mask=mask)
    tower = keras.Model(steps, MeanOverTime(name="mean")(h, mask=mask), name="char_lstm_tower")
    return Encoding(chars, LengthChunked(tower, int(chunks), name="length_chunks")(chars))


@encoders.register("attributes", features=("attributes",))
def attributes(*, num_attributes: int) -> Encoding:
    """Reed et al.'s attribute encoder: the class attribute vector ``attributes float32
    [B, num_attributes]`` is the embedding (its linear map is the task's projection head)."""
    if int(num_attributes) < 1:
        raise ValueError(f"attributes: num_attributes must be positive, got {num_attributes}")
    vector = keras.Input(shape=(int(num_attributes),), dtype="float32", name="attributes")
    return Encoding(vector, vector)
