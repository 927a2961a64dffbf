"""The multimodal classifier's inputs: a downstream split's cached visual features and, computed
from them once, each image's predicted context (``context.ContextModel``)."""
from __future__ import annotations

import dataclasses

import numpy as np

from tfpipe import config as config_lib
from tfpipe.tasks.phrase_context.keys import TEXT_DIM, model_key


@dataclasses.dataclass
class Downstream:
    """A downstream split in memory: record ids, class indices and pooled features ``[n, d]``."""

    ids: list[str]
    labels: np.ndarray
    features: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, rows) -> "Downstream":
        rows = np.asarray(rows, np.int64)
        return Downstream([self.ids[i] for i in rows], self.labels[rows], self.features[rows])

    def inputs(self, names, ctx, cfg: config_lib.Config) -> dict[str, np.ndarray]:
        """The classifier's named inputs: ``visual`` (the features) and ``context`` (the mean
        embedding of the top ``model.top_phrases`` phrases)."""
        out: dict[str, np.ndarray] = {}
        if "visual" in names:
            out["visual"] = self.features
        if "context" in names:
            out["context"] = ctx(self.features, int(model_key(cfg, "top_phrases")))[0]
        return out


def read(cfg: config_lib.Config, data, split: str) -> Downstream:
    """``split`` of a features directory (``holdout`` / ``train`` are the two sides of
    ``data.validation_fraction`` when it is set)."""
    from tfpipe.data.feature_records import read_split
    from tfpipe.training import datasets

    stored, holdout = datasets.stored_split(cfg, split)
    x, y, ids = read_split(data, stored, batch_size=1024, verify=cfg.data.verify, holdout=holdout, with_ids=True)
    return Downstream(list(ids), y, x)


def context_model(cfg: config_lib.Config):
    from tfpipe.tasks.phrase_context.context import ContextModel

    return ContextModel.load(model_key(cfg, "generator"), model_key(cfg, "encoder"), model_key(cfg, "context"))


def context_dim(ctx) -> int:
    return ctx.dim if ctx is not None else TEXT_DIM
