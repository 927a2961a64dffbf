"""The names of the model inputs a data directory feeds, and of the shard checks (no TensorFlow:
``tfpipe.config`` reads them to validate a config without importing it).

``STORED`` inputs are read from the shards as they are (``chars``: quantized
characters, ``word_ids``); ``BAGS`` are bags of features computed from the text
by ``tfpipe.data.features``.  ``CLASS_VECTORS`` are not computed from text at all: a per-class
float vector given with the descriptions (``attributes``: a class's attribute vector, the
"text" of Reed et al. (2016)'s attribute baseline), fed as ``float32 [B, num_attributes]``;
encoders may take them (``tfpipe.models.encoders.register``), but they are not text features,
so ``FEATURES`` (what the text featurizers and the classifiers iterate) leaves them out.
"""
from __future__ import annotations

STORED = ("chars", "word_ids")
BAGS = ("bow", "bow_tfidf", "ngrams", "ngrams_tfidf", "bag_of_means")
FEATURES = STORED + BAGS
CLASS_VECTORS = ("attributes",)

# How shards are checked against the manifest before reading (tfpipe.data.pipeline).
VERIFY_MODES = ("size", "sha256", "none")
