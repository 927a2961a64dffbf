"""Reed et al. (2016)'s hybrid CNN-RNN text encoders (section 4.2 and the authors' code), registered.

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
"""
from __future__ import annotations

from typing import Any, Sequence

import keras

from tfpipe.layers import MeanOverTime, OneHot
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


def cnn_rnn_trunk(frames: Any, *, stages: Sequence[tuple[int, int, int | None, int | None]], rnn_units: int,
                  dim: int, init_range: float) -> Any:
    """The shared stack on ``frames [B, L, D]``: the convolutions and poolings of ``stages``, the
    ReLU recurrence, the mean over time and the linear map to ``[B, dim]`` (the module docstring)."""
    init = _uniform(init_range)
    h = frames
    for i, (filters, kernel, pool, stride) in enumerate(stages, start=1):
        h = keras.layers.Conv1D(filters, kernel, padding="valid", activation="relu", kernel_initializer=init,
                                bias_initializer="zeros", name=f"conv{i}")(h)
        if pool:
            h = keras.layers.MaxPooling1D(pool_size=pool, strides=stride, padding="valid", name=f"pool{i}")(h)
    h = keras.layers.SimpleRNN(int(rnn_units), activation="relu", return_sequences=True, kernel_initializer=init,
                               recurrent_initializer=init, bias_initializer="zeros", name="rnn")(h)
    h = MeanOverTime(name="mean")(h)
    if int(dim) < 1:
        raise ValueError(f"dim must be positive, got {dim}")
    return keras.layers.Dense(int(dim), kernel_initializer=init, bias_initializer="zeros", name="embedding_out")(h)


@encoders.register("char_cnn_rnn", features=("chars",))
def char_cnn_rnn(*, dim: int, l0: int = REED_L0, alphabet_size: int = REED_ALPHABET_SIZE,
                 rnn_units: int = CHAR_RNN_UNITS, init_range: float = INIT_RANGE) -> Encoding:
    """Char-CNN-RNN (Reed et al. 2016): ``chars [B, l0]`` -> ``[B, dim]``."""
    frame_lengths(l0, CHAR_STAGES)  # a clear error for a too-short l0
    chars = keras.Input(shape=(int(l0),), dtype="uint8", name="chars")
    frames = OneHot(int(alphabet_size), name="one_hot")(chars)
    return Encoding(chars, cnn_rnn_trunk(frames, stages=CHAR_STAGES, rnn_units=rnn_units, dim=dim,
                                         init_range=init_range))


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
