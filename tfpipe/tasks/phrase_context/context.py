"""An image's predicted context: its top phrases (eq. 3) and their mean text embedding (section 3.3).

    x        = bottleneck(pooled feature)                       (section 3.2, the 64-d layer)
    phrases  = the k phrases c nearest x, argmin_c d(phi_c, x)  (eq. 3; k = 3)
    context  = mean over those phrases of the unit-normed dual-encoder embedding (200-d)

``phi_c`` are the prototypes of eq. 2 (``prototype_index/`` of the generator run, written by
``beam_jobs.prototypes``: the large output space) or the softmax rows ``w_c`` (``softmax_index/``:
the small one, Table 2's comparison).  Every part is computed once per image and held in memory:
the features are cached, the search and the tower are cheap next to training.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from tfpipe.tasks.phrase_context import layout
from tfpipe.tasks.phrase_context import model as model_lib

SOFTMAX_INDEX_DIR = "softmax_index"
PROTOTYPE_INDEX_DIR = "prototype_index"
INDEX_DIRS = {"softmax": SOFTMAX_INDEX_DIR, "prototypes": PROTOTYPE_INDEX_DIR}


def index_dir(generator_dir: str, context: str) -> str:
    path = os.path.join(generator_dir, INDEX_DIRS[context])
    if not os.path.isdir(path):
        how = ("python -m beam_jobs.prototypes --model_dir " + generator_dir if context == "prototypes"
               else "python -m tfpipe.train on the phrase_generator config (its finish writes it)")
        raise FileNotFoundError(f"{path} does not exist: {how}")
    return path


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def embed_phrases(tower, phrases: Sequence[str], batch_size: int = 4096) -> np.ndarray:
    """Unit-normed embeddings ``[len(phrases), dim]`` of phrase strings through a phrase tower."""
    import tensorflow as tf

    phrases = list(phrases)
    if not phrases:
        return np.zeros([0, int(tower.output_shape[-1])], np.float32)
    parts = [np.asarray(tower(tf.constant(phrases[i:i + batch_size]), training=False), np.float32)
             for i in range(0, len(phrases), batch_size)]
    return unit(np.concatenate(parts))


@dataclasses.dataclass
class ContextModel:
    """The trained parts an image's context needs: the bottleneck, a phrase index and the tower."""

    bottleneck: object
    index: object          # tfpipe.index.QueryIndex
    tower: object
    context: str

    @classmethod
    def load(cls, generator_dir: str, encoder_dir: str, context: str = "prototypes") -> "ContextModel":
        from tfpipe.index.query_index import QueryIndex

        return cls(model_lib.load(generator_dir, layout.BOTTLENECK_FILE),
                   QueryIndex.load(index_dir(generator_dir, context)),
                   model_lib.load(encoder_dir, layout.TOWER_FILE), context)

    @property
    def dim(self) -> int:
        return int(self.tower.output_shape[-1])

    def bottleneck_of(self, features: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        return np.asarray(self.bottleneck.predict(np.asarray(features, np.float32), batch_size=batch_size,
                                                  verbose=0), np.float32)

    def top_phrases(self, features: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
        """Each image's ``k`` phrases, nearest first (eq. 3), and their cosines ``[n, k]``."""
        found = self.index.top_phrases(self.bottleneck_of(features), k)
        return [list(r) for r in found.labels], np.asarray(found.scores, np.float32)

    def embed_phrases(self, phrases: Sequence[str], batch_size: int = 4096) -> np.ndarray:
        """Unit-normed tower embeddings ``[len(phrases), dim]`` (:func:`embed_phrases`)."""
        return embed_phrases(self.tower, phrases, batch_size)

    def vectors(self, top: Sequence[Sequence[str]]) -> np.ndarray:
        """``[n, dim]``: the mean of each image's ``k`` phrases' unit embeddings (section 3.3,
        ``phrase_encoder.context_vector``)."""
        from tfpipe.models.phrase_encoder import context_vector

        if not len(top):
            return np.zeros([0, self.dim], np.float32)
        distinct = sorted({p for row in top for p in row})
        rows = {p: i for i, p in enumerate(distinct)}
        table = self.embed_phrases(distinct)
        return np.asarray(context_vector(table[np.array([[rows[p] for p in row] for row in top])]), np.float32)

    def __call__(self, features: np.ndarray, k: int) -> tuple[np.ndarray, list[list[str]]]:
        """``(context vectors [n, dim], top phrases)`` of images' cached features."""
        top, _ = self.top_phrases(features, k)
        return self.vectors(top), top
