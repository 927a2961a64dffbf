"""The text embedding of the predicted-context paper (section 3.3): a bag of unigrams and bigrams.

The paper embeds the generated phrases with a dual encoder, "a Siamese network ... pre-trained
on a dataset of query-query associations", where "phrase embeddings [are] obtained via a
bag-of-words model consisting of unigrams and bigrams"; "the embeddings for the top three
phrases were subsequently averaged, resulting in a single 200-dimensional textual feature
vector".  (The paper's attention mechanisms are not reproduced: a bag has no order to attend.)

* A phrase's **grams** are its words and its adjacent word pairs: :func:`phrase_grams`, which is
  :func:`tfpipe.text.ngrams.ngrams` with ``n_max = 2`` (case-folded tokens of
  :func:`tfpipe.text.tokenize.tokenize`; a bigram is two tokens joined by one space).  The
  phrases are normalised ones (:func:`tfpipe.text.phrases.normalize`: case-folded words joined
  by single spaces, as the phrase vocabulary stores them), whose tokens are exactly their
  words: ``"red flower pot"`` -> ``red, flower, pot, red flower, flower pot``.
  :func:`gram_vocabulary` refuses a phrase that is not normalised; the model (:class:`PhraseGrams`)
  calls the same :func:`phrase_grams` on what it is given (a raw string is tokenized, not
  normalised: ``"Dog's"`` gives ``dog, ', s``, where the phrase ``"dog s"`` gives ``dog, s``).
* :class:`PhraseGrams` (``"grams"``): ``string [B]`` -> ``int64 [B, G]`` gram ids through a
  ``keras.layers.StringLookup`` of the vocabulary: gram ``i`` of the vocabulary (0-based) has id
  ``i + 1``; 0 is both an unknown gram and the padding after a phrase's last gram (so both are
  masked).  The vocabulary is in the layer's config: a saved model needs no other file.
* :func:`phrase_tower` (``"phrase_tower"``): ``phrases string [B]`` -> ``grams`` ->
  ``gram_embedding`` (``Embedding(len(vocabulary) + 1, dim, mask_zero=True)``) -> ``mean``
  (:class:`tfpipe.layers.MeanOverTime` over the known grams) -> ``phrase_embedding`` float32
  ``[B, dim]``.  A phrase with no known gram embeds to zeros.
* :func:`dual_encoder`: inputs ``"first"`` / ``"second"`` (``string [B]``, a phrase pair that
  shares an image) through the **same** tower (Siamese) into the in-batch softmax
  (:class:`tfpipe.losses.InBatchSoftmaxLoss`, the one definition of that loss), whose value the
  model adds with ``add_loss`` and outputs.
* :func:`context_vector`: the mean of an image's top-k phrase embeddings (k = 3 in the paper).

:class:`PhraseGrams` is TensorFlow-only (strings); the rest is Keras layers and ``keras.ops``.
"""
from __future__ import annotations

import collections
import operator
from typing import Any, Iterable, Sequence

import keras
import tensorflow as tf
from keras import ops

from tfpipe import losses
from tfpipe.layers import MeanOverTime
from tfpipe.text import ngrams as ngrams_lib
from tfpipe.text import phrases as phrases_lib

GRAM_WIDTH = 2          # "unigrams and bigrams"
EMBEDDING_DIM = 200     # "a single 200-dimensional textual feature vector"
TOP_PHRASES = 3         # "the embeddings for the top three phrases were subsequently averaged"
TOWER = "phrase_tower"
PHRASES_INPUT = "phrases"
PAIR_INPUTS = ("first", "second")


def phrase_grams(phrases: Any) -> tf.RaggedTensor:
    """Ragged ``string [B, (grams)]``: each phrase's unigrams then its bigrams
    (:func:`tfpipe.text.ngrams.ngrams` with ``n_max = 2``; a repeated gram appears twice)."""
    return ngrams_lib.ngrams(tf.convert_to_tensor(phrases, dtype=tf.string), GRAM_WIDTH)


def gram_vocabulary(phrases: Sequence[str], min_count: int = 1, *, batch_size: int = 4096) -> list[str]:
    """The grams (:func:`phrase_grams`) of ``phrases`` occurring at least ``min_count`` times in all,
    most frequent first (ties in string order): the vocabulary of :class:`PhraseGrams`.

    A phrase listed twice counts twice (pass each distinct phrase once to count the phrases a
    gram occurs in).  Raises ``ValueError`` for a non-string or not normalised phrase
    (``tfpipe.text.phrases.normalize(p) != p``) and for ``min_count < 1``.
    """
    try:
        least = operator.index(min_count)
    except TypeError:
        least = 0
    if isinstance(min_count, bool) or least < 1:
        raise ValueError(f"gram_vocabulary: min_count must be a positive integer, got {min_count!r}")
    if isinstance(phrases, (str, bytes)):
        raise ValueError("gram_vocabulary: phrases must be a sequence of strings, got a single string")
    phrases = list(phrases)
    bad = [i for i, p in enumerate(phrases) if not isinstance(p, str)]
    if bad:
        raise ValueError(f"gram_vocabulary: phrase {bad[0]} is not a string: {phrases[bad[0]]!r} "
                         f"({len(bad)} non-string phrase(s))")
    raw = [i for i, p in enumerate(phrases) if phrases_lib.normalize(p) != p]
    if raw:
        first = phrases[raw[0]]
        raise ValueError(f"gram_vocabulary: {len(raw)} phrase(s) are not normalised, e.g. phrase {raw[0]} "
                         f"{first!r} (normalised: {phrases_lib.normalize(first)!r}); pass "
                         f"tfpipe.text.phrases.normalize(p)")
    counts: collections.Counter[str] = collections.Counter()
    for start in range(0, len(phrases), int(batch_size)):
        grams = phrase_grams(phrases[start:start + int(batch_size)]).flat_values.numpy()
        counts.update(g.decode("utf-8") for g in grams)
    kept = [(gram, n) for gram, n in counts.items() if n >= least]
    return [gram for gram, _ in sorted(kept, key=lambda item: (-item[1], item[0]))]


def _check_vocabulary(vocabulary: Iterable[str]) -> list[str]:
    """The vocabulary as a list, after checking that every entry is a distinct gram that
    :func:`phrase_grams` can produce (an entry it never produces would silently never match)."""
    if isinstance(vocabulary, (str, bytes)):
        raise ValueError("PhraseGrams: vocabulary must be a list of grams, got a single string")
    vocab = list(vocabulary)
    if not vocab:
        raise ValueError("PhraseGrams: the gram vocabulary is empty (no phrase had a gram of min_count)")
    bad = [g for g in vocab if not isinstance(g, str) or not g.strip()]
    if bad:
        raise ValueError(f"PhraseGrams: every gram must be a non-empty string, got {bad[:3]!r}")
    counts = collections.Counter(vocab)
    repeated = [g for g, n in counts.items() if n > 1]
    if repeated:
        raise ValueError(f"PhraseGrams: the vocabulary repeats {len(repeated)} gram(s), e.g. {repeated[:3]!r}")
    # A gram's own grams are itself (a unigram) or its two words and itself (a bigram), in that order.
    rows = phrase_grams(vocab).to_list()
    foreign = [g for g, row in zip(vocab, rows) if len(row) not in (1, 3) or row[-1].decode("utf-8") != g]
    if foreign:
        raise ValueError(
            f"PhraseGrams: {len(foreign)} vocabulary entr{'y is' if len(foreign) == 1 else 'ies are'} not a "
            f"unigram or bigram of tfpipe.text.ngrams (case-folded tokens joined by one space), e.g. "
            f"{foreign[:3]!r}; build the vocabulary with gram_vocabulary")
    return vocab


@keras.saving.register_keras_serializable(package="tfpipe")
class PhraseGrams(keras.layers.Layer):
    """``string [B]`` phrases -> ``int64 [B, G]`` ids of their grams (:func:`phrase_grams`), G the
    most grams in the batch: vocabulary gram ``i`` -> ``i + 1``, an unknown gram and the padding
    -> 0 (to be masked).  TensorFlow only (strings)."""

    def __init__(self, vocabulary: Sequence[str], **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = _check_vocabulary(vocabulary)
        self.lookup = keras.layers.StringLookup(
            vocabulary=self.vocabulary, num_oov_indices=1, mask_token=None, output_mode="int", name="lookup"
        )

    @property
    def vocabulary_size(self) -> int:
        """The number of ids: the grams plus id 0."""
        return len(self.vocabulary) + 1

    def build(self, input_shape):
        pass  # the lookup table is made from the vocabulary in __init__: nothing depends on the shape

    def call(self, phrases):
        phrases = tf.convert_to_tensor(phrases, dtype=tf.string)
        if phrases.shape.rank == 2 and phrases.shape[-1] == 1:
            phrases = tf.squeeze(phrases, axis=-1)  # a [B, 1] column of phrases
        grams = phrase_grams(phrases)
        ids = grams.with_flat_values(tf.cast(self.lookup(grams.flat_values), tf.int64))
        return ids.to_tensor(default_value=0)

    def compute_output_spec(self, phrases):
        return keras.KerasTensor((phrases.shape[0], None), dtype="int64")

    def get_config(self):
        return {**super().get_config(), "vocabulary": list(self.vocabulary)}


def phrase_tower(*, vocabulary: Sequence[str], dim: int = EMBEDDING_DIM, name: str = TOWER) -> keras.Model:
    """``phrases string [B]`` -> float32 ``[B, dim]``: the masked mean of the gram embeddings
    (module docstring); a phrase with no known gram gives zeros."""
    try:
        dim = operator.index(dim)
    except TypeError:
        dim = 0
    if dim < 1:
        raise ValueError(f"phrase_tower: dim must be a positive integer, got {dim!r}")
    phrases = keras.Input(shape=(), dtype="string", name=PHRASES_INPUT)
    grams = PhraseGrams(vocabulary, name="grams")
    ids = grams(phrases)
    frames = keras.layers.Embedding(grams.vocabulary_size, dim, mask_zero=True, name="gram_embedding")(ids)
    mean = MeanOverTime(name="mean")(frames)
    out = keras.layers.Activation("linear", dtype="float32", name="phrase_embedding")(mean)
    return keras.Model(phrases, out, name=name)


def dual_encoder(*, vocabulary: Sequence[str], dim: int = EMBEDDING_DIM, scale: float = losses.PREDICTED_CONTEXT_SCALE,
                 symmetric: bool = False) -> keras.Model:
    """The Siamese training model: ``{"first", "second"}`` phrases (``string [B]``, row i a pair)
    through the one tower ``get_layer(TOWER)`` -> :class:`tfpipe.losses.InBatchSoftmaxLoss`
    (``in_batch_softmax``: :func:`tfpipe.losses.in_batch_softmax_loss` with logits
    ``scale * cos(e_first_i, e_second_j)``, row i's positive column i, ``symmetric`` adding the
    columns' direction), which adds the loss to the model and is its (scalar) output: compile
    it with ``loss=None``."""
    tower = phrase_tower(vocabulary=vocabulary, dim=dim, name=TOWER)
    inputs = {key: keras.Input(shape=(), dtype="string", name=key) for key in PAIR_INPUTS}
    loss = losses.InBatchSoftmaxLoss(scale=scale, normalize=True, symmetric=symmetric, name="in_batch_softmax")(
        [tower(inputs[key]) for key in PAIR_INPUTS])
    return keras.Model(inputs, loss, name="dual_encoder")


def context_vector(embeddings: Any) -> Any:
    """An image's textual feature: the mean over its top-k phrases' embeddings, ``[B, k, dim]`` ->
    ``[B, dim]`` float32 (section 3.3, k = :data:`TOP_PHRASES`)."""
    x = ops.convert_to_tensor(embeddings)
    if len(x.shape) != 3:
        raise ValueError(f"context_vector: embeddings must be [B, k, dim], got shape {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError("context_vector: k is 0 (an image needs at least one predicted phrase)")
    return ops.mean(ops.cast(x, "float32"), axis=1)
