"""Word-based ConvNets of Zhang, Zhao & LeCun (2015), section 3 ("Lk." and "w2v." Conv. of Table 4).

"The model is the same as character-based ConvNets, but replace characters
with words": the input is ``int64[B, max_words]`` word ids named
``"word_ids"`` (``0`` pad, ``1`` out of vocabulary, vocabulary word ``i`` ->
``i + 2``; ``vocab_size = len(vocab) + 2``), an embedding layer turns each id
into a 300-dimensional frame (the dimension of the paper's word2vec vectors),
and the frames go through exactly the Char-CNN stack
(:func:`tfpipe.models.char_cnn.conv_trunk`: kernels 7,7,3,3,3,3, pools
3,3,-,-,-,3, 'valid' ReLU convolutions with 256 (small) / 1024 (large)
features, fully connected 1024 / 2048 with dropout 0.5, N(0, 0.05) / N(0, 0.02)
weights) and its softmax head (``fc9``).  The stack needs ``max_words >= 123`` (it leaves
``(max_words - 96) // 27`` frames; 5 for the preprocessing default of 256).

Two embeddings, as in the paper:

* ``word_cnn_lk_*`` ("Lk.", lookup table): every row (padding included: a
  learned filler symbol) is drawn from N(0, ``init_std``) and trained.
* ``word_cnn_w2v_*`` ("w2v."): rows from the word2vec file ``embeddings``
  aligned to the vocabulary by :mod:`tfpipe.embeddings.pretrained` (exact
  word, else its case-folded match; padding row zeros; the OOV row and the
  vocabulary words missing from the file are random with the file vectors'
  standard deviation, so they stay distinguishable from each other and from
  padding).  ``train_embeddings`` defaults to False: the paper contrasts
  pretrained word2vec with a trained lookup table, and a static table keeps
  the two cases apart (it is the "static" model of Kim 2014); set it to true
  to fine-tune the vectors.

The four are one classifier builder (:func:`word_cnn`) and one encoder
(:func:`word_cnn_encoder`, input to ``dropout8``) with the table
:data:`VARIANTS` (size x embedding); each name is registered as a model and
as an encoder.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import keras

from tfpipe.models import encoders, register
from tfpipe.models.char_cnn import (
    KERNEL_SIZES,
    LARGE,
    POOL_SIZES,
    SMALL,
    check_hyperparameters,
    check_trunk,
    conv_trunk,
    gaussian,
    min_l0,
    softmax_head,
)
from tfpipe.models.encoders import Encoding
from tfpipe.models.registry import REQUIRED, variant

EMBEDDING_DIM = 300  # the paper's word2vec dimension


def check_max_words(
    max_words: int, kernel_sizes: Sequence[int] = KERNEL_SIZES, pool_sizes: Sequence[int] = POOL_SIZES, *,
    who: str = "word_cnn",
) -> None:
    """Raises ``ValueError`` when ``max_words`` is too short for the convolution stack."""
    needed = min_l0(kernel_sizes, pool_sizes)
    if int(max_words) < needed:
        raise ValueError(
            f"{who}: max_words={max_words} is too short: the convolution stack (kernels "
            f"{list(kernel_sizes)}, pools {list(pool_sizes)}) needs at least {needed} words per text; "
            f"re-run preprocessing with --max_words {needed} or more "
            "(python -m beam_jobs.preprocess --max_words N; its default is 256)"
        )


def check_vocab_size(vocab_size: int, who: str) -> None:
    if int(vocab_size) < 3:
        raise ValueError(f"{who}: vocab_size must be at least 3 (pad, OOV and one word), got {vocab_size}")


def word_embedding(
    word_ids,
    *,
    vocab_size: int,
    embedding_dim: int,
    train_embeddings: bool,
    initializer,
    mask_zero: bool = False,
    who: str,
):
    """The ``"embedding"`` layer applied to ``word_ids``; returns ``(frames, layer)``.

    For word2vec rows pass ``initializer="zeros"`` and fill the table with
    :func:`assign_pretrained` once the model is built (which keeps the matrix
    out of the saved config).
    """
    if int(embedding_dim) < 1:
        raise ValueError(f"{who}: embedding_dim must be positive, got {embedding_dim}")
    layer = keras.layers.Embedding(
        int(vocab_size),
        int(embedding_dim),
        embeddings_initializer=initializer,
        mask_zero=mask_zero,
        trainable=bool(train_embeddings),
        name="embedding",
    )
    return layer(word_ids), layer


def assign_pretrained(
    layer: keras.layers.Embedding,
    path: str,
    vocab: Sequence[str] | None,
    *,
    vocab_size: int,
    embedding_dim: int,
    who: str,
) -> None:
    """Fills ``layer`` with the word2vec table of ``path`` aligned to ``vocab`` (prints the coverage)."""
    from tfpipe.embeddings import pretrained  # imports the tokenizer's id constants (TensorFlow)

    matrix = pretrained.load_embedding_matrix(
        path, vocab, vocab_size=vocab_size, embedding_dim=embedding_dim, who=who
    )
    layer.embeddings.assign(matrix)


def word_cnn_encoder(
    *,
    name: str,
    vocab_size: int,
    max_words: int,
    vocab: Sequence[str] | None = None,
    embeddings: str | None = None,
    embedding_dim: int = EMBEDDING_DIM,
    train_embeddings: bool = False,
    conv_features: int,
    fc_units: int,
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    pool_sizes: Sequence[int] = POOL_SIZES,
    dropout: float = 0.5,
    init_std: float,
) -> Encoding:
    """``word_ids`` ``int64 [B, max_words]`` -> ``embedding`` -> :func:`~tfpipe.models.char_cnn.conv_trunk`:
    ``[B, fc_units]``.

    ``embeddings``: a word2vec file (the "w2v." rows, filled in by the
    encoding's ``finish``), or None for the "Lk." lookup table drawn from
    N(0, ``init_std``); ``name`` prefixes the error messages.
    """
    check_trunk(dropout=dropout, init_std=init_std)
    check_max_words(max_words, kernel_sizes, pool_sizes, who=name)
    check_vocab_size(vocab_size, name)
    word_ids = keras.Input(shape=(int(max_words),), dtype="int64", name="word_ids")
    frames, embedding = word_embedding(
        word_ids,
        vocab_size=vocab_size,
        embedding_dim=embedding_dim,
        train_embeddings=train_embeddings,
        initializer="zeros" if embeddings else gaussian(init_std),
        who=name,
    )
    features = conv_trunk(
        frames,
        conv_features=conv_features,
        fc_units=fc_units,
        kernel_sizes=kernel_sizes,
        pool_sizes=pool_sizes,
        dropout=dropout,
        init_std=init_std,
    )
    finish = pretrained_rows(
        embedding, embeddings, vocab, vocab_size=vocab_size, embedding_dim=embedding_dim, who=name
    )
    return Encoding(word_ids, features, finish)


def pretrained_rows(
    layer: keras.layers.Embedding,
    embeddings: str | None,
    vocab: Sequence[str] | None,
    *,
    vocab_size: int,
    embedding_dim: int,
    who: str,
) -> Callable[[], None] | None:
    """An :class:`~tfpipe.models.encoders.Encoding` ``finish`` that fills ``layer`` from the
    word2vec file ``embeddings`` with :func:`assign_pretrained` (None: no file, nothing to fill)."""
    if not embeddings:
        return None

    def finish() -> None:
        assign_pretrained(layer, embeddings, vocab, vocab_size=vocab_size, embedding_dim=embedding_dim, who=who)

    return finish


def word_cnn(
    *,
    name: str,
    num_classes: int,
    vocab_size: int,
    max_words: int,
    vocab: Sequence[str] | None = None,
    embeddings: str | None = None,
    embedding_dim: int = EMBEDDING_DIM,
    train_embeddings: bool = False,
    conv_features: int,
    fc_units: int,
    kernel_sizes: Sequence[int] = KERNEL_SIZES,
    pool_sizes: Sequence[int] = POOL_SIZES,
    dropout: float = 0.5,
    init_std: float,
) -> keras.Model:
    """The word ConvNet classifier ``name``: :func:`word_cnn_encoder` + the softmax head (``fc9``)."""
    check_hyperparameters(num_classes=num_classes, dropout=dropout, init_std=init_std)
    encoding = word_cnn_encoder(
        name=name,
        vocab_size=vocab_size,
        max_words=max_words,
        vocab=vocab,
        embeddings=embeddings,
        embedding_dim=embedding_dim,
        train_embeddings=train_embeddings,
        conv_features=conv_features,
        fc_units=fc_units,
        kernel_sizes=kernel_sizes,
        pool_sizes=pool_sizes,
        dropout=dropout,
        init_std=init_std,
    )
    probs = softmax_head(encoding.embedding, num_classes=num_classes, kernel_sizes=kernel_sizes, init_std=init_std)
    return encoding.model(probs, name=name)


# Table 4's four word ConvNets: size (Table 1) x embedding.  "Lk." has no word2vec keys (its table
# is trained); "w2v." needs the vocabulary and the file, and keeps the vectors static by default.
LOOKUP = {"fixed": {"vocab": None, "embeddings": None, "train_embeddings": True}, "defaults": {}}
WORD2VEC = {"fixed": {}, "defaults": {"vocab": REQUIRED, "embeddings": REQUIRED, "train_embeddings": False}}
VARIANTS = {
    "word_cnn_lk_small": (
        SMALL, LOOKUP, 'Small word ConvNet with a trained lookup table (Table 4 "Sm. Lk. Conv.").'),
    "word_cnn_lk_large": (
        LARGE, LOOKUP, 'Large word ConvNet with a trained lookup table (Table 4 "Lg. Lk. Conv.").'),
    "word_cnn_w2v_small": (
        SMALL, WORD2VEC,
        'Small word ConvNet on word2vec vectors (Table 4 "Sm. w2v Conv."); ``embeddings``: the word2vec file.'),
    "word_cnn_w2v_large": (
        LARGE, WORD2VEC,
        'Large word ConvNet on word2vec vectors (Table 4 "Lg. w2v Conv."); ``embeddings``: the word2vec file.'),
}


def _variant(fn: Callable[..., Any], name: str, label: str, doc_suffix: str = "") -> Callable[..., Any]:
    sizes, embedding, doc = VARIANTS[name]
    return variant(
        fn, label, defaults={**sizes, **embedding["defaults"]}, fixed={"name": name, **embedding["fixed"]},
        doc=doc + doc_suffix,
    )


def _register(name: str) -> Callable[..., keras.Model]:
    encoders.register(name, features=("word_ids",))(
        _variant(word_cnn_encoder, name, f"{name}_encoder", " The encoder: up to dropout8.")
    )
    return register(name, feature="word_ids")(_variant(word_cnn, name, name))


word_cnn_lk_small = _register("word_cnn_lk_small")
word_cnn_lk_large = _register("word_cnn_lk_large")
word_cnn_w2v_small = _register("word_cnn_w2v_small")
word_cnn_w2v_large = _register("word_cnn_w2v_large")
