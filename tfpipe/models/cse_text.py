"""The text CNN of You et al. (2018), "End-to-end Convolutional Semantic Embeddings" (section 3.3,
Figure 3), registered as the encoder ``cse_text``.

``word_ids`` ``int64 [B, T]`` (0 = padding, any length by default) ->

* ``embedding``: a ``embedding_dim`` (300) word vector per id, initialised from the word2vec file
  ``embeddings`` when given ("the word embeddings are initialized using pre-trained word2vec",
  rows aligned by :mod:`tfpipe.embeddings.pretrained`), else U(-0.05, 0.05); trained by default.
  ``embedding_mask`` sets the padding positions' vectors to zero.
* ``ngram_k1``, ``ngram_k3``, ``ngram_k5``, ``ngram_k7``: "four one dimensional convolutional
  layers with different kernel sizes to capture semantics of different n-grams", ``filters``
  (256) each, ReLU, with the highways' causal padding (``k - 1`` zero frames on the left, stride
  1), so every output keeps the text's length and trailing padding never reaches a real word;
  ``ngrams`` concatenates them: ``[B, T, 4 * filters]`` (1024).
* ``highway1`` .. ``highway3``: :class:`tfpipe.layers.ConvHighway` of kernel ``highway_kernel``
  (3), eqs. 7-8, each ``[B, T, 1024]``.
* ``max``: the sentence embedding ``s``, the max over time of the last highway's output over the
  real words only ("a Max-Pooling layer ... to generate the global semantic features"),
  ``[B, 1024]``; a text with no real word gives zeros.

The encoding's ``local`` is the output of highway ``local_layer`` (1-based; the second of three
by default: section 4.1 takes "the outputs of the second to the last convolutional layer to
represent the local regional features") and ``local_mask`` is ``float32 [B, T]``, 1 on the real
words (``word_ids != 0``); they feed :class:`tfpipe.layers.AttentionContext` (eqs. 2-4).

Padding is the ids 0 after a text (the preprocessing pads on the right).  A causal convolution
reads only earlier frames, so a real word's features do not depend on how much padding follows
it; the features at the padding positions are not zero (they see the last words) and are left
out of the max and masked by ``local_mask``.

Any positive kernel sizes are accepted (even ones too: the causal padding keeps the length
either way); they must be distinct, as each names its layer.
"""
from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from tfpipe.layers import ConvHighway
from tfpipe.models import encoders
from tfpipe.models.encoders import Encoding
from tfpipe.models.word_cnn import EMBEDDING_DIM, check_vocab_size, pretrained_rows, word_embedding
from tfpipe.models.word_lstm import word_input

KERNEL_SIZES = (1, 3, 5, 7)  # section 4.1: "kernel sizes one, three, five and seven"
FILTERS = 256                # 4 x 256 = 1024, the joint space's size (section 4.1)
HIGHWAY_LAYERS = 3           # "three convolutional highway network layers"
HIGHWAY_KERNEL = 3           # "with the same kernel size of three"
LOCAL_LAYER = 2              # "the second to the last convolutional layer"

_FLOAT32_LOWEST = -3.4028234663852886e38


@keras.saving.register_keras_serializable(package="tfpipe")
class WordMask(keras.layers.Layer):
    """Word ids ``[B, T]`` -> ``float32 [B, T]``: 1 where the id is not 0 (a real word), else 0."""

    def call(self, ids):
        return ops.cast(ops.not_equal(ids, 0), "float32")

    def compute_output_spec(self, ids):
        return keras.KerasTensor(ids.shape, dtype="float32")


@keras.saving.register_keras_serializable(package="tfpipe")
class MaskFrames(keras.layers.Layer):
    """``[frames [B, T, D], mask [B, T]]`` -> the frames with the masked (0) positions set to zero."""

    def call(self, inputs):
        frames, mask = inputs
        return frames * ops.expand_dims(ops.cast(mask, frames.dtype), -1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package="tfpipe")
class MaskedMaxOverTime(keras.layers.Layer):
    """``[frames [B, T, D], mask [B, T]]`` -> ``[B, D]``: the max over the real (mask 1) steps.

    A row with no real step gives zeros (neither ``-inf`` nor NaN).  The max is taken in float32
    (exact for float16 / bfloat16 inputs) and returned in the compute dtype.
    """

    def call(self, inputs):
        frames, mask = inputs
        real = ops.cast(mask, "bool")  # [B, T]
        values = ops.cast(frames, "float32")
        values = ops.where(ops.expand_dims(real, -1), values, ops.full_like(values, _FLOAT32_LOWEST))
        top = ops.max(values, axis=1, initial=_FLOAT32_LOWEST)  # (initial: an empty batch is fine)
        top = ops.where(ops.any(real, axis=1, keepdims=True), top, ops.zeros_like(top))
        return ops.cast(top, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[0])
        return (shape[0], shape[2])


def _check(name: str, *, kernel_sizes: Sequence[int], filters: int, highway_layers: int, highway_kernel: int,
           local_layer: int) -> tuple[int, ...]:
    sizes = tuple(kernel_sizes) if isinstance(kernel_sizes, (list, tuple)) else None
    if not sizes or any(isinstance(k, bool) or int(k) != k or int(k) < 1 for k in sizes):
        raise ValueError(f"{name}: kernel_sizes must be a non-empty list of positive integers, got {kernel_sizes!r}")
    sizes = tuple(int(k) for k in sizes)
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"{name}: kernel_sizes must be distinct (each names its layer), got {list(sizes)}")
    for key, value in (("filters", filters), ("highway_layers", highway_layers), ("highway_kernel", highway_kernel)):
        if int(value) < 1:
            raise ValueError(f"{name}: {key} must be positive, got {value}")
    if not 1 <= int(local_layer) <= int(highway_layers):
        raise ValueError(f"{name}: local_layer (1-based) must be between 1 and highway_layers={highway_layers}, "
                         f"got {local_layer}")
    return sizes


@encoders.register("cse_text", features=("word_ids",))
def cse_text(
    *,
    vocab_size: int,
    input_length: int | None = None,
    vocab: Sequence[str] | None = None,
    embeddings: str | None = None,
    embedding_dim: int = EMBEDDING_DIM,
    train_embeddings: bool = True,
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    filters: int = FILTERS,
    highway_layers: int = HIGHWAY_LAYERS,
    highway_kernel: int = HIGHWAY_KERNEL,
    local_layer: int = LOCAL_LAYER,
    ngram_activation: str = "relu",
) -> Encoding:
    """You et al.'s text CNN: ``word_ids [B, T]`` -> ``s [B, len(kernel_sizes) * filters]``
    (the module docstring), with ``local [B, T, len(kernel_sizes) * filters]`` (highway
    ``local_layer``) and ``local_mask float32 [B, T]`` on the encoding.

    ``embeddings``: a word2vec file (needs ``vocab``), filled in by the encoding's ``finish``.
    """
    name = "cse_text"
    check_vocab_size(vocab_size, name)
    sizes = _check(name, kernel_sizes=kernel_sizes, filters=filters, highway_layers=highway_layers,
                   highway_kernel=highway_kernel, local_layer=local_layer)
    word_ids = word_input(input_length, name)
    mask = WordMask(name="word_mask")(word_ids)
    frames, embedding = word_embedding(
        word_ids,
        vocab_size=vocab_size,
        embedding_dim=embedding_dim,
        train_embeddings=train_embeddings,
        initializer="zeros" if embeddings else "uniform",
        who=name,
    )
    frames = MaskFrames(name="embedding_mask")([frames, mask])
    ngrams = [
        keras.layers.Conv1D(int(filters), k, padding="causal", activation=ngram_activation, name=f"ngram_k{k}")(frames)
        for k in sizes
    ]
    h = ngrams[0] if len(ngrams) == 1 else keras.layers.Concatenate(axis=-1, name="ngrams")(ngrams)
    local = None
    for i in range(1, int(highway_layers) + 1):
        h = ConvHighway(int(highway_kernel), name=f"highway{i}")(h)
        if i == int(local_layer):
            local = h
    sentence = MaskedMaxOverTime(name="max")([h, mask])
    finish = pretrained_rows(
        embedding, embeddings, vocab, vocab_size=vocab_size, embedding_dim=embedding_dim, who=name
    )
    return Encoding(word_ids, sentence, finish, local=local, local_mask=mask)
