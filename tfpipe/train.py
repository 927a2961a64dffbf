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
import sys
from typing import Any, Sequence

from tfpipe import cli
from tfpipe import config as config_lib
from tfpipe import paths

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: no INFO chatter


from tfpipe.training.errors import TrainError  # noqa: F401  (re-exported: the CLI's error type)
from tfpipe.training.loop import VERBOSE_CHOICES, resolve_verbose  # noqa: F401


def train(cfg: config_lib.Config, model_dir: str, *, verbose: int | str = 1, fresh: bool = False,
          source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trains ``cfg`` with its task (``tfpipe.tasks.resolve``) on the shared loop
    (``tfpipe.training.loop.run``) into ``model_dir``, resuming an unfinished run there;
    returns train_results.

    ``verbose``: 0, 1 (progress bar), 2 (one line per epoch) or ``"auto"``.
    ``fresh``: start over, discarding an unfinished run or replacing a finished one; without it
    a finished run in ``model_dir`` is a ``TrainError`` (nothing is touched).

    ``source`` (see :func:`config_source`) goes into the results as it is.

    Raises ``TrainError`` or ``datasets.DataError`` (missing data, corrupt shard) with a message
    meant for the user, ``config.ConfigError`` for a config its task cannot train.
    """
    from tfpipe import tasks
    from tfpipe.training import loop

    return loop.run(tasks.of_config(cfg), cfg, model_dir, verbose=verbose, fresh=fresh, source=source)


def config_source(config_path: str | None, overrides: Sequence[str]) -> dict[str, Any]:
    """What a run's config came from: ``config_file`` (``None``: the defaults), the epochs that file
    sets before any override (``config_file_epochs``) and the ``overrides`` as given."""
    shipped = config_lib.load(config_path)
    return {"config_file": config_path, "config_file_epochs": int(shipped.train.epochs),
            "overrides": list(overrides)}


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
            from tfpipe import tasks

            tasks.resolve(cfg)
            print(cfg.to_yaml(), end="")
            return 0
        model_dir = args.model_dir or config_lib.default_model_dir(config_path)
        if cli.path_kind(model_dir) not in (cli.MISSING, cli.EMPTY_DIR, cli.RUN_DIR, cli.OTHER_DIR, cli.REMOTE):
            raise TrainError(cli.path_problem(
                "--model_dir", model_dir, cli.RUN_DIR,
                "pass a new directory (or a run directory to resume or, with --fresh, replace)"))
        verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
        results = train(cfg, model_dir, verbose=verbose, fresh=args.fresh,
                        source=config_source(config_path, args.overrides))
    except (config_lib.ConfigError, TrainError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from tfpipe import tasks

    print(tasks.get(cfg.task).summary_line(results))
    print(f"run directory: {model_dir}")
    print(results["tensorboard"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
