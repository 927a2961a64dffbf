"""Training callbacks: TensorBoard extras and the per-epoch progress record.

TensorBoard layout under ``<model_dir>/logs`` (never two open writers in one
directory: TensorBoard reads a run's event files one after the other):

* ``train/``, ``validation/``: Keras' scalars ``epoch_loss``, ``epoch_accuracy``
  and, in ``train/``, ``epoch_learning_rate`` (the rate the epoch trained with);
* ``images/``: ``conv1/filters`` (first-layer filters, the paper's Figure 4)
  and ``confusion_matrix/<split>`` (row-normalised, rows = true class);
* the root: the hparams session (every flat config key) and ``final/*``
  scalars written when training ends.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from tfpipe import metrics
from tfpipe.training import images, inference

FILTERS_LAYER = "conv1"


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback, logging the learning rate already in the epoch logs.

    ``EpochLearningRate`` puts the rate the epoch *trained with* into the logs;
    Keras would otherwise log the optimizer's rate after the epoch.
    """

    def _collect_learning_rate(self, logs):
        if "learning_rate" in logs:
            return logs
        return super()._collect_learning_rate(logs)


def _hparam_value(value: Any) -> bool | int | float | str:
    if isinstance(value, (bool, int, float, str)):
        return value
    return "null" if value is None else json.dumps(value)


HPARAM_METRICS = (
    ("epoch_accuracy", "validation"),
    ("epoch_loss", "validation"),
    ("epoch_accuracy", "train"),
    ("epoch_loss", "train"),
)
FINAL_METRICS = (
    "final/val_accuracy", "final/val_loss", "final/accuracy", "final/loss",
    "final/examples_per_sec", "final/training_time_s",
)


def write_hparams(log_dir: str, hparams: dict[str, Any]) -> None:
    """Writes the hparams session: every flat config key and the metrics to show beside them."""
    values = {k: _hparam_value(v) for k, v in hparams.items()}
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        hp.hparams_config(
            hparams=[hp.HParam(k) for k in values],
            metrics=[hp.Metric(tag, group=group) for tag, group in HPARAM_METRICS]
            + [hp.Metric(name) for name in FINAL_METRICS],
        )
        hp.hparams(values)
    writer.close()


def write_scalars(log_dir: str, values: dict[str, float], step: int = 0) -> None:
    """Scalar summaries in the root run (the ``final/*`` metrics of the hparams session)."""
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for name, value in values.items():
            tf.summary.scalar(name, value, step=step)
    writer.close()


class ImageSummaries(keras.callbacks.Callback):
    """First-layer filters and the validation confusion matrix as TensorBoard images."""

    def __init__(self, log_dir: str, *, class_names: list[str], val_data: tf.data.Dataset | None,
                 val_split: str, max_filters: int = 12, confusion_every: int = 1):
        super().__init__()
        self.log_dir = log_dir
        self.class_names = class_names
        self.val_data = val_data
        self.val_split = val_split
        self.max_filters = max_filters
        self.confusion_every = confusion_every
        self._writer = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(self.log_dir)

    def _filters_kernel(self) -> np.ndarray | None:
        try:
            layer = self.model.get_layer(FILTERS_LAYER)
        except ValueError:
            return None
        kernel = getattr(layer, "kernel", None)
        if kernel is None or len(kernel.shape) != 3:
            return None
        return keras.ops.convert_to_numpy(kernel)

    def on_epoch_end(self, epoch, logs=None):
        with self._writer.as_default():
            kernel = self._filters_kernel() if self.max_filters else None
            if kernel is not None:
                tf.summary.image(
                    f"{FILTERS_LAYER}/filters",
                    images.filters_image(kernel, self.max_filters),
                    step=epoch,
                    description=(
                        f"first {min(self.max_filters, kernel.shape[2])} of {kernel.shape[2]} filters; "
                        f"each patch is kernel_size x alphabet_size = {kernel.shape[0]} x {kernel.shape[1]} "
                        "(rows: kernel positions, columns: alphabet characters), min-max scaled per filter"
                    ),
                )
            if self.val_data is not None and self.confusion_every and (epoch + 1) % self.confusion_every == 0:
                labels, probs = inference.predict(self.model, self.val_data)
                cm = metrics.confusion_matrix(labels, probs.argmax(axis=1), len(self.class_names))
                tf.summary.image(
                    f"confusion_matrix/{self.val_split}",
                    images.confusion_image(cm),
                    step=epoch,
                    description=(
                        "row-normalised confusion matrix (rows: true class, columns: predicted; white 0, "
                        f"dark blue 1); classes in order: {', '.join(self.class_names)}; "
                        f"counts: {cm.tolist()}"
                    ),
                )
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


class ProgressLog(keras.callbacks.Callback):
    """Appends one JSON line per completed epoch to ``path``.

    Each line: ``epoch`` (0-based), ``session`` (which process ran it),
    ``train_time_s`` (training steps only), ``eval_time_s``, ``examples``
    and the epoch logs.  A restarted run keeps the lines of the epochs its
    backup holds (``runs.read_progress(..., before=backup epoch)``) so its
    final record covers the whole run, not only its own epochs.
    """

    def __init__(self, path: str, *, session: str, examples_per_epoch: int):
        super().__init__()
        self.path = path
        self.session = session
        self.examples_per_epoch = examples_per_epoch
        self._t0 = self._t_eval = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()
        self._t_eval = None

    def on_test_begin(self, logs=None):
        if self._t_eval is None:
            self._t_eval = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        t_eval = self._t_eval if self._t_eval is not None else now
        record = {
            "epoch": epoch,
            "session": self.session,
            "train_time_s": t_eval - self._t0,
            "eval_time_s": now - t_eval,
            "examples": self.examples_per_epoch,
            "logs": {k: float(v) for k, v in (logs or {}).items()},
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
