"""``python -m tfpipe.tune``: search a config's hyper-parameters with keras-tuner, on a validation
holdout carved from the train split (never on the test split).

    python -m tfpipe.tune --config configs/ngrams_tfidf_trec.yaml --space configs/tune/bag_tfidf.yaml \\
        [--max_trials 12] [--algorithm random|bayesian|grid] [--validation_fraction 0.1] \\
        [--out artifacts/tune/<config stem>] [--set section.key=value ...]

The search space is a YAML mapping from config keys to values:

    model.normalize: [max, l2]                           # a list: one of these values
    train.learning_rate: {min: 1.0e-3, max: 3.0e-2, log: true}   # a float range (log: sampled on a log scale)
    train.epochs: {min: 5, max: 20, step: 5}              # integers: an int range

Every trial is a complete ``tfpipe.train`` run of the config with the trial's values and
``data.validation_fraction`` set: it trains on the rest of the train split and scores the best
epoch's accuracy on the held-out part (``val_accuracy``), which keras-tuner's oracle maximises.
The output directory holds:

    trials/<trial id>/        each trial's run directory (TensorBoard logs, train_results.json ...)
    tuning_results.json       every trial: values, best validation accuracy, its epoch, time
    best.yaml                 the config with the best values, the holdout off and ``train.epochs``
                              set to the best trial's best epoch: train it on the whole train split
                              with ``python -m tfpipe.train --config <out>/best.yaml``
    oracle/                   keras-tuner's state (a rerun with the same --out continues the search)

The feature statistics a bag model uses (vocabulary, document frequencies) come from the
preprocessing job over the whole train split, holdout included: they never see a label.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence

import yaml

from tfpipe import cli
from tfpipe import config as config_lib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ALGORITHMS = ("random", "bayesian", "grid")
OBJECTIVE = "val_accuracy"
RESULTS_FILE = "tuning_results.json"
BEST_CONFIG = "best.yaml"
TRIALS_DIR = "trials"
RANGE_KEYS = {"min", "max", "log", "step"}


class TuneError(ValueError):
    """A search space or tuning request that cannot be used; the message says why."""


def load_space(path: str) -> dict[str, Any]:
    """Reads and checks a search-space YAML file (``section.key: [values] | {min, max, log, step}``)."""
    try:
        with open(config_lib.resolve_path(path), encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise TuneError(f"search space {path!r} not found") from None
    except IsADirectoryError:
        raise TuneError(f"search space {path!r} is a directory, not a YAML file: pass one of its "
                        "files (e.g. configs/tune/bag_tfidf.yaml)") from None
    except yaml.YAMLError as e:
        raise TuneError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict) or not raw:
        raise TuneError(f"{path}: a search space is a non-empty mapping of section.key to values")
    return {str(k): v for k, v in raw.items()}


def hyperparameters(space: dict[str, Any], base: config_lib.Config):
    """keras-tuner ``HyperParameters`` for ``space``; every key must be a key of ``base``'s config."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for key, spec in space.items():
        _check_key(key, base)
        if isinstance(spec, list):
            if not spec:
                raise TuneError(f"{key}: an empty list of values")
            kinds = {type(v) for v in spec}
            if len(kinds) != 1 or not kinds <= {int, float, str, bool}:
                raise TuneError(f"{key}: choices must be all int, all float, all str or all bool, got {spec!r}")
            hp.Choice(key, spec, ordered=False if kinds <= {str, bool} else None)
        elif isinstance(spec, dict):
            extra = sorted(set(spec) - RANGE_KEYS)
            if extra or "min" not in spec or "max" not in spec:
                raise TuneError(
                    f"{key}: a range is {{min, max[, log][, step]}}, got keys {sorted(spec)}"
                )
            lo, hi, log = spec["min"], spec["max"], bool(spec.get("log", False))
            if not lo < hi:
                raise TuneError(f"{key}: min {lo} must be below max {hi}")
            if log and lo <= 0:
                raise TuneError(f"{key}: a log range needs min > 0, got {lo}")
            sampling = "log" if log else "linear"
            if isinstance(lo, int) and isinstance(hi, int) and not isinstance(spec.get("step", 1), float):
                hp.Int(key, lo, hi, step=spec.get("step"), sampling=sampling)
            else:
                hp.Float(key, float(lo), float(hi), step=spec.get("step"), sampling=sampling)
        else:
            raise TuneError(f"{key}: give a list of values or a range {{min, max}}, got {spec!r}")
    return hp


def _typed(spec: Any, value: Any) -> Any:
    """A trial's value as the space wrote it (keras-tuner hands bool choices back as 0/1)."""
    if isinstance(spec, list) and spec and all(isinstance(v, bool) for v in spec):
        return bool(value)
    return value


def _check_key(key: str, base: config_lib.Config) -> None:
    section, _, name = key.partition(".")
    valid = {f"{s}.{k}" for s, keys in base.to_dict().items() for k in keys}
    if section == "model" and name and name != "name":
        from tfpipe import models

        valid |= {f"model.{k}" for k in models.config_keys(base.model_name, include_data_keys=False)}
    if key not in valid:
        raise TuneError(f"search space key {key!r} is not a config key of {base.model_name}; valid keys: "
                        f"{', '.join(sorted(valid))}")
    if key in ("data.validation_fraction", "eval.split", "eval.validation_split", "model.name"):
        raise TuneError(f"{key} is set by the tuner, not searched")


def trial_config(base: dict[str, Any], values: dict[str, Any], fraction: float) -> config_lib.Config:
    """The base config (as a dict) with a trial's values and the validation holdout."""
    sections: dict[str, Any] = {s: (v if s == config_lib.TASK_KEY else dict(v or {})) for s, v in base.items()}
    for key, value in values.items():
        section, _, name = key.partition(".")
        sections.setdefault(section, {})[name] = value
    sections["data"]["validation_fraction"] = fraction
    sections["eval"].pop("validation_split", None)
    return config_lib.from_dict(sections, source="tuning trial")


def _oracle(algorithm: str, hp, max_trials: int, seed: int):
    import keras_tuner as kt

    objective = kt.Objective(OBJECTIVE, direction="max")
    common = dict(objective=objective, max_trials=max_trials, hyperparameters=hp, seed=seed,
                  allow_new_entries=False, tune_new_entries=False)
    if algorithm == "random":
        return kt.oracles.RandomSearchOracle(**common)
    if algorithm == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(**common)
    if algorithm == "grid":
        return kt.oracles.GridSearchOracle(**common)
    raise TuneError(f"unknown algorithm {algorithm!r}; valid: {', '.join(ALGORITHMS)}")


def tune(base_cfg: config_lib.Config, space: dict[str, Any], out_dir: str, *, max_trials: int = 10,
         algorithm: str = "random", validation_fraction: float = 0.1, verbose: int = 1) -> dict[str, Any]:
    """Runs the search into ``out_dir``; returns the summary written to ``tuning_results.json``."""
    import keras_tuner as kt

    from tfpipe import tasks
    from tfpipe.training import loop
    from tfpipe.training.datasets import DataError
    from tfpipe.training.errors import TrainError

    if not 0.0 < validation_fraction < 1.0:
        raise TuneError(f"--validation_fraction must be in (0, 1), got {validation_fraction}")
    task = tasks.resolve(base_cfg)
    if task.objective[0] != OBJECTIVE:
        raise TuneError(
            f"task {task.name!r} ({base_cfg.model_name}) has no {OBJECTIVE} on a holdout of train to tune "
            "on; tune a classification config")
    base = base_cfg.to_dict()
    hp = hyperparameters(space, base_cfg)
    trial_config(base, {k: hp.values[k] for k in space}, validation_fraction)  # the space's defaults build
    os.makedirs(out_dir, exist_ok=True)
    log: list[dict[str, Any]] = []

    class _Tuner(kt.engine.base_tuner.BaseTuner):
        def run_trial(self, trial, *args, **kwargs):
            values = {k: _typed(space[k], trial.hyperparameters.get(k)) for k in space}
            run_dir = os.path.join(out_dir, TRIALS_DIR, trial.trial_id)
            try:
                cfg = trial_config(base, values, validation_fraction)
                started = time.time()
                results = loop.run(tasks.of_config(cfg), cfg, run_dir, verbose=0, fresh=True)
            except (config_lib.ConfigError, DataError, TrainError) as e:
                raise kt.errors.FatalError(f"trial {trial.trial_id} {values}: {e}") from e
            best = results["best_val_accuracy"]
            record = {"trial": trial.trial_id, "values": values, OBJECTIVE: best,
                      # train_results' best_epoch counts from 0
                      "epochs_to_best": results["best_epoch"] + 1, "epochs_run": results["epochs_run"],
                      "training_time_s": results["training_time_s"], "wall_time_s": time.time() - started,
                      "run_dir": run_dir}
            log.append(record)
            if verbose:
                shown = ", ".join(f"{k}={v}" for k, v in values.items())
                print(f"tfpipe.tune: trial {trial.trial_id}: {OBJECTIVE} {best:.4f} (epoch "
                      f"{results['best_epoch'] + 1}) in {results['training_time_s']:.0f} s  [{shown}]", flush=True)
            return {OBJECTIVE: best}

    tuner = _Tuner(_oracle(algorithm, hp, max_trials, base_cfg.train.seed), directory=out_dir,
                   project_name="oracle")
    tuner.search()
    trials = sorted(
        (t for t in tuner.oracle.trials.values() if t.score is not None),
        key=lambda t: -t.score,
    )
    if not trials:
        raise TuneError(f"no trial finished in {out_dir}; see the trial directories for errors")
    records = {r["trial"]: r for r in log}
    earlier = _read_results(out_dir)
    summary_trials = []
    for t in trials:
        r = records.get(t.trial_id) or earlier.get(t.trial_id) or {
            "trial": t.trial_id, "values": {k: _typed(space[k], t.hyperparameters.get(k)) for k in space}, OBJECTIVE: t.score}
        summary_trials.append(r)
    best = summary_trials[0]
    best_cfg = trial_config(base, best["values"], validation_fraction)
    best_cfg.data.validation_fraction = 0.0
    if best.get("epochs_to_best"):
        best_cfg.train.epochs = int(best["epochs_to_best"])
    summary = {
        "config_model": base_cfg.model_name,
        "data_dir": base_cfg.data.dir,
        "algorithm": algorithm,
        "max_trials": max_trials,
        "validation_fraction": validation_fraction,
        "objective": OBJECTIVE,
        "space": space,
        "best": best,
        "best_config": os.path.join(out_dir, BEST_CONFIG),
        "trials": summary_trials,
    }
    with open(os.path.join(out_dir, BEST_CONFIG), "w", encoding="utf-8") as f:
        f.write(f"# Tuned by python -m tfpipe.tune ({algorithm}, {len(trials)} trials, "
                f"{validation_fraction:g} of train held out): validation accuracy {best[OBJECTIVE]:.4f}.\n"
                "# train.epochs is the best trial's best epoch; train on the whole train split with:\n"
                f"#   python -m tfpipe.train --config {os.path.join(out_dir, BEST_CONFIG)}\n")
        f.write(best_cfg.to_yaml())
    with open(os.path.join(out_dir, RESULTS_FILE), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return summary


def _read_results(out_dir: str) -> dict[str, dict[str, Any]]:
    path = os.path.join(out_dir, RESULTS_FILE)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return {r["trial"]: r for r in json.load(f).get("trials", [])}


def _parser() -> argparse.ArgumentParser:
    p = cli.ArgumentParser(
        prog="python -m tfpipe.tune",
        description="Search a config's hyper-parameters with keras-tuner on a validation holdout of the "
        "train split; writes every trial's run, tuning_results.json and best.yaml.",
    )
    p.add_argument("--config", required=True, help="the YAML config to tune (configs/...)")
    p.add_argument("--space", required=True,
                   help="search-space YAML: section.key: [values] or {min, max, log, step}")
    p.add_argument("--out", default=None, help="output directory (default: artifacts/tune/<config stem>)")
    p.add_argument("--max_trials", type=int, default=10, help="trials to run (default 10)")
    p.add_argument("--algorithm", choices=ALGORITHMS, default="random", help="keras-tuner oracle")
    p.add_argument("--validation_fraction", type=float, default=0.1,
                   help="fraction of the train split held out for scoring trials (default 0.1)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key of the base config (repeatable)")
    p.add_argument("--data_dir", default=None, help="preprocessed data directory (overrides data.dir)")
    p.add_argument("--verbose", type=int, choices=(0, 1), default=1, help="1: one line per trial")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.max_trials < 1:
        parser.error("--max_trials must be at least 1")
    problem = (cli.first_problem(("--data_dir", args.data_dir, cli.DATA_DIR))
               or (args.out and cli.output_dir_problem(
                   "--out", args.out, "the trials, tuning_results.json and best.yaml")))
    if problem:
        return cli.print_error(problem)
    from tfpipe import paths
    from tfpipe.training.datasets import DataError

    try:
        cfg = config_lib.load(args.config, args.overrides)
        if args.data_dir:
            cfg.data.dir = args.data_dir
        out = args.out or os.path.join(paths.DEFAULT_TUNE_DIR, config_lib.run_name(args.config))
        summary = tune(cfg, load_space(args.space), out, max_trials=args.max_trials,
                       algorithm=args.algorithm, validation_fraction=args.validation_fraction,
                       verbose=args.verbose)
    except (TuneError, config_lib.ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    best = summary["best"]
    print(f"best {OBJECTIVE} {best[OBJECTIVE]:.4f}: "
          + ", ".join(f"{k}={v}" for k, v in best["values"].items()))
    print(f"best config: {summary['best_config']}")
    print(f"train it:    python -m tfpipe.train --config {summary['best_config']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
