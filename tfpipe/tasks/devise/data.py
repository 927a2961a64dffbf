"""The devise task's features in memory: which output, the splits (and holdout), candidates, epochs."""
from __future__ import annotations

from typing import Any

import numpy as np

from tfpipe import config as config_lib
from tfpipe.data.feature_records import read_split  # noqa: F401  (re-exported: the task's reader)
from tfpipe.training.datasets import epoch_batches  # noqa: F401  (re-exported: the task's batches)
from tfpipe.tasks.devise.keys import OUTPUT, model_key

def training_classes(manifest) -> list[int]:
    """Class indices with images in ``train``, in class order."""
    counts = manifest.splits["train"].class_counts
    return [i for i, n in enumerate(counts) if n > 0]


def feature_output(cfg: config_lib.Config) -> str:
    """The stored output a run reads: ``pooled``, or the ``model.visual_top`` map (stage 2)."""
    return model_key(cfg, "visual_top") or OUTPUT


def visual_top_spec(cfg: config_lib.Config, data) -> dict[str, Any] | None:
    """``build_model``'s ``visual_top`` for a run, from the features manifest (None: stage 1)."""
    tap = model_key(cfg, "visual_top")
    if not tap:
        return None
    info = data.manifest.features
    entries = {e["name"]: e for e in info["outputs"]}
    if tap not in entries:
        raise config_lib.ConfigError(
            f"model.visual_top={tap!r} but {data.path} stores {', '.join(entries)}: extract the maps with "
            f"python -m beam_jobs.extract_features --outputs {tap} --output_dir <a new features dir>")
    return {"model": info["model"], "tap": tap, "shape": list(entries[tap]["shape"]),
            "image_size": int(info["image_size"])}


def read_run_split(cfg: config_lib.Config, data, split: str, *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``read_split`` of a run's split name: ``holdout`` and ``train`` are the two sides of
    ``data.validation_fraction`` when it is set (``datasets.stored_split``)."""
    from tfpipe.training import datasets

    stored, holdout = datasets.stored_split(cfg, split)
    return read_split(data, stored, batch_size=batch_size, verify=cfg.data.verify, holdout=holdout,
                      output=feature_output(cfg))


def read_splits(data, splits, *, batch_size: int, verify: str, output: str = OUTPUT) -> tuple[np.ndarray, np.ndarray]:
    """``read_split`` of several stored splits, concatenated."""
    parts = [read_split(data, s, batch_size=batch_size, verify=verify, output=output) for s in splits]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def to_candidates(labels: np.ndarray, candidates: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(keep mask, candidate position)`` of class indices ``labels``."""
    position = {c: k for k, c in enumerate(candidates)}
    mapped = np.array([position.get(int(c), -1) for c in labels], np.int64)
    return mapped >= 0, mapped


def left_out(labels: np.ndarray, keep: np.ndarray, manifest) -> dict[str, int]:
    names = manifest.class_names
    out: dict[str, int] = {}
    for c in labels[~keep].tolist():
        out[names[c]] = out.get(names[c], 0) + 1
    return out
