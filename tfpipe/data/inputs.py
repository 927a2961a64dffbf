"""The names of the model inputs a data directory feeds, and of the shard checks (no TensorFlow:
``tfpipe.config`` reads them to validate a config without importing it).

``STORED`` inputs are read from the shards as they are (``chars``: quantized
characters, ``word_ids``); ``BAGS`` are bags of features computed from the text
by ``tfpipe.data.features``.
"""
from __future__ import annotations

STORED = ("chars", "word_ids")
BAGS = ("bow", "bow_tfidf", "ngrams", "ngrams_tfidf", "bag_of_means")
FEATURES = STORED + BAGS

# How shards are checked against the manifest before reading (tfpipe.data.pipeline).
VERIFY_MODES = ("size", "sha256", "none")
