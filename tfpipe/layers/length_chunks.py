"""``LengthChunked``: a text tower run on length-sorted chunks of a batch, each cut to its own longest text.

A batch of word-id rows padded to its longest text spends most of a convolutional text tower's
work on padding when lengths vary (Flickr8k captions: 11 words on average, the longest of 128
often 25-30).  For a tower whose rows are independent and whose outputs at real positions do not
depend on trailing padding (causal convolutions, pooling and attention that skip padding: the
CSE text CNN of You et al. 2018, section 3.3), running it on the batch sorted by length, in
``chunks`` consecutive slices each trimmed to its own longest row, gives exactly the outputs of
the whole padded batch at a fraction of the cost.  The outputs are put back in the batch's order;
per-position outputs (``[b, T_c, ...]``) are padded with zeros back to the batch's longest row.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfpipe")
class LengthChunked(keras.layers.Layer):
    """``word_ids [B, T]`` (0 pads, trailing; any integer ids, e.g. characters) -> ``tower``'s
    outputs for every row, in row order.

    ``tower``: a Keras model on ``[b, T']`` word ids (any ``T'``) returning a tensor or a dict of
    tensors whose first axis is the row and, for per-position outputs, whose second axis is the
    position; ``chunks``: the number of length-sorted slices (1: the tower on the trimmed batch).
    """

    def __init__(self, tower: keras.Model, chunks: int = 4, **kwargs):
        super().__init__(**kwargs)
        if int(chunks) < 1:
            raise ValueError(f"chunks must be at least 1, got {chunks}")
        self.tower = tower
        self.chunks = int(chunks)

    def _position_outputs(self):
        out = self.tower.output
        items = out.items() if isinstance(out, dict) else [(None, out)]
        return {k: len(t.shape) >= 2 and t.shape[1] is None for k, t in items}

    def call(self, word_ids):
        # A row's length runs to its last non-zero id (zeros inside a text, e.g. an unknown
        # character, are part of it; only the trailing zeros are padding).
        seen = ops.cumsum(ops.cast(ops.flip(ops.not_equal(word_ids, 0), axis=1), "int32"), axis=1)
        lengths = ops.sum(ops.cast(seen > 0, "int32"), axis=1)
        order = ops.argsort(lengths)  # shortest first
        inverse = ops.argsort(order)
        rows = ops.shape(word_ids)[0]
        size = (rows + self.chunks - 1) // self.chunks
        width = ops.maximum(ops.max(ops.concatenate([lengths, ops.ones((1,), "int32")])), 1)
        per_position = self._position_outputs()
        parts: dict = {k: [] for k in per_position}
        for c in range(self.chunks):
            idx = order[c * size:(c + 1) * size]
            chunk_len = ops.maximum(ops.max(ops.concatenate([ops.take(lengths, idx), ops.ones((1,), "int32")])), 1)
            ids = ops.take(word_ids, idx, axis=0)[:, :chunk_len]
            # A batch of fewer rows than chunks leaves chunks empty; some towers (Keras' LSTM)
            # fail on zero rows, so an empty chunk runs on one padding row, dropped after.
            count = ops.shape(idx)[0]
            ids = ops.pad(ids, [[0, ops.maximum(1 - count, 0)], [0, 0]])
            out = self.tower(ids)
            out = out if isinstance(out, dict) else {None: out}
            for k, t in out.items():
                t = t[:count]
                if per_position[k]:  # pad the positions back to the batch's longest row
                    pad = [[0, 0], [0, width - ops.shape(t)[1]]] + [[0, 0]] * (len(t.shape) - 2)
                    t = ops.pad(t, pad)
                parts[k].append(t)
        merged = {k: ops.take(ops.concatenate(v, axis=0), inverse, axis=0) for k, v in parts.items()}
        return merged[None] if list(merged) == [None] else merged

    def get_config(self):
        return {**super().get_config(), "tower": keras.saving.serialize_keras_object(self.tower),
                "chunks": self.chunks}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tower"] = keras.saving.deserialize_keras_object(config["tower"])
        return cls(**config)
