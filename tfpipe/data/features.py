"""Model inputs computed from raw text, one class per feature kind.

A :class:`Featurizer` maps a batch of strings to what a model takes, with the
same TF ops the preprocessing job used; training uses it where inputs are not
stored in the shards (the bag-of-features models, on-the-fly augmentation) and
the exported SavedModel uses it to serve raw strings.

========================  ===============================================================
feature                   model input
========================  ===============================================================
``chars``                 ``uint8 [B, l0]`` character indices (``text.quantize``)
``word_ids``              ``int64 [B, max_words]`` word ids, 0-padded (``text.tokenize``)
``bow``, ``bow_tfidf``    bag of the vocabulary's words (``vocab.tsv``: the Beam job's
                          most frequent train words, 50,000 by default)
``ngrams``,               bag of the most frequent 1..n-grams (``ngrams.tsv``: 500,000
``ngrams_tfidf``          1- to 5-grams by default, ``text.ngrams``)
``bag_of_means``          bag of k-means clusters of word vectors (the words seen more than
                          ``min_count`` times in training; Zhang et al.: > 5, 5000 means)
========================  ===============================================================

Bag features are ``{"feature_ids", "feature_values"}`` (see ``tfpipe.text.bag``);
the ``*_tfidf`` kinds weigh counts by ``log(N / df)`` with the document
frequencies the Beam job counted, ``N`` = training documents.
"""
from __future__ import annotations

import hashlib
import logging
import os
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tfpipe.data import manifest as manifest_lib
from tfpipe.data.inputs import BAGS, FEATURES, STORED  # noqa: F401  (the one definition)
from tfpipe.data.datadir import DataDir
from tfpipe.data.manifest import Manifest
from tfpipe.text import alphabet as alphabet_lib
from tfpipe.text import bag as bag_lib
from tfpipe.text import quantize as quantize_lib
from tfpipe.text import tokenize as tokenize_lib

log = logging.getLogger(__name__)

CLUSTERS_FILE = "clusters.tsv"


class Featurizer(tf.Module):
    """Text -> model input for one feature kind (call it on ``string [B]``)."""

    feature: str = ""
    num_features: int | None = None  # size of a bag's feature table

    def __call__(self, text: tf.Tensor) -> Any:
        return self.densify(self.sparse(text))

    def sparse(self, text: tf.Tensor) -> Any:
        """The input in a form tf.data can cache and batch (may be ragged)."""
        raise NotImplementedError

    def densify(self, x: Any) -> Any:
        """A batch of :meth:`sparse` outputs -> the model's input tensors."""
        return x


class Chars(Featurizer):
    feature = "chars"

    def __init__(self, manifest: Manifest):
        super().__init__(name="chars_featurizer")
        self.alphabet = alphabet_lib.get(manifest.alphabet)
        if self.alphabet.chars != manifest.alphabet_chars:
            raise ValueError(
                f"the manifest's alphabet {manifest.alphabet!r} differs from this tfpipe's; "
                "re-run preprocessing"
            )
        self.l0 = manifest.l0

    def sparse(self, text):
        return quantize_lib.quantize(text, self.alphabet, self.l0)


class Words(Featurizer):
    feature = "word_ids"

    def __init__(self, vocab: list[str], max_words: int):
        super().__init__(name="words_featurizer")
        self.table = tokenize_lib.vocab_table(vocab or [""])
        self.max_words = max_words

    def sparse(self, text):
        ids = tokenize_lib.word_ids(text, self.table, self.max_words)
        return ids.to_tensor(default_value=tokenize_lib.PAD_ID, shape=[None, self.max_words])


class Bag(Featurizer):
    """Keys of each text (tokens or n-grams) -> feature ids via a table -> bag vector."""

    def __init__(
        self,
        feature: str,
        keys: list[str],
        ids: np.ndarray,
        num_features: int,
        *,
        ngram_max: int = 0,
        weights: np.ndarray | None = None,
        normalize: str = "max",
        sublinear_tf: bool = False,
    ):
        super().__init__(name=f"{feature}_featurizer")
        self.feature = feature
        self.num_features = int(num_features)
        self.ngram_max = int(ngram_max)
        if len(keys) == 0:
            raise ValueError(f"{feature}: the feature table is empty")
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys, tf.string), tf.constant(np.asarray(ids, np.int64))
            ),
            default_value=-1,
        )
        self.weights = None if weights is None else tf.constant(weights, tf.float32)
        if normalize not in bag_lib.NORMALIZATIONS:
            raise ValueError(f"normalize={normalize!r}; valid choices: {', '.join(bag_lib.NORMALIZATIONS)}")
        self.normalize = normalize
        self.sublinear_tf = bool(sublinear_tf)

    def keys(self, text):
        if self.ngram_max:
            from tfpipe.text import ngrams as ngrams_lib

            return ngrams_lib.ngrams(text, self.ngram_max)
        return tokenize_lib.tokenize(text)

    def sparse(self, text):
        ids = tf.ragged.map_flat_values(self.table.lookup, self.keys(text))
        distinct, values = bag_lib.sparse(ids, self.num_features, self.weights,
                                          normalize=self.normalize, sublinear_tf=self.sublinear_tf)
        return {"feature_ids": distinct, "feature_values": values}

    def densify(self, x):
        return bag_lib.pad(x["feature_ids"], x["feature_values"])


# --------------------------------------------------------------------------- factories


def make(
    feature: str,
    data: DataDir | str,
    *,
    model_config: dict[str, Any] | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
) -> Featurizer:
    """The featurizer of ``feature`` for a data directory.

    ``data``: a :class:`~tfpipe.data.datadir.DataDir` or a data directory path.
    ``model_config`` (the config's model section) and ``seed`` matter for
    ``bag_of_means`` (embeddings file, number of means, min count); its
    clustering is cached in ``cache_dir/clusters.tsv`` (the run directory) so
    that evaluation and export reuse it.
    """
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; valid features: {', '.join(FEATURES)}")
    data = DataDir.of(data)
    if feature == "chars":
        return Chars(data.manifest)
    if feature == "word_ids":
        return Words(data.vocab(), data.manifest.max_words)
    if feature in ("bow", "bow_tfidf", "ngrams", "ngrams_tfidf"):
        return _bag_of_keys(feature, data, model_config or {})
    return _bag_of_means(data, model_config or {}, seed, cache_dir)


def _bag_of_keys(feature: str, data: DataDir, model_config: dict[str, Any]) -> Bag:
    """Words (``vocab.tsv``) or n-grams (``ngrams.tsv``); the model config may narrow the
    n-grams (``ngram_max``) and pick the non-paper weighting options of ``tfpipe.text.bag``."""
    manifest = data.manifest
    kind = "ngrams" if feature.startswith("ngrams") else "words"
    keys, _, df = data.feature_stats(kind)
    ngram_max = 0
    if kind == "ngrams":
        from tfpipe.text import ngrams as ngrams_lib

        ngram_max = model_config.get("ngram_max") or manifest.ngram_max
        if not 1 <= ngram_max <= manifest.ngram_max:
            raise ValueError(
                f"model.ngram_max={ngram_max}: the data directory counted 1..{manifest.ngram_max}-grams "
                "(preprocess --ngram_max sets the widest)"
            )
        if ngram_max < manifest.ngram_max:
            keep = np.array([ngrams_lib.width(k) <= ngram_max for k in keys], dtype=bool)
            keys, df = [k for k, kept in zip(keys, keep) if kept], df[keep]
    weights = None
    if feature.endswith("_tfidf"):
        idf = bag_lib.idf(df, data.count("train"), model_config.get("idf", "paper"))
        weights = np.concatenate([[0.0], idf])
    return Bag(feature, list(keys), np.arange(1, len(keys) + 1, dtype=np.int64), len(keys),
               ngram_max=ngram_max, weights=weights, normalize=model_config.get("normalize", "max"),
               sublinear_tf=model_config.get("sublinear_tf", False))


def _bag_of_means(data: DataDir, model_config: dict[str, Any], seed: int,
                  cache_dir: str | None) -> Bag:
    embeddings = model_config.get("embeddings")
    if not embeddings:
        raise ValueError("bag_of_means needs model.embeddings: a word2vec text or binary file "
                         "(e.g. a skip-gram run's vectors.bin)")
    means = int(model_config.get("means", 5000))
    min_count = int(model_config.get("min_count", 5))
    fingerprint = _fingerprint(embeddings, means, min_count, seed, data)
    cached = os.path.join(cache_dir, CLUSTERS_FILE) if cache_dir else None
    words, clusters = (_read_clusters(cached, fingerprint) if cached else None) or (None, None)
    if words is None:
        words, clusters = cluster_words(data, embeddings, means=means, min_count=min_count,
                                        seed=seed)
        if cached:
            _write_clusters(cached, fingerprint, words, clusters)
    num = int(clusters.max()) + 1
    return Bag("bag_of_means", words, clusters + 1, num)


def cluster_words(
    data: DataDir, embeddings: str, *, means: int, min_count: int, seed: int
) -> tuple[list[str], np.ndarray]:
    """k-means over the vectors of the vocabulary words seen more than ``min_count`` times.

    Returns the clustered words and their cluster (``0..k-1``).  With fewer
    such words than ``means``, ``k`` is the number of words (logged).
    """
    from tfpipe.embeddings import kmeans, pretrained

    vocab, counts, _ = data.feature_stats("words")
    file_words, vectors = pretrained.load_vectors(embeddings)
    frequent = [w for w, c in zip(vocab, counts) if c > min_count]
    found = [(w, row) for w, row in zip(frequent, pretrained.vector_rows(frequent, file_words))
             if row is not None]
    if not found:
        raise ValueError(
            f"no vocabulary word seen more than {min_count} times has a vector in {embeddings}"
        )
    words = [w for w, _ in found]
    k = min(means, len(words))
    if k < means:
        log.warning("bag_of_means: %d words qualify, fewer than %d means: using k=%d", len(words), means, k)
    _, assignment = kmeans.kmeans(vectors[[row for _, row in found]], k, seed=seed)
    return words, np.asarray(assignment, np.int64)


def _fingerprint(embeddings: str, means: int, min_count: int, seed: int, data: DataDir) -> str:
    digest = hashlib.sha256()
    digest.update(manifest_lib.file_sha256(embeddings).encode())
    digest.update(manifest_lib.file_sha256(data.file(data.manifest.vocab_file)).encode())
    digest.update(f"{means}:{min_count}:{seed}".encode())
    return digest.hexdigest()


def _read_clusters(path: str, fingerprint: str) -> tuple[list[str], np.ndarray] | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n")
        if header != f"# {fingerprint}":
            return None
        pairs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return [w for w, _ in pairs], np.array([int(c) for _, c in pairs], np.int64)


def _write_clusters(path: str, fingerprint: str, words: list[str], clusters: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"# {fingerprint}\n")
        f.write("".join(f"{w}\t{c}\n" for w, c in zip(words, clusters)))
    os.replace(tmp, path)


def map_batches(featurizer: Featurizer) -> Callable:
    """``(text, y) -> (featurizer(text), y)`` for ``tf.data.Dataset.map``."""

    def apply(text, y):
        return featurizer(text), y

    return apply
