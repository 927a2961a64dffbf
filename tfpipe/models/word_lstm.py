"""Word-based LSTM of Zhang, Zhao & LeCun (2015), section 3 (Table 4 "LSTM", Figure 2).

"Word-based, using pretrained word2vec embedding of size 300 ... formed by
taking mean of the outputs of all LSTM cells to form a feature vector, and then
using multinomial logistic regression on this feature vector. The output
dimension is 512. The variant of LSTM we used is the common 'vanilla'
architecture. We also used gradient clipping in which the gradient norm is
limited to 5."

``word_ids`` ``int64[B, max_words]`` (0 = padding) -> ``embedding`` (300-d;
word2vec rows from the file ``embeddings`` aligned by
:mod:`tfpipe.embeddings.pretrained`, or with ``embeddings=None`` a lookup
table initialised U(-0.05, 0.05), Keras' default) -> ``lstm``: one LSTM layer
of 512 units returning every step's output -> ``mean``
(:class:`tfpipe.layers.MeanOverTime` over the real words only: the mask is
``word_ids != 0``, and masked steps neither update the state nor enter the
mean) -> ``logits``: dense ``num_classes`` -> float32 ``softmax``.  The part up to
``mean`` is the encoder ``word_lstm`` (``tfpipe.models.encoders``); ``logits``
and ``softmax`` are the softmax head.

"Vanilla" is Greff et al.'s LSTM with peephole connections
(:class:`tfpipe.layers.PeepholeLSTMCell` through ``keras.layers.RNN``);
``peepholes=False`` uses Keras' ``LSTM`` (no peepholes, cuDNN-capable).  The
embeddings are trained by default (``train_embeddings``; the paper says
"pretrained" without saying frozen, and fine-tuning is the common choice for
this model).  No dropout: the paper mentions none.

Gradient clipping is an optimizer setting, not part of the model: train it
with ``train.global_clipnorm: 5`` (``tfpipe.training.optimizers.make_optimizer``
passes it to Keras as ``global_clipnorm``, the norm over all gradients).
"""
from __future__ import annotations

from typing import Sequence

import keras

from tfpipe.layers import MeanOverTime, PeepholeLSTMCell
from tfpipe.models import encoders, heads, register
from tfpipe.models.encoders import Encoding
from tfpipe.models.word_cnn import EMBEDDING_DIM, check_vocab_size, pretrained_rows, word_embedding

UNITS = 512  # "The output dimension is 512"
GLOBAL_CLIPNORM = 5.0  # the paper's gradient-norm limit: set train.global_clipnorm to it


def word_input(input_length: int | None, who: str) -> keras.KerasTensor:
    """``word_ids`` ``int64 [B, input_length]`` (None: any length)."""
    if input_length is not None and int(input_length) < 1:
        raise ValueError(f"{who}: input_length must be positive, got {input_length}")
    length = None if input_length is None else int(input_length)
    return keras.Input(shape=(length,), dtype="int64", name="word_ids")


@encoders.register("word_lstm", features=("word_ids",))
def word_lstm_encoder(
    *,
    vocab_size: int,
    input_length: int | None = None,
    vocab: Sequence[str] | None = None,
    embeddings: str | None = None,
    embedding_dim: int = EMBEDDING_DIM,
    units: int = UNITS,
    peepholes: bool = True,
    train_embeddings: bool = True,
) -> Encoding:
    """``word_ids`` -> ``embedding`` -> ``lstm`` -> ``mean``: the mean LSTM output ``[B, units]``
    (Zhang et al. section 3; the text embedding of Reed et al. 2016, section 4.3)."""
    name = "word_lstm"
    if int(units) < 1:
        raise ValueError(f"{name}: units must be positive, got {units}")
    check_vocab_size(vocab_size, name)
    word_ids = word_input(input_length, name)
    frames, embedding = word_embedding(
        word_ids,
        vocab_size=vocab_size,
        embedding_dim=embedding_dim,
        train_embeddings=train_embeddings,
        initializer="zeros" if embeddings else "uniform",
        mask_zero=True,
        who=name,
    )
    if peepholes:
        recurrent = keras.layers.RNN(PeepholeLSTMCell(int(units)), return_sequences=True, name="lstm")
    else:
        recurrent = keras.layers.LSTM(int(units), return_sequences=True, name="lstm")
    outputs = recurrent(frames)
    features = MeanOverTime(name="mean")(outputs)
    finish = pretrained_rows(
        embedding, embeddings, vocab, vocab_size=vocab_size, embedding_dim=embedding_dim, who=name
    )
    return Encoding(word_ids, features, finish)


@register("word_lstm", feature="word_ids")
def word_lstm(
    *,
    num_classes: int,
    vocab_size: int,
    input_length: int | None = None,
    vocab: Sequence[str] | None = None,
    embeddings: str | None = None,
    embedding_dim: int = EMBEDDING_DIM,
    units: int = UNITS,
    peepholes: bool = True,
    train_embeddings: bool = True,
) -> keras.Model:
    """The paper's word LSTM: mean of the 512-unit LSTM outputs, then logistic regression.

    :func:`word_lstm_encoder` + the softmax head (``logits``, Keras' default
    Glorot-uniform weights).  ``embeddings``: a word2vec file (None = a learned
    lookup table); ``input_length``: a fixed input length (None, the default: any
    length, so batches trimmed after their longest text (``data.trim_padding``)
    run fewer steps; the manifest's ``max_words`` is deliberately not taken).
    """
    name = "word_lstm"
    if num_classes < 2:
        raise ValueError(f"{name}: num_classes must be at least 2, got {num_classes}")
    encoding = word_lstm_encoder(
        vocab_size=vocab_size,
        input_length=input_length,
        vocab=vocab,
        embeddings=embeddings,
        embedding_dim=embedding_dim,
        units=units,
        peepholes=peepholes,
        train_embeddings=train_embeddings,
    )
    probs = heads.softmax(encoding.embedding, num_classes=num_classes, name="logits")
    return encoding.model(probs, name=name)
