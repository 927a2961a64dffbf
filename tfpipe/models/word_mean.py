"""The mean of a text's word vectors, an encoder (Reed et al. 2016, section 4.4).

Reed et al.'s word2vec baseline represents a description "to average the
word embeddings of each word in the visual description" (it "loses the
structure of the sentence" but "performs similarly to bag of words"), with
vectors learned by word2vec and not re-trained.

``word_ids`` ``int64 [B, input_length]`` (0 = padding; any length by
default) -> ``embedding`` (word2vec rows of the file ``embeddings``, aligned
by :mod:`tfpipe.embeddings.pretrained`, or with ``embeddings=None`` a lookup
table initialised U(-0.05, 0.05)) -> ``mean``
(:class:`tfpipe.layers.MeanOverTime` over the real words; all-padding rows
give zeros): ``[B, embedding_dim]``.

Not to be confused with Zhang et al.'s bag-of-means (section 3): that model
counts the k-means clusters of a text's words, a sparse bag like BoW (the
encoder ``bag``, ``tfpipe.models.linear``).  No registered classifier uses
this encoder; it is for the joint-space models (a projection head).
"""
from __future__ import annotations

from typing import Sequence

from tfpipe.layers import MeanOverTime
from tfpipe.models import encoders
from tfpipe.models.encoders import Encoding
from tfpipe.models.word_cnn import EMBEDDING_DIM, check_vocab_size, pretrained_rows, word_embedding
from tfpipe.models.word_lstm import word_input


@encoders.register("word_mean", features=("word_ids",))
def word_mean(
    *,
    vocab_size: int,
    input_length: int | None = None,
    vocab: Sequence[str] | None = None,
    embeddings: str | None = None,
    embedding_dim: int = EMBEDDING_DIM,
    train_embeddings: bool | None = None,
) -> Encoding:
    """The mean word vector of each text, ``[B, embedding_dim]``.

    ``embeddings``: a word2vec file (needs ``vocab``); ``train_embeddings``:
    None (default) trains a lookup table and keeps word2vec vectors fixed, as
    Reed et al.'s baseline does.
    """
    name = "word_mean"
    check_vocab_size(vocab_size, name)
    word_ids = word_input(input_length, name)
    train = not embeddings if train_embeddings is None else bool(train_embeddings)
    frames, embedding = word_embedding(
        word_ids,
        vocab_size=vocab_size,
        embedding_dim=embedding_dim,
        train_embeddings=train,
        initializer="zeros" if embeddings else "uniform",
        mask_zero=True,
        who=name,
    )
    features = MeanOverTime(name="mean")(frames)
    finish = pretrained_rows(
        embedding, embeddings, vocab, vocab_size=vocab_size, embedding_dim=embedding_dim, who=name
    )
    return Encoding(word_ids, features, finish)
