"""What every task provides: :class:`Task` (the interface) and :class:`Plan` (one run's parts).

The shape of TF Model Garden's ``base_task.Task``, small: a task checks a config,
builds its inputs and its compiled model (so it owns loss and metrics), turns a
finished training into its artifacts and results, and evaluates and exports a
run.  The training loop itself, shared by every task, is
:func:`tfpipe.training.loop.run`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from tfpipe import config as config_lib


@dataclasses.dataclass
class Plan:
    """One run's parts, as a task built them for the training loop.

    ``steps``: steps per epoch of an endless ``train_ds`` (epoch ``e`` is batches
    ``[e * steps, (e + 1) * steps)``), or None for a dataset that ends after each epoch.
    ``monitor``/``monitor_mode``: the metric that picks the best epoch
    (``checkpoints/best.weights.h5``, ``best_<monitor>`` in the results).
    ``reseed_layers``: reseed the layers' random generators from ``(seed, epoch)`` each
    epoch (``callbacks.EpochSeeds``, what exact resume needs); a task whose model draws from
    one generator for the whole run keeps it (and says its resume is not exact).
    ``splits``: the stored splits read (named when a shard turns out corrupt); ``data``: the
    data directory with its manifest (``DataDir``).
    ``state``: anything the task's ``finish`` needs again.
    """

    model: Any
    train_ds: Any
    val_ds: Any
    steps: int | None
    examples_per_epoch: int
    describe: str
    splits: list[str]
    data: Any  # tfpipe.data.datadir.DataDir
    callbacks: list = dataclasses.field(default_factory=list)
    monitor: str = "val_accuracy"
    monitor_mode: str = "max"
    reseed_layers: bool = True
    state: dict[str, Any] = dataclasses.field(default_factory=dict)


# The training figures every task copies from train_results.json into its evaluation results
# (``config_file_epochs``: the epochs of the shipped config, for a run trained for fewer).
TRAIN_KEYS = ("training_time_s", "examples_per_sec", "epochs_run", "config_file_epochs", "mixed_precision", "params")


class Task:
    """One kind of training.  Subclasses set ``name`` and implement the methods below;
    ``tfpipe.tasks.register`` makes them reachable from configs and CLIs."""

    name: str = ""
    # The record kind (tfpipe.data.schema) the task reads.
    record_kind: str = "text"
    # The metric tfpipe.tune maximises or minimises, and which.
    objective: tuple[str, str] = ("val_accuracy", "max")
    # Flat config keys this task does not read: setting one to a non-default value is an error
    # that names the tasks that do.
    unused_keys: tuple[str, ...] = ()

    # ------------------------------------------------------------------ config
    def model_names(self) -> list[str]:
        """The registered models (``tfpipe.models``) this task trains."""
        raise NotImplementedError

    def check(self, cfg: config_lib.Config) -> None:
        """Raises ``config.ConfigError`` for a config this task cannot train."""
        self.check_model_name(cfg)
        config_lib.validate_model(cfg)
        self._check_unused(cfg)

    def check_model_name(self, cfg: config_lib.Config) -> None:
        """A ``model.name`` this task does not train is a ``ConfigError`` naming the task's models
        (and the task that does train it)."""
        names = self.model_names()
        if cfg.model_name not in names:
            from tfpipe import tasks

            owner = [t for t in tasks.names() if cfg.model_name in tasks.get(t).model_names()]
            hint = f" ({cfg.model_name!r} is a {owner[0]} model)" if owner else ""
            raise config_lib.ConfigError(
                f"task {self.name!r} does not train model.name={cfg.model_name!r}{hint}; its models: "
                f"{', '.join(names)}"
            )

    def _check_unused(self, cfg: config_lib.Config) -> None:
        defaults = config_lib.from_dict({}).flat()
        flat = cfg.flat()
        for key in self.unused_keys:
            if flat.get(key) != defaults.get(key):
                from tfpipe import tasks

                users = [t for t in tasks.names() if key not in tasks.get(t).unused_keys]
                raise config_lib.ConfigError(
                    f"{key}={flat.get(key)!r} is not read by task {self.name!r} (only by "
                    f"{', '.join(users) or 'no task'}): drop it (default {defaults.get(key)!r})"
                )

    def precision(self, cfg: config_lib.Config) -> str:
        """The Keras dtype policy of the run (``train.mixed_precision`` resolved)."""
        from tfpipe.training import devices

        return devices.resolve_precision(cfg.train.mixed_precision)

    # ------------------------------------------------------------------ training
    def train_splits(self, cfg: config_lib.Config) -> list[str]:
        """The stored splits a run of ``cfg`` reads (checked before training starts)."""
        return ["train", cfg.validation_split]

    def open_data(self, cfg: config_lib.Config):
        """``cfg.data.dir`` as a ``DataDir`` after checking that it holds the record kind and the
        splits the run reads; ``datasets.DataError`` says what is missing."""
        from tfpipe.training import datasets

        data = datasets.open_data(cfg.data.dir)
        if data.kind != self.record_kind:
            raise datasets.DataError(
                f"{data.path} holds {data.kind!r} records; task {self.name!r} reads {self.record_kind!r} records")
        datasets.check_splits(data, self.train_splits(cfg))
        return data

    def build(self, cfg: config_lib.Config, data, model_dir: str, *, first_epoch: int, verbose: int,
              steps_per_execution: Callable[[int | None], int]) -> Plan:
        """Builds the compiled model and its datasets from ``data`` (a ``DataDir``), epochs from
        ``first_epoch`` on (called inside the distribution strategy's scope).
        ``steps_per_execution(steps)`` gives the value to compile with."""
        raise NotImplementedError

    def finish(self, cfg: config_lib.Config, plan: Plan, model_dir: str, run: dict[str, Any]) -> dict[str, Any]:
        """Writes the trained model's artifacts; returns ``train_results.json``.  ``run`` holds the
        loop's figures (epochs run, times, history, best epoch, precision, devices ...)."""
        raise NotImplementedError

    def summary_line(self, results: dict[str, Any]) -> str:
        """The line ``python -m tfpipe.train`` prints when training ends."""
        final = results.get("final", {})
        return (
            f"trained {results.get('epochs_run')} epochs in {results.get('training_time_s') or 0:.1f} s; "
            + ", ".join(f"{k} {v:.4f}" for k, v in final.items())
        )

    # ------------------------------------------------------------------ after training
    def evaluate(self, model_dir: str, cfg: config_lib.Config, *, data_dir: str, split: str) -> dict[str, Any]:
        """Evaluates a finished run on ``split``; returns the results (the CLI writes them)."""
        raise config_lib.ConfigError(f"task {self.name!r} has no evaluation")

    def results_file(self, cfg: config_lib.Config, *, data_dir: str, split: str) -> str:
        """The file ``python -m tfpipe.evaluate`` writes in the run directory: ``results.json`` for
        the config's ``eval.split``, ``results_<split>.json`` for another."""
        from tfpipe.training import runs

        return runs.RESULTS if split == cfg.eval.split else f"results_{split}.json"

    def format_results(self, results: dict[str, Any]) -> str | None:
        """The text ``python -m tfpipe.evaluate`` prints for ``evaluate``'s results (None: the
        classifier's table)."""
        return None

    def export(self, model_dir: str, cfg: config_lib.Config, out: str, *, data_dir: str) -> str:
        """Writes the run's serving artifact to ``out``; returns its path."""
        raise config_lib.ConfigError(f"task {self.name!r} has no export")

    def text_queries(self, model_dir: str, texts: list[str]):
        """``[n, d]`` query vectors of raw ``texts`` through the run's trained text encoder, and the
        index they search (``(vectors, index directory)``): ``python -m tfpipe.index search
        --model_dir RUN --text ...``."""
        raise config_lib.ConfigError(f"task {self.name!r} has no text encoder to query with")

    def export_usage(self, out: str) -> list[str]:
        """Lines ``python -m tfpipe.export`` prints about an artifact ``export`` wrote to ``out``."""
        return [f"exported {out}"]


# The text-input keys (tfpipe.training.datasets) that no task on cached features reads.
FEATURE_UNUSED_KEYS = ("data.feature", "data.epoch_samples", "data.trim_padding", "data.thesaurus",
                       "data.train_splits")


class FeatureTask(Task):
    """A task on cached visual features (``kind: features``) with models of its own: ``models``
    names them, ``check_model`` checks their keys (its ``keys`` module), and the text-input keys
    are not read."""

    record_kind = "features"
    unused_keys = FEATURE_UNUSED_KEYS
    models: tuple[str, ...] = ()

    def model_names(self) -> list[str]:
        return list(self.models)

    def check_model(self, cfg: config_lib.Config) -> None:
        """Raises ``config.ConfigError`` for a wrong ``model.*`` key or value."""
        raise NotImplementedError

    def check(self, cfg: config_lib.Config) -> None:
        self.check_model_name(cfg)
        self.check_model(cfg)
        self._check_unused(cfg)
