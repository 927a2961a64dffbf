"""What a run directory (``--model_dir``) holds, and resuming a run.

Layout::

    config.yaml            the resolved config the run trained with
    model.keras            the final model (after the last epoch; with train.restore_best the
                           weights of the best validation epoch)
    checkpoints/best.weights.h5   weights of the epoch with the best validation accuracy
    backup/                the training state after the last completed epoch (model and
                           optimizer variables in epoch-<N>.weights.h5, the epoch count in
                           training_metadata.json, see callbacks.EpochBackup); present only
                           while a run is unfinished
    progress.jsonl         one line per completed epoch (see callbacks.ProgressLog)
    train_results.json     written when training ends
    logs/                  TensorBoard
    results.json           written by tfpipe.evaluate
    export/                written by tfpipe.export (SavedModel taking raw strings)

Resume: a run restarted with the same command finds ``backup/`` and continues
after the last completed epoch; ``progress.jsonl`` carries the earlier epochs'
metrics and times so the final record covers the whole run.  A finished run
(``train_results.json``, no backup) is replaced only on request (``--fresh``).
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Any

import yaml

from tfpipe import config as config_lib

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.keras"
BACKUP_DIR = "backup"
CHECKPOINT_DIR = "checkpoints"
BEST_WEIGHTS = os.path.join(CHECKPOINT_DIR, "best.weights.h5")
PROGRESS_FILE = "progress.jsonl"
TRAIN_RESULTS = "train_results.json"
RESULTS = "results.json"
LOG_DIR = "logs"
EXPORT_DIR = "export"

# Keys that may change between a run and its resumption.
RESUMABLE_CHANGES = ("train.epochs",)


BACKUP_METADATA = "training_metadata.json"
# The weights file of a backup written by Keras' BackupAndRestore (runs before EpochBackup).
LEGACY_BACKUP_WEIGHTS = "latest.weights.h5"


def _metadata_path(model_dir: str) -> str:
    return os.path.join(model_dir, BACKUP_DIR, BACKUP_METADATA)


def is_finished(model_dir: str) -> bool:
    """Whether ``model_dir`` holds a run that completed (train_results.json and no backup)."""
    return os.path.exists(os.path.join(model_dir, TRAIN_RESULTS)) and backup_epoch(model_dir) is None


def backup_weights(model_dir: str) -> str | None:
    """The weights file the backup's metadata names; None without a (readable) backup."""
    try:
        with open(_metadata_path(model_dir), encoding="utf-8") as f:
            name = json.load(f).get("weights", LEGACY_BACKUP_WEIGHTS)
    except (OSError, ValueError, AttributeError):
        return None
    return os.path.join(model_dir, BACKUP_DIR, name)


def commit_backup(backup_dir: str, epoch: int, weights_name: str) -> None:
    """Makes ``weights_name`` (written and synced in ``backup_dir``) the backup of ``epoch``
    completed epochs in one atomic step (the metadata file is replaced by a rename), then
    deletes the weights of earlier backups.  A kill at any point leaves either the previous
    backup or this one, each whole: never the weights of one epoch with the count of another."""
    path = os.path.join(backup_dir, BACKUP_METADATA)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"epoch": int(epoch), "weights": weights_name}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(backup_dir)
    for name in os.listdir(backup_dir):
        if name not in (weights_name, BACKUP_METADATA):
            os.remove(os.path.join(backup_dir, name))


def fsync_file(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not every platform opens directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def backup_epoch(model_dir: str) -> int | None:
    """Epochs completed according to the backup; None when there is none (or it is being written)."""
    try:
        with open(_metadata_path(model_dir), encoding="utf-8") as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError):
        return None


def repair_backup(model_dir: str) -> None:
    """After a kill in the middle of writing a Keras BackupAndRestore backup (the layout of
    runs started before ``callbacks.EpochBackup``), falls back to the previous one.

    Keras' BackupAndRestore (with ``double_checkpoint``) keeps the previous
    weights and metadata as ``*.bkp`` but only falls back to them when the
    weights fail to load; a half-written metadata file would stop the restart.
    (EpochBackup replaces its metadata atomically: there is nothing to repair.)
    """
    path = _metadata_path(model_dir)
    if not os.path.exists(path) or backup_epoch(model_dir) is not None:
        return
    weights = os.path.join(model_dir, BACKUP_DIR, LEGACY_BACKUP_WEIGHTS)
    if os.path.exists(path + ".bkp") and os.path.exists(weights + ".bkp"):
        shutil.copy(weights + ".bkp", weights)
        shutil.copy(path + ".bkp", path)
    else:  # not even one epoch was backed up completely
        shutil.rmtree(os.path.join(model_dir, BACKUP_DIR))


def read_progress(model_dir: str, before: int | None = None) -> list[dict[str, Any]]:
    """Per-epoch records, one per epoch (a re-run epoch's last record wins), sorted by epoch."""
    path = os.path.join(model_dir, PROGRESS_FILE)
    records: dict[int, dict[str, Any]] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                records[record["epoch"]] = record
    return [records[e] for e in sorted(records) if before is None or e < before]


def rewrite_progress(model_dir: str, records: list[dict[str, Any]]) -> None:
    """Replaces progress.jsonl with ``records`` (drops epochs a resumed run will redo)."""
    path = os.path.join(model_dir, PROGRESS_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    os.replace(tmp, path)


def config_differences(saved: dict[str, Any], cfg: config_lib.Config) -> list[str]:
    """Flat keys whose values differ between a saved config dict and ``cfg`` (resumable ones excepted)."""
    old = config_lib.from_dict(saved).flat()
    new = cfg.flat()
    keys = sorted(set(old) | set(new))
    return [
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
        for k in keys
        if old.get(k) != new.get(k) and k not in RESUMABLE_CHANGES
    ]


def load_config(model_dir: str) -> config_lib.Config:
    """The resolved config a run was trained with."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} not found: is {model_dir!r} a run directory written by `python -m tfpipe.train`?"
        )
    return config_lib.load(path)


def save_config(model_dir: str, cfg: config_lib.Config) -> str:
    path = os.path.join(model_dir, CONFIG_FILE)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Resolved config of this run (written by python -m tfpipe.train).\n")
        f.write(cfg.to_yaml())
    return path


def read_saved_config(model_dir: str) -> dict[str, Any] | None:
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def clear(model_dir: str) -> None:
    """Removes a previous run's training outputs (a fresh start must not mix with them)."""
    for name in (BACKUP_DIR, CHECKPOINT_DIR, LOG_DIR):
        shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)
    for name in (PROGRESS_FILE, TRAIN_RESULTS, RESULTS, MODEL_FILE):
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            os.remove(path)


def read_json(path: str) -> dict[str, Any] | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_json_or_none(path: str) -> dict[str, Any] | None:
    """``read_json``, with an unreadable or malformed file read as None (reports skip such runs)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def saved_config_or_empty(model_dir: str) -> dict[str, Any]:
    """A run directory's ``config.yaml`` as a dict (``{}`` when there is none or it is unreadable)."""
    try:
        return read_saved_config(model_dir) or {}
    except (OSError, yaml.YAMLError):
        return {}


def write_json(path: str, value: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)
