"""The phrase_context task's helpers over its data: the validation holdout of images or pairs."""
from __future__ import annotations

import numpy as np


def holdout_rows(ids: list[str], fraction: float) -> np.ndarray:
    """Bool ``[n]``: the ids in the ``fraction`` holdout (the stable id hash every task's
    ``data.validation_fraction`` uses, ``pipeline.in_holdout``)."""
    import tensorflow as tf

    from tfpipe.data import pipeline

    if not ids or not fraction:
        return np.zeros(len(ids), bool)
    return pipeline.in_holdout(tf.constant(ids), float(fraction)).numpy().astype(bool)
