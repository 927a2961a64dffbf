"""The files a phrase-context run directory holds beside the common ones (tfpipe.training.runs)."""
from __future__ import annotations

GENERATOR_FILE = "phrase_generator.keras"   # features -> eq. 1 logits over the softmax vocabulary
BOTTLENECK_FILE = "bottleneck.keras"        # features -> x (what the prototypes and phrase search use)
TOWER_FILE = "phrase_tower.keras"           # phrase strings -> 200-d text embedding
CLASSIFIER_FILE = "classifier.keras"        # {visual, context} -> class probabilities
