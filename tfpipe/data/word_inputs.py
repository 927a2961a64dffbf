"""Word-id inputs of raw texts against a vocabulary built from the training texts.

Words are ``tfpipe.embeddings.label_vectors.words`` (case-folded runs of letters or of digits,
the words of the skip-gram vectors); ids follow the project's layout (``PAD_ID`` 0 pads, the
vocabulary's first word is ``FIRST_WORD_ID``).  Used by the word encoders of the vision-language
tasks (Reed et al.'s SJE, You et al.'s CSE); their exports run the same tokenization in the graph.
"""
from __future__ import annotations

import collections
from typing import Sequence

import numpy as np

from tfpipe.embeddings.label_vectors import words as words_of
from tfpipe.embeddings.pretrained import FIRST_WORD_ID, PAD_ID


def vocabulary(texts: Sequence[str], *, known=None) -> list[str]:
    """The words of ``texts`` by decreasing count (ties alphabetical); with ``known`` (a container
    of words, e.g. a ``WordTable``) only those it holds."""
    counts = collections.Counter(w for t in texts for w in words_of(t))
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if known is None or w in known]


def word_ids(texts: Sequence[str], vocab: Sequence[str], length: int) -> np.ndarray:
    """``int64 [T, length]``: vocabulary ids (``FIRST_WORD_ID`` + position, the project's layout:
    0 pads) of each text's first ``length`` vocabulary words; other words are dropped."""
    index = {w: FIRST_WORD_ID + i for i, w in enumerate(vocab)}
    out = np.full((len(texts), int(length)), PAD_ID, np.int64)
    for r, text in enumerate(texts):
        ids = [index[w] for w in words_of(text) if w in index][:length]
        out[r, :len(ids)] = ids
    return out
