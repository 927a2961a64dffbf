"""Linear comparison models of Zhang, Zhao & LeCun (2015), section 3 (Table 4, top rows).

Bag-of-words, bag-of-n-grams (each plain or TFIDF) and bag-of-means are all
"multinomial logistic regression" on a sparse feature vector; only the
featurizer differs.  The model takes the vector as two named inputs,
``feature_ids`` ``int32[B, K]`` and ``feature_values`` ``float32[B, K]``
(feature ``j`` of the featurizer's table has id ``j + 1``; id ``0`` pads a
row, with value 0, and contributes nothing; ``K`` may change from batch to
batch), and computes ``softmax(sum_k values[b,k] * W[ids[b,k]] + bias)``
with :class:`tfpipe.layers.SparseLinear` (``W``: ``[num_features + 1,
num_classes]``, row 0 unused).  The softmax output is float32.

Keys: ``num_classes`` and ``num_features`` (the featurizer's table size)
come from the data; ``l2`` adds ``l2 * sum(W ** 2)`` to the loss (0: none;
the paper does not say); ``init`` is ``W``'s Keras initializer (``"zeros"``:
the objective is convex, so a zero start is the usual and deterministic one).

The same builder is registered for ``bow``, ``bow_tfidf`` (50,000 most
frequent words), ``ngrams`` and ``ngrams_tfidf`` (500,000 most frequent
1- to 5-grams); the featurizer named by the registry's ``feature`` makes the
inputs.  ``bag_of_means`` also takes the keys its featurizer reads from the
model config (k-means over word2vec vectors, the paper's 5000 means):
``embeddings`` (the word2vec file, required), ``means`` (5000) and
``min_count`` (5: words seen fewer times in training are not clustered);
the model itself does not use them.

Every one is the encoder ``bag`` (``tfpipe.models.encoders``: the sparse
vector, kept as ``(ids, values)``) followed by the softmax head, whose linear
layer on a bag is the ``SparseLinear`` ``logits``.
"""
from __future__ import annotations

import keras

from tfpipe.data.features import BAGS
from tfpipe.models import encoders, heads, register
from tfpipe.models.encoders import Bag, Encoding

PAPER_MEANS = 5000
PAPER_MIN_COUNT = 5


@encoders.register("bag", features=BAGS)
def bag(*, num_features: int) -> Encoding:
    """The sparse bag-of-features vector itself: inputs ``feature_ids``/``feature_values``,
    embedding a :class:`~tfpipe.models.encoders.Bag` of ``num_features`` features (Zhang et al.
    section 3; the BoW text encoder of Reed et al. 2016, section 4.4, with a projection head)."""
    if int(num_features) < 1:
        raise ValueError(f"bag: num_features must be positive, got {num_features}")
    ids = keras.Input(shape=(None,), dtype="int32", name="feature_ids")
    values = keras.Input(shape=(None,), dtype="float32", name="feature_values")
    return Encoding({"feature_ids": ids, "feature_values": values}, Bag(ids, values, int(num_features)))


def _linear(*, name: str, num_classes: int, num_features: int, l2: float, init: str) -> keras.Model:
    """:func:`bag` + the softmax head (``logits``: a ``SparseLinear`` with ``init`` weights, L2 ``l2``)."""
    if num_classes < 2:
        raise ValueError(f"{name}: num_classes must be at least 2, got {num_classes}")
    if int(num_features) < 1:
        raise ValueError(f"{name}: num_features must be positive, got {num_features}")
    if not l2 >= 0:
        raise ValueError(f"{name}: l2 must be >= 0, got {l2}")
    try:
        initializer = keras.initializers.get(init)
    except ValueError:
        raise ValueError(
            f"{name}: init={init!r} is not a Keras initializer; e.g. 'zeros', 'glorot_uniform', "
            "'random_normal'"
        ) from None
    encoding = bag(num_features=num_features)
    probs = heads.softmax(
        encoding.embedding,
        num_classes=num_classes,
        kernel_initializer=initializer,
        kernel_regularizer=keras.regularizers.L2(l2) if l2 > 0 else None,
        name="logits",
    )
    return encoding.model(probs, name=name)


@register("bow", feature="bow")
@register("bow_tfidf", feature="bow_tfidf")
@register("ngrams", feature="ngrams")
@register("ngrams_tfidf", feature="ngrams_tfidf")
def logistic_regression(
    *,
    num_classes: int,
    num_features: int,
    l2: float = 0.0,
    init: str = "zeros",
    ngram_max: int | None = None,
    idf: str = "paper",
    normalize: str = "max",
    sublinear_tf: bool = False,
) -> keras.Model:
    """Multinomial logistic regression on a sparse bag of features (BoW, n-grams, their TFIDF).

    ``ngram_max``, ``idf``, ``normalize`` and ``sublinear_tf`` configure the featurizer
    (``tfpipe.data.features``, which reads them from the model config and checks them):
    the widest n-gram used (default: all the data directory counted, the paper's 5), and the
    options of ``tfpipe.text.bag`` beyond the paper's weighting (defaults: the paper's).
    """
    return _linear(name="logistic_regression", num_classes=num_classes, num_features=num_features,
                   l2=l2, init=init)


@register("bag_of_means", feature="bag_of_means")
def bag_of_means(
    *,
    num_classes: int,
    num_features: int,
    embeddings: str,
    means: int = PAPER_MEANS,
    min_count: int = PAPER_MIN_COUNT,
    l2: float = 0.0,
    init: str = "zeros",
) -> keras.Model:
    """Logistic regression on bag-of-means features; ``embeddings``, ``means``, ``min_count``
    configure the featurizer (it reads them from the model config) and are checked here only."""
    if not isinstance(embeddings, str) or not embeddings:
        raise ValueError(f"bag_of_means: embeddings must be the word2vec file's path, got {embeddings!r}")
    if int(means) < 1 or int(min_count) < 1:
        raise ValueError(f"bag_of_means: means and min_count must be positive, got {means} and {min_count}")
    return _linear(name="bag_of_means", num_classes=num_classes, num_features=num_features, l2=l2, init=init)
