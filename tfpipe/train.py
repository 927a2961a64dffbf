"""``python -m tfpipe.train``: train a model from a YAML config on a preprocessed data directory.

    python -m tfpipe.train [--config FILE] [--data_dir DIR] [--model_dir DIR] [--set section.key=value ...]

With no arguments it trains ``configs/char_cnn_small_default.yaml`` on the
default preprocessing output (``tfpipe.paths.DEFAULT_DATA_DIR``) into
``<DEFAULT_RUNS_DIR>/<config stem>``.  See ``tfpipe.training.runs`` for what
the run directory holds and ``python -m tfpipe.config`` for every config key.

A run that is interrupted (even by SIGKILL) and started again with the same
command continues after its last completed epoch and ends with the weights and
metrics the uninterrupted run would have had (the input order, the dropout
masks, the optimizer state and the schedule of every epoch depend only on the
seed and the epoch index; see ``_train``); ``--fresh`` discards it and starts
over.  A finished run in ``--model_dir`` is replaced only with ``--fresh``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from typing import Any, Sequence

from tfpipe import cli
from tfpipe import config as config_lib
from tfpipe import paths

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: no INFO chatter


class TrainError(RuntimeError):
    """A problem the user can fix (missing data, corrupt shard, clashing run); the message says how."""


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


def _refuse_finished(model_dir: str, fresh: bool) -> None:
    from tfpipe.training import runs

    if not fresh and runs.is_finished(model_dir):
        raise TrainError(
            f"{model_dir} holds a finished run ({runs.TRAIN_RESULTS}): pass --fresh to replace it, "
            "or choose another --model_dir"
        )


def _steps_per_execution(wanted: int, steps: int) -> int:
    """The largest divisor of ``steps`` (steps per epoch) that is at most ``wanted``.

    Keras runs ``steps_per_execution`` steps per call even past the end of an epoch of an
    endless stream, which would move every later epoch's first batch; a divisor keeps epoch
    ``e`` on batches ``[e * steps, (e + 1) * steps)``, which resuming relies on.
    """
    return max(d for d in range(1, max(1, min(wanted, steps)) + 1) if steps % d == 0)


def _prepare_run_dir(model_dir: str, cfg: config_lib.Config, fresh: bool) -> int:
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


def _summarize(progress: list[dict[str, Any]]) -> dict[str, Any]:
    """Times, throughput and the per-epoch history of every completed epoch of the run."""
    train_time = sum(r["train_time_s"] for r in progress)
    examples = sum(r["examples"] for r in progress)
    history = [{"epoch": r["epoch"], **r["logs"], "train_time_s": r["train_time_s"]} for r in progress]
    best = max(progress, key=lambda r: r["logs"].get("val_accuracy", float("-inf")), default=None)
    return {
        "epochs_run": len(progress),
        "sessions": len({r["session"] for r in progress}),
        "final": dict(progress[-1]["logs"]) if progress else {},
        "best_val_accuracy": best["logs"].get("val_accuracy") if best else None,
        "best_epoch": best["epoch"] if best else None,
        "training_time_s": train_time,
        "eval_time_s": sum(r["eval_time_s"] for r in progress),
        "examples_seen": examples,
        "examples_per_sec": examples / train_time if train_time > 0 else None,
        "history": history,
    }


def train(cfg: config_lib.Config, model_dir: str, *, verbose: int | str = 1, fresh: bool = False) -> dict[str, Any]:
    """Trains ``cfg`` into ``model_dir`` (resuming an unfinished run there); returns train_results.

    ``verbose``: 0, 1 (progress bar), 2 (one line per epoch) or ``"auto"`` (``resolve_verbose``).
    ``fresh``: start over, discarding an unfinished run or replacing a finished one; without it
    a finished run in ``model_dir`` is a ``TrainError`` (nothing is touched).

    Raises ``TrainError`` or ``datasets.DataError`` (missing data, corrupt shard) with a message
    meant for the user, ``config.ConfigError`` for a bad model section.  The Keras dtype policy
    is set for the run and restored afterwards.
    """
    import keras

    verbose = resolve_verbose(verbose)
    _refuse_finished(model_dir, fresh)
    if cfg.model_name == "skipgram":  # word vectors, not a classifier: its own loop and outputs
        from tfpipe.training import skipgram

        return skipgram.train(cfg, model_dir, verbose=verbose)
    previous_policy = keras.config.dtype_policy()
    try:
        return _train(cfg, model_dir, verbose=verbose, fresh=fresh)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _train(cfg: config_lib.Config, model_dir: str, *, verbose: int, fresh: bool) -> dict[str, Any]:
    """Exact resume: a run resumed after ``done`` epochs continues in the state the
    uninterrupted run had there.  The backup (``callbacks.EpochBackup``, committed atomically
    after every epoch) holds the weights and the optimizer's variables (step count, moments);
    what it does not hold is a function of the epoch index: the input order
    (``train_dataset(first_epoch=done)``: epoch ``e`` is shuffled by seeds drawn from
    ``(train.seed, e)``, thesaurus draws by the batch's index in the run), the layers' random
    generators (``callbacks.EpochSeeds``: dropout reseeded from ``(train.seed, e)``), the
    learning rate (``schedules.EpochLearningRate``), early stopping (replayed from
    ``progress.jsonl``) and the best-checkpoint threshold.  A kill inside an epoch redoes that
    epoch from the previous backup, identically.
    """
    import keras
    import tensorflow as tf

    from tfpipe.training import callbacks as cb
    from tfpipe.training import datasets, devices, modeling, optimizers, runs, schedules

    data_dir = cfg.data.dir
    manifest = datasets.load_manifest(data_dir)
    config_lib.validate_model(cfg)
    val_split = cfg.validation_split
    datasets.check_splits(data_dir, manifest, ["train", val_split])
    done = _prepare_run_dir(model_dir, cfg, fresh)
    session = uuid.uuid4().hex[:8]
    started = time.time()

    keras.utils.set_random_seed(cfg.train.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = devices.resolve_precision(cfg.train.mixed_precision)
    devices.set_precision(policy)
    strategy = devices.make_strategy(cfg.train.distribute)

    t = cfg.train
    featurizer = datasets.featurizer(cfg, manifest, data_dir, model_dir)
    # Every epoch from `done` on, `steps` batches each (see the docstring: exact resume).
    train_ds = datasets.train_dataset(cfg, manifest, data_dir, featurizer, first_epoch=done)
    val_ds = datasets.eval_dataset(cfg, manifest, data_dir, val_split, featurizer)
    train_count = datasets.split_count(cfg, manifest, data_dir, "train")
    val_count = datasets.split_count(cfg, manifest, data_dir, val_split)
    steps = datasets.train_steps(cfg, manifest, data_dir)
    examples_per_epoch = steps * t.batch_size if cfg.data.epoch_samples else train_count
    steps_per_execution = _steps_per_execution(t.steps_per_execution, steps)
    if steps_per_execution != t.steps_per_execution and verbose:
        print(f"tfpipe.train: steps_per_execution {steps_per_execution} instead of {t.steps_per_execution} "
              f"(a divisor of the {steps} steps per epoch)", flush=True)

    with strategy.scope():
        model = modeling.build_model(cfg, manifest, data_dir, featurizer.num_features)
        model.compile(  # under mixed_float16 Keras adds a LossScaleOptimizer itself
            optimizer=optimizers.make_optimizer(t),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
        )
        if done and cb.restore_backup(model, model_dir) != done:
            raise TrainError(f"the backup in {os.path.join(model_dir, runs.BACKUP_DIR)} changed while "
                             "loading it: is another run training in this --model_dir?")

    log_dir = os.path.join(model_dir, runs.LOG_DIR)
    if done == 0:
        cb.write_hparams(log_dir, cfg.flat())
    previous = runs.read_progress(model_dir)
    best_so_far = max((r["logs"].get("val_accuracy", float("-inf")) for r in previous), default=None)
    os.makedirs(os.path.join(model_dir, runs.CHECKPOINT_DIR), exist_ok=True)
    callbacks: list[keras.callbacks.Callback] = [
        cb.EpochSeeds(t.seed),
        schedules.EpochLearningRate(t),
        cb.ImageSummaries(
            os.path.join(log_dir, "images"), class_names=manifest.class_names, val_data=val_ds,
            val_split=val_split, max_filters=t.tensorboard_filters, confusion_every=t.confusion_every,
        ),
        cb.TensorBoard(log_dir=log_dir, histogram_freq=0, write_graph=False, profile_batch=0),
        keras.callbacks.ModelCheckpoint(
            os.path.join(model_dir, runs.BEST_WEIGHTS), monitor="val_accuracy", mode="max",
            save_best_only=True, save_weights_only=True, initial_value_threshold=best_so_far,
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
        callbacks.append(cb.EpochLine(epochs=t.epochs, examples_per_epoch=examples_per_epoch))
    callbacks += [
        # ProgressLog before EpochBackup: a kill between the two leaves a progress line
        # without a backup, which the restart drops and re-runs (the other order would lose
        # the epoch's line).  The backup is removed below, once model.keras and
        # train_results.json are written, so a kill before that still resumes.
        cb.ProgressLog(os.path.join(model_dir, runs.PROGRESS_FILE), session=session,
                       examples_per_epoch=examples_per_epoch),
        cb.EpochBackup(os.path.join(model_dir, runs.BACKUP_DIR)),
    ]

    if done:
        print(f"tfpipe.train: resuming after epoch {done} of {t.epochs} from {model_dir}", flush=True)
    if verbose:
        print(
            f"tfpipe.train: {cfg.model_name} ({model.count_params():,} parameters) on {data_dir} "
            f"[{train_count} train / {val_count} {val_split}], "
            f"{t.epochs} epochs x {steps} steps, {t.optimizer} lr {t.learning_rate} ({t.schedule}), "
            f"policy {policy}, {type(strategy).__name__} x{strategy.num_replicas_in_sync}",
            flush=True,
        )
    try:
        if not stopped_before:
            model.fit(
                train_ds,
                epochs=t.epochs,
                initial_epoch=done,
                steps_per_epoch=steps,  # train_ds is endless: one epoch after the other
                validation_data=val_ds,
                shuffle=False,  # the input pipeline shuffles
                callbacks=callbacks,
                verbose=1 if verbose == 1 else 0,  # 2: EpochLine
            )
    except datasets.READ_ERRORS as e:
        cb.write_session_end(log_dir, "failure")
        error = datasets.corrupt_shard_error(data_dir, manifest, ["train", val_split], e)
        if error is None:
            raise
        raise error from None
    except Exception:
        cb.write_session_end(log_dir, "failure")
        raise

    progress = runs.read_progress(model_dir)
    summary = _summarize(progress)
    best_weights = os.path.join(model_dir, runs.BEST_WEIGHTS)
    restored = t.restore_best and os.path.exists(best_weights)
    if restored:
        model.load_weights(best_weights)
    model.save(os.path.join(model_dir, runs.MODEL_FILE))
    results = {
        "model": cfg.model_name,
        "feature": featurizer.feature,
        "num_features": featurizer.num_features,
        "params": model.count_params(),
        "data_dir": data_dir,
        "dataset": getattr(manifest, "dataset", "") or os.path.basename(os.path.normpath(data_dir)),
        "train_examples": train_count,
        "validation_split": val_split,
        "validation_fraction": cfg.data.validation_fraction,
        "validation_examples": val_count,
        "epochs": t.epochs,
        "steps_per_epoch": steps,
        "batch_size": t.batch_size,
        "resumed_from_epoch": done,
        "stopped_early": summary["epochs_run"] < t.epochs,
        # model.keras holds the best validation epoch's weights (counted from 0) instead of the last's
        "restored_best_epoch": summary["best_epoch"] if restored else None,
        "mixed_precision": policy,
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "devices": devices.describe_devices(),
        "session_wall_time_s": time.time() - started,
        **summary,
        "tensorboard": f"tensorboard --logdir {log_dir}",
    }
    runs.write_json(os.path.join(model_dir, runs.TRAIN_RESULTS), results)
    final = {f"final/{k}": v for k, v in results["final"].items() if k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    final["final/training_time_s"] = results["training_time_s"]
    if results["examples_per_sec"]:
        final["final/examples_per_sec"] = results["examples_per_sec"]
    cb.write_scalars(log_dir, final, step=results["epochs_run"])
    cb.write_session_end(log_dir, "success")
    shutil.rmtree(os.path.join(model_dir, runs.BACKUP_DIR), ignore_errors=True)
    return results


def _parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m tfpipe.train",
        description="Train a model from a YAML config on a directory written by beam_jobs.preprocess. "
        "An interrupted run restarted with the same command resumes after its last completed epoch.",
    )
    parser.add_argument(
        "--config", default=None,
        help=f"YAML config (default: {config_lib.DEFAULT_CONFIG}); `python -m tfpipe.config` lists every key",
    )
    parser.add_argument("--data_dir", default=None, help="preprocessed data directory (overrides data.dir)")
    parser.add_argument(
        "--model_dir", default=None,
        help=f"run directory for config.yaml, checkpoints, model.keras, logs and results "
        f"(default: {paths.DEFAULT_RUNS_DIR}/<config file stem>)",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a config key, value parsed as YAML (repeatable), e.g. --set train.epochs=3",
    )
    parser.add_argument("--fresh", action="store_true",
                        help="start over in --model_dir: discard an unfinished run there instead of "
                        "resuming it, or replace a finished one (refused without --fresh)")
    parser.add_argument("--verbose", choices=VERBOSE_CHOICES, default="auto",
                        help="0 silent, 1 progress bar, 2 one line per epoch; auto (default): 1 when "
                        "stdout is a terminal, else 2")
    parser.add_argument("--print_config", action="store_true", help="print the resolved config and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tfpipe.training.datasets import DataError  # imports TensorFlow: after --help

    config_path = args.config or config_lib.DEFAULT_CONFIG
    try:
        cfg = config_lib.load(config_path, args.overrides)
        if args.data_dir:
            cfg.data.dir = args.data_dir
        if args.print_config:
            config_lib.validate_model(cfg)
            print(cfg.to_yaml(), end="")
            return 0
        model_dir = args.model_dir or config_lib.default_model_dir(config_path)
        if cli.path_kind(model_dir) not in (cli.MISSING, cli.EMPTY_DIR, cli.RUN_DIR, cli.OTHER_DIR, cli.REMOTE):
            raise TrainError(cli.path_problem(
                "--model_dir", model_dir, cli.RUN_DIR,
                "pass a new directory (or a run directory to resume or, with --fresh, replace)"))
        verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
        results = train(cfg, model_dir, verbose=verbose, fresh=args.fresh)
    except (config_lib.ConfigError, TrainError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    final = results["final"]
    if "examples_per_sec" not in results:  # skip-gram reported its own figures
        print(f"run directory: {model_dir}")
        return 0
    print(
        f"trained {results['epochs_run']} epochs in {results['training_time_s']:.1f} s "
        f"({results['examples_per_sec'] or 0:.0f} examples/s); "
        + ", ".join(f"{k} {v:.4f}" for k, v in final.items() if k in ("loss", "accuracy", "val_loss", "val_accuracy"))
    )
    print(f"run directory: {model_dir}")
    print(results["tensorboard"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
