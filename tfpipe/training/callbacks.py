"""Training callbacks: TensorBoard extras, the per-epoch progress record and line, and the
state a killed run resumes from exactly (``EpochBackup``, ``EpochSeeds``,
``ResumableEarlyStopping``).

TensorBoard layout under ``<model_dir>/logs`` (never two open writers in one
directory: TensorBoard reads a run's event files one after the other):

* ``train/``, ``validation/``: Keras' scalars ``epoch_loss``, ``epoch_accuracy``
  and, in ``train/``, ``epoch_learning_rate`` (the rate the epoch trained with);
* ``images/``: ``conv1/filters`` (first-layer filters, the paper's Figure 4)
  and ``confusion_matrix/<split>`` (row-normalised, rows = true class);
* the root: the hparams session (every flat config key; its start when the
  run starts, its end with a status when training ends) and ``final/*``
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
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import summary as hp_summary

from tfpipe import metrics
from tfpipe.training import images, inference, runs

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


SESSION_STATUS = {"success": api_pb2.STATUS_SUCCESS, "failure": api_pb2.STATUS_FAILURE}


def write_session_end(log_dir: str, status: str = "success") -> None:
    """Ends the hparams session that ``write_hparams`` started (TensorBoard's HParams dashboard
    shows a session's status and end time from it): ``status`` is ``success`` or ``failure``."""
    pb = hp_summary.session_end_pb(SESSION_STATUS[status])
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(pb.SerializeToString(), step=0)
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

    def clock(self) -> keras.callbacks.Callback:
        """A callback to put first in the list: it stops the training clock of an epoch without
        validation as the steps end, before the other callbacks' epoch-end work (checkpoints,
        TensorBoard), which is not training time."""
        log = self

        class _StepsEnd(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if log._t_eval is None:
                    log._t_eval = time.perf_counter()

        return _StepsEnd()

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


class EpochLine(keras.callbacks.Callback):
    """Prints one line per epoch (what a log file wants instead of progress-bar redraws):
    ``epoch 3/10: loss 0.5123 - accuracy 0.8011 - val_loss ... - learning_rate 0.001 (12.3 s, 97 examples/s)``."""

    METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")

    def __init__(self, *, epochs: int, examples_per_epoch: int, print_fn=None):
        super().__init__()
        self.epochs = epochs
        self.examples_per_epoch = examples_per_epoch
        self.print_fn = print_fn or (lambda line: print(line, flush=True))
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.perf_counter() - self._t0
        parts = [f"{k} {float(logs[k]):.4f}" for k in self.METRICS if k in logs]
        parts += [f"{k} {float(v):.4g}" for k, v in logs.items() if k not in self.METRICS]
        rate = f", {self.examples_per_epoch / seconds:.0f} examples/s" if seconds > 0 else ""
        self.print_fn(f"epoch {epoch + 1}/{self.epochs}: {' - '.join(parts)} ({seconds:.1f} s{rate})")


class EpochBackup(keras.callbacks.Callback):
    """After every epoch, saves the training state a killed run resumes from (``restore_backup``).

    ``model.save_weights`` holds the model's weights and the optimizer's variables (its step
    count, moments and learning rate), written to ``epoch-<N>.weights.h5`` and synced; then
    ``runs.commit_backup`` points the metadata at it in one atomic rename.  Keras'
    BackupAndRestore writes the weights and then the epoch count in place, so a kill between
    the two resumed epoch N's count with epoch N + 1's weights.  What the weights file lacks
    (the layers' random-number generator states, the input order) is a function of the epoch
    index instead: ``EpochSeeds`` and ``pipeline.make_dataset(first_epoch=...)``.
    """

    def __init__(self, backup_dir: str):
        super().__init__()
        self.backup_dir = backup_dir

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{epoch + 1:05d}.weights.h5"
        path = os.path.join(self.backup_dir, name)
        self.model.save_weights(path, overwrite=True)
        runs.fsync_file(path)
        runs.commit_backup(self.backup_dir, epoch + 1, name)


def restore_backup(model: keras.Model, model_dir: str) -> int:
    """Loads the backup of ``model_dir`` into a compiled ``model`` (weights and optimizer
    state); returns the number of epochs it completed (0 without a backup)."""
    done = runs.backup_epoch(model_dir)
    path = runs.backup_weights(model_dir)
    if not done or path is None:
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    return done


def seed_states(model: keras.Model) -> list:
    """The state variables of the model's ``keras.random.SeedGenerator``s (dropout masks and
    every other layer randomness), in the model's (deterministic) variable order."""
    out, seen = [], set()
    for v in model.variables:
        if v.name == "seed_generator_state" and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def epoch_seed_state(seed: int, epoch: int, index: int) -> np.ndarray:
    """The ``[seed, counter]`` state generator ``index`` starts epoch ``epoch`` with."""
    value = int(np.random.default_rng([seed, epoch, index]).integers(1, 2**31 - 1))
    return np.array([value, 0])


class EpochSeeds(keras.callbacks.Callback):
    """Reseeds every layer's random-number generator at the start of each epoch from
    ``(seed, epoch, generator index)``.

    A Keras ``SeedGenerator``'s state is a variable that ``save_weights`` leaves out, so a
    resumed run would draw its dropout masks from where the fresh model's generators start.
    Reseeded per epoch, epoch ``e`` draws the same masks whether or not the run was resumed.
    """

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        for index, state in enumerate(seed_states(self.model)):
            value = epoch_seed_state(self.seed, epoch, index)
            state.assign(value.astype(keras.ops.convert_to_numpy(state).dtype))


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` that starts from the state the run's completed epochs left.

    ``history``: the progress records (``runs.read_progress``) of the epochs a resumed run
    does not redo; their logs are replayed at the start of training, so the patience count
    and the best value are what the uninterrupted run had, and it stops at the same epoch.
    ``replay()`` says whether those epochs had already stopped the run.
    """

    def __init__(self, *, history: list[dict[str, Any]] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.history = list(history or [])

    def replay(self) -> bool:
        super().on_train_begin()
        stop_training = getattr(self.model, "stop_training", False)
        for record in self.history:
            super().on_epoch_end(record["epoch"], record["logs"])
        stopped = self.stopped_epoch > 0
        self.model.stop_training = stop_training
        return stopped

    def on_train_begin(self, logs=None):
        self.replay()
