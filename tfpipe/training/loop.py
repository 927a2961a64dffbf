"""The one training loop every task runs (``python -m tfpipe.train`` calls :func:`run`).

A task (``tfpipe.tasks``) builds the compiled model and its datasets (a
:class:`tfpipe.tasks.base.Plan`); this loop owns what every run shares: the run
directory and its resume, seeds and op determinism, the dtype policy, the
distribution strategy, the callbacks (TensorBoard and hparams, best-epoch
checkpoint, early stopping, one line per epoch, progress log, epoch backup), the
corrupt-shard message, restore-best and the run's figures.

Exact resume: a run resumed after ``done`` epochs continues in the state the
uninterrupted run had there.  The backup (``callbacks.EpochBackup``, committed
atomically after every epoch) holds the weights and the optimizer's variables (step
count, moments); what it does not hold is a function of the epoch index: the input
order (the task builds its datasets from ``first_epoch=done``: epoch ``e`` is shuffled
by seeds drawn from ``(train.seed, e)``), the layers' random generators
(``callbacks.EpochSeeds``: dropout reseeded from ``(train.seed, e)``), the learning
rate (``schedules.EpochLearningRate``), early stopping (replayed from
``progress.jsonl``) and the best-checkpoint threshold.  A kill inside an epoch redoes
that epoch from the previous backup, identically.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
import warnings
from typing import Any

from tfpipe import config as config_lib
from tfpipe.training.errors import TrainError

VERBOSE_CHOICES = ("0", "1", "2", "auto")


def resolve_verbose(verbose: int | str) -> int:
    """``0`` silent, ``1`` progress bar, ``2`` one line per epoch; ``"auto"``: 1 when stdout is a
    terminal, else 2 (a log file gets one line per epoch, not progress-bar redraws)."""
    if verbose == "auto":
        isatty = getattr(sys.stdout, "isatty", None)
        return 1 if isatty is not None and isatty() else 2
    if str(verbose) not in VERBOSE_CHOICES:
        raise ValueError(f"verbose={verbose!r}; valid values: 0, 1, 2, 'auto'")
    return int(verbose)


def refuse_finished(model_dir: str, fresh: bool) -> None:
    """A finished run in ``model_dir`` is replaced only with ``fresh``."""
    from tfpipe.training import runs

    if not fresh and runs.is_finished(model_dir):
        raise TrainError(
            f"{model_dir} holds a finished run ({runs.TRAIN_RESULTS}): pass --fresh to replace it, "
            "or choose another --model_dir"
        )


def steps_per_execution(wanted: int, steps: int | None) -> int:
    """The largest divisor of ``steps`` (steps per epoch) that is at most ``wanted``
    (``wanted`` itself for an epoch of unknown length).

    Keras runs ``steps_per_execution`` steps per call even past the end of an epoch of an
    endless stream, which would move every later epoch's first batch; a divisor keeps epoch
    ``e`` on batches ``[e * steps, (e + 1) * steps)``, which resuming relies on.
    """
    if steps is None:
        return wanted
    return max(d for d in range(1, max(1, min(wanted, steps)) + 1) if steps % d == 0)


def prepare_run_dir(model_dir: str, cfg: config_lib.Config, fresh: bool) -> int:
    """Creates/cleans the run directory; returns the number of epochs already completed."""
    from tfpipe.training import runs

    os.makedirs(model_dir, exist_ok=True)
    runs.repair_backup(model_dir)
    done = runs.backup_epoch(model_dir)
    if fresh or done is None:
        runs.clear(model_dir)
        done = 0
    else:
        saved = runs.read_saved_config(model_dir)
        diffs = runs.config_differences(saved, cfg) if saved is not None else ["(no config.yaml)"]
        if diffs:
            raise TrainError(
                f"{model_dir} holds an unfinished run with a different config ({'; '.join(diffs)}): "
                "run the same command to resume it, pass --fresh to discard it, or use another --model_dir"
            )
        runs.rewrite_progress(model_dir, runs.read_progress(model_dir, before=done))
    runs.save_config(model_dir, cfg)
    return done


def summarize(progress: list[dict[str, Any]], monitor: str = "val_accuracy", mode: str = "max") -> dict[str, Any]:
    """Times, throughput and the per-epoch history of every completed epoch of the run; the
    best epoch by ``monitor`` (``best_<monitor>``, ``best_epoch`` counted from 0)."""
    train_time = sum(r["train_time_s"] for r in progress)
    examples = sum(r["examples"] for r in progress)
    history = [{"epoch": r["epoch"], **r["logs"], "train_time_s": r["train_time_s"]} for r in progress]
    sign = 1.0 if mode == "max" else -1.0
    best = max(progress, key=lambda r: sign * r["logs"].get(monitor, -sign * float("inf")), default=None)
    if best is not None and monitor not in best["logs"]:
        best = None
    return {
        "epochs_run": len(progress),
        "sessions": len({r["session"] for r in progress}),
        "final": dict(progress[-1]["logs"]) if progress else {},
        f"best_{monitor}": best["logs"].get(monitor) if best else None,
        "best_epoch": best["epoch"] if best else None,
        "training_time_s": train_time,
        "eval_time_s": sum(r["eval_time_s"] for r in progress),
        "examples_seen": examples,
        "examples_per_sec": examples / train_time if train_time > 0 else None,
        "history": history,
    }


def run(task, cfg: config_lib.Config, model_dir: str, *, verbose: int | str = 1, fresh: bool = False,
        source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trains ``cfg`` with ``task`` (``tfpipe.tasks``) into ``model_dir``, resuming an
    unfinished run there; returns ``train_results.json``.

    ``source``: where ``cfg`` came from, recorded in the results as they are (the CLI passes
    ``config_file``, ``config_file_epochs`` and ``overrides``, so a run trained for fewer epochs
    than its shipped config says so in reports).

    ``verbose``: 0, 1 (progress bar), 2 (one line per epoch) or ``"auto"``.  ``fresh``: start
    over, discarding an unfinished run or replacing a finished one; without it a finished run
    in ``model_dir`` is a ``TrainError`` (nothing is touched).  Raises ``TrainError`` or
    ``datasets.DataError`` (missing data, corrupt shard) with a message meant for the user,
    ``config.ConfigError`` for a config the task cannot train.  The Keras dtype policy is set
    for the run and restored afterwards.
    """
    import keras

    verbose = resolve_verbose(verbose)
    refuse_finished(model_dir, fresh)
    task.check(cfg)
    previous_policy = keras.config.dtype_policy()
    try:
        return _run(task, cfg, model_dir, verbose=verbose, fresh=fresh, source=source)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _run(task, cfg: config_lib.Config, model_dir: str, *, verbose: int, fresh: bool,
         source: dict[str, Any] | None) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    from tfpipe.data.pipeline import CorruptShardError
    from tfpipe.training import callbacks as cb
    from tfpipe.training import datasets, devices, runs, schedules

    t = cfg.train
    data = task.open_data(cfg)  # missing data or splits: an error before the run directory is touched
    done = prepare_run_dir(model_dir, cfg, fresh)
    session = uuid.uuid4().hex[:8]
    started = time.time()

    keras.utils.set_random_seed(t.seed)
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = task.precision(cfg)
    devices.set_precision(policy)
    strategy = devices.make_strategy(t.distribute)

    def execution(steps: int | None) -> int:
        value = steps_per_execution(t.steps_per_execution, steps)
        if value != t.steps_per_execution and verbose:
            print(f"tfpipe.train: steps_per_execution {value} instead of {t.steps_per_execution} "
                  f"(a divisor of the {steps} steps per epoch)", flush=True)
        return value

    with strategy.scope():
        try:
            plan = task.build(cfg, data, model_dir, first_epoch=done, verbose=verbose,
                              steps_per_execution=execution)
        except (config_lib.ConfigError, CorruptShardError):
            raise
        except ValueError as e:  # a builder's check of a config value (it names the valid choices)
            raise config_lib.ConfigError(f"model {cfg.model_name!r} cannot be built from this config: {e}") from e
        model = plan.model
        if done and cb.restore_backup(model, model_dir) != done:
            raise TrainError(f"the backup in {os.path.join(model_dir, runs.BACKUP_DIR)} changed while "
                             "loading it: is another run training in this --model_dir?")

    log_dir = os.path.join(model_dir, runs.LOG_DIR)
    if done == 0:
        cb.write_hparams(log_dir, cfg.flat())
    previous = runs.read_progress(model_dir)
    sign = 1.0 if plan.monitor_mode == "max" else -1.0
    best_so_far = max((sign * r["logs"][plan.monitor] for r in previous if plan.monitor in r["logs"]),
                      default=None)
    os.makedirs(os.path.join(model_dir, runs.CHECKPOINT_DIR), exist_ok=True)
    progress_log = cb.ProgressLog(os.path.join(model_dir, runs.PROGRESS_FILE), session=session,
                                  examples_per_epoch=plan.examples_per_epoch)
    callbacks: list[keras.callbacks.Callback] = [progress_log.clock()]
    if plan.reseed_layers:
        callbacks.append(cb.EpochSeeds(t.seed))
    callbacks += plan.callbacks
    callbacks += [
        cb.TensorBoard(log_dir=log_dir, histogram_freq=0, write_graph=False, profile_batch=0),
        keras.callbacks.ModelCheckpoint(
            os.path.join(model_dir, runs.BEST_WEIGHTS), monitor=plan.monitor, mode=plan.monitor_mode,
            save_best_only=True, save_weights_only=True,
            initial_value_threshold=None if best_so_far is None else sign * best_so_far,
        ),
    ]
    stopped_before = False
    if t.early_stopping_patience:
        early_stopping = cb.ResumableEarlyStopping(
            history=previous, monitor=t.early_stopping_monitor, patience=t.early_stopping_patience,
            mode="min" if t.early_stopping_monitor.endswith("loss") else "max", verbose=1,
        )
        early_stopping.set_model(model)
        stopped_before = early_stopping.replay()  # killed after it stopped, before the end
        callbacks.append(early_stopping)
    if verbose == 2:
        callbacks.append(cb.EpochLine(epochs=t.epochs, examples_per_epoch=plan.examples_per_epoch))
    callbacks += [
        # ProgressLog before EpochBackup: a kill between the two leaves a progress line
        # without a backup, which the restart drops and re-runs (the other order would lose
        # the epoch's line).  The backup is removed below, once the task's artifacts and
        # train_results.json are written, so a kill before that still resumes.
        progress_log,
        cb.EpochBackup(os.path.join(model_dir, runs.BACKUP_DIR)),
    ]

    if done:
        print(f"tfpipe.train: resuming after epoch {done} of {t.epochs} from {model_dir}", flush=True)
    if verbose:
        print(plan.describe, flush=True)
    try:
        if not stopped_before:
            with datasets.reading(plan.data, plan.splits), warnings.catch_warnings():
                if plan.steps is None:
                    # An epoch of unknown length ends when the data runs out, which Keras
                    # reports every epoch.
                    warnings.filterwarnings("ignore", message="Your input ran out of data")
                model.fit(
                    plan.train_ds,
                    epochs=t.epochs,
                    initial_epoch=done,
                    steps_per_epoch=plan.steps,  # an endless train_ds: one epoch after the other
                    validation_data=plan.val_ds,
                    shuffle=False,  # the input pipeline shuffles
                    callbacks=callbacks,
                    verbose=1 if verbose == 1 else 0,  # 2: EpochLine
                )
    except Exception:
        cb.write_session_end(log_dir, "failure")
        raise

    progress = runs.read_progress(model_dir)
    summary = summarize(progress, plan.monitor, plan.monitor_mode)
    best_weights = os.path.join(model_dir, runs.BEST_WEIGHTS)
    restored = t.restore_best and os.path.exists(best_weights)
    if restored:
        model.load_weights(best_weights)
    run_figures = {
        "resumed_from_epoch": done,
        "stopped_early": summary["epochs_run"] < t.epochs,
        # the saved model holds the best validation epoch's weights (counted from 0) instead of the last's
        "restored_best_epoch": summary["best_epoch"] if restored else None,
        "mixed_precision": policy,
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "devices": devices.describe_devices(),
        "session_wall_time_s": time.time() - started,
        **(source or {}),
        **summary,
        "tensorboard": f"tensorboard --logdir {log_dir}",
    }
    try:
        results = task.finish(cfg, plan, model_dir, run_figures)
    except Exception:
        cb.write_session_end(log_dir, "failure")
        raise
    runs.write_json(os.path.join(model_dir, runs.TRAIN_RESULTS), results)
    final = {f"final/{k}": v for k, v in results["final"].items()
             if k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    final["final/training_time_s"] = results["training_time_s"]
    for key in ("examples_per_sec", "words_per_sec"):
        if results.get(key):
            final[f"final/{key}"] = results[key]
    cb.write_scalars(log_dir, final, step=results["epochs_run"])
    cb.write_session_end(log_dir, "success")
    shutil.rmtree(os.path.join(model_dir, runs.BACKUP_DIR), ignore_errors=True)
    return results
